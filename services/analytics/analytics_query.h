//  analytics_query.h - answers the QUERY frames addressed to analytics (GET /v1/usage,
//  /v1/costs*).
#ifndef ANALYTICS_QUERY_H
#define ANALYTICS_QUERY_H

#include <stdint.h>

#include "analytics_store.h"
#include "tg_frame.h"

//  The REPLY for query `q` (borrowed) at now_us: 200 with the usage body, 400 for bad
//  arguments, 404/405 for other routes, 500 when the store failed. Caller owns the frame.
tg_frame_t *
analytics_query_answer(analytics_store_t *store, const tg_fr_query_t *q, int64_t now_us);

//  Parses a time argument of the query string: RFC 3339, a date or epoch seconds (a '+' of
//  an offset that arrived unencoded, decoded to ' ', is put back). TG_OK or TG_INVALID.
int analytics_query_time(const char *value, int64_t *t_us);

#endif
