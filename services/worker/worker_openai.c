//  worker_openai.c - OpenAI wire format: the request body as the client sent it (model
//  swapped when it must be), streams passed through event by event, answers as received.
#include "worker_int.h"

#include "tg_log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char s_include_usage[] = "\"stream_options\":{\"include_usage\":true},";

static bool
s_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

//  Inserts stream_options.include_usage=true as the first member of the body's top-level
//  object without re-encoding it. Only for bodies with no "stream_options" key anywhere and a
//  non-empty object (checked here); false when it does not apply.
static bool
s_insert_include_usage(worker_call_t *c, const char *body, size_t len)
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
    c->body = out;
    c->body_len = len + n;
    c->body_owned = true;
    return true;
}

int
worker_openai_prepare(worker_call_t *c, char **err_p)
{
    tg_fr_job_t *j = &c->job->job;
    const char *body = c->job->body;
    size_t len = c->job->body_len;
    //  Tokens of a stream are known only from its usage chunk: ask for it, hide it later.
    bool need_usage = c->is_stream && !j->usage;
    bool same_model = j->asked && *j->asked && strcmp(j->asked, j->model) == 0;
    c->strip_usage = need_usage;
    if (same_model && !need_usage) {  //  byte-identical pass-through
        c->body = c->job->body;
        c->body_len = len;
        return TG_OK;
    }
    if (same_model && s_insert_include_usage(c, body, len))
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
    c->body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!c->body) {
        *err_p = tg_strdup("the request body cannot be re-encoded");
        return TG_INVALID;
    }
    c->body_len = strlen(c->body);
    c->body_owned = true;
    return TG_OK;
}

//  ---------------------------------------------------------------------------------------
//  Streams

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

//  Appends one SSE event carrying data (lines split on \n) to c->out.
static int
s_forward(worker_call_t *c, const char *data, size_t len)
{
    tg_buf_t *out = &c->out;
    size_t start = out->len;
    int rc = TG_OK;
    const char *p = data, *end = data + len;
    while (rc == TG_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        rc = tg_buf_append(out, "data: ", 6);
        if (rc == TG_OK)
            rc = tg_buf_append(out, p, (size_t)(stop - p));
        if (rc == TG_OK)
            rc = tg_buf_append(out, "\n", 1);
        if (!nl)
            break;
        p = nl + 1;
    }
    if (rc == TG_OK)
        rc = tg_buf_append(out, "\n", 1);
    if (rc != TG_OK) {
        out->len = start;  //  all or nothing
        if (out->data)
            out->data[start] = 0;
        worker_call_abort(c, 502, "response_too_large", "upstream stream events too large");
        return -1;
    }
    return 0;
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
    const char *p = key + 7, *end = data + len;
    while (p < end && (s_space(*p) || *p == ':'))
        p++;
    return p < end && *p == '{';
}

//  Strip mode (we asked for include_usage, the client did not): read the usage chunk, drop
//  it when it carries no choices, and hide `"usage":null` members from the other chunks.
static int
s_strip_usage(worker_call_t *c, const char *data, size_t len, const char *key)
{
    if (!s_usage_is_object(data, len, key)) {
        size_t off, n;
        if (!s_find_null_usage(data, len, &off, &n))
            return s_forward(c, data, len);
        char *copy = tg_zalloc(len - n + 1);
        memcpy(copy, data, off);
        memcpy(copy + off, data + off + n, len - off - n);
        int rc = s_forward(c, copy, len - n);
        free(copy);
        return rc;
    }
    json_t *doc = json_loadb(data, len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        worker_call_abort(c, 502, "bad_response", "upstream sent a stream event that is not JSON");
        return -1;
    }
    worker_usage_from_openai(doc, &c->usage);
    json_t *choices = json_object_get(doc, "choices");
    int rc = 0;
    if (!json_is_array(choices) || json_array_size(choices) > 0) {
        json_object_del(doc, "usage");
        char *text = json_dumps(doc, JSON_COMPACT);
        rc = text ? s_forward(c, text, strlen(text)) : 0;
        free(text);
    }
    json_decref(doc);
    return rc;
}

int
worker_openai_event(void *arg, const char *event, const char *data, size_t len)
{
    (void)event;  //  OpenAI streams carry data only; named events pass through as data
    worker_call_t *c = arg;
    if (c->done_marker)
        return 0;  //  nothing follows [DONE]
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        c->done_marker = true;
        return s_forward(c, data, len);
    }
    if (!s_looks_like_object(data, len)) {
        worker_call_abort(c, 502, "bad_response", "upstream sent a stream event that is not JSON");
        return -1;
    }
    const char *key = memmem(data, len, "\"usage\"", 7);
    if (!key)
        return s_forward(c, data, len);
    if (c->strip_usage)
        return s_strip_usage(c, data, len, key);
    if (s_usage_is_object(data, len, key))
        worker_usage_from_openai_sse(data, len, &c->usage);
    return s_forward(c, data, len);
}

bool
worker_openai_stream_complete(const worker_call_t *c)
{
    return c->done_marker;
}

//  ---------------------------------------------------------------------------------------
//  Whole answers

void
worker_openai_finish(worker_call_t *c)
{
    json_t *doc = c->resp.len ? json_loadb(c->resp.data, c->resp.len, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        worker_count_error(c);
        worker_call_fail(c, 502, "upstream_error", "bad_response",
                         "upstream answered HTTP %ld with a body that is not a JSON object",
                         c->status);
        return;
    }
    worker_usage_from_openai(doc, &c->usage);
    json_decref(doc);
    size_t len;
    char *body = tg_buf_take(&c->resp, &len);  //  the upstream's bytes, unchanged
    worker_call_reply(c, (int)c->status, &body, len);
}
