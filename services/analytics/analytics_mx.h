//  analytics_mx.h - runs a parsed metrics query (analytics_mq.h) over the rollups: the JSON
//  answers of GET /api/v1/metrics, POST /api/v1/metrics/query and GET
//  /api/v1/metrics/summary (spec A5), limited to one organization.
//
//  Rows are (time bucket of the interval, grouped dimension values); a rollup counts whole
//  in the bucket its start falls in, so a range that cuts a rollup's bucket counts all of
//  it (ranges on interval boundaries are exact). Source: the minute rollups for 1min/5min,
//  hour for 1hour, day for 1day; the per-user family 'D' when the query filters or
//  groups by user_id (interval 1day). Percentiles come from the merged DDSketches (1 % relative
//  error). Events stored before schema 5 belong to organization "default" and have no input cost.
#ifndef ANALYTICS_MX_H
#define ANALYTICS_MX_H

#include <stdint.h>

#include "analytics_mq.h"
#include "analytics_store.h"

//  The answer to a MQ_LIST or MQ_QUERY query, limited to organization `org` (NULL = every
//  organization; "default" also holds the events without one). TG_OK with the JSON body in
//  *body_p (heap), TG_ERR when the store failed, TG_AGAIN when the answer is too large.
int analytics_mx_metrics(analytics_store_t *store,
                         const analytics_mq_t *q,
                         const char *org,
                         char **body_p);
//  The answer to a MQ_SUMMARY query at now_us, as above.
int analytics_mx_summary(analytics_store_t *store,
                         const analytics_mq_t *q,
                         const char *org,
                         int64_t now_us,
                         char **body_p);
//  The value of metric m under aggregation a over rollup r (sketches needed for p50..p99);
//  *null_p when there is none (no requests, no TTFT). Units: ms, USD, ratios 0..1.
double analytics_mx_value(const analytics_rollup_t *r,
                          analytics_mq_metric_t m,
                          analytics_mq_agg_t a,
                          bool *null_p);

#endif
