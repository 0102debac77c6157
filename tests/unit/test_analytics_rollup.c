//  test_analytics_rollup.c - rollup records (merge, encoding, keys) and the store's minute,
//  hour and day rollups, retention and the usage answers over pruned days.
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_rollup.h"
#include "analytics_store.h"
#include "tg_pricing.h"
#include "tg_utc.h"
#include "tg_util.h"
#include "test_tmpdir.h"

#define S_MIN 60000000LL
#define S_HOUR 3600000000LL
#define S_DAY TG_UTC_DAY_US

static analytics_totals_t
s_one(int64_t cost)
{
    analytics_totals_t t = {.requests = 1, .tok_in = 10, .tok_out = 5, .cost_micro = cost};
    return t;
}

static int
s_same(const analytics_rollup_t *a, const analytics_rollup_t *b)
{
    size_t la, lb;
    uint8_t *ea = analytics_rollup_encode(a, &la);
    uint8_t *eb = analytics_rollup_encode(b, &lb);
    int same = la == lb && memcmp(ea, eb, la) == 0;
    free(ea);
    free(eb);
    return same;
}

static void
test_merge_equals_all(void)
{
    analytics_rollup_t a, b, all;
    analytics_rollup_init(&a);
    analytics_rollup_init(&b);
    analytics_rollup_init(&all);
    for (int i = 1; i <= 300; i++) {
        analytics_totals_t t = s_one(i);
        uint64_t lat = (uint64_t)(1000 + 37 * i), ttft = i % 3 ? (uint64_t)(100 * i) : 0;
        analytics_rollup_add(i % 2 ? &a : &b, &t, lat, ttft);
        analytics_rollup_add(&all, &t, lat, ttft);
    }
    analytics_rollup_merge(&a, &b);
    CU_ASSERT_EQUAL(a.totals.requests, 300);
    CU_ASSERT_EQUAL(a.totals.cost_micro, 300 * 301 / 2);
    CU_ASSERT_EQUAL(a.lat_min_us, 1037);
    CU_ASSERT_EQUAL(a.lat_max_us, 1000 + 37 * 300);
    CU_ASSERT_EQUAL(a.ttft_n, 200);
    CU_ASSERT_EQUAL(a.ttft_min_us, 100);
    CU_ASSERT_EQUAL(a.ttft_max_us, 29900);
    CU_ASSERT(s_same(&a, &all));
    //  merging into an empty rollup takes min and max as they are
    analytics_rollup_t e;
    analytics_rollup_init(&e);
    analytics_rollup_merge(&e, &b);
    CU_ASSERT_EQUAL(e.lat_min_us, b.lat_min_us);
    CU_ASSERT_EQUAL(e.ttft_min_us, b.ttft_min_us);
    CU_ASSERT(s_same(&e, &b));
    analytics_rollup_fini(&e);
    analytics_rollup_fini(&a);
    analytics_rollup_fini(&b);
    analytics_rollup_fini(&all);
}

static void
test_encode_keys(void)
{
    analytics_rollup_t r, back;
    analytics_rollup_init(&r);
    analytics_totals_t t = s_one(42);
    analytics_rollup_add(&r, &t, 5000, 700);
    size_t len;
    uint8_t *enc = analytics_rollup_encode(&r, &len);
    CU_ASSERT_EQUAL_FATAL(analytics_rollup_decode(enc, len, &back), TG_OK);
    CU_ASSERT(s_same(&r, &back));
    analytics_rollup_fini(&back);
    for (size_t cut = 0; cut < len; cut++)
        CU_ASSERT_EQUAL(analytics_rollup_decode(enc, cut, &back), TG_INVALID);
    //  a schema 4 value: 13 counter words (no input cost): read with cost_in 0. The 14th
    //  word of this one is 0, one varint byte: drop it and say 13.
    {
        size_t off = 2, words = 0;
        while (words < 13)
            words += (enc[off++] & 0x80) == 0;
        CU_ASSERT_EQUAL_FATAL(enc[off], 0);
        uint8_t *v4 = tg_zalloc(len);
        memcpy(v4, enc, off);
        memcpy(v4 + off, enc + off + 1, len - off - 1);
        v4[1] = 13;
        CU_ASSERT_EQUAL_FATAL(analytics_rollup_decode(v4, len - 1, &back), TG_OK);
        CU_ASSERT_EQUAL(back.totals.cost_micro, 42);
        CU_ASSERT_EQUAL(back.totals.cost_in_micro, 0);
        CU_ASSERT_EQUAL(back.lat_sum_us, 5000);
        analytics_rollup_fini(&back);
        CU_ASSERT_EQUAL(analytics_rollup_decode_ex(v4, len - 1, false, &back), TG_OK);
        CU_ASSERT_PTR_NULL(back.lat);  //  counters only
        CU_ASSERT_EQUAL(back.totals.requests, 1);
        analytics_rollup_fini(&back);
        free(v4);
    }
    r.totals.cost_in_micro = 17;
    free(enc);
    enc = analytics_rollup_encode(&r, &len);
    CU_ASSERT_EQUAL_FATAL(analytics_rollup_decode(enc, len, &back), TG_OK);
    CU_ASSERT_EQUAL(back.totals.cost_in_micro, 17);
    analytics_rollup_fini(&back);
    enc[0] = 9;
    CU_ASSERT_EQUAL(analytics_rollup_decode(enc, len, &back), TG_INVALID);
    free(enc);
    analytics_rollup_fini(&r);

    int64_t t0;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-25T10:17:42Z", &t0), TG_OK);
    CU_ASSERT_EQUAL(analytics_rollup_bucket(ANALYTICS_MINUTE, t0 + 5), t0 - 42000000LL);
    CU_ASSERT_EQUAL(analytics_rollup_bucket(ANALYTICS_HOUR, t0), t0 - (17 * 60 + 42) * 1000000LL);
    CU_ASSERT_EQUAL(analytics_rollup_bucket(ANALYTICS_DAY, t0), tg_utc_day_start(t0));
    CU_ASSERT_EQUAL(analytics_rollup_horizon(ANALYTICS_MINUTE), 37 * S_DAY);
    CU_ASSERT_EQUAL(analytics_rollup_horizon(ANALYTICS_HOUR), 210 * S_DAY);
    CU_ASSERT_EQUAL(analytics_rollup_horizon(ANALYTICS_DAY), 1096 * S_DAY);

    uint8_t key[ANALYTICS_ROLLUP_KEY_MAX];
    const char *dims[ANALYTICS_DIMS] = {"openai", "gpt-4o", NULL, "bot"};
    size_t klen = analytics_rollup_key(ANALYTICS_HOUR, t0, dims, key);
    CU_ASSERT_EQUAL(klen, 9 + strlen("openai") + 1 + strlen("gpt-4o") + 1 + 1 + 3);  //  v4 form
    analytics_res_t res;
    int64_t bucket;
    char d[ANALYTICS_DIMS][ANALYTICS_MAX_DIM + 1];
    CU_ASSERT_TRUE(analytics_rollup_key_parse(key, klen, &res, &bucket, d));
    CU_ASSERT_EQUAL(res, ANALYTICS_HOUR);
    CU_ASSERT_EQUAL(bucket, t0);
    CU_ASSERT_STRING_EQUAL(d[0], "openai");
    CU_ASSERT_STRING_EQUAL(d[1], "gpt-4o");
    CU_ASSERT_STRING_EQUAL(d[2], "");
    CU_ASSERT_STRING_EQUAL(d[3], "bot");
    for (int i = ANALYTICS_DIM_ORG; i < ANALYTICS_DIMS; i++)
        CU_ASSERT_STRING_EQUAL(d[i], "");  //  a schema 4 key: org, env, user empty
    //  schema 5: org, env and user after agent, empty ones in between kept
    const char *dims5[ANALYTICS_DIMS] = {"openai", "gpt-4o", "key_1", "bot", "acme", NULL, "u-7"};
    size_t klen5 = analytics_rollup_key(ANALYTICS_DAY_USER, t0, dims5, key);
    CU_ASSERT_TRUE(analytics_rollup_key_parse(key, klen5, &res, &bucket, d));
    CU_ASSERT_EQUAL(res, ANALYTICS_DAY_USER);
    CU_ASSERT_STRING_EQUAL(d[ANALYTICS_DIM_ORG], "acme");
    CU_ASSERT_STRING_EQUAL(d[ANALYTICS_DIM_ENV], "");
    CU_ASSERT_STRING_EQUAL(d[ANALYTICS_DIM_USER], "u-7");
    CU_ASSERT_EQUAL(analytics_rollup_width(ANALYTICS_DAY_USER), S_DAY);
    CU_ASSERT_EQUAL(analytics_rollup_width(ANALYTICS_HOUR_ERRORS), S_DAY / 24);
    klen = analytics_rollup_key(ANALYTICS_HOUR, t0, dims, key);
    key[0] = 'x';
    CU_ASSERT_FALSE(analytics_rollup_key_parse(key, klen, &res, &bucket, d));
    CU_ASSERT_FALSE(analytics_rollup_key_parse(key, 5, &res, &bucket, d));
}

static tg_frame_t *
s_event(int i, int64_t ts, const char *model, uint64_t latency_us)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    f->usage.eid = tg_strfmt("ev_%d", i);
    f->usage.reply_to = tg_strdup("inproc://nowhere");
    f->usage.ts = ts;
    f->usage.provider = tg_strdup("openai");
    f->usage.model = tg_strdup(model);
    f->usage.key = tg_strdup("key_1");
    f->usage.agent = tg_strdup("bot");
    f->usage.status = 200;
    f->usage.cache = tg_strdup("miss");
    f->usage.tok_in = 1000;
    f->usage.tok_out = 1000;  //  gpt-4o: $0.0125
    f->usage.latency_us = latency_us;
    f->usage.ttft_us = latency_us / 4;
    return f;
}

//  Stores events (taking the frames) in batches of `per` events.
static void
s_store(analytics_store_t *st, tg_pricing_t *pricing, tg_frame_t **f, size_t n, size_t per)
{
    analytics_outcome_t *out = tg_zalloc(per * sizeof *out);
    for (size_t i = 0; i < n; i += per) {
        size_t k = n - i < per ? n - i : per;
        CU_ASSERT_EQUAL(analytics_store_batch(st, pricing, f + i, k, out), TG_OK);
    }
    for (size_t i = 0; i < n; i++)
        tg_frame_destroy(&f[i]);
    free(out);
}

typedef struct {
    int rows;
    analytics_rollup_t sum;
    int64_t first_bucket;
} s_acc_t;

static int
s_on_rollup(analytics_res_t res,
            int64_t bucket_us,
            const char *const dims[ANALYTICS_DIMS],
            const analytics_rollup_t *r,
            void *arg)
{
    (void)res;
    s_acc_t *acc = arg;
    CU_ASSERT_STRING_EQUAL(dims[0], "openai");
    if (!acc->rows++)
        acc->first_bucket = bucket_us;
    analytics_rollup_merge(&acc->sum, r);
    return 0;
}

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

//  600 events over 3 hours, batches of 64: minute, hour and day rollups agree with the
//  events; p50/p95/p99 of the merged minute sketches are within 1 % of the exact ones.
static void
test_store_rollups(void)
{
    char *dir = test_tmpdir("rollup");
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    CU_ASSERT_PTR_NOT_NULL_FATAL(pricing);
    analytics_store_t *st = analytics_store_new(dir, 32 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t t0;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-25T10:00:00Z", &t0), TG_OK);
    enum { N = 600 };
    tg_frame_t *f[N];
    uint64_t lat[N];
    for (int i = 0; i < N; i++) {
        lat[i] = 50000 + (uint64_t)((i * 7919) % 1000) * 3000;  //  50 ms .. 3 s
        f[i] = s_event(i, t0 + i * 18000000LL, i % 5 ? "gpt-4o" : "gpt-4o-mini", lat[i]);
    }
    s_store(st, pricing, f, N, 64);
    qsort(lat, N, sizeof lat[0], s_cmp_u64);

    s_acc_t acc[ANALYTICS_RESOLUTIONS];
    //  minute rows checked below; the user families hold every event too (user "" here)
    static const int rows[ANALYTICS_RESOLUTIONS] = {0, 6, 2, 2, 0};
    for (int res = 0; res < ANALYTICS_HOUR_ERRORS; res++) {
        memset(&acc[res], 0, sizeof acc[res]);
        analytics_rollup_init(&acc[res].sum);
        CU_ASSERT_EQUAL(analytics_store_rollups(st, (analytics_res_t)res, 0, t0 + S_DAY,
                                                s_on_rollup, &acc[res]),
                        TG_OK);
        CU_ASSERT_EQUAL(acc[res].sum.totals.requests, N);
        CU_ASSERT_EQUAL(acc[res].sum.lat_min_us, lat[0]);
        CU_ASSERT_EQUAL(acc[res].sum.lat_max_us, lat[N - 1]);
        CU_ASSERT_EQUAL(acc[res].sum.ttft_n, N);
        if (rows[res])
            CU_ASSERT_EQUAL(acc[res].rows, rows[res]);  //  3 hours x 2 models, 1 day x 2
    }
    //  180 minutes: every minute has gpt-4o, 1 in 5 events is mini
    CU_ASSERT(acc[ANALYTICS_MINUTE].rows >= 180);
    CU_ASSERT_EQUAL(acc[ANALYTICS_MINUTE].first_bucket, t0);
    CU_ASSERT(s_same(&acc[ANALYTICS_MINUTE].sum, &acc[ANALYTICS_HOUR].sum));
    CU_ASSERT(s_same(&acc[ANALYTICS_HOUR].sum, &acc[ANALYTICS_DAY].sum));
    static const double qs[] = {0.5, 0.95, 0.99};
    for (int i = 0; i < 3; i++) {
        double exact = (double)lat[(size_t)floor(qs[i] * (N - 1))];
        double got = analytics_sketch_quantile(acc[ANALYTICS_MINUTE].sum.lat, qs[i]);
        CU_ASSERT(fabs(got - exact) <= exact * ANALYTICS_SKETCH_ALPHA);
    }
    //  one hour's window: 200 events
    s_acc_t one = {0};
    analytics_rollup_init(&one.sum);
    CU_ASSERT_EQUAL(analytics_store_rollups(st, ANALYTICS_MINUTE, t0 + S_HOUR, t0 + 2 * S_HOUR - 1,
                                            s_on_rollup, &one),
                    TG_OK);
    CU_ASSERT_EQUAL(one.sum.totals.requests, 200);
    analytics_rollup_fini(&one.sum);
    for (int res = 0; res < ANALYTICS_HOUR_ERRORS; res++)
        analytics_rollup_fini(&acc[res].sum);
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    test_rmdir(&dir);
}

static size_t
s_prune_all(analytics_store_t *st, int64_t now, int64_t keep, size_t per_turn, int *turns)
{
    size_t total = 0, n;
    *turns = 0;
    do {
        CU_ASSERT_EQUAL_FATAL(analytics_store_prune(st, now, keep, per_turn, &n), TG_OK);
        CU_ASSERT(n <= per_turn);
        total += n;
        ++*turns;
    } while (n == per_turn);
    return total;
}

static uint64_t
s_requests(analytics_store_t *st, int64_t from, int64_t to)
{
    analytics_group_t *g = NULL;
    size_t n = 0;
    uint64_t sum = 0;
    CU_ASSERT_EQUAL(analytics_store_usage(st, from, to, ANALYTICS_BY_MODEL, &g, &n), TG_OK);
    for (size_t i = 0; i < n; i++)
        sum += g[i].totals.requests;
    analytics_groups_free(&g, n);
    return sum;
}

//  Events older than the retention go in small turns; rollups past their horizons go;
//  /v1/usage still counts pruned days from the rollups; freed pages are reused.
static void
test_retention(void)
{
    char *dir = test_tmpdir("rollup");
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    CU_ASSERT_PTR_NOT_NULL_FATAL(pricing);
    analytics_store_t *st = analytics_store_new(dir, 64 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t now;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-25T12:00:00Z", &now), TG_OK);
    //  100 events 40 days ago, 100 ten days ago (10:00..11:39), 100 today
    enum { N = 300 };
    tg_frame_t *f[N];
    for (int i = 0; i < N; i++) {
        int64_t base = i < 100 ? now - 40 * S_DAY : i < 200 ? now - 10 * S_DAY : now - S_HOUR;
        f[i] = s_event(i, base - 2 * S_HOUR + (i % 100) * S_MIN, "gpt-4o", 100000);
    }
    s_store(st, pricing, f, N, 50);
    CU_ASSERT_EQUAL(s_requests(st, 0, now), N);

    int turns;
    //  retention 7 days, 30 deletes a turn: 200 events and the 100 minute rollups of 40
    //  days ago go (hours are kept 210 days, days 3 years)
    size_t gone = s_prune_all(st, now, 7 * S_DAY, 30, &turns);
    CU_ASSERT_EQUAL(gone, 200 + 100);
    CU_ASSERT_EQUAL(turns, 11);  //  10 full turns, the last one deletes nothing
    CU_ASSERT_EQUAL(s_prune_all(st, now, 7 * S_DAY, 30, &turns), 0);

    //  whole days from the day rollups, though their events are gone
    CU_ASSERT_EQUAL(s_requests(st, 0, now), N);
    //  a cut day without events: the minute rollups (ten days ago, 10:00..10:29 = 30)
    int64_t d10 = now - 10 * S_DAY - 2 * S_HOUR;
    CU_ASSERT_EQUAL(s_requests(st, d10, d10 + 30 * S_MIN - 1), 30);
    //  40 days ago: no minutes any more, hours answer (10:00..10:59 -> the 10:00 hour = 60)
    int64_t d40 = now - 40 * S_DAY - 2 * S_HOUR;
    CU_ASSERT_EQUAL(s_requests(st, d40 + 5 * S_MIN, d40 + 20 * S_MIN), 60);
    s_acc_t acc = {0};
    analytics_rollup_init(&acc.sum);
    CU_ASSERT_EQUAL(analytics_store_rollups(st, ANALYTICS_MINUTE, 0, now, s_on_rollup, &acc),
                    TG_OK);
    CU_ASSERT_EQUAL(acc.sum.totals.requests, 200);
    analytics_rollup_fini(&acc.sum);

    //  bounded: store, prune, store again as much: the used size does not double
    size_t used0, used1;
    enum { M = 2000 };
    tg_frame_t **g = tg_zalloc(M * sizeof *g);
    for (int round = 0; round < 3; round++) {
        int64_t t = now + round * 30 * S_DAY;
        for (int i = 0; i < M; i++)
            g[i] = s_event(10000 + round * M + i, t + i * 1000000LL, "gpt-4o", 200000);
        s_store(st, pricing, g, M, 500);
        s_prune_all(st, t + 8 * S_DAY, 7 * S_DAY, 1000, &turns);
        CU_ASSERT_EQUAL_FATAL(analytics_store_used(st, round ? &used1 : &used0), TG_OK);
    }
    CU_ASSERT(used1 <= used0 + used0 / 4);
    free(g);
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    test_rmdir(&dir);
}

//  Retention cuts a day in two: a range cut inside that day counts the pruned part too
//  (from the minute rollups), not only the events left.
static void
test_retention_cuts_a_day(void)
{
    char *dir = test_tmpdir("rollup");
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    CU_ASSERT_PTR_NOT_NULL_FATAL(pricing);
    analytics_store_t *st = analytics_store_new(dir, 16 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t t0;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-15T10:00:00Z", &t0), TG_OK);
    enum { N = 100 };
    tg_frame_t *f[N];
    for (int i = 0; i < N; i++)
        f[i] = s_event(i, t0 + i * S_MIN, "gpt-4o", 100000);  //  10:00 .. 11:39
    s_store(st, pricing, f, N, 50);
    int turns;
    //  retention up to 10:50: 50 events go
    CU_ASSERT_EQUAL(s_prune_all(st, t0 + 50 * S_MIN + 7 * S_DAY, 7 * S_DAY, 20, &turns), 50);
    CU_ASSERT_EQUAL(s_requests(st, t0, t0 + 99 * S_MIN), 100);  //  cut: minute rollups
    CU_ASSERT_EQUAL(s_requests(st, t0 + 30 * S_MIN, t0 + 69 * S_MIN), 40);
    CU_ASSERT_EQUAL(s_requests(st, t0 - S_DAY, t0 + S_DAY), 100);  //  whole day: day rollups
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    test_rmdir(&dir);
}

//  Sums of client-given counts stop at the type's limit: no wrap to small or negative values.
static void
test_totals_saturate(void)
{
    analytics_totals_t a = {.requests = UINT64_MAX - 1,
                            .tok_in = UINT64_MAX - 5,
                            .cost_micro = INT64_MAX - 10,
                            .savings_micro = INT64_MIN + 3};
    analytics_totals_t b = {
        .requests = 5, .tok_in = 3, .cost_micro = 1000000000000, .savings_micro = -1000000000000};
    analytics_totals_add(&a, &b);
    CU_ASSERT_EQUAL(a.requests, UINT64_MAX);
    CU_ASSERT_EQUAL(a.tok_in, UINT64_MAX - 2);  //  below the limit: exact
    CU_ASSERT_EQUAL(a.cost_micro, INT64_MAX);
    CU_ASSERT_EQUAL(a.savings_micro, INT64_MIN);
    analytics_totals_t c = {.cost_micro = -5};
    analytics_totals_add(&a, &c);
    CU_ASSERT_EQUAL(a.cost_micro, INT64_MAX - 5);  //  later sums count from the limit
}

void
test_analytics_rollup_register(void)
{
    CU_pSuite s = CU_add_suite("analytics_rollup", NULL, NULL);
    CU_add_test(s, "merge_equals_all", test_merge_equals_all);
    CU_add_test(s, "encode_keys", test_encode_keys);
    CU_add_test(s, "store_rollups", test_store_rollups);
    CU_add_test(s, "retention", test_retention);
    CU_add_test(s, "retention_cuts_a_day", test_retention_cuts_a_day);
    CU_add_test(s, "totals_saturate", test_totals_saturate);
}
