//  worker_ingress.h - Anthropic Messages ingress (POST /v1/messages) in front of an
//  OpenAI-compatible upstream: the Messages request into a chat.completions request, the
//  chat.completion and its chunk stream back into a Messages answer and its events. No I/O.
#ifndef WORKER_INGRESS_H
#define WORKER_INGRESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "tg_util.h"
#include "worker_usage.h"

//  Translates a Messages request (validated at ingest) into a chat.completions body for
//  upstream_model; stream adds stream_options.include_usage. TG_OK with *out_p (caller
//  decrefs), or TG_INVALID with *out_p NULL and *err_p naming the field (caller frees).
int worker_ingress_request(
    const json_t *req, const char *upstream_model, bool stream, json_t **out_p, char **err_p);
//  Translates a chat.completion into a Messages response with this id and model. Returns a
//  new object (caller decrefs), or NULL when oai is not a chat.completion.
json_t *worker_ingress_response(const json_t *oai, const char *id, const char *model);
//  The Messages stop_reason of an OpenAI finish_reason (static; "end_turn" for NULL).
const char *worker_ingress_stop_reason(const char *finish_reason);

typedef struct worker_ingress_stream worker_ingress_stream_t;

//  Creates a translator of one chat.completion.chunk stream into Messages events carrying
//  this message id and model.
worker_ingress_stream_t *worker_ingress_stream_new(const char *id, const char *model);
//  Frees the translator and sets *self_p to NULL. NULL-safe, idempotent.
void worker_ingress_stream_destroy(worker_ingress_stream_t **self_p);
//  Translates one upstream SSE data payload (a chunk, or "[DONE]") and appends zero or more
//  complete "event: NAME\ndata: JSON\n\n" events to out, all or nothing: message_start before
//  anything else, content_block_start/delta/stop per text or tool_use block, and at [DONE]
//  message_delta (stop_reason, usage) and message_stop. TG_OK; TG_ERR on an error chunk (out
//  gets an `error` event); TG_INVALID on data that is not a JSON object, or when out's cap is
//  reached. Data after the end is ignored.
int worker_ingress_stream_event(worker_ingress_stream_t *self,
                                const char *data,
                                size_t len,
                                tg_buf_t *out);
//  Usage read from the stream's usage chunk (seen false when none came).
worker_usage_t worker_ingress_stream_usage(const worker_ingress_stream_t *self);
//  True once [DONE] was translated (message_stop written).
bool worker_ingress_stream_is_finished(const worker_ingress_stream_t *self);

#endif
