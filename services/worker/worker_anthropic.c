//  worker_anthropic.c - Anthropic Messages upstream: OpenAI request -> Messages request,
//  Messages answer / event stream -> OpenAI chat.completion / chunks (worker_messages).
#include "worker_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

//  The chat.completion id shown to the client: derived from the request id.
static char *
s_completion_id(const worker_call_t *c)
{
    return tg_strfmt("chatcmpl-%s", c->job->job.id);
}

int
worker_anthropic_prepare(worker_call_t *c, int *status_p, char **err_p)
{
    tg_fr_job_t *j = &c->job->job;
    *status_p = 400;
    if (strcmp(j->route, "chat") != 0) {
        *err_p = tg_strfmt("model %s does not support embeddings", j->model);
        return TG_INVALID;
    }
    c->url = c->prov->url_chat;
    json_t *doc = json_loadb(c->job->body, c->job->body_len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        *err_p = tg_strdup("the request body is not a JSON object");
        return TG_INVALID;
    }
    json_t *msg = NULL;
    int rc = worker_messages_request(doc, j->model, c->is_stream, &msg, err_p);
    json_decref(doc);
    if (rc != TG_OK)
        return TG_INVALID;
    c->body = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!c->body) {
        *err_p = tg_strdup("the request cannot be encoded for the upstream");
        return TG_INVALID;
    }
    c->body_len = strlen(c->body);
    c->body_owned = true;
    return TG_OK;
}

void
worker_anthropic_stream_begin(worker_call_t *c)
{
    char *id = s_completion_id(c);
    c->astream =
        worker_messages_stream_new(id, c->job->job.model, tg_now_us() / 1000000, c->job->job.usage);
    free(id);
}

int
worker_anthropic_event(void *arg, const char *event, const char *data, size_t len)
{
    worker_call_t *c = arg;
    int rc = worker_messages_stream_event(c->astream, event, data, len, &c->out);
    if (rc == TG_OK)
        return 0;
    if (rc == TG_ERR) {
        //  An `error` event: c->out ends with its OpenAI error line, flushed by the caller.
        c->err_line_sent = true;
        worker_call_abort(c, 502, "upstream_error", "upstream stream reported an error");
    } else
        worker_call_abort(c, 502, "bad_response",
                          "upstream sent a stream event that cannot be translated");
    return -1;
}

void
worker_anthropic_stream_usage(worker_call_t *c)
{
    worker_usage_t u = worker_messages_stream_usage(c->astream);
    if (u.seen)
        c->usage = u;
}

bool
worker_anthropic_stream_complete(const worker_call_t *c)
{
    return c->astream && worker_messages_stream_is_finished(c->astream);
}

void
worker_anthropic_finish(worker_call_t *c)
{
    json_t *msg = c->resp.len ? json_loadb(c->resp.data, c->resp.len, 0, NULL) : NULL;
    char *id = s_completion_id(c);
    json_t *oai =
        msg ? worker_messages_response(msg, c->job->job.model, id, tg_now_us() / 1000000) : NULL;
    free(id);
    json_decref(msg);
    char *body = oai ? json_dumps(oai, JSON_COMPACT) : NULL;
    if (!body) {
        json_decref(oai);
        worker_count_error(c);
        worker_call_fail(c, 502, "upstream_error", "bad_response",
                         "upstream answered HTTP %ld with a body that is not a Messages response",
                         c->status);
        return;
    }
    worker_usage_from_openai(oai, &c->usage);
    json_decref(oai);
    worker_call_reply(c, (int)c->status, &body, strlen(body));
}
