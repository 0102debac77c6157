//  tg_metrics_wire.h - a metrics set as msgpack: the body of a STATS frame (proto/README.md).
//
//  body    = [family, ...]
//  family  = [name: str, type: uint (0 counter, 1 gauge, 2 histogram), help: str,
//             bounds: [float, ...] (histograms: finite upper bounds, increasing, +Inf implied;
//             [] otherwise), series: [series, ...]]
//  series  = [labels: str, value: float]                      (counter, gauge)
//          | [labels: str, sum: float, count: float, [cumulative count: float, ...]]
//                                                  (histogram: one per bound, then +Inf)
//  labels is the canonical label text: k="v" pairs, names sorted, values escaped (\\ \" \n).
#ifndef TG_METRICS_WIRE_H
#define TG_METRICS_WIRE_H

#include <stddef.h>

#include "tg_metrics_set.h"

//  The sets as one body (their families one after the other). Caller frees; *len_p its size.
char *tg_metrics_wire_encode(const tg_mset_t *const *sets, size_t nsets, size_t *len_p);
//  Decodes a body from the network into set (initialised, empty): every field checked, sizes
//  capped. TG_OK, or TG_INVALID with set partly filled (the caller drops it).
int tg_metrics_wire_decode(tg_mset_t *set, const void *data, size_t len);

#endif
