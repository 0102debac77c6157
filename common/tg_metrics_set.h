//  tg_metrics_set.h - the data the metrics modules share (internal to common/tg_metrics*.c):
//  a set of families and their series, canonical label text, and merging of sets.
//  The registry (tg_metrics.c) fills a set, the wire code (tg_metrics_wire.c) encodes a set as
//  msgpack and decodes one, the renderer (tg_metrics_render.c) writes a set as Prometheus text,
//  and the aggregator (tg_metrics_agg.c) merges the sets of all processes.
#ifndef TG_METRICS_SET_H
#define TG_METRICS_SET_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#include "tg_metrics.h"

#define TG_MSET_MAX_NAME 200       //  longest metric or family name
#define TG_MSET_MAX_LABELS 32      //  label pairs per series
#define TG_MSET_MAX_BUCKETS 64     //  buckets per histogram series, +Inf included
#define TG_MSET_MAX_FAMILIES 4096  //  families per set from the network
#define TG_MSET_MAX_HELP 1024      //  longest help text from the network

//  One series: the samples of a family that share a label set.
typedef struct {
    char *labels;  //  canonical label text ("a=\"x\",b=\"y\"", names sorted), "" for none; owned
    double value;  //  counter or gauge value
    size_t nb;     //  histogram buckets including +Inf (0 for counters and gauges)
    double *le;    //  bucket upper bounds, increasing, the last is +Inf; owned
    double *cum;   //  cumulative bucket counts; owned
    double sum;    //  histogram sum
    double count;  //  histogram count
} tg_mseries_t;

//  A family: name, type, help, bucket bounds (histograms) and its series.
typedef struct {
    char *name;             //  owned
    tg_metric_type_t type;  //
    char *help;             //  help text (unescaped), owned; "" if none
    size_t nb;              //  histograms: buckets including +Inf, for new series
    double *le;             //  histograms: bucket bounds for new series; owned
    zhashx_t *series;       //  canonical labels -> tg_mseries_t, owned
} tg_mfamily_t;

//  A set of families: a registry's contents, one decoded snapshot, or a merge of them.
typedef struct {
    zhashx_t *families;  //  name -> tg_mfamily_t, owned
    size_t nseries;      //  series in all families
} tg_mset_t;

void tg_mset_init(tg_mset_t *self);
void tg_mset_fini(tg_mset_t *self);
//  The family `name`, created with `type` if absent (help "", no buckets). NULL if it exists
//  with another type.
tg_mfamily_t *tg_mset_family(tg_mset_t *self, const char *name, tg_metric_type_t type);
//  Sets a histogram family's bounds: nb bounds, the last +Inf. Copied.
void tg_mfamily_set_bounds(tg_mfamily_t *fam, const double *le, size_t nb);
//  The series with canonical labels in fam, created (with fam's buckets) if absent.
tg_mseries_t *tg_mset_series(tg_mset_t *self, tg_mfamily_t *fam, const char *labels);
//  The items of a hash sorted with cmp (borrowed items; the array is the caller's to free).
void **tg_mset_sorted(zhashx_t *hash, int (*cmp)(const void *, const void *), size_t *n_p);
int tg_mfamily_cmp(const void *a, const void *b);
int tg_mseries_cmp(const void *a, const void *b);

//  True if name is a valid metric name of at most TG_MSET_MAX_NAME bytes.
bool tg_mset_name_valid(const char *name);
//  Canonical form of label text "k=\"v\",..." (values escaped \\ \" \n, valid UTF-8): pairs
//  sorted by name, written without blanks. NULL if the text is not valid label text, names a
//  label twice, has more than TG_MSET_MAX_LABELS pairs, or (histogram) has an le label.
//  Caller frees.
char *tg_mset_canon_labels(const char *labels, bool histogram);
//  True if s is valid UTF-8.
bool tg_mset_utf8_valid(const char *s, size_t len);

//  acc += src, family by family; gauges only if with_gauges. A family whose type differs from
//  acc's is skipped. Histograms merge over the union of their bucket bounds.
void tg_mset_merge(tg_mset_t *acc, const tg_mset_t *src, bool with_gauges);
//  True if a counter or histogram series of old is missing from new or smaller there (its
//  source restarted and counts again from zero).
bool tg_mset_restarted(const tg_mset_t *old, const tg_mset_t *new_);

#endif
