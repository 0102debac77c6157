//  worker_anthropic.c - the Anthropic provider kind: OpenAI request -> Messages request,
//  Messages answer / event stream -> OpenAI chat.completion / chunks (worker_messages).
#include "worker_provider.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

//  The chat.completion id shown to the client: derived from the request id.
static char *
s_completion_id(const worker_pcall_t *p)
{
    return tg_strfmt("chatcmpl-%s", p->job->job.id);
}

static int
s_prepare(worker_pcall_t *p, char **err_p)
{
    const tg_fr_job_t *j = &p->job->job;
    if (strcmp(j->route, "chat") != 0) {
        *err_p = tg_strfmt("model %s does not support embeddings", j->model);
        return TG_INVALID;
    }
    json_t *doc = json_loadb(p->job->body, p->job->body_len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        *err_p = tg_strdup("the request body is not a JSON object");
        return TG_INVALID;
    }
    json_t *msg = NULL;
    int rc = worker_messages_request(doc, j->model, p->stream, &msg, err_p);
    json_decref(doc);
    if (rc != TG_OK)
        return TG_INVALID;
    return worker_pcall_take_body(p, msg, err_p);
}

static void
s_stream_begin(worker_pcall_t *p, int64_t now_s)
{
    char *id = s_completion_id(p);
    worker_messages_stream_destroy(&p->u.anthropic.stream);
    p->u.anthropic.stream =
        worker_messages_stream_new(id, p->job->job.model, now_s, p->job->job.usage);
    free(id);
}

static int
s_on_event(worker_pcall_t *p, const char *event, const char *data, size_t len, tg_buf_t *out)
{
    return worker_pcall_translated(
        p, worker_messages_stream_event(p->u.anthropic.stream, event, data, len, out));
}

static bool
s_stream_end(worker_pcall_t *p)
{
    if (!p->u.anthropic.stream)
        return false;
    worker_usage_t u = worker_messages_stream_usage(p->u.anthropic.stream);
    if (u.seen)
        p->usage = u;
    return worker_messages_stream_is_finished(p->u.anthropic.stream);
}

static int
s_finish(worker_pcall_t *p, tg_buf_t *resp, int64_t now_s, char **body_p, size_t *len_p)
{
    json_t *msg = resp->len ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
    char *id = s_completion_id(p);
    json_t *oai = msg ? worker_messages_response(msg, p->job->job.model, id, now_s) : NULL;
    free(id);
    //  Cache writes are not in the OpenAI shape: read them from the Messages usage.
    json_int_t cwrite = json_integer_value(
        json_object_get(json_object_get(msg, "usage"), "cache_creation_input_tokens"));
    json_decref(msg);
    char *body = oai ? json_dumps(oai, JSON_COMPACT) : NULL;
    if (!body) {
        json_decref(oai);
        p->fail_code = "bad_response";
        p->fail_msg = "a body that is not a Messages response";
        return TG_INVALID;
    }
    worker_usage_from_openai(oai, &p->usage);
    p->usage.cwrite = cwrite > 0 && (uint64_t)cwrite <= p->usage.in ? (uint64_t)cwrite : 0;
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
    worker_provider_error(status, body, len, e);
}

static void
s_fini(worker_pcall_t *p)
{
    worker_messages_stream_destroy(&p->u.anthropic.stream);
}

const worker_provider_ops_t worker_anthropic_ops = {
    .name = "anthropic",
    .chat_path = "/v1/messages",
    .embed_path = NULL,
    .auth_prefix = "x-api-key: ",
    .fixed_header = "anthropic-version: 2023-06-01",
    .messages = &worker_anthropic_msg_ops,
    .prepare = s_prepare,
    .stream_begin = s_stream_begin,
    .on_event = s_on_event,
    .stream_end = s_stream_end,
    .finish = s_finish,
    .map_error = s_map_error,
    .fini = s_fini,
};
