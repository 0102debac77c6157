//  test_worker_backoff.c - tg_backoff: exponential steps, jitter bounds, cap.
#include <CUnit/CUnit.h>
#include <stdint.h>

#include "tg_backoff.h"

static void
test_steps_double(void)
{
    //  rnd 0 gives the low end of the window (d/2), UINT32_MAX lands inside [d/2, d].
    CU_ASSERT_EQUAL(tg_backoff_delay_us(0, 200000, 30000000, 0), 100000);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(1, 200000, 30000000, 0), 200000);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(2, 200000, 30000000, 0), 400000);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(0, 200000, 30000000, 100000), 200000);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(0, 200000, 30000000, 100001), 100000);
}

static void
test_jitter_bounds(void)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        int64_t d = 1000;
        for (int i = 0; i < attempt; i++)
            d *= 2;
        int64_t lo = INT64_MAX, hi = 0;
        for (uint32_t r = 0; r < 5000; r++) {
            int64_t v = tg_backoff_delay_us(attempt, 1000, 1000000, r * 2654435761u);
            CU_ASSERT(v >= d / 2 && v <= d);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        CU_ASSERT(hi > lo);  //  jitter actually spreads the delays
    }
}

static void
test_cap_and_degenerate(void)
{
    CU_ASSERT(tg_backoff_delay_us(40, 200000, 30000000, UINT32_MAX) <= 30000000);
    CU_ASSERT(tg_backoff_delay_us(40, 200000, 30000000, 0) == 15000000);
    CU_ASSERT(tg_backoff_delay_us(1000000, INT64_MAX / 2, INT64_MAX, 7) <= INT64_MAX);
    CU_ASSERT(tg_backoff_delay_us(3, 5000000, 1000000, 0) == 500000);  //  base above cap
    CU_ASSERT_EQUAL(tg_backoff_delay_us(0, 0, 1000, 5), 0);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(2, 100, 0, 5), 0);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(-3, 1000, 100000, 0), 500);  //  as attempt 0
}

void
test_worker_backoff_register(void)
{
    CU_pSuite s = CU_add_suite("worker_backoff", NULL, NULL);
    CU_add_test(s, "steps double", test_steps_double);
    CU_add_test(s, "jitter bounds", test_jitter_bounds);
    CU_add_test(s, "cap and degenerate inputs", test_cap_and_degenerate);
}
