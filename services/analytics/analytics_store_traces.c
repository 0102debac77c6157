//  analytics_store_traces.c - the "traces" index of the analytics store: written with each
//  event, deleted with it, and read back per trace or as recent trace ids.
#include "analytics_store_priv.h"
#include "tg_log.h"
#include "tg_util.h"

#include <stdlib.h>
#include <string.h>

#define S_KEY_MAX (ANALYTICS_MAX_TRACE + 1 + 8 + ANALYTICS_MAX_EID)

int
analytics_store_trace_index(tg_lmdb_txn_t *txn,
                            const char *trace,
                            size_t trace_len,
                            const void *tkey,
                            size_t tklen,
                            bool put)
{
    uint8_t key[S_KEY_MAX];
    if (trace_len == 0 || trace_len > ANALYTICS_MAX_TRACE || tklen <= 8
        || tklen > 8 + ANALYTICS_MAX_EID)
        return TG_OK;  //  not indexed
    memcpy(key, trace, trace_len);
    key[trace_len] = 0;
    memcpy(key + trace_len + 1, tkey, tklen);
    size_t klen = trace_len + 1 + tklen;
    if (put)
        return tg_lmdb_put(txn, DB_TRACES, key, klen, NULL, 0);
    int rc = tg_lmdb_del(txn, DB_TRACES, key, klen);
    return rc == TG_NOTFOUND ? TG_OK : rc;
}

int
analytics_store_trace_unindex(tg_lmdb_txn_t *txn, const void *tkey, size_t tklen)
{
    void *trace = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(txn, DB_TIME, tkey, tklen, &trace, &len);
    if (rc == TG_OK && len > 0)
        rc = analytics_store_trace_index(txn, trace, len, tkey, tklen, false);
    free(trace);
    return rc == TG_NOTFOUND ? TG_OK : rc;
}

typedef struct {
    tg_lmdb_txn_t *txn;      //  the read txn
    size_t prefix;           //  bytes of [trace][0]
    size_t left;             //  events still wanted
    bool more;               //  stopped with events left
    analytics_event_fn *fn;  //  the caller's visitor
    void *arg;               //  its argument
    int rc;                  //  first failure inside the walk
} s_trace_walk_t;

static int
s_on_trace_key(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    s_trace_walk_t *w = arg;
    if (klen <= w->prefix + 8)
        return 0;
    if (w->left == 0) {
        w->more = true;
        return 1;
    }
    const uint8_t *tkey = (const uint8_t *)key + w->prefix;
    void *rec = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(w->txn, DB_EVENTS, tkey + 8, klen - w->prefix - 8, &rec, &len);
    if (rc == TG_ERR) {
        w->rc = TG_ERR;
        return 1;
    }
    int stop = 0;
    tg_frame_t *f = NULL;
    int64_t cost = 0;
    if (rc == TG_OK && analytics_store_record_decode(rec, len, &f, &cost) == TG_OK) {
        w->left--;
        stop = w->fn((int64_t)tg_lmdb_be64_get(tkey), &f, cost, w->arg);
    } else
        tg_log_warn("analytics traces index names a missing or unreadable event");
    tg_frame_destroy(&f);
    free(rec);
    return stop;
}

int
analytics_store_trace(analytics_store_t *self,
                      const char *trace,
                      size_t max,
                      analytics_event_fn *fn,
                      void *arg,
                      bool *more_p)
{
    *more_p = false;
    size_t tlen = strlen(trace);
    if (tlen == 0 || tlen > ANALYTICS_MAX_TRACE)
        return TG_OK;
    uint8_t from[ANALYTICS_MAX_TRACE + 1], to[ANALYTICS_MAX_TRACE + 1];
    memcpy(from, trace, tlen);
    from[tlen] = 0;
    memcpy(to, trace, tlen);
    to[tlen] = 1;  //  [trace][0]... < [trace][1]
    s_trace_walk_t w = {.prefix = tlen + 1, .left = max, .fn = fn, .arg = arg, .rc = TG_OK};
    if (tg_lmdb_begin(analytics_store_lmdb(self), false, &w.txn) != TG_OK)
        return TG_ERR;
    int rc =
        tg_lmdb_each(w.txn, DB_TRACES, from, tlen + 1, to, tlen + 1, false, s_on_trace_key, &w);
    tg_lmdb_abort(&w.txn);
    *more_p = w.more;
    return rc != TG_OK ? rc : w.rc;
}

typedef struct {
    size_t left;                //  events still to scan
    bool more;                  //  stopped by the scan cap
    analytics_trace_id_fn *fn;  //  the caller's visitor
    void *arg;                  //  its argument
} s_recent_t;

static int
s_on_time_key(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_recent_t *r = arg;
    if (r->left == 0) {
        r->more = true;
        return 1;
    }
    r->left--;
    if (klen < 8 || vlen == 0 || vlen > ANALYTICS_MAX_TRACE)
        return 0;
    char trace[ANALYTICS_MAX_TRACE + 1];
    memcpy(trace, val, vlen);
    trace[vlen] = 0;
    return r->fn((int64_t)tg_lmdb_be64_get(key), trace, r->arg);
}

int
analytics_store_traced(analytics_store_t *self,
                       int64_t from_us,
                       int64_t to_us,
                       size_t max_scan,
                       analytics_trace_id_fn *fn,
                       void *arg,
                       bool *more_p)
{
    *more_p = false;
    if (from_us < 0)
        from_us = 0;
    if (to_us < from_us)
        return TG_OK;
    uint8_t lo[8], hi[8];
    tg_lmdb_be64_put(lo, (uint64_t)from_us);
    tg_lmdb_be64_put(hi, (uint64_t)to_us + 1);
    s_recent_t r = {.left = max_scan, .fn = fn, .arg = arg};
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(analytics_store_lmdb(self), false, &txn) != TG_OK)
        return TG_ERR;
    int rc = tg_lmdb_each(txn, DB_TIME, lo, 8, hi, 8, true, s_on_time_key, &r);
    tg_lmdb_abort(&txn);
    *more_p = r.more;
    return rc;
}
