//  router_cache.c - the cache's writer: re-checks, fills, hit records, eviction, the
//  /v1/cache endpoints and the cache metrics.
#include "router_cache.h"
#include "tg_cache_key.h"
#include "tg_error.h"
#include "tg_log.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <czmq.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PENDING_MAX 100000   //  prompts kept for fills to come
#define S_RESPONSE_ID_MAX 255  //  longest response id read from an answer
#define S_AGENTS_MAX 10000     //  agents with their own hit-rate series

//  A miss whose fill may come: its normalized prompt, and the call that will bring it (the
//  leader identical calls join, spec C3).
typedef struct {
    char *prompt;      //  owned
    char *leader;      //  request id of the call in flight for this key (owned)
    int64_t since_us;  //  monotonic µs it was noted
} s_pending_t;

//  Hits and misses of one agent (llm_cache_hit_rate{agent_id}).
typedef struct {
    uint64_t hits;
    uint64_t misses;
} s_rate_t;

struct router_cache {
    const tg_config_t *cfg;       //  borrowed
    const tg_pricing_t *pricing;  //  borrowed
    tg_metrics_t *metrics;        //  borrowed
    tg_cache_t *store;            //  NULL when cache.enabled is off
    zhashx_t *pending;            //  key hex -> s_pending_t (owned)
    zhashx_t *rates;              //  agent -> s_rate_t (owned)
    int64_t pending_us;           //  a prompt is kept this long (http.timeout_ms)
    double min_quality;           //  cache.min_quality
    size_t max_entry;             //  cache.max_entry_bytes
    uint64_t hits, misses, fills, dropped, evicted;
};

static void
s_pending_free(void **item)
{
    s_pending_t *p = *item;
    if (p) {
        free(p->prompt);
        free(p->leader);
        free(p);
        *item = NULL;
    }
}

router_cache_t *
router_cache_new(const tg_config_t *cfg, const tg_pricing_t *pricing, tg_metrics_t *metrics)
{
    router_cache_t *self = tg_zalloc(sizeof *self);
    self->cfg = cfg;
    self->pricing = pricing;
    self->metrics = metrics;
    self->pending = zhashx_new();
    zhashx_set_destructor(self->pending, s_pending_free);
    self->rates = zhashx_new();
    zhashx_set_destructor(self->rates, tg_free_item);
    self->pending_us = tg_config_int(cfg, "http.timeout_ms") * 1000;
    self->min_quality = tg_config_dbl(cfg, "cache.min_quality");
    self->max_entry = (size_t)tg_config_int(cfg, "cache.max_entry_bytes");
    if (tg_config_bool(cfg, "cache.enabled")) {
        char *dir = tg_cache_dir(cfg);
        tg_cache_opts_t opts = {
            .dir = dir,
            .map_size = (size_t)tg_config_int(cfg, "cache.map_size_mb") << 20,
            .high_water = tg_config_dbl(cfg, "cache.high_water"),
            .low_water = tg_config_dbl(cfg, "cache.low_water"),
        };
        self->store = tg_cache_open(&opts);
        if (!self->store) {
            //  A cache is disposable: one that cannot be opened (damaged by a crash with
            //  unflushed commits, a newer schema) is moved aside and started afresh.
            char aside[4096];
            snprintf(aside, sizeof aside, "%s.bad-%lld", dir, (long long)(tg_now_us() / 1000000));
            if (rename(dir, aside) == 0) {
                tg_log_error("cache map could not be opened: moved to %s, starting empty", aside);
                self->store = tg_cache_open(&opts);
            }
        }
        if (!self->store)
            tg_log_error("cannot open the cache map dir=%s: running without a cache", dir);
        free(dir);
    }
    tg_metrics_declare(metrics, "llm_cache_hits_total", TG_METRIC_COUNTER,
                       "Calls answered from the response cache, by agent.", NULL, 0);
    tg_metrics_declare(metrics, "llm_cache_misses_total", TG_METRIC_COUNTER,
                       "Cacheable calls the cache could not answer, by agent.", NULL, 0);
    tg_metrics_declare(metrics, "llm_cache_hit_rate", TG_METRIC_GAUGE,
                       "Hits / (hits + misses) of cacheable calls since the router started, by "
                       "agent.",
                       NULL, 0);
    tg_metrics_declare(metrics, "llm_cache_fills_total", TG_METRIC_COUNTER,
                       "Answers stored in the cache, and fills dropped (too big or no room).", NULL,
                       0);
    tg_metrics_declare(metrics, "llm_cache_evictions_total", TG_METRIC_COUNTER,
                       "Entries evicted to keep the map below cache.high_water.", NULL, 0);
    tg_metrics_declare(metrics, "llm_cache_entries", TG_METRIC_GAUGE, "Entries in the cache map.",
                       NULL, 0);
    tg_metrics_declare(metrics, "llm_cache_bytes", TG_METRIC_GAUGE,
                       "Bytes of the cache map in use, and its size (kind=\"map\").", NULL, 0);
    return self;
}

void
router_cache_destroy(router_cache_t **self_p)
{
    router_cache_t *self = *self_p;
    if (!self)
        return;
    tg_cache_destroy(&self->store);
    zhashx_destroy(&self->pending);
    zhashx_destroy(&self->rates);
    free(self);
    *self_p = NULL;
}

uint64_t
router_cache_hit_count(const router_cache_t *self)
{
    return self ? self->hits : 0;
}

static void
s_count(router_cache_t *self, const char *agent, bool hit, uint64_t n)
{
    const char *a = agent && *agent ? agent : "none";
    s_rate_t *r = zhashx_lookup(self->rates, a);
    if (!r && zhashx_size(self->rates) < S_AGENTS_MAX) {
        r = tg_zalloc(sizeof *r);
        zhashx_insert(self->rates, a, r);
    }
    if (r) {
        if (hit)
            r->hits += n;
        else
            r->misses += n;
    }
    char labels[TG_METRICS_MAX_VALUE + 16];
    tg_metrics_labels_buf(labels, sizeof labels, "agent_id", r ? a : "other", NULL);
    tg_metrics_add(self->metrics, hit ? "llm_cache_hits_total" : "llm_cache_misses_total", labels,
                   (double)n);
    if (hit)
        self->hits += n;
    else
        self->misses += n;
}

int
router_cache_check(router_cache_t *self,
                   const tg_fr_request_t *rq,
                   const char *body,
                   size_t len,
                   bool fresh,
                   tg_cache_entry_t *out,
                   const char **leader_p)
{
    *leader_p = NULL;
    tg_cache_key_t key;
    if (!self->store || !rq->ckey || tg_cache_key_parse(rq->ckey, &key) != TG_OK)
        return TG_NOTFOUND;
    if (!fresh && tg_cache_get(self->store, &key, tg_now_us(), self->min_quality, out) == TG_OK) {
        s_count(self, rq->agent, true, 1);
        return TG_OK;
    }
    if (!fresh)
        s_count(self, rq->agent, false, 1);
    s_pending_t *known = zhashx_lookup(self->pending, rq->ckey);
    if (known) {
        if (!fresh)
            *leader_p = known->leader;
        return TG_NOTFOUND;
    }
    if (zhashx_size(self->pending) >= S_PENDING_MAX)
        return TG_NOTFOUND;
    //  The prompt as the key saw it (ingest hashed the same normal form).
    json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
    s_pending_t *p = tg_zalloc(sizeof *p);
    p->prompt =
        doc ? tg_cache_normalize(doc, tg_cache_model(self->cfg, doc, rq->agent)) : tg_strdup("");
    p->leader = tg_strdup(rq->id);
    p->since_us = tg_mono_us();
    json_decref(doc);
    zhashx_insert(self->pending, rq->ckey, p);
    return TG_NOTFOUND;
}

//  The answer's "id" (the first one: top-level in a completion, the first chunk's in a
//  stream) into out[S_RESPONSE_ID_MAX + 1]; "" when none.
static void
s_response_id(const char *body, size_t len, char *out)
{
    out[0] = 0;
    const char *p = body ? memmem(body, len < 4096 ? len : 4096, "\"id\":\"", 6) : NULL;
    if (!p)
        return;
    p += 6;
    size_t n = 0;
    while (p + n < body + len && p[n] != '"' && p[n] != '\\' && n < S_RESPONSE_ID_MAX)
        n++;
    if (p + n < body + len && p[n] == '"') {
        memcpy(out, p, n);
        out[n] = 0;
    }
}

static void
s_fill_count(router_cache_t *self, const char *outcome)
{
    char labels[48];
    tg_metrics_labels_buf(labels, sizeof labels, "outcome", outcome, NULL);
    tg_metrics_add(self->metrics, "llm_cache_fills_total", labels, 1);
}

void
router_cache_lead(router_cache_t *self, const char *ckey, const char *id)
{
    s_pending_t *p = zhashx_lookup(self->pending, ckey);
    if (p) {
        free(p->leader);
        p->leader = tg_strdup(id);
    }
}

void
router_cache_fill(router_cache_t *self, const tg_frame_t *f)
{
    const tg_fr_fill_t *fl = &f->fill;
    tg_cache_key_t key;
    if (!self->store || tg_cache_key_parse(fl->ckey, &key) != TG_OK || !f->body || !f->body_len) {
        tg_log_warn("fill refused id=%s: no cache, bad key or empty body", fl->id);
        return;
    }
    s_pending_t *p = zhashx_lookup(self->pending, fl->ckey);
    if (f->body_len > self->max_entry) {
        self->dropped++;
        s_fill_count(self, "too_big");
        zhashx_delete(self->pending, fl->ckey);
        return;
    }
    char rid[S_RESPONSE_ID_MAX + 1];
    s_response_id(f->body, f->body_len, rid);
    int64_t now = tg_now_us();
    tg_cache_entry_t e = {
        .form = fl->stream ? TG_CACHE_SSE : TG_CACHE_JSON,
        .body = f->body,
        .body_len = f->body_len,
        .response_id = rid,
        .model = fl->model,
        .provider = fl->provider,
        .prompt = p ? p->prompt : NULL,
        .tok_in = fl->tok_in,
        .tok_out = fl->tok_out,
        .cost_usd = tg_pricing_cost(self->pricing, fl->model, fl->tok_in, fl->tok_out,
                                    fl->tok_cached, 0, NULL),
        .created_us = now,
        .expires_us = fl->ttl ? now + (int64_t)fl->ttl * 1000000 : 0,
        .access_us = now,
    };
    int rc = tg_cache_put(self->store, &key, &e);
    if (rc == TG_OK) {
        self->fills++;
        s_fill_count(self, "stored");
    } else {
        self->dropped++;
        s_fill_count(self, "no_room");
    }
    zhashx_delete(self->pending, fl->ckey);
}

void
router_cache_hits(router_cache_t *self, const tg_frame_t *f)
{
    if (!f->body || !f->body_len)
        return;
    size_t cap = f->hits.n < 4096 ? (size_t)f->hits.n : 4096;
    tg_cache_key_t *keys = tg_zalloc((cap ? cap : 1) * sizeof *keys);
    size_t n = 0;
    const char *p = f->body, *end = f->body + f->body_len;
    while (p < end && n < cap) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *sp = memchr(p, ' ', (size_t)(eol - p));
        char hex[TG_CACHE_KEY_HEX] = "";
        char agent[TG_METRICS_MAX_VALUE] = "none";
        if (sp && sp - p == TG_CACHE_KEY_HEX - 1) {
            memcpy(hex, p, TG_CACHE_KEY_HEX - 1);
            size_t alen = (size_t)(eol - sp - 1);
            if (alen && alen < sizeof agent) {
                memcpy(agent, sp + 1, alen);
                agent[alen] = 0;
            }
        }
        if (hex[0] && tg_cache_key_parse(hex, &keys[n]) == TG_OK) {
            n++;
            s_count(self, agent, true, 1);
        } else
            tg_log_warn("bad hit notice line: skipped");
        p = eol + 1;
    }
    if (n && self->store && tg_cache_touch(self->store, keys, n, tg_now_us()) < 0)
        tg_log_warn("hit counts not recorded n=%zu", n);
    free(keys);
}

void
router_cache_tick(router_cache_t *self, int64_t now)
{
    zlist_t *old = NULL;
    for (s_pending_t *p = zhashx_first(self->pending); p; p = zhashx_next(self->pending))
        if (now - p->since_us > self->pending_us) {
            if (!old)
                old = zlist_new();
            zlist_append(old, (void *)zhashx_cursor(self->pending));
        }
    for (const char *k = old ? zlist_first(old) : NULL; k; k = zlist_next(old))
        zhashx_delete(self->pending, k);
    zlist_destroy(&old);
    if (!self->store)
        return;
    tg_cache_sync(self->store);
    int n = tg_cache_evict(self->store, tg_now_us());
    if (n > 0)
        tg_log_info("cache evicted entries=%d", n);
    //  Evictions happen here and inside fills: the store counts both.
    tg_cache_stats_t st;
    if (tg_cache_counts(self->store, &st) == TG_OK && st.evicted > self->evicted) {
        tg_metrics_add(self->metrics, "llm_cache_evictions_total", NULL,
                       (double)(st.evicted - self->evicted));
        self->evicted = st.evicted;
    }
}

//  Sets the entry, byte and hit-rate gauges.
static void
s_gauges(router_cache_t *self, const tg_cache_stats_t *st)
{
    tg_metrics_set(self->metrics, "llm_cache_entries", NULL, (double)st->entries);
    tg_metrics_set(self->metrics, "llm_cache_bytes", "kind=\"used\"", (double)st->bytes);
    tg_metrics_set(self->metrics, "llm_cache_bytes", "kind=\"map\"", (double)st->map_bytes);
    char labels[TG_METRICS_MAX_VALUE + 16];
    for (s_rate_t *r = zhashx_first(self->rates); r; r = zhashx_next(self->rates)) {
        tg_metrics_labels_buf(labels, sizeof labels, "agent_id", zhashx_cursor(self->rates), NULL);
        uint64_t all = r->hits + r->misses;
        tg_metrics_set(self->metrics, "llm_cache_hit_rate", labels,
                       all ? (double)r->hits / (double)all : 0);
    }
}

static char *
s_stats_json(router_cache_t *self)
{
    tg_cache_stats_t st = {0};
    if (self->store && tg_cache_stats(self->store, tg_now_us(), &st) == TG_OK)
        s_gauges(self, &st);
    uint64_t all = self->hits + self->misses;
    json_t *o = json_pack(
        "{ss sb sI sI sI sI sI sI sI sI sI sI sf}", "object", "cache.stats", "enabled",
        self->store != NULL, "entries", (json_int_t)st.entries, "invalidated",
        (json_int_t)st.invalidated, "expired", (json_int_t)st.expired, "bytes",
        (json_int_t)st.bytes, "map_bytes", (json_int_t)st.map_bytes, "hits", (json_int_t)self->hits,
        "misses", (json_int_t)self->misses, "fills", (json_int_t)self->fills, "fills_dropped",
        (json_int_t)(self->dropped + st.dropped), "evictions", (json_int_t)st.evicted, "hit_rate",
        all ? (double)self->hits / (double)all : 0.0);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static bool
s_bad(int *status_p, char **body_p, const char *msg, const char *param)
{
    *status_p = 400;
    *body_p = tg_error_body(400, msg, NULL, param, NULL);
    return true;
}

//  POST /v1/cache/feedback {"response_id": "...", "vote": "up" | "down"}
static bool
s_feedback(router_cache_t *self, json_t *doc, int *status_p, char **body_p)
{
    const char *id = json_string_value(json_object_get(doc, "response_id"));
    const char *vote = json_string_value(json_object_get(doc, "vote"));
    if (!id || !*id)
        return s_bad(status_p, body_p, "'response_id' is required: the id of a cached answer.",
                     "response_id");
    if (!vote || (strcmp(vote, "up") && strcmp(vote, "down")))
        return s_bad(status_p, body_p, "'vote' must be \"up\" or \"down\".", "vote");
    int rc = self->store ? tg_cache_vote(self->store, id, strcmp(vote, "up") == 0) : TG_NOTFOUND;
    if (rc != TG_OK) {
        *status_p = 404;
        *body_p = tg_error_body(404, "No cached answer has this response id.", NULL, "response_id",
                                "not_found");
        return true;
    }
    *status_p = 200;
    json_t *o =
        json_pack("{ss ss ss}", "object", "cache.feedback", "response_id", id, "vote", vote);
    *body_p = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return true;
}

//  POST /v1/cache/invalidate {"response_id"?, "model"?, "older_than_s"?, "reason"?}
static bool
s_invalidate(router_cache_t *self, json_t *doc, int *status_p, char **body_p)
{
    json_t *jid = json_object_get(doc, "response_id");
    json_t *jmodel = json_object_get(doc, "model");
    json_t *jage = json_object_get(doc, "older_than_s");
    json_t *jreason = json_object_get(doc, "reason");
    if ((jid && !json_is_string(jid)) || (jmodel && !json_is_string(jmodel))
        || (jreason && !json_is_string(jreason)))
        return s_bad(status_p, body_p, "'response_id', 'model' and 'reason' must be strings.",
                     NULL);
    if (jage && (!json_is_integer(jage) || json_integer_value(jage) < 0))
        return s_bad(status_p, body_p, "'older_than_s' must be a whole number of seconds >= 0.",
                     "older_than_s");
    if (!jid && !jmodel && !jage)
        return s_bad(status_p, body_p,
                     "Give at least one of 'response_id', 'model' or 'older_than_s'.", NULL);
    int64_t before = jage ? tg_now_us() - json_integer_value(jage) * 1000000 : 0;
    if (jage && before <= 0)
        before = 1;
    const char *reason = jreason ? json_string_value(jreason) : "invalidated by request";
    int n = self->store ? tg_cache_invalidate(self->store, json_string_value(jid),
                                              json_string_value(jmodel), before, reason)
                        : 0;
    if (n < 0) {
        *status_p = 500;
        *body_p = tg_error_body(500, "The cache could not be updated.", NULL, NULL, NULL);
        return true;
    }
    json_t *o = json_pack("{ss si}", "object", "cache.invalidate", "invalidated", n);
    *status_p = 200;
    *body_p = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return true;
}

bool
router_cache_query(router_cache_t *self,
                   const tg_fr_query_t *q,
                   const char *body,
                   size_t len,
                   int *status_p,
                   char **body_p)
{
    if (strncmp(q->path, "/v1/cache/", 10) != 0)
        return false;
    const char *what = q->path + 10;
    bool post = strcmp(q->method, "POST") == 0;
    if (strcmp(what, "stats") == 0 && !post) {
        *status_p = 200;
        *body_p = s_stats_json(self);
        return true;
    }
    if ((strcmp(what, "feedback") && strcmp(what, "invalidate")) || !post) {
        *status_p = 404;
        *body_p = tg_error_body(404, "unknown route", NULL, NULL, "unknown_url");
        return true;
    }
    json_error_t jerr;
    json_t *doc = body && len ? json_loadb(body, len, 0, &jerr) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return s_bad(status_p, body_p, "The body must be a JSON object.", NULL);
    }
    bool done = strcmp(what, "feedback") == 0 ? s_feedback(self, doc, status_p, body_p)
                                              : s_invalidate(self, doc, status_p, body_p);
    json_decref(doc);
    return done;
}

void
router_cache_gauges(router_cache_t *self)
{
    tg_cache_stats_t st = {0};
    if (self->store && tg_cache_counts(self->store, &st) == TG_OK)
        s_gauges(self, &st);
}
