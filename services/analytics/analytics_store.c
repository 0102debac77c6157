//  analytics_store.c - usage events, time index and totals in LMDB (layout in the header).
#include "analytics_store.h"
#include "tg_complexity.h"
#include "tg_lmdb.h"
#include "tg_log.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <czmq.h>
#include <math.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum { DB_EVENTS, DB_TIME, DB_TOTALS, DB_ROLLUP };
static const char *const s_dbs[] = {"events", "time", "totals", "rollup"};

#define S_REC_VERSION 3                //  first byte of an event record
#define S_REC_HEAD 26                  //  version, flags, cost, savings, saved by the cache
#define S_REC_V2_HEAD 18               //  version 2: version, flags, cost, savings
#define S_REC_V1_HEAD 10               //  version 1: version, flags, cost
#define S_REC_UNKNOWN 1                //  flags bit: priced at the default price
#define S_TOTALS_LEN 104               //  13 words
#define S_TOTALS_V2_LEN 88             //  11 words (no cache counters)
#define S_TOTALS_V1_LEN 56             //  7 words (schema version 1)
#define S_TS_MAX 253402300799999999LL  //  9999-12-31T23:59:59.999999Z
#define S_ROLLUP_KEY (TG_UTC_DAY_LEN + 4 * (ANALYTICS_MAX_DIM + 1))

struct analytics_store {
    tg_lmdb_t *db;   //  the environment
    char *baseline;  //  model savings are measured against
};

static int64_t
s_clamp_ts(int64_t ts)
{
    return ts < 0 ? 0 : (ts > S_TS_MAX ? S_TS_MAX : ts);
}

static void
s_totals_encode(const analytics_totals_t *t, uint8_t *out)
{
    tg_lmdb_be64_put(out, t->requests);
    tg_lmdb_be64_put(out + 8, t->errors);
    tg_lmdb_be64_put(out + 16, t->tok_in);
    tg_lmdb_be64_put(out + 24, t->tok_out);
    tg_lmdb_be64_put(out + 32, t->tok_cached);
    tg_lmdb_be64_put(out + 40, (uint64_t)t->cost_micro);
    tg_lmdb_be64_put(out + 48, t->unknown);
    tg_lmdb_be64_put(out + 56, (uint64_t)t->savings_micro);
    for (int i = 0; i < 3; i++)
        tg_lmdb_be64_put(out + 64 + 8 * i, t->auto_cls[i]);
    tg_lmdb_be64_put(out + 88, t->cache_hits);
    tg_lmdb_be64_put(out + 96, (uint64_t)t->cache_saved_micro);
}

//  Reads counters; records written by a later version may be longer (extra words ignored),
//  version 1 ones are 7 words (no savings, no classes: 0).
static bool
s_totals_decode(const void *data, size_t len, analytics_totals_t *t)
{
    memset(t, 0, sizeof *t);
    if (len < S_TOTALS_V1_LEN)
        return false;
    const uint8_t *p = data;
    t->requests = tg_lmdb_be64_get(p);
    t->errors = tg_lmdb_be64_get(p + 8);
    t->tok_in = tg_lmdb_be64_get(p + 16);
    t->tok_out = tg_lmdb_be64_get(p + 24);
    t->tok_cached = tg_lmdb_be64_get(p + 32);
    t->cost_micro = (int64_t)tg_lmdb_be64_get(p + 40);
    t->unknown = tg_lmdb_be64_get(p + 48);
    if (len >= S_TOTALS_V2_LEN) {
        t->savings_micro = (int64_t)tg_lmdb_be64_get(p + 56);
        for (int i = 0; i < 3; i++)
            t->auto_cls[i] = tg_lmdb_be64_get(p + 64 + 8 * i);
    }
    if (len >= S_TOTALS_LEN) {
        t->cache_hits = tg_lmdb_be64_get(p + 88);
        t->cache_saved_micro = (int64_t)tg_lmdb_be64_get(p + 96);
    }
    return true;
}

void
analytics_totals_add(analytics_totals_t *a, const analytics_totals_t *b)
{
    a->requests += b->requests;
    a->errors += b->errors;
    a->tok_in += b->tok_in;
    a->tok_out += b->tok_out;
    a->tok_cached += b->tok_cached;
    a->cost_micro += b->cost_micro;
    a->unknown += b->unknown;
    a->savings_micro += b->savings_micro;
    for (int i = 0; i < 3; i++)
        a->auto_cls[i] += b->auto_cls[i];
    a->cache_hits += b->cache_hits;
    a->cache_saved_micro += b->cache_saved_micro;
}

//  The counters of one event.
static analytics_totals_t
s_event_totals(const tg_fr_usage_t *u,
               int64_t cost_micro,
               int64_t savings_micro,
               int64_t saved_micro,
               bool unknown)
{
    int cls = tg_complexity_parse(u->cls);
    analytics_totals_t t = {
        .requests = 1,
        .errors = (u->status >= 400 || (u->error && *u->error)) ? 1 : 0,
        .tok_in = u->tok_in,
        .tok_out = u->tok_out,
        .tok_cached = u->tok_cached,
        .cost_micro = cost_micro,
        .unknown = unknown ? 1 : 0,
        .savings_micro = savings_micro,
    };
    if (cls >= 0)
        t.auto_cls[cls] = 1;
    t.cache_hits = u->cache && strcmp(u->cache, "hit") == 0 ? 1 : 0;
    t.cache_saved_micro = saved_micro;
    return t;
}

//  Appends a group value cut to ANALYTICS_MAX_DIM bytes and its NUL; returns bytes written.
static size_t
s_dim(char *out, const char *value)
{
    size_t n = value ? strnlen(value, ANALYTICS_MAX_DIM) : 0;
    if (n)
        memcpy(out, value, n);
    out[n] = 0;
    return n + 1;
}

//  1 -> 2 -> 3: every version reads older records and counters as they are (see the
//  header): events stored before carry no savings (1) and no cache savings (1, 2).
static int
s_migrate(tg_lmdb_txn_t *txn, uint32_t from_version, void *arg)
{
    (void)txn;
    (void)arg;
    tg_log_info("analytics store schema %u -> %d: events stored before carry no savings or "
                "cache savings of their own",
                from_version, ANALYTICS_SCHEMA_VERSION);
    return TG_OK;
}

analytics_store_t *
analytics_store_new(const char *dir, size_t map_size)
{
    tg_lmdb_opts_t opts = {
        .dir = dir,
        .map_size = map_size,
        .dbs = s_dbs,
        .ndbs = sizeof s_dbs / sizeof s_dbs[0],
        .schema_version = ANALYTICS_SCHEMA_VERSION,
        .migrate = s_migrate,
    };
    tg_lmdb_t *db = tg_lmdb_new(&opts);
    if (!db)
        return NULL;
    analytics_store_t *self = tg_zalloc(sizeof *self);
    self->db = db;
    self->baseline = tg_strdup(ANALYTICS_BASELINE_MODEL);
    return self;
}

void
analytics_store_destroy(analytics_store_t **self_p)
{
    assert(self_p);
    analytics_store_t *self = *self_p;
    if (!self)
        return;
    tg_lmdb_destroy(&self->db);
    free(self->baseline);
    free(self);
    *self_p = NULL;
}

void
analytics_store_set_baseline(analytics_store_t *self, const char *model)
{
    free(self->baseline);
    self->baseline = tg_strdup(model && *model ? model : ANALYTICS_BASELINE_MODEL);
}

size_t
analytics_store_map_size(analytics_store_t *self)
{
    return tg_lmdb_map_size(self->db);
}

int
analytics_store_grow(analytics_store_t *self)
{
    size_t now = tg_lmdb_map_size(self->db);
    int rc = tg_lmdb_grow_double(self->db, TG_LMDB_MAX_MAP);
    if (rc == TG_AGAIN)
        tg_log_error("analytics map is full at its largest size bytes=%zu", now);
    if (rc != TG_OK)
        return TG_ERR;
    tg_log_warn("analytics map was full: grown from %zu to %zu bytes", now,
                tg_lmdb_map_size(self->db));
    return TG_OK;
}

//  Adds delta to the counters under key (creating them).
static int
s_add(tg_lmdb_txn_t *txn, int db, const void *key, size_t klen, const analytics_totals_t *delta)
{
    analytics_totals_t t = {0};
    void *val = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(txn, db, key, klen, &val, &len);
    if (rc == TG_OK && !s_totals_decode(val, len, &t))
        tg_log_warn("analytics counters record too short: reset len=%zu", len);
    free(val);
    if (rc != TG_OK && rc != TG_NOTFOUND)
        return rc;
    analytics_totals_add(&t, delta);
    uint8_t buf[S_TOTALS_LEN];
    s_totals_encode(&t, buf);
    return tg_lmdb_put(txn, db, key, klen, buf, sizeof buf);
}

//  What the same tokens would have cost at the baseline model's price, µUSD.
static int64_t
s_baseline(const tg_pricing_t *pricing, const char *baseline, const tg_fr_usage_t *u)
{
    double cost = tg_pricing_cost(pricing, baseline, u->tok_in, u->tok_out, u->tok_cached, 0, NULL);
    return isfinite(cost) && cost > 0 ? llround(cost * 1e6) : 0;
}

//  Prices one event. Cache hits and coalesced calls (which shared another call's upstream
//  answer) cost nothing upstream: their cost is 0 (the price lookup still says whether the
//  model is known), and what the call would have cost is what the cache saved (*saved_p).
static int64_t
s_price(const tg_pricing_t *pricing, const tg_fr_usage_t *u, bool *unknown, int64_t *saved_p)
{
    double cost =
        tg_pricing_cost(pricing, u->model, u->tok_in, u->tok_out, u->tok_cached, 0, unknown);
    int64_t micro = isfinite(cost) && cost > 0 ? llround(cost * 1e6) : 0;
    *saved_p = 0;
    if (u->cache && (strcmp(u->cache, "hit") == 0 || strcmp(u->cache, "coalesced") == 0)) {
        *saved_p = micro;
        return 0;
    }
    return micro;
}

//  Writes one new event: record, time index, day/month totals, day rollup.
static int
s_store_one(tg_lmdb_txn_t *txn, const tg_frame_t *f, const analytics_outcome_t *o)
{
    const tg_fr_usage_t *u = &f->usage;
    size_t eid_len = strlen(u->eid);
    size_t map_len;
    char *map = tg_frame_encode_map(f, &map_len);
    size_t rec_len = S_REC_HEAD + map_len;
    uint8_t *rec = tg_zalloc(rec_len);
    rec[0] = S_REC_VERSION;
    rec[1] = o->unknown ? S_REC_UNKNOWN : 0;
    tg_lmdb_be64_put(rec + 2, (uint64_t)o->cost_micro);
    tg_lmdb_be64_put(rec + 10, (uint64_t)o->savings_micro);
    tg_lmdb_be64_put(rec + 18, (uint64_t)o->saved_micro);
    memcpy(rec + S_REC_HEAD, map, map_len);
    free(map);
    int rc = tg_lmdb_put(txn, DB_EVENTS, u->eid, eid_len, rec, rec_len);
    free(rec);
    if (rc != TG_OK)
        return rc;

    int64_t ts = s_clamp_ts(u->ts);
    uint8_t tkey[8 + ANALYTICS_MAX_EID];
    tg_lmdb_be64_put(tkey, (uint64_t)ts);
    memcpy(tkey + 8, u->eid, eid_len);
    if ((rc = tg_lmdb_put(txn, DB_TIME, tkey, 8 + eid_len, NULL, 0)) != TG_OK)
        return rc;

    analytics_totals_t delta =
        s_event_totals(u, o->cost_micro, o->savings_micro, o->saved_micro, o->unknown);
    char key[S_ROLLUP_KEY];
    char day[TG_UTC_DAY_LEN], month[TG_UTC_MONTH_LEN];
    tg_utc_day(ts, day);
    tg_utc_month(ts, month);
    int n = snprintf(key, sizeof key, "d:%s", day);
    if ((rc = s_add(txn, DB_TOTALS, key, (size_t)n, &delta)) != TG_OK)
        return rc;
    n = snprintf(key, sizeof key, "m:%s", month);
    if ((rc = s_add(txn, DB_TOTALS, key, (size_t)n, &delta)) != TG_OK)
        return rc;
    size_t len = s_dim(key, day);
    len += s_dim(key + len, u->provider);
    len += s_dim(key + len, u->model);
    len += s_dim(key + len, u->key);
    len += s_dim(key + len, u->agent) - 1;  //  no trailing NUL
    return s_add(txn, DB_ROLLUP, key, len, &delta);
}

int
analytics_store_batch(analytics_store_t *self,
                      const tg_pricing_t *pricing,
                      tg_frame_t *const *frames,
                      size_t n,
                      analytics_outcome_t *out)
{
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, true, &txn) != TG_OK)
        return TG_ERR;
    int rc = TG_OK;
    for (size_t i = 0; i < n && rc == TG_OK; i++) {
        const tg_fr_usage_t *u = &frames[i]->usage;
        assert(frames[i]->type == TG_FRAME_USAGE && u->eid);
        size_t eid_len = strlen(u->eid);
        assert(eid_len > 0 && eid_len <= ANALYTICS_MAX_EID);
        memset(&out[i], 0, sizeof out[i]);
        rc = tg_lmdb_get(txn, DB_EVENTS, u->eid, eid_len, NULL, NULL);
        if (rc == TG_OK) {
            out[i].duplicate = true;  //  stored before, or earlier in this batch
            continue;
        }
        if (rc != TG_NOTFOUND)
            break;
        out[i].cost_micro = s_price(pricing, u, &out[i].unknown, &out[i].saved_micro);
        out[i].savings_micro = s_baseline(pricing, self->baseline, u) - out[i].cost_micro;
        rc = s_store_one(txn, frames[i], &out[i]);
    }
    if (rc != TG_OK) {
        tg_lmdb_abort(&txn);
        return rc == TG_AGAIN ? TG_AGAIN : TG_ERR;
    }
    return tg_lmdb_commit(&txn);
}

int
analytics_store_period(analytics_store_t *self, const char *period, analytics_totals_t *t)
{
    memset(t, 0, sizeof *t);
    size_t plen = strlen(period);
    if (plen != TG_UTC_DAY_LEN - 1 && plen != TG_UTC_MONTH_LEN - 1)
        return TG_ERR;
    char key[16];
    int n = snprintf(key, sizeof key, "%c:%s", plen == TG_UTC_DAY_LEN - 1 ? 'd' : 'm', period);
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    void *val = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(txn, DB_TOTALS, key, (size_t)n, &val, &len);
    tg_lmdb_abort(&txn);
    if (rc == TG_OK)
        s_totals_decode(val, len, t);
    free(val);
    return rc == TG_ERR ? TG_ERR : TG_OK;
}

//  ---- usage queries ---------------------------------------------------------------------

typedef struct {
    tg_lmdb_txn_t *txn;  //  the read txn
    zhashx_t *groups;    //  group key -> analytics_group_t (owned)
    unsigned by;         //  ANALYTICS_BY_* bits
    int rc;              //  first failure met inside a walk
} s_query_t;

static void
s_group_destroy(void **item)
{
    analytics_group_t *g = *item;
    free(g->provider);
    free(g->model);
    free(g->key);
    free(g->agent);
    free(g);
    *item = NULL;
}

//  Adds counters to the group of these dimension values (NUL-terminated, already cut).
static void
s_group_add(s_query_t *q, const char *dims[4], const analytics_totals_t *t)
{
    char key[4 * (ANALYTICS_MAX_DIM + 1) + 1];
    size_t len = 0;
    for (int i = 0; i < 4; i++) {
        if (q->by & (1u << i)) {
            size_t n = strlen(dims[i]);
            memcpy(key + len, dims[i], n);
            len += n;
        }
        key[len++] = '\x1f';
    }
    key[len] = 0;
    analytics_group_t *g = zhashx_lookup(q->groups, key);
    if (!g) {
        g = tg_zalloc(sizeof *g);
        char **slots[4] = {&g->provider, &g->model, &g->key, &g->agent};
        for (int i = 0; i < 4; i++)
            if (q->by & (1u << i))
                *slots[i] = tg_strdup(dims[i]);
        zhashx_insert(q->groups, key, g);
    }
    analytics_totals_add(&g->totals, t);
}

typedef struct {
    bool found;  //  a key was seen
    int64_t ts;  //  its timestamp
} s_edge_t;

static int
s_on_edge(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    s_edge_t *e = arg;
    if (klen >= 8) {
        e->found = true;
        e->ts = (int64_t)tg_lmdb_be64_get(key);
    }
    return 1;  //  the first one is all we want
}

//  The first indexed time >= from (forward) or the last < before (reverse).
static int
s_edge(s_query_t *q, int64_t t, bool reverse, s_edge_t *e)
{
    uint8_t bound[8];
    tg_lmdb_be64_put(bound, (uint64_t)t);
    memset(e, 0, sizeof *e);
    return reverse ? tg_lmdb_each(q->txn, DB_TIME, NULL, 0, bound, 8, true, s_on_edge, e)
                   : tg_lmdb_each(q->txn, DB_TIME, bound, 8, NULL, 0, false, s_on_edge, e);
}

static int
s_on_rollup(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_query_t *q = arg;
    char buf[S_ROLLUP_KEY + 1];
    if (klen >= sizeof buf)
        return 0;
    memcpy(buf, key, klen);
    buf[klen] = 0;
    //  day \0 provider \0 model \0 key \0 agent
    const char *parts[5];
    size_t np = 0;
    for (size_t i = 0, start = 0; i <= klen && np < 5; i++)
        if (buf[i] == 0) {
            parts[np++] = buf + start;
            start = i + 1;
        }
    analytics_totals_t t;
    if (np != 5 || !s_totals_decode(val, vlen, &t)) {
        tg_log_warn("analytics skipped a malformed rollup record klen=%zu", klen);
        return 0;
    }
    s_group_add(q, parts + 1, &t);
    return 0;
}

static int
s_on_event(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    s_query_t *q = arg;
    if (klen <= 8)
        return 0;
    void *rec = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(q->txn, DB_EVENTS, (const uint8_t *)key + 8, klen - 8, &rec, &len);
    if (rc != TG_OK) {
        if (rc == TG_ERR) {
            q->rc = TG_ERR;
            return 1;
        }
        tg_log_warn("analytics time index names a missing event");
        return 0;
    }
    const uint8_t *p = rec;
    tg_frame_t *f = NULL;
    char err[160];
    size_t head = len >= S_REC_HEAD && p[0] == S_REC_VERSION ? S_REC_HEAD
                  : len >= S_REC_V2_HEAD && p[0] == 2        ? S_REC_V2_HEAD
                  : len >= S_REC_V1_HEAD && p[0] == 1        ? S_REC_V1_HEAD
                                                             : 0;
    if (head
        && tg_frame_decode("use", 3, p + head, len - head, NULL, 0, &f, err, sizeof err) == TG_OK) {
        const tg_fr_usage_t *u = &f->usage;
        char dims[4][ANALYTICS_MAX_DIM + 1];
        s_dim(dims[0], u->provider);
        s_dim(dims[1], u->model);
        s_dim(dims[2], u->key);
        s_dim(dims[3], u->agent);
        const char *d[4] = {dims[0], dims[1], dims[2], dims[3]};
        int64_t savings = head >= S_REC_V2_HEAD ? (int64_t)tg_lmdb_be64_get(p + 10) : 0;
        int64_t saved = head == S_REC_HEAD ? (int64_t)tg_lmdb_be64_get(p + 18) : 0;
        analytics_totals_t t = s_event_totals(u, (int64_t)tg_lmdb_be64_get(p + 2), savings, saved,
                                              (p[1] & S_REC_UNKNOWN) != 0);
        s_group_add(q, d, &t);
    } else
        tg_log_warn("analytics skipped an unreadable event record len=%zu", len);
    tg_frame_destroy(&f);
    free(rec);
    return 0;
}

static int
s_group_cmp(const void *a, const void *b)
{
    const analytics_group_t *x = a, *y = b;
    if (x->totals.cost_micro != y->totals.cost_micro)
        return x->totals.cost_micro > y->totals.cost_micro ? -1 : 1;
    if (x->totals.requests != y->totals.requests)
        return x->totals.requests > y->totals.requests ? -1 : 1;
    const char *xs[4] = {x->provider, x->model, x->key, x->agent};
    const char *ys[4] = {y->provider, y->model, y->key, y->agent};
    for (int i = 0; i < 4; i++) {
        int c = strcmp(xs[i] ? xs[i] : "", ys[i] ? ys[i] : "");
        if (c)
            return c;
    }
    return 0;
}

int
analytics_store_usage(analytics_store_t *self,
                      int64_t start_us,
                      int64_t end_us,
                      unsigned by,
                      analytics_group_t **groups_p,
                      size_t *n_p)
{
    *groups_p = NULL;
    *n_p = 0;
    s_query_t q = {.by = by, .rc = TG_OK};
    if (tg_lmdb_begin(self->db, false, &q.txn) != TG_OK)
        return TG_ERR;
    q.groups = zhashx_new();
    zhashx_set_destructor(q.groups, s_group_destroy);
    int64_t start = s_clamp_ts(start_us), end = s_clamp_ts(end_us);
    int64_t cur = start;
    //  Day by day, jumping over days without events. A day whose events all lie inside
    //  the range is summed from its rollups; a day cut by the range, from its events.
    while (cur <= end && q.rc == TG_OK) {
        s_edge_t first, lo, hi;
        if (s_edge(&q, cur, false, &first) != TG_OK) {
            q.rc = TG_ERR;
            break;
        }
        if (!first.found || first.ts > end)
            break;
        int64_t day0 = tg_utc_day_start(first.ts);
        int64_t day1 = day0 + TG_UTC_DAY_US;
        if (s_edge(&q, day0, false, &lo) != TG_OK || s_edge(&q, day1, true, &hi) != TG_OK) {
            q.rc = TG_ERR;
            break;
        }
        if (lo.ts >= start && hi.ts <= end) {
            char from[TG_UTC_DAY_LEN], to[TG_UTC_DAY_LEN];
            tg_utc_day(day0, from);  //  keys of the day: "YYYY-MM-DD\0..." < "YYYY-MM-DD\1"
            memcpy(to, from, TG_UTC_DAY_LEN);
            to[TG_UTC_DAY_LEN - 1] = 1;
            if (tg_lmdb_each(q.txn, DB_ROLLUP, from, TG_UTC_DAY_LEN, to, TG_UTC_DAY_LEN, false,
                             s_on_rollup, &q)
                != TG_OK)
                q.rc = TG_ERR;
        } else {
            uint8_t from[8], to[8];
            tg_lmdb_be64_put(from, (uint64_t)(start > day0 ? start : day0));
            tg_lmdb_be64_put(to, (uint64_t)(end < day1 - 1 ? end + 1 : day1));
            if (tg_lmdb_each(q.txn, DB_TIME, from, 8, to, 8, false, s_on_event, &q) != TG_OK)
                q.rc = TG_ERR;
        }
        cur = day1;
    }
    tg_lmdb_abort(&q.txn);
    if (q.rc == TG_OK) {
        size_t n = zhashx_size(q.groups);
        analytics_group_t *arr = tg_zalloc((n ? n : 1) * sizeof *arr);
        size_t i = 0;
        for (analytics_group_t *g = zhashx_first(q.groups); g; g = zhashx_next(q.groups)) {
            arr[i++] = *g;  //  take the strings over
            g->provider = g->model = g->key = g->agent = NULL;
        }
        qsort(arr, n, sizeof *arr, s_group_cmp);
        *groups_p = arr;
        *n_p = n;
    }
    zhashx_destroy(&q.groups);
    return q.rc;
}

void
analytics_groups_free(analytics_group_t **groups_p, size_t n)
{
    analytics_group_t *arr = *groups_p;
    if (!arr)
        return;
    for (size_t i = 0; i < n; i++) {
        free(arr[i].provider);
        free(arr[i].model);
        free(arr[i].key);
        free(arr[i].agent);
    }
    free(arr);
    *groups_p = NULL;
}
