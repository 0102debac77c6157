//  analytics_mx.c - metrics queries over the rollups (see the header).
#include "analytics_mx.h"
#include "tg_jsonw.h"
#include "tg_log.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <czmq.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BODY_LIMIT (32u << 20)  //  largest answer
#define S_MAX_ROWS 1000000        //  rows a query may build before it is refused (memory bound)
#define S_GROUP_KEY (17 + ANALYTICS_DIMS * (ANALYTICS_MAX_DIM + 1) + 1)

//  ---- values ------------------------------------------------------------------------------

static double
s_dist(const analytics_sketch_t *sk,
       uint64_t n,
       uint64_t sum,
       uint64_t min,
       uint64_t max,
       analytics_mq_agg_t a,
       bool *null_p)
{
    if (a == MQ_COUNT)
        return (double)n;
    if (n == 0) {
        *null_p = true;
        return 0;
    }
    static const double qs[] = {0.5, 0.9, 0.95, 0.99};
    switch (a) {
    case MQ_SUM:
        return (double)sum / 1000;
    case MQ_MIN:
        return (double)min / 1000;
    case MQ_MAX:
        return (double)max / 1000;
    case MQ_AVG:
        return (double)sum / (double)n / 1000;
    default:
        if (!sk || analytics_sketch_count(sk) == 0) {
            *null_p = true;
            return 0;
        }
        return analytics_sketch_quantile(sk, qs[a - MQ_P50]) / 1000;
    }
}

double
analytics_mx_value(const analytics_rollup_t *r,
                   analytics_mq_metric_t m,
                   analytics_mq_agg_t a,
                   bool *null_p)
{
    const analytics_totals_t *t = &r->totals;
    double n = (double)t->requests;
    *null_p = false;
    double v = 0;
    switch (m) {
    case MQ_DURATION:
        return s_dist(r->lat, t->requests, r->lat_sum_us, r->lat_min_us, r->lat_max_us, a, null_p);
    case MQ_TTFT:
        return s_dist(r->ttft, r->ttft_n, r->ttft_sum_us, r->ttft_min_us, r->ttft_max_us, a,
                      null_p);
    case MQ_ERROR_RATE:
    case MQ_SUCCESS_RATE:
    case MQ_CACHE_HIT_RATE:
        if (!t->requests) {
            *null_p = true;
            return 0;
        }
        v = m == MQ_ERROR_RATE     ? (double)t->errors
            : m == MQ_SUCCESS_RATE ? (double)(t->requests - t->errors)
                                   : (double)t->cache_hits;
        return v / n;
    case MQ_REQUEST_COUNT:
        v = n;
        break;
    case MQ_SUCCESS_COUNT:
        v = (double)(t->requests - t->errors);
        break;
    case MQ_ERROR_COUNT:
        v = (double)t->errors;
        break;
    case MQ_CACHE_HITS:
        v = (double)t->cache_hits;
        break;
    case MQ_TOTAL_TOKENS:
        v = (double)(t->tok_in + t->tok_out);
        break;
    case MQ_INPUT_TOKENS:
        v = (double)t->tok_in;
        break;
    case MQ_OUTPUT_TOKENS:
        v = (double)t->tok_out;
        break;
    case MQ_CACHED_TOKENS:
        v = (double)t->tok_cached;
        break;
    case MQ_TOTAL_COST:
        v = (double)t->cost_micro / 1e6;
        break;
    case MQ_INPUT_COST:
        v = (double)t->cost_in_micro / 1e6;
        break;
    case MQ_OUTPUT_COST:
        v = (double)(t->cost_micro - t->cost_in_micro) / 1e6;
        break;
    case MQ_SAVINGS:
        v = (double)t->savings_micro / 1e6;
        break;
    default:
        *null_p = true;
        return 0;
    }
    if (a == MQ_COUNT)
        return n;
    if (a == MQ_AVG) {
        if (!t->requests) {
            *null_p = true;
            return 0;
        }
        return v / n;
    }
    return v;
}

//  Writes one value in its unit's form.
static void
s_write_value(tg_jsonw_t *w,
              const char *name,
              analytics_mq_metric_t m,
              analytics_mq_agg_t a,
              double v,
              bool null)
{
    if (null) {
        tg_jsonw_str(w, name, NULL);
        return;
    }
    bool money = m == MQ_TOTAL_COST || m == MQ_INPUT_COST || m == MQ_OUTPUT_COST || m == MQ_SAVINGS;
    bool rate = m == MQ_ERROR_RATE || m == MQ_SUCCESS_RATE || m == MQ_CACHE_HIT_RATE;
    if (a == MQ_COUNT || (a == MQ_SUM && !money && m != MQ_DURATION && m != MQ_TTFT))
        tg_jsonw_uint(w, name, (uint64_t)llround(v));
    else if (money || rate)
        tg_jsonw_fixed(w, name, v, 6);
    else
        tg_jsonw_fixed(w, name, v, 3);
}

//  ---- rows --------------------------------------------------------------------------------

typedef struct {
    int64_t ts;                  //  bucket start of the interval
    char *dims[ANALYTICS_DIMS];  //  grouped values (others NULL)
    analytics_rollup_t r;        //  merged rollups
    double *vals;                //  column values (after the walk)
    bool *nulls;                 //  columns without a value
} s_row_t;

static void
s_row_destroy(void **item)
{
    s_row_t *row = *item;
    for (int i = 0; i < ANALYTICS_DIMS; i++)
        free(row->dims[i]);
    analytics_rollup_fini(&row->r);
    free(row->vals);
    free(row->nulls);
    free(row);
    *item = NULL;
}

typedef struct {
    const analytics_mq_t *q;       //  the query
    const char *org;               //  limit (NULL: all)
    int64_t width;                 //  interval, µs (0: one bucket for the whole range)
    const analytics_dim_t *group;  //  dims making a row
    size_t ngroup;
    bool sketches;                     //  decode sketches
    bool filter_dims[ANALYTICS_DIMS];  //  summary: which filters apply (all when NULL q)
    zhashx_t *rows;                    //  key -> s_row_t
    size_t seen;                       //  records kept
    bool too_many;                     //  stopped at S_MAX_ROWS rows
} s_walk_t;

//  The dimension value as queries see it: an event without org belongs to "default".
static const char *
s_dim_value(const char *const dims[ANALYTICS_DIMS], int d)
{
    if (d == ANALYTICS_DIM_ORG && !dims[d][0])
        return "default";
    return dims[d];
}

//  True if the record passes the org limit and the query's filters.
static bool
s_keep(const s_walk_t *w, const char *const dims[ANALYTICS_DIMS])
{
    if (w->org && strcmp(s_dim_value(dims, ANALYTICS_DIM_ORG), w->org) != 0)
        return false;
    for (size_t i = 0; i < w->q->nfilters; i++) {
        const analytics_mq_filter_t *f = &w->q->filters[i];
        const char *v = s_dim_value(dims, f->dim);
        bool hit = false;
        for (size_t j = 0; j < f->n && !hit; j++)
            hit = strcmp(f->values[j], v) == 0;
        if (!hit)
            return false;
    }
    return true;
}

static int
s_on_record(int64_t bucket_us,
            const char *const dims[ANALYTICS_DIMS],
            const void *val,
            size_t vlen,
            void *arg)
{
    s_walk_t *w = arg;
    if (!s_keep(w, dims))
        return 0;
    int64_t ts = w->width ? bucket_us - bucket_us % w->width : 0;
    char key[S_GROUP_KEY];
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        key[i] = digits[((uint64_t)ts >> (60 - 4 * i)) & 15];
    size_t len = 16;
    for (size_t i = 0; i < w->ngroup; i++) {
        const char *v = s_dim_value(dims, w->group[i]);
        size_t n = strlen(v);
        memcpy(key + len, v, n);
        len += n;
        key[len++] = '\x1f';
    }
    key[len] = 0;
    analytics_rollup_t r;
    if (analytics_rollup_decode_ex(val, vlen, w->sketches, &r) != TG_OK) {
        tg_log_warn("metrics query skipped an unreadable rollup record vlen=%zu", vlen);
        return 0;
    }
    s_row_t *row = zhashx_lookup(w->rows, key);
    if (!row && zhashx_size(w->rows) >= S_MAX_ROWS) {
        analytics_rollup_fini(&r);
        w->too_many = true;
        return 1;  //  stop: the answer would be too large to be useful
    }
    if (!row) {
        row = tg_zalloc(sizeof *row);
        row->ts = ts;
        for (size_t i = 0; i < w->ngroup; i++)
            row->dims[w->group[i]] = tg_strdup(s_dim_value(dims, w->group[i]));
        if (w->sketches)
            analytics_rollup_init(&row->r);
        zhashx_insert(w->rows, key, row);
    }
    analytics_rollup_merge(&row->r, &r);
    analytics_rollup_fini(&r);
    w->seen++;
    return 0;
}

//  The family a query reads.
static analytics_res_t
s_family(const analytics_mq_t *q)
{
    if (q->interval <= MQ_5MIN)
        return ANALYTICS_MINUTE;
    if (q->interval == MQ_1HOUR)
        return ANALYTICS_HOUR;
    return q->needs_users ? ANALYTICS_DAY_USER : ANALYTICS_DAY;
}

static const char *
s_source(analytics_res_t res)
{
    static const char *const names[ANALYTICS_RESOLUTIONS] = {
        "rollups_1min", "rollups_1hour", "rollups_1day", "rollups_1day_per_user",
        "rollups_1hour_errors"};
    return names[res];
}

static int
s_cmp_dims(const s_row_t *x, const s_row_t *y, const analytics_mq_t *q)
{
    for (size_t i = 0; i < q->ngroup; i++) {
        int c = strcmp(x->dims[q->group[i]], y->dims[q->group[i]]);
        if (c)
            return c;
    }
    return 0;
}

static int
s_row_cmp(const void *a, const void *b, void *arg)
{
    const s_row_t *x = *(s_row_t *const *)a, *y = *(s_row_t *const *)b;
    const analytics_mq_t *q = arg;
    int c = 0;
    if (q->sort_kind == MQ_SORT_COL) {
        size_t i = q->sort_ix;
        if (x->nulls[i] != y->nulls[i])
            c = x->nulls[i] ? -1 : 1;  //  no value sorts lowest
        else if (!x->nulls[i] && x->vals[i] != y->vals[i])
            c = x->vals[i] < y->vals[i] ? -1 : 1;
    } else if (q->sort_kind == MQ_SORT_DIM)
        c = strcmp(x->dims[q->sort_ix], y->dims[q->sort_ix]);
    else if (x->ts != y->ts)
        c = x->ts < y->ts ? -1 : 1;
    if (q->sort_desc)
        c = -c;
    if (c)
        return c;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return s_cmp_dims(x, y, q);
}

static bool
s_having_ok(const analytics_mq_t *q, const s_row_t *row)
{
    for (size_t i = 0; i < q->nhaving; i++) {
        const analytics_mq_having_t *h = &q->having[i];
        bool null;
        double v = analytics_mx_value(&row->r, h->metric, h->agg, &null);
        if (null)
            return false;
        bool ok = h->op == MQ_GT    ? v > h->value
                  : h->op == MQ_GTE ? v >= h->value
                  : h->op == MQ_LT  ? v < h->value
                  : h->op == MQ_LTE ? v <= h->value
                  : h->op == MQ_EQ  ? v == h->value
                                    : v != h->value;
        if (!ok)
            return false;
    }
    return true;
}

//  Walks the rows of a query into w->rows. TG_OK or TG_ERR.
static int
s_collect(analytics_store_t *store, s_walk_t *w, analytics_res_t res, int64_t from, int64_t to)
{
    w->rows = zhashx_new();
    zhashx_set_destructor(w->rows, s_row_destroy);
    if (from > to)
        return TG_OK;
    int64_t lo = analytics_rollup_bucket(res, from < 0 ? 0 : from);
    return analytics_store_rollups_raw(store, res, lo, to, s_on_record, w);
}

int
analytics_mx_metrics(analytics_store_t *store,
                     const analytics_mq_t *q,
                     const char *org,
                     char **body_p)
{
    *body_p = NULL;
    analytics_res_t res = s_family(q);
    int64_t width = analytics_mq_interval_us(q->interval);
    s_walk_t w = {.q = q,
                  .org = org,
                  .width = width,
                  .group = q->group,
                  .ngroup = q->ngroup,
                  .sketches = q->needs_sketches};
    int rc = s_collect(store, &w, res, q->start_us - q->start_us % width, q->end_us - 1);
    if (rc != TG_OK || w.too_many) {
        zhashx_destroy(&w.rows);
        return w.too_many ? TG_AGAIN : TG_ERR;
    }
    size_t n = zhashx_size(w.rows), kept = 0;
    s_row_t **rows = tg_zalloc((n ? n : 1) * sizeof *rows);
    for (s_row_t *row = zhashx_first(w.rows); row; row = zhashx_next(w.rows)) {
        if (!s_having_ok(q, row))
            continue;
        row->vals = tg_zalloc((q->ncols ? q->ncols : 1) * sizeof *row->vals);
        row->nulls = tg_zalloc((q->ncols ? q->ncols : 1) * sizeof *row->nulls);
        for (size_t c = 0; c < q->ncols; c++)
            row->vals[c] =
                analytics_mx_value(&row->r, q->cols[c].metric, q->cols[c].agg, &row->nulls[c]);
        rows[kept++] = row;
    }
    qsort_r(rows, kept, sizeof *rows, s_row_cmp, (void *)q);
    size_t out = kept < q->limit ? kept : q->limit;

    tg_jsonw_t *jw = tg_jsonw_new(S_BODY_LIMIT);
    char ts[40];
    tg_jsonw_object(jw, NULL);
    tg_jsonw_object(jw, "metadata");
    tg_jsonw_str(jw, "interval", analytics_mq_interval_name(q->interval));
    tg_time_rfc3339(q->start_us, ts, sizeof ts);
    tg_jsonw_str(jw, "start_time", ts);
    tg_time_rfc3339(q->end_us, ts, sizeof ts);
    tg_jsonw_str(jw, "end_time", ts);
    tg_jsonw_array(jw, "metrics");
    for (size_t c = 0; c < q->ncols; c++)
        tg_jsonw_str(jw, NULL, q->cols[c].name);
    tg_jsonw_end(jw);
    tg_jsonw_array(jw, "group_by");
    for (size_t i = 0; i < q->ngroup; i++)
        tg_jsonw_str(jw, NULL, analytics_mq_dim_name(q->group[i]));
    tg_jsonw_end(jw);
    tg_jsonw_str(jw, "data_source", s_source(res));
    if (q->kind == MQ_QUERY) {
        tg_jsonw_uint(jw, "filters_applied", q->nfilters);
        tg_jsonw_uint(jw, "having_conditions", q->nhaving);
        tg_jsonw_uint(jw, "total_rows", kept);
    } else
        tg_jsonw_uint(jw, "total_points", kept);
    tg_jsonw_uint(jw, "returned", out);
    tg_jsonw_bool(jw, "truncated", out < kept);
    tg_jsonw_str(jw, "organization", org);
    tg_jsonw_end(jw);
    tg_jsonw_array(jw, "data");
    for (size_t i = 0; i < out; i++) {
        const s_row_t *row = rows[i];
        tg_jsonw_object(jw, NULL);
        tg_time_rfc3339(row->ts, ts, sizeof ts);
        tg_jsonw_str(jw, "timestamp", ts);
        for (size_t g = 0; g < q->ngroup; g++)
            tg_jsonw_str(jw, analytics_mq_dim_name(q->group[g]), row->dims[q->group[g]]);
        for (size_t c = 0; c < q->ncols; c++)
            s_write_value(jw, q->cols[c].name, q->cols[c].metric, q->cols[c].agg, row->vals[c],
                          row->nulls[c]);
        tg_jsonw_end(jw);
    }
    tg_jsonw_end(jw);
    tg_jsonw_end(jw);
    free(rows);
    zhashx_destroy(&w.rows);
    *body_p = tg_jsonw_take(jw, NULL);
    tg_jsonw_destroy(&jw);
    return *body_p ? TG_OK : TG_AGAIN;
}

//  ---- summary -----------------------------------------------------------------------------

//  Adds the rollups of `res` whose buckets start in [a, b) (a floored to the bucket) to
//  w->rows.
static int
s_walk_into(analytics_store_t *store, s_walk_t *w, analytics_res_t res, int64_t a, int64_t b)
{
    if (a >= b)
        return TG_OK;
    return analytics_store_rollups_raw(store, res, analytics_rollup_bucket(res, a < 0 ? 0 : a),
                                       b - 1, s_on_record, w);
}

//  Covers [a, b) with the coarsest rollups that fit: whole days from day rollups, whole hours
//  from hour rollups, the edges from the finest family still kept at `a` (minutes for
//  the last 37 days): exact to the minute then, yet few records.
static int
s_span(analytics_store_t *store, s_walk_t *w, int64_t a, int64_t b, int64_t now, int lvl)
{
    static const analytics_res_t levels[] = {ANALYTICS_MINUTE, ANALYTICS_HOUR, ANALYTICS_DAY};
    if (lvl < 0) {
        lvl = 0;
        while (lvl < 2 && a < now - analytics_rollup_horizon(levels[lvl]))
            lvl++;
    }
    if (a >= b)
        return TG_OK;
    if (lvl == 2)
        return s_walk_into(store, w, ANALYTICS_DAY, a, b);
    int64_t width = analytics_rollup_width(levels[lvl + 1]);
    int64_t lo = (a + width - 1) / width * width, hi = b / width * width;
    if (lo >= hi)
        return s_walk_into(store, w, levels[lvl], a, b);
    int rc = s_walk_into(store, w, levels[lvl], a, lo);
    if (rc == TG_OK)
        rc = s_walk_into(store, w, levels[lvl], hi, b);
    return rc == TG_OK ? s_span(store, w, lo, hi, now, lvl + 1) : rc;
}

static const analytics_dim_t s_item_dims[] = {ANALYTICS_DIM_PROVIDER, ANALYTICS_DIM_MODEL};

//  Totals of a period, and per provider/model rows when items_p.
static int
s_period(analytics_store_t *store,
         const analytics_mq_t *q,
         const char *org,
         int64_t start,
         int64_t end,
         int64_t now,
         analytics_rollup_t *all,
         zhashx_t **items_p)
{
    s_walk_t w = {
        .q = q, .org = org, .width = 0, .group = s_item_dims, .ngroup = 2, .sketches = true};
    w.rows = zhashx_new();
    zhashx_set_destructor(w.rows, s_row_destroy);
    int rc = s_span(store, &w, start, end, now, -1);
    analytics_rollup_init(all);
    for (s_row_t *row = zhashx_first(w.rows); row; row = zhashx_next(w.rows))
        analytics_rollup_merge(all, &row->r);
    if (items_p && rc == TG_OK)
        *items_p = w.rows;
    else
        zhashx_destroy(&w.rows);
    return rc;
}

static void
s_period_json(tg_jsonw_t *w,
              const char *name,
              int64_t start,
              int64_t end,
              const analytics_rollup_t *r,
              bool full)
{
    char ts[40];
    bool null;
    tg_jsonw_object(w, name);
    tg_time_rfc3339(start, ts, sizeof ts);
    tg_jsonw_str(w, "start_time", ts);
    tg_time_rfc3339(end, ts, sizeof ts);
    tg_jsonw_str(w, "end_time", ts);
    tg_jsonw_uint(w, "total_requests", r->totals.requests);
    tg_jsonw_fixed(w, "total_cost_usd", (double)r->totals.cost_micro / 1e6, 6);
    tg_jsonw_uint(w, "total_tokens", r->totals.tok_in + r->totals.tok_out);
    double d = analytics_mx_value(r, MQ_DURATION, MQ_AVG, &null);
    s_write_value(w, "avg_duration_ms", MQ_DURATION, MQ_AVG, d, null);
    if (full) {
        d = analytics_mx_value(r, MQ_DURATION, MQ_P95, &null);
        s_write_value(w, "p95_duration_ms", MQ_DURATION, MQ_P95, d, null);
    }
    d = analytics_mx_value(r, MQ_ERROR_RATE, MQ_AVG, &null);
    s_write_value(w, "error_rate", MQ_ERROR_RATE, MQ_AVG, d, null);
    if (full) {
        d = analytics_mx_value(r, MQ_SUCCESS_RATE, MQ_AVG, &null);
        s_write_value(w, "success_rate", MQ_SUCCESS_RATE, MQ_AVG, d, null);
    }
}

static void
s_change(tg_jsonw_t *w, const char *name, double cur, bool cur_null, double prev, bool prev_null)
{
    if (cur_null || prev_null || prev == 0)
        tg_jsonw_str(w, name, NULL);
    else
        tg_jsonw_fixed(w, name, (cur - prev) / prev * 100, 2);
}

typedef struct {
    const s_row_t *row;
    double v;
} s_item_t;

static int
s_item_cmp(const void *a, const void *b)
{
    const s_item_t *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    int c = strcmp(x->row->dims[ANALYTICS_DIM_PROVIDER], y->row->dims[ANALYTICS_DIM_PROVIDER]);
    return c ? c : strcmp(x->row->dims[ANALYTICS_DIM_MODEL], y->row->dims[ANALYTICS_DIM_MODEL]);
}

static void
s_top(tg_jsonw_t *w,
      const char *name,
      zhashx_t *items,
      analytics_mq_metric_t m,
      analytics_mq_agg_t a,
      size_t top)
{
    size_t n = zhashx_size(items), k = 0;
    s_item_t *arr = tg_zalloc((n ? n : 1) * sizeof *arr);
    for (s_row_t *row = zhashx_first(items); row; row = zhashx_next(items)) {
        bool null;
        double v = analytics_mx_value(&row->r, m, a, &null);
        if (!null && v > 0)
            arr[k++] = (s_item_t){row, v};
    }
    qsort(arr, k, sizeof *arr, s_item_cmp);
    tg_jsonw_array(w, name);
    for (size_t i = 0; i < k && i < top; i++) {
        tg_jsonw_object(w, NULL);
        tg_jsonw_str(w, "provider", arr[i].row->dims[ANALYTICS_DIM_PROVIDER]);
        tg_jsonw_str(w, "model", arr[i].row->dims[ANALYTICS_DIM_MODEL]);
        s_write_value(w, "value", m, a, arr[i].v, false);
        tg_jsonw_uint(w, "requests", arr[i].row->r.totals.requests);
        tg_jsonw_end(w);
    }
    tg_jsonw_end(w);
    free(arr);
}

//  Distinct users of the days the range touches (day rollups per user).
typedef struct {
    s_walk_t w;
    zhashx_t *users;  //  user -> non-NULL
    bool capped;      //  "(other)" seen: the count is a lower bound
} s_users_t;

static int
s_on_user(int64_t bucket_us,
          const char *const dims[ANALYTICS_DIMS],
          const void *val,
          size_t vlen,
          void *arg)
{
    (void)bucket_us;
    (void)val;
    (void)vlen;
    s_users_t *u = arg;
    const char *user = dims[ANALYTICS_DIM_USER];
    if (!*user || !s_keep(&u->w, dims))
        return 0;
    if (strcmp(user, ANALYTICS_USER_OTHER) == 0)
        u->capped = true;
    else
        zhashx_insert(u->users, user, (void *)1);
    return 0;
}

int
analytics_mx_summary(analytics_store_t *store,
                     const analytics_mq_t *q,
                     const char *org,
                     int64_t now_us,
                     char **body_p)
{
    *body_p = NULL;
    int64_t start = q->start_us, end = q->end_us, span = end - start;
    analytics_rollup_t cur, prev;
    zhashx_t *items = NULL;
    int rc = s_period(store, q, org, start, end, now_us, &cur, &items);
    analytics_rollup_init(&prev);
    if (rc == TG_OK && q->compare) {
        analytics_rollup_fini(&prev);
        rc = s_period(store, q, org, start - span, start, now_us, &prev, NULL);
    }
    //  errors: the hour family of error events
    s_walk_t ew = {.q = q,
                   .org = org,
                   .width = 0,
                   .group = (const analytics_dim_t[]){ANALYTICS_DIM_USER},
                   .ngroup = 1,
                   .sketches = false};
    if (rc == TG_OK)
        rc = s_collect(store, &ew, ANALYTICS_HOUR_ERRORS, start, end - 1);
    s_users_t uw = {.w = {.q = q, .org = org}, .users = zhashx_new()};
    bool users_known = start >= now_us - analytics_rollup_horizon(ANALYTICS_DAY_USER);
    for (size_t i = 0; i < q->nfilters; i++)  //  per-user rollups keep no key or agent
        if (q->filters[i].dim == ANALYTICS_DIM_KEY || q->filters[i].dim == ANALYTICS_DIM_AGENT)
            users_known = false;
    if (rc == TG_OK && users_known)
        rc = analytics_store_rollups_raw(store, ANALYTICS_DAY_USER,
                                         analytics_rollup_bucket(ANALYTICS_DAY_USER, start),
                                         end - 1, s_on_user, &uw);
    if (rc != TG_OK) {
        analytics_rollup_fini(&cur);
        analytics_rollup_fini(&prev);
        zhashx_destroy(&items);
        zhashx_destroy(&ew.rows);
        zhashx_destroy(&uw.users);
        return TG_ERR;
    }
    tg_jsonw_t *w = tg_jsonw_new(S_BODY_LIMIT);
    tg_jsonw_object(w, NULL);
    s_period_json(w, "current_period", start, end, &cur, true);
    if (users_known)
        tg_jsonw_uint(w, "unique_users", zhashx_size(uw.users));
    else
        tg_jsonw_str(w, "unique_users", NULL);
    tg_jsonw_bool(w, "unique_users_lower_bound", uw.capped);
    tg_jsonw_str(w, "unique_sessions", NULL);  //  sessions are not recorded
    tg_jsonw_end(w);
    if (q->compare) {
        s_period_json(w, "previous_period", start - span, start, &prev, false);
        tg_jsonw_end(w);
        tg_jsonw_object(w, "changes");
        bool cn, pn;
        s_change(w, "requests_change_pct", (double)cur.totals.requests, false,
                 (double)prev.totals.requests, false);
        s_change(w, "cost_change_pct", (double)cur.totals.cost_micro, false,
                 (double)prev.totals.cost_micro, false);
        double c = analytics_mx_value(&cur, MQ_DURATION, MQ_AVG, &cn);
        double p = analytics_mx_value(&prev, MQ_DURATION, MQ_AVG, &pn);
        s_change(w, "duration_change_pct", c, cn, p, pn);
        c = analytics_mx_value(&cur, MQ_ERROR_RATE, MQ_AVG, &cn);
        p = analytics_mx_value(&prev, MQ_ERROR_RATE, MQ_AVG, &pn);
        s_change(w, "error_rate_change_pct", c, cn, p, pn);
        tg_jsonw_end(w);
    } else {
        tg_jsonw_str(w, "previous_period", NULL);
        tg_jsonw_str(w, "changes", NULL);
    }
    tg_jsonw_object(w, "top_items");
    s_top(w, "by_cost", items, MQ_TOTAL_COST, MQ_SUM, q->top);
    s_top(w, "by_requests", items, MQ_REQUEST_COUNT, MQ_SUM, q->top);
    s_top(w, "by_duration", items, MQ_DURATION, MQ_AVG, q->top);
    s_top(w, "by_errors", items, MQ_ERROR_COUNT, MQ_SUM, q->top);
    tg_jsonw_end(w);
    tg_jsonw_object(w, "quality");
    uint64_t errors = cur.totals.errors;
    tg_jsonw_uint(w, "error_count", errors);
    tg_jsonw_uint(w, "success_count", cur.totals.requests - errors);
    bool null;
    double v = analytics_mx_value(&cur, MQ_ERROR_RATE, MQ_AVG, &null);
    s_write_value(w, "error_rate", MQ_ERROR_RATE, MQ_AVG, v, null);
    v = analytics_mx_value(&cur, MQ_SUCCESS_RATE, MQ_AVG, &null);
    s_write_value(w, "success_rate", MQ_SUCCESS_RATE, MQ_AVG, v, null);
    //  most common errors: by count, then by name
    size_t ne = zhashx_size(ew.rows), k = 0;
    s_item_t *arr = tg_zalloc((ne ? ne : 1) * sizeof *arr);
    for (s_row_t *row = zhashx_first(ew.rows); row; row = zhashx_next(ew.rows))
        arr[k++] = (s_item_t){row, (double)row->r.totals.requests};
    tg_jsonw_array(w, "most_common_errors");
    for (size_t i = 0; i < k; i++)  //  s_item_cmp's name order needs provider/model: sort here
        for (size_t j = i + 1; j < k; j++)
            if (arr[j].v > arr[i].v
                || (arr[j].v == arr[i].v
                    && strcmp(arr[j].row->dims[ANALYTICS_DIM_USER],
                              arr[i].row->dims[ANALYTICS_DIM_USER])
                           < 0)) {
                s_item_t t = arr[i];
                arr[i] = arr[j];
                arr[j] = t;
            }
    for (size_t i = 0; i < k && i < q->top; i++) {
        const char *se = arr[i].row->dims[ANALYTICS_DIM_USER];  //  "<status> <error>"
        size_t sl = strcspn(se, " ");
        char status[24];
        snprintf(status, sizeof status, "%.*s", (int)(sl < 20 ? sl : 20), se);
        const char *msg = se[sl] ? se + sl + 1 : "";
        tg_jsonw_object(w, NULL);
        tg_jsonw_str(w, "status_code", status);
        tg_jsonw_uint(w, "count", (uint64_t)arr[i].v);
        tg_jsonw_fixed(w, "percentage", errors ? arr[i].v * 100 / (double)errors : 0, 2);
        char fallback[40];
        snprintf(fallback, sizeof fallback, "HTTP %s", status);
        tg_jsonw_str(w, "sample_message", *msg ? msg : fallback);
        tg_jsonw_end(w);
    }
    tg_jsonw_end(w);
    tg_jsonw_end(w);
    tg_jsonw_str(w, "organization", org);
    tg_jsonw_end(w);
    free(arr);
    analytics_rollup_fini(&cur);
    analytics_rollup_fini(&prev);
    zhashx_destroy(&items);
    zhashx_destroy(&ew.rows);
    zhashx_destroy(&uw.users);
    *body_p = tg_jsonw_take(w, NULL);
    tg_jsonw_destroy(&w);
    return *body_p ? TG_OK : TG_AGAIN;
}
