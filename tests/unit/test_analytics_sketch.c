//  test_analytics_sketch.c - the quantile sketch: error bounds against exact quantiles, merge,
//  encoding round trip, bad bytes, the bucket cap.
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_sketch.h"

//  xorshift64*: the same values on every run.
static uint64_t s_seed = 88172645463325252ULL;

static double
s_uniform(void)
{
    s_seed ^= s_seed >> 12;
    s_seed ^= s_seed << 25;
    s_seed ^= s_seed >> 27;
    return (double)((s_seed * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int
s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef double(s_draw_fn)(void);

static double
s_draw_uniform(void)
{
    return 1 + 999 * s_uniform();  //  1 .. 1000
}

static double
s_draw_exp(void)
{
    return -log(1 - s_uniform()) * 250000;  //  latencies around 250 ms, in µs
}

static double
s_draw_lognormal(void)
{
    double u1 = 1 - s_uniform(), u2 = s_uniform();
    return exp(10 + 1.5 * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
}

static double
s_draw_pareto(void)
{
    return 1000 / pow(1 - s_uniform(), 1 / 1.2);  //  heavy tail
}

static double
s_draw_bimodal(void)
{
    return s_uniform() < 0.8 ? 20 + s_uniform() : 3e6 + 1e6 * s_uniform();  //  hits vs calls
}

//  Every quantile of `n` draws is within the relative error of the exact one.
static void
s_check_distribution(s_draw_fn *draw, size_t n)
{
    double *v = malloc(n * sizeof *v);
    analytics_sketch_t *sk = analytics_sketch_new();
    for (size_t i = 0; i < n; i++) {
        v[i] = draw();
        analytics_sketch_add(sk, v[i]);
    }
    qsort(v, n, sizeof *v, s_cmp);
    CU_ASSERT_EQUAL(analytics_sketch_count(sk), n);
    static const double qs[] = {0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double exact = v[(size_t)floor(qs[i] * (double)(n - 1))];
        double got = analytics_sketch_quantile(sk, qs[i]);
        CU_ASSERT(fabs(got - exact) <= exact * (ANALYTICS_SKETCH_ALPHA + 1e-9));
    }
    analytics_sketch_destroy(&sk);
    CU_ASSERT_PTR_NULL(sk);
    free(v);
}

static void
test_error_bounds(void)
{
    s_check_distribution(s_draw_uniform, 20000);
    s_check_distribution(s_draw_exp, 20000);
    s_check_distribution(s_draw_lognormal, 20000);
    s_check_distribution(s_draw_pareto, 20000);
    s_check_distribution(s_draw_bimodal, 20000);
}

static void
test_zero_and_empty(void)
{
    analytics_sketch_t *sk = analytics_sketch_new();
    CU_ASSERT(isnan(analytics_sketch_quantile(sk, 0.5)));
    analytics_sketch_add(sk, 0);
    analytics_sketch_add(sk, -3);
    analytics_sketch_add(sk, NAN);
    analytics_sketch_add(sk, 100);
    CU_ASSERT_EQUAL(analytics_sketch_count(sk), 4);
    CU_ASSERT_EQUAL(analytics_sketch_quantile(sk, 0.5), 0);
    CU_ASSERT(fabs(analytics_sketch_quantile(sk, 1) - 100) <= 100 * ANALYTICS_SKETCH_ALPHA);
    CU_ASSERT(fabs(analytics_sketch_quantile(sk, 7) - 100) <= 100 * ANALYTICS_SKETCH_ALPHA);
    analytics_sketch_destroy(&sk);
    analytics_sketch_destroy(&sk);  //  idempotent
}

static int
s_same_bytes(const analytics_sketch_t *a, const analytics_sketch_t *b)
{
    size_t la, lb;
    uint8_t *ea = analytics_sketch_encode(a, &la);
    uint8_t *eb = analytics_sketch_encode(b, &lb);
    int same = la == lb && memcmp(ea, eb, la) == 0;
    free(ea);
    free(eb);
    return same;
}

static void
test_merge_is_union(void)
{
    analytics_sketch_t *a = analytics_sketch_new(), *b = analytics_sketch_new();
    analytics_sketch_t *all = analytics_sketch_new();
    for (int i = 0; i < 5000; i++) {
        double x = s_draw_exp(), y = s_draw_pareto();
        analytics_sketch_add(a, x);
        analytics_sketch_add(b, y);
        analytics_sketch_add(all, x);
        analytics_sketch_add(all, y);
    }
    analytics_sketch_add(b, 0);
    analytics_sketch_add(all, 0);
    analytics_sketch_merge(a, b);
    CU_ASSERT_EQUAL(analytics_sketch_count(a), analytics_sketch_count(all));
    CU_ASSERT(s_same_bytes(a, all));
    for (double q = 0; q <= 1; q += 0.05)
        CU_ASSERT_EQUAL(analytics_sketch_quantile(a, q), analytics_sketch_quantile(all, q));
    //  merging an empty sketch changes nothing; merging into an empty one copies
    analytics_sketch_t *empty = analytics_sketch_new();
    analytics_sketch_merge(a, empty);
    CU_ASSERT(s_same_bytes(a, all));
    analytics_sketch_merge(empty, all);
    CU_ASSERT(s_same_bytes(empty, all));
    analytics_sketch_destroy(&a);
    analytics_sketch_destroy(&b);
    analytics_sketch_destroy(&all);
    analytics_sketch_destroy(&empty);
}

static void
test_encode_round_trip(void)
{
    analytics_sketch_t *sk = analytics_sketch_new();
    size_t len;
    uint8_t *enc = analytics_sketch_encode(sk, &len);
    CU_ASSERT_EQUAL(len, 4);  //  empty: magic, version, zero count, no buckets
    analytics_sketch_t *back = analytics_sketch_decode(enc, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_EQUAL(analytics_sketch_count(back), 0);
    analytics_sketch_destroy(&back);
    free(enc);

    for (int i = 0; i < 10000; i++)
        analytics_sketch_add(sk, s_draw_lognormal());
    analytics_sketch_add(sk, 0);
    analytics_sketch_add(sk, 1e-3);  //  negative bucket index
    enc = analytics_sketch_encode(sk, &len);
    CU_ASSERT(len < 2048);  //  compact: a few bytes per used bucket
    back = analytics_sketch_decode(enc, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_EQUAL(analytics_sketch_count(back), analytics_sketch_count(sk));
    CU_ASSERT(s_same_bytes(back, sk));
    for (double q = 0; q <= 1; q += 0.01)
        CU_ASSERT_EQUAL(analytics_sketch_quantile(back, q), analytics_sketch_quantile(sk, q));
    analytics_sketch_destroy(&back);

    //  every truncation is refused, and so is a trailing byte
    for (size_t cut = 0; cut < len; cut++)
        CU_ASSERT_PTR_NULL(analytics_sketch_decode(enc, cut));
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, enc, len);
    longer[len] = 0;
    CU_ASSERT_PTR_NULL(analytics_sketch_decode(longer, len + 1));
    free(longer);
    free(enc);
    analytics_sketch_destroy(&sk);
}

static void
test_bad_bytes(void)
{
    static const struct {
        const char *why;
        uint8_t b[16];
        size_t len;
    } cases[] = {
        {"magic", {'X', 1, 0, 0}, 4},
        {"version", {'D', 9, 0, 0}, 4},
        {"zero count", {'D', 1, 0, 1, 2, 0}, 6},
        {"index not increasing", {'D', 1, 0, 2, 2, 1, 0, 1}, 8},
        {"index out of range", {'D', 1, 0, 1, 0xff, 0xff, 0xff, 0x7f, 1}, 9},
        {"too many buckets", {'D', 1, 0, 0xff, 0x7f}, 5},
        {"varint too long",
         {'D', 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0},
         14},
        {"span past the cap", {'D', 1, 0, 2, 0, 1, 0x80, 0x08, 1}, 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        analytics_sketch_t *sk = analytics_sketch_decode(cases[i].b, cases[i].len);
        if (sk)
            fprintf(stderr, "accepted bad sketch: %s\n", cases[i].why);
        CU_ASSERT_PTR_NULL(sk);
        analytics_sketch_destroy(&sk);
    }
    CU_ASSERT_PTR_NULL(analytics_sketch_decode(NULL, 0));
    const uint8_t ok[] = {'D', 1, 3, 1, 2, 5};  //  3 zeros, 5 in bucket 1
    analytics_sketch_t *sk = analytics_sketch_decode(ok, sizeof ok);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sk);
    CU_ASSERT_EQUAL(analytics_sketch_count(sk), 8);
    analytics_sketch_destroy(&sk);
}

static void
test_cap_collapses_lowest(void)
{
    analytics_sketch_t *sk = analytics_sketch_new();
    //  1e-6 .. 1e12 needs about 2,070 buckets: the lowest are folded, the top stays exact
    for (int i = 0; i <= 18000; i++)
        analytics_sketch_add(sk, pow(10, -6 + i / 1000.0));
    size_t len;
    uint8_t *enc = analytics_sketch_encode(sk, &len);
    CU_ASSERT(len < ANALYTICS_SKETCH_MAX_BINS * 4);
    analytics_sketch_t *back = analytics_sketch_decode(enc, len);
    CU_ASSERT_PTR_NOT_NULL(back);
    analytics_sketch_destroy(&back);
    free(enc);
    CU_ASSERT_EQUAL(analytics_sketch_count(sk), 18001);
    double exact = pow(10, -6 + 17820 / 1000.0);  //  rank floor(0.99 * 18000)
    CU_ASSERT(fabs(analytics_sketch_quantile(sk, 0.99) - exact) <= exact * 0.0101);
    exact = pow(10, -6 + 13500 / 1000.0);  //  p75, inside the kept factor of 8.6e8
    CU_ASSERT(fabs(analytics_sketch_quantile(sk, 0.75) - exact) <= exact * 0.0101);
    //  the low end was collapsed upwards (p0 answers about 1e12 / 8.6e8), never below
    CU_ASSERT(analytics_sketch_quantile(sk, 0) > 1e3);
    analytics_sketch_destroy(&sk);
}

void
test_analytics_sketch_register(void)
{
    CU_pSuite s = CU_add_suite("analytics_sketch", NULL, NULL);
    CU_add_test(s, "error_bounds", test_error_bounds);
    CU_add_test(s, "zero_and_empty", test_zero_and_empty);
    CU_add_test(s, "merge_is_union", test_merge_is_union);
    CU_add_test(s, "encode_round_trip", test_encode_round_trip);
    CU_add_test(s, "bad_bytes", test_bad_bytes);
    CU_add_test(s, "cap_collapses_lowest", test_cap_collapses_lowest);
}
