//  analytics_query.h - answers the QUERY frames addressed to analytics (GET /v1/usage).
#ifndef ANALYTICS_QUERY_H
#define ANALYTICS_QUERY_H

#include <stdint.h>

#include "analytics_store.h"
#include "tg_frame.h"

//  The REPLY for query `q` (borrowed) at now_us: 200 with the usage body, 400 for bad
//  arguments, 404/405 for other routes, 500 when the store failed. Caller owns the frame.
tg_frame_t *
analytics_query_answer(analytics_store_t *store, const tg_fr_query_t *q, int64_t now_us);

#endif
