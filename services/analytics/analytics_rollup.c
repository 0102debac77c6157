//  analytics_rollup.c - counters and rollup records (layout in the header).
#include "analytics_rollup.h"
#include "tg_lmdb.h"
#include "tg_util.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define S_VERSION 1
#define S_WORDS 14     //  counter words written (schema 5)
#define S_V4_WORDS 13  //  schema 4 rollup counters
#define S_V1_WORDS 7   //  schema 1 counters
#define S_V2_WORDS 11  //  schema 2 counters
#define S_LAT_WORDS 8  //  latency and TTFT words
#define S_MINUTE_US 60000000LL
#define S_HOUR_US 3600000000LL
#define S_DAY_US 86400000000LL

static const char s_res_tag[ANALYTICS_RESOLUTIONS] = {'m', 'h', 'd', 'D', 'E'};

void
analytics_totals_add(analytics_totals_t *a, const analytics_totals_t *b)
{
    analytics_add_u64(&a->requests, b->requests);
    analytics_add_u64(&a->errors, b->errors);
    analytics_add_u64(&a->tok_in, b->tok_in);
    analytics_add_u64(&a->tok_out, b->tok_out);
    analytics_add_u64(&a->tok_cached, b->tok_cached);
    analytics_add_i64(&a->cost_micro, b->cost_micro);
    analytics_add_u64(&a->unknown, b->unknown);
    analytics_add_i64(&a->savings_micro, b->savings_micro);
    for (int i = 0; i < 3; i++)
        analytics_add_u64(&a->auto_cls[i], b->auto_cls[i]);
    analytics_add_u64(&a->cache_hits, b->cache_hits);
    analytics_add_i64(&a->cache_saved_micro, b->cache_saved_micro);
    analytics_add_i64(&a->cost_in_micro, b->cost_in_micro);
}

void
analytics_totals_encode(const analytics_totals_t *t, uint8_t *out)
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

bool
analytics_totals_decode(const void *data, size_t len, analytics_totals_t *t)
{
    memset(t, 0, sizeof *t);
    if (len < S_V1_WORDS * 8)
        return false;
    const uint8_t *p = data;
    t->requests = tg_lmdb_be64_get(p);
    t->errors = tg_lmdb_be64_get(p + 8);
    t->tok_in = tg_lmdb_be64_get(p + 16);
    t->tok_out = tg_lmdb_be64_get(p + 24);
    t->tok_cached = tg_lmdb_be64_get(p + 32);
    t->cost_micro = (int64_t)tg_lmdb_be64_get(p + 40);
    t->unknown = tg_lmdb_be64_get(p + 48);
    if (len >= S_V2_WORDS * 8) {
        t->savings_micro = (int64_t)tg_lmdb_be64_get(p + 56);
        for (int i = 0; i < 3; i++)
            t->auto_cls[i] = tg_lmdb_be64_get(p + 64 + 8 * i);
    }
    if (len >= S_V4_WORDS * 8) {
        t->cache_hits = tg_lmdb_be64_get(p + 88);
        t->cache_saved_micro = (int64_t)tg_lmdb_be64_get(p + 96);
    }
    return true;
}

void
analytics_rollup_init(analytics_rollup_t *r)
{
    memset(r, 0, sizeof *r);
    r->lat = analytics_sketch_new();
    r->ttft = analytics_sketch_new();
}

void
analytics_rollup_fini(analytics_rollup_t *r)
{
    analytics_sketch_destroy(&r->lat);
    analytics_sketch_destroy(&r->ttft);
}

//  Folds one (count, sum, min, max) into another.
static void
s_fold(uint64_t *n,
       uint64_t *sum,
       uint64_t *min,
       uint64_t *max,
       uint64_t bn,
       uint64_t bsum,
       uint64_t bmin,
       uint64_t bmax)
{
    if (!bn)
        return;
    *min = *n == 0 || bmin < *min ? bmin : *min;
    *max = *n == 0 || bmax > *max ? bmax : *max;
    analytics_add_u64(n, bn);
    analytics_add_u64(sum, bsum);
}

void
analytics_rollup_add(analytics_rollup_t *r,
                     const analytics_totals_t *t,
                     uint64_t latency_us,
                     uint64_t ttft_us)
{
    uint64_t n = r->totals.requests;
    analytics_totals_add(&r->totals, t);
    if (t->requests) {
        s_fold(&n, &r->lat_sum_us, &r->lat_min_us, &r->lat_max_us, 1, latency_us, latency_us,
               latency_us);
        analytics_sketch_add(r->lat, (double)latency_us);
    }
    if (ttft_us) {
        s_fold(&r->ttft_n, &r->ttft_sum_us, &r->ttft_min_us, &r->ttft_max_us, 1, ttft_us, ttft_us,
               ttft_us);
        analytics_sketch_add(r->ttft, (double)ttft_us);
    }
}

void
analytics_rollup_merge(analytics_rollup_t *a, const analytics_rollup_t *b)
{
    uint64_t n = a->totals.requests;
    analytics_totals_add(&a->totals, &b->totals);
    s_fold(&n, &a->lat_sum_us, &a->lat_min_us, &a->lat_max_us, b->totals.requests, b->lat_sum_us,
           b->lat_min_us, b->lat_max_us);
    s_fold(&a->ttft_n, &a->ttft_sum_us, &a->ttft_min_us, &a->ttft_max_us, b->ttft_n, b->ttft_sum_us,
           b->ttft_min_us, b->ttft_max_us);
    if (a->lat && b->lat)
        analytics_sketch_merge(a->lat, b->lat);
    if (a->ttft && b->ttft)
        analytics_sketch_merge(a->ttft, b->ttft);
}

static size_t
s_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

//  Reads a varint at *off; false when truncated or longer than 10 bytes.
static bool
s_get_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70 && *off < len; shift += 7) {
        uint8_t b = p[(*off)++];
        if (shift == 63 && b > 1)
            return false;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

static uint64_t
s_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t
s_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

//  The counters in encoding order.
static void
s_words(const analytics_totals_t *t, int64_t w[S_WORDS])
{
    const int64_t v[S_WORDS] = {
        (int64_t)t->requests,    (int64_t)t->errors,      (int64_t)t->tok_in,
        (int64_t)t->tok_out,     (int64_t)t->tok_cached,  t->cost_micro,
        (int64_t)t->unknown,     t->savings_micro,        (int64_t)t->auto_cls[0],
        (int64_t)t->auto_cls[1], (int64_t)t->auto_cls[2], (int64_t)t->cache_hits,
        t->cache_saved_micro,    t->cost_in_micro};
    memcpy(w, v, sizeof v);
}

uint8_t *
analytics_rollup_encode(const analytics_rollup_t *r, size_t *len_p)
{
    size_t llen, tlen;
    uint8_t *lat = analytics_sketch_encode(r->lat, &llen);
    uint8_t *ttft = analytics_sketch_encode(r->ttft, &tlen);
    uint8_t *out = tg_zalloc(2 + 10 * (S_WORDS + S_LAT_WORDS + 2) + llen + tlen);
    size_t len = 0;
    out[len++] = S_VERSION;
    out[len++] = S_WORDS;
    int64_t w[S_WORDS];
    s_words(&r->totals, w);
    for (int i = 0; i < S_WORDS; i++)
        len += s_put_varint(out + len, s_zigzag(w[i]));
    const uint64_t lw[S_LAT_WORDS] = {r->lat_sum_us,  r->lat_min_us,  r->lat_max_us, r->ttft_n,
                                      r->ttft_sum_us, r->ttft_min_us, r->ttft_max_us};
    for (int i = 0; i < S_LAT_WORDS; i++)
        len += s_put_varint(out + len, lw[i]);
    len += s_put_varint(out + len, llen);
    memcpy(out + len, lat, llen);
    len += llen;
    len += s_put_varint(out + len, tlen);
    memcpy(out + len, ttft, tlen);
    len += tlen;
    free(lat);
    free(ttft);
    *len_p = len;
    return out;
}

//  Reads a [varint n][n bytes] sketch at *off.
static analytics_sketch_t *
s_sketch_at(const uint8_t *p, size_t len, size_t *off)
{
    uint64_t n;
    if (!s_get_varint(p, len, off, &n) || n > len - *off)
        return NULL;
    analytics_sketch_t *sk = analytics_sketch_decode(p + *off, (size_t)n);
    *off += (size_t)n;
    return sk;
}

int
analytics_rollup_decode(const void *data, size_t len, analytics_rollup_t *r)
{
    return analytics_rollup_decode_ex(data, len, true, r);
}

int
analytics_rollup_decode_ex(const void *data, size_t len, bool sketches, analytics_rollup_t *r)
{
    memset(r, 0, sizeof *r);
    const uint8_t *p = data;
    if (len < 2 || p[0] != S_VERSION || p[1] < S_V4_WORDS)
        return TG_INVALID;
    size_t off = 2;
    int64_t w[S_WORDS] = {0};
    for (size_t i = 0; i < p[1]; i++) {
        uint64_t v;
        if (!s_get_varint(p, len, &off, &v))
            return TG_INVALID;
        if (i < S_WORDS)
            w[i] = s_unzigzag(v);  //  words of a later version are skipped
    }
    uint64_t lw[S_LAT_WORDS];
    for (int i = 0; i < S_LAT_WORDS; i++)
        if (!s_get_varint(p, len, &off, &lw[i]))
            return TG_INVALID;
    analytics_totals_t *t = &r->totals;
    t->requests = (uint64_t)w[0];
    t->errors = (uint64_t)w[1];
    t->tok_in = (uint64_t)w[2];
    t->tok_out = (uint64_t)w[3];
    t->tok_cached = (uint64_t)w[4];
    t->cost_micro = w[5];
    t->unknown = (uint64_t)w[6];
    t->savings_micro = w[7];
    for (int i = 0; i < 3; i++)
        t->auto_cls[i] = (uint64_t)w[8 + i];
    t->cache_hits = (uint64_t)w[11];
    t->cache_saved_micro = w[12];
    t->cost_in_micro = w[13];
    r->lat_sum_us = lw[0];
    r->lat_min_us = lw[1];
    r->lat_max_us = lw[2];
    r->ttft_n = lw[3];
    r->ttft_sum_us = lw[4];
    r->ttft_min_us = lw[5];
    r->ttft_max_us = lw[6];
    if (!sketches)
        return TG_OK;
    r->lat = s_sketch_at(p, len, &off);
    r->ttft = r->lat ? s_sketch_at(p, len, &off) : NULL;
    if (!r->lat || !r->ttft || off != len) {
        analytics_rollup_fini(r);
        memset(r, 0, sizeof *r);
        return TG_INVALID;
    }
    return TG_OK;
}

static int64_t
s_width(analytics_res_t res)
{
    return res == ANALYTICS_MINUTE                             ? S_MINUTE_US
           : res == ANALYTICS_DAY || res == ANALYTICS_DAY_USER ? S_DAY_US
                                                               : S_HOUR_US;
}

int64_t
analytics_rollup_width(analytics_res_t res)
{
    return s_width(res);
}

int64_t
analytics_rollup_bucket(analytics_res_t res, int64_t ts_us)
{
    assert(ts_us >= 0);
    return ts_us - ts_us % s_width(res);
}

int64_t
analytics_rollup_horizon(analytics_res_t res)
{
    static const int64_t days[ANALYTICS_RESOLUTIONS] = {37, 210, 1096, 1096, 210};
    return days[res] * S_DAY_US;
}

size_t
analytics_rollup_key(analytics_res_t res,
                     int64_t bucket_us,
                     const char *const dims[ANALYTICS_DIMS],
                     uint8_t *out)
{
    out[0] = (uint8_t)s_res_tag[res];
    tg_lmdb_be64_put(out + 1, (uint64_t)bucket_us);
    //  Schema 4 wrote 4 dims: keep at least those, and leave out trailing empty ones, so
    //  that events without org, env or user keep the keys they had.
    int last = 3;
    for (int i = 4; i < ANALYTICS_DIMS; i++)
        if (dims[i] && *dims[i])
            last = i;
    size_t len = 9;
    for (int i = 0; i <= last; i++) {
        size_t n = dims[i] ? strnlen(dims[i], ANALYTICS_MAX_DIM) : 0;
        memcpy(out + len, dims[i] ? dims[i] : "", n);
        len += n;
        if (i < last)
            out[len++] = 0;
    }
    return len;
}

bool
analytics_rollup_key_parse(const void *key,
                           size_t klen,
                           analytics_res_t *res,
                           int64_t *bucket_us,
                           char dims_buf[ANALYTICS_DIMS][ANALYTICS_MAX_DIM + 1])
{
    const uint8_t *p = key;
    if (klen < 9)
        return false;
    const char *tag = memchr(s_res_tag, p[0], sizeof s_res_tag);
    if (!tag)
        return false;
    *res = (analytics_res_t)(tag - s_res_tag);
    *bucket_us = (int64_t)tg_lmdb_be64_get(p + 1);
    size_t off = 9;
    for (int i = 0; i < ANALYTICS_DIMS; i++) {
        const uint8_t *nul = off < klen ? memchr(p + off, 0, klen - off) : NULL;
        size_t n = nul ? (size_t)(nul - (p + off)) : klen - off;
        if (n > ANALYTICS_MAX_DIM)
            return false;
        memcpy(dims_buf[i], p + off, n);
        dims_buf[i][n] = 0;
        off += n;
        if (off < klen)
            off++;  //  the separator (later dimensions, if any, are ignored here)
        else if (i < ANALYTICS_DIMS - 1) {
            for (int j = i + 1; j < ANALYTICS_DIMS; j++)
                dims_buf[j][0] = 0;
            break;
        }
    }
    return true;
}
