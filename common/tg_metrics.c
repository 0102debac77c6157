//  tg_metrics.c - the metrics registry of one process: declare, add, set, observe.
#include "tg_metrics.h"

#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_log.h"
#include "tg_metrics_render.h"
#include "tg_metrics_set.h"
#include "tg_metrics_wire.h"
#include "tg_util.h"

#define TG_METRICS_KEY_STACK 512  //  "name{labels}" keys shorter than this stay on the stack

struct tg_metrics {
    tg_mset_t set;    //  the families and series
    zhashx_t *index;  //  "name{labels as the caller wrote them}" -> series (borrowed from set)
    bool capped;      //  logged that a series was dropped (too many, or too long)
};

// --------------------------------------------------------------------------------------------
//  Label text

//  Length of the valid UTF-8 character at s (avail bytes), or 0 if invalid.
static size_t
s_utf8_len(const unsigned char *s, size_t avail)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        cp = s[0] & 0x07;
    } else
        return 0;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))
        || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

//  Output to a fixed buffer (hot path) or to a growing tg_buf_t.
typedef struct {
    char *out;      //  fixed buffer, or NULL to use buf
    size_t size;    //  bytes in out
    size_t len;     //  bytes written to out
    bool full;      //  out was too small
    tg_buf_t *buf;  //  growing buffer when out is NULL
} s_writer_t;

static void
s_write(s_writer_t *w, const char *s, size_t n)
{
    if (w->buf)
        tg_buf_append(w->buf, s, n);
    else if (!w->full && w->len + n < w->size) {
        memcpy(w->out + w->len, s, n);
        w->len += n;
    } else
        w->full = true;
}

static void
s_puts(s_writer_t *w, const char *s)
{
    s_write(w, s, strlen(s));
}

//  Writes a label value escaped (\\ \" \n). With cut, invalid UTF-8 and control characters
//  other than \n become '?', and at most
//  TG_METRICS_MAX_VALUE input bytes are used (whole characters only).
static void
s_write_value(s_writer_t *w, const char *value, bool cut)
{
    const unsigned char *s = (const unsigned char *)value;
    size_t avail = strlen(value), used = 0;
    while (avail) {
        //  A run of printable ASCII that needs no escape is copied at once (the usual case:
        //  provider and model names); anything else goes one character at a time below.
        size_t limit =
            cut && TG_METRICS_MAX_VALUE - used < avail ? TG_METRICS_MAX_VALUE - used : avail;
        size_t run = 0;
        while (run < limit && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '\\' && s[run] != '"')
            run++;
        if (run) {
            s_write(w, (const char *)s, run);
            s += run;
            avail -= run;
            used += run;
            continue;
        }
        size_t n = s_utf8_len(s, avail);
        if (cut && used + (n ? n : 1) > TG_METRICS_MAX_VALUE)
            break;
        if (n == 0 || (cut && ((*s < 0x20 && *s != '\n') || *s == 0x7f)))
            s_write(w, "?", 1);
        else if (*s == '\\')
            s_write(w, "\\\\", 2);
        else if (*s == '"')
            s_write(w, "\\\"", 2);
        else if (*s == '\n')
            s_write(w, "\\n", 2);
        else
            s_write(w, (const char *)s, n);
        n = n ? n : 1;
        s += n;
        avail -= n;
        used += n;
    }
}

static void
s_write_labels(s_writer_t *w, const char *k1, va_list ap)
{
    bool first = true;
    for (const char *key = k1; key; key = va_arg(ap, const char *)) {
        const char *value = va_arg(ap, const char *);
        if (!first)
            s_write(w, ",", 1);
        first = false;
        s_puts(w, key);
        s_write(w, "=\"", 2);
        s_write_value(w, value ? value : "", true);
        s_write(w, "\"", 1);
    }
}

char *
tg_metrics_labels(const char *k1, ...)
{
    tg_buf_t buf;
    tg_buf_init(&buf, SIZE_MAX / 2);
    s_writer_t w = {.buf = &buf};
    va_list ap;
    va_start(ap, k1);
    s_write_labels(&w, k1, ap);
    va_end(ap);
    return tg_buf_take(&buf, NULL);
}

int
tg_metrics_labels_buf(char *out, size_t size, const char *k1, ...)
{
    assert(out && size > 0);
    s_writer_t w = {.out = out, .size = size};
    va_list ap;
    va_start(ap, k1);
    s_write_labels(&w, k1, ap);
    va_end(ap);
    if (w.full) {
        out[0] = 0;
        return TG_INVALID;
    }
    out[w.len] = 0;
    return (int)w.len;
}

// --------------------------------------------------------------------------------------------
//  Registry

tg_metrics_t *
tg_metrics_new(void)
{
    tg_metrics_t *self = tg_zalloc(sizeof(tg_metrics_t));
    tg_mset_init(&self->set);
    self->index = zhashx_new();
    return self;
}

void
tg_metrics_destroy(tg_metrics_t **self_p)
{
    assert(self_p);
    tg_metrics_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->index);
    tg_mset_fini(&self->set);
    free(self);
    *self_p = NULL;
}

static bool __attribute__((unused))  //  used by asserts only
s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

void
tg_metrics_declare(tg_metrics_t *self,
                   const char *name,
                   tg_metric_type_t type,
                   const char *help,
                   const double *buckets,
                   size_t nbuckets)
{
    assert(self && name && help);
    assert(tg_mset_name_valid(name));
    assert(type == TG_METRIC_COUNTER || type == TG_METRIC_GAUGE || type == TG_METRIC_HISTOGRAM);
    //  promtool lint: only counters end in _total, and every counter does.
    assert((type == TG_METRIC_COUNTER) == s_ends_with(name, "_total"));
    assert(type == TG_METRIC_HISTOGRAM || nbuckets == 0);
    assert(nbuckets + 1 < TG_MSET_MAX_BUCKETS);
    tg_mfamily_t *fam = zhashx_lookup(self->set.families, name);
    if (fam) {
        assert(fam->type == type);
        return;
    }
    fam = tg_mset_family(&self->set, name, type);
    free(fam->help);
    fam->help = tg_strdup(help);
    if (type == TG_METRIC_HISTOGRAM) {
        double le[TG_MSET_MAX_BUCKETS];
        for (size_t i = 0; i < nbuckets; i++) {
            assert(isfinite(buckets[i]));
            assert(i == 0 || buckets[i] > buckets[i - 1]);
            le[i] = buckets[i];
        }
        le[nbuckets] = INFINITY;
        tg_mfamily_set_bounds(fam, le, nbuckets + 1);
    }
}

//  The series name{labels} of a declared family of this type; created on first use (its
//  labels made canonical once, here). NULL if the registry is full or labels are invalid.
static tg_mseries_t *
s_registry_series(tg_metrics_t *self, const char *name, const char *labels, tg_metric_type_t type)
{
    assert(self && name);
    if (!labels)
        labels = "";
    char stack[TG_METRICS_KEY_STACK];
    size_t nlen = strlen(name), llen = strlen(labels), klen = nlen + (llen ? llen + 2 : 0);
    char *key = klen < sizeof stack ? stack : tg_zalloc(klen + 1);
    memcpy(key, name, nlen);
    if (llen) {
        key[nlen] = '{';
        memcpy(key + nlen + 1, labels, llen);
        key[klen - 1] = '}';
    }
    key[klen] = 0;
    tg_mseries_t *s = zhashx_lookup(self->index, key);
    if (!s) {
        tg_mfamily_t *fam = zhashx_lookup(self->set.families, name);
        assert(fam);                //  declare before use
        assert(fam->type == type);  //  add/set/observe match the declared type
        char *canon = tg_mset_canon_labels(labels, type == TG_METRIC_HISTOGRAM);
        assert(canon);  //  labels made by tg_metrics_labels are always valid
        if (!canon)
            tg_log_error("metrics: invalid labels, series dropped: %.200s", key);
        else if ((self->set.nseries >= TG_METRICS_MAX_SERIES || llen > TG_METRICS_MAX_LINE)
                 && !zhashx_lookup(fam->series, canon)) {
            if (!self->capped)
                tg_log_warn("metrics: dropping series %.200s (%zu series, labels %zu bytes)", key,
                            self->set.nseries, llen);
            self->capped = true;
        } else {
            //  Another spelling of the same labels (pairs in another order) shares the series.
            s = tg_mset_series(&self->set, fam, canon);
            zhashx_insert(self->index, key, s);
        }
        free(canon);
    }
    if (key != stack)
        free(key);
    return s;
}

void
tg_metrics_add(tg_metrics_t *self, const char *name, const char *labels, double delta)
{
    tg_mseries_t *s = s_registry_series(self, name, labels, TG_METRIC_COUNTER);
    if (s && delta >= 0)  //  false for NaN too
        s->value += delta;
}

void
tg_metrics_set(tg_metrics_t *self, const char *name, const char *labels, double value)
{
    tg_mseries_t *s = s_registry_series(self, name, labels, TG_METRIC_GAUGE);
    if (s)
        s->value = value;
}

void
tg_metrics_observe(tg_metrics_t *self, const char *name, const char *labels, double value)
{
    tg_mseries_t *s = s_registry_series(self, name, labels, TG_METRIC_HISTOGRAM);
    if (!s || isnan(value))
        return;
    size_t b = 0;
    while (value > s->le[b])  //  stops at +Inf at the latest
        b++;
    for (; b < s->nb; b++)
        s->cum[b]++;
    s->sum += value;
    s->count++;
}

char *
tg_metrics_snapshot(const tg_metrics_t *self)
{
    assert(self);
    return tg_metrics_render(&self->set);
}

char *
tg_metrics_encode(const tg_metrics_t *const *regs, size_t nregs, size_t *len_p)
{
    assert(len_p);
    const tg_mset_t *sets[8];
    size_t n = 0;
    for (size_t i = 0; i < nregs && n < sizeof sets / sizeof sets[0]; i++)
        if (regs[i])
            sets[n++] = &regs[i]->set;
    return tg_metrics_wire_encode(sets, n, len_p);
}
