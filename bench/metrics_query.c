//  bench/metrics_query.c - times the metrics queries over a data dir (from metrics_gen):
//  parse + run + JSON, the work analytics does for a cache miss, for each query kind; prints
//  the first run (cold: its pages may come from disk) and p50 / p95 / max over `runs` more. The
//  HTTP round trip through ingest is measured by bench/metrics.sh. Usage: metrics_query DATA_DIR
//  [runs (50)]
#include "analytics_mq.h"
#include "analytics_mx.h"
#include "analytics_store.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    const char *name;
    analytics_mq_kind_t kind;
    const char *input;  //  query string, or JSON body
    const char *org;
} s_case_t;

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: metrics_query DATA_DIR [runs]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 50;
    if (runs < 1)
        runs = 1;
    char *dir = tg_strfmt("%s/analytics", argv[1]);
    analytics_store_t *st = analytics_store_new(dir, (size_t)1 << 32);
    if (!st) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 1;
    }
    int64_t now = tg_now_us();
    char t90[40], t7[40], t1[40];
    tg_time_rfc3339(now - 89 * TG_UTC_DAY_US, t90, sizeof t90);
    tg_time_rfc3339(now - 7 * TG_UTC_DAY_US, t7, sizeof t7);
    tg_time_rfc3339(now - TG_UTC_DAY_US, t1, sizeof t1);
    char simple24[256], simple90[256], complex7[1024], complex90[1024], users[512];
    snprintf(simple24, sizeof simple24,
             "metrics=request_count,total_cost,duration,error_rate&interval=1hour&start_time=%s",
             t1);
    snprintf(simple90, sizeof simple90,
             "metrics=request_count,total_cost&interval=1day&start_time=%s", t90);
    const char *complex_fmt =
        "{\"metrics\":[{\"metric\":\"request_count\",\"aggregation\":\"sum\",\"alias\":\"n\"},"
        "{\"metric\":\"duration\",\"aggregation\":\"p95\"},{\"metric\":\"total_cost\"},"
        "{\"metric\":\"error_rate\"}],\"interval\":\"1day\",\"start_time\":\"%s\","
        "\"group_by\":[\"provider\",\"model\",\"environment\"],\"filters\":[{\"dimension\":"
        "\"environment\",\"operator\":\"in\",\"value\":[\"production\",\"staging\"]}],"
        "\"having\":[{\"metric\":\"request_count\",\"operator\":\"gte\",\"value\":1000}],"
        "\"sort_by\":{\"field\":\"total_cost\",\"descending\":true},\"limit\":100}";
    snprintf(complex7, sizeof complex7, complex_fmt, t7);
    snprintf(complex90, sizeof complex90, complex_fmt, t90);
    snprintf(users, sizeof users,
             "metrics=request_count,total_cost&interval=1day&group_by=user_id&start_time=%s&"
             "limit=100",
             t7);
    const s_case_t cases[] = {
        {"simple: 24 h, 1hour, 4 metrics", MQ_LIST, simple24, "acme"},
        {"simple: 90 days, 1day, 2 metrics", MQ_LIST, simple90, "acme"},
        {"simple: 90 days, 1day, master (all orgs)", MQ_LIST, simple90, NULL},
        {"complex: 7 days, group_by 3, in, having, p95", MQ_QUERY, complex7, "acme"},
        {"complex: 90 days, group_by 3, in, having, p95", MQ_QUERY, complex90, "acme"},
        {"per user: 7 days, group_by user_id", MQ_LIST, users, "acme"},
        {"summary: 24 h vs the 24 h before", MQ_SUMMARY, "", "acme"},
        {"summary: 7 days vs the 7 before", MQ_SUMMARY, NULL, "acme"},
    };
    char summary7[128];
    snprintf(summary7, sizeof summary7, "start_time=%s", t7);
    printf("%-48s %8s %8s %8s %8s %8s\n", "query", "cold ms", "p50 ms", "p95 ms", "max ms",
           "bytes");
    double *ms = tg_zalloc((size_t)runs * sizeof *ms);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *input = cases[c].input ? cases[c].input : summary7;
        size_t bytes = 0;
        double cold = 0;
        for (int r = -1; r < runs; r++) {  //  run -1: the first, maybe from disk; not counted
            int64_t a = tg_mono_us();
            analytics_mq_t q;
            const char *field;
            char *msg = NULL, *body = NULL;
            int rc = cases[c].kind == MQ_QUERY
                         ? analytics_mq_parse_json(input, strlen(input), now, &q, &field, &msg)
                         : analytics_mq_parse_args(cases[c].kind, input, now, &q, &field, &msg);
            if (rc != TG_OK) {
                fprintf(stderr, "%s: %s: %s\n", cases[c].name, field, msg);
                return 1;
            }
            rc = cases[c].kind == MQ_SUMMARY
                     ? analytics_mx_summary(st, &q, cases[c].org, now, &body)
                     : analytics_mx_metrics(st, &q, cases[c].org, &body);
            analytics_mq_fini(&q);
            double took = (double)(tg_mono_us() - a) / 1e3;
            if (r < 0)
                cold = took;
            else
                ms[r] = took;
            if (rc != TG_OK) {
                fprintf(stderr, "%s: failed\n", cases[c].name);
                return 1;
            }
            bytes = strlen(body);
            free(body);
        }
        qsort(ms, (size_t)runs, sizeof *ms, s_cmp);
        printf("%-48s %8.2f %8.2f %8.2f %8.2f %8zu\n", cases[c].name, cold, ms[runs / 2],
               ms[(int)(0.95 * (runs - 1))], ms[runs - 1], bytes);
    }
    free(ms);
    analytics_store_destroy(&st);
    free(dir);
    return 0;
}
