//  worker_anthropic_msg.c - a Claude upstream behind POST /v1/messages: the request goes as
//  the client sent it (model swapped only when it must be), the answer and the event stream
//  come back unchanged; usage is read on the way for accounting.
#include "worker_provider.h"

#include "tg_error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_prepare(worker_pcall_t *p, char **err_p)
{
    const tg_fr_job_t *j = &p->job->job;
    if (j->asked && strcmp(j->asked, j->model) == 0) {  //  byte-identical pass-through
        p->body = p->job->body;
        p->body_len = p->job->body_len;
        return TG_OK;
    }
    json_t *doc = json_loadb(p->job->body, p->job->body_len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        *err_p = tg_strdup("the request body is not a JSON object");
        return TG_INVALID;
    }
    json_object_set_new(doc, "model", json_string(j->model));
    return worker_pcall_take_body(p, doc, err_p);
}

static void
s_stream_begin(worker_pcall_t *p, int64_t now_s)
{
    (void)p;  //  events pass through as the upstream wrote them
    (void)now_s;
}

//  Takes the counts a Messages usage object carries (message_start has them all,
//  message_delta the output so far and sometimes the rest).
static void
s_take_usage(worker_pcall_t *p, const json_t *usage)
{
    if (!json_is_object(usage))
        return;
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"input_tokens", offsetof(worker_pcall_t, u.anthropic_msg.in)},
        {"output_tokens", offsetof(worker_pcall_t, u.anthropic_msg.out)},
        {"cache_read_input_tokens", offsetof(worker_pcall_t, u.anthropic_msg.cache_read)},
        {"cache_creation_input_tokens", offsetof(worker_pcall_t, u.anthropic_msg.cache_write)},
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        json_t *v = json_object_get(usage, keys[k].key);
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            *(uint64_t *)((char *)p + keys[k].off) = (uint64_t)json_integer_value(v);
    }
    p->u.anthropic_msg.seen = true;
}

//  The counts read so far into p->usage (in = input + cache read + cache creation).
static void
s_settle(worker_pcall_t *p)
{
    if (!p->u.anthropic_msg.seen)
        return;
    worker_usage_t u = {.seen = true};
    u.cached = p->u.anthropic_msg.cache_read;
    u.cwrite = p->u.anthropic_msg.cache_write;
    u.in = p->u.anthropic_msg.in + u.cached + u.cwrite;
    u.out = p->u.anthropic_msg.out;
    u.total = u.in + u.out;
    p->usage = u;
}

//  Appends the event as the client gets it: its name, then its data line(s), all or nothing.
static int
s_forward(worker_pcall_t *p, const char *name, const char *data, size_t len, tg_buf_t *out)
{
    size_t start = out->len;
    int rc = tg_buf_printf(out, "event: %s\n", name);
    const char *q = data, *end = data + len;
    while (rc == TG_OK) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        const char *stop = nl ? nl : end;
        rc = tg_buf_puts(out, "data: ");
        if (rc == TG_OK)
            rc = tg_buf_append(out, q, (size_t)(stop - q));
        if (rc == TG_OK)
            rc = tg_buf_append(out, "\n", 1);
        if (!nl)
            break;
        q = nl + 1;
    }
    if (rc == TG_OK)
        rc = tg_buf_append(out, "\n", 1);
    if (rc != TG_OK) {
        out->len = start;
        if (out->data)
            out->data[start] = 0;
        p->fail_code = "response_too_large";
        p->fail_msg = "upstream stream events too large";
        return TG_ERR;
    }
    return TG_OK;
}

static int
s_on_event(worker_pcall_t *p, const char *event, const char *data, size_t len, tg_buf_t *out)
{
    if (p->u.anthropic_msg.done)
        return TG_OK;  //  nothing follows message_stop
    json_t *doc = len ? json_loadb(data, len, 0, NULL) : NULL;
    const char *name = event;
    if (!name || !*name || strcmp(name, "message") == 0)
        name = json_string_value(json_object_get(doc, "type"));
    if (!name || !json_is_object(doc)) {
        json_decref(doc);
        p->fail_code = "bad_response";
        p->fail_msg = "upstream sent a stream event that is not JSON";
        return TG_ERR;
    }
    if (strcmp(name, "message_start") == 0)
        s_take_usage(p, json_object_get(json_object_get(doc, "message"), "usage"));
    else if (strcmp(name, "message_delta") == 0)
        s_take_usage(p, json_object_get(doc, "usage"));
    else if (strcmp(name, "message_stop") == 0)
        p->u.anthropic_msg.done = true;
    bool error = strcmp(name, "error") == 0;
    int rc = s_forward(p, name, data, len, out);  //  name may live in doc: freed after
    json_decref(doc);
    if (rc == TG_OK && error) {  //  the client has the error event
        p->fail_line = true;
        p->fail_code = "upstream_error";
        p->fail_msg = "upstream stream reported an error";
        return TG_ERR;
    }
    return rc;
}

static bool
s_stream_end(worker_pcall_t *p)
{
    s_settle(p);
    return p->u.anthropic_msg.done;
}

static int
s_finish(worker_pcall_t *p, tg_buf_t *resp, int64_t now_s, char **body_p, size_t *len_p)
{
    (void)now_s;
    json_t *doc = resp->len ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
    if (!json_is_object(doc) || !json_is_array(json_object_get(doc, "content"))) {
        json_decref(doc);
        p->fail_code = "bad_response";
        p->fail_msg = "a body that is not a Messages response";
        return TG_INVALID;
    }
    s_take_usage(p, json_object_get(doc, "usage"));
    s_settle(p);
    json_decref(doc);
    *body_p = tg_buf_take(resp, len_p);  //  the upstream's bytes, unchanged
    return TG_OK;
}

//  Anthropic error objects pass through byte for byte; anything else is made one.
static void
s_map_error(
    const worker_pcall_t *p, int status, const char *body, size_t len, worker_upstream_error_t *e)
{
    (void)p;
    e->body = tg_error_anthropic(status, body, len);
    json_t *doc = json_loads(e->body, 0, NULL);
    const char *type = json_string_value(json_object_get(json_object_get(doc, "error"), "type"));
    snprintf(e->type, sizeof e->type, "%s", type && *type ? type : "upstream_error");
    json_decref(doc);
    e->retryable = worker_provider_retryable(status);
}

static void
s_fini(worker_pcall_t *p)
{
    (void)p;  //  nothing of its own on the heap
}

const worker_provider_ops_t worker_anthropic_msg_ops = {
    .name = "anthropic-messages",
    .chat_path = "/v1/messages",
    .embed_path = NULL,
    .auth_prefix = "x-api-key: ",
    .fixed_header = "anthropic-version: 2023-06-01",
    .messages = NULL,
    .prepare = s_prepare,
    .stream_begin = s_stream_begin,
    .on_event = s_on_event,
    .stream_end = s_stream_end,
    .finish = s_finish,
    .map_error = s_map_error,
    .fini = s_fini,
};
