//  test_router_budget.c - router_budget: reservation arithmetic in pico-dollars, refusal
//  naming the budget, settlement from LOAD lines, release, 200 calls against a budget that
//  fits 50, org/project budgets set through /v1/budgets, period roll-over.
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router_budget.h"
#include "tg_utc.h"
#include "tg_util.h"

static const tg_price_t s_gpt4o = {"gpt-4o", "openai", "chat", 2.5, 10.0,
                                   1.25,     true,     0,      2.5, false};

static void
s_rq(tg_fr_request_t *rq, const char *id, uint64_t ptok, uint64_t mtok, double kbd, double kbm)
{
    memset(rq, 0, sizeof *rq);
    rq->id = (char *)id;
    rq->key = "key_b";
    rq->route = "chat";
    rq->ptok = ptok;
    rq->mtok = mtok;
    rq->kbd = kbd;
    rq->kbm = kbm;
}

static void
test_estimate(void)
{
    //  1000 in at $2.50/M + 100 out at $10/M = $0.0035 = 3.5e9 pico-USD, exactly.
    CU_ASSERT_EQUAL(router_budget_estimate(&s_gpt4o, 1000, 100), 3500000000LL);
    CU_ASSERT_EQUAL(router_budget_estimate(&s_gpt4o, 0, 0), 0);
    CU_ASSERT_EQUAL(router_budget_estimate(NULL, 10, 10), 0);
    const tg_price_t odd = {"m", "p", "chat", 0.15, 0.6, 0.075, true, 0, 0.15, false};
    CU_ASSERT_EQUAL(router_budget_estimate(&odd, 3, 7), 3 * 150000LL + 7 * 600000LL);
}

static void
test_reserve_settle(void)
{
    router_budget_t *b = router_budget_new(NULL, 4096);
    int64_t t;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-12-04T12:00:00Z", &t), TG_OK);
    tg_fr_request_t rq;
    char *msg = NULL;
    uint64_t retry = 0;
    s_rq(&rq, "c1", 1000, 100, 0.007, 0);  //  fits two reservations of $0.0035
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_OK);
    s_rq(&rq, "c2", 1000, 100, 0.007, 0);
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_OK);
    s_rq(&rq, "c3", 1000, 100, 0.007, 0);
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_AGAIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "the daily budget of key 'key_b' is $0.007000"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "reserved by calls in flight $0.007000"));
    CU_ASSERT_EQUAL(retry, 12 * 3600);  //  until midnight UTC
    free(msg);
    //  c1 cost 1000 in + 10 out = $0.0026: held 0.0035, spent 0.0026: c3 still does not fit.
    const char load[] = "c1 10 1000\nnot-ours 5 5";
    router_budget_settle(b, load, sizeof load - 1, t);
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_AGAIN);
    free(msg);
    //  c2 answered without an upstream call: its reservation goes, c3 fits (0.0026 + 0.0035).
    router_budget_release(b, "c2", t);
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_OK);
    //  A worker that knows no prompt tokens: the estimate is charged.
    const char cut[] = "c3 0 0";
    router_budget_settle(b, cut, sizeof cut - 1, t);
    //  spent = 0.0026 + 0.0025 = 0.0051; a call of 0.0035 no longer fits the day...
    s_rq(&rq, "c4", 1000, 100, 0.007, 0);
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_AGAIN);
    free(msg);
    //  ... but fits the next day.
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t + 86400LL * 1000000, &msg, &retry),
                    TG_OK);
    //  The master key has no budgets.
    s_rq(&rq, "c5", 1000, 100, 0.000001, 0);
    rq.key = "master";
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_OK);
    router_budget_destroy(&b);
    CU_ASSERT_PTR_NULL(b);
}

static void
test_joined(void)
{
    router_budget_t *b = router_budget_new(NULL, 4096);
    int64_t t = 1796000000LL * 1000000;
    tg_fr_request_t rq;
    char *msg = NULL;
    uint64_t retry = 0;
    s_rq(&rq, "j1", 1000, 100, 0.005, 0);
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_OK);
    s_rq(&rq, "j2", 1000, 100, 0.005, 0);  //  0.0035 held by j1: j2 does not fit
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_AGAIN);
    free(msg);
    //  j1 joined an identical call (its LOAD line has the id only): it cost nothing.
    router_budget_settle(b, "j1", 2, t);
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_OK);
    router_budget_destroy(&b);
}

static void
test_200_against_50(void)
{
    router_budget_t *b = router_budget_new(NULL, 4096);
    int64_t t = 1796000000LL * 1000000;
    int64_t est = router_budget_estimate(&s_gpt4o, 20, 500);
    double budget = 50.0 * (double)est / ROUTER_BUDGET_PUSD;
    int ok = 0;
    for (int i = 0; i < 200; i++) {
        char id[16];
        snprintf(id, sizeof id, "k%d", i);
        tg_fr_request_t rq;
        s_rq(&rq, id, 20, 500, 0, budget);
        char *msg = NULL;
        uint64_t retry = 0;
        if (router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry) == TG_OK)
            ok++;
        else
            CU_ASSERT_PTR_NOT_NULL(strstr(msg, "monthly budget of key"));
        free(msg);
    }
    CU_ASSERT_EQUAL(ok, 50);
    router_budget_destroy(&b);
}

static void
test_org_project(void)
{
    router_budget_t *b = router_budget_new(NULL, 100);
    int64_t t = 1796000000LL * 1000000;
    int status = 0;
    char *body = NULL;
    tg_fr_query_t q = {.id = "q", .method = "PUT", .path = "/v1/budgets/project/search"};
    const char put[] = "{\"daily_usd\":0.002}";
    CU_ASSERT_TRUE(router_budget_query(b, &q, put, sizeof put - 1, t, &status, &body));
    CU_ASSERT_EQUAL(status, 200);
    free(body);
    const char bad[] = "{\"daily_usd\":-1}";
    CU_ASSERT_TRUE(router_budget_query(b, &q, bad, sizeof bad - 1, t, &status, &body));
    CU_ASSERT_EQUAL(status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"param\":\"daily_usd\""));
    free(body);
    tg_fr_request_t rq;
    s_rq(&rq, "p1", 0, 100, 0, 0);  //  no mtok... 100 out = $0.001
    rq.project = "search";
    rq.org = "acme";
    char *msg = NULL;
    uint64_t retry = 0;
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_OK);
    rq.id = "p2";
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_OK);
    rq.id = "p3";
    CU_ASSERT_EQUAL(router_budget_admit(b, &rq, &s_gpt4o, t, &msg, &retry), TG_AGAIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "daily budget of project 'search'"));
    free(msg);
    //  The view shows the reservations.
    q.method = "GET";
    CU_ASSERT_TRUE(router_budget_query(b, &q, NULL, 0, t, &status, &body));
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"day_reserved_usd\":0.002"));
    free(body);
    q.path = "/v1/budgets/team/x";
    CU_ASSERT_TRUE(router_budget_query(b, &q, NULL, 0, t, &status, &body));
    CU_ASSERT_EQUAL(status, 404);
    free(body);
    q.path = "/v1/models";
    CU_ASSERT_FALSE(router_budget_query(b, &q, NULL, 0, t, &status, &body));
    router_budget_destroy(&b);
}

void
test_router_budget_register(void)
{
    CU_pSuite s = CU_add_suite("router_budget", NULL, NULL);
    CU_add_test(s, "estimate", test_estimate);
    CU_add_test(s, "reserve and settle", test_reserve_settle);
    CU_add_test(s, "joined calls cost nothing", test_joined);
    CU_add_test(s, "200 calls against a budget for 50", test_200_against_50);
    CU_add_test(s, "org and project budgets", test_org_project);
}
