//  tg_reply.c - REPLY frames that answer a QUERY.
#include "tg_reply.h"
#include "tg_error.h"
#include "tg_log.h"
#include "tg_util.h"

#include <assert.h>
#include <string.h>

tg_frame_t *
tg_reply_new(const char *id, int status, char **body_p)
{
    assert(body_p && *body_p);
    tg_frame_t *r = tg_frame_new(TG_FRAME_REPLY);
    r->reply.id = tg_strdup(id);
    r->reply.status = (uint64_t)status;
    tg_frame_give_body(r, body_p, strlen(*body_p));
    return r;
}

tg_frame_t *
tg_reply_error(const char *id, int status, const char *message, const char *param)
{
    char *body = tg_error_body(status, message, NULL, param, NULL);
    return tg_reply_new(id, status, &body);
}

int
tg_reply_send(tg_peers_t *peers, const tg_fr_query_t *q, tg_frame_t **reply_p)
{
    assert(peers && q && reply_p);
    int rc = tg_peers_send(peers, q->reply_to, reply_p);
    if (rc == TG_AGAIN)
        tg_log_warn("query reply dropped: asker not reading id=%.64s", q->id);
    return rc;
}
