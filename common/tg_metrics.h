//  tg_metrics.h - the metrics registry of one process: the counters, gauges and histograms it
//  updates, and their snapshot as msgpack for the bus. The aggregation of all processes'
//  snapshots is tg_metrics_agg.h, the text exposition tg_metrics_render.h.
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
#define TG_METRICS_MAX_LINE 16384           //  longest label text of a series
#define TG_METRICS_MAX_SNAPSHOT (32 << 20)  //  largest snapshot the aggregator accepts (bytes)
#define TG_METRICS_MAX_VALUE 256            //  label values are cut to this many bytes

typedef struct tg_metrics tg_metrics_t;

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
//  and series by labels (label names sorted). Caller frees. For tests and tools: processes
//  publish tg_metrics_encode's msgpack instead.
char *tg_metrics_snapshot(const tg_metrics_t *self);

//  The registries' families and series as one msgpack body (the STATS frame body,
//  tg_metrics_wire.h). NULL entries are skipped. Caller frees; *len_p its size.
char *tg_metrics_encode(const tg_metrics_t *const *regs, size_t nregs, size_t *len_p);

#endif
