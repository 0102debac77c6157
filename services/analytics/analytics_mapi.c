//  analytics_mapi.c - routes, roles, rate limits and cache of the metrics API (see header).
#include "analytics_mapi.h"
#include "analytics_mq.h"
#include "analytics_mx.h"
#include "tg_keyrec.h"
#include "tg_log.h"
#include "tg_reply.h"
#include "tg_util.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CACHE_KEY_MAX 8192  //  longer requests are not cached

typedef struct {
    char *body;      //  the 200 answer
    int64_t born;    //  mono µs
    int64_t lo, hi;  //  the event times it covers
} s_cached_t;

typedef struct {
    double tokens;  //  requests it may make now
    int64_t last;   //  mono µs of the last refill
} s_bucket_t;

struct analytics_mapi {
    zhashx_t *cache;    //  key -> s_cached_t
    zhashx_t *buckets;  //  key id -> s_bucket_t
    uint64_t hits;      //  answers from the cache
    uint64_t misses;    //  answers computed
};

static void
s_cached_destroy(void **item)
{
    s_cached_t *c = *item;
    free(c->body);
    free(c);
    *item = NULL;
}

static void
s_bucket_destroy(void **item)
{
    free(*item);
    *item = NULL;
}

analytics_mapi_t *
analytics_mapi_new(void)
{
    analytics_mapi_t *self = tg_zalloc(sizeof *self);
    self->cache = zhashx_new();
    zhashx_set_destructor(self->cache, s_cached_destroy);
    self->buckets = zhashx_new();
    zhashx_set_destructor(self->buckets, s_bucket_destroy);
    return self;
}

void
analytics_mapi_destroy(analytics_mapi_t **self_p)
{
    analytics_mapi_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->cache);
    zhashx_destroy(&self->buckets);
    free(self);
    *self_p = NULL;
}

bool
analytics_mapi_owns(const char *path)
{
    return path
           && (strcmp(path, "/api/v1/metrics") == 0 || strcmp(path, "/api/v1/metrics/summary") == 0
               || strcmp(path, "/api/v1/metrics/query") == 0);
}

void
analytics_mapi_stats(const analytics_mapi_t *self, uint64_t *hits, uint64_t *misses)
{
    *hits = self->hits;
    *misses = self->misses;
}

void
analytics_mapi_touch(analytics_mapi_t *self, int64_t lo_us, int64_t hi_us)
{
    zlistx_t *doomed = zlistx_new();
    for (s_cached_t *c = zhashx_first(self->cache); c; c = zhashx_next(self->cache))
        if (c->lo <= hi_us && lo_us < c->hi)
            zlistx_add_end(doomed, (void *)zhashx_cursor(self->cache));
    for (const char *k = zlistx_first(doomed); k; k = zlistx_next(doomed))
        zhashx_delete(self->cache, k);
    zlistx_destroy(&doomed);
}

//  Role and rate of a route. The most generous role of the key that grants it sets the rate.
typedef struct {
    double rate;   //  requests per second
    double burst;  //  bucket size
} s_rate_t;

static bool
s_rate_for(uint64_t roles, bool query_route, s_rate_t *out)
{
    if (roles & TG_ROLE_ADMIN) {
        *out = (s_rate_t){50, 100};
        return true;
    }
    if (query_route && (roles & TG_ROLE_METRICS_QUERY)) {
        *out = (s_rate_t){5, 10};
        return true;
    }
    if (!query_route && (roles & TG_ROLE_METRICS_READ)) {
        *out = (s_rate_t){10, 30};
        return true;
    }
    return false;
}

//  Takes a token of key `id`'s bucket; false when it is empty.
static bool
s_take(analytics_mapi_t *self, const char *id, s_rate_t rate, int64_t mono_us)
{
    s_bucket_t *b = zhashx_lookup(self->buckets, id);
    if (!b) {
        if (zhashx_size(self->buckets) >= 100000)
            zhashx_purge(self->buckets);  //  bounded: a full reset only refills buckets
        b = tg_zalloc(sizeof *b);
        b->tokens = rate.burst;
        b->last = mono_us;
        zhashx_insert(self->buckets, id, b);
    }
    b->tokens += (double)(mono_us - b->last) / 1e6 * rate.rate;
    if (b->tokens > rate.burst)
        b->tokens = rate.burst;
    b->last = mono_us;
    if (b->tokens < 1)
        return false;
    b->tokens -= 1;
    return true;
}

//  The cache key of a request, or NULL when too long to keep.
static char *
s_cache_key(const tg_frame_t *f, const char *org)
{
    const tg_fr_query_t *q = &f->query;
    size_t len =
        strlen(org ? org : "") + strlen(q->path) + strlen(q->args ? q->args : "") + f->body_len + 8;
    if (len > S_CACHE_KEY_MAX || (f->body && strlen(f->body) != f->body_len))
        return NULL;
    return tg_strfmt("%s\n%s\n%s\n%s", org ? org : "*", q->path, q->args ? q->args : "",
                     f->body ? f->body : "");
}

static void
s_cache_put(analytics_mapi_t *self,
            const char *key,
            const char *body,
            int64_t lo,
            int64_t hi,
            int64_t mono_us)
{
    if (zhashx_size(self->cache) >= ANALYTICS_MAPI_CACHE_MAX) {
        zlistx_t *doomed = zlistx_new();
        for (s_cached_t *c = zhashx_first(self->cache); c; c = zhashx_next(self->cache))
            if (mono_us - c->born >= ANALYTICS_MAPI_CACHE_US)
                zlistx_add_end(doomed, (void *)zhashx_cursor(self->cache));
        for (const char *k = zlistx_first(doomed); k; k = zlistx_next(doomed))
            zhashx_delete(self->cache, k);
        zlistx_destroy(&doomed);
        if (zhashx_size(self->cache) >= ANALYTICS_MAPI_CACHE_MAX)
            return;
    }
    s_cached_t *c = tg_zalloc(sizeof *c);
    c->body = tg_strdup(body);
    c->born = mono_us;
    c->lo = lo;
    c->hi = hi;
    zhashx_update(self->cache, key, c);
}

tg_frame_t *
analytics_mapi_answer(analytics_mapi_t *self,
                      analytics_store_t *store,
                      const tg_frame_t *f,
                      int64_t now_us,
                      int64_t mono_us)
{
    const tg_fr_query_t *q = &f->query;
    bool summary = strcmp(q->path, "/api/v1/metrics/summary") == 0;
    bool query = strcmp(q->path, "/api/v1/metrics/query") == 0;
    if (query ? strcmp(q->method, "POST") != 0 : strcmp(q->method, "GET") != 0)
        return tg_reply_error(
            q->id, 405, query ? "method not allowed: use POST" : "method not allowed: use GET",
            NULL);
    const char *org = q->org && *q->org ? q->org : NULL;
    s_rate_t rate;
    if (org && !s_rate_for(q->roles, query, &rate)) {
        const char *need = query ? "metrics:query" : "metrics:read";
        char *msg = tg_strfmt("this key lacks the role %s (or admin) that %s needs", need, q->path);
        tg_frame_t *r = tg_reply_error(q->id, 403, msg, "roles");
        free(msg);
        return r;
    }
    if (org && !s_take(self, q->key ? q->key : "", rate, mono_us)) {
        char *msg = tg_strfmt("metrics API rate limit of this key reached (%.0f requests/s, "
                              "burst %.0f): retry shortly",
                              rate.rate, rate.burst);
        tg_frame_t *r = tg_reply_error(q->id, 429, msg, NULL);
        free(msg);
        return r;
    }
    char *key = s_cache_key(f, org);
    s_cached_t *c = key ? zhashx_lookup(self->cache, key) : NULL;
    if (c && mono_us - c->born < ANALYTICS_MAPI_CACHE_US) {
        self->hits++;
        free(key);
        char *body = tg_strdup(c->body);
        return tg_reply_new(q->id, 200, &body);
    }
    self->misses++;
    analytics_mq_t mq;
    const char *field = NULL;
    char *msg = NULL;
    int rc = query ? analytics_mq_parse_json(f->body, f->body_len, now_us, &mq, &field, &msg)
                   : analytics_mq_parse_args(summary ? MQ_SUMMARY : MQ_LIST, q->args, now_us, &mq,
                                             &field, &msg);
    if (rc != TG_OK) {
        analytics_mq_fini(&mq);
        free(key);
        tg_frame_t *r = tg_reply_error(q->id, 400, msg ? msg : "invalid query", field);
        free(msg);
        return r;
    }
    char *body = NULL;
    rc = summary ? analytics_mx_summary(store, &mq, org, now_us, &body)
                 : analytics_mx_metrics(store, &mq, org, &body);
    int64_t lo = summary && mq.compare ? mq.start_us - (mq.end_us - mq.start_us) : mq.start_us;
    lo -= 86400000000LL;  //  whole day buckets before the start count too
    int64_t hi = mq.end_us;
    analytics_mq_fini(&mq);
    if (rc != TG_OK) {
        free(key);
        return tg_reply_error(q->id, 500,
                              rc == TG_AGAIN
                                  ? "metrics answer too large: narrow the range or the grouping"
                                  : "metrics data could not be read",
                              NULL);
    }
    if (key)
        s_cache_put(self, key, body, lo, hi, mono_us);
    free(key);
    return tg_reply_new(q->id, 200, &body);
}
