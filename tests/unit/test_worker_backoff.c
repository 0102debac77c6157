//  test_worker_backoff.c - tg_backoff (full jitter: exponential steps, bounds, cap) and the
//  pure parts of worker_policy: Retry-After parsing, the retry budget, deadlines.
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <string.h>

#include "tg_backoff.h"
#include "worker_policy.h"

static void
test_steps_double(void)
{
    //  rnd 0 gives 0, UINT32_MAX the whole step: the window is [0, base * 2^attempt].
    CU_ASSERT_EQUAL(tg_backoff_delay_us(0, 200000, 30000000, 0), 0);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(0, 200000, 30000000, UINT32_MAX), 200000);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(1, 200000, 30000000, UINT32_MAX), 400000);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(2, 200000, 30000000, UINT32_MAX), 800000);
    int64_t mid = tg_backoff_delay_us(2, 200000, 30000000, UINT32_MAX / 2);
    CU_ASSERT(mid >= 399000 && mid <= 401000);
}

static void
test_jitter_bounds(void)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        int64_t d = 1000;
        for (int i = 0; i < attempt; i++)
            d *= 2;
        int64_t lo = INT64_MAX, hi = 0, sum = 0;
        for (uint32_t r = 0; r < 5000; r++) {
            int64_t v = tg_backoff_delay_us(attempt, 1000, 1000000, r * 2654435761u);
            CU_ASSERT(v >= 0 && v <= d);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
        }
        CU_ASSERT(lo < d / 10);      //  full jitter reaches near zero ...
        CU_ASSERT(hi > d * 9 / 10);  //  ... and near the whole step
        CU_ASSERT(sum / 5000 > d * 4 / 10 && sum / 5000 < d * 6 / 10);  //  mean about d/2
    }
}

static void
test_cap_and_degenerate(void)
{
    CU_ASSERT(tg_backoff_delay_us(40, 200000, 30000000, UINT32_MAX) == 30000000);
    CU_ASSERT(tg_backoff_delay_us(40, 200000, 30000000, 0) == 0);
    CU_ASSERT(tg_backoff_delay_us(1000000, INT64_MAX / 2, INT64_MAX, 7) >= 0);
    CU_ASSERT(tg_backoff_delay_us(3, 5000000, 1000000, UINT32_MAX) == 1000000);  //  base > cap
    CU_ASSERT_EQUAL(tg_backoff_delay_us(0, 0, 1000, 5), 0);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(2, 100, 0, 5), 0);
    CU_ASSERT_EQUAL(tg_backoff_delay_us(-3, 1000, 100000, UINT32_MAX), 1000);  //  as attempt 0
}

static void
test_retry_after_seconds(void)
{
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("0", 1000), 0);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("2", 1000), 2000000);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us(" 120 \r\n", 1000), 120000000);
    CU_ASSERT(worker_policy_retry_after_us("99999999999999999999999", 0) > 3600000000LL);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us(NULL, 0), -1);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("", 0), -1);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("1.5", 0), -1);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("-3", 0), -1);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("10s", 0), -1);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("soon", 0), -1);
}

static void
test_retry_after_date(void)
{
    //  Sun, 06 Nov 1994 08:49:37 GMT is epoch 784111777 (RFC 7231's example).
    const int64_t t = 784111777;
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("Sun, 06 Nov 1994 08:49:37 GMT", t - 5), 5000000);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("Sunday, 06-Nov-94 08:49:37 GMT", t - 5),
                    5000000);  //  RFC 850
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("Sun Nov  6 08:49:37 1994", t - 5), 5000000);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("Sun, 06 Nov 1994 08:49:37 GMT", t + 60), 0);
    CU_ASSERT_EQUAL(worker_policy_retry_after_us("Sun, 99 Foo 1994 08:49:37 GMT", t), -1);
}

static void
test_budget_floor_and_share(void)
{
    worker_budget_t *b = worker_budget_new(20, 1);  //  20 %, at least 1 a second (10 / 10 s)
    int64_t now = 100 * 1000000LL;
    CU_ASSERT_EQUAL(worker_budget_allowed(b, now), 10);
    int took = 0;
    for (int i = 0; i < 50; i++)
        took += worker_budget_take(b, now);
    CU_ASSERT_EQUAL(took, 10);  //  the floor, no calls counted
    for (int i = 0; i < 100; i++)
        worker_budget_call(b, now);
    CU_ASSERT_EQUAL(worker_budget_allowed(b, now), 20);  //  20 % of 100 calls
    for (int i = 0; i < 50; i++)
        took += worker_budget_take(b, now);
    CU_ASSERT_EQUAL(took, 20);
    //  Ten seconds later the window has moved past all of it.
    now += 10 * 1000000LL;
    CU_ASSERT_EQUAL(worker_budget_allowed(b, now), 10);
    CU_ASSERT_TRUE(worker_budget_take(b, now));
    worker_budget_destroy(&b);
    CU_ASSERT_PTR_NULL(b);
}

static void
test_budget_window_slides(void)
{
    worker_budget_t *b = worker_budget_new(50, 0);
    int64_t s = 1000000;
    for (int i = 0; i < 10; i++)
        worker_budget_call(b, 5 * s);  //  10 calls at second 5
    CU_ASSERT_EQUAL(worker_budget_allowed(b, 5 * s), 5);
    CU_ASSERT_EQUAL(worker_budget_allowed(b, 14 * s + 999999), 5);  //  still in the window
    CU_ASSERT_EQUAL(worker_budget_allowed(b, 15 * s), 0);           //  gone
    CU_ASSERT_FALSE(worker_budget_take(b, 15 * s));                 //  percent 0 of 0, floor 0
    worker_budget_destroy(&b);
}

static void
test_deadline(void)
{
    CU_ASSERT_EQUAL(worker_policy_deadline_mono(1000000, 0, 2000000, 50), 0);
    //  Entered at epoch 1 s, 500 ms deadline, now epoch 1.2 s = mono 10 s: due at mono 10.3 s.
    CU_ASSERT_EQUAL(worker_policy_deadline_mono(1000000, 500, 1200000, 10000000), 10300000);
    CU_ASSERT(worker_policy_deadline_mono(1000000, 1, 9000000, 10) > 0);  //  passed, still set
}

static void
test_content_chars(void)
{
    const char *oa = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word\"}}]}";
    CU_ASSERT_EQUAL(worker_policy_content_chars(oa, strlen(oa)), 5);
    const char *esc = "{\"delta\":{\"content\": \"a\\\"b\\u00e9\\n\"}}";  //  a \" b \u00e9 \n
    CU_ASSERT_EQUAL(worker_policy_content_chars(esc, strlen(esc)), 5);
    const char *an = "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                     "\"text_delta\",\"text\":\" h\xc3\xa9llo\"}}";
    CU_ASSERT_EQUAL(worker_policy_content_chars(an, strlen(an)), 6);  //  é is one character
    const char *none = "{\"choices\":[{\"delta\":{\"content\":null}}]}";
    CU_ASSERT_EQUAL(worker_policy_content_chars(none, strlen(none)), 0);
    CU_ASSERT_EQUAL(worker_policy_content_chars("[DONE]", 6), 0);
    const char *cut = "{\"delta\":{\"content\":\"abc";  //  cut: counts what is there
    CU_ASSERT_EQUAL(worker_policy_content_chars(cut, strlen(cut)), 3);
}

void
test_worker_backoff_register(void)
{
    CU_pSuite s = CU_add_suite("worker_backoff", NULL, NULL);
    CU_add_test(s, "steps double", test_steps_double);
    CU_add_test(s, "jitter bounds", test_jitter_bounds);
    CU_add_test(s, "cap and degenerate inputs", test_cap_and_degenerate);
    CU_add_test(s, "Retry-After in seconds", test_retry_after_seconds);
    CU_add_test(s, "Retry-After as an HTTP date", test_retry_after_date);
    CU_add_test(s, "budget: floor and share", test_budget_floor_and_share);
    CU_add_test(s, "budget: the window slides", test_budget_window_slides);
    CU_add_test(s, "deadline arithmetic", test_deadline);
    CU_add_test(s, "streamed content characters", test_content_chars);
}
