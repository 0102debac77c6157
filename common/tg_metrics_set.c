//  tg_metrics_set.c - families and series, canonical label text, merging of sets.
#include "tg_metrics_set.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tg_util.h"

static void
s_series_destroy(void **item)
{
    tg_mseries_t *self = *item;
    if (!self)
        return;
    free(self->labels);
    free(self->le);
    free(self->cum);
    free(self);
    *item = NULL;
}

static void
s_family_destroy(void **item)
{
    tg_mfamily_t *self = *item;
    if (!self)
        return;
    zhashx_destroy(&self->series);
    free(self->name);
    free(self->help);
    free(self->le);
    free(self);
    *item = NULL;
}

void
tg_mset_init(tg_mset_t *self)
{
    self->families = zhashx_new();
    zhashx_set_destructor(self->families, s_family_destroy);
    self->nseries = 0;
}

void
tg_mset_fini(tg_mset_t *self)
{
    zhashx_destroy(&self->families);
    self->nseries = 0;
}

tg_mfamily_t *
tg_mset_family(tg_mset_t *self, const char *name, tg_metric_type_t type)
{
    tg_mfamily_t *fam = zhashx_lookup(self->families, name);
    if (fam)
        return fam->type == type ? fam : NULL;
    fam = tg_zalloc(sizeof *fam);
    fam->name = tg_strdup(name);
    fam->type = type;
    fam->help = tg_strdup("");
    fam->series = zhashx_new();
    zhashx_set_destructor(fam->series, s_series_destroy);
    zhashx_insert(self->families, name, fam);
    return fam;
}

void
tg_mfamily_set_bounds(tg_mfamily_t *fam, const double *le, size_t nb)
{
    free(fam->le);
    fam->nb = nb;
    fam->le = tg_zalloc((nb ? nb : 1) * sizeof(double));
    memcpy(fam->le, le, nb * sizeof(double));
}

tg_mseries_t *
tg_mset_series(tg_mset_t *self, tg_mfamily_t *fam, const char *labels)
{
    tg_mseries_t *s = zhashx_lookup(fam->series, labels);
    if (s)
        return s;
    s = tg_zalloc(sizeof *s);
    s->labels = tg_strdup(labels);
    if (fam->type == TG_METRIC_HISTOGRAM && fam->nb) {
        s->nb = fam->nb;
        s->le = tg_zalloc(fam->nb * sizeof(double));
        s->cum = tg_zalloc(fam->nb * sizeof(double));
        memcpy(s->le, fam->le, fam->nb * sizeof(double));
    }
    zhashx_insert(fam->series, labels, s);
    self->nseries++;
    return s;
}

void **
tg_mset_sorted(zhashx_t *hash, int (*cmp)(const void *, const void *), size_t *n_p)
{
    size_t n = zhashx_size(hash), i = 0;
    void **items = tg_zalloc((n ? n : 1) * sizeof(void *));
    for (void *item = zhashx_first(hash); item; item = zhashx_next(hash))
        items[i++] = item;
    qsort(items, n, sizeof(void *), cmp);
    *n_p = n;
    return items;
}

int
tg_mfamily_cmp(const void *a, const void *b)
{
    return strcmp((*(tg_mfamily_t *const *)a)->name, (*(tg_mfamily_t *const *)b)->name);
}

int
tg_mseries_cmp(const void *a, const void *b)
{
    return strcmp((*(tg_mseries_t *const *)a)->labels, (*(tg_mseries_t *const *)b)->labels);
}

// --------------------------------------------------------------------------------------------
//  Names, UTF-8, label text

static bool
s_name_char(char c, bool first, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':')
           || (!first && c >= '0' && c <= '9');
}

static size_t
s_scan_name(const char *s, bool colon)
{
    size_t n = 0;
    while (s_name_char(s[n], n == 0, colon))
        n++;
    return n;
}

bool
tg_mset_name_valid(const char *name)
{
    size_t n = s_scan_name(name, true);
    return n > 0 && n <= TG_MSET_MAX_NAME && name[n] == 0;
}

bool
tg_mset_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    while (len) {
        size_t n;
        uint32_t cp;
        if (p[0] < 0x80) {
            p++;
            len--;
            continue;
        }
        if (p[0] >= 0xC2 && p[0] <= 0xDF) {
            n = 2;
            cp = p[0] & 0x1F;
        } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
            n = 3;
            cp = p[0] & 0x0F;
        } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
            n = 4;
            cp = p[0] & 0x07;
        } else
            return false;
        if (len < n)
            return false;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))
            || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n;
        len -= n;
    }
    return true;
}

//  One label pair inside label text: name and escaped value, both pointing into the text.
typedef struct {
    const char *key;
    size_t klen;
    const char *value;  //  escaped, as in the text
    size_t vlen;
} s_pair_t;

static int
s_pair_cmp(const void *a, const void *b)
{
    const s_pair_t *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

char *
tg_mset_canon_labels(const char *labels, bool histogram)
{
    s_pair_t pairs[TG_MSET_MAX_LABELS];
    int n = 0;
    const char *p = labels;
    while (*p) {
        if (n == TG_MSET_MAX_LABELS)
            return NULL;
        size_t klen = s_scan_name(p, false);
        if (klen == 0 || p[klen] != '=' || p[klen + 1] != '"')
            return NULL;
        pairs[n].key = p;
        pairs[n].klen = klen;
        p += klen + 2;
        const char *value = p;
        while (*p != '"') {
            if (*p == 0)
                return NULL;
            if (*p == '\\') {
                if (p[1] != 'n' && p[1] != '\\' && p[1] != '"')
                    return NULL;
                p++;
            }
            p++;
        }
        if (!tg_mset_utf8_valid(value, (size_t)(p - value)))
            return NULL;
        pairs[n].value = value;
        pairs[n].vlen = (size_t)(p - value);
        if (histogram && klen == 2 && memcmp(pairs[n].key, "le", 2) == 0)
            return NULL;
        n++;
        p++;  //  the closing quote
        if (*p == ',' && p[1])
            p++;
        else if (*p)
            return NULL;
    }
    qsort(pairs, (size_t)n, sizeof(s_pair_t), s_pair_cmp);
    tg_buf_t buf;
    tg_buf_init(&buf, SIZE_MAX / 2);
    tg_buf_append(&buf, "", 0);
    for (int i = 0; i < n; i++) {
        if (i > 0 && s_pair_cmp(&pairs[i], &pairs[i - 1]) == 0) {
            tg_buf_fini(&buf);
            return NULL;
        }
        if (i > 0)
            tg_buf_append(&buf, ",", 1);
        tg_buf_append(&buf, pairs[i].key, pairs[i].klen);
        tg_buf_append(&buf, "=\"", 2);
        tg_buf_append(&buf, pairs[i].value, pairs[i].vlen);
        tg_buf_append(&buf, "\"", 1);
    }
    char *out = tg_buf_take(&buf, NULL);
    return out ? out : tg_strdup("");
}

// --------------------------------------------------------------------------------------------
//  Merging

//  acc += src for a histogram series, over the union of both bucket bounds. A source's
//  cumulative count at a bound it lacks is its count at its next lower bound (0 below all).
static void
s_merge_hist(tg_mseries_t *acc, const tg_mseries_t *src)
{
    size_t cap = acc->nb + src->nb, n = 0, i = 0, j = 0;
    double *le = tg_zalloc((cap ? cap : 1) * sizeof(double));
    double *cum = tg_zalloc((cap ? cap : 1) * sizeof(double));
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

void
tg_mset_merge(tg_mset_t *acc, const tg_mset_t *src, bool with_gauges)
{
    for (tg_mfamily_t *sf = zhashx_first(src->families); sf; sf = zhashx_next(src->families)) {
        if (sf->type == TG_METRIC_GAUGE && !with_gauges)
            continue;
        tg_mfamily_t *af = tg_mset_family(acc, sf->name, sf->type);
        if (!af)
            continue;  //  declared with another type elsewhere: the first one seen wins
        if (!*af->help && *sf->help) {
            free(af->help);
            af->help = tg_strdup(sf->help);
        }
        for (tg_mseries_t *ss = zhashx_first(sf->series); ss; ss = zhashx_next(sf->series)) {
            tg_mseries_t *as = tg_mset_series(acc, af, ss->labels);
            if (sf->type == TG_METRIC_HISTOGRAM)
                s_merge_hist(as, ss);
            else
                as->value += ss->value;
        }
    }
}

bool
tg_mset_restarted(const tg_mset_t *old, const tg_mset_t *new_)
{
    for (tg_mfamily_t *of = zhashx_first(old->families); of; of = zhashx_next(old->families)) {
        if (of->type == TG_METRIC_GAUGE || zhashx_size(of->series) == 0)
            continue;
        tg_mfamily_t *nf = zhashx_lookup(new_->families, of->name);
        if (!nf || nf->type != of->type)
            return true;
        for (tg_mseries_t *os = zhashx_first(of->series); os; os = zhashx_next(of->series)) {
            tg_mseries_t *ns = zhashx_lookup(nf->series, os->labels);
            if (!ns)
                return true;
            if (of->type == TG_METRIC_COUNTER ? ns->value < os->value : ns->count < os->count)
                return true;
        }
    }
    return false;
}
