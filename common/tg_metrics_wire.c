//  tg_metrics_wire.c - metrics sets to and from msgpack.
#include "tg_metrics_wire.h"

#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "tg_frame.h"
#include "tg_util.h"

// --------------------------------------------------------------------------------------------
//  Encoding

static void
s_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void
s_pack_family(msgpack_packer *pk, const tg_mfamily_t *fam)
{
    msgpack_pack_array(pk, 5);
    s_pack_str(pk, fam->name);
    msgpack_pack_uint8(pk, (uint8_t)fam->type);
    s_pack_str(pk, fam->help);
    size_t nb = fam->type == TG_METRIC_HISTOGRAM && fam->nb ? fam->nb - 1 : 0;
    msgpack_pack_array(pk, nb);
    for (size_t i = 0; i < nb; i++)
        msgpack_pack_double(pk, fam->le[i]);
    msgpack_pack_array(pk, zhashx_size(fam->series));
    for (tg_mseries_t *s = zhashx_first(fam->series); s; s = zhashx_next(fam->series)) {
        if (fam->type != TG_METRIC_HISTOGRAM) {
            msgpack_pack_array(pk, 2);
            s_pack_str(pk, s->labels);
            msgpack_pack_double(pk, s->value);
            continue;
        }
        msgpack_pack_array(pk, 4);
        s_pack_str(pk, s->labels);
        msgpack_pack_double(pk, s->sum);
        msgpack_pack_double(pk, s->count);
        msgpack_pack_array(pk, s->nb);
        for (size_t b = 0; b < s->nb; b++)
            msgpack_pack_double(pk, s->cum[b]);
    }
}

char *
tg_metrics_wire_encode(const tg_mset_t *const *sets, size_t nsets, size_t *len_p)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    size_t n = 0;
    for (size_t i = 0; i < nsets; i++)
        n += zhashx_size(sets[i]->families);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < nsets; i++)
        for (tg_mfamily_t *fam = zhashx_first(sets[i]->families); fam;
             fam = zhashx_next(sets[i]->families))
            s_pack_family(&pk, fam);
    *len_p = sbuf.size;
    return sbuf.data;  //  malloc'd by msgpack_sbuffer
}

// --------------------------------------------------------------------------------------------
//  Decoding: bytes from the network, so every step is checked.

static bool
s_num(const msgpack_object *o, double *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)o->via.u64;
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)o->via.i64;
        return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *out = o->via.f64;
        return true;
    default:
        return false;
    }
}

//  A msgpack string as a NUL-terminated copy of at most max bytes, valid UTF-8. NULL if not.
static char *
s_str(const msgpack_object *o, size_t max)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max)
        return NULL;
    if (o->via.str.size == 0)
        return tg_strdup("");
    if (memchr(o->via.str.ptr, 0, o->via.str.size)
        || !tg_mset_utf8_valid(o->via.str.ptr, o->via.str.size))
        return NULL;
    char *s = tg_zalloc(o->via.str.size + 1);
    memcpy(s, o->via.str.ptr, o->via.str.size);
    return s;
}

static bool
s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

//  One series of fam: checked, canonical labels, not yet present.
static int
s_decode_series(tg_mset_t *set, tg_mfamily_t *fam, const msgpack_object *o)
{
    bool hist = fam->type == TG_METRIC_HISTOGRAM;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != (hist ? 4u : 2u))
        return TG_INVALID;
    const msgpack_object *f = o->via.array.ptr;
    char *labels = s_str(&f[0], TG_METRICS_MAX_LINE);
    char *canon = labels ? tg_mset_canon_labels(labels, hist) : NULL;
    bool fresh = canon && strcmp(canon, labels) == 0 && !zhashx_lookup(fam->series, canon);
    free(labels);
    if (!fresh || set->nseries >= TG_METRICS_MAX_SERIES) {
        free(canon);
        return TG_INVALID;
    }
    tg_mseries_t *s = tg_mset_series(set, fam, canon);
    free(canon);
    if (!hist)
        return s_num(&f[1], &s->value) ? TG_OK : TG_INVALID;
    const msgpack_object *cum = &f[3];
    if (!s_num(&f[1], &s->sum) || !s_num(&f[2], &s->count) || cum->type != MSGPACK_OBJECT_ARRAY
        || cum->via.array.size != s->nb)
        return TG_INVALID;
    for (size_t b = 0; b < s->nb; b++)
        if (!s_num(&cum->via.array.ptr[b], &s->cum[b]) || isnan(s->cum[b])
            || (b && s->cum[b] < s->cum[b - 1]))
            return TG_INVALID;
    return TG_OK;
}

static int
s_decode_family(tg_mset_t *set, const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 5)
        return TG_INVALID;
    const msgpack_object *f = o->via.array.ptr;
    if (f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[1].via.u64 > TG_METRIC_HISTOGRAM
        || f[3].type != MSGPACK_OBJECT_ARRAY || f[4].type != MSGPACK_OBJECT_ARRAY)
        return TG_INVALID;
    tg_metric_type_t type = (tg_metric_type_t)f[1].via.u64;
    char *name = s_str(&f[0], TG_MSET_MAX_NAME);
    char *help = s_str(&f[2], TG_MSET_MAX_HELP);
    //  Counters, and only counters, end in _total (promtool's lint).
    bool ok = name && help && tg_mset_name_valid(name)
              && (type == TG_METRIC_COUNTER) == s_ends_with(name, "_total")
              && !zhashx_lookup(set->families, name)
              && zhashx_size(set->families) < TG_MSET_MAX_FAMILIES;
    tg_mfamily_t *fam = ok ? tg_mset_family(set, name, type) : NULL;
    free(name);
    if (!fam) {
        free(help);
        return TG_INVALID;
    }
    free(fam->help);
    fam->help = help;
    size_t nb = f[3].via.array.size;
    if (type == TG_METRIC_HISTOGRAM) {
        if (nb + 1 > TG_MSET_MAX_BUCKETS)
            return TG_INVALID;
        double le[TG_MSET_MAX_BUCKETS];
        for (size_t i = 0; i < nb; i++)
            if (!s_num(&f[3].via.array.ptr[i], &le[i]) || !isfinite(le[i])
                || (i && le[i] <= le[i - 1]))
                return TG_INVALID;
        le[nb] = INFINITY;
        tg_mfamily_set_bounds(fam, le, nb + 1);
    } else if (nb)
        return TG_INVALID;
    for (uint32_t i = 0; i < f[4].via.array.size; i++)
        if (s_decode_series(set, fam, &f[4].via.array.ptr[i]) != TG_OK)
            return TG_INVALID;
    return TG_OK;
}

int
tg_metrics_wire_decode(tg_mset_t *set, const void *data, size_t len)
{
    if (!data || len == 0 || len > TG_METRICS_MAX_SNAPSHOT || !tg_frame_msgpack_whole(data, len))
        return TG_INVALID;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = TG_INVALID;
    if (msgpack_unpack_next(&up, data, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len
        && up.data.type == MSGPACK_OBJECT_ARRAY) {
        rc = TG_OK;
        for (uint32_t i = 0; i < up.data.via.array.size && rc == TG_OK; i++)
            rc = s_decode_family(set, &up.data.via.array.ptr[i]);
    }
    msgpack_unpacked_destroy(&up);
    return rc;
}
