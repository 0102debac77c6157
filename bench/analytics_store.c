//  bench/analytics_store.c - the analytics book under load: events/s stored (with totals and
//  minute/hour/day rollups), disk per million events, and the size once retention runs.
//  Usage: analytics_store_bench [events (1000000)] [days spread (14)] [keys (20)] [agents (10)]
//  Groups: 8 models x keys x agents.
#include "analytics_store.h"
#include "tg_pricing.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s_seed = 88172645463325252ULL;

static double
s_uniform(void)
{
    s_seed ^= s_seed >> 12;
    s_seed ^= s_seed << 25;
    s_seed ^= s_seed >> 27;
    return (double)((s_seed * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static const char *const s_models[][2] = {
    {"openai", "gpt-4o"},
    {"openai", "gpt-4o-mini"},
    {"openai", "o3-mini"},
    {"anthropic", "claude-sonnet-4-5"},
    {"anthropic", "claude-haiku-4-5"},
    {"google", "gemini-2.0-flash"},
    {"mistral", "mistral-large-latest"},
    {"openai", "text-embedding-3-small"},
};

int
main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    long days = argc > 2 ? strtol(argv[2], NULL, 10) : 14;
    long keys = argc > 3 ? strtol(argv[3], NULL, 10) : 20;
    long agents = argc > 4 ? strtol(argv[4], NULL, 10) : 10;
    if (n < 1 || days < 1 || keys < 1 || agents < 1) {
        fprintf(stderr, "usage: analytics_store_bench [events] [days] [keys] [agents]\n");
        return 2;
    }
    char tmpl[] = "/tmp/tg-bench-analytics-XXXXXX";
    char *dir = mkdtemp(tmpl);
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    analytics_store_t *st = dir && pricing ? analytics_store_new(dir, (size_t)1 << 34) : NULL;
    if (!st) {
        fprintf(stderr, "cannot open a store (pricing file? /tmp?)\n");
        return 1;
    }
    enum { BATCH = 1000 };
    tg_frame_t *batch[BATCH];
    analytics_outcome_t out[BATCH];
    int64_t now = tg_now_us(), t0 = now - days * TG_UTC_DAY_US;
    double step = (double)(days * TG_UTC_DAY_US) / (double)n;
    int64_t store_us = 0;
    for (long i = 0; i < n; i += BATCH) {
        size_t k = (size_t)(n - i < BATCH ? n - i : BATCH);
        for (size_t j = 0; j < k; j++) {
            tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
            int m = (int)(s_uniform() * 8);
            f->usage.eid = tg_strfmt("ev_%012ld", i + (long)j);
            f->usage.reply_to = tg_strdup("ipc:///run/tollgate/worker-host-1234.ipc");
            f->usage.id = tg_strfmt("req_%016lx", (long)(i + (long)j) * 7919);
            f->usage.ts = t0 + (int64_t)((double)(i + (long)j) * step);
            f->usage.route = tg_strdup("chat");
            f->usage.key = tg_strfmt("key_%d", (int)(s_uniform() * (double)keys));
            f->usage.agent = tg_strfmt("agent-%d", (int)(s_uniform() * (double)agents));
            f->usage.provider = tg_strdup(s_models[m][0]);
            f->usage.model = tg_strdup(s_models[m][1]);
            f->usage.status = s_uniform() < 0.02 ? 500 : 200;
            f->usage.cache = tg_strdup(s_uniform() < 0.2 ? "hit" : "miss");
            f->usage.stream = s_uniform() < 0.5;
            f->usage.tok_in = 200 + (uint64_t)(s_uniform() * 2000);
            f->usage.tok_out = 50 + (uint64_t)(s_uniform() * 800);
            f->usage.latency_us = (uint64_t)exp(13 + 0.8 * (s_uniform() + s_uniform() - 1) * 2);
            f->usage.ttft_us = f->usage.stream ? f->usage.latency_us / 5 : 0;
            batch[j] = f;
        }
        int64_t a = tg_mono_us();
        int rc = analytics_store_batch(st, pricing, batch, k, out);
        while (rc == TG_AGAIN && analytics_store_grow(st) == TG_OK)
            rc = analytics_store_batch(st, pricing, batch, k, out);
        store_us += tg_mono_us() - a;
        for (size_t j = 0; j < k; j++)
            tg_frame_destroy(&batch[j]);
        if (rc != TG_OK) {
            fprintf(stderr, "store failed\n");
            return 1;
        }
    }
    size_t used = 0;
    analytics_store_used(st, &used);
    printf("groups=%ld ", 8 * keys * agents);
    printf("events=%ld days=%ld stored in %.2f s: %.0f events/s (batches of %d, one txn each)\n", n,
           days, (double)store_us / 1e6, (double)n / ((double)store_us / 1e6), BATCH);
    printf("used=%.1f MB: %.1f MB per million events (events, time index, totals, rollups)\n",
           (double)used / 1e6, (double)used / 1e6 / ((double)n / 1e6));
    //  retention: keep 7 days of the spread
    int64_t a = tg_mono_us();
    size_t total = 0, k = 0;
    do {
        analytics_store_prune(st, now, 7 * TG_UTC_DAY_US, 1000, &k);
        total += k;
    } while (k == 1000);
    analytics_store_used(st, &used);
    printf("pruned %zu records in %.2f s (turns of 1000: %.1f ms each); used now %.1f MB\n", total,
           (double)(tg_mono_us() - a) / 1e6,
           (double)(tg_mono_us() - a) / 1e3 / (double)(total / 1000 + 1), (double)used / 1e6);
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    char *cmd = tg_strfmt("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : 1;
}
