//  test_analytics_costs.c - the end-of-month prediction formula and the /v1/costs,
//  /v1/costs/history and /v1/costs/prediction answers over a store.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_costs.h"
#include "analytics_query.h"
#include "analytics_store.h"
#include "tg_pricing.h"
#include "tg_utc.h"
#include "tg_util.h"

#define S_MIN 60000000LL
#define S_DAY TG_UTC_DAY_US

static void
test_predict(void)
{
    //  10 complete days at $2 each, 10.5 days elapsed, 20.5 remaining
    int64_t days[10];
    uint64_t reqs[10];
    for (int i = 0; i < 10; i++) {
        days[i] = 2000000;
        reqs[i] = 100;
    }
    analytics_prediction_t p = analytics_costs_predict(21000000, days, reqs, 10, 10.5, 20.5);
    CU_ASSERT_DOUBLE_EQUAL(p.daily_avg_micro, 2000000, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(p.predicted_micro, 21000000 + 2000000 * 20.5, 1e-3);
    CU_ASSERT_EQUAL(p.days_of_data, 10);
    CU_ASSERT_DOUBLE_EQUAL(p.cv, 0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(p.confidence, 1 - exp(-10 / 7.0), 1e-9);

    //  the same days with variance: confidence shrinks by 1 / (1 + cv)
    for (int i = 0; i < 10; i++)
        days[i] = i % 2 ? 3000000 : 1000000;  //  mean 2, stddev 1: cv 0.5
    analytics_prediction_t v = analytics_costs_predict(21000000, days, reqs, 10, 10.5, 20.5);
    CU_ASSERT_DOUBLE_EQUAL(v.cv, 0.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(v.confidence, p.confidence / 1.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(v.predicted_micro, p.predicted_micro, 1e-3);

    //  days before the first with requests are not data; more days -> more confidence
    reqs[0] = reqs[1] = reqs[2] = 0;
    analytics_prediction_t late = analytics_costs_predict(21000000, days, reqs, 10, 10.5, 20.5);
    CU_ASSERT_EQUAL(late.days_of_data, 7);
    double prev = -1;
    for (size_t n = 0; n <= 10; n++) {
        for (int i = 0; i < 10; i++)
            reqs[i] = 1;
        analytics_prediction_t g = analytics_costs_predict(0, days, reqs, n, (double)n, 20);
        CU_ASSERT(g.confidence >= 0 && g.confidence <= 1);
        for (int i = 0; i < 10; i++)
            days[i] = 2000000;
        g = analytics_costs_predict(0, days, reqs, n, (double)n, 20);
        CU_ASSERT(g.confidence > prev || (n == 0 && g.confidence == 0));
        prev = g.confidence;
    }

    //  the first hours of a month: the average divides by a whole day at least
    analytics_prediction_t h = analytics_costs_predict(500000, NULL, NULL, 0, 0.1, 29.9);
    CU_ASSERT_DOUBLE_EQUAL(h.daily_avg_micro, 500000, 1e-6);
    CU_ASSERT_EQUAL(h.confidence, 0);
    CU_ASSERT_EQUAL(h.days_of_data, 0);
}

static char *
s_tmpdir(void)
{
    char tmpl[] = "/tmp/tg-test-costs-XXXXXX";
    char *d = mkdtemp(tmpl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    return tg_strdup(d);
}

static tg_frame_t *
s_event(int i, int64_t ts, const char *provider, const char *model, const char *agent)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    f->usage.eid = tg_strfmt("ev_%d", i);
    f->usage.reply_to = tg_strdup("inproc://nowhere");
    f->usage.ts = ts;
    f->usage.provider = tg_strdup(provider);
    f->usage.model = tg_strdup(model);
    f->usage.agent = tg_strdup(agent);
    f->usage.status = 200;
    f->usage.tok_in = 1000;
    f->usage.tok_out = 1000;
    f->usage.latency_us = 100000;
    return f;
}

static tg_frame_t *
s_ask(analytics_store_t *st, const char *path, const char *args, int64_t now, json_t **json_p)
{
    tg_frame_t *q = tg_frame_new(TG_FRAME_QUERY);
    q->query.id = tg_strdup("req_1");
    q->query.reply_to = tg_strdup("inproc://x");
    q->query.method = tg_strdup("GET");
    q->query.path = tg_strdup(path);
    q->query.args = tg_strdup(args);
    tg_frame_t *r = analytics_query_answer(st, &q->query, now);
    tg_frame_destroy(&q);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    json_error_t err;
    *json_p = r->body ? json_loads(r->body, 0, &err) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(*json_p);
    return r;
}

static double
s_num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static void
test_answers(void)
{
    char *dir = s_tmpdir();
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    CU_ASSERT_PTR_NOT_NULL_FATAL(pricing);
    analytics_store_t *st = analytics_store_new(dir, 16 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t now;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-25T12:00:00Z", &now), TG_OK);
    //  today: 3 gpt-4o calls (bot) at 11:00, 11:01, 11:01, 1 claude call (crew) at 11:30;
    //  earlier this month: 2 gpt-4o calls on the 20th and the 21st
    tg_frame_t *f[6] = {
        s_event(0, now - 60 * S_MIN, "openai", "gpt-4o", "bot"),
        s_event(1, now - 59 * S_MIN, "openai", "gpt-4o", "bot"),
        s_event(2, now - 59 * S_MIN + 5, "openai", "gpt-4o", "bot"),
        s_event(3, now - 30 * S_MIN, "anthropic", "claude-sonnet-4-5", "crew"),
        s_event(4, now - 5 * S_DAY, "openai", "gpt-4o", "bot"),
        s_event(5, now - 4 * S_DAY, "openai", "gpt-4o", "bot"),
    };
    f[3]->usage.latency_us = 400000;
    analytics_outcome_t out[6];
    CU_ASSERT_EQUAL_FATAL(analytics_store_batch(st, pricing, f, 6, out), TG_OK);
    for (int i = 0; i < 6; i++)
        tg_frame_destroy(&f[i]);
    int64_t today_micro = out[0].cost_micro * 3 + out[3].cost_micro;
    CU_ASSERT_EQUAL(out[0].cost_micro, 12500);

    json_t *j;
    tg_frame_t *r = s_ask(st, "/v1/costs", NULL, now, &j);
    CU_ASSERT_EQUAL(r->reply.status, 200);
    json_t *today = json_object_get(j, "today");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(today, "date")), "2026-11-25");
    CU_ASSERT_DOUBLE_EQUAL(s_num(today, "cost_usd"), today_micro / 1e6, 1e-9);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(today, "requests")), 4);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(today, "tokens_in")), 4000);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(today, "by_provider")), 2);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(today, "by_model")), 2);
    json_t *agents = json_object_get(today, "by_agent");
    CU_ASSERT_EQUAL(json_array_size(agents), 2);
    json_t *first = json_array_get(agents, 0);  //  most expensive first
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(first, "agent")), "bot");
    CU_ASSERT_DOUBLE_EQUAL(s_num(first, "cost_usd"), 0.0375, 1e-9);
    json_t *mtd = json_object_get(j, "month_to_date");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(mtd, "month")), "2026-11");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(mtd, "requests")), 6);
    CU_ASSERT_DOUBLE_EQUAL(s_num(mtd, "cost_usd"), (today_micro + 25000) / 1e6, 1e-9);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->body, "\"cost_usd\":0.037500"));  //  6 decimals
    json_decref(j);
    tg_frame_destroy(&r);

    //  history: 3 minutes with calls since 10:30 (11:00, 11:01, 11:30)
    r = s_ask(st, "/v1/costs/history", "since=2026-11-25T10:30:00Z", now, &j);
    CU_ASSERT_EQUAL(r->reply.status, 200);
    json_t *data = json_object_get(j, "data");
    CU_ASSERT_EQUAL(json_array_size(data), 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(data, 1), "ts")),
                           "2026-11-25T11:01:00.000Z");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(data, 1), "requests")), 2);
    CU_ASSERT_DOUBLE_EQUAL(s_num(j, "total_usd"), today_micro / 1e6, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s_num(json_array_get(data, 2), "cumulative_usd"), today_micro / 1e6,
                           1e-9);
    json_decref(j);
    tg_frame_destroy(&r);
    //  default: the last hour (11:00 .. 12:00)
    r = s_ask(st, "/v1/costs/history", NULL, now, &j);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "data")), 3);
    json_decref(j);
    tg_frame_destroy(&r);

    const char *bad[] = {"since=yesterday", "since=2026-02-30", "since=2026-01-01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = s_ask(st, "/v1/costs/history", bad[i], now, &j);
        CU_ASSERT_EQUAL(r->reply.status, 400);
        json_t *e = json_object_get(j, "error");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "param")), "since");
        json_decref(j);
        tg_frame_destroy(&r);
    }

    //  /v1/usage: latency percentiles per group from the minute rollups (all 100 ms here,
    //  except the claude call: 400 ms); no TTFT reported: null
    r = s_ask(st, "/v1/usage", "group_by=model", now, &j);
    CU_ASSERT_EQUAL(r->reply.status, 200);
    json_t *lat = json_object_get(json_object_get(j, "totals"), "latency_ms");
    CU_ASSERT_DOUBLE_EQUAL(s_num(lat, "p50"), 100, 1);
    CU_ASSERT_DOUBLE_EQUAL(s_num(lat, "p99"), 100, 1);  //  rank floor(0.99 x 3) of 4 values
    CU_ASSERT_TRUE(json_is_null(json_object_get(json_object_get(j, "totals"), "ttft_ms")));
    data = json_object_get(j, "data");
    CU_ASSERT_EQUAL(json_array_size(data), 2);
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *row = json_array_get(data, i);
        bool claude = strcmp(json_string_value(json_object_get(row, "model")), "gpt-4o") != 0;
        json_t *l = json_object_get(row, "latency_ms");
        CU_ASSERT_DOUBLE_EQUAL(s_num(l, "p95"), claude ? 400 : 100, claude ? 4 : 1);
    }
    json_decref(j);
    tg_frame_destroy(&r);

    //  prediction: 24.5 days elapsed, 5.5 remaining, 2 days of data (20th, 21st... 24th)
    r = s_ask(st, "/v1/costs/prediction", NULL, now, &j);
    CU_ASSERT_EQUAL(r->reply.status, 200);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "month")), "2026-11");
    double cur = (today_micro + 25000) / 1e6;
    CU_ASSERT_DOUBLE_EQUAL(s_num(j, "current_usd"), cur, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s_num(j, "days_elapsed"), 24.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s_num(j, "days_remaining"), 5.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s_num(j, "predicted_usd"), cur + cur / 24.5 * 5.5, 1e-6);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "days_of_data")), 5);  //  20th..24th
    double conf = s_num(j, "confidence");
    CU_ASSERT(conf > 0 && conf < 1);
    json_decref(j);
    tg_frame_destroy(&r);

    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    char *cmd = tg_strfmt("rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(cmd);
    free(dir);
}

void
test_analytics_costs_register(void)
{
    CU_pSuite s = CU_add_suite("analytics_costs", NULL, NULL);
    CU_add_test(s, "predict", test_predict);
    CU_add_test(s, "answers", test_answers);
}
