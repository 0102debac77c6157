//  analytics_mq.c - metrics query parsing and validation (see the header).
#include "analytics_mq.h"
#include "analytics_query.h"
#include "tg_util.h"

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MINUTE_US 60000000LL
#define S_HOUR_US 3600000000LL
#define S_DAY_US 86400000000LL
#define S_MAX_VALUE 256  //  longest filter value

static const char *const s_metrics[MQ_METRICS] = {
    "request_count",  "success_count", "error_count",  "error_rate",   "success_rate",
    "duration",       "ttft",          "total_tokens", "input_tokens", "output_tokens",
    "cached_tokens",  "total_cost",    "input_cost",   "output_cost",  "cache_hits",
    "cache_hit_rate", "savings"};
static const char *const s_aggs[MQ_AGGS] = {"sum", "avg", "min", "max", "count",
                                            "p50", "p90", "p95", "p99"};
static const char *const s_dims[ANALYTICS_DIMS] = {"provider", "model",       "key",    "agent",
                                                   "org",      "environment", "user_id"};
static const char *const s_intervals[MQ_INTERVALS] = {"1min", "5min", "1hour", "1day"};
static const char *const s_ops[] = {"gt", "gte", "lt", "lte", "eq", "ne"};

const char *
analytics_mq_metric_name(analytics_mq_metric_t m)
{
    return m < MQ_METRICS ? s_metrics[m] : "?";
}

const char *
analytics_mq_agg_name(analytics_mq_agg_t a)
{
    return a < MQ_AGGS ? s_aggs[a] : "?";
}

const char *
analytics_mq_dim_name(analytics_dim_t d)
{
    return (int)d >= 0 && d < ANALYTICS_DIMS ? s_dims[d] : "?";
}

const char *
analytics_mq_interval_name(analytics_mq_interval_t i)
{
    return i < MQ_INTERVALS ? s_intervals[i] : "?";
}

int64_t
analytics_mq_interval_us(analytics_mq_interval_t i)
{
    static const int64_t w[MQ_INTERVALS] = {S_MINUTE_US, 5 * S_MINUTE_US, S_HOUR_US, S_DAY_US};
    return i < MQ_INTERVALS ? w[i] : S_DAY_US;
}

static bool
s_is_rate(analytics_mq_metric_t m)
{
    return m == MQ_ERROR_RATE || m == MQ_SUCCESS_RATE || m == MQ_CACHE_HIT_RATE;
}

static bool
s_is_dist(analytics_mq_metric_t m)
{
    return m == MQ_DURATION || m == MQ_TTFT;
}

static bool
s_is_count(analytics_mq_metric_t m)
{
    return m == MQ_REQUEST_COUNT || m == MQ_SUCCESS_COUNT || m == MQ_ERROR_COUNT
           || m == MQ_CACHE_HITS;
}

bool
analytics_mq_agg_ok(analytics_mq_metric_t m, analytics_mq_agg_t a)
{
    if (s_is_dist(m))
        return true;
    if (s_is_rate(m))
        return a == MQ_AVG;
    if (s_is_count(m))
        return a == MQ_SUM || a == MQ_COUNT;
    return a == MQ_SUM || a == MQ_AVG || a == MQ_COUNT;
}

analytics_mq_agg_t
analytics_mq_agg_default(analytics_mq_metric_t m)
{
    return s_is_dist(m) || s_is_rate(m) ? MQ_AVG : MQ_SUM;
}

//  Index of name in names[n] (len bytes of name), or -1.
static int
s_lookup(const char *const *names, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0)
            return i;
    return -1;
}

//  Sets the error and returns TG_INVALID.
static int s_bad(const char **field_p, char **msg_p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
s_bad(const char **field_p, char **msg_p, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *field_p = field;
    free(*msg_p);
    *msg_p = tg_strdup(buf);
    return TG_INVALID;
}

//  "a, b, c" of a name list, for messages.
static const char *
s_list(const char *const *names, int n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

static int
s_metric(const char *name, size_t len, const char *field, const char **field_p, char **msg_p)
{
    int m = s_lookup(s_metrics, MQ_METRICS, name, len);
    if (m < 0) {
        char l[512];
        return s_bad(field_p, msg_p, field, "unknown metric \"%.*s\": use one of %s",
                     (int)(len > 64 ? 64 : len), name, s_list(s_metrics, MQ_METRICS, l, sizeof l));
    }
    return m;
}

static int
s_agg(const char *name, const char *field, const char **field_p, char **msg_p)
{
    int a = s_lookup(s_aggs, MQ_AGGS, name, strlen(name));
    if (a < 0) {
        char l[256];
        return s_bad(field_p, msg_p, field, "unknown aggregation \"%.64s\": use one of %s", name,
                     s_list(s_aggs, MQ_AGGS, l, sizeof l));
    }
    return a;
}

static int
s_dim(const char *name, size_t len, const char *field, const char **field_p, char **msg_p)
{
    int d = s_lookup(s_dims, ANALYTICS_DIMS, name, len);
    if (d < 0) {
        char l[256];
        return s_bad(field_p, msg_p, field, "unknown dimension \"%.*s\": use one of %s",
                     (int)(len > 64 ? 64 : len), name, s_list(s_dims, ANALYTICS_DIMS, l, sizeof l));
    }
    return d;
}

//  The aggregation's check for metric m, with the message.
static int
s_agg_check(analytics_mq_metric_t m,
            analytics_mq_agg_t a,
            const char *field,
            const char **field_p,
            char **msg_p)
{
    if (analytics_mq_agg_ok(m, a))
        return TG_OK;
    const char *ok = s_is_rate(m)    ? "avg"
                     : s_is_count(m) ? "sum or count"
                                     : "sum, avg (per request) or count";
    return s_bad(field_p, msg_p, field, "aggregation %s does not apply to %s: use %s", s_aggs[a],
                 s_metrics[m], ok);
}

static bool
s_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= ANALYTICS_MQ_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

//  Adds a column; names must be unique.
static int
s_add_col(analytics_mq_t *q,
          analytics_mq_metric_t m,
          analytics_mq_agg_t a,
          const char *alias,
          const char *field,
          const char **field_p,
          char **msg_p)
{
    analytics_mq_col_t *c = &q->cols[q->ncols];
    c->metric = m;
    c->agg = a;
    if (alias)
        snprintf(c->name, sizeof c->name, "%s", alias);
    else if (a == analytics_mq_agg_default(m))
        snprintf(c->name, sizeof c->name, "%s", s_metrics[m]);
    else
        snprintf(c->name, sizeof c->name, "%s_%s", s_metrics[m], s_aggs[a]);
    for (size_t i = 0; i < q->ncols; i++)
        if (strcmp(q->cols[i].name, c->name) == 0)
            return s_bad(field_p, msg_p, field,
                         "two metrics are both named \"%s\": give one an alias", c->name);
    for (int d = 0; d < ANALYTICS_DIMS; d++)
        if (strcmp(s_dims[d], c->name) == 0 || strcmp(c->name, "timestamp") == 0)
            return s_bad(field_p, msg_p, field,
                         "\"%s\" names a dimension or the timestamp: give the metric another "
                         "alias",
                         c->name);
    if (a >= MQ_P50)
        q->needs_sketches = true;
    q->ncols++;
    return TG_OK;
}

static int
s_add_group(analytics_mq_t *q, int d, const char *field, const char **field_p, char **msg_p)
{
    for (size_t i = 0; i < q->ngroup; i++)
        if ((int)q->group[i] == d)
            return s_bad(field_p, msg_p, field, "group_by names %s twice", s_dims[d]);
    if (q->ngroup == ANALYTICS_MQ_MAX_GROUP)
        return s_bad(field_p, msg_p, field, "too many group_by dimensions: at most %d",
                     ANALYTICS_MQ_MAX_GROUP);
    q->group[q->ngroup++] = (analytics_dim_t)d;
    if (d == ANALYTICS_DIM_USER)
        q->needs_users = true;
    return TG_OK;
}

//  A new filter on dim d (values added with s_filter_value).
static analytics_mq_filter_t *
s_add_filter(analytics_mq_t *q, int d, const char *field, const char **field_p, char **msg_p)
{
    if (q->nfilters == ANALYTICS_MQ_MAX_FILTERS) {
        s_bad(field_p, msg_p, field, "too many filters: at most %d", ANALYTICS_MQ_MAX_FILTERS);
        return NULL;
    }
    analytics_mq_filter_t *f = &q->filters[q->nfilters++];
    f->dim = (analytics_dim_t)d;
    f->values = tg_zalloc(ANALYTICS_MQ_MAX_VALUES * sizeof *f->values);
    f->n = 0;
    if (d == ANALYTICS_DIM_USER)
        q->needs_users = true;
    return f;
}

static int
s_filter_value(analytics_mq_filter_t *f,
               const char *v,
               size_t len,
               const char *field,
               const char **field_p,
               char **msg_p)
{
    if (f->n == ANALYTICS_MQ_MAX_VALUES)
        return s_bad(field_p, msg_p, field, "too many values for %s: at most %d", s_dims[f->dim],
                     ANALYTICS_MQ_MAX_VALUES);
    if (len == 0 || len > S_MAX_VALUE)
        return s_bad(field_p, msg_p, field, "a %s value must be 1..%d bytes", s_dims[f->dim],
                     S_MAX_VALUE);
    if (memchr(v, 0, len))
        return s_bad(field_p, msg_p, field, "a %s value must not hold a NUL byte", s_dims[f->dim]);
    char *s = tg_zalloc(len + 1);
    memcpy(s, v, len);
    f->values[f->n++] = s;
    return TG_OK;
}

static int
s_time(const char *v, int64_t *t, const char *field, const char **field_p, char **msg_p)
{
    if (analytics_query_time(v, t) != TG_OK)
        return s_bad(field_p, msg_p, field,
                     "%s must be an RFC 3339 time (2026-11-25T10:00:00Z), a date (2026-11-25) or "
                     "epoch seconds",
                     field);
    return TG_OK;
}

//  Range, interval and the limits that depend on both; run after every field is read.
static int
s_finish(analytics_mq_t *q, int64_t now_us, bool start_given, const char **field_p, char **msg_p)
{
    const char *sf = "start_time";
    if (!start_given)
        q->start_us = q->end_us - S_DAY_US;
    if (q->start_us >= q->end_us)
        return s_bad(field_p, msg_p, sf, "start_time must be before end_time");
    if (q->end_us - q->start_us > ANALYTICS_MQ_MAX_RANGE_US)
        return s_bad(field_p, msg_p, sf, "the time range is %.1f days: at most 90 days per query",
                     (double)(q->end_us - q->start_us) / (double)S_DAY_US);
    if (q->start_us < 0)
        return s_bad(field_p, msg_p, sf, "start_time must not be before 1970");
    if (q->kind == MQ_SUMMARY)
        return TG_OK;
    if (q->ncols == 0)
        return s_bad(field_p, msg_p, "metrics", "metrics must name at least one metric");
    int64_t range = q->end_us - q->start_us;
    if (!q->interval_given)
        q->interval = range <= 6 * S_HOUR_US   ? MQ_1MIN
                      : range <= 2 * S_DAY_US  ? MQ_5MIN
                      : range <= 30 * S_DAY_US ? MQ_1HOUR
                                               : MQ_1DAY;
    for (size_t i = 0; q->needs_users && i < q->ngroup + q->nfilters; i++) {
        bool grouped = i < q->ngroup;
        analytics_dim_t d = grouped ? q->group[i] : q->filters[i - q->ngroup].dim;
        if (d == ANALYTICS_DIM_KEY || d == ANALYTICS_DIM_AGENT)
            return s_bad(field_p, msg_p,
                         grouped               ? "group_by"
                         : q->kind == MQ_QUERY ? "filters.dimension"
                                               : s_dims[d],
                         "user_id cannot be combined with %s: per-user rollups keep provider, "
                         "model, org and environment",
                         s_dims[d]);
    }
    if (q->needs_users && q->interval != MQ_1DAY) {
        if (q->interval_given)
            return s_bad(field_p, msg_p, "interval",
                         "user_id needs interval 1day (per-user rollups are kept per day)");
        q->interval = MQ_1DAY;
    }
    int64_t width = analytics_mq_interval_us(q->interval);
    int64_t points = (q->end_us - 1) / width - q->start_us / width + 1;
    if (points > ANALYTICS_MQ_MAX_POINTS)
        return s_bad(field_p, msg_p, "interval",
                     "interval %s gives %lld time buckets over this range: at most %d, pick a "
                     "coarser interval",
                     s_intervals[q->interval], (long long)points, ANALYTICS_MQ_MAX_POINTS);
    int64_t horizon = analytics_rollup_horizon(q->interval <= MQ_5MIN    ? ANALYTICS_MINUTE
                                               : q->interval == MQ_1HOUR ? ANALYTICS_HOUR
                                                                         : ANALYTICS_DAY);
    if (q->start_us < now_us - horizon)
        return s_bad(field_p, msg_p, sf,
                     "start_time is older than the %lld days %s rollups are kept: use a coarser "
                     "interval",
                     (long long)(horizon / S_DAY_US), s_intervals[q->interval]);
    return TG_OK;
}

static void
s_init(analytics_mq_t *q, analytics_mq_kind_t kind, int64_t now_us)
{
    memset(q, 0, sizeof *q);
    q->kind = kind;
    q->end_us = now_us;
    q->limit = kind == MQ_QUERY ? 1000 : ANALYTICS_MQ_MAX_LIMIT;
    q->compare = true;
    q->top = 5;
}

static int
s_bool_arg(const char *v, bool *out, const char *field, const char **field_p, char **msg_p)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return s_bad(field_p, msg_p, field, "%s must be true or false", field);
    return TG_OK;
}

static int
s_uint_arg(const char *v,
           long lo,
           long hi,
           size_t *out,
           const char *field,
           const char **field_p,
           char **msg_p)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi)
        return s_bad(field_p, msg_p, field, "%s must be an integer from %ld to %ld", field, lo, hi);
    *out = (size_t)n;
    return TG_OK;
}

//  Walks a comma-separated list, calling fn for each non-empty item.
typedef int(s_item_fn)(const char *item, size_t len, void *arg);

static int
s_each_item(const char *list, s_item_fn *fn, void *arg)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        int rc = fn(p, n, arg);
        if (rc != TG_OK)
            return rc;
        if (!p[n])
            return TG_OK;
        p += n + 1;
    }
}

typedef struct {
    analytics_mq_t *q;
    const char *field;
    const char **field_p;
    char **msg_p;
    analytics_mq_filter_t *filter;
    analytics_mq_agg_t agg;
    bool pct;
} s_items_t;

static int
s_on_metric_item(const char *item, size_t len, void *arg)
{
    s_items_t *it = arg;
    int m = s_metric(item, len, it->field, it->field_p, it->msg_p);
    if (m < 0)
        return TG_INVALID;
    if (it->q->ncols >= ANALYTICS_MQ_MAX_METRICS)
        return s_bad(it->field_p, it->msg_p, it->field, "too many metrics: at most %d per query",
                     ANALYTICS_MQ_MAX_METRICS);
    it->q->cols[it->q->ncols].metric = (analytics_mq_metric_t)m;
    it->q->ncols++;  //  aggregations and names once every argument is read
    return TG_OK;
}

static int
s_on_group_item(const char *item, size_t len, void *arg)
{
    s_items_t *it = arg;
    int d = s_dim(item, len, it->field, it->field_p, it->msg_p);
    return d < 0 ? TG_INVALID : s_add_group(it->q, d, it->field, it->field_p, it->msg_p);
}

static int
s_on_value_item(const char *item, size_t len, void *arg)
{
    s_items_t *it = arg;
    return s_filter_value(it->filter, item, len, it->field, it->field_p, it->msg_p);
}

int
analytics_mq_parse_args(analytics_mq_kind_t kind,
                        const char *args,
                        int64_t now_us,
                        analytics_mq_t *q,
                        const char **field_p,
                        char **msg_p)
{
    s_init(q, kind, now_us);
    *field_p = NULL;
    *msg_p = NULL;
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    if (args && *args && evhttp_parse_query_str(args, &kv) != 0) {
        evhttp_clear_headers(&kv);
        return s_bad(field_p, msg_p, "query", "malformed query string");
    }
    int rc = TG_OK;
    bool start_given = false, agg_given = false, pct = false;
    analytics_mq_agg_t agg = MQ_AVG;
    size_t nmetrics = 0;
    s_items_t it = {.q = q, .field_p = field_p, .msg_p = msg_p};
    struct evkeyval *e;
    TAILQ_FOREACH(e, &kv, next)
    {
        const char *k = e->key, *v = e->value;
        snprintf(q->bad_arg, sizeof q->bad_arg, "%s", k);  //  outlives the parsed arguments
        for (struct evkeyval *o = TAILQ_FIRST(&kv); o != e && rc == TG_OK; o = TAILQ_NEXT(o, next))
            if (strcmp(o->key, k) == 0)
                rc = s_bad(field_p, msg_p, q->bad_arg, "%.64s is given twice", k);
        if (rc != TG_OK)
            break;
        int d = s_lookup(s_dims, ANALYTICS_DIMS, k, strlen(k));
        if (strcmp(k, "start_time") == 0 || strcmp(k, "start") == 0) {
            rc = s_time(v, &q->start_us, "start_time", field_p, msg_p);
            start_given = true;
        } else if (strcmp(k, "end_time") == 0 || strcmp(k, "end") == 0)
            rc = s_time(v, &q->end_us, "end_time", field_p, msg_p);
        else if (d >= 0 && d != ANALYTICS_DIM_ORG) {
            it.field = s_dims[d];
            it.filter = s_add_filter(q, d, s_dims[d], field_p, msg_p);
            rc = it.filter ? s_each_item(v, s_on_value_item, &it) : TG_INVALID;
        } else if (kind == MQ_LIST && strcmp(k, "metrics") == 0) {
            it.field = "metrics";
            rc = s_each_item(v, s_on_metric_item, &it);
            nmetrics = q->ncols;
        } else if (kind == MQ_LIST && strcmp(k, "interval") == 0) {
            int i = s_lookup(s_intervals, MQ_INTERVALS, v, strlen(v));
            if (i < 0)
                rc =
                    s_bad(field_p, msg_p, "interval", "interval must be 1min, 5min, 1hour or 1day");
            q->interval = (analytics_mq_interval_t)(i < 0 ? 0 : i);
            q->interval_given = true;
        } else if (kind == MQ_LIST && strcmp(k, "group_by") == 0) {
            it.field = "group_by";
            rc = s_each_item(v, s_on_group_item, &it);
        } else if (kind == MQ_LIST && strcmp(k, "aggregation") == 0) {
            int a = s_agg(v, "aggregation", field_p, msg_p);
            if (a >= 0 && a > MQ_COUNT)
                a = s_bad(field_p, msg_p, "aggregation",
                          "aggregation must be avg, sum, min, max or count (percentiles: "
                          "include_percentiles=true)");
            rc = a < 0 ? TG_INVALID : TG_OK;
            agg = (analytics_mq_agg_t)(a < 0 ? 0 : a);
            agg_given = true;
        } else if (kind == MQ_LIST && strcmp(k, "include_percentiles") == 0)
            rc = s_bool_arg(v, &pct, "include_percentiles", field_p, msg_p);
        else if (kind == MQ_LIST && strcmp(k, "limit") == 0)
            rc = s_uint_arg(v, 1, ANALYTICS_MQ_MAX_LIMIT, &q->limit, "limit", field_p, msg_p);
        else if (kind == MQ_SUMMARY && strcmp(k, "compare_previous_period") == 0)
            rc = s_bool_arg(v, &q->compare, "compare_previous_period", field_p, msg_p);
        else if (kind == MQ_SUMMARY && strcmp(k, "top") == 0)
            rc = s_uint_arg(v, 1, 50, &q->top, "top", field_p, msg_p);
        else
            rc = s_bad(field_p, msg_p, q->bad_arg, "unknown argument %.64s", k);
        if (rc != TG_OK)
            break;
    }
    evhttp_clear_headers(&kv);
    if (rc != TG_OK)
        return TG_INVALID;
    if (kind == MQ_SUMMARY && q->needs_users)
        return s_bad(field_p, msg_p, "user_id",
                     "the summary filters by provider, model, key, "
                     "agent or environment, not user_id");
    //  Columns: each metric under the aggregation (its default when none or not its kind
    //  and not asked), then p50..p99 of duration and ttft when include_percentiles.
    analytics_mq_metric_t ms[ANALYTICS_MQ_MAX_METRICS];
    for (size_t i = 0; i < nmetrics; i++)
        ms[i] = q->cols[i].metric;
    q->ncols = 0;
    for (size_t i = 0; i < nmetrics; i++) {
        analytics_mq_agg_t a = agg_given ? agg : analytics_mq_agg_default(ms[i]);
        if (agg_given && s_agg_check(ms[i], a, "aggregation", field_p, msg_p) != TG_OK)
            return TG_INVALID;
        if (s_add_col(q, ms[i], a, s_metrics[ms[i]], "metrics", field_p, msg_p) != TG_OK)
            return TG_INVALID;
    }
    for (size_t i = 0; pct && i < nmetrics; i++)
        for (int a = MQ_P50; a <= MQ_P99 && s_is_dist(ms[i]); a++) {
            char name[ANALYTICS_MQ_NAME];
            snprintf(name, sizeof name, "%s_%s", s_metrics[ms[i]], s_aggs[a]);
            if (s_add_col(q, ms[i], (analytics_mq_agg_t)a, name, "metrics", field_p, msg_p)
                != TG_OK)
                return TG_INVALID;
        }
    return s_finish(q, now_us, start_given, field_p, msg_p);
}

//  ---- the JSON body of POST /api/v1/metrics/query ------------------------------------------

static int
s_json_str(json_t *v, const char *field, const char **out, const char **field_p, char **msg_p)
{
    if (!json_is_string(v))
        return s_bad(field_p, msg_p, field, "%s must be a string", field);
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v))
        return s_bad(field_p, msg_p, field, "%s must not hold a NUL byte", field);
    return TG_OK;
}

//  Checks that o's keys are all in allowed[].
static int
s_json_keys(
    json_t *o, const char *const *allowed, const char *field, const char **field_p, char **msg_p)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], k) == 0;
        if (!ok)
            return s_bad(field_p, msg_p, field, "unknown field %.64s in %s", k, field);
    }
    return TG_OK;
}

static int
s_json_metrics(analytics_mq_t *q, json_t *v, const char **field_p, char **msg_p)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return s_bad(field_p, msg_p, "metrics",
                     "metrics must be a non-empty array of {metric, aggregation, alias}");
    if (json_array_size(v) > ANALYTICS_MQ_MAX_METRICS)
        return s_bad(field_p, msg_p, "metrics", "too many metrics (%zu): at most %d per query",
                     json_array_size(v), ANALYTICS_MQ_MAX_METRICS);
    static const char *const keys[] = {"metric", "aggregation", "alias", NULL};
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m)
    {
        const char *name = NULL, *agg = NULL, *alias = NULL;
        if (json_is_string(m))
            name = json_string_value(m);
        else if (!json_is_object(m))
            return s_bad(field_p, msg_p, "metrics", "each metric must be an object");
        else if (s_json_keys(m, keys, "metrics", field_p, msg_p) != TG_OK
                 || s_json_str(json_object_get(m, "metric"), "metrics.metric", &name, field_p,
                               msg_p)
                        != TG_OK)
            return TG_INVALID;
        json_t *a = json_is_object(m) ? json_object_get(m, "aggregation") : NULL;
        json_t *al = json_is_object(m) ? json_object_get(m, "alias") : NULL;
        if (a && !json_is_null(a)
            && s_json_str(a, "metrics.aggregation", &agg, field_p, msg_p) != TG_OK)
            return TG_INVALID;
        if (al && !json_is_null(al)) {
            if (s_json_str(al, "metrics.alias", &alias, field_p, msg_p) != TG_OK)
                return TG_INVALID;
            if (!s_name_ok(alias))
                return s_bad(field_p, msg_p, "metrics.alias",
                             "an alias must be 1..63 letters, digits or _");
        }
        int mi = s_metric(name, strlen(name), "metrics.metric", field_p, msg_p);
        if (mi < 0)
            return TG_INVALID;
        int ai = agg ? s_agg(agg, "metrics.aggregation", field_p, msg_p)
                     : (int)analytics_mq_agg_default((analytics_mq_metric_t)mi);
        if (ai < 0
            || s_agg_check((analytics_mq_metric_t)mi, (analytics_mq_agg_t)ai, "metrics.aggregation",
                           field_p, msg_p)
                   != TG_OK
            || s_add_col(q, (analytics_mq_metric_t)mi, (analytics_mq_agg_t)ai, alias,
                         alias ? "metrics.alias" : "metrics", field_p, msg_p)
                   != TG_OK)
            return TG_INVALID;
    }
    return TG_OK;
}

static int
s_json_group(analytics_mq_t *q, json_t *v, const char **field_p, char **msg_p)
{
    if (!json_is_array(v))
        return s_bad(field_p, msg_p, "group_by", "group_by must be an array of dimension names");
    if (json_array_size(v) > ANALYTICS_MQ_MAX_GROUP)
        return s_bad(field_p, msg_p, "group_by", "too many group_by dimensions (%zu): at most %d",
                     json_array_size(v), ANALYTICS_MQ_MAX_GROUP);
    size_t i;
    json_t *g;
    json_array_foreach(v, i, g)
    {
        const char *name = NULL;
        if (s_json_str(g, "group_by", &name, field_p, msg_p) != TG_OK)
            return TG_INVALID;
        int d = s_dim(name, strlen(name), "group_by", field_p, msg_p);
        if (d < 0 || s_add_group(q, d, "group_by", field_p, msg_p) != TG_OK)
            return TG_INVALID;
    }
    return TG_OK;
}

static int
s_json_filters(analytics_mq_t *q, json_t *v, const char **field_p, char **msg_p)
{
    if (!json_is_array(v))
        return s_bad(field_p, msg_p, "filters",
                     "filters must be an array of {dimension, operator, value}");
    static const char *const keys[] = {"dimension", "operator", "value", NULL};
    size_t i;
    json_t *f;
    json_array_foreach(v, i, f)
    {
        const char *dim = NULL, *op = NULL;
        if (!json_is_object(f))
            return s_bad(field_p, msg_p, "filters", "each filter must be an object");
        if (s_json_keys(f, keys, "filters", field_p, msg_p) != TG_OK
            || s_json_str(json_object_get(f, "dimension"), "filters.dimension", &dim, field_p,
                          msg_p)
                   != TG_OK
            || s_json_str(json_object_get(f, "operator"), "filters.operator", &op, field_p, msg_p)
                   != TG_OK)
            return TG_INVALID;
        int d = s_dim(dim, strlen(dim), "filters.dimension", field_p, msg_p);
        if (d < 0)
            return TG_INVALID;
        bool in = strcmp(op, "in") == 0;
        if (!in && strcmp(op, "eq") != 0)
            return s_bad(field_p, msg_p, "filters.operator",
                         "a filter's operator must be eq or in");
        json_t *val = json_object_get(f, "value");
        analytics_mq_filter_t *flt = s_add_filter(q, d, "filters", field_p, msg_p);
        if (!flt)
            return TG_INVALID;
        if (!in) {
            const char *s = NULL;
            if (s_json_str(val, "filters.value", &s, field_p, msg_p) != TG_OK
                || s_filter_value(flt, s, strlen(s), "filters.value", field_p, msg_p) != TG_OK)
                return TG_INVALID;
            continue;
        }
        if (!json_is_array(val) || json_array_size(val) == 0)
            return s_bad(field_p, msg_p, "filters.value",
                         "an \"in\" filter's value must be a non-empty array of strings");
        size_t j;
        json_t *s;
        json_array_foreach(val, j, s)
        {
            const char *str = NULL;
            if (s_json_str(s, "filters.value", &str, field_p, msg_p) != TG_OK
                || s_filter_value(flt, str, strlen(str), "filters.value", field_p, msg_p) != TG_OK)
                return TG_INVALID;
        }
    }
    return TG_OK;
}

static int
s_json_having(analytics_mq_t *q, json_t *v, const char **field_p, char **msg_p)
{
    if (!json_is_array(v))
        return s_bad(field_p, msg_p, "having",
                     "having must be an array of {metric, aggregation, operator, value}");
    if (json_array_size(v) > ANALYTICS_MQ_MAX_HAVING)
        return s_bad(field_p, msg_p, "having", "too many having conditions: at most %d",
                     ANALYTICS_MQ_MAX_HAVING);
    static const char *const keys[] = {"metric", "aggregation", "operator", "value", NULL};
    size_t i;
    json_t *h;
    json_array_foreach(v, i, h)
    {
        const char *metric = NULL, *agg = NULL, *op = NULL;
        if (!json_is_object(h))
            return s_bad(field_p, msg_p, "having", "each having condition must be an object");
        if (s_json_keys(h, keys, "having", field_p, msg_p) != TG_OK
            || s_json_str(json_object_get(h, "metric"), "having.metric", &metric, field_p, msg_p)
                   != TG_OK
            || s_json_str(json_object_get(h, "operator"), "having.operator", &op, field_p, msg_p)
                   != TG_OK)
            return TG_INVALID;
        json_t *a = json_object_get(h, "aggregation");
        if (a && s_json_str(a, "having.aggregation", &agg, field_p, msg_p) != TG_OK)
            return TG_INVALID;
        int m = s_metric(metric, strlen(metric), "having.metric", field_p, msg_p);
        if (m < 0)
            return TG_INVALID;
        int ai = agg ? s_agg(agg, "having.aggregation", field_p, msg_p)
                     : (int)analytics_mq_agg_default((analytics_mq_metric_t)m);
        if (ai < 0
            || s_agg_check((analytics_mq_metric_t)m, (analytics_mq_agg_t)ai, "having.aggregation",
                           field_p, msg_p)
                   != TG_OK)
            return TG_INVALID;
        int o = s_lookup(s_ops, 6, op, strlen(op));
        if (o < 0)
            return s_bad(field_p, msg_p, "having.operator",
                         "a having operator must be gt, gte, lt, lte, eq or ne");
        json_t *val = json_object_get(h, "value");
        if (!json_is_number(val) || !isfinite(json_number_value(val)))
            return s_bad(field_p, msg_p, "having.value", "a having value must be a number");
        analytics_mq_having_t *hv = &q->having[q->nhaving++];
        hv->metric = (analytics_mq_metric_t)m;
        hv->agg = (analytics_mq_agg_t)ai;
        hv->op = (analytics_mq_op_t)o;
        hv->value = json_number_value(val);
        if (ai >= MQ_P50)
            q->needs_sketches = true;
    }
    return TG_OK;
}

static int
s_json_sort(analytics_mq_t *q, json_t *v, const char **field_p, char **msg_p)
{
    static const char *const keys[] = {"field", "descending", NULL};
    const char *field = NULL;
    if (!json_is_object(v))
        return s_bad(field_p, msg_p, "sort_by", "sort_by must be {field, descending}");
    if (s_json_keys(v, keys, "sort_by", field_p, msg_p) != TG_OK
        || s_json_str(json_object_get(v, "field"), "sort_by.field", &field, field_p, msg_p)
               != TG_OK)
        return TG_INVALID;
    json_t *d = json_object_get(v, "descending");
    if (d && !json_is_boolean(d))
        return s_bad(field_p, msg_p, "sort_by.descending", "descending must be true or false");
    q->sort_desc = d && json_is_true(d);
    if (strcmp(field, "timestamp") == 0) {
        q->sort_kind = MQ_SORT_TIME;
        return TG_OK;
    }
    for (size_t i = 0; i < q->ncols; i++)
        if (strcmp(q->cols[i].name, field) == 0) {
            q->sort_kind = MQ_SORT_COL;
            q->sort_ix = i;
            return TG_OK;
        }
    for (size_t i = 0; i < q->ncols; i++)  //  a metric's name for its (first) column
        if (strcmp(s_metrics[q->cols[i].metric], field) == 0) {
            q->sort_kind = MQ_SORT_COL;
            q->sort_ix = i;
            return TG_OK;
        }
    for (size_t i = 0; i < q->ngroup; i++)
        if (strcmp(s_dims[q->group[i]], field) == 0) {
            q->sort_kind = MQ_SORT_DIM;
            q->sort_ix = q->group[i];
            return TG_OK;
        }
    return s_bad(field_p, msg_p, "sort_by.field",
                 "sort_by.field \"%.64s\" is none of the query's metrics, aliases, group_by "
                 "dimensions or timestamp",
                 field);
}

int
analytics_mq_parse_json(const char *body,
                        size_t len,
                        int64_t now_us,
                        analytics_mq_t *q,
                        const char **field_p,
                        char **msg_p)
{
    s_init(q, MQ_QUERY, now_us);
    *field_p = NULL;
    *msg_p = NULL;
    json_error_t jerr;
    json_t *doc = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!doc)
        return s_bad(field_p, msg_p, "body", "the body must be a JSON object%s%.200s",
                     body ? ": " : "", body ? jerr.text : "");
    int rc = TG_OK;
    static const char *const keys[] = {"metrics", "interval", "start_time", "end_time", "group_by",
                                       "filters", "having",   "sort_by",    "limit",    NULL};
    bool start_given = false;
    if (!json_is_object(doc))
        rc = s_bad(field_p, msg_p, "body", "the body must be a JSON object");
    else
        rc = s_json_keys(doc, keys, "body", field_p, msg_p);
    json_t *v;
    if (rc == TG_OK)
        rc = s_json_metrics(q, json_object_get(doc, "metrics"), field_p, msg_p);
    if (rc == TG_OK && (v = json_object_get(doc, "interval")) && !json_is_null(v)) {
        const char *s = NULL;
        rc = s_json_str(v, "interval", &s, field_p, msg_p);
        int i = rc == TG_OK ? s_lookup(s_intervals, MQ_INTERVALS, s, strlen(s)) : 0;
        if (i < 0)
            rc = s_bad(field_p, msg_p, "interval", "interval must be 1min, 5min, 1hour or 1day");
        q->interval = (analytics_mq_interval_t)(i < 0 ? 0 : i);
        q->interval_given = true;
    }
    const char *s = NULL;
    if (rc == TG_OK && (v = json_object_get(doc, "start_time")) && !json_is_null(v)) {
        rc = s_json_str(v, "start_time", &s, field_p, msg_p);
        if (rc == TG_OK)
            rc = s_time(s, &q->start_us, "start_time", field_p, msg_p);
        start_given = true;
    }
    if (rc == TG_OK && (v = json_object_get(doc, "end_time")) && !json_is_null(v)) {
        rc = s_json_str(v, "end_time", &s, field_p, msg_p);
        if (rc == TG_OK)
            rc = s_time(s, &q->end_us, "end_time", field_p, msg_p);
    }
    if (rc == TG_OK && (v = json_object_get(doc, "group_by")) && !json_is_null(v))
        rc = s_json_group(q, v, field_p, msg_p);
    if (rc == TG_OK && (v = json_object_get(doc, "filters")) && !json_is_null(v))
        rc = s_json_filters(q, v, field_p, msg_p);
    if (rc == TG_OK && (v = json_object_get(doc, "having")) && !json_is_null(v))
        rc = s_json_having(q, v, field_p, msg_p);
    if (rc == TG_OK && (v = json_object_get(doc, "sort_by")) && !json_is_null(v))
        rc = s_json_sort(q, v, field_p, msg_p);
    if (rc == TG_OK && (v = json_object_get(doc, "limit")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1
            || json_integer_value(v) > ANALYTICS_MQ_MAX_LIMIT)
            rc = s_bad(field_p, msg_p, "limit", "limit must be an integer from 1 to %d",
                       ANALYTICS_MQ_MAX_LIMIT);
        else
            q->limit = (size_t)json_integer_value(v);
    }
    json_decref(doc);
    if (rc != TG_OK)
        return TG_INVALID;
    return s_finish(q, now_us, start_given, field_p, msg_p);
}

void
analytics_mq_fini(analytics_mq_t *q)
{
    for (size_t i = 0; i < q->nfilters; i++) {
        for (size_t j = 0; j < q->filters[i].n; j++)
            free(q->filters[i].values[j]);
        free(q->filters[i].values);
        q->filters[i].values = NULL;
        q->filters[i].n = 0;
    }
    q->nfilters = 0;
}
