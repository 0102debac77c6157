//  analytics_sketch.c - DDSketch-style quantile sketch (contract and encoding in the header).
#include "analytics_sketch.h"
#include "tg_util.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_MAGIC 'D'
#define S_VERSION 1
#define S_INDEX_MAX (1 << 20)  //  |bucket index| decoded at most (g^(2^20) is past any double)

struct analytics_sketch {
    uint64_t zero;   //  values <= 0
    uint64_t count;  //  all values, zero included
    int32_t off;     //  index of bins[0]
    uint32_t n;      //  buckets in bins (0 when no value > 0 was counted)
    uint64_t *bins;  //  counts of the buckets off .. off + n - 1
    double log_g;    //  log(gamma)
    double gamma;    //  (1 + alpha) / (1 - alpha)
};

analytics_sketch_t *
analytics_sketch_new(void)
{
    analytics_sketch_t *self = tg_zalloc(sizeof *self);
    self->gamma = (1 + ANALYTICS_SKETCH_ALPHA) / (1 - ANALYTICS_SKETCH_ALPHA);
    self->log_g = log(self->gamma);
    return self;
}

void
analytics_sketch_destroy(analytics_sketch_t **self_p)
{
    assert(self_p);
    analytics_sketch_t *self = *self_p;
    if (!self)
        return;
    free(self->bins);
    free(self);
    *self_p = NULL;
}

//  Moves the buckets to cover lo..hi (hi >= the current top); buckets below lo fold into lo.
static void
s_reframe(analytics_sketch_t *self, int32_t lo, int32_t hi)
{
    assert(hi >= lo && (int64_t)hi - lo < ANALYTICS_SKETCH_MAX_BINS);
    uint32_t n = (uint32_t)(hi - lo + 1);
    uint64_t *bins = tg_zalloc(n * sizeof *bins);
    for (uint32_t i = 0; i < self->n; i++) {
        int32_t idx = self->off + (int32_t)i;
        assert(idx <= hi);
        bins[idx < lo ? 0 : idx - lo] += self->bins[i];
    }
    free(self->bins);
    self->bins = bins;
    self->off = lo;
    self->n = n;
}

static void
s_add_index(analytics_sketch_t *self, int32_t idx, uint64_t c)
{
    const int32_t cap = ANALYTICS_SKETCH_MAX_BINS;
    if (self->n == 0)
        s_reframe(self, idx, idx);
    int32_t lo = self->off, hi = self->off + (int32_t)self->n - 1;
    if (idx > hi)
        s_reframe(self, idx - lo + 1 > cap ? idx - cap + 1 : lo, idx);
    else if (idx < lo) {
        int32_t floor_lo = hi - cap + 1;
        s_reframe(self, idx < floor_lo ? floor_lo : idx, hi);
    }
    if (idx < self->off)
        idx = self->off;  //  collapsed into the lowest kept bucket
    self->bins[idx - self->off] += c;
    self->count += c;
}

void
analytics_sketch_add(analytics_sketch_t *self, double value)
{
    if (!(value > 0) || !isfinite(value)) {
        if (isinf(value) && value > 0)
            value = 1e300;
        else {
            self->zero++;
            self->count++;
            return;
        }
    }
    double li = ceil(log(value) / self->log_g);
    if (li > S_INDEX_MAX)
        li = S_INDEX_MAX;
    if (li < -S_INDEX_MAX)
        li = -S_INDEX_MAX;
    s_add_index(self, (int32_t)li, 1);
}

uint64_t
analytics_sketch_count(const analytics_sketch_t *self)
{
    return self->count;
}

double
analytics_sketch_quantile(const analytics_sketch_t *self, double q)
{
    if (self->count == 0)
        return NAN;
    q = q < 0 ? 0 : (q > 1 ? 1 : q);
    uint64_t rank = (uint64_t)floor(q * (double)(self->count - 1));
    if (rank < self->zero)
        return 0;
    uint64_t seen = self->zero;
    for (uint32_t i = 0; i < self->n; i++) {
        seen += self->bins[i];
        if (seen > rank)
            return 2 * pow(self->gamma, self->off + (int32_t)i) / (self->gamma + 1);
    }
    return 2 * pow(self->gamma, self->off + (int32_t)self->n - 1) / (self->gamma + 1);
}

void
analytics_sketch_merge(analytics_sketch_t *self, const analytics_sketch_t *other)
{
    self->zero += other->zero;
    self->count += other->zero;
    if (other->n == 0)
        return;
    //  One reframe to the union of both ranges (capped), then plain adds.
    int32_t olo = other->off, ohi = other->off + (int32_t)other->n - 1;
    int32_t lo = olo, hi = ohi;
    if (self->n) {
        int32_t slo = self->off, shi = self->off + (int32_t)self->n - 1;
        lo = slo < lo ? slo : lo;
        hi = shi > hi ? shi : hi;
    }
    if ((int64_t)hi - lo + 1 > ANALYTICS_SKETCH_MAX_BINS)
        lo = hi - ANALYTICS_SKETCH_MAX_BINS + 1;
    if (self->n == 0 || lo != self->off || hi != self->off + (int32_t)self->n - 1)
        s_reframe(self, lo, hi);
    for (uint32_t i = 0; i < other->n; i++) {
        int32_t idx = olo + (int32_t)i;
        self->bins[idx < lo ? 0 : idx - lo] += other->bins[i];
        self->count += other->bins[i];
    }
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

uint8_t *
analytics_sketch_encode(const analytics_sketch_t *self, size_t *len_p)
{
    uint8_t *out = tg_zalloc(2 + 10 * 2 + (size_t)self->n * 20 + 10);
    size_t len = 0, nz = 0;
    for (uint32_t i = 0; i < self->n; i++)
        nz += self->bins[i] != 0;
    out[len++] = S_MAGIC;
    out[len++] = S_VERSION;
    len += s_put_varint(out + len, self->zero);
    len += s_put_varint(out + len, nz);
    int64_t prev = 0;
    bool first = true;
    for (uint32_t i = 0; i < self->n; i++) {
        if (!self->bins[i])
            continue;
        int64_t idx = self->off + (int64_t)i;
        if (first)
            len += s_put_varint(out + len, ((uint64_t)idx << 1) ^ (uint64_t)(idx >> 63));
        else
            len += s_put_varint(out + len, (uint64_t)(idx - prev));
        len += s_put_varint(out + len, self->bins[i]);
        prev = idx;
        first = false;
    }
    *len_p = len;
    return out;
}

analytics_sketch_t *
analytics_sketch_decode(const uint8_t *data, size_t len)
{
    if (!data || len < 4 || data[0] != S_MAGIC || data[1] != S_VERSION)
        return NULL;
    size_t off = 2;
    uint64_t zero, nz;
    if (!s_get_varint(data, len, &off, &zero) || !s_get_varint(data, len, &off, &nz)
        || nz > ANALYTICS_SKETCH_MAX_BINS)
        return NULL;
    int32_t idxs[ANALYTICS_SKETCH_MAX_BINS];
    uint64_t counts[ANALYTICS_SKETCH_MAX_BINS];
    uint64_t total = zero;
    int64_t idx = 0;
    for (uint64_t i = 0; i < nz; i++) {
        uint64_t raw, c;
        if (!s_get_varint(data, len, &off, &raw) || !s_get_varint(data, len, &off, &c) || c == 0)
            return NULL;
        if (i == 0)
            idx = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
        else if (raw == 0 || raw > ANALYTICS_SKETCH_MAX_BINS)
            return NULL;
        else
            idx += (int64_t)raw;
        if (idx > S_INDEX_MAX || idx < -S_INDEX_MAX
            || (i && idx - idxs[0] >= ANALYTICS_SKETCH_MAX_BINS) || total + c < total)
            return NULL;
        idxs[i] = (int32_t)idx;
        counts[i] = c;
        total += c;
    }
    if (off != len)
        return NULL;
    analytics_sketch_t *self = analytics_sketch_new();
    self->zero = zero;
    self->count = total;
    if (nz) {
        s_reframe(self, idxs[0], idxs[nz - 1]);
        for (uint64_t i = 0; i < nz; i++)
            self->bins[idxs[i] - self->off] = counts[i];
    }
    return self;
}
