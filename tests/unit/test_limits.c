//  test_limits.c - tg_limits: bucket arithmetic (exact refill, take, debt, reset), monthly
//  quotas across a month change, tier inheritance, the token estimate, reset durations;
//  router_limits: admission across every limit and settlement from LOAD bodies.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "router_limits.h"
#include "tg_config.h"
#include "tg_keystore.h"
#include "tg_limits.h"
#include "tg_utc.h"
#include "tg_util.h"

#define MIN TG_LIMITS_WINDOW_US

static void
test_bucket(void)
{
    tg_bucket_t b = {0};
    int64_t t = 1000000;
    CU_ASSERT_EQUAL(tg_bucket_remaining(&b, 6, t), 6);  //  a new bucket is full
    for (int i = 0; i < 6; i++)
        CU_ASSERT_TRUE(tg_bucket_take(&b, 6, 1, t, NULL));
    int64_t wait = 0;
    CU_ASSERT_FALSE(tg_bucket_take(&b, 6, 1, t, &wait));
    CU_ASSERT_EQUAL(wait, 10000000);  //  6 a minute: one more every 10 s
    CU_ASSERT_EQUAL(tg_bucket_reset_us(&b, 6, t), MIN);
    CU_ASSERT_FALSE(tg_bucket_take(&b, 6, 1, t + 9999999, &wait));
    CU_ASSERT_EQUAL(wait, 1);
    CU_ASSERT_TRUE(tg_bucket_take(&b, 6, 1, t + 10000000, NULL));
    CU_ASSERT_EQUAL(tg_bucket_remaining(&b, 6, t + 10000000), 0);
    //  Never above full, however long it waits.
    CU_ASSERT_EQUAL(tg_bucket_remaining(&b, 6, t + 100 * MIN), 6);
    CU_ASSERT_EQUAL(tg_bucket_reset_us(&b, 6, t + 100 * MIN), 0);
    //  More than the limit can never pass.
    CU_ASSERT_FALSE(tg_bucket_take(&b, 6, 7, t + 100 * MIN, &wait));
    CU_ASSERT_EQUAL(wait, INT64_MAX);
    //  Time going backwards refills nothing.
    CU_ASSERT_TRUE(tg_bucket_take(&b, 6, 6, t + 100 * MIN, NULL));
    CU_ASSERT_EQUAL(tg_bucket_remaining(&b, 6, t), 0);
}

static void
test_bucket_debt(void)
{
    tg_bucket_t b = {0};
    int64_t t = 5;
    CU_ASSERT_TRUE(tg_bucket_take(&b, 1000, 400, t, NULL));
    tg_bucket_charge(&b, 1000, 700, t);  //  completion tokens settled: 100 in debt
    CU_ASSERT_EQUAL(tg_bucket_remaining(&b, 1000, t), 0);
    int64_t wait = 0;
    CU_ASSERT_FALSE(tg_bucket_take(&b, 1000, 100, t, &wait));
    CU_ASSERT_EQUAL(wait, 200 * MIN / 1000);  //  pay the debt, then 100 more
    CU_ASSERT_EQUAL(tg_bucket_remaining(&b, 1000, t + 24 * 1000000), 300);
    //  A debt larger than a whole minute's refill still refills at the rate.
    tg_bucket_t d = {0};
    tg_bucket_charge(&d, 10, 25, t);  //  10 - 25 = -15
    CU_ASSERT_EQUAL(tg_bucket_remaining(&d, 10, t + MIN), 0);
    CU_ASSERT_EQUAL(tg_bucket_remaining(&d, 10, t + 2 * MIN), 5);
    CU_ASSERT_EQUAL(tg_bucket_remaining(&d, 10, t + 3 * MIN), 10);
    //  The largest limit does not overflow.
    tg_bucket_t big = {0};
    CU_ASSERT_TRUE(tg_bucket_take(&big, 1000000000, 1000000000, t, NULL));
    CU_ASSERT_EQUAL(tg_bucket_remaining(&big, 1000000000, t + MIN / 2), 500000000);
}

static void
test_quota(void)
{
    int64_t dec31;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-12-31T23:59:59Z", &dec31), TG_OK);
    tg_quota_t q = {0};
    CU_ASSERT_TRUE(tg_quota_take(&q, 2, 1, dec31));
    CU_ASSERT_TRUE(tg_quota_take(&q, 2, 1, dec31));
    CU_ASSERT_FALSE(tg_quota_take(&q, 2, 1, dec31));
    CU_ASSERT_EQUAL(tg_quota_used(&q, dec31), 2);
    CU_ASSERT_EQUAL(tg_quota_reset_us(dec31), 1000000);
    //  The month changes: the count starts again.
    CU_ASSERT_TRUE(tg_quota_take(&q, 2, 1, dec31 + 1000000));
    CU_ASSERT_STRING_EQUAL(q.month, "2027-01");
    CU_ASSERT_EQUAL(q.used, 1);
    tg_quota_charge(&q, 50, dec31 + 2000000);
    CU_ASSERT_EQUAL(tg_quota_used(&q, dec31 + 2000000), 51);
    CU_ASSERT_TRUE(tg_quota_take(&q, 0, 1000, dec31 + 2000000));  //  0 = no limit
}

static void
test_tiers(void)
{
    tg_config_t *cfg = tg_config_load_string("tiers:\n  pro:\n    requests_per_minute: 7\n"
                                             "keys:\n  default_tier: pro\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    int64_t none[TG_LIM_N] = {-1, -1, -1, -1};
    uint64_t out[TG_LIM_N];
    tg_tiers_t tiers;
    tg_tiers_load(cfg, &tiers);
    tg_limits_resolve(&tiers, "pro", none, out);
    CU_ASSERT_EQUAL(out[TG_LIM_RPM], 7);       //  from the config
    CU_ASSERT_EQUAL(out[TG_LIM_TPM], 400000);  //  the built-in default of pro
    CU_ASSERT_EQUAL(out[TG_LIM_TPMO], 50000000);
    int64_t own[TG_LIM_N] = {12, -1, 0, -1};
    tg_limits_resolve(&tiers, "pro", own, out);
    CU_ASSERT_EQUAL(out[TG_LIM_RPM], 12);      //  the key's override wins
    CU_ASSERT_EQUAL(out[TG_LIM_TPM], 400000);  //  the rest is inherited
    CU_ASSERT_EQUAL(out[TG_LIM_RPMO], 0);      //  an override of 0 = no limit
    tg_limits_resolve(&tiers, "free", none, out);
    CU_ASSERT_EQUAL(out[TG_LIM_RPM], 60);
    CU_ASSERT_EQUAL(out[TG_LIM_TPMO], 1000000);
    tg_limits_resolve(&tiers, "enterprise", none, out);
    CU_ASSERT_EQUAL(out[TG_LIM_RPM] + out[TG_LIM_TPM] + out[TG_LIM_RPMO] + out[TG_LIM_TPMO], 0);
    tg_limits_resolve(&tiers, NULL, none, out);  //  no tier: keys.default_tier
    CU_ASSERT_EQUAL(out[TG_LIM_RPM], 7);
    CU_ASSERT_TRUE(tg_tiers_valid(&tiers, "enterprise"));
    CU_ASSERT_FALSE(tg_tiers_valid(&tiers, "gold"));
    tg_config_destroy(&cfg);
    //  Tiers are named in the config: a new one starts with no limits.
    cfg = tg_config_load_string("tiers:\n  gold:\n    tokens_per_minute: 5\n"
                                "keys:\n  default_tier: gold\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    tg_tiers_load(cfg, &tiers);
    CU_ASSERT_EQUAL(tiers.n, 4);
    CU_ASSERT_TRUE(tg_tiers_valid(&tiers, "gold"));
    tg_limits_resolve(&tiers, NULL, none, out);
    CU_ASSERT_EQUAL(out[TG_LIM_TPM], 5);
    CU_ASSERT_EQUAL(out[TG_LIM_RPM], 0);
    char names[128];
    tg_tiers_names(&tiers, names, sizeof names);
    CU_ASSERT_STRING_EQUAL(names, "free, pro, enterprise, gold");
    tg_config_destroy(&cfg);
    //  Bad tiers stop the load.
    CU_ASSERT_PTR_NULL(tg_config_load_string("tiers:\n  gold:\n    per_hour: 5\n"));
    CU_ASSERT_PTR_NULL(tg_config_load_string("tiers:\n  gold:\n    tokens_per_minute: -1\n"));
    CU_ASSERT_PTR_NULL(tg_config_load_string("tiers:\n  Gold Tier:\n    tokens_per_minute: 1\n"));
    CU_ASSERT_PTR_NULL(tg_config_load_string("keys:\n  default_tier: platinum\n"));
}

static void
test_estimate_and_duration(void)
{
    json_t *doc = json_loads("{\"messages\":[{\"role\":\"user\",\"content\":\"12345678\"},"
                             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"abc\"},"
                             "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}",
                             0, NULL);
    CU_ASSERT_EQUAL(tg_limits_estimate_tokens(doc), 3);  //  11 characters / 4, rounded up
    json_decref(doc);
    doc = json_loads("{\"input\":[\"abcd\",\"efgh\"]}", 0, NULL);
    CU_ASSERT_EQUAL(tg_limits_estimate_tokens(doc), 2);
    json_decref(doc);
    doc = json_loads("{\"messages\":[]}", 0, NULL);
    CU_ASSERT_EQUAL(tg_limits_estimate_tokens(doc), 1);
    json_decref(doc);
    char s[32];
    tg_limits_duration(1500, s, sizeof s);
    CU_ASSERT_STRING_EQUAL(s, "2ms");
    tg_limits_duration(6000000, s, sizeof s);
    CU_ASSERT_STRING_EQUAL(s, "6s");
    tg_limits_duration(90000000, s, sizeof s);
    CU_ASSERT_STRING_EQUAL(s, "1m30s");
    tg_limits_duration(7322000000LL, s, sizeof s);
    CU_ASSERT_STRING_EQUAL(s, "2h2m2s");
}

static void
s_rq(tg_fr_request_t *rq, const char *id, uint64_t rpm, uint64_t tpm, uint64_t ptok)
{
    memset(rq, 0, sizeof *rq);
    rq->id = (char *)id;
    rq->key = "key_a";
    rq->rpm = rpm;
    rq->tpm = tpm;
    rq->ptok = ptok;
}

static void
test_router_admit_settle(void)
{
    router_limits_t *lim = router_limits_new(NULL);
    tg_fr_request_t rq;
    char *rl = NULL, *msg = NULL;
    uint64_t retry = 0;
    int64_t t = 1000000;
    s_rq(&rq, "r1", 2, 100, 30);
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t, &rl, &msg, &retry), TG_OK);
    CU_ASSERT_STRING_EQUAL(rl, "2 1 30000000 100 70 18000000");
    free(rl);
    CU_ASSERT_EQUAL(router_limits_pending(lim), 1);
    //  The worker reports r1 done with 50 completion tokens: 70 - 50 = 20 left.
    const char load[] = "other 5\nr1 50\nold-format-id";
    router_limits_settle(lim, load, sizeof load - 1, t);
    CU_ASSERT_EQUAL(router_limits_pending(lim), 0);
    s_rq(&rq, "r2", 2, 100, 30);
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t, &rl, &msg, &retry), TG_AGAIN);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(msg, "tokens per minute (TPM): Limit 100, Used 80, Requested 30"));
    CU_ASSERT_EQUAL(retry, 6);  //  10 tokens missing at 100 a minute
    free(msg);
    free(rl);
    //  Nothing was counted for the refused call: the request limit still has 1.
    s_rq(&rq, "r3", 2, 100, 10);
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t, &rl, &msg, &retry), TG_OK);
    free(rl);
    s_rq(&rq, "r4", 2, 100, 1);
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t, &rl, &msg, &retry), TG_AGAIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "requests per minute (RPM): Limit 2, Used 2"));
    CU_ASSERT_EQUAL(retry, 30);
    free(msg);
    free(rl);
    //  A key with no limits is never counted.
    s_rq(&rq, "r5", 0, 0, 1);
    rq.key = "master";
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t, &rl, &msg, &retry), TG_OK);
    CU_ASSERT_PTR_NULL(rl);
    //  Calls whose tokens never come are forgotten after 15 minutes.
    CU_ASSERT_EQUAL(router_limits_pending(lim), 1);
    router_limits_tick(lim, t + 16LL * 60 * 1000000);
    CU_ASSERT_EQUAL(router_limits_pending(lim), 0);
    router_limits_destroy(&lim);
    CU_ASSERT_PTR_NULL(lim);
}

static void
test_router_monthly(void)
{
    router_limits_t *lim = router_limits_new(NULL);
    tg_fr_request_t rq;
    char *rl = NULL, *msg = NULL;
    uint64_t retry = 0;
    int64_t t;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-12-31T23:00:00Z", &t), TG_OK);
    s_rq(&rq, "m1", 0, 0, 5);
    rq.rpmo = 1;
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t, &rl, &msg, &retry), TG_OK);
    CU_ASSERT_PTR_NULL(rl);  //  no per-minute limit: no headers
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t, &rl, &msg, &retry), TG_AGAIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "requests per month: Limit 1, Used 1"));
    CU_ASSERT_EQUAL(retry, 3600);  //  the month ends in an hour
    free(msg);
    //  The new month resets it.
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t + 3600LL * 1000000, &rl, &msg, &retry), TG_OK);
    router_limits_destroy(&lim);
}

static void
test_router_monthly_kept(void)
{
    char tmpl[] = "/tmp/tg-test-limits-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char *env = tg_strfmt("%s/keys", dir);
    tg_keystore_t *store = NULL;
    CU_ASSERT_EQUAL_FATAL(tg_keystore_open(env, false, &store), TG_OK);
    int64_t t = 1796000000LL * 1000000;
    tg_fr_request_t rq;
    char *rl = NULL, *msg = NULL;
    uint64_t retry = 0;
    router_limits_t *lim = router_limits_new(store);
    s_rq(&rq, "q1", 0, 0, 7);
    rq.rpmo = 2;
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t, &rl, &msg, &retry), TG_OK);
    router_limits_destroy(&lim);  //  writes the month's counts
    lim = router_limits_new(store);
    rq.id = "q2";
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t, &rl, &msg, &retry), TG_OK);
    rq.id = "q3";
    CU_ASSERT_EQUAL(router_limits_admit(lim, &rq, t, &rl, &msg, &retry), TG_AGAIN);
    free(msg);
    router_limits_tick(lim, t);  //  flushes too
    router_limits_destroy(&lim);
    tg_keystore_destroy(&store);
    char *cmd = tg_strfmt("rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(cmd);
    free(env);
}

static void
test_done_line(void)
{
    char id[16];
    uint64_t out, in;
    bool any;
    CU_ASSERT_TRUE(router_limits_done_line("req_1 42 17", 11, id, sizeof id, &out, &in, &any));
    CU_ASSERT_STRING_EQUAL(id, "req_1");
    CU_ASSERT_EQUAL(out, 42);
    CU_ASSERT_EQUAL(in, 17);
    CU_ASSERT_TRUE(any);
    CU_ASSERT_TRUE(router_limits_done_line("req_2 9", 7, id, sizeof id, &out, &in, &any));
    CU_ASSERT_EQUAL(out, 9);
    CU_ASSERT_EQUAL(in, 0);
    CU_ASSERT_TRUE(router_limits_done_line("req_3", 5, id, sizeof id, &out, &in, &any));
    CU_ASSERT_FALSE(any);  //  a joined call: the id only
    CU_ASSERT_FALSE(
        router_limits_done_line("a-very-long-request-id 1", 24, id, sizeof id, &out, &in, &any));
    CU_ASSERT_FALSE(router_limits_done_line("", 0, id, sizeof id, &out, &in, &any));
}

void
test_limits_register(void)
{
    CU_pSuite s = CU_add_suite("limits", NULL, NULL);
    CU_add_test(s, "bucket", test_bucket);
    CU_add_test(s, "bucket debt", test_bucket_debt);
    CU_add_test(s, "monthly quota", test_quota);
    CU_add_test(s, "tiers", test_tiers);
    CU_add_test(s, "estimate and duration", test_estimate_and_duration);
    CU_add_test(s, "router admit and settle", test_router_admit_settle);
    CU_add_test(s, "router monthly", test_router_monthly);
    CU_add_test(s, "LOAD done lines", test_done_line);
    CU_add_test(s, "router monthly counts kept", test_router_monthly_kept);
}
