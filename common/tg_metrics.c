//  tg_metrics.c - metrics registry, Prometheus text snapshots, snapshot parser and aggregator.
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
#include "tg_util.h"

#define TG_METRICS_MAX_NAME 200       //  longest metric or family name
#define TG_METRICS_MAX_LABELS 32      //  label pairs per sample
#define TG_METRICS_MAX_BUCKETS 64     //  buckets per histogram series
#define TG_METRICS_MAX_FAMILIES 4096  //  families per snapshot
#define TG_METRICS_MAX_SOURCES 1024   //  processes an aggregator follows
#define TG_METRICS_KEY_STACK 512      //  "name{labels}" keys shorter than this stay on the stack

//  One series: the samples of a family that share a label set.
typedef struct {
    char *labels;   //  label text without le ("a=\"x\",b=\"y\""), "" for none; owned
    double value;   //  counter or gauge value
    size_t nb;      //  histogram buckets including +Inf (0 for counters and gauges)
    double *le;     //  bucket upper bounds, increasing, the last is +Inf; owned
    double *cum;    //  cumulative bucket counts; owned
    double sum;     //  histogram _sum
    double count;   //  histogram _count
    unsigned seen;  //  parser only: S_SEEN_* bits of the lines read so far
} s_series_t;

//  One label pair of a sample, pointing into the (mutable) line buffer.
typedef struct {
    const char *key;    //  NUL-terminated label name
    const char *value;  //  NUL-terminated unescaped value
} s_pair_t;

enum { S_SEEN_VALUE = 1, S_SEEN_SUM = 2, S_SEEN_COUNT = 4 };

//  A family: name, type, help and its series.
typedef struct {
    char *name;             //  owned
    tg_metric_type_t type;  //  valid once typed
    bool typed;             //  parser only: a TYPE line was read
    char *help;             //  unescaped help text, owned; "" if none
    size_t nb;              //  registry histograms: buckets including +Inf
    double *le;             //  registry histograms: bucket bounds for new series; owned
    zhashx_t *series;       //  labels -> s_series_t, owned
} s_family_t;

//  A set of families: a registry's contents, one parsed snapshot, or a merge of them.
typedef struct {
    zhashx_t *families;  //  name -> s_family_t, owned
    size_t nseries;      //  series in all families
} s_set_t;

struct tg_metrics {
    s_set_t set;      //  the families and series
    zhashx_t *index;  //  "name{labels}" -> s_series_t (borrowed from set), for the hot path
    bool capped;      //  logged that a series was dropped (too many, or too long)
};

//  One source's last snapshot.
typedef struct {
    s_set_t set;     //  parsed snapshot
    int64_t put_us;  //  when it was put
} s_source_t;

struct tg_metrics_agg {
    zhashx_t *sources;  //  source name -> s_source_t, owned
    s_set_t retired;    //  counters and histograms of restarted or expired sources
};

// --------------------------------------------------------------------------------------------
//  Series, families, sets

static s_series_t *
s_series_new(const char *labels, size_t nb, const double *le)
{
    s_series_t *self = tg_zalloc(sizeof(s_series_t));
    self->labels = tg_strdup(labels);
    if (nb) {
        self->nb = nb;
        self->le = tg_zalloc(nb * sizeof(double));
        self->cum = tg_zalloc(nb * sizeof(double));
        memcpy(self->le, le, nb * sizeof(double));
    }
    return self;
}

static void
s_series_destroy(void **item)
{
    s_series_t *self = *item;
    if (!self)
        return;
    free(self->labels);
    free(self->le);
    free(self->cum);
    free(self);
    *item = NULL;
}

static s_family_t *
s_family_new(const char *name)
{
    s_family_t *self = tg_zalloc(sizeof(s_family_t));
    self->name = tg_strdup(name);
    self->help = tg_strdup("");
    self->series = zhashx_new();
    zhashx_set_destructor(self->series, s_series_destroy);
    return self;
}

static void
s_family_destroy(void **item)
{
    s_family_t *self = *item;
    if (!self)
        return;
    zhashx_destroy(&self->series);
    free(self->name);
    free(self->help);
    free(self->le);
    free(self);
    *item = NULL;
}

static void
s_set_init(s_set_t *self)
{
    self->families = zhashx_new();
    zhashx_set_destructor(self->families, s_family_destroy);
    self->nseries = 0;
}

static void
s_set_fini(s_set_t *self)
{
    zhashx_destroy(&self->families);
    self->nseries = 0;
}

static s_family_t *
s_family_get(s_set_t *set, const char *name)
{
    s_family_t *fam = zhashx_lookup(set->families, name);
    if (!fam) {
        fam = s_family_new(name);
        zhashx_insert(set->families, name, fam);
    }
    return fam;
}

static s_series_t *
s_series_get(s_set_t *set, s_family_t *fam, const char *labels)
{
    s_series_t *s = zhashx_lookup(fam->series, labels);
    if (!s) {
        s = s_series_new(labels, 0, NULL);
        zhashx_insert(fam->series, labels, s);
        set->nseries++;
    }
    return s;
}

static int
s_cmp_family(const void *a, const void *b)
{
    return strcmp((*(s_family_t *const *)a)->name, (*(s_family_t *const *)b)->name);
}

static int
s_cmp_series(const void *a, const void *b)
{
    return strcmp((*(s_series_t *const *)a)->labels, (*(s_series_t *const *)b)->labels);
}

//  The items of a hash as an array sorted with cmp. Caller frees the array (not the items).
static void **
s_sorted(zhashx_t *hash, int (*cmp)(const void *, const void *), size_t *n_p)
{
    size_t n = zhashx_size(hash), i = 0;
    void **items = tg_zalloc((n ? n : 1) * sizeof(void *));
    for (void *item = zhashx_first(hash); item; item = zhashx_next(hash))
        items[i++] = item;
    qsort(items, n, sizeof(void *), cmp);
    *n_p = n;
    return items;
}

// --------------------------------------------------------------------------------------------
//  Text helpers

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

static bool
s_utf8_valid(const char *s)
{
    size_t avail = strlen(s);
    while (avail) {
        size_t n = s_utf8_len((const unsigned char *)s, avail);
        if (!n)
            return false;
        s += n;
        avail -= n;
    }
    return true;
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

//  Writes help text escaped (\\ and \n).
static void
s_write_help(s_writer_t *w, const char *help)
{
    for (const char *p = help; *p; p++)
        if (*p == '\\')
            s_write(w, "\\\\", 2);
        else if (*p == '\n')
            s_write(w, "\\n", 2);
        else
            s_write(w, p, 1);
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

//  Shortest text that reads back as v; "+Inf", "-Inf", "NaN" as Prometheus writes them.
static void
s_fmt_double(double v, char *out, size_t size)
{
    if (isnan(v))
        snprintf(out, size, "NaN");
    else if (isinf(v))
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    else
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, size, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
}

static bool
s_name_char(char c, bool first, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':')
           || (!first && c >= '0' && c <= '9');
}

//  Length of the metric name (colon true) or label name at s, 0 if none.
static size_t
s_scan_name(const char *s, bool colon)
{
    size_t n = 0;
    while (s_name_char(s[n], n == 0, colon))
        n++;
    return n;
}

static bool
s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

// --------------------------------------------------------------------------------------------
//  Rendering a set

static void
s_write_sample(s_writer_t *w,
               const char *name,
               const char *suffix,
               const char *labels,
               const char *le,
               double value)
{
    char num[40];
    s_puts(w, name);
    s_puts(w, suffix);
    if (*labels || le) {
        s_write(w, "{", 1);
        s_puts(w, labels);
        if (le) {
            s_puts(w, *labels ? ",le=\"" : "le=\"");
            s_puts(w, le);
            s_write(w, "\"", 1);
        }
        s_write(w, "}", 1);
    }
    s_fmt_double(value, num, sizeof num);
    s_write(w, " ", 1);
    s_puts(w, num);
    s_write(w, "\n", 1);
}

static const char *
s_type_name(tg_metric_type_t type)
{
    return type == TG_METRIC_COUNTER ? "counter" : type == TG_METRIC_GAUGE ? "gauge" : "histogram";
}

static char *
s_render(const s_set_t *set)
{
    tg_buf_t buf;
    tg_buf_init(&buf, SIZE_MAX / 2);
    s_writer_t w = {.buf = &buf};
    size_t nfam;
    s_family_t **fams = (s_family_t **)s_sorted(set->families, s_cmp_family, &nfam);
    for (size_t f = 0; f < nfam; f++) {
        s_family_t *fam = fams[f];
        if (*fam->help) {
            tg_buf_printf(&buf, "# HELP %s ", fam->name);
            s_write_help(&w, fam->help);
            s_write(&w, "\n", 1);
        }
        tg_buf_printf(&buf, "# TYPE %s %s\n", fam->name, s_type_name(fam->type));
        size_t ns;
        s_series_t **series = (s_series_t **)s_sorted(fam->series, s_cmp_series, &ns);
        for (size_t i = 0; i < ns; i++) {
            s_series_t *s = series[i];
            if (fam->type != TG_METRIC_HISTOGRAM) {
                s_write_sample(&w, fam->name, "", s->labels, NULL, s->value);
                continue;
            }
            for (size_t b = 0; b < s->nb; b++) {
                char le[40];
                s_fmt_double(s->le[b], le, sizeof le);
                s_write_sample(&w, fam->name, "_bucket", s->labels, le, s->cum[b]);
            }
            s_write_sample(&w, fam->name, "_sum", s->labels, NULL, s->sum);
            s_write_sample(&w, fam->name, "_count", s->labels, NULL, s->count);
        }
        free(series);
    }
    free(fams);
    return tg_buf_take(&buf, NULL);
}

// --------------------------------------------------------------------------------------------
//  Registry

tg_metrics_t *
tg_metrics_new(void)
{
    tg_metrics_t *self = tg_zalloc(sizeof(tg_metrics_t));
    s_set_init(&self->set);
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
    s_set_fini(&self->set);
    free(self);
    *self_p = NULL;
}

static bool __attribute__((unused)) s_valid_name(const char *name)
{
    size_t n = s_scan_name(name, true);
    return n > 0 && n <= TG_METRICS_MAX_NAME && name[n] == 0;
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
    assert(s_valid_name(name));
    assert(type == TG_METRIC_COUNTER || type == TG_METRIC_GAUGE || type == TG_METRIC_HISTOGRAM);
    //  promtool lint: only counters end in _total, and every counter does.
    assert((type == TG_METRIC_COUNTER) == s_ends_with(name, "_total"));
    assert(type == TG_METRIC_HISTOGRAM || nbuckets == 0);
    assert(nbuckets < TG_METRICS_MAX_BUCKETS);
    s_family_t *fam = zhashx_lookup(self->set.families, name);
    if (fam) {
        assert(fam->type == type);
        return;
    }
    fam = s_family_get(&self->set, name);
    fam->type = type;
    fam->typed = true;
    free(fam->help);
    fam->help = tg_strdup(help);
    if (type == TG_METRIC_HISTOGRAM) {
        fam->nb = nbuckets + 1;
        fam->le = tg_zalloc(fam->nb * sizeof(double));
        for (size_t i = 0; i < nbuckets; i++) {
            assert(isfinite(buckets[i]));
            assert(i == 0 || buckets[i] > buckets[i - 1]);
            fam->le[i] = buckets[i];
        }
        fam->le[nbuckets] = INFINITY;
    }
}

static int s_parse_labels(char **p_p, s_pair_t *pairs);
static bool s_pairs_valid(s_pair_t *pairs, int n, bool histogram);

//  True if labels is label text the aggregator will accept (checked once per new series, so
//  that one bad label set cannot make a whole snapshot unparsable).
static bool
s_labels_valid(const char *labels, bool histogram)
{
    if (!*labels)
        return true;
    char *text = tg_strfmt("{%s}", labels), *p = text;
    s_pair_t pairs[TG_METRICS_MAX_LABELS];
    int n = s_parse_labels(&p, pairs);
    bool ok = n >= 0 && *p == 0 && s_pairs_valid(pairs, n, histogram);
    free(text);
    return ok;
}

//  The series name{labels} of a declared family of this type; created on first use. NULL if
//  the registry is full or labels are invalid.
static s_series_t *
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
    s_series_t *s = zhashx_lookup(self->index, key);
    if (!s) {
        s_family_t *fam = zhashx_lookup(self->set.families, name);
        assert(fam);                //  declare before use
        assert(fam->type == type);  //  add/set/observe match the declared type
        bool valid = s_labels_valid(labels, type == TG_METRIC_HISTOGRAM);
        assert(valid);  //  labels made by tg_metrics_labels are always valid
        if (!valid)
            tg_log_error("metrics: invalid labels, series dropped: %.200s", key);
        else if (self->set.nseries >= TG_METRICS_MAX_SERIES || klen + 64 > TG_METRICS_MAX_LINE) {
            //  Dropped rather than making the whole snapshot unparsable.
            if (!self->capped)
                tg_log_warn("metrics: dropping series %.200s (%zu series, key %zu bytes)", key,
                            self->set.nseries, klen);
            self->capped = true;
        } else {
            s = s_series_new(labels, fam->nb, fam->le);
            zhashx_insert(fam->series, labels, s);
            zhashx_insert(self->index, key, s);
            self->set.nseries++;
        }
    }
    if (key != stack)
        free(key);
    return s;
}

void
tg_metrics_add(tg_metrics_t *self, const char *name, const char *labels, double delta)
{
    s_series_t *s = s_registry_series(self, name, labels, TG_METRIC_COUNTER);
    if (s && delta >= 0)  //  false for NaN too
        s->value += delta;
}

void
tg_metrics_set(tg_metrics_t *self, const char *name, const char *labels, double value)
{
    s_series_t *s = s_registry_series(self, name, labels, TG_METRIC_GAUGE);
    if (s)
        s->value = value;
}

void
tg_metrics_observe(tg_metrics_t *self, const char *name, const char *labels, double value)
{
    s_series_t *s = s_registry_series(self, name, labels, TG_METRIC_HISTOGRAM);
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
    return s_render(&self->set);
}

// --------------------------------------------------------------------------------------------
//  Snapshot parser: text from the network, so every step is checked and capped.

static int
s_cmp_pair(const void *a, const void *b)
{
    return strcmp(((const s_pair_t *)a)->key, ((const s_pair_t *)b)->key);
}

//  Sorts pairs by name; false on a repeated name, or an le label on a histogram series.
static bool
s_pairs_valid(s_pair_t *pairs, int n, bool histogram)
{
    qsort(pairs, (size_t)n, sizeof(s_pair_t), s_cmp_pair);
    for (int i = 0; i < n; i++)
        if ((i > 0 && strcmp(pairs[i].key, pairs[i - 1].key) == 0)
            || (histogram && strcmp(pairs[i].key, "le") == 0))
            return false;
    return true;
}

static char *
s_skip_blanks(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

//  Reads a float token ("1.5", "+Inf", "NaN"); returns the end or NULL.
static char *
s_parse_double(char *p, double *out)
{
    char *end = p;
    while (*end && *end != ' ' && *end != '\t')
        end++;
    if (end == p)
        return NULL;
    char saved = *end;
    *end = 0;
    char *stop;
    *out = strtod(p, &stop);
    *end = saved;
    return stop == end ? end : NULL;
}

//  Parses '{k="v",...}' at *p_p in place. Returns the pair count, or -1.
static int
s_parse_labels(char **p_p, s_pair_t *pairs)
{
    char *p = *p_p;
    int n = 0;
    assert(*p == '{');
    p++;
    while (true) {
        p = s_skip_blanks(p);
        if (*p == '}')
            break;
        if (n == TG_METRICS_MAX_LABELS)
            return -1;
        size_t klen = s_scan_name(p, false);
        if (klen == 0)
            return -1;
        char *key = p;
        p = s_skip_blanks(p + klen);
        if (*p != '=')
            return -1;
        key[klen] = 0;  //  may overwrite the '='; p still points at it
        p = s_skip_blanks(p + 1);
        if (*p != '"')
            return -1;
        char *value = ++p, *out = p;
        while (*p != '"') {
            if (*p == 0)
                return -1;
            if (*p == '\\') {
                p++;
                if (*p == 'n')
                    *out++ = '\n';
                else if (*p == '\\' || *p == '"')
                    *out++ = *p;
                else
                    return -1;
                p++;
            } else
                *out++ = *p++;
        }
        p++;  //  past the closing quote before terminating the value
        *out = 0;
        if (!s_utf8_valid(value))
            return -1;
        pairs[n].key = key;
        pairs[n].value = value;
        n++;
        p = s_skip_blanks(p);
        if (*p == ',')
            p++;
        else if (*p != '}')
            return -1;
    }
    *p_p = p + 1;
    return n;
}

//  Adds a bucket (le, count) to a parsed histogram series. Returns 0 or -1 (duplicate, full).
static int
s_add_bucket(s_series_t *s, double le, double count)
{
    size_t i = 0;
    while (i < s->nb && s->le[i] < le)
        i++;
    if ((i < s->nb && s->le[i] == le) || s->nb == TG_METRICS_MAX_BUCKETS)
        return -1;
    s->le = tg_realloc(s->le, (s->nb + 1) * sizeof(double));
    s->cum = tg_realloc(s->cum, (s->nb + 1) * sizeof(double));
    memmove(s->le + i + 1, s->le + i, (s->nb - i) * sizeof(double));
    memmove(s->cum + i + 1, s->cum + i, (s->nb - i) * sizeof(double));
    s->le[i] = le;
    s->cum[i] = count;
    s->nb++;
    return 0;
}

typedef enum { S_PART_VALUE, S_PART_BUCKET, S_PART_SUM, S_PART_COUNT } s_part_t;

//  The typed family a sample name belongs to, and which part of it the sample is.
static s_family_t *
s_resolve(s_set_t *set, const char *name, s_part_t *part)
{
    s_family_t *fam = zhashx_lookup(set->families, name);
    if (fam && fam->typed && fam->type != TG_METRIC_HISTOGRAM) {
        *part = S_PART_VALUE;
        return fam;
    }
    static const struct {
        const char *suffix;
        s_part_t part;
    } parts[] = {{"_bucket", S_PART_BUCKET}, {"_sum", S_PART_SUM}, {"_count", S_PART_COUNT}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (s_ends_with(name, parts[i].suffix)) {
            char base[TG_METRICS_MAX_NAME + 1];
            size_t n = strlen(name) - strlen(parts[i].suffix);
            memcpy(base, name, n);
            base[n] = 0;
            fam = zhashx_lookup(set->families, base);
            if (fam && fam->typed && fam->type == TG_METRIC_HISTOGRAM) {
                *part = parts[i].part;
                return fam;
            }
        }
    return NULL;
}

static int
s_parse_sample(s_set_t *set, char *line)
{
    char name[TG_METRICS_MAX_NAME + 1];
    size_t nlen = s_scan_name(line, true);
    if (nlen == 0 || nlen > TG_METRICS_MAX_NAME)
        return -1;
    memcpy(name, line, nlen);
    name[nlen] = 0;
    char *p = line + nlen;
    s_pair_t pairs[TG_METRICS_MAX_LABELS];
    int npairs = 0;
    if (*p == '{' && (npairs = s_parse_labels(&p, pairs)) < 0)
        return -1;
    if (*p != ' ' && *p != '\t')
        return -1;
    double value;
    p = s_parse_double(s_skip_blanks(p), &value);
    if (!p)
        return -1;
    p = s_skip_blanks(p);
    if (*p) {  //  optional timestamp in ms, ignored
        if (*p == '-')
            p++;
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || *s_skip_blanks(p + digits))
            return -1;
    }
    s_part_t part;
    s_family_t *fam = s_resolve(set, name, &part);
    if (!fam)
        return -1;
    //  Canonical label text: pairs sorted by name, le taken out.
    if (!s_pairs_valid(pairs, npairs, false))
        return -1;
    const char *le_text = NULL;
    tg_buf_t buf;
    tg_buf_init(&buf, TG_METRICS_MAX_LINE * 2);
    s_writer_t w = {.buf = &buf};
    for (int i = 0; i < npairs; i++) {
        if (strcmp(pairs[i].key, "le") == 0 && fam->type == TG_METRIC_HISTOGRAM) {
            if (part != S_PART_BUCKET)
                goto invalid;
            le_text = pairs[i].value;
            continue;
        }
        if (buf.len)
            s_write(&w, ",", 1);
        s_puts(&w, pairs[i].key);
        s_write(&w, "=\"", 2);
        s_write_value(&w, pairs[i].value, false);
        s_write(&w, "\"", 1);
    }
    double le = 0;
    if (part == S_PART_BUCKET) {
        char le_copy[64];
        if (!le_text || strlen(le_text) >= sizeof le_copy)
            goto invalid;
        snprintf(le_copy, sizeof le_copy, "%s", le_text);
        if (!s_parse_double(le_copy, &le) || isnan(le))
            goto invalid;
    }
    s_series_t *s = zhashx_lookup(fam->series, buf.data ? buf.data : "");
    if (!s) {
        if (set->nseries >= TG_METRICS_MAX_SERIES)
            goto invalid;
        s = s_series_get(set, fam, buf.data ? buf.data : "");
    }
    tg_buf_fini(&buf);
    unsigned bit = part == S_PART_VALUE   ? S_SEEN_VALUE
                   : part == S_PART_SUM   ? S_SEEN_SUM
                   : part == S_PART_COUNT ? S_SEEN_COUNT
                                          : 0;
    if (bit & s->seen)
        return -1;
    s->seen |= bit;
    if (part == S_PART_VALUE)
        s->value = value;
    else if (part == S_PART_SUM)
        s->sum = value;
    else if (part == S_PART_COUNT)
        s->count = value;
    else if (s_add_bucket(s, le, value) < 0)
        return -1;
    return 0;
invalid:
    tg_buf_fini(&buf);
    return -1;
}

//  Unescapes HELP text (\\ and \n) in place.
static void
s_unescape_help(char *s)
{
    char *out = s;
    for (char *p = s; *p; p++) {
        if (*p == '\\' && (p[1] == '\\' || p[1] == 'n')) {
            *out++ = p[1] == 'n' ? '\n' : '\\';
            p++;
        } else
            *out++ = *p;
    }
    *out = 0;
}

//  "# HELP name text" and "# TYPE name type"; other comments are ignored.
static int
s_parse_comment(s_set_t *set, char *line)
{
    char *p = s_skip_blanks(line + 1);
    bool help = strncmp(p, "HELP", 4) == 0, type = strncmp(p, "TYPE", 4) == 0;
    if ((!help && !type) || (p[4] != ' ' && p[4] != '\t'))
        return 0;
    p = s_skip_blanks(p + 4);
    size_t nlen = s_scan_name(p, true);
    if (nlen == 0 || nlen > TG_METRICS_MAX_NAME || (p[nlen] && p[nlen] != ' ' && p[nlen] != '\t'))
        return -1;
    char name[TG_METRICS_MAX_NAME + 1];
    memcpy(name, p, nlen);
    name[nlen] = 0;
    char *rest = p[nlen] ? s_skip_blanks(p + nlen + 1) : p + nlen;
    s_family_t *fam = zhashx_lookup(set->families, name);
    if (!fam) {
        if (zhashx_size(set->families) >= TG_METRICS_MAX_FAMILIES)
            return -1;
        fam = s_family_get(set, name);
    }
    if (help) {
        if (*fam->help || !s_utf8_valid(rest))
            return -1;
        s_unescape_help(rest);
        free(fam->help);
        fam->help = tg_strdup(rest);
        return 0;
    }
    if (fam->typed || zhashx_size(fam->series))
        return -1;
    char *end = rest + strcspn(rest, " \t");
    if (*s_skip_blanks(end))
        return -1;
    *end = 0;
    if (strcmp(rest, "counter") == 0)
        fam->type = TG_METRIC_COUNTER;
    else if (strcmp(rest, "gauge") == 0)
        fam->type = TG_METRIC_GAUGE;
    else if (strcmp(rest, "histogram") == 0)
        fam->type = TG_METRIC_HISTOGRAM;
    else
        return -1;
    fam->typed = true;
    return 0;
}

//  Checks what only the whole text shows: histogram series complete and cumulative, every
//  family typed. Fills in a missing _count from the +Inf bucket.
static int
s_parse_finish(s_set_t *set)
{
    for (s_family_t *fam = zhashx_first(set->families); fam; fam = zhashx_next(set->families)) {
        if (!fam->typed)
            return -1;
        if (fam->type != TG_METRIC_HISTOGRAM)
            continue;
        for (s_series_t *s = zhashx_first(fam->series); s; s = zhashx_next(fam->series)) {
            if (s->nb == 0 || !isinf(s->le[s->nb - 1]) || s->le[s->nb - 1] < 0)
                return -1;
            for (size_t b = 1; b < s->nb; b++)
                if (!(s->cum[b] >= s->cum[b - 1]))
                    return -1;
            if (!(s->seen & S_SEEN_COUNT))
                s->count = s->cum[s->nb - 1];
        }
    }
    return 0;
}

//  Parses a snapshot into set (initialised, empty). Returns 0, or -1 with set partly filled
//  and *line_p the number of the offending line (0 for the text as a whole).
static int
s_parse(s_set_t *set, const char *text, int *line_p)
{
    *line_p = 0;
    if (strnlen(text, TG_METRICS_MAX_SNAPSHOT + 1) > TG_METRICS_MAX_SNAPSHOT)
        return -1;
    char line[TG_METRICS_MAX_LINE + 1];
    const char *p = text;
    while (*p) {
        ++*line_p;
        size_t len = strcspn(p, "\n");
        const char *next = p[len] ? p + len + 1 : p + len;
        if (len && p[len - 1] == '\r')
            len--;
        if (len > TG_METRICS_MAX_LINE)
            return -1;
        memcpy(line, p, len);
        line[len] = 0;
        p = next;
        char *start = s_skip_blanks(line);
        if (*start == 0)
            continue;
        int rc = *start == '#' ? s_parse_comment(set, start) : s_parse_sample(set, start);
        if (rc < 0)
            return -1;
    }
    *line_p = 0;
    return s_parse_finish(set);
}

// --------------------------------------------------------------------------------------------
//  Merging

//  acc += src for a histogram series, over the union of both bucket bounds. A source's
//  cumulative count at a bound it lacks is its count at its next lower bound (0 below all).
static void
s_merge_hist(s_series_t *acc, const s_series_t *src)
{
    size_t cap = acc->nb + src->nb, n = 0, i = 0, j = 0;
    double *le = tg_zalloc(cap * sizeof(double)), *cum = tg_zalloc(cap * sizeof(double));
    while (i < acc->nb || j < src->nb) {
        double x;
        if (j == src->nb || (i < acc->nb && acc->le[i] < src->le[j]))
            x = acc->le[i++];
        else if (i == acc->nb || src->le[j] < acc->le[i])
            x = src->le[j++];
        else {
            x = acc->le[i++];
            j++;
        }
        le[n] = x;
        cum[n] = (i ? acc->cum[i - 1] : 0) + (j ? src->cum[j - 1] : 0);
        n++;
    }
    free(acc->le);
    free(acc->cum);
    acc->le = le;
    acc->cum = cum;
    acc->nb = n;
    acc->sum += src->sum;
    acc->count += src->count;
}

//  acc += src, family by family; gauges only if with_gauges. A family whose type differs
//  from acc's is skipped.
static void
s_merge(s_set_t *acc, s_set_t *src, bool with_gauges)
{
    for (s_family_t *sf = zhashx_first(src->families); sf; sf = zhashx_next(src->families)) {
        if (sf->type == TG_METRIC_GAUGE && !with_gauges)
            continue;
        s_family_t *af = zhashx_lookup(acc->families, sf->name);
        if (af && af->type != sf->type)
            continue;
        if (!af) {
            af = s_family_get(acc, sf->name);
            af->type = sf->type;
            af->typed = true;
        }
        if (!*af->help && *sf->help) {
            free(af->help);
            af->help = tg_strdup(sf->help);
        }
        for (s_series_t *ss = zhashx_first(sf->series); ss; ss = zhashx_next(sf->series)) {
            s_series_t *as = s_series_get(acc, af, ss->labels);
            if (sf->type == TG_METRIC_HISTOGRAM)
                s_merge_hist(as, ss);
            else
                as->value += ss->value;
        }
    }
}

//  True if a counter or histogram of old is missing from new or smaller there: the source
//  restarted and its counters began again from zero.
static bool
s_restarted(s_set_t *old, s_set_t *new)
{
    for (s_family_t *of = zhashx_first(old->families); of; of = zhashx_next(old->families)) {
        if (of->type == TG_METRIC_GAUGE || zhashx_size(of->series) == 0)
            continue;
        s_family_t *nf = zhashx_lookup(new->families, of->name);
        if (!nf || nf->type != of->type)
            return true;
        for (s_series_t *os = zhashx_first(of->series); os; os = zhashx_next(of->series)) {
            s_series_t *ns = zhashx_lookup(nf->series, os->labels);
            if (!ns)
                return true;
            if (of->type == TG_METRIC_COUNTER ? ns->value < os->value : ns->count < os->count)
                return true;
        }
    }
    return false;
}

// --------------------------------------------------------------------------------------------
//  Aggregator

static void
s_source_destroy(void **item)
{
    s_source_t *self = *item;
    if (!self)
        return;
    s_set_fini(&self->set);
    free(self);
    *item = NULL;
}

tg_metrics_agg_t *
tg_metrics_agg_new(void)
{
    tg_metrics_agg_t *self = tg_zalloc(sizeof(tg_metrics_agg_t));
    self->sources = zhashx_new();
    zhashx_set_destructor(self->sources, s_source_destroy);
    s_set_init(&self->retired);
    return self;
}

void
tg_metrics_agg_destroy(tg_metrics_agg_t **self_p)
{
    assert(self_p);
    tg_metrics_agg_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->sources);
    s_set_fini(&self->retired);
    free(self);
    *self_p = NULL;
}

int
tg_metrics_agg_put(tg_metrics_agg_t *self, const char *source, const char *snapshot, int64_t now_us)
{
    assert(self && source);
    if (!snapshot)
        return TG_INVALID;
    s_source_t *fresh = tg_zalloc(sizeof(s_source_t));
    s_set_init(&fresh->set);
    fresh->put_us = now_us;
    int line;
    if (s_parse(&fresh->set, snapshot, &line) < 0) {
        tg_log_warn("metrics: unparsable snapshot from source=%.64s line=%d, keeping the previous "
                    "one",
                    source, line);
        void *item = fresh;
        s_source_destroy(&item);
        return TG_INVALID;
    }
    s_source_t *old = zhashx_lookup(self->sources, source);
    if (!old && zhashx_size(self->sources) >= TG_METRICS_MAX_SOURCES) {
        tg_log_warn("metrics: %d sources reached, ignoring source=%.64s", TG_METRICS_MAX_SOURCES,
                    source);
        void *item = fresh;
        s_source_destroy(&item);
        return TG_AGAIN;
    }
    if (old && s_restarted(&old->set, &fresh->set)) {
        tg_log_info("metrics: source=%.64s restarted, keeping its previous counters", source);
        s_merge(&self->retired, &old->set, false);
    }
    zhashx_update(self->sources, source, fresh);  //  destroys old
    return TG_OK;
}

void
tg_metrics_agg_expire(tg_metrics_agg_t *self, int64_t older_than_us)
{
    assert(self);
    zlistx_t *keys = zhashx_keys(self->sources);
    for (const char *key = zlistx_first(keys); key; key = zlistx_next(keys)) {
        s_source_t *src = zhashx_lookup(self->sources, key);
        if (src->put_us < older_than_us) {
            s_merge(&self->retired, &src->set, false);
            zhashx_delete(self->sources, key);
        }
    }
    zlistx_destroy(&keys);
}

static int
s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *
tg_metrics_agg_render(tg_metrics_agg_t *self)
{
    assert(self);
    s_set_t acc;
    s_set_init(&acc);
    s_merge(&acc, &self->retired, false);
    size_t n = zhashx_size(self->sources), i = 0;
    const char **names = tg_zalloc((n ? n : 1) * sizeof(char *));
    for (void *src = zhashx_first(self->sources); src; src = zhashx_next(self->sources))
        names[i++] = zhashx_cursor(self->sources);
    qsort(names, n, sizeof(char *), s_cmp_str);
    for (i = 0; i < n; i++) {
        s_source_t *src = zhashx_lookup(self->sources, names[i]);
        s_merge(&acc, &src->set, true);
    }
    free(names);
    char *text = s_render(&acc);
    s_set_fini(&acc);
    return text;
}
