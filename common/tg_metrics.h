//  tg_metrics.h - per-process metrics registry, Prometheus text snapshots, and the aggregator
//  that merges the snapshots of all processes into one exposition for GET /metrics.
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TG_METRIC_COUNTER,    //  only goes up; name ends in "_total"
    TG_METRIC_GAUGE,      //  set to a value
    TG_METRIC_HISTOGRAM,  //  observations counted in cumulative buckets, plus _sum and _count
} tg_metric_type_t;

#define TG_METRICS_MAX_SERIES 20000         //  series per registry; new ones beyond are dropped
#define TG_METRICS_MAX_LINE 16384           //  longest snapshot line the aggregator accepts
#define TG_METRICS_MAX_SNAPSHOT (32 << 20)  //  largest snapshot the aggregator accepts (bytes)
#define TG_METRICS_MAX_VALUE 256            //  label values are cut to this many bytes

typedef struct tg_metrics tg_metrics_t;
typedef struct tg_metrics_agg tg_metrics_agg_t;

//  A registry for one process. Not thread-safe: use it from one thread.
tg_metrics_t *tg_metrics_new(void);
//  Frees the registry and sets *self_p to NULL. NULL-safe, idempotent.
void tg_metrics_destroy(tg_metrics_t **self_p);

//  Declares a family once (declaring it again with the same type is a no-op). name is a valid
//  Prometheus name with base units (counters end in "_total"); help is one line of text.
//  Histograms take nbuckets finite upper bounds in increasing order (+Inf is implicit);
//  other types pass NULL, 0. The strings and buckets are copied.
void tg_metrics_declare(tg_metrics_t *self,
                        const char *name,
                        tg_metric_type_t type,
                        const char *help,
                        const double *buckets,
                        size_t nbuckets);

//  Label set from NULL-terminated key/value pairs: ("provider", "openai", "model", "gpt-4o",
//  NULL) -> provider="openai",model="gpt-4o". Values are escaped (\\ \" \n), invalid UTF-8 is
//  replaced by '?', and each value is cut to TG_METRICS_MAX_VALUE bytes. A NULL value is
//  written as "". Caller frees.
char *tg_metrics_labels(const char *k1, ...) __attribute__((sentinel));
//  Same into out[size]; returns the length, or TG_INVALID if it does not fit (out is then "").
int tg_metrics_labels_buf(char *out, size_t size, const char *k1, ...) __attribute__((sentinel));

//  Adds delta (>= 0; negative or NaN is ignored) to a counter series. labels is a label set
//  as made by tg_metrics_labels, or NULL / "" for none. name must be a declared counter.
void tg_metrics_add(tg_metrics_t *self, const char *name, const char *labels, double delta);
//  Sets a gauge series. name must be a declared gauge.
void tg_metrics_set(tg_metrics_t *self, const char *name, const char *labels, double value);
//  Records one observation (NaN is ignored) in a histogram series. name must be a declared
//  histogram.
void tg_metrics_observe(tg_metrics_t *self, const char *name, const char *labels, double value);

//  Prometheus text exposition of every family (HELP, TYPE, samples), families sorted by name
//  and series by labels. Caller frees.
char *tg_metrics_snapshot(const tg_metrics_t *self);

//  An aggregator of snapshots from many sources (processes).
tg_metrics_agg_t *tg_metrics_agg_new(void);
//  Frees the aggregator and sets *self_p to NULL. NULL-safe, idempotent.
void tg_metrics_agg_destroy(tg_metrics_agg_t **self_p);
//  Replaces source's snapshot (text from the network: checked, capped). Returns TG_OK,
//  TG_INVALID on unparsable text (the previous snapshot is kept), or TG_AGAIN for a new source
//  beyond 1024 sources. If the source's counters went
//  down or vanished (it restarted), its previous counters are kept in the totals so that the
//  aggregated counters never decrease.
int tg_metrics_agg_put(tg_metrics_agg_t *self,
                       const char *source,
                       const char *snapshot,
                       int64_t now_us);
//  Drops the sources last put before older_than_us; their counters stay in the totals, their
//  gauges go.
void tg_metrics_agg_expire(tg_metrics_agg_t *self, int64_t older_than_us);
//  One exposition for all sources: samples with the same name and labels summed (gauges too),
//  one HELP/TYPE per family, families sorted by name, deterministic order. Caller frees.
char *tg_metrics_agg_render(tg_metrics_agg_t *self);

#endif
