//  worker_openai_msg.c - an OpenAI-compatible upstream behind POST /v1/messages: the Messages
//  request becomes a chat.completions request, the answer and its chunks become a Messages
//  answer and its events, errors Anthropic error objects (worker_ingress).
#include "worker_provider.h"

#include "tg_error.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

//  The Messages id shown to the client: derived from the request id.
static char *
s_message_id(const worker_pcall_t *p)
{
    return tg_strfmt("msg_%s", p->job->job.id);
}

static int
s_prepare(worker_pcall_t *p, char **err_p)
{
    json_t *doc = json_loadb(p->job->body, p->job->body_len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        *err_p = tg_strdup("the request body is not a JSON object");
        return TG_INVALID;
    }
    json_t *oai = NULL;
    int rc = worker_ingress_request(doc, p->job->job.model, p->stream, &oai, err_p);
    json_decref(doc);
    if (rc != TG_OK)
        return TG_INVALID;
    return worker_pcall_take_body(p, oai, err_p);
}

static void
s_stream_begin(worker_pcall_t *p, int64_t now_s)
{
    (void)now_s;
    char *id = s_message_id(p);
    worker_ingress_stream_destroy(&p->u.openai_msg.stream);
    p->u.openai_msg.stream = worker_ingress_stream_new(id, p->job->job.model);
    free(id);
}

static int
s_on_event(worker_pcall_t *p, const char *event, const char *data, size_t len, tg_buf_t *out)
{
    (void)event;  //  OpenAI streams carry data only
    return worker_pcall_translated(
        p, worker_ingress_stream_event(p->u.openai_msg.stream, data, len, out));
}

static bool
s_stream_end(worker_pcall_t *p)
{
    if (!p->u.openai_msg.stream)
        return false;
    worker_usage_t u = worker_ingress_stream_usage(p->u.openai_msg.stream);
    if (u.seen)
        p->usage = u;
    return worker_ingress_stream_is_finished(p->u.openai_msg.stream);
}

static int
s_finish(worker_pcall_t *p, tg_buf_t *resp, int64_t now_s, char **body_p, size_t *len_p)
{
    (void)now_s;
    json_t *oai = resp->len ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
    char *id = s_message_id(p);
    json_t *msg = oai ? worker_ingress_response(oai, id, p->job->job.model) : NULL;
    free(id);
    char *body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!body) {
        json_decref(oai);
        p->fail_code = "bad_response";
        p->fail_msg = "a body that is not a chat.completion";
        return TG_INVALID;
    }
    worker_usage_from_openai(oai, &p->usage);
    json_decref(oai);
    *body_p = body;
    *len_p = strlen(body);
    return TG_OK;
}

static void
s_map_error(
    const worker_pcall_t *p, int status, const char *body, size_t len, worker_upstream_error_t *e)
{
    (void)p;
    worker_provider_error(status, body, len, e);  //  type and retryable from the OpenAI form
    char *a = tg_error_anthropic(status, e->body, strlen(e->body));
    free(e->body);
    e->body = a;
}

static void
s_fini(worker_pcall_t *p)
{
    worker_ingress_stream_destroy(&p->u.openai_msg.stream);
}

const worker_provider_ops_t worker_openai_msg_ops = {
    .name = "openai-messages",
    .chat_path = "/chat/completions",
    .embed_path = NULL,
    .auth_prefix = "Authorization: Bearer ",
    .fixed_header = NULL,
    .messages = NULL,
    .prepare = s_prepare,
    .stream_begin = s_stream_begin,
    .on_event = s_on_event,
    .stream_end = s_stream_end,
    .finish = s_finish,
    .map_error = s_map_error,
    .fini = s_fini,
};
