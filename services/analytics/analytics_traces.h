//  analytics_traces.h - GET /api/v1/traces (recent traces, filtered) and
//  GET /api/v1/traces/{id} (one trace's span tree), spec A4; a key sees its organization's.
#ifndef ANALYTICS_TRACES_H
#define ANALYTICS_TRACES_H

#include <stdbool.h>
#include <stdint.h>

#include "analytics_store.h"
#include "tg_frame.h"

#define ANALYTICS_TRACES_LIMIT_MAX 500     //  traces in one list answer, at most
#define ANALYTICS_TRACE_SPANS_MAX 10000    //  spans read for one trace, at most
#define ANALYTICS_TRACES_SCAN_MAX 2000000  //  events a list walks back through, at most

//  True if `path` is /api/v1/traces or below.
bool analytics_traces_route(const char *path);
//  The REPLY to query `q` (borrowed) at now_us: 200 with the list or the tree, 400 for bad
//  arguments, 403 without the metrics:read role, 404 for an unknown trace, 405, 500 when the
//  store failed. Caller owns the frame.
tg_frame_t *
analytics_traces_answer(analytics_store_t *store, const tg_fr_query_t *q, int64_t now_us);

#endif
