//  test_router_breaker.c - the circuit breaker state machine (spec P3): every transition,
//  probe limits, the disabled breaker, and time passed in.
#include <CUnit/CUnit.h>

#include "router_breaker.h"

#define S 1000000  //  µs per second

static void
test_opens_after_threshold(void)
{
    router_breaker_t b;
    router_breaker_init(&b, 5, 2, 3, 30 * S);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(router_breaker_record(&b, false, 1000 + i), ROUTER_BREAKER_CLOSED);
    CU_ASSERT_TRUE(router_breaker_allows(&b, 2000));
    //  A success in between starts the count again: failures must be consecutive.
    router_breaker_record(&b, true, 2000);
    for (int i = 0; i < 4; i++)
        router_breaker_record(&b, false, 3000 + i);
    CU_ASSERT_EQUAL(router_breaker_state(&b, 4000), ROUTER_BREAKER_CLOSED);
    CU_ASSERT_EQUAL(router_breaker_record(&b, false, 5000), ROUTER_BREAKER_OPEN);
    CU_ASSERT_EQUAL(b.opens, 1);
    CU_ASSERT_FALSE(router_breaker_allows(&b, 5001));
    CU_ASSERT_FALSE(router_breaker_take(&b, 5000 + 30 * S - 1));
    CU_ASSERT_EQUAL(router_breaker_retry_at(&b), 5000 + 30 * S);
}

static void
test_half_open_probes_and_close(void)
{
    router_breaker_t b;
    router_breaker_init(&b, 3, 2, 3, 20 * S);
    for (int i = 0; i < 3; i++)
        router_breaker_record(&b, false, 0);
    CU_ASSERT_EQUAL(router_breaker_state(&b, 20 * S), ROUTER_BREAKER_HALF_OPEN);
    CU_ASSERT_EQUAL(router_breaker_retry_at(&b), 0);
    //  Three probes go, a fourth waits for their outcomes.
    CU_ASSERT_TRUE(router_breaker_take(&b, 20 * S));
    CU_ASSERT_TRUE(router_breaker_take(&b, 20 * S));
    CU_ASSERT_TRUE(router_breaker_take(&b, 20 * S));
    CU_ASSERT_FALSE(router_breaker_take(&b, 20 * S + 1));
    CU_ASSERT_EQUAL(router_breaker_record(&b, true, 21 * S), ROUTER_BREAKER_HALF_OPEN);
    CU_ASSERT_EQUAL(router_breaker_record(&b, true, 21 * S), ROUTER_BREAKER_CLOSED);
    CU_ASSERT_EQUAL(b.closes, 1);
    CU_ASSERT_TRUE(router_breaker_allows(&b, 21 * S));
    //  Closed again: it takes failure_threshold failures to open.
    router_breaker_record(&b, false, 22 * S);
    router_breaker_record(&b, false, 22 * S);
    CU_ASSERT_EQUAL(router_breaker_state(&b, 22 * S), ROUTER_BREAKER_CLOSED);
}

static void
test_half_open_failure_reopens(void)
{
    router_breaker_t b;
    router_breaker_init(&b, 1, 2, 3, 10 * S);
    CU_ASSERT_EQUAL(router_breaker_record(&b, false, 0), ROUTER_BREAKER_OPEN);
    CU_ASSERT_TRUE(router_breaker_take(&b, 10 * S));
    CU_ASSERT_EQUAL(router_breaker_record(&b, true, 10 * S + 5), ROUTER_BREAKER_HALF_OPEN);
    CU_ASSERT_EQUAL(router_breaker_record(&b, false, 11 * S), ROUTER_BREAKER_OPEN);
    CU_ASSERT_EQUAL(b.opens, 2);
    CU_ASSERT_EQUAL(router_breaker_retry_at(&b), 21 * S);  //  the timeout starts again
    CU_ASSERT_FALSE(router_breaker_allows(&b, 20 * S));
    CU_ASSERT_TRUE(router_breaker_allows(&b, 21 * S));
}

static void
test_late_outcomes_and_lost_probes(void)
{
    router_breaker_t b;
    router_breaker_init(&b, 2, 1, 1, 5 * S);
    router_breaker_record(&b, false, 0);
    router_breaker_record(&b, false, 0);
    //  Outcomes of calls sent before it opened change nothing while open.
    CU_ASSERT_EQUAL(router_breaker_record(&b, true, S), ROUTER_BREAKER_OPEN);
    CU_ASSERT_EQUAL(router_breaker_record(&b, false, 2 * S), ROUTER_BREAKER_OPEN);
    CU_ASSERT_EQUAL(router_breaker_retry_at(&b), 5 * S);
    //  A probe whose outcome never comes is given up after another timeout.
    CU_ASSERT_TRUE(router_breaker_take(&b, 5 * S));
    CU_ASSERT_FALSE(router_breaker_take(&b, 9 * S));
    CU_ASSERT_TRUE(router_breaker_take(&b, 10 * S));
}

static void
test_disabled_and_defaults(void)
{
    router_breaker_t b;
    router_breaker_init(&b, 0, 0, 0, 0);  //  a local server: never opens
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(router_breaker_record(&b, false, i), ROUTER_BREAKER_CLOSED);
    CU_ASSERT_TRUE(router_breaker_take(&b, 100));
    //  probes below success_threshold could never close it: raised to it.
    router_breaker_init(&b, 5, 3, 1, S);
    CU_ASSERT_EQUAL(b.probes_max, 3);
    CU_ASSERT_STRING_EQUAL(router_breaker_name(ROUTER_BREAKER_HALF_OPEN), "half_open");
    CU_ASSERT_STRING_EQUAL(router_breaker_name(ROUTER_BREAKER_OPEN), "open");
    CU_ASSERT_STRING_EQUAL(router_breaker_name(ROUTER_BREAKER_CLOSED), "closed");
}

void
test_router_breaker_register(void)
{
    CU_pSuite s = CU_add_suite("router_breaker", NULL, NULL);
    CU_add_test(s, "closed -> open after consecutive failures", test_opens_after_threshold);
    CU_add_test(s, "half-open probes, closes after successes", test_half_open_probes_and_close);
    CU_add_test(s, "a half-open failure reopens", test_half_open_failure_reopens);
    CU_add_test(s, "late outcomes, lost probes", test_late_outcomes_and_lost_probes);
    CU_add_test(s, "disabled breaker, bounds", test_disabled_and_defaults);
}
