//  worker_usage.c - token usage exactly as an OpenAI-shaped upstream reports it.
#include "worker_usage.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "tg_util.h"

//  Reads obj[key] as a count: absent or null is 0; a non-negative integer (or a whole real,
//  which some OpenAI-compatible servers send) is the count; anything else is TG_INVALID.
static int
s_count(const json_t *obj, const char *key, uint64_t *n_p, bool *present_p)
{
    json_t *v = json_object_get(obj, key);
    *n_p = 0;
    if (present_p)
        *present_p = v && !json_is_null(v);
    if (!v || json_is_null(v))
        return TG_OK;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return TG_INVALID;
        *n_p = (uint64_t)i;
        return TG_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d < 1.8e19) || d != floor(d))
            return TG_INVALID;
        *n_p = (uint64_t)d;
        return TG_OK;
    }
    return TG_INVALID;
}

int
worker_usage_from_openai(const json_t *obj, worker_usage_t *u)
{
    assert(u);
    if (!json_is_object(obj))
        return TG_INVALID;
    json_t *usage = json_object_get(obj, "usage");
    if (!usage || json_is_null(usage))
        return TG_NOTFOUND;
    if (!json_is_object(usage))
        return TG_INVALID;
    worker_usage_t r = {.seen = true};
    bool has_total;
    if (s_count(usage, "prompt_tokens", &r.in, NULL)
        || s_count(usage, "completion_tokens", &r.out, NULL)
        || s_count(usage, "total_tokens", &r.total, &has_total))
        return TG_INVALID;
    json_t *details = json_object_get(usage, "prompt_tokens_details");
    if (json_is_object(details) && s_count(details, "cached_tokens", &r.cached, NULL))
        return TG_INVALID;
    if (!has_total)
        r.total = r.in + r.out;
    *u = r;
    return TG_OK;
}

int
worker_usage_from_openai_sse(const char *data, size_t len, worker_usage_t *u)
{
    assert(u);
    assert(data || len == 0);
    while (len && (data[0] == ' ' || data[0] == '\t' || data[0] == '\r' || data[0] == '\n')) {
        data++;
        len--;
    }
    while (len
           && (data[len - 1] == ' ' || data[len - 1] == '\t' || data[len - 1] == '\r'
               || data[len - 1] == '\n'))
        len--;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return TG_NOTFOUND;
    json_t *obj = json_loadb(data, len, 0, NULL);
    if (!obj)
        return TG_INVALID;
    int rc = worker_usage_from_openai(obj, u);
    json_decref(obj);
    return rc;
}
