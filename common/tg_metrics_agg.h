//  tg_metrics_agg.h - the aggregation of every process's metrics for GET /metrics: the
//  msgpack snapshots of the STATS frames (tg_metrics_wire.h), merged into one exposition.
#ifndef TG_METRICS_AGG_H
#define TG_METRICS_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "tg_metrics.h"

typedef struct tg_metrics_agg tg_metrics_agg_t;

#define TG_METRICS_MAX_SOURCES 1024  //  processes an aggregator follows

tg_metrics_agg_t *tg_metrics_agg_new(void);
//  Frees the aggregator and sets *self_p to NULL. NULL-safe, idempotent.
void tg_metrics_agg_destroy(tg_metrics_agg_t **self_p);
//  Replaces source's snapshot with body[len] (msgpack from the network: checked, capped).
//  Returns TG_OK, TG_INVALID on a body that does not decode (the previous snapshot is kept),
//  or TG_AGAIN for a new source beyond TG_METRICS_MAX_SOURCES. If the source's counters went
//  down or vanished (it restarted), its previous counters are kept in the totals so that the
//  aggregated counters never decrease.
int tg_metrics_agg_put(
    tg_metrics_agg_t *self, const char *source, const void *body, size_t len, int64_t now_us);
//  Drops the sources last put before older_than_us; their counters stay in the totals, their
//  gauges go.
void tg_metrics_agg_expire(tg_metrics_agg_t *self, int64_t older_than_us);
//  One exposition for all sources: samples with the same name and labels summed (gauges too),
//  one HELP/TYPE per family, families sorted by name, deterministic order. Caller frees.
char *tg_metrics_agg_render(tg_metrics_agg_t *self);

#endif
