//  tg_metrics_render.h - the Prometheus text exposition (format 0.0.4) of a metrics set.
#ifndef TG_METRICS_RENDER_H
#define TG_METRICS_RENDER_H

#include "tg_metrics_set.h"

//  Every family of set: HELP, TYPE and samples; families sorted by name, series by labels,
//  histograms as cumulative _bucket{le} lines, _sum and _count. Caller frees.
char *tg_metrics_render(const tg_mset_t *set);

#endif
