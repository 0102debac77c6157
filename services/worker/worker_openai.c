//  worker_openai.c - the OpenAI-compatible provider kind: the request body as the client sent
//  it (model swapped, include_usage added, only when they must be), streams passed through
//  event by event, answers and error bodies as received.
#include "worker_provider.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char s_include_usage[] = "\"stream_options\":{\"include_usage\":true},";

static bool
s_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

//  Stops the stream with this reason (both static); returns TG_ERR.
static int
s_fail(worker_pcall_t *p, const char *code, const char *msg)
{
    p->fail_code = code;
    p->fail_msg = msg;
    return TG_ERR;
}

//  ---------------------------------------------------------------------------------------
//  Requests

//  Inserts stream_options.include_usage=true as the first member of the body's top-level
//  object without re-encoding it. Only for bodies with no "stream_options" key anywhere and a
//  non-empty object (checked here); false when it does not apply.
static bool
s_insert_include_usage(worker_pcall_t *p, const char *body, size_t len)
{
    if (memmem(body, len, "\"stream_options\"", 16))
        return false;
    size_t i = 0;
    while (i < len && s_space(body[i]))
        i++;
    if (i >= len || body[i] != '{')
        return false;
    size_t j = i + 1;
    while (j < len && s_space(body[j]))
        j++;
    if (j >= len || body[j] != '"')
        return false;  //  empty object, or not JSON
    size_t n = sizeof s_include_usage - 1;
    char *out = tg_zalloc(len + n + 1);
    memcpy(out, body, i + 1);
    memcpy(out + i + 1, s_include_usage, n);
    memcpy(out + i + 1 + n, body + i + 1, len - i - 1);
    p->body = out;
    p->body_len = len + n;
    p->body_owned = true;
    return true;
}

static int
s_prepare(worker_pcall_t *p, char **err_p)
{
    const tg_fr_job_t *j = &p->job->job;
    char *body = p->job->body;
    size_t len = p->job->body_len;
    //  Tokens of a stream are known only from its usage chunk: ask for it, hide it later.
    bool need_usage = p->stream && !j->usage;
    bool same_model = j->asked && *j->asked && strcmp(j->asked, j->model) == 0;
    p->u.openai.strip_usage = need_usage;
    if (same_model && !need_usage) {  //  byte-identical pass-through
        p->body = body;
        p->body_len = len;
        return TG_OK;
    }
    if (same_model && s_insert_include_usage(p, body, len))
        return TG_OK;
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *model = json_string(j->model);
    if (!json_is_object(doc) || !model) {
        json_decref(doc);
        json_decref(model);
        *err_p = tg_strdup("the request body is not a JSON object");
        return TG_INVALID;
    }
    json_object_set_new(doc, "model", model);
    if (need_usage) {
        json_t *so = json_object_get(doc, "stream_options");
        if (!json_is_object(so)) {
            so = json_object();
            json_object_set_new(doc, "stream_options", so);
        }
        json_object_set_new(so, "include_usage", json_true());
    }
    return worker_pcall_take_body(p, doc, err_p);
}

//  ---------------------------------------------------------------------------------------
//  Streams

static void
s_stream_begin(worker_pcall_t *p, int64_t now_s)
{
    (void)p;  //  chunks pass through as the upstream wrote them
    (void)now_s;
}

//  True when data looks like one JSON object (cheap check; the client's SDK parses it).
static bool
s_looks_like_object(const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && s_space(data[i]))
        i++;
    while (len > i && s_space(data[len - 1]))
        len--;
    return len - i >= 2 && data[i] == '{' && data[len - 1] == '}';
}

//  Appends one SSE event carrying data (lines split on \n) to out, all or nothing.
static int
s_forward(worker_pcall_t *p, const char *data, size_t len, tg_buf_t *out)
{
    size_t start = out->len;
    int rc = TG_OK;
    const char *q = data, *end = data + len;
    while (rc == TG_OK) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        const char *stop = nl ? nl : end;
        rc = tg_buf_append(out, "data: ", 6);
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
        return s_fail(p, "response_too_large", "upstream stream events too large");
    }
    return TG_OK;
}

//  Finds a `"usage":null` member written by the upstream (compact or with spaces) and the
//  comma that joins it to its object, so it can be cut. Quotes inside JSON strings are
//  escaped, so `"usage"` here is always a key.
static bool
s_find_null_usage(const char *data, size_t len, size_t *off_p, size_t *n_p)
{
    static const char *const pats[] = {",\"usage\":null", ", \"usage\": null", "\"usage\":null,",
                                       "\"usage\": null, "};
    for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) {
        size_t n = strlen(pats[k]);
        const char *hit = memmem(data, len, pats[k], n);
        if (hit) {
            *off_p = (size_t)(hit - data);
            *n_p = n;
            return true;
        }
    }
    return false;
}

//  The value after a `"usage"` key starts with '{' (a usage object, not null).
static bool
s_usage_is_object(const char *data, size_t len, const char *key)
{
    const char *q = key + 7, *end = data + len;
    while (q < end && (s_space(*q) || *q == ':'))
        q++;
    return q < end && *q == '{';
}

//  Strip mode (we asked for include_usage, the client did not): read the usage chunk, drop
//  it when it carries no choices, and hide `"usage":null` members from the other chunks.
static int
s_strip_usage(worker_pcall_t *p, const char *data, size_t len, const char *key, tg_buf_t *out)
{
    if (!s_usage_is_object(data, len, key)) {
        size_t off, n;
        if (!s_find_null_usage(data, len, &off, &n))
            return s_forward(p, data, len, out);
        char *copy = tg_zalloc(len - n + 1);
        memcpy(copy, data, off);
        memcpy(copy + off, data + off + n, len - off - n);
        int rc = s_forward(p, copy, len - n, out);
        free(copy);
        return rc;
    }
    json_t *doc = json_loadb(data, len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return s_fail(p, "bad_response", "upstream sent a stream event that is not JSON");
    }
    worker_usage_from_openai(doc, &p->usage);
    json_t *choices = json_object_get(doc, "choices");
    int rc = TG_OK;
    if (!json_is_array(choices) || json_array_size(choices) > 0) {
        json_object_del(doc, "usage");
        char *text = json_dumps(doc, JSON_COMPACT);
        rc = text ? s_forward(p, text, strlen(text), out) : TG_OK;
        free(text);
    }
    json_decref(doc);
    return rc;
}

static int
s_on_event(worker_pcall_t *p, const char *event, const char *data, size_t len, tg_buf_t *out)
{
    (void)event;  //  OpenAI streams carry data only; named events pass through as data
    if (p->u.openai.done)
        return TG_OK;  //  nothing follows [DONE]
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        p->u.openai.done = true;
        return s_forward(p, data, len, out);
    }
    if (!s_looks_like_object(data, len))
        return s_fail(p, "bad_response", "upstream sent a stream event that is not JSON");
    const char *key = memmem(data, len, "\"usage\"", 7);
    if (!key)
        return s_forward(p, data, len, out);
    if (p->u.openai.strip_usage)
        return s_strip_usage(p, data, len, key, out);
    if (s_usage_is_object(data, len, key))
        worker_usage_from_openai_sse(data, len, &p->usage);
    return s_forward(p, data, len, out);
}

static bool
s_stream_end(worker_pcall_t *p)
{
    return p->u.openai.done;  //  usage came in its chunk, if at all
}

//  ---------------------------------------------------------------------------------------
//  Whole answers and errors

static int
s_finish(worker_pcall_t *p, tg_buf_t *resp, int64_t now_s, char **body_p, size_t *len_p)
{
    (void)now_s;
    json_t *doc = resp->len ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        p->fail_code = "bad_response";
        p->fail_msg = "a body that is not a JSON object";
        return TG_INVALID;
    }
    //  A 2xx whose body is an error object and no answer (some servers do this on quota or
    //  moderation errors) is a failed call, not an answer to pass on with 200.
    json_t *err = json_object_get(doc, "error");
    if (err && !json_is_null(err) && !json_object_get(doc, "choices")
        && !json_object_get(doc, "data")) {
        json_decref(doc);
        p->fail_code = "upstream_error";
        p->fail_msg = "an error object instead of an answer";
        return TG_INVALID;
    }
    worker_usage_from_openai(doc, &p->usage);
    json_decref(doc);
    *body_p = tg_buf_take(resp, len_p);  //  the upstream's bytes, unchanged
    return TG_OK;
}

//  OpenAI-format errors pass through byte for byte; anything else is mapped.
static void
s_map_error(
    const worker_pcall_t *p, int status, const char *body, size_t len, worker_upstream_error_t *e)
{
    (void)p;
    json_t *doc = len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *err = json_is_object(doc) ? json_object_get(doc, "error") : NULL;
    if (!json_is_object(err)) {
        json_decref(doc);
        worker_provider_error(status, body, len, e);
        return;
    }
    const char *type = json_string_value(json_object_get(err, "type"));
    snprintf(e->type, sizeof e->type, "%s", type && *type ? type : "upstream_error");
    e->body = tg_strndup(body, len);
    e->retryable = worker_provider_retryable(status);
    json_decref(doc);
}

static void
s_fini(worker_pcall_t *p)
{
    (void)p;  //  nothing of its own on the heap
}

const worker_provider_ops_t worker_openai_ops = {
    .name = "openai",
    .chat_path = "/chat/completions",
    .embed_path = "/embeddings",
    .auth_prefix = "Authorization: Bearer ",
    .fixed_header = NULL,
    .messages = &worker_openai_msg_ops,
    .prepare = s_prepare,
    .stream_begin = s_stream_begin,
    .on_event = s_on_event,
    .stream_end = s_stream_end,
    .finish = s_finish,
    .map_error = s_map_error,
    .fini = s_fini,
};
