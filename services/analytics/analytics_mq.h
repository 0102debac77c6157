//  analytics_mq.h - the metrics query API's requests (spec A5) as a validated struct: the
//  query string of GET /api/v1/metrics and /api/v1/metrics/summary, the JSON body of POST
//  /api/v1/metrics/query. Pure: no store, no I/O; every bad input is TG_INVALID naming the
//  field (the HTTP 400's `param`) with a message saying what is accepted.
//
//  Metrics (17): request_count, success_count, error_count, error_rate, success_rate (the
//  quality metric), duration (ms), ttft (ms), total_tokens, input_tokens, output_tokens,
//  cached_tokens, total_cost, input_cost, output_cost (USD), cache_hits, cache_hit_rate,
//  savings (USD). Aggregations: sum, avg, min, max, count, p50, p90, p95, p99; which apply
//  to which metric: analytics_mq_agg_ok. Dimensions: provider, model, key, agent, org,
//  environment, user_id. Limits: 90 days of range, 20 metrics, 5 group-bys, 16 filters of
//  at most 64 values, 8 having conditions, 20,000 time buckets, limit <= 10,000.
#ifndef ANALYTICS_MQ_H
#define ANALYTICS_MQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics_rollup.h"

#define ANALYTICS_MQ_MAX_RANGE_US (90 * 86400000000LL)
#define ANALYTICS_MQ_MAX_METRICS 20
#define ANALYTICS_MQ_MAX_GROUP 5
#define ANALYTICS_MQ_MAX_FILTERS 16
#define ANALYTICS_MQ_MAX_VALUES 64
#define ANALYTICS_MQ_MAX_HAVING 8
#define ANALYTICS_MQ_MAX_POINTS 20000
#define ANALYTICS_MQ_MAX_LIMIT 10000
#define ANALYTICS_MQ_NAME 64  //  longest alias or column name, NUL included

typedef enum {
    MQ_REQUEST_COUNT,
    MQ_SUCCESS_COUNT,
    MQ_ERROR_COUNT,
    MQ_ERROR_RATE,
    MQ_SUCCESS_RATE,
    MQ_DURATION,
    MQ_TTFT,
    MQ_TOTAL_TOKENS,
    MQ_INPUT_TOKENS,
    MQ_OUTPUT_TOKENS,
    MQ_CACHED_TOKENS,
    MQ_TOTAL_COST,
    MQ_INPUT_COST,
    MQ_OUTPUT_COST,
    MQ_CACHE_HITS,
    MQ_CACHE_HIT_RATE,
    MQ_SAVINGS,
    MQ_METRICS
} analytics_mq_metric_t;

typedef enum {
    MQ_SUM,
    MQ_AVG,
    MQ_MIN,
    MQ_MAX,
    MQ_COUNT,
    MQ_P50,
    MQ_P90,
    MQ_P95,
    MQ_P99,
    MQ_AGGS
} analytics_mq_agg_t;

typedef enum { MQ_GT, MQ_GTE, MQ_LT, MQ_LTE, MQ_EQ, MQ_NE } analytics_mq_op_t;

typedef enum { MQ_LIST, MQ_QUERY, MQ_SUMMARY } analytics_mq_kind_t;

//  Interval names and widths: 1min, 5min, 1hour, 1day.
typedef enum { MQ_1MIN, MQ_5MIN, MQ_1HOUR, MQ_1DAY, MQ_INTERVALS } analytics_mq_interval_t;

//  One output column: a metric under an aggregation, named.
typedef struct {
    analytics_mq_metric_t metric;
    analytics_mq_agg_t agg;
    char name[ANALYTICS_MQ_NAME];  //  the alias, or the metric's name (+ "_<agg>")
} analytics_mq_col_t;

//  dimension = one of values (owned).
typedef struct {
    analytics_dim_t dim;
    char **values;
    size_t n;
} analytics_mq_filter_t;

typedef struct {
    analytics_mq_metric_t metric;
    analytics_mq_agg_t agg;
    analytics_mq_op_t op;
    double value;
} analytics_mq_having_t;

//  Sort field kinds.
enum { MQ_SORT_NONE, MQ_SORT_TIME, MQ_SORT_COL, MQ_SORT_DIM };

typedef struct {
    analytics_mq_kind_t kind;
    int64_t start_us;                                       //  range start (inclusive)
    int64_t end_us;                                         //  range end (exclusive)
    analytics_mq_interval_t interval;                       //  time buckets of the rows
    bool interval_given;                                    //  false: chosen from the range
    analytics_mq_col_t cols[ANALYTICS_MQ_MAX_METRICS * 5];  //  percentiles add 4 per metric
    size_t ncols;
    analytics_dim_t group[ANALYTICS_MQ_MAX_GROUP];
    size_t ngroup;
    analytics_mq_filter_t filters[ANALYTICS_MQ_MAX_FILTERS];
    size_t nfilters;
    analytics_mq_having_t having[ANALYTICS_MQ_MAX_HAVING];
    size_t nhaving;
    int sort_kind;   //  MQ_SORT_*
    size_t sort_ix;  //  column index (MQ_SORT_COL) or analytics_dim_t (MQ_SORT_DIM)
    bool sort_desc;
    size_t limit;                     //  rows at most
    bool compare;                     //  summary: the previous period too
    size_t top;                       //  summary: items per top list
    bool needs_sketches;              //  some column or having is a percentile
    bool needs_users;                 //  filters or groups by user_id: the user rollups
    char bad_arg[ANALYTICS_MQ_NAME];  //  the unknown or repeated argument a 400 names
} analytics_mq_t;

//  The query string of GET /api/v1/metrics (kind MQ_LIST) or /api/v1/metrics/summary
//  (MQ_SUMMARY) at now_us into *q (freed with analytics_mq_fini, also after TG_INVALID).
//  TG_OK, or TG_INVALID with *field_p (static, or q->bad_arg) and *msg_p (heap).
int analytics_mq_parse_args(analytics_mq_kind_t kind,
                            const char *args,
                            int64_t now_us,
                            analytics_mq_t *q,
                            const char **field_p,
                            char **msg_p);
//  The JSON body of POST /api/v1/metrics/query (len bytes, borrowed), as above.
int analytics_mq_parse_json(const char *body,
                            size_t len,
                            int64_t now_us,
                            analytics_mq_t *q,
                            const char **field_p,
                            char **msg_p);
//  Frees the filters' values; q may be parsed into again.
void analytics_mq_fini(analytics_mq_t *q);

//  Names: metric, aggregation, dimension (API form: "environment", "user_id"), interval.
const char *analytics_mq_metric_name(analytics_mq_metric_t m);
const char *analytics_mq_agg_name(analytics_mq_agg_t a);
const char *analytics_mq_dim_name(analytics_dim_t d);
const char *analytics_mq_interval_name(analytics_mq_interval_t i);
int64_t analytics_mq_interval_us(analytics_mq_interval_t i);
//  True if aggregation a applies to metric m (counts and sums: sum, avg per request, count;
//  request_count and the other counts: sum, count; rates: avg; duration and ttft: all).
bool analytics_mq_agg_ok(analytics_mq_metric_t m, analytics_mq_agg_t a);
//  The aggregation a metric gets when none is named.
analytics_mq_agg_t analytics_mq_agg_default(analytics_mq_metric_t m);

#endif
