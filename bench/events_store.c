//  bench/events_store.c - the events API inside one analytics process, without HTTP: batches
//  of 100 events as JSON text, checked and turned into USAGE frames (analytics_events_parse,
//  as analytics does for POST /api/v1/events/batch) and stored in commits of 1,000 events
//  (the service's batch), with totals, rollups and the traces index.
//  Usage: events_store_bench [events (1000000)] [traced share 0..1 (0.5)]
#include "analytics_events.h"
#include "analytics_store.h"
#include "tg_keyrec.h"
#include "tg_pricing.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <stdio.h>
#include <sys/resource.h>
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

//  CPU time (user + system) of this process so far, µs: the machine is shared, so rates are
//  also given per CPU second.
static int64_t
s_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec
           + ru.ru_stime.tv_usec;
}

static const char *const s_models[][2] = {
    {"openai", "gpt-4o"},
    {"openai", "gpt-4o-mini"},
    {"anthropic", "claude-sonnet-4-5"},
    {"anthropic", "claude-haiku-4-5"},
    {"google", "gemini-2.0-flash"},
    {"mistral", "mistral-large-latest"},
};

//  One batch body of 100 events numbered from `first` (heap).
static char *
s_batch(long first, double traced, int64_t now_us)
{
    tg_buf_t b;
    tg_buf_init(&b, SIZE_MAX);
    tg_buf_printf(&b, "{\"events\":[");
    for (int i = 0; i < 100; i++) {
        long n = first + i;
        int m = (int)(s_uniform() * 6);
        double ts = (double)(now_us - 3600000000LL) / 1e6 + (double)n * 1e-3;
        tg_buf_printf(&b,
                      "%s{\"id\":\"bench-%ld\",\"type\":\"llm_call\",\"timestamp\":%.3f,"
                      "\"provider\":\"%s\",\"model\":\"%s\",\"input_tokens\":%d,"
                      "\"output_tokens\":%d,\"latency_ms\":%.1f,\"ttft_ms\":%.1f,"
                      "\"status\":\"%s\",\"user_id\":\"user-%d\",\"environment\":\"production\"",
                      i ? "," : "", n, ts, s_models[m][0], s_models[m][1],
                      200 + (int)(s_uniform() * 2000), 50 + (int)(s_uniform() * 800),
                      100 + s_uniform() * 2000, 50 + s_uniform() * 300,
                      s_uniform() < 0.02 ? "error" : "success", (int)(s_uniform() * 500));
        if ((double)((n / 8) % 100) < traced * 100) {  //  traces of 8 spans in a chain
            tg_buf_printf(&b, ",\"trace_id\":\"tr-%ld\",\"span_id\":\"sp-%ld\"", n / 8, n);
            if (n % 8)
                tg_buf_printf(&b, ",\"parent_event_id\":\"sp-%ld\"", n - 1);
        }
        tg_buf_printf(&b, ",\"properties\":{\"feature\":\"chat\",\"step\":%d}}", i % 5);
    }
    tg_buf_printf(&b, "]}");
    return tg_buf_take(&b, NULL);
}

int
main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    double traced = argc > 2 ? strtod(argv[2], NULL) : 0.5;
    if (n < 100 || traced < 0 || traced > 1) {
        fprintf(stderr, "usage: events_store_bench [events >= 100] [traced share 0..1]\n");
        return 2;
    }
    char tmpl[] = "/tmp/tg-bench-events-XXXXXX";
    char *dir = mkdtemp(tmpl);
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    analytics_store_t *st = dir && pricing ? analytics_store_new(dir, (size_t)1 << 34) : NULL;
    if (!st) {
        fprintf(stderr, "cannot open a store (pricing file? /tmp?)\n");
        return 1;
    }
    enum { BATCH = 1000, POSTS = BATCH / 100 };
    tg_frame_t *batch[BATCH];
    analytics_outcome_t out[BATCH];
    int64_t now = tg_now_us(), parse_us = 0, store_us = 0, cpu_us = 0;
    long posted = 0;
    while (posted < n) {
        size_t k = 0;
        analytics_post_t *posts[POSTS];
        for (int p = 0; p < POSTS && posted < n; p++, posted += 100) {
            char *body = s_batch(posted, traced, now);
            tg_frame_t *q = tg_frame_new(TG_FRAME_QUERY);
            q->query.id = tg_strdup("req_bench");
            q->query.reply_to = tg_strdup("ipc:///run/tollgate/ingest.ipc");
            q->query.method = tg_strdup("POST");
            q->query.path = tg_strdup("/api/v1/events/batch");
            q->query.key = tg_strdup("master");
            q->query.roles = TG_ROLE_ALL;
            tg_frame_give_body(q, &body, strlen(body));
            int64_t a = tg_mono_us(), c = s_cpu_us();
            posts[p] = analytics_events_parse(&q, now, "production");
            parse_us += tg_mono_us() - a;
            cpu_us += s_cpu_us() - c;
            if (analytics_post_count(posts[p]) != 100) {
                tg_frame_t *r = analytics_post_reply(posts[p]);
                fprintf(stderr, "refused: %.*s\n", (int)r->body_len, r->body);
                return 1;
            }
            for (size_t i = 0; i < 100; i++)
                batch[k++] = analytics_post_take(posts[p], i);
        }
        int64_t a = tg_mono_us(), c = s_cpu_us();
        int rc = analytics_store_batch(st, pricing, batch, k, out);
        while (rc == TG_AGAIN && analytics_store_grow(st) == TG_OK)
            rc = analytics_store_batch(st, pricing, batch, k, out);
        store_us += tg_mono_us() - a;
        if (rc != TG_OK) {
            fprintf(stderr, "store failed\n");
            return 1;
        }
        cpu_us += s_cpu_us() - c;
        a = tg_mono_us();
        c = s_cpu_us();
        for (size_t j = 0; j < k; j++) {
            analytics_post_settle(posts[j / 100], j % 100, true, out[j].duplicate);
            tg_frame_destroy(&batch[j]);
        }
        for (size_t p = 0; p < k / 100; p++) {
            tg_frame_t *r = analytics_post_reply(posts[p]);
            tg_frame_destroy(&r);
            analytics_post_destroy(&posts[p]);
        }
        parse_us += tg_mono_us() - a;
        cpu_us += s_cpu_us() - c;
    }
    size_t used = 0;
    analytics_store_used(st, &used);
    double total_s = (double)(parse_us + store_us) / 1e6;
    printf("events=%ld traced=%.2f: checked+framed %.0f events/s, stored %.0f events/s, both %.0f "
           "events/s (%.2f s)\n",
           n, traced, (double)n / ((double)parse_us / 1e6), (double)n / ((double)store_us / 1e6),
           (double)n / total_s, total_s);
    printf("CPU time %.2f s: %.0f events per CPU second (wall clock rates above include the "
           "waits of a shared machine)\n",
           (double)cpu_us / 1e6, (double)n / ((double)cpu_us / 1e6));
    printf("used=%.1f MB: %.1f MB per million events\n", (double)used / 1e6,
           (double)used / 1e6 / ((double)n / 1e6));
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    char *cmd = tg_strfmt("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : 1;
}
