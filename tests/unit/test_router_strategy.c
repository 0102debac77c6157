//  test_router_strategy.c - the load-balancing picks (spec P4) over made-up candidates.
#include <CUnit/CUnit.h>
#include <string.h>

#include "router_strategy.h"

static void
s_cands(router_cand_t *c, size_t n)
{
    memset(c, 0, n * sizeof *c);
    for (size_t i = 0; i < n; i++) {
        c[i].allowed = true;
        c[i].weight = 1;
    }
}

static void
test_parse(void)
{
    CU_ASSERT_EQUAL(router_strategy_parse("round-robin"), ROUTER_STRATEGY_ROUND_ROBIN);
    CU_ASSERT_EQUAL(router_strategy_parse("weighted"), ROUTER_STRATEGY_WEIGHTED);
    CU_ASSERT_EQUAL(router_strategy_parse("least-busy"), ROUTER_STRATEGY_LEAST_BUSY);
    CU_ASSERT_EQUAL(router_strategy_parse("lowest-latency"), ROUTER_STRATEGY_LOWEST_LATENCY);
    CU_ASSERT_EQUAL(router_strategy_parse("cheapest"), ROUTER_STRATEGY_CHEAPEST);
    CU_ASSERT_EQUAL(router_strategy_parse("fastest"), -1);
    CU_ASSERT_EQUAL(router_strategy_parse(NULL), -1);
}

static void
test_round_robin_skips_disallowed(void)
{
    router_cand_t c[3];
    s_cands(c, 3);
    uint64_t rr = 0;
    int got[6];
    for (int i = 0; i < 6; i++)
        got[i] = router_strategy_pick(ROUTER_STRATEGY_ROUND_ROBIN, c, 3, &rr);
    int want[6] = {0, 1, 2, 0, 1, 2};
    CU_ASSERT_EQUAL(memcmp(got, want, sizeof got), 0);
    c[1].allowed = false;
    int n[3] = {0};
    for (int i = 0; i < 300; i++)
        n[router_strategy_pick(ROUTER_STRATEGY_ROUND_ROBIN, c, 3, &rr)]++;
    CU_ASSERT_EQUAL(n[1], 0);
    CU_ASSERT_EQUAL(n[0] + n[2], 300);
    c[0].allowed = c[2].allowed = false;
    CU_ASSERT_EQUAL(router_strategy_pick(ROUTER_STRATEGY_ROUND_ROBIN, c, 3, &rr), -1);
    CU_ASSERT_EQUAL(router_strategy_pick(ROUTER_STRATEGY_ROUND_ROBIN, c, 0, &rr), -1);
}

static void
test_weighted_exact_and_smooth(void)
{
    router_cand_t c[3];
    s_cands(c, 3);
    c[0].weight = 5;
    c[1].weight = 1;
    c[2].weight = 1;
    uint64_t rr = 0;
    int n[3] = {0}, seq[7];
    for (int i = 0; i < 7; i++)
        n[seq[i] = router_strategy_pick(ROUTER_STRATEGY_WEIGHTED, c, 3, &rr)]++;
    CU_ASSERT_EQUAL(n[0], 5);
    CU_ASSERT_EQUAL(n[1], 1);
    CU_ASSERT_EQUAL(n[2], 1);
    //  nginx's smooth order for 5:1:1: a a b a c a a
    int want[7] = {0, 0, 1, 0, 2, 0, 0};
    CU_ASSERT_EQUAL(memcmp(seq, want, sizeof seq), 0);
    //  A target left out: the others keep their ratio.
    c[0].allowed = false;
    memset(n, 0, sizeof n);
    for (int i = 0; i < 100; i++)
        n[router_strategy_pick(ROUTER_STRATEGY_WEIGHTED, c, 3, &rr)]++;
    CU_ASSERT_EQUAL(n[0], 0);
    CU_ASSERT_EQUAL(n[1], 50);
    CU_ASSERT_EQUAL(n[2], 50);
}

static void
test_least_busy(void)
{
    router_cand_t c[3];
    s_cands(c, 3);
    c[0].inflight = 4;
    c[1].inflight = 2;
    c[2].inflight = 3;
    uint64_t rr = 0;
    CU_ASSERT_EQUAL(router_strategy_pick(ROUTER_STRATEGY_LEAST_BUSY, c, 3, &rr), 1);
    c[1].allowed = false;
    CU_ASSERT_EQUAL(router_strategy_pick(ROUTER_STRATEGY_LEAST_BUSY, c, 3, &rr), 2);
    //  Ties go in turn.
    s_cands(c, 3);
    rr = 0;
    int a = router_strategy_pick(ROUTER_STRATEGY_LEAST_BUSY, c, 3, &rr);
    int b = router_strategy_pick(ROUTER_STRATEGY_LEAST_BUSY, c, 3, &rr);
    int d = router_strategy_pick(ROUTER_STRATEGY_LEAST_BUSY, c, 3, &rr);
    CU_ASSERT(a != b && b != d && a != d);
}

static void
test_lowest_latency(void)
{
    router_cand_t c[3];
    s_cands(c, 3);
    c[0].ewma_us = 90000;
    c[1].ewma_us = 30000;
    c[2].ewma_us = 0;  //  unmeasured: tried first
    uint64_t rr = 0;
    CU_ASSERT_EQUAL(router_strategy_pick(ROUTER_STRATEGY_LOWEST_LATENCY, c, 3, &rr), 2);
    c[2].inflight = 1;  //  its measuring call is out: the fastest measured one goes first
    CU_ASSERT_EQUAL(router_strategy_pick(ROUTER_STRATEGY_LOWEST_LATENCY, c, 3, &rr), 1);
    c[2].ewma_us = 50000;
    CU_ASSERT_EQUAL(router_strategy_pick(ROUTER_STRATEGY_LOWEST_LATENCY, c, 3, &rr), 1);
    c[1].allowed = false;
    CU_ASSERT_EQUAL(router_strategy_pick(ROUTER_STRATEGY_LOWEST_LATENCY, c, 3, &rr), 2);
}

static void
test_cheapest(void)
{
    router_cand_t c[3];
    s_cands(c, 3);
    c[0].price = 4.75;   //  gpt-4o at 70/30
    c[1].price = 0.285;  //  gpt-4o-mini
    c[2].price = 0.285;  //  a tie goes to the one declared first
    uint64_t rr = 0;
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(router_strategy_pick(ROUTER_STRATEGY_CHEAPEST, c, 3, &rr), 1);
    c[1].allowed = false;
    CU_ASSERT_EQUAL(router_strategy_pick(ROUTER_STRATEGY_CHEAPEST, c, 3, &rr), 2);
}

void
test_router_strategy_register(void)
{
    CU_pSuite s = CU_add_suite("router_strategy", NULL, NULL);
    CU_add_test(s, "names", test_parse);
    CU_add_test(s, "round-robin, targets left out", test_round_robin_skips_disallowed);
    CU_add_test(s, "weighted: exact shares, smooth order", test_weighted_exact_and_smooth);
    CU_add_test(s, "least-busy", test_least_busy);
    CU_add_test(s, "lowest-latency (EWMA)", test_lowest_latency);
    CU_add_test(s, "cheapest", test_cheapest);
}
