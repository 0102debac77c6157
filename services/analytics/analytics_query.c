//  analytics_query.c - GET /v1/usage: range and grouping from the query string, JSON body.
#include "analytics_query.h"
#include "analytics_costs.h"
#include "tg_complexity.h"
#include "tg_jsonw.h"
#include "tg_log.h"
#include "tg_reply.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <sys/queue.h>

#include <czmq.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BODY_LIMIT (16u << 20)  //  largest usage answer (about 50,000 groups)

static const char *const s_dim_names[] = {"provider", "model", "key", "agent"};

int
analytics_query_time(const char *value, int64_t *t_us)
{
    char buf[72];
    if (snprintf(buf, sizeof buf, "%s", value) >= (int)sizeof buf)
        return TG_INVALID;
    for (char *p = buf + 11; p < buf + strlen(buf); p++)
        if (*p == ' ' && p - buf >= 19)
            *p = '+';
    return tg_utc_parse(buf, t_us);
}

//  "provider,model" -> ANALYTICS_BY_* bits; 0 when a name is unknown or repeated.
static unsigned
s_group_by(const char *value)
{
    unsigned by = 0;
    const char *p = value;
    while (*p) {
        size_t n = strcspn(p, ",");
        unsigned bit = 0;
        for (int i = 0; i < 4; i++)
            if (n == strlen(s_dim_names[i]) && strncmp(p, s_dim_names[i], n) == 0)
                bit = 1u << i;
        if (!bit || (by & bit))
            return 0;
        by |= bit;
        p += n;
        if (*p == ',' && *++p == 0)
            return 0;  //  trailing comma
    }
    return by;
}

static void
s_totals(tg_jsonw_t *w, const analytics_totals_t *t)
{
    tg_jsonw_uint(w, "requests", t->requests);
    tg_jsonw_uint(w, "errors", t->errors);
    tg_jsonw_uint(w, "tokens_in", t->tok_in);
    tg_jsonw_uint(w, "tokens_out", t->tok_out);
    tg_jsonw_uint(w, "tokens_cached", t->tok_cached);
    tg_jsonw_fixed(w, "cost_usd", (double)t->cost_micro / 1e6, 6);
    tg_jsonw_fixed(w, "savings_usd", (double)t->savings_micro / 1e6, 6);
    tg_jsonw_uint(w, "cache_hits", t->cache_hits);
    tg_jsonw_fixed(w, "cache_saved_usd", (double)t->cache_saved_micro / 1e6, 6);
    tg_jsonw_object(w, "auto");
    for (int i = 0; i < 3; i++)
        tg_jsonw_uint(w, tg_complexity_name((tg_complexity_class_t)i), t->auto_cls[i]);
    tg_jsonw_end(w);
}

//  ---- latency percentiles from the rollups ----------------------------------------------

#define S_PCT_MINUTES_US (3 * 86400000000LL)  //  ranges up to 3 days: minute rollups
#define S_PCT_HOURS_US (90 * 86400000000LL)   //  up to 90 days: hours; beyond: days

typedef struct {
    analytics_sketch_t *lat;   //  latencies of the group, µs
    analytics_sketch_t *ttft;  //  TTFTs of the group, µs
} s_pct_group_t;

typedef struct {
    unsigned by;               //  ANALYTICS_BY_* bits of the query
    zhashx_t *groups;          //  group key -> s_pct_group_t
    analytics_sketch_t *lat;   //  every group's latencies
    analytics_sketch_t *ttft;  //  every group's TTFTs
} s_pct_t;

static void
s_pct_group_destroy(void **item)
{
    s_pct_group_t *g = *item;
    analytics_sketch_destroy(&g->lat);
    analytics_sketch_destroy(&g->ttft);
    free(g);
    *item = NULL;
}

//  The key of a group: the grouped dims, each followed by \x1f.
static void
s_pct_key(unsigned by, const char *const dims[4], char *out)
{
    size_t len = 0;
    for (int i = 0; i < 4; i++) {
        if (by & (1u << i)) {
            size_t n = dims[i] ? strnlen(dims[i], ANALYTICS_MAX_DIM) : 0;
            if (n)
                memcpy(out + len, dims[i], n);
            len += n;
        }
        out[len++] = '\x1f';
    }
    out[len] = 0;
}

static int
s_on_pct(analytics_res_t res,
         int64_t bucket_us,
         const char *const dims[ANALYTICS_DIMS],
         const analytics_rollup_t *r,
         void *arg)
{
    (void)res;
    (void)bucket_us;
    s_pct_t *p = arg;
    char key[4 * (ANALYTICS_MAX_DIM + 1) + 1];
    s_pct_key(p->by, dims, key);
    s_pct_group_t *g = zhashx_lookup(p->groups, key);
    if (!g) {
        g = tg_zalloc(sizeof *g);
        g->lat = analytics_sketch_new();
        g->ttft = analytics_sketch_new();
        zhashx_insert(p->groups, key, g);
    }
    analytics_sketch_merge(g->lat, r->lat);
    analytics_sketch_merge(g->ttft, r->ttft);
    analytics_sketch_merge(p->lat, r->lat);
    analytics_sketch_merge(p->ttft, r->ttft);
    return 0;
}

//  Merges the sketches of the rollups over start..end: minute buckets for ranges up to 3
//  days, hours up to 90 days, days beyond (buckets that overlap the range count whole; a
//  resolution past its horizon at `start` gives way to the next). TG_OK or TG_ERR.
static int
s_pct_collect(analytics_store_t *store, s_pct_t *p, int64_t start, int64_t end, int64_t now)
{
    analytics_res_t res = end - start <= S_PCT_MINUTES_US ? ANALYTICS_MINUTE
                          : end - start <= S_PCT_HOURS_US ? ANALYTICS_HOUR
                                                          : ANALYTICS_DAY;
    while (res < ANALYTICS_DAY && start < now - analytics_rollup_horizon(res))
        res++;
    int64_t from = start > 0 ? analytics_rollup_bucket(res, start) : 0;
    return analytics_store_rollups(store, res, from, end, s_on_pct, p);
}

static void
s_pct_write(tg_jsonw_t *w, const char *name, const analytics_sketch_t *sk)
{
    if (!sk || analytics_sketch_count(sk) == 0) {
        tg_jsonw_str(w, name, NULL);
        return;
    }
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p95", 0.95}, {"p99", 0.99}};
    tg_jsonw_object(w, name);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        tg_jsonw_fixed(w, qs[i].name, analytics_sketch_quantile(sk, qs[i].q) / 1000, 3);
    tg_jsonw_end(w);
}

static tg_frame_t *
s_usage(analytics_store_t *store, const tg_fr_query_t *q, int64_t now_us)
{
    int64_t start = tg_utc_day_start(now_us), end = now_us;
    unsigned by = ANALYTICS_BY_PROVIDER | ANALYTICS_BY_MODEL;
    struct evkeyvalq args;
    TAILQ_INIT(&args);
    if (q->args && *q->args && evhttp_parse_query_str(q->args, &args) != 0) {
        evhttp_clear_headers(&args);
        return tg_reply_error(q->id, 400, "malformed query string", NULL);
    }
    const char *v;
    const char *bad = NULL;
    if ((v = evhttp_find_header(&args, "start")) && analytics_query_time(v, &start) != TG_OK)
        bad = "start";
    else if ((v = evhttp_find_header(&args, "end")) && analytics_query_time(v, &end) != TG_OK)
        bad = "end";
    else if ((v = evhttp_find_header(&args, "group_by")) && !(by = s_group_by(v)))
        bad = "group_by";
    evhttp_clear_headers(&args);
    if (bad && strcmp(bad, "group_by") == 0)
        return tg_reply_error(
            q->id, 400, "group_by must be a comma-separated list of provider, model, key, agent",
            "group_by");
    if (bad)
        return tg_reply_error(q->id, 400,
                              "start and end must be RFC 3339 times (2026-11-25T10:00:00Z), dates "
                              "(2026-11-25) or epoch seconds",
                              bad);
    if (start > end)
        return tg_reply_error(q->id, 400, "start must not be after end", "start");

    analytics_group_t *groups = NULL;
    size_t n = 0;
    if (analytics_store_usage(store, start, end, by, &groups, &n) != TG_OK)
        return tg_reply_error(q->id, 500, "usage data could not be read", NULL);
    analytics_totals_t all = {0};
    for (size_t i = 0; i < n; i++)
        analytics_totals_add(&all, &groups[i].totals);
    s_pct_t pct = {.by = by, .groups = zhashx_new()};
    zhashx_set_destructor(pct.groups, s_pct_group_destroy);
    pct.lat = analytics_sketch_new();
    pct.ttft = analytics_sketch_new();
    if (s_pct_collect(store, &pct, start, end, now_us) != TG_OK)
        tg_log_warn("usage answer without percentiles: the rollups could not be read");

    tg_jsonw_t *w = tg_jsonw_new(S_BODY_LIMIT);
    char ts[40];
    tg_jsonw_object(w, NULL);
    tg_jsonw_str(w, "object", "usage");
    tg_time_rfc3339(start, ts, sizeof ts);
    tg_jsonw_str(w, "start", ts);
    tg_time_rfc3339(end, ts, sizeof ts);
    tg_jsonw_str(w, "end", ts);
    tg_jsonw_array(w, "group_by");
    for (int i = 0; i < 4; i++)
        if (by & (1u << i))
            tg_jsonw_str(w, NULL, s_dim_names[i]);
    tg_jsonw_end(w);
    tg_jsonw_object(w, "totals");
    s_totals(w, &all);
    tg_jsonw_bool(w, "unknown_pricing", all.unknown > 0);
    s_pct_write(w, "latency_ms", pct.lat);
    s_pct_write(w, "ttft_ms", pct.ttft);
    tg_jsonw_end(w);
    tg_jsonw_array(w, "data");
    for (size_t i = 0; i < n; i++) {
        const analytics_group_t *g = &groups[i];
        const char *vals[4] = {g->provider, g->model, g->key, g->agent};
        tg_jsonw_object(w, NULL);
        for (int d = 0; d < 4; d++)
            if (by & (1u << d))
                tg_jsonw_str(w, s_dim_names[d], vals[d]);
        s_totals(w, &g->totals);
        tg_jsonw_bool(w, "unknown_pricing", g->totals.unknown > 0);
        char key[4 * (ANALYTICS_MAX_DIM + 1) + 1];
        s_pct_key(by, vals, key);
        s_pct_group_t *pg = zhashx_lookup(pct.groups, key);
        s_pct_write(w, "latency_ms", pg ? pg->lat : NULL);
        s_pct_write(w, "ttft_ms", pg ? pg->ttft : NULL);
        tg_jsonw_end(w);
    }
    tg_jsonw_end(w);
    tg_jsonw_end(w);
    analytics_groups_free(&groups, n);
    zhashx_destroy(&pct.groups);
    analytics_sketch_destroy(&pct.lat);
    analytics_sketch_destroy(&pct.ttft);
    char *body = tg_jsonw_take(w, NULL);
    tg_jsonw_destroy(&w);
    if (!body)
        return tg_reply_error(q->id, 500,
                              "usage answer too large: narrow the range or the grouping", NULL);
    return tg_reply_new(q->id, 200, &body);
}

tg_frame_t *
analytics_query_answer(analytics_store_t *store, const tg_fr_query_t *q, int64_t now_us)
{
    bool costs = strcmp(q->path, "/v1/costs") == 0 || strcmp(q->path, "/v1/costs/history") == 0
                 || strcmp(q->path, "/v1/costs/prediction") == 0;
    if (!costs && strcmp(q->path, "/v1/usage") != 0) {
        char *msg = tg_strfmt("unknown analytics route %.200s", q->path);
        tg_frame_t *r = tg_reply_error(q->id, 404, msg, NULL);
        free(msg);
        return r;
    }
    if (strcmp(q->method, "GET") != 0)
        return tg_reply_error(q->id, 405, "method not allowed: use GET", NULL);
    //  Isolation (A7): these answers cover every organization, so only the master key (no
    //  org in the QUERY) reads them; a virtual key reads its organization's numbers at
    //  /api/v1/metrics*.
    if (q->org && *q->org)
        return tg_reply_error(q->id, 403,
                              "this answer covers every organization: only the master key may "
                              "read it; use /api/v1/metrics, limited to your organization",
                              NULL);
    return costs ? analytics_costs_answer(store, q, now_us) : s_usage(store, q, now_us);
}
