//  test_analytics_mq.c - the metrics query parser (every bad input a 400 naming its field)
//  and the executor over a real store: rows against a brute-force sum of the events,
//  having, sort and limit, percentiles, organization isolation, the per-user bound, the
//  summary's errors.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_mq.h"
#include "analytics_mx.h"
#include "analytics_store.h"
#include "tg_pricing.h"
#include "tg_utc.h"
#include "tg_util.h"
#include "test_tmpdir.h"

#define S_HOUR 3600000000LL
#define S_DAY TG_UTC_DAY_US

static int64_t
s_t(const char *rfc)
{
    int64_t t = 0;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse(rfc, &t), TG_OK);
    return t;
}

//  ---- parser -------------------------------------------------------------------------------

typedef struct {
    analytics_mq_kind_t kind;
    const char *input;  //  query string, or JSON body (MQ_QUERY)
    const char *field;  //  the field the 400 must name
} s_bad_t;

static const s_bad_t s_bads[] = {
    {MQ_LIST, "", "metrics"},
    {MQ_LIST, "metrics=", "metrics"},
    {MQ_LIST, "metrics=nope", "metrics"},
    {MQ_LIST, "metrics=request_count,request_count", "metrics"},
    {MQ_LIST, "metrics=request_count&metrics=duration", "metrics"},
    {MQ_LIST, "metrics=request_count&interval=2min", "interval"},
    {MQ_LIST, "metrics=request_count&group_by=color", "group_by"},
    {MQ_LIST, "metrics=request_count&group_by=model,model", "group_by"},
    {MQ_LIST, "metrics=request_count&group_by=provider,model,key,agent,org,environment",
     "group_by"},
    {MQ_LIST, "metrics=request_count&aggregation=median", "aggregation"},
    {MQ_LIST, "metrics=request_count&aggregation=p95", "aggregation"},
    {MQ_LIST, "metrics=request_count&aggregation=avg", "aggregation"},
    {MQ_LIST, "metrics=error_rate&aggregation=sum", "aggregation"},
    {MQ_LIST, "metrics=request_count&start_time=yesterday", "start_time"},
    {MQ_LIST, "metrics=request_count&end_time=2026-13-01", "end_time"},
    {MQ_LIST, "metrics=request_count&start_time=2026-11-25&end_time=2026-11-24", "start_time"},
    {MQ_LIST, "metrics=request_count&start_time=2026-06-01&end_time=2026-11-24", "start_time"},
    {MQ_LIST, "metrics=request_count&interval=1min&start_time=2026-11-01&end_time=2026-11-25",
     "interval"},
    {MQ_LIST, "metrics=request_count&interval=1min&start_time=2026-09-01&end_time=2026-09-02",
     "start_time"},
    {MQ_LIST, "metrics=request_count&interval=5min&user_id=u1", "interval"},
    {MQ_LIST, "metrics=request_count&interval=1hour&group_by=user_id", "interval"},
    {MQ_LIST, "metrics=request_count&group_by=user_id,key", "group_by"},
    {MQ_LIST, "metrics=request_count&user_id=u1&agent=a", "agent"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"group_by\":[\"user_id\"],\"filters\":[{"
     "\"dimension\":\"key\",\"operator\":\"eq\",\"value\":\"k\"}]}",
     "filters.dimension"},
    {MQ_LIST, "metrics=request_count&include_percentiles=maybe", "include_percentiles"},
    {MQ_LIST, "metrics=request_count&limit=0", "limit"},
    {MQ_LIST, "metrics=request_count&limit=10001", "limit"},
    {MQ_LIST, "metrics=request_count&colour=red", "colour"},
    {MQ_LIST, "metrics=request_count&provider=", "provider"},
    {MQ_LIST,
     "metrics=request_count,success_count,error_count,error_rate,success_rate,duration,ttft,"
     "total_tokens,input_tokens,output_tokens,cached_tokens,total_cost,input_cost,output_cost,"
     "cache_hits,cache_hit_rate,savings&metrics=x",
     "metrics"},
    {MQ_SUMMARY, "user_id=u1", "user_id"},
    {MQ_SUMMARY, "compare_previous_period=yes", "compare_previous_period"},
    {MQ_SUMMARY, "top=0", "top"},
    {MQ_SUMMARY, "metrics=request_count", "metrics"},
    {MQ_QUERY, "", "body"},
    {MQ_QUERY, "[1]", "body"},
    {MQ_QUERY, "{\"metrics\":[]}", "metrics"},
    {MQ_QUERY, "{\"metrics\":[{\"metric\":\"request_count\"}],\"what\":1}", "body"},
    {MQ_QUERY, "{\"metrics\":[{\"metric\":\"request_count\"}],\"metrics\":[]}", "body"},
    {MQ_QUERY, "{\"metrics\":\"request_count\"}", "metrics"},
    {MQ_QUERY, "{\"metrics\":[7]}", "metrics"},
    {MQ_QUERY, "{\"metrics\":[{\"metric\":\"nope\"}]}", "metrics.metric"},
    {MQ_QUERY, "{\"metrics\":[{\"metric\":3}]}", "metrics.metric"},
    {MQ_QUERY, "{\"metrics\":[{\"aggregation\":\"sum\"}]}", "metrics.metric"},
    {MQ_QUERY, "{\"metrics\":[{\"metric\":\"duration\",\"aggregation\":\"p42\"}]}",
     "metrics.aggregation"},
    {MQ_QUERY, "{\"metrics\":[{\"metric\":\"total_cost\",\"aggregation\":\"p95\"}]}",
     "metrics.aggregation"},
    {MQ_QUERY, "{\"metrics\":[{\"metric\":\"duration\",\"alias\":\"a b\"}]}", "metrics.alias"},
    {MQ_QUERY, "{\"metrics\":[{\"metric\":\"duration\",\"alias\":\"model\"}]}", "metrics.alias"},
    {MQ_QUERY,
     "{\"metrics\":[{\"metric\":\"duration\",\"alias\":\"x\"},{\"metric\":\"ttft\",\"alias\":"
     "\"x\"}]}",
     "metrics.alias"},
    {MQ_QUERY, "{\"metrics\":[{\"metric\":\"duration\",\"unit\":\"s\"}]}", "metrics"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"interval\":5}", "interval"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"interval\":\"1week\"}", "interval"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"start_time\":\"soon\"}", "start_time"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"end_time\":12}", "end_time"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"group_by\":\"model\"}", "group_by"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"group_by\":[\"shoe\"]}", "group_by"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"group_by\":[\"provider\",\"model\",\"key\",\"agent\","
     "\"org\",\"environment\"]}",
     "group_by"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"filters\":{}}", "filters"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"filters\":[1]}", "filters"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"filters\":[{\"dimension\":\"hat\",\"operator\":\"eq\","
     "\"value\":\"x\"}]}",
     "filters.dimension"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"filters\":[{\"dimension\":\"model\",\"operator\":"
     "\"like\",\"value\":\"x\"}]}",
     "filters.operator"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"filters\":[{\"dimension\":\"model\",\"operator\":\"eq\","
     "\"value\":[\"x\"]}]}",
     "filters.value"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"filters\":[{\"dimension\":\"model\",\"operator\":\"in\","
     "\"value\":[]}]}",
     "filters.value"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"filters\":[{\"dimension\":\"model\",\"operator\":\"in\","
     "\"value\":[\"a\",2]}]}",
     "filters.value"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"filters\":[{\"dimension\":\"model\",\"operator\":\"eq\","
     "\"value\":\"\"}]}",
     "filters.value"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"having\":{}}", "having"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"having\":[{\"metric\":\"x\",\"operator\":\"gt\","
     "\"value\":1}]}",
     "having.metric"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"having\":[{\"metric\":\"request_count\",\"operator\":"
     "\">\",\"value\":1}]}",
     "having.operator"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"having\":[{\"metric\":\"request_count\",\"operator\":"
     "\"gt\",\"value\":\"1\"}]}",
     "having.value"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"having\":[{\"metric\":\"error_rate\",\"aggregation\":"
     "\"max\",\"operator\":\"gt\",\"value\":1}]}",
     "having.aggregation"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"sort_by\":\"model\"}", "sort_by"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"sort_by\":{\"field\":\"ttft\"}}",
     "sort_by.field"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"sort_by\":{\"field\":\"request_count\",\"descending\":"
     "\"yes\"}}",
     "sort_by.descending"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"limit\":0}", "limit"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"limit\":1.5}", "limit"},
    {MQ_QUERY, "{\"metrics\":[\"request_count\"],\"limit\":10001}", "limit"},
    {MQ_QUERY,
     "{\"metrics\":[\"request_count\"],\"start_time\":\"2026-06-01T00:00:00Z\",\"end_time\":"
     "\"2026-11-01T00:00:00Z\"}",
     "start_time"},
};

static void
test_parse_bad(void)
{
    int64_t now = s_t("2026-11-25T12:00:00Z");
    for (size_t i = 0; i < sizeof s_bads / sizeof s_bads[0]; i++) {
        const s_bad_t *b = &s_bads[i];
        analytics_mq_t q;
        const char *field = NULL;
        char *msg = NULL;
        int rc = b->kind == MQ_QUERY
                     ? analytics_mq_parse_json(b->input, strlen(b->input), now, &q, &field, &msg)
                     : analytics_mq_parse_args(b->kind, b->input, now, &q, &field, &msg);
        CU_ASSERT_EQUAL(rc, TG_INVALID);
        CU_ASSERT_PTR_NOT_NULL(msg);
        if (!field || strcmp(field, b->field) != 0) {
            fprintf(stderr, "\ncase %zu (%s): field %s, want %s (%s)\n", i, b->input,
                    field ? field : "NULL", b->field, msg ? msg : "");
            CU_FAIL("wrong field");
        }
        free(msg);
        analytics_mq_fini(&q);
    }
}

static void
test_parse_good(void)
{
    int64_t now = s_t("2026-11-25T12:00:00Z");
    analytics_mq_t q;
    const char *field;
    char *msg;
    CU_ASSERT_EQUAL_FATAL(
        analytics_mq_parse_args(MQ_LIST,
                                "metrics=request_count,duration&interval=1hour&group_by=provider,"
                                "model&start_time=2026-11-24T00:00:00Z&end_time=2026-11-25T00:00:"
                                "00Z&provider=openai,anthropic&include_percentiles=true",
                                now, &q, &field, &msg),
        TG_OK);
    CU_ASSERT_EQUAL(q.ncols, 6);  //  2 + p50..p99 of duration
    CU_ASSERT_STRING_EQUAL(q.cols[0].name, "request_count");
    CU_ASSERT_EQUAL(q.cols[0].agg, MQ_SUM);
    CU_ASSERT_EQUAL(q.cols[1].agg, MQ_AVG);
    CU_ASSERT_STRING_EQUAL(q.cols[5].name, "duration_p99");
    CU_ASSERT_TRUE(q.needs_sketches);
    CU_ASSERT_EQUAL(q.interval, MQ_1HOUR);
    CU_ASSERT_EQUAL(q.ngroup, 2);
    CU_ASSERT_EQUAL(q.nfilters, 1);
    CU_ASSERT_EQUAL(q.filters[0].n, 2);
    CU_ASSERT_EQUAL(q.end_us - q.start_us, S_DAY);
    analytics_mq_fini(&q);

    //  the interval from the range when omitted; the default range is the last 24 hours
    CU_ASSERT_EQUAL(analytics_mq_parse_args(MQ_LIST, "metrics=ttft", now, &q, &field, &msg), TG_OK);
    CU_ASSERT_EQUAL(q.interval, MQ_5MIN);
    CU_ASSERT_EQUAL(q.end_us, now);
    analytics_mq_fini(&q);
    CU_ASSERT_EQUAL(analytics_mq_parse_args(MQ_LIST, "metrics=ttft&start_time=2026-10-01", now, &q,
                                            &field, &msg),
                    TG_OK);
    CU_ASSERT_EQUAL(q.interval, MQ_1DAY);
    analytics_mq_fini(&q);
    CU_ASSERT_EQUAL(
        analytics_mq_parse_args(MQ_LIST, "metrics=ttft&user_id=u1", now, &q, &field, &msg), TG_OK);
    CU_ASSERT_EQUAL(q.interval, MQ_1DAY);  //  per-user rollups: days
    CU_ASSERT_TRUE(q.needs_users);
    analytics_mq_fini(&q);

    //  the seed's custom query
    const char *body =
        "{\"metrics\":[{\"metric\":\"request_count\",\"aggregation\":\"sum\",\"alias\":\"total_"
        "requests\"},{\"metric\":\"duration\",\"aggregation\":\"avg\",\"alias\":\"avg_duration\"},"
        "{\"metric\":\"total_cost\",\"aggregation\":\"sum\",\"alias\":\"total_cost\"}],"
        "\"interval\":\"1hour\",\"start_time\":\"2026-11-24T00:00:00Z\",\"end_time\":\"2026-11-"
        "25T00:00:00Z\",\"group_by\":[\"provider\",\"model\"],\"filters\":[{\"dimension\":"
        "\"provider\",\"operator\":\"in\",\"value\":[\"openai\",\"anthropic\"]},{\"dimension\":"
        "\"environment\",\"operator\":\"eq\",\"value\":\"production\"}],\"having\":[{\"metric\":"
        "\"request_count\",\"aggregation\":\"sum\",\"operator\":\"gte\",\"value\":100}],"
        "\"sort_by\":{\"field\":\"request_count\",\"descending\":true},\"limit\":100}";
    CU_ASSERT_EQUAL_FATAL(analytics_mq_parse_json(body, strlen(body), now, &q, &field, &msg),
                          TG_OK);
    CU_ASSERT_EQUAL(q.ncols, 3);
    CU_ASSERT_STRING_EQUAL(q.cols[0].name, "total_requests");
    CU_ASSERT_EQUAL(q.nfilters, 2);
    CU_ASSERT_EQUAL(q.filters[1].dim, ANALYTICS_DIM_ENV);
    CU_ASSERT_EQUAL(q.nhaving, 1);
    CU_ASSERT_EQUAL(q.having[0].op, MQ_GTE);
    CU_ASSERT_EQUAL(q.sort_kind, MQ_SORT_COL);
    CU_ASSERT_EQUAL(q.sort_ix, 0);
    CU_ASSERT_TRUE(q.sort_desc);
    CU_ASSERT_EQUAL(q.limit, 100);
    CU_ASSERT_FALSE(q.needs_sketches);
    analytics_mq_fini(&q);
}

//  ---- executor -----------------------------------------------------------------------------

enum { N = 2000 };

typedef struct {
    int64_t ts;
    const char *model, *org, *env;
    char user[16];
    uint64_t latency;
    bool error;
    int64_t cost;
} s_ev_t;

static s_ev_t s_evs[N];

static const char *const s_models[] = {"gpt-4o", "gpt-4o-mini", "claude-3-5-haiku-20241022"};

//  N events over 6 hours of 2026-11-24 from 10:00, in orgs a / b / none, 3 models, 2 envs,
//  40 users; every 13th fails.
static analytics_store_t *
s_fixture(char **dir_p, tg_pricing_t **pricing_p)
{
    *dir_p = test_tmpdir("mq");
    *pricing_p = tg_pricing_load(tg_pricing_default_path());
    CU_ASSERT_PTR_NOT_NULL_FATAL(*pricing_p);
    analytics_store_t *st = analytics_store_new(*dir_p, 64 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t t0 = s_t("2026-11-24T10:00:00Z");
    tg_frame_t *f[100];
    analytics_outcome_t out[100];
    for (int i = 0; i < N; i += 100) {
        for (int j = 0; j < 100; j++) {
            int k = i + j;
            s_ev_t *e = &s_evs[k];
            e->ts = t0 + (int64_t)k * (6 * S_HOUR / N);
            e->model = s_models[(k / 3) % 3];
            e->org = k % 3 == 0 ? "a" : k % 3 == 1 ? "b" : NULL;
            e->env = k % 2 ? "production" : "staging";
            snprintf(e->user, sizeof e->user, "u%d", (k * 11) % 40);
            e->latency = 20000 + (uint64_t)((k * 7919) % 2000) * 1000;
            e->error = k % 13 == 0;
            tg_frame_t *fr = tg_frame_new(TG_FRAME_USAGE);
            fr->usage.eid = tg_strfmt("ev_%d", k);
            fr->usage.reply_to = tg_strdup("inproc://nowhere");
            fr->usage.ts = e->ts;
            fr->usage.provider =
                tg_strdup(strncmp(e->model, "claude", 6) == 0 ? "anthropic" : "openai");
            fr->usage.model = tg_strdup(e->model);
            fr->usage.key = tg_strdup("key_1");
            fr->usage.org = e->org ? tg_strdup(e->org) : NULL;
            fr->usage.env = tg_strdup(e->env);
            fr->usage.user = tg_strdup(e->user);
            fr->usage.status = e->error ? 429 : 200;
            fr->usage.error = e->error ? tg_strdup("rate_limit_error") : NULL;
            fr->usage.tok_in = 100 + (uint64_t)(k % 50);
            fr->usage.tok_out = 20 + (uint64_t)(k % 30);
            fr->usage.latency_us = e->latency;
            f[j] = fr;
        }
        CU_ASSERT_EQUAL_FATAL(analytics_store_batch(st, *pricing_p, f, 100, out), TG_OK);
        for (int j = 0; j < 100; j++) {
            s_evs[i + j].cost = out[j].cost_micro;
            CU_ASSERT(out[j].cost_in_micro <= out[j].cost_micro);
            tg_frame_destroy(&f[j]);
        }
    }
    return st;
}

static json_t *
s_run(analytics_store_t *st, const char *args, const char *body, const char *org, int64_t now)
{
    analytics_mq_t q;
    const char *field;
    char *msg = NULL;
    int rc = body ? analytics_mq_parse_json(body, strlen(body), now, &q, &field, &msg)
                  : analytics_mq_parse_args(MQ_LIST, args, now, &q, &field, &msg);
    if (rc != TG_OK)
        fprintf(stderr, "\n%s: %s\n", field, msg);
    CU_ASSERT_EQUAL_FATAL(rc, TG_OK);
    char *out = NULL;
    CU_ASSERT_EQUAL_FATAL(analytics_mx_metrics(st, &q, org, &out), TG_OK);
    analytics_mq_fini(&q);
    json_t *doc = json_loads(out, 0, NULL);
    free(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    return doc;
}

static bool
s_in_org(const s_ev_t *e, const char *org)
{
    return !org || strcmp(e->org ? e->org : "default", org) == 0;
}

static void
test_exec_brute_force(void)
{
    char *dir;
    tg_pricing_t *pricing;
    analytics_store_t *st = s_fixture(&dir, &pricing);
    int64_t now = s_t("2026-11-24T20:00:00Z"), t0 = s_t("2026-11-24T10:00:00Z");
    const char *orgs[] = {NULL, "a", "b", "default", "zzz"};
    for (size_t o = 0; o < sizeof orgs / sizeof orgs[0]; o++) {
        //  per hour and model: requests, errors, cost, max latency against the events
        json_t *doc = s_run(st,
                            "metrics=request_count,error_count,total_cost,duration&group_by="
                            "model&interval=1hour&start_time=2026-11-24T10:00:00Z&end_time=2026-"
                            "11-24T16:00:00Z",
                            NULL, orgs[o], now);
        json_t *data = json_object_get(doc, "data");
        size_t rows = 0;
        for (int h = 0; h < 6; h++)
            for (int m = 0; m < 3; m++) {
                uint64_t req = 0, err = 0;
                int64_t cost = 0;
                uint64_t lat = 0;
                for (int k = 0; k < N; k++)
                    if ((s_evs[k].ts - t0) / S_HOUR == h && s_evs[k].model == s_models[m]
                        && s_in_org(&s_evs[k], orgs[o])) {
                        req++;
                        err += s_evs[k].error;
                        cost += s_evs[k].cost;
                        lat += s_evs[k].latency;
                    }
                if (!req)
                    continue;
                rows++;
                char ts[40];
                tg_time_rfc3339(t0 + h * S_HOUR, ts, sizeof ts);
                json_t *row = NULL, *r;
                size_t i;
                json_array_foreach(
                    data, i,
                    r) if (strcmp(json_string_value(json_object_get(r, "timestamp")), ts) == 0
                           && strcmp(json_string_value(json_object_get(r, "model")), s_models[m])
                                  == 0) row = r;
                CU_ASSERT_PTR_NOT_NULL_FATAL(row);
                CU_ASSERT_EQUAL(json_integer_value(json_object_get(row, "request_count")),
                                (json_int_t)req);
                CU_ASSERT_EQUAL(json_integer_value(json_object_get(row, "error_count")),
                                (json_int_t)err);
                CU_ASSERT(
                    fabs(json_number_value(json_object_get(row, "total_cost")) - (double)cost / 1e6)
                    < 1e-6);
                CU_ASSERT(fabs(json_number_value(json_object_get(row, "duration"))
                               - (double)lat / (double)req / 1000)
                          < 1e-3);
            }
        CU_ASSERT_EQUAL(json_array_size(data), rows);
        CU_ASSERT_EQUAL(rows == 0, strcmp(orgs[o] ? orgs[o] : "", "zzz") == 0);
        json_decref(doc);
    }

    //  having, sort and limit: models by total requests over the day, in org a, production
    const char *body =
        "{\"metrics\":[{\"metric\":\"request_count\",\"alias\":\"n\"},{\"metric\":\"duration\","
        "\"aggregation\":\"p95\"}],\"interval\":\"1day\",\"start_time\":\"2026-11-24T00:00:00Z\","
        "\"end_time\":\"2026-11-25T00:00:00Z\",\"group_by\":[\"model\"],\"filters\":[{"
        "\"dimension\":\"environment\",\"operator\":\"eq\",\"value\":\"production\"}],\"having\":"
        "[{\"metric\":\"request_count\",\"operator\":\"gt\",\"value\":100}],\"sort_by\":{\"field\":"
        "\"n\",\"descending\":true},\"limit\":2}";
    json_t *doc = s_run(st, NULL, body, "a", now);
    uint64_t want[3] = {0};
    for (int k = 0; k < N; k++)
        if (s_in_org(&s_evs[k], "a") && strcmp(s_evs[k].env, "production") == 0)
            for (int m = 0; m < 3; m++)
                want[m] += s_evs[k].model == s_models[m];
    size_t over = 0;
    for (int m = 0; m < 3; m++)
        over += want[m] > 100;
    json_t *data = json_object_get(doc, "data");
    CU_ASSERT_EQUAL(
        json_integer_value(json_object_get(json_object_get(doc, "metadata"), "total_rows")),
        (json_int_t)over);
    CU_ASSERT_EQUAL(json_array_size(data), over < 2 ? over : 2);
    json_int_t prev = INT64_MAX;
    size_t i;
    json_t *r;
    json_array_foreach(data, i, r)
    {
        json_int_t n = json_integer_value(json_object_get(r, "n"));
        CU_ASSERT(n > 100 && n <= prev);
        prev = n;
        CU_ASSERT(json_is_number(json_object_get(r, "duration_p95")));
    }
    json_decref(doc);

    //  p95 of the whole day against the exact one (1 % relative error of the sketch)
    doc = s_run(st,
                "metrics=duration&interval=1day&start_time=2026-11-24&end_time=2026-11-25&"
                "include_percentiles=true",
                NULL, NULL, now);
    uint64_t *lat = tg_zalloc(N * sizeof *lat);
    for (int k = 0; k < N; k++)
        lat[k] = s_evs[k].latency;
    for (int a = 0; a < N; a++)  //  insertion sort is enough for a test
        for (int b = a; b > 0 && lat[b] < lat[b - 1]; b--) {
            uint64_t t = lat[b];
            lat[b] = lat[b - 1];
            lat[b - 1] = t;
        }
    double exact = (double)lat[(size_t)floor(0.95 * (N - 1))] / 1000;
    double got = json_number_value(
        json_object_get(json_array_get(json_object_get(doc, "data"), 0), "duration_p95"));
    CU_ASSERT(fabs(got - exact) <= exact * 0.011);
    free(lat);
    json_decref(doc);

    //  per user (day rollups per user): user u3 in org b
    doc = s_run(st,
                "metrics=request_count&user_id=u3&interval=1day&start_time=2026-11-24&end_time="
                "2026-11-25",
                NULL, "b", now);
    uint64_t n3 = 0;
    for (int k = 0; k < N; k++)
        n3 += s_in_org(&s_evs[k], "b") && strcmp(s_evs[k].user, "u3") == 0;
    data = json_object_get(doc, "data");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(data, 0), "request_count")),
                    (json_int_t)n3);
    json_decref(doc);

    //  summary: errors and their most common kind, limited to org a
    analytics_mq_t q;
    const char *field;
    char *msg = NULL;
    CU_ASSERT_EQUAL_FATAL(analytics_mq_parse_args(MQ_SUMMARY,
                                                  "start_time=2026-11-24T10:00:00Z&end_time=2026-"
                                                  "11-24T16:00:00Z",
                                                  now, &q, &field, &msg),
                          TG_OK);
    char *out = NULL;
    CU_ASSERT_EQUAL_FATAL(analytics_mx_summary(st, &q, "a", now, &out), TG_OK);
    analytics_mq_fini(&q);
    doc = json_loads(out, 0, NULL);
    free(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    uint64_t reqs = 0, errs = 0;
    for (int k = 0; k < N; k++)
        if (s_in_org(&s_evs[k], "a")) {
            reqs++;
            errs += s_evs[k].error;
        }
    json_t *cur = json_object_get(doc, "current_period");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(cur, "total_requests")), (json_int_t)reqs);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(cur, "unique_users")), 40);
    json_t *quality = json_object_get(doc, "quality");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(quality, "error_count")), (json_int_t)errs);
    json_t *top = json_array_get(json_object_get(quality, "most_common_errors"), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(top, "status_code")), "429");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(top, "sample_message")),
                           "rate_limit_error");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(top, "count")), (json_int_t)errs);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(doc, "top_items"), "by_cost")),
                    3);
    CU_ASSERT_EQUAL(json_integer_value(
                        json_object_get(json_object_get(doc, "previous_period"), "total_requests")),
                    0);
    json_decref(doc);

    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    test_rmdir(&dir);
}

typedef struct {
    size_t named;
    uint64_t other, total;
} s_users_t;

static int
s_on_user(analytics_res_t res,
          int64_t bucket_us,
          const char *const dims[ANALYTICS_DIMS],
          const analytics_rollup_t *r,
          void *arg)
{
    (void)res;
    (void)bucket_us;
    s_users_t *u = arg;
    if (strcmp(dims[ANALYTICS_DIM_USER], ANALYTICS_USER_OTHER) == 0)
        u->other += r->totals.requests;
    else
        u->named++;
    u->total += r->totals.requests;
    return 0;
}

//  More users in a day than the bound: the first ANALYTICS_USERS_PER_DAY keep their own
//  rollups, the rest count as "(other)"; nothing is lost; another org has its own bound.
static void
test_user_bound(void)
{
    char *dir = test_tmpdir("mq-users");
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    analytics_store_t *st = analytics_store_new(dir, 64 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    enum { U = ANALYTICS_USERS_PER_DAY + 50 };
    int64_t t0 = s_t("2026-11-24T01:00:00Z");
    tg_frame_t *f[U];
    analytics_outcome_t *out = tg_zalloc(U * sizeof *out);
    for (int round = 0; round < 2; round++) {  //  each user twice: the second is known
        for (int i = 0; i < U; i++) {
            f[i] = tg_frame_new(TG_FRAME_USAGE);
            f[i]->usage.eid = tg_strfmt("ev_%d_%d", round, i);
            f[i]->usage.reply_to = tg_strdup("inproc://nowhere");
            f[i]->usage.ts = t0 + i;
            f[i]->usage.model = tg_strdup("gpt-4o");
            f[i]->usage.org = tg_strdup("big");
            f[i]->usage.user = tg_strfmt("user-%d", i);
        }
        CU_ASSERT_EQUAL_FATAL(analytics_store_batch(st, pricing, f, U, out), TG_OK);
        for (int i = 0; i < U; i++)
            tg_frame_destroy(&f[i]);
    }
    s_users_t u = {0};
    CU_ASSERT_EQUAL(analytics_store_rollups(st, ANALYTICS_DAY_USER, 0, t0 + S_DAY, s_on_user, &u),
                    TG_OK);
    CU_ASSERT_EQUAL(u.named, ANALYTICS_USERS_PER_DAY);
    CU_ASSERT_EQUAL(u.other, 2 * 50);
    CU_ASSERT_EQUAL(u.total, 2 * U);
    free(out);
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    test_rmdir(&dir);
}

void
test_analytics_mq_register(void)
{
    CU_pSuite s = CU_add_suite("analytics_mq", NULL, NULL);
    CU_add_test(s, "parse_bad", test_parse_bad);
    CU_add_test(s, "parse_good", test_parse_good);
    CU_add_test(s, "exec_brute_force", test_exec_brute_force);
    CU_add_test(s, "user_bound", test_user_bound);
}
