//  tg_cache_key.c - cache plans and keys: normalized request + scope -> XXH3-128.
#include "tg_cache_key.h"
#include "tg_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define S_ALIAS_DEPTH 8  //  as the router's resolution: longer chains are a config loop

//  Members that change nothing in the answer: the form it is sent in, and bookkeeping.
static const char *const s_dropped[] = {"stream", "stream_options", "user", "metadata", "store"};

int
tg_cache_plan_headers(const tg_config_t *cfg,
                      const char *mode_hdr,
                      const char *ttl_hdr,
                      tg_cache_plan_t *plan,
                      const char **param_p,
                      char **msg_p)
{
    memset(plan, 0, sizeof *plan);
    plan->mode = TG_CACHE_USE;
    plan->ttl_s = (uint64_t)tg_config_int(cfg, "cache.ttl_s");
    if (mode_hdr) {
        if (strcmp(mode_hdr, "no-store") == 0)
            plan->mode = TG_CACHE_BYPASS;
        else if (strcmp(mode_hdr, "no-cache") == 0)
            plan->mode = TG_CACHE_FRESH;
        else {
            *param_p = "x-tollgate-cache";
            *msg_p = tg_strdup("Invalid 'x-tollgate-cache' header: expected no-store or no-cache.");
            return TG_INVALID;
        }
    }
    if (ttl_hdr) {
        long long max = tg_config_int(cfg, "cache.max_ttl_s");
        char *end = NULL;
        errno = 0;
        long long n = strtoll(ttl_hdr, &end, 10);
        if (errno || end == ttl_hdr || *end || n < 1 || n > max) {
            *param_p = "x-tollgate-cache-ttl";
            *msg_p = tg_strfmt("Invalid 'x-tollgate-cache-ttl' header: expected whole seconds "
                               "from 1 to %lld.",
                               max);
            return TG_INVALID;
        }
        plan->ttl_s = (uint64_t)n;
    }
    return TG_OK;
}

void
tg_cache_scope(
    const tg_config_t *cfg, const char *key_id, const char *agent, char *out, size_t size)
{
    const char *scope = tg_config_str(cfg, "cache.scope");
    bool named = agent && *agent && strcmp(agent, "none") != 0;
    if (strcmp(scope, "shared") == 0)
        snprintf(out, size, "shared");
    else if (strcmp(scope, "agent") == 0 || (strcmp(scope, "auto") == 0 && named))
        snprintf(out, size, "agent:%s", named ? agent : "none");
    else
        snprintf(out, size, "key:%s", key_id && *key_id ? key_id : "none");
}

const char *
tg_cache_model(const tg_config_t *cfg, const json_t *doc, const char *agent)
{
    const char *model = json_string_value(json_object_get(doc, "model"));
    if ((!model || !*model) && agent && *agent)
        model = tg_config_agent_model(cfg, agent);
    if (!model)
        return "";
    for (int depth = 0; depth < S_ALIAS_DEPTH; depth++) {
        const char *target = tg_config_alias(cfg, model);
        if (!target)
            break;
        model = target;
    }
    return model;
}

char *
tg_cache_normalize(const json_t *doc, const char *model)
{
    json_t *copy = json_copy((json_t *)doc);  //  shallow: only top-level members change
    if (!copy)
        return tg_strdup("");
    for (size_t i = 0; i < sizeof s_dropped / sizeof s_dropped[0]; i++)
        json_object_del(copy, s_dropped[i]);
    json_object_set_new(copy, "model", json_string(model ? model : ""));
    //  A sampling parameter written 0.0 or 0 is the same request: whole reals as integers.
    const char *k;
    json_t *v;
    json_object_foreach(copy, k, v)
    {
        double d = json_is_real(v) ? json_real_value(v) : 0.5;
        if (d > -1e15 && d < 1e15 && d == (double)(json_int_t)d)  //  range first: no UB cast
            json_object_set_new(copy, k, json_integer((json_int_t)d));
    }
    char *text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(copy);
    return text ? text : tg_strdup("");
}

//  True when the sampling settings make a stored answer a fair answer to the next call.
static bool
s_deterministic(const tg_config_t *cfg, const char *route, const json_t *doc)
{
    if (strcmp(route, "chat") != 0 || tg_config_bool(cfg, "cache.temperature"))
        return true;
    json_t *t = json_object_get(doc, "temperature");
    return t && json_is_number(t) && json_number_value(t) == 0;
}

void
tg_cache_plan_request(const tg_config_t *cfg,
                      const char *route,
                      const json_t *doc,
                      const char *model,
                      const char *scope,
                      tg_cache_plan_t *plan)
{
    plan->hex[0] = 0;
    if (plan->mode == TG_CACHE_BYPASS || !tg_config_bool(cfg, "cache.enabled")
        || !s_deterministic(cfg, route, doc)) {
        plan->mode = TG_CACHE_BYPASS;
        return;
    }
    //  Route and scope are tokens without a newline: the separators keep the parts apart.
    char *norm = tg_cache_normalize(doc, model);
    char *text = tg_strfmt("%s\n%s\n%s", route, scope, norm);
    XXH128_hash_t h = XXH3_128bits(text, strlen(text));
    free(text);
    free(norm);
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, h);
    memcpy(plan->key.b, canon.digest, TG_CACHE_KEY_LEN);
    tg_cache_key_hex(&plan->key, plan->hex);
}

char *
tg_cache_dir(const tg_config_t *cfg)
{
    const char *dir = tg_config_str(cfg, "cache.dir");
    return *dir ? tg_strdup(dir) : tg_strfmt("%s/cache", tg_config_str(cfg, "data_dir"));
}

tg_frame_t *
tg_cache_hit_usage(const tg_cache_entry_t *e,
                   const char *id,
                   const char *route,
                   const char *key,
                   const char *agent,
                   bool stream,
                   int64_t ts)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    tg_fr_usage_t *u = &f->usage;
    int64_t now = tg_now_us();
    u->id = tg_strdup(id);
    u->ts = ts > 0 ? ts : now;
    u->route = tg_strdup(route);
    u->key = tg_strdup(key);
    u->agent = agent && strcmp(agent, "none") ? tg_strdup(agent) : NULL;
    u->provider = tg_strdup(e->provider);
    u->model = tg_strdup(e->model);
    u->status = 200;
    u->cache = tg_strdup("hit");
    u->stream = stream;
    u->tok_in = e->tok_in;
    u->tok_out = e->tok_out;
    u->latency_us = (uint64_t)(now > u->ts ? now - u->ts : 0);
    u->ttft_us = stream ? u->latency_us : 0;
    return f;
}
