//  tg_reply.h - REPLY frames that answer a QUERY: a JSON body or an OpenAI error object.
#ifndef TG_REPLY_H
#define TG_REPLY_H

#include "tg_frame.h"
#include "tg_peers.h"

//  A REPLY to request `id` with `status` and the body *body_p (heap, NUL-terminated),
//  taking the body (*body_p = NULL). Caller owns the frame.
tg_frame_t *tg_reply_new(const char *id, int status, char **body_p);
//  A REPLY to request `id` whose body is tg_error_body(status, message, type by status,
//  param (NULL = none), no code). Caller owns the frame.
tg_frame_t *tg_reply_error(const char *id, int status, const char *message, const char *param);
//  Sends the reply to q->reply_to through `peers` and destroys it (*reply_p = NULL); a reply
//  dropped because the asker is not reading is logged with q->id. tg_peers_send's result.
int tg_reply_send(tg_peers_t *peers, const tg_fr_query_t *q, tg_frame_t **reply_p);

#endif
