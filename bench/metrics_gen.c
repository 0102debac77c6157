//  bench/metrics_gen.c - fills an analytics data dir with realistic gateway traffic for the
//  metrics query bench: `days` days ending now at `per_day` events a day. The last
//  `raw_days` days go through analytics_store_batch (event records, time index, totals,
//  rollups: what ingestion writes); older days through analytics_store_batch_counters
//  (the same totals and rollups, built by the same code, without the raw events that
//  retention would have pruned by now).
//  Usage: metrics_gen DATA_DIR [days (90)] [events per day (1000000)] [raw days (7)]
//                     [max seconds (0 = none): stop after the day that passes it]
//                     [first day (0): resume a stopped run, e.g. 75 = start 75 days back]
//  Days are written newest first, so a run stopped early still ends now.
//  Writes DATA_DIR/analytics (the layout tg-analytics opens).
//  Traffic: 4 organizations (weights 50/25/15/10 %), 5 keys each (each key one agent and
//  one environment: 3 production, 1 staging, 1 development; each user always comes through
//  the same key), 10 models of 5
//  providers (skewed to the cheap ones), 2,000 end users per org (skewed: a few heavy
//  users), 2 % errors (429 / 500 / 400), 15 % cache hits, half streamed with a TTFT,
//  log-normal tokens and latencies per model.
#include "analytics_store.h"
#include "tg_pricing.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t s_seed = 88172645463325252ULL;

static double
s_uniform(void)
{
    s_seed ^= s_seed >> 12;
    s_seed ^= s_seed << 25;
    s_seed ^= s_seed >> 27;
    return (double)((s_seed * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double
s_normal(void)
{
    double u = s_uniform(), v = s_uniform();
    return sqrt(-2 * log(u > 1e-12 ? u : 1e-12)) * cos(2 * M_PI * v);
}

static const struct {
    const char *provider, *model;
    double weight;      //  share of calls
    double latency_ms;  //  median
} s_models[] = {
    {"openai", "gpt-4o-mini", 0.28, 700},
    {"openai", "gpt-4o", 0.16, 1400},
    {"openai", "o3-mini", 0.04, 4000},
    {"openai", "text-embedding-3-small", 0.10, 120},
    {"anthropic", "claude-sonnet-4-5", 0.12, 1800},
    {"anthropic", "claude-haiku-4-5", 0.10, 800},
    {"google", "gemini-2.0-flash", 0.09, 600},
    {"mistral", "mistral-large-latest", 0.04, 1500},
    {"mistral", "mistral-small-latest", 0.04, 500},
    {"openrouter", "meta-llama/llama-3.3-70b-instruct", 0.03, 1100},
};
#define S_MODELS (sizeof s_models / sizeof s_models[0])

static const char *const s_orgs[] = {"acme", "globex", "initech", "umbrella"};
static const double s_org_w[] = {0.50, 0.25, 0.15, 0.10};
static const char *const s_envs[] = {"production", "staging", "development"};

static int
s_pick(const double *w, int n)
{
    double u = s_uniform(), acc = 0;
    for (int i = 0; i < n; i++)
        if (u < (acc += w[i]))
            return i;
    return n - 1;
}

static int
s_pick_model(void)
{
    double w[S_MODELS];
    for (size_t i = 0; i < S_MODELS; i++)
        w[i] = s_models[i].weight;
    return s_pick(w, (int)S_MODELS);
}

static tg_frame_t *
s_event(long i, int64_t ts)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    tg_fr_usage_t *u = &f->usage;
    int org = s_pick(s_org_w, 4);
    double x = s_uniform();
    int user = (int)(2000 * x * x * x);  //  a few heavy users
    int gkey = org * 5 + user % 5;       //  a user comes through one app (key)
    int m = s_pick_model();
    u->eid = tg_strfmt("ev_%012ld", i);
    u->reply_to = tg_strdup("ipc:///run/tollgate/worker-host-1234.ipc");
    u->id = tg_strfmt("req_%016lx", (unsigned long)i * 7919);
    u->ts = ts;
    u->route = tg_strdup(strstr(s_models[m].model, "embedding") ? "embeddings" : "chat");
    u->key = tg_strfmt("key_%02d", gkey);
    u->agent = tg_strfmt("agent-%d", gkey % 10);
    u->org = tg_strdup(s_orgs[org]);
    u->env = tg_strdup(s_envs[gkey % 5 < 3 ? 0 : gkey % 5 == 3 ? 1 : 2]);
    u->user = tg_strfmt("user-%04d", user);
    u->provider = tg_strdup(s_models[m].provider);
    u->model = tg_strdup(s_models[m].model);
    double e = s_uniform();
    if (e < 0.012) {
        u->status = 429;
        u->error = tg_strdup("rate_limit_error");
    } else if (e < 0.017) {
        u->status = 500;
        u->error = tg_strdup("server_error");
    } else if (e < 0.020) {
        u->status = 400;
        u->error = tg_strdup("invalid_request_error");
    } else
        u->status = 200;
    u->cache = tg_strdup(s_uniform() < 0.15 ? "hit" : "miss");
    u->stream = s_uniform() < 0.5;
    u->tok_in = (uint64_t)exp(6.5 + 1.0 * s_normal());
    u->tok_out = u->route[0] == 'e' ? 0 : (uint64_t)exp(5.3 + 0.9 * s_normal());
    u->tok_cached = s_uniform() < 0.3 ? u->tok_in / 2 : 0;
    double lat = s_models[m].latency_ms * exp(0.5 * s_normal());
    u->latency_us = (uint64_t)(lat * 1000);
    u->ttft_us = u->stream ? u->latency_us / 4 : 0;
    return f;
}

//  Bytes of the files in dir.
static long long
s_disk(const char *dir)
{
    long long total = 0;
    const char *names[] = {"data.mdb", "lock.mdb"};
    for (int i = 0; i < 2; i++) {
        char *p = tg_strfmt("%s/%s", dir, names[i]);
        struct stat st;
        if (stat(p, &st) == 0)
            total += (long long)st.st_blocks * 512;
        free(p);
    }
    return total;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: metrics_gen DATA_DIR [days] [events per day] [raw days] [max s]\n");
        return 2;
    }
    long days = argc > 2 ? strtol(argv[2], NULL, 10) : 90;
    long per_day = argc > 3 ? strtol(argv[3], NULL, 10) : 1000000;
    long raw_days = argc > 4 ? strtol(argv[4], NULL, 10) : 7;
    long max_s = argc > 5 ? strtol(argv[5], NULL, 10) : 0;
    long first = argc > 6 ? strtol(argv[6], NULL, 10) : 0;  //  resume: skip the newest days
    if (days < 1 || days > 3650 || per_day < 1 || raw_days < 0 || first < 0 || first >= days) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    char *dir = tg_strfmt("%s/analytics", argv[1]);
    mkdir(argv[1], 0755);
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    analytics_store_t *st = pricing ? analytics_store_new(dir, (size_t)1 << 32) : NULL;
    if (!st) {
        fprintf(stderr, "cannot open a store in %s (pricing file?)\n", dir);
        return 1;
    }
    enum { BATCH = 5000 };
    tg_frame_t *batch[BATCH];
    analytics_outcome_t out[BATCH];
    int64_t now = tg_now_us();
    double step = (double)TG_UTC_DAY_US / (double)per_day;
    long n = 0, raw = 0, done_days = 0;
    int64_t began = tg_mono_us();
    //  Newest day first: stopped early (max_s), the data still ends now.
    for (long d = first; d < days; d++) {
        int64_t day0 = now - (d + 1) * TG_UTC_DAY_US, day_began = tg_mono_us();
        bool is_raw = d < raw_days;
        for (long i = 0; i < per_day;) {
            size_t k = 0;
            size_t cap = is_raw ? 1000 : BATCH;  //  ingestion commits at most 1,000 a txn
            while (k < cap && i < per_day) {
                batch[k++] = s_event(d * per_day + i, day0 + (int64_t)((double)i * step));
                i++;
            }
            int rc = is_raw ? analytics_store_batch(st, pricing, batch, k, out)
                            : analytics_store_batch_counters(st, pricing, batch, k, out);
            while (rc == TG_AGAIN && analytics_store_grow(st) == TG_OK)
                rc = is_raw ? analytics_store_batch(st, pricing, batch, k, out)
                            : analytics_store_batch_counters(st, pricing, batch, k, out);
            if (rc != TG_OK) {
                fprintf(stderr, "store failed\n");
                return 1;
            }
            for (size_t j = 0; j < k; j++)
                tg_frame_destroy(&batch[j]);
        }
        n += per_day;
        raw += is_raw ? per_day : 0;
        done_days++;
        int64_t t = tg_mono_us();
        printf("day -%ld: %.0f events/s%s; %ld events so far in %.0f s\n", d,
               (double)per_day / ((double)(t - day_began) / 1e6), is_raw ? " (raw)" : "", n,
               (double)(t - began) / 1e6);
        fflush(stdout);
        if (max_s > 0 && (t - began) / 1000000 >= max_s)
            break;
    }
    days = first + done_days;
    double secs = (double)(tg_mono_us() - began) / 1e6;
    size_t used = 0;
    analytics_store_used(st, &used);
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    long long disk = s_disk(dir);
    printf("generated days %ld..%ld back: events=%ld (raw events kept: %ld, the last %ld days) "
           "in %.0f s: %.0f events/s\n",
           first, days - 1, n, raw, raw_days, secs, (double)n / secs);
    printf("store now: used=%.1f MB file=%.1f MB%s\n", (double)used / 1e6, (double)disk / 1e6,
           first ? "" : " (divide by the events above for MB per million)");
    free(dir);
    return 0;
}
