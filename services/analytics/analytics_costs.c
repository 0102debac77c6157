//  analytics_costs.c - cost analytics: today and month to date by provider, model and agent;
//  1-minute history from the minute rollups; the end-of-month prediction.
#include "analytics_costs.h"
#include "analytics_query.h"
#include "tg_jsonw.h"
#include "tg_log.h"
#include "tg_reply.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BODY_LIMIT (16u << 20)   //  largest answer (37 days of minutes is about 7 MB)
#define S_HISTORY_US 3600000000LL  //  default history: the last hour
#define S_DATA_DAYS 7.0            //  days of data for a confidence of 1 - 1/e

analytics_prediction_t
analytics_costs_predict(int64_t current_micro,
                        const int64_t *days_micro,
                        const uint64_t *days_requests,
                        size_t ndays,
                        double days_elapsed,
                        double days_remaining)
{
    analytics_prediction_t p = {0};
    p.daily_avg_micro = (double)current_micro / (days_elapsed > 1 ? days_elapsed : 1);
    p.predicted_micro =
        (double)current_micro + p.daily_avg_micro * (days_remaining > 0 ? days_remaining : 0);
    size_t first = 0;
    while (first < ndays && days_requests[first] == 0)
        first++;
    size_t n = ndays - first;
    p.days_of_data = n;
    double mean = 0, var = 0;
    for (size_t i = first; i < ndays; i++)
        mean += (double)days_micro[i];
    mean = n ? mean / (double)n : 0;
    for (size_t i = first; i < ndays; i++)
        var += ((double)days_micro[i] - mean) * ((double)days_micro[i] - mean);
    p.cv = n >= 2 && mean > 0 ? sqrt(var / (double)n) / mean : 0;
    p.confidence = (1 - exp(-(double)n / S_DATA_DAYS)) / (1 + p.cv);
    p.confidence = p.confidence < 0 ? 0 : (p.confidence > 1 ? 1 : p.confidence);
    return p;
}

//  ---- GET /v1/costs --------------------------------------------------------------------

static const struct {
    unsigned by;       //  ANALYTICS_BY_* bit
    const char *name;  //  JSON member and field name
} s_dims[] = {
    {ANALYTICS_BY_PROVIDER, "provider"},
    {ANALYTICS_BY_MODEL, "model"},
    {ANALYTICS_BY_AGENT, "agent"},
};

static void
s_figures(tg_jsonw_t *w, const analytics_totals_t *t)
{
    tg_jsonw_fixed(w, "cost_usd", (double)t->cost_micro / 1e6, 6);
    tg_jsonw_uint(w, "requests", t->requests);
    tg_jsonw_uint(w, "errors", t->errors);
    tg_jsonw_uint(w, "tokens_in", t->tok_in);
    tg_jsonw_uint(w, "tokens_out", t->tok_out);
    tg_jsonw_uint(w, "tokens_cached", t->tok_cached);
    tg_jsonw_uint(w, "tokens_total", t->tok_in + t->tok_out);
}

//  One period: its totals and its groups by provider, model and agent. TG_OK or TG_ERR.
static int
s_period(tg_jsonw_t *w,
         analytics_store_t *store,
         const char *name,
         const char *label_key,
         const char *label,
         int64_t start,
         int64_t end)
{
    char ts[40];
    tg_jsonw_object(w, name);
    tg_jsonw_str(w, label_key, label);
    tg_time_rfc3339(start, ts, sizeof ts);
    tg_jsonw_str(w, "start", ts);
    for (size_t d = 0; d < sizeof s_dims / sizeof s_dims[0]; d++) {
        analytics_group_t *g = NULL;
        size_t n = 0;
        if (analytics_store_usage(store, start, end, s_dims[d].by, &g, &n) != TG_OK)
            return TG_ERR;
        if (d == 0) {
            analytics_totals_t all = {0};
            for (size_t i = 0; i < n; i++)
                analytics_totals_add(&all, &g[i].totals);
            s_figures(w, &all);
        }
        char member[16];
        snprintf(member, sizeof member, "by_%s", s_dims[d].name);
        tg_jsonw_array(w, member);
        for (size_t i = 0; i < n; i++) {
            const char *v = s_dims[d].by == ANALYTICS_BY_PROVIDER ? g[i].provider
                            : s_dims[d].by == ANALYTICS_BY_MODEL  ? g[i].model
                                                                  : g[i].agent;
            tg_jsonw_object(w, NULL);
            tg_jsonw_str(w, s_dims[d].name, v ? v : "");
            s_figures(w, &g[i].totals);
            tg_jsonw_end(w);
        }
        tg_jsonw_end(w);
        analytics_groups_free(&g, n);
    }
    tg_jsonw_end(w);
    return TG_OK;
}

static tg_frame_t *
s_reply(const tg_fr_query_t *q, tg_jsonw_t **w_p, const char *what)
{
    char *body = tg_jsonw_take(*w_p, NULL);
    tg_jsonw_destroy(w_p);
    if (!body) {
        char *msg = tg_strfmt("%s answer too large", what);
        tg_frame_t *r = tg_reply_error(q->id, 500, msg, NULL);
        free(msg);
        return r;
    }
    return tg_reply_new(q->id, 200, &body);
}

static tg_frame_t *
s_costs(analytics_store_t *store, const tg_fr_query_t *q, int64_t now)
{
    char day[TG_UTC_DAY_LEN], month[TG_UTC_MONTH_LEN], ts[40];
    tg_utc_day(now, day);
    tg_utc_month(now, month);
    tg_jsonw_t *w = tg_jsonw_new(S_BODY_LIMIT);
    tg_jsonw_object(w, NULL);
    tg_jsonw_str(w, "object", "costs");
    tg_time_rfc3339(now, ts, sizeof ts);
    tg_jsonw_str(w, "as_of", ts);
    tg_jsonw_str(w, "currency", "USD");
    if (s_period(w, store, "today", "date", day, tg_utc_day_start(now), now) != TG_OK
        || s_period(w, store, "month_to_date", "month", month, tg_utc_month_start(now), now)
               != TG_OK) {
        tg_jsonw_destroy(&w);
        return tg_reply_error(q->id, 500, "cost data could not be read", NULL);
    }
    tg_jsonw_end(w);
    return s_reply(q, &w, "costs");
}

//  ---- GET /v1/costs/history ------------------------------------------------------------

typedef struct {
    tg_jsonw_t *w;             //  the answer
    int64_t bucket;            //  minute being summed (-1: none yet)
    analytics_totals_t t;      //  its sums over every group
    int64_t cumulative_micro;  //  cost since `since`
    size_t points;             //  points written
} s_history_t;

static void
s_point(s_history_t *h)
{
    if (h->bucket < 0)
        return;
    char ts[40];
    h->cumulative_micro += h->t.cost_micro;
    tg_jsonw_object(h->w, NULL);
    tg_time_rfc3339(h->bucket, ts, sizeof ts);
    tg_jsonw_str(h->w, "ts", ts);
    tg_jsonw_fixed(h->w, "cost_usd", (double)h->t.cost_micro / 1e6, 6);
    tg_jsonw_fixed(h->w, "cumulative_usd", (double)h->cumulative_micro / 1e6, 6);
    tg_jsonw_uint(h->w, "requests", h->t.requests);
    tg_jsonw_uint(h->w, "tokens_in", h->t.tok_in);
    tg_jsonw_uint(h->w, "tokens_out", h->t.tok_out);
    tg_jsonw_end(h->w);
    h->points++;
    memset(&h->t, 0, sizeof h->t);
}

static int
s_on_minute(analytics_res_t res,
            int64_t bucket_us,
            const char *const dims[ANALYTICS_DIMS],
            const analytics_rollup_t *r,
            void *arg)
{
    (void)res;
    (void)dims;
    s_history_t *h = arg;
    if (bucket_us != h->bucket) {
        s_point(h);
        h->bucket = bucket_us;
    }
    analytics_totals_add(&h->t, &r->totals);
    return 0;
}

static tg_frame_t *
s_history(analytics_store_t *store, const tg_fr_query_t *q, int64_t now)
{
    int64_t since = now - S_HISTORY_US;
    struct evkeyvalq args;
    TAILQ_INIT(&args);
    if (q->args && *q->args && evhttp_parse_query_str(q->args, &args) != 0) {
        evhttp_clear_headers(&args);
        return tg_reply_error(q->id, 400, "malformed query string", NULL);
    }
    const char *v = evhttp_find_header(&args, "since");
    bool bad = v && analytics_query_time(v, &since) != TG_OK;
    evhttp_clear_headers(&args);
    if (bad)
        return tg_reply_error(q->id, 400,
                              "since must be an RFC 3339 time (2026-11-25T10:00:00Z), a date "
                              "(2026-11-25) or epoch seconds",
                              "since");
    int64_t horizon = now - analytics_rollup_horizon(ANALYTICS_MINUTE);
    if (since < horizon)
        return tg_reply_error(q->id, 400,
                              "since must be within the last 37 days (the minute rollups' "
                              "horizon)",
                              "since");
    s_history_t h = {.w = tg_jsonw_new(S_BODY_LIMIT), .bucket = -1};
    char ts[40];
    tg_jsonw_object(h.w, NULL);
    tg_jsonw_str(h.w, "object", "cost_history");
    tg_jsonw_str(h.w, "interval", "1m");
    tg_time_rfc3339(since, ts, sizeof ts);
    tg_jsonw_str(h.w, "since", ts);
    tg_time_rfc3339(now, ts, sizeof ts);
    tg_jsonw_str(h.w, "as_of", ts);
    tg_jsonw_array(h.w, "data");
    int rc = since > now ? TG_OK
                         : analytics_store_rollups(store, ANALYTICS_MINUTE,
                                                   analytics_rollup_bucket(ANALYTICS_MINUTE, since),
                                                   now, s_on_minute, &h);
    s_point(&h);
    tg_jsonw_end(h.w);
    tg_jsonw_fixed(h.w, "total_usd", (double)h.cumulative_micro / 1e6, 6);
    tg_jsonw_uint(h.w, "points", h.points);
    tg_jsonw_end(h.w);
    if (rc != TG_OK) {
        tg_jsonw_destroy(&h.w);
        return tg_reply_error(q->id, 500, "cost history could not be read", NULL);
    }
    return s_reply(q, &h.w, "cost history");
}

//  ---- GET /v1/costs/prediction ---------------------------------------------------------

static tg_frame_t *
s_prediction(analytics_store_t *store, const tg_fr_query_t *q, int64_t now)
{
    int64_t m0 = tg_utc_month_start(now);
    int64_t m1 = m0 + (int64_t)tg_utc_days_in_month(now) * TG_UTC_DAY_US;
    int64_t today = tg_utc_day_start(now);
    char month[TG_UTC_MONTH_LEN], ts[40];
    tg_utc_month(now, month);
    analytics_totals_t mtd;
    int64_t days[31];
    uint64_t reqs[31];
    size_t ndays = 0;
    int rc = analytics_store_period(store, month, &mtd);
    for (int64_t d = m0; d < today && rc == TG_OK && ndays < 31; d += TG_UTC_DAY_US) {
        char day[TG_UTC_DAY_LEN];
        analytics_totals_t t;
        tg_utc_day(d, day);
        rc = analytics_store_period(store, day, &t);
        days[ndays] = t.cost_micro;
        reqs[ndays++] = t.requests;
    }
    if (rc != TG_OK)
        return tg_reply_error(q->id, 500, "cost data could not be read", NULL);
    double elapsed = (double)(now - m0) / (double)TG_UTC_DAY_US;
    double remaining = (double)(m1 - now) / (double)TG_UTC_DAY_US;
    analytics_prediction_t p =
        analytics_costs_predict(mtd.cost_micro, days, reqs, ndays, elapsed, remaining);
    tg_jsonw_t *w = tg_jsonw_new(1 << 16);
    tg_jsonw_object(w, NULL);
    tg_jsonw_str(w, "object", "cost_prediction");
    tg_jsonw_str(w, "month", month);
    tg_time_rfc3339(now, ts, sizeof ts);
    tg_jsonw_str(w, "as_of", ts);
    tg_jsonw_fixed(w, "current_usd", (double)mtd.cost_micro / 1e6, 6);
    tg_jsonw_fixed(w, "daily_avg_usd", p.daily_avg_micro / 1e6, 6);
    tg_jsonw_fixed(w, "days_elapsed", elapsed, 3);
    tg_jsonw_fixed(w, "days_remaining", remaining, 3);
    tg_jsonw_fixed(w, "predicted_usd", p.predicted_micro / 1e6, 6);
    tg_jsonw_fixed(w, "confidence", p.confidence, 3);
    tg_jsonw_uint(w, "days_of_data", p.days_of_data);
    tg_jsonw_fixed(w, "daily_cv", p.cv, 3);
    tg_jsonw_str(w, "method",
                 "predicted = current + daily_avg * days_remaining; daily_avg = current / "
                 "max(days_elapsed, 1); confidence = (1 - exp(-days_of_data / 7)) / (1 + "
                 "daily_cv)");
    tg_jsonw_end(w);
    return s_reply(q, &w, "prediction");
}

tg_frame_t *
analytics_costs_answer(analytics_store_t *store, const tg_fr_query_t *q, int64_t now_us)
{
    if (strcmp(q->path, "/v1/costs/history") == 0)
        return s_history(store, q, now_us);
    if (strcmp(q->path, "/v1/costs/prediction") == 0)
        return s_prediction(store, q, now_us);
    return s_costs(store, q, now_us);
}
