//  analytics_store.c - usage events, time index and totals in LMDB (layout in the header).
#include "analytics_store.h"
#include "analytics_store_priv.h"
#include "tg_complexity.h"
#include "tg_lmdb.h"
#include "tg_log.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <czmq.h>
#include <inttypes.h>
#include <math.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_dbs[] = {"events",  "time",   "totals", "rollup",
                                    "rollups", "traces", "users"};

#define S_REC_VERSION 3                //  first byte of an event record
#define S_REC_HEAD 26                  //  version, flags, cost, savings, saved by the cache
#define S_REC_V2_HEAD 18               //  version 2: version, flags, cost, savings
#define S_REC_V1_HEAD 10               //  version 1: version, flags, cost
#define S_REC_UNKNOWN 1                //  flags bit: priced at the default price
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

//  1 -> 2 -> 3 -> 4 -> 5: every version reads older records and counters as they are (see the
//  header): events stored before carry no savings (1) and no cache savings (1, 2); the
//  minute/hour/day rollups (4) start empty at the upgrade (why: header).
static int
s_migrate(tg_lmdb_txn_t *txn, uint32_t from_version, void *arg)
{
    (void)txn;
    (void)arg;
    tg_log_info("analytics store schema %u -> %d: events stored before carry no savings or "
                "cache savings of their own%s",
                from_version, ANALYTICS_SCHEMA_VERSION,
                from_version < 4 ? "; minute/hour/day rollups start now (empty before)"
                : from_version < 5
                    ? "; org/environment/user rollups, input cost and error counts start now"
                    : "");
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
analytics_store_used(analytics_store_t *self, size_t *used_p)
{
    return tg_lmdb_used(self->db, used_p);
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
    if (rc == TG_OK && !analytics_totals_decode(val, len, &t))
        tg_log_warn("analytics counters record too short: reset len=%zu", len);
    free(val);
    if (rc != TG_OK && rc != TG_NOTFOUND)
        return rc;
    analytics_totals_add(&t, delta);
    uint8_t buf[ANALYTICS_TOTALS_LEN];
    analytics_totals_encode(&t, buf);
    return tg_lmdb_put(txn, db, key, klen, buf, sizeof buf);
}

//  What the same tokens would have cost at the baseline model's price, µUSD.
static int64_t
s_baseline(const tg_pricing_t *pricing, const char *baseline, const tg_fr_usage_t *u)
{
    return tg_pricing_cost_micro(pricing, baseline, u->tok_in, u->tok_out, u->tok_cached,
                                 u->tok_cwrite, 0, NULL);
}

//  Prices one event. Cache hits and coalesced calls (which shared another call's upstream
//  answer) cost nothing upstream: their cost is 0 (the price lookup still says whether the
//  model is known), and what the call would have cost is what the cache saved (*saved_p).
static int64_t
s_price(const tg_pricing_t *pricing, const tg_fr_usage_t *u, bool *unknown, int64_t *saved_p)
{
    if (u->priced) {  //  the events API: the sender's cost, as given
        *saved_p = 0;
        *unknown = false;
        return isfinite(u->cost_usd) && u->cost_usd > 0 ? llround(u->cost_usd * 1e6) : 0;
    }
    int64_t micro = tg_pricing_cost_micro(pricing, u->model, u->tok_in, u->tok_out, u->tok_cached,
                                          u->tok_cwrite, 0, unknown);
    *saved_p = 0;
    if (u->cache && (strcmp(u->cache, "hit") == 0 || strcmp(u->cache, "coalesced") == 0)) {
        *saved_p = micro;
        return 0;
    }
    return micro;
}

//  The input tokens' part of an event's cost (µUSD, at most cost_micro).
static int64_t
s_price_in(const tg_pricing_t *pricing, const tg_fr_usage_t *u, int64_t cost_micro)
{
    if (cost_micro <= 0)
        return 0;
    double cost = tg_pricing_cost(pricing, u->model, u->tok_in, 0, u->tok_cached, 0, NULL);
    int64_t micro = isfinite(cost) && cost > 0 ? llround(cost * 1e6) : 0;
    return micro > cost_micro ? cost_micro : micro;
}

//  A rollup of the batch being written, waiting to be added to its record.
typedef struct {
    uint8_t key[ANALYTICS_ROLLUP_KEY_MAX];  //  its key
    size_t klen;                            //  bytes of key
    analytics_rollup_t r;                   //  what the batch adds
} s_pending_t;

static void
s_pending_destroy(void **item)
{
    s_pending_t *p = *item;
    analytics_rollup_fini(&p->r);
    free(p);
    *item = NULL;
}

//  The pending rollup of `key` (created empty).
static s_pending_t *
s_pending_get(zhashx_t *pending, const uint8_t *key, size_t klen)
{
    static const char digits[] = "0123456789abcdef";
    char hex[2 * ANALYTICS_ROLLUP_KEY_MAX + 1];
    for (size_t i = 0; i < klen; i++) {
        hex[2 * i] = digits[key[i] >> 4];
        hex[2 * i + 1] = digits[key[i] & 15];
    }
    hex[2 * klen] = 0;
    s_pending_t *p = zhashx_lookup(pending, hex);
    if (!p) {
        p = tg_zalloc(sizeof *p);
        memcpy(p->key, key, klen);
        p->klen = klen;
        analytics_rollup_init(&p->r);
        zhashx_insert(pending, hex, p);
    }
    return p;
}

//  The user an event's user rollups are kept under: itself while its org has fewer than
//  ANALYTICS_USERS_PER_DAY users that day (it is then remembered in the users db:
//  "YYYY-MM-DD\0org\0user" -> "", "YYYY-MM-DD\0org" -> BE u64 count), else "(other)".
static int
s_user_slot(tg_lmdb_txn_t *txn, int64_t ts, const char *org, const char *user, const char **out)
{
    *out = user;
    if (!user || !*user)
        return TG_OK;
    char key[TG_UTC_DAY_LEN + 2 * (ANALYTICS_MAX_DIM + 1)];
    tg_utc_day(ts, key);
    size_t len = TG_UTC_DAY_LEN;  //  the day and its NUL
    len += s_dim(key + len, org);
    size_t head = len - 1;  //  "day\0org"
    len += s_dim(key + len, user) - 1;
    int rc = tg_lmdb_get(txn, DB_USERS, key, len, NULL, NULL);
    if (rc != TG_NOTFOUND)
        return rc;
    void *val = NULL;
    size_t vlen = 0;
    uint64_t n = 0;
    rc = tg_lmdb_get(txn, DB_USERS, key, head, &val, &vlen);
    if (rc == TG_OK && vlen == 8)
        n = tg_lmdb_be64_get(val);
    free(val);
    if (rc != TG_OK && rc != TG_NOTFOUND)
        return rc;
    if (n >= ANALYTICS_USERS_PER_DAY) {
        *out = ANALYTICS_USER_OTHER;
        return TG_OK;
    }
    uint8_t buf[8];
    tg_lmdb_be64_put(buf, n + 1);
    rc = tg_lmdb_put(txn, DB_USERS, key, head, buf, sizeof buf);
    return rc == TG_OK ? tg_lmdb_put(txn, DB_USERS, key, len, NULL, 0) : rc;
}

//  Adds an event to its rollups, in memory until the batch ends (a batch holds many events
//  of the same minute and group): minute, hour and day without the user; per
//  user: the day (bounded: s_user_slot); the hour of its error when it failed.
static int
s_pending_add(tg_lmdb_txn_t *txn,
              zhashx_t *pending,
              int64_t ts,
              const tg_fr_usage_t *u,
              const analytics_totals_t *delta)
{
    const char *user = NULL;
    int rc = s_user_slot(txn, ts, u->org, u->user, &user);
    if (rc != TG_OK)
        return rc;
    char err[ANALYTICS_MAX_DIM + 1];
    char status[24] = "ERROR";  //  an event with an error and no HTTP status (API events)
    if (u->status)
        snprintf(status, sizeof status, "%" PRIu64, u->status);
    snprintf(err, sizeof err, "%s %s", status, u->error ? u->error : "");
    for (int res = 0; res < ANALYTICS_RESOLUTIONS; res++) {
        bool per_user = res == ANALYTICS_DAY_USER;
        const char *slot = per_user ? user : res == ANALYTICS_HOUR_ERRORS ? err : NULL;
        if (res == ANALYTICS_HOUR_ERRORS && !delta->errors)
            continue;
        const char *dims[ANALYTICS_DIMS] = {
            u->provider, u->model, per_user ? NULL : u->key, per_user ? NULL : u->agent, u->org,
            u->env,      slot};
        uint8_t key[ANALYTICS_ROLLUP_KEY_MAX];
        size_t klen = analytics_rollup_key(
            (analytics_res_t)res, analytics_rollup_bucket((analytics_res_t)res, ts), dims, key);
        s_pending_t *p = s_pending_get(pending, key, klen);
        analytics_rollup_add(&p->r, delta, u->latency_us, u->ttft_us);
    }
    return TG_OK;
}

//  Counters of the totals and per-day "rollup" dbs that the batch adds to, summed in memory
//  and added to their records once per batch (as the rollups are).
typedef struct {
    int db;                  //  DB_TOTALS or DB_ROLLUP
    char key[S_ROLLUP_KEY];  //  its key
    size_t klen;             //  bytes of key
    analytics_totals_t t;    //  what the batch adds
} s_counter_t;

static void
s_counter_destroy(void **item)
{
    free(*item);
    *item = NULL;
}

static void
s_counter_add(zhashx_t *counters, int db, const char *key, size_t klen, const analytics_totals_t *d)
{
    static const char digits[] = "0123456789abcdef";
    char hex[2 * S_ROLLUP_KEY + 2];
    hex[0] = (char)('0' + db);
    for (size_t i = 0; i < klen; i++) {
        hex[1 + 2 * i] = digits[(uint8_t)key[i] >> 4];
        hex[2 + 2 * i] = digits[(uint8_t)key[i] & 15];
    }
    hex[1 + 2 * klen] = 0;
    s_counter_t *c = zhashx_lookup(counters, hex);
    if (!c) {
        c = tg_zalloc(sizeof *c);
        c->db = db;
        memcpy(c->key, key, klen);
        c->klen = klen;
        zhashx_insert(counters, hex, c);
    }
    analytics_totals_add(&c->t, d);
}

static int
s_counters_write(tg_lmdb_txn_t *txn, zhashx_t *counters)
{
    int rc = TG_OK;
    for (s_counter_t *c = zhashx_first(counters); c && rc == TG_OK; c = zhashx_next(counters))
        rc = s_add(txn, c->db, c->key, c->klen, &c->t);
    return rc;
}

//  Adds the batch's rollups to their records.
static int
s_pending_write(tg_lmdb_txn_t *txn, zhashx_t *pending)
{
    int rc = TG_OK;
    for (s_pending_t *p = zhashx_first(pending); p && rc == TG_OK; p = zhashx_next(pending)) {
        void *val = NULL;
        size_t len = 0;
        rc = tg_lmdb_get(txn, DB_ROLLUPS, p->key, p->klen, &val, &len);
        if (rc != TG_OK && rc != TG_NOTFOUND)
            break;
        analytics_rollup_t r;
        if (rc == TG_OK && analytics_rollup_decode(val, len, &r) == TG_OK) {
            analytics_rollup_merge(&r, &p->r);
            free(val);
            val = analytics_rollup_encode(&r, &len);
            analytics_rollup_fini(&r);
        } else {
            if (rc == TG_OK)
                tg_log_warn("analytics rollup record unreadable: rewritten len=%zu", len);
            free(val);
            val = analytics_rollup_encode(&p->r, &len);
        }
        rc = tg_lmdb_put(txn, DB_ROLLUPS, p->key, p->klen, val, len);
        free(val);
    }
    return rc;
}

//  Writes one new event: record and time index (when `raw`), day/month totals, day rollup;
//  its minute, hour and day rollups go to `pending`.
static int
s_store_one(tg_lmdb_txn_t *txn,
            const tg_frame_t *f,
            const analytics_outcome_t *o,
            zhashx_t *pending,
            zhashx_t *counters,
            bool raw)
{
    const tg_fr_usage_t *u = &f->usage;
    size_t eid_len = strlen(u->eid);
    int64_t ts = s_clamp_ts(u->ts);
    int rc = TG_OK;
    if (!raw)
        goto counters;
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
    rc = tg_lmdb_put(txn, DB_EVENTS, u->eid, eid_len, rec, rec_len);
    free(rec);
    if (rc != TG_OK)
        return rc;

    uint8_t tkey[8 + ANALYTICS_MAX_EID];
    tg_lmdb_be64_put(tkey, (uint64_t)ts);
    memcpy(tkey + 8, u->eid, eid_len);
    //  The time key's value is the event's trace id ("" when none): trace lists and
    //  retention read it without opening the event.
    size_t trace_len = u->trace ? strnlen(u->trace, ANALYTICS_MAX_TRACE + 1) : 0;
    if (trace_len > ANALYTICS_MAX_TRACE)
        trace_len = 0;  //  senders bound it; a longer one is not indexed
    if ((rc = tg_lmdb_put(txn, DB_TIME, tkey, 8 + eid_len, u->trace, trace_len)) != TG_OK)
        return rc;
    if (trace_len
        && (rc = analytics_store_trace_index(txn, u->trace, trace_len, tkey, 8 + eid_len, true))
               != TG_OK)
        return rc;
counters:;

    analytics_totals_t delta =
        s_event_totals(u, o->cost_micro, o->savings_micro, o->saved_micro, o->unknown);
    delta.cost_in_micro = o->cost_in_micro;
    char key[S_ROLLUP_KEY];
    char day[TG_UTC_DAY_LEN], month[TG_UTC_MONTH_LEN];
    tg_utc_day(ts, day);
    tg_utc_month(ts, month);
    int n = snprintf(key, sizeof key, "d:%s", day);
    s_counter_add(counters, DB_TOTALS, key, (size_t)n, &delta);
    if ((rc = s_pending_add(txn, pending, ts, u, &delta)) != TG_OK)
        return rc;
    n = snprintf(key, sizeof key, "m:%s", month);
    s_counter_add(counters, DB_TOTALS, key, (size_t)n, &delta);
    size_t len = s_dim(key, day);
    len += s_dim(key + len, u->provider);
    len += s_dim(key + len, u->model);
    len += s_dim(key + len, u->key);
    len += s_dim(key + len, u->agent) - 1;  //  no trailing NUL
    s_counter_add(counters, DB_ROLLUP, key, len, &delta);
    return TG_OK;
}

static int
s_batch(analytics_store_t *self,
        const tg_pricing_t *pricing,
        tg_frame_t *const *frames,
        size_t n,
        analytics_outcome_t *out,
        bool raw)
{
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, true, &txn) != TG_OK)
        return TG_ERR;
    int rc = TG_OK;
    zhashx_t *pending = zhashx_new();
    zhashx_set_destructor(pending, s_pending_destroy);
    zhashx_t *counters = zhashx_new();
    zhashx_set_destructor(counters, s_counter_destroy);
    for (size_t i = 0; i < n && rc == TG_OK; i++) {
        const tg_fr_usage_t *u = &frames[i]->usage;
        assert(frames[i]->type == TG_FRAME_USAGE && u->eid);
        size_t eid_len = strlen(u->eid);
        assert(eid_len > 0 && eid_len <= ANALYTICS_MAX_EID);
        memset(&out[i], 0, sizeof out[i]);
        rc = raw ? tg_lmdb_get(txn, DB_EVENTS, u->eid, eid_len, NULL, NULL) : TG_NOTFOUND;
        if (rc == TG_OK) {
            out[i].duplicate = true;  //  stored before, or earlier in this batch
            continue;
        }
        if (rc != TG_NOTFOUND)
            break;
        out[i].cost_micro = s_price(pricing, u, &out[i].unknown, &out[i].saved_micro);
        out[i].cost_in_micro = s_price_in(pricing, u, out[i].cost_micro);
        out[i].savings_micro = s_baseline(pricing, self->baseline, u) - out[i].cost_micro;
        rc = s_store_one(txn, frames[i], &out[i], pending, counters, raw);
    }
    if (rc == TG_OK)
        rc = s_pending_write(txn, pending);
    if (rc == TG_OK)
        rc = s_counters_write(txn, counters);
    zhashx_destroy(&pending);
    zhashx_destroy(&counters);
    if (rc != TG_OK) {
        tg_lmdb_abort(&txn);
        return rc == TG_AGAIN ? TG_AGAIN : TG_ERR;
    }
    return tg_lmdb_commit(&txn);
}

int
analytics_store_batch(analytics_store_t *self,
                      const tg_pricing_t *pricing,
                      tg_frame_t *const *frames,
                      size_t n,
                      analytics_outcome_t *out)
{
    return s_batch(self, pricing, frames, n, out, true);
}

int
analytics_store_batch_counters(analytics_store_t *self,
                               const tg_pricing_t *pricing,
                               tg_frame_t *const *frames,
                               size_t n,
                               analytics_outcome_t *out)
{
    return s_batch(self, pricing, frames, n, out, false);
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
        analytics_totals_decode(val, len, t);
    free(val);
    return rc == TG_ERR ? TG_ERR : TG_OK;
}

//  ---- rollups and retention --------------------------------------------------------------

typedef struct {
    analytics_rollup_fn *fn;       //  the caller's visitor (decoded rollups)
    void *arg;                     //  its argument
    analytics_rollup_raw_fn *raw;  //  or this one (encoded values)
} s_walk_t;

static int
s_on_rollups(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_walk_t *w = arg;
    analytics_res_t res;
    int64_t bucket;
    char dims[ANALYTICS_DIMS][ANALYTICS_MAX_DIM + 1];
    if (!analytics_rollup_key_parse(key, klen, &res, &bucket, dims)) {
        tg_log_warn("analytics skipped an unreadable rollup key klen=%zu", klen);
        return 0;
    }
    const char *d[ANALYTICS_DIMS];
    for (int i = 0; i < ANALYTICS_DIMS; i++)
        d[i] = dims[i];
    if (w->raw)
        return w->raw(bucket, d, val, vlen, w->arg);
    analytics_rollup_t r;
    if (analytics_rollup_decode(val, vlen, &r) != TG_OK) {
        tg_log_warn("analytics skipped an unreadable rollup record klen=%zu vlen=%zu", klen, vlen);
        return 0;
    }
    int stop = w->fn(res, bucket, d, &r, w->arg);
    analytics_rollup_fini(&r);
    return stop;
}

//  The 9-byte key prefix of (res, t).
static void
s_rollup_prefix(analytics_res_t res, int64_t t, uint8_t out[9])
{
    uint8_t key[ANALYTICS_ROLLUP_KEY_MAX];
    const char *none[ANALYTICS_DIMS] = {NULL};
    analytics_rollup_key(res, t, none, key);
    memcpy(out, key, 9);
}

//  The rollups of `res` with a bucket start in from .. to (clamped), inside txn, to w's
//  visitor (decoded or raw).
static int
s_rollups_each(tg_lmdb_txn_t *txn, analytics_res_t res, int64_t from, int64_t to, s_walk_t *w)
{
    uint8_t lo[9], hi[9];
    s_rollup_prefix(res, from, lo);
    s_rollup_prefix(res, to + 1, hi);
    return tg_lmdb_each(txn, DB_ROLLUPS, lo, 9, hi, 9, false, s_on_rollups, w);
}

//  The same, decoded, to fn.
static int
s_rollups_walk(tg_lmdb_txn_t *txn,
               analytics_res_t res,
               int64_t from,
               int64_t to,
               analytics_rollup_fn *fn,
               void *arg)
{
    s_walk_t w = {fn, arg, NULL};
    return s_rollups_each(txn, res, from, to, &w);
}

//  One read txn over the rollups of `res` in from_us .. to_us, to w's visitor.
static int
s_rollups_read(
    analytics_store_t *self, analytics_res_t res, int64_t from_us, int64_t to_us, s_walk_t *w)
{
    int64_t from = s_clamp_ts(from_us), to = s_clamp_ts(to_us);
    if (from > to)
        return TG_OK;
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    int rc = s_rollups_each(txn, res, from, to, w);
    tg_lmdb_abort(&txn);
    return rc;
}

int
analytics_store_rollups_raw(analytics_store_t *self,
                            analytics_res_t res,
                            int64_t from_us,
                            int64_t to_us,
                            analytics_rollup_raw_fn *fn,
                            void *arg)
{
    s_walk_t w = {NULL, arg, fn};
    return s_rollups_read(self, res, from_us, to_us, &w);
}

int
analytics_store_rollups(analytics_store_t *self,
                        analytics_res_t res,
                        int64_t from_us,
                        int64_t to_us,
                        analytics_rollup_fn *fn,
                        void *arg)
{
    s_walk_t w = {fn, arg, NULL};
    return s_rollups_read(self, res, from_us, to_us, &w);
}

//  Keys collected by a walk, to be deleted after it (a cursor walk must not delete).
typedef struct {
    uint8_t **keys;  //  heap copies
    size_t *lens;    //  their lengths
    size_t n;        //  collected
    size_t max;      //  room
} s_doomed_t;

static int
s_on_doomed(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    s_doomed_t *d = arg;
    if (d->n == d->max)
        return 1;
    d->keys[d->n] = tg_zalloc(klen ? klen : 1);
    memcpy(d->keys[d->n], key, klen);
    d->lens[d->n++] = klen;
    return d->n == d->max;
}

//  Deletes the collected keys from db (and, for time keys, their events); empties d.
static int
s_doomed_delete(tg_lmdb_txn_t *txn, int db, s_doomed_t *d)
{
    int rc = TG_OK;
    for (size_t i = 0; i < d->n; i++) {
        if (rc == TG_OK && db == DB_TIME && d->lens[i] > 8)
            rc = analytics_store_trace_unindex(txn, d->keys[i], d->lens[i]);
        if (rc == TG_OK)
            rc = tg_lmdb_del(txn, db, d->keys[i], d->lens[i]);
        if (rc == TG_OK && db == DB_TIME && d->lens[i] > 8)
            rc = tg_lmdb_del(txn, DB_EVENTS, d->keys[i] + 8, d->lens[i] - 8);
        if (rc == TG_NOTFOUND)
            rc = TG_OK;
        free(d->keys[i]);
    }
    d->max -= d->n;
    d->n = 0;
    return rc;
}

#define S_PRUNED_KEY "p:events"  //  in totals: events before this time (BE µs) may be gone

//  The pruning watermark: events with ts < it may have been deleted (0: none).
static int64_t
s_pruned(tg_lmdb_txn_t *txn)
{
    void *val = NULL;
    size_t len = 0;
    int64_t t = 0;
    if (tg_lmdb_get(txn, DB_TOTALS, S_PRUNED_KEY, strlen(S_PRUNED_KEY), &val, &len) == TG_OK
        && len == 8)
        t = (int64_t)tg_lmdb_be64_get(val);
    free(val);
    return t;
}

static int
s_set_pruned(tg_lmdb_txn_t *txn, int64_t t)
{
    if (t <= s_pruned(txn))
        return TG_OK;
    uint8_t buf[8];
    tg_lmdb_be64_put(buf, (uint64_t)t);
    return tg_lmdb_put(txn, DB_TOTALS, S_PRUNED_KEY, strlen(S_PRUNED_KEY), buf, sizeof buf);
}

int
analytics_store_prune(analytics_store_t *self,
                      int64_t now_us,
                      int64_t retention_us,
                      size_t max_deletes,
                      size_t *deleted_p)
{
    *deleted_p = 0;
    if (max_deletes == 0)
        return TG_OK;
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, true, &txn) != TG_OK)
        return TG_ERR;
    s_doomed_t d = {.max = max_deletes};
    d.keys = tg_zalloc(max_deletes * sizeof *d.keys);
    d.lens = tg_zalloc(max_deletes * sizeof *d.lens);
    int rc = TG_OK;
    //  events older than the retention
    uint8_t bound[9];
    tg_lmdb_be64_put(bound, (uint64_t)s_clamp_ts(now_us - retention_us));
    rc = tg_lmdb_each(txn, DB_TIME, NULL, 0, bound, 8, false, s_on_doomed, &d);
    int64_t last = d.n && d.lens[d.n - 1] >= 8 ? (int64_t)tg_lmdb_be64_get(d.keys[d.n - 1]) : -1;
    if (rc == TG_OK)
        rc = s_doomed_delete(txn, DB_TIME, &d);
    if (rc == TG_OK && last >= 0)
        rc = s_set_pruned(txn, last + 1);
    //  rollups past their horizons
    for (int res = 0; res < ANALYTICS_RESOLUTIONS && rc == TG_OK && d.max; res++) {
        uint8_t lo[9];
        s_rollup_prefix((analytics_res_t)res, 0, lo);
        s_rollup_prefix((analytics_res_t)res,
                        s_clamp_ts(now_us - analytics_rollup_horizon((analytics_res_t)res)), bound);
        rc = tg_lmdb_each(txn, DB_ROLLUPS, lo, 9, bound, 9, false, s_on_doomed, &d);
        if (rc == TG_OK)
            rc = s_doomed_delete(txn, DB_ROLLUPS, &d);
    }
    //  per-day groups and day totals as old as the day rollups' horizon
    char day[TG_UTC_DAY_LEN], dkey[16];
    tg_utc_day(s_clamp_ts(now_us - analytics_rollup_horizon(ANALYTICS_DAY)), day);
    if (rc == TG_OK && d.max) {
        rc = tg_lmdb_each(txn, DB_ROLLUP, NULL, 0, day, TG_UTC_DAY_LEN - 1, false, s_on_doomed, &d);
        if (rc == TG_OK)
            rc = s_doomed_delete(txn, DB_ROLLUP, &d);
    }
    if (rc == TG_OK && d.max) {  //  user bounds of days before yesterday
        char uday[TG_UTC_DAY_LEN];
        tg_utc_day(s_clamp_ts(now_us - 2 * TG_UTC_DAY_US), uday);
        rc = tg_lmdb_each(txn, DB_USERS, NULL, 0, uday, TG_UTC_DAY_LEN - 1, false, s_on_doomed, &d);
        if (rc == TG_OK)
            rc = s_doomed_delete(txn, DB_USERS, &d);
    }
    if (rc == TG_OK && d.max) {
        int n = snprintf(dkey, sizeof dkey, "d:%s", day);
        rc = tg_lmdb_each(txn, DB_TOTALS, "d:", 2, dkey, (size_t)n, false, s_on_doomed, &d);
        if (rc == TG_OK)
            rc = s_doomed_delete(txn, DB_TOTALS, &d);
    }
    for (size_t i = 0; i < d.n; i++)
        free(d.keys[i]);
    free(d.keys);
    free(d.lens);
    size_t deleted = max_deletes - d.max;
    if (rc != TG_OK || deleted == 0) {
        tg_lmdb_abort(&txn);
        return rc == TG_AGAIN ? TG_AGAIN : rc;
    }
    rc = tg_lmdb_commit(&txn);
    if (rc == TG_OK)
        *deleted_p = deleted;
    return rc;
}

//  ---- usage queries ---------------------------------------------------------------------

typedef struct {
    tg_lmdb_txn_t *txn;  //  the read txn
    zhashx_t *groups;    //  group key -> analytics_group_t (owned)
    unsigned by;         //  ANALYTICS_BY_* bits
    int rc;              //  first failure met inside a walk
    size_t rows;         //  rollup records added from the "rollups" db
    int64_t pruned;      //  events before this time may be gone (retention)
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

static int
s_on_day(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    s_edge_t *e = arg;
    char day[TG_UTC_DAY_LEN];
    if (klen < TG_UTC_DAY_LEN - 1)
        return 0;
    memcpy(day, key, TG_UTC_DAY_LEN - 1);
    day[TG_UTC_DAY_LEN - 1] = 0;
    e->found = tg_utc_parse(day, &e->ts) == TG_OK;
    return e->found;
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

//  The first day >= the day of t that has per-day rollups.
static int
s_rollup_day(s_query_t *q, int64_t t, s_edge_t *e)
{
    char day[TG_UTC_DAY_LEN];
    tg_utc_day(t, day);
    memset(e, 0, sizeof *e);
    return tg_lmdb_each(q->txn, DB_ROLLUP, day, TG_UTC_DAY_LEN - 1, NULL, 0, false, s_on_day, e);
}

static int
s_on_rollup_group(analytics_res_t res,
                  int64_t bucket_us,
                  const char *const dims[ANALYTICS_DIMS],
                  const analytics_rollup_t *r,
                  void *arg)
{
    (void)res;
    (void)bucket_us;
    s_query_t *q = arg;
    const char *d[4] = {dims[0], dims[1], dims[2], dims[3]};
    s_group_add(q, d, &r->totals);
    q->rows++;
    return 0;
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
    if (np != 5 || !analytics_totals_decode(val, vlen, &t)) {
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
    q.pruned = s_pruned(q.txn);
    int64_t start = s_clamp_ts(start_us), end = s_clamp_ts(end_us);
    int64_t cur = start;
    //  Day by day, jumping over days without data. A day whose events all lie inside the
    //  range is summed from its day rollups; a day cut by the range, from its events; a
    //  day touched by retention (some or all of its events pruned), from its day rollups
    //  when the range holds it whole, else from its minute rollups (to the minute), else
    //  its hour rollups.
    while (cur <= end && q.rc == TG_OK) {
        s_edge_t first, lo, hi, rday;
        if (s_edge(&q, cur, false, &first) != TG_OK || s_rollup_day(&q, cur, &rday) != TG_OK) {
            q.rc = TG_ERR;
            break;
        }
        int64_t day0 = INT64_MAX;
        if (first.found)
            day0 = tg_utc_day_start(first.ts);
        if (rday.found && rday.ts < day0)
            day0 = rday.ts;
        if (day0 == INT64_MAX || day0 > end)
            break;
        int64_t day1 = day0 + TG_UTC_DAY_US;
        if (s_edge(&q, day0, false, &lo) != TG_OK || s_edge(&q, day1, true, &hi) != TG_OK) {
            q.rc = TG_ERR;
            break;
        }
        bool events = lo.found && lo.ts < day1 && day0 >= q.pruned;
        if (events ? lo.ts >= start && hi.ts <= end : day0 >= start && day1 - 1 <= end) {
            char from[TG_UTC_DAY_LEN], to[TG_UTC_DAY_LEN];
            tg_utc_day(day0, from);  //  keys of the day: "YYYY-MM-DD\0..." < "YYYY-MM-DD\1"
            memcpy(to, from, TG_UTC_DAY_LEN);
            to[TG_UTC_DAY_LEN - 1] = 1;
            if (tg_lmdb_each(q.txn, DB_ROLLUP, from, TG_UTC_DAY_LEN, to, TG_UTC_DAY_LEN, false,
                             s_on_rollup, &q)
                != TG_OK)
                q.rc = TG_ERR;
        } else if (events) {
            uint8_t from[8], to[8];
            tg_lmdb_be64_put(from, (uint64_t)(start > day0 ? start : day0));
            tg_lmdb_be64_put(to, (uint64_t)(end < day1 - 1 ? end + 1 : day1));
            if (tg_lmdb_each(q.txn, DB_TIME, from, 8, to, 8, false, s_on_event, &q) != TG_OK)
                q.rc = TG_ERR;
        } else {
            int64_t from = start > day0 ? start : day0, to = end < day1 - 1 ? end : day1 - 1;
            size_t seen = q.rows;
            for (int res = ANALYTICS_MINUTE; res <= ANALYTICS_HOUR && q.rows == seen; res++)
                if (s_rollups_walk(q.txn, (analytics_res_t)res,
                                   analytics_rollup_bucket((analytics_res_t)res, from), to,
                                   s_on_rollup_group, &q)
                    != TG_OK)
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

//  ---- for the other analytics_store_*.c files (analytics_store_priv.h) -------------------

tg_lmdb_t *
analytics_store_lmdb(analytics_store_t *self)
{
    return self->db;
}

int
analytics_store_record_decode(const void *rec, size_t len, tg_frame_t **frame_p, int64_t *cost_p)
{
    const uint8_t *p = rec;
    char err[160];
    *frame_p = NULL;
    size_t head = len >= S_REC_HEAD && p[0] == S_REC_VERSION ? S_REC_HEAD
                  : len >= S_REC_V2_HEAD && p[0] == 2        ? S_REC_V2_HEAD
                  : len >= S_REC_V1_HEAD && p[0] == 1        ? S_REC_V1_HEAD
                                                             : 0;
    if (!head
        || tg_frame_decode("use", 3, p + head, len - head, NULL, 0, frame_p, err, sizeof err)
               != TG_OK)
        return TG_INVALID;
    *cost_p = (int64_t)tg_lmdb_be64_get(p + 2);
    return TG_OK;
}
