//  test_metrics.c - tg_metrics: labels, registry snapshots, aggregation, promtool validity.
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tg_log.h"
#include "tg_metrics.h"
#include "tg_util.h"

static const double s_buckets[] = {0.1, 0.5, 1, 2, 5, 10, 30, 60};

//  A registry with the families a gateway process declares.
static tg_metrics_t *
s_registry(void)
{
    tg_metrics_t *m = tg_metrics_new();
    tg_metrics_declare(m, "llm_requests_total", TG_METRIC_COUNTER, "LLM requests handled.", NULL,
                       0);
    tg_metrics_declare(m, "llm_cost_usd_total", TG_METRIC_COUNTER, "Spend in USD.", NULL, 0);
    tg_metrics_declare(m, "llm_request_duration_seconds", TG_METRIC_HISTOGRAM,
                       "Request duration in seconds.", s_buckets, 8);
    tg_metrics_declare(m, "llm_queue_depth", TG_METRIC_GAUGE, "Requests waiting.\nSecond line \\",
                       NULL, 0);
    tg_metrics_declare(m, "llm_unused_total", TG_METRIC_COUNTER, "Declared, never touched.", NULL,
                       0);
    //  Declaring again with the same type is a no-op.
    tg_metrics_declare(m, "llm_requests_total", TG_METRIC_COUNTER, "ignored", NULL, 0);
    return m;
}

static int
s_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void
s_expect_line(const char *text, const char *line)
{
    char *want = tg_strfmt("\n%s\n", line);
    char *padded = tg_strfmt("\n%s", text);
    if (!strstr(padded, want))
        fprintf(stderr, "\nmissing line: %s\nin:\n%s\n", line, text);
    CU_ASSERT_PTR_NOT_NULL(strstr(padded, want));
    free(want);
    free(padded);
}

static void
test_labels(void)
{
    char *l = tg_metrics_labels("provider", "openai", "model", "gpt-4o", NULL);
    CU_ASSERT_STRING_EQUAL(l, "provider=\"openai\",model=\"gpt-4o\"");
    free(l);
    l = tg_metrics_labels("v", "a\"b\\c\nd", "empty", NULL, NULL);
    CU_ASSERT_STRING_EQUAL(l, "v=\"a\\\"b\\\\c\\nd\",empty=\"\"");
    free(l);
    const char *none = NULL;
    l = tg_metrics_labels(none, NULL);
    CU_ASSERT_STRING_EQUAL(l, "");
    free(l);
    //  Invalid UTF-8 and control bytes become '?'; valid UTF-8 is kept.
    l = tg_metrics_labels("m", "x\xff\xc3(\t\xc3\xa9", NULL);
    CU_ASSERT_STRING_EQUAL(l, "m=\"x?"
                              "?(?\xc3\xa9\"");
    free(l);
    //  Long values are cut at TG_METRICS_MAX_VALUE bytes.
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    l = tg_metrics_labels("m", big, NULL);
    CU_ASSERT_EQUAL(strlen(l), TG_METRICS_MAX_VALUE + 4);
    free(l);

    char buf[64];
    CU_ASSERT_EQUAL(tg_metrics_labels_buf(buf, sizeof buf, "a", "1", "b", "\"", NULL), 12);
    CU_ASSERT_STRING_EQUAL(buf, "a=\"1\",b=\"\\\"\"");
    CU_ASSERT_EQUAL(tg_metrics_labels_buf(buf, 10, "a", "123456789", NULL), TG_INVALID);
    CU_ASSERT_STRING_EQUAL(buf, "");
    CU_ASSERT_EQUAL(tg_metrics_labels_buf(buf, 9, "a", "1234", NULL), 8);  //  exactly fits
    CU_ASSERT_EQUAL(tg_metrics_labels_buf(buf, 8, "a", "1234", NULL), TG_INVALID);
}

static void
test_snapshot(void)
{
    tg_metrics_t *m = s_registry();
    char labels[256];
    tg_metrics_labels_buf(labels, sizeof labels, "provider", "openai", "model", "gpt-4o", NULL);
    tg_metrics_add(m, "llm_requests_total", labels, 1);
    tg_metrics_add(m, "llm_requests_total", labels, 2);
    tg_metrics_add(m, "llm_requests_total", labels, -5);  //  ignored
    tg_metrics_add(m, "llm_cost_usd_total", labels, 0.0075);
    tg_metrics_set(m, "llm_queue_depth", NULL, 7);
    tg_metrics_set(m, "llm_queue_depth", "", 4);
    char *s = tg_metrics_snapshot(m);
    s_expect_line(s, "# HELP llm_requests_total LLM requests handled.");
    s_expect_line(s, "# TYPE llm_requests_total counter");
    s_expect_line(s, "llm_requests_total{provider=\"openai\",model=\"gpt-4o\"} 3");
    s_expect_line(s, "llm_cost_usd_total{provider=\"openai\",model=\"gpt-4o\"} 0.0075");
    s_expect_line(s, "# HELP llm_queue_depth Requests waiting.\\nSecond line \\\\");
    s_expect_line(s, "llm_queue_depth 4");
    s_expect_line(s, "# TYPE llm_unused_total counter");
    //  Families sorted by name.
    CU_ASSERT(strstr(s, "# TYPE llm_cost_usd_total") < strstr(s, "# TYPE llm_queue_depth"));
    CU_ASSERT(strstr(s, "# TYPE llm_queue_depth") < strstr(s, "# TYPE llm_requests_total"));
    free(s);
    tg_metrics_destroy(&m);
    CU_ASSERT_PTR_NULL(m);
    tg_metrics_destroy(&m);
}

static void
test_histogram(void)
{
    tg_metrics_t *m = s_registry();
    const char *l = "provider=\"openai\"";
    double obs[] = {0.05, 0.1, 0.3, 0.7, 3, 100};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        tg_metrics_observe(m, "llm_request_duration_seconds", l, obs[i]);
    tg_metrics_observe(m, "llm_request_duration_seconds", l, 0.0 / 0.0);  //  NaN ignored
    char *s = tg_metrics_snapshot(m);
    const char *want[] = {
        "llm_request_duration_seconds_bucket{provider=\"openai\",le=\"0.1\"} 2",
        "llm_request_duration_seconds_bucket{provider=\"openai\",le=\"0.5\"} 3",
        "llm_request_duration_seconds_bucket{provider=\"openai\",le=\"1\"} 4",
        "llm_request_duration_seconds_bucket{provider=\"openai\",le=\"2\"} 4",
        "llm_request_duration_seconds_bucket{provider=\"openai\",le=\"5\"} 5",
        "llm_request_duration_seconds_bucket{provider=\"openai\",le=\"10\"} 5",
        "llm_request_duration_seconds_bucket{provider=\"openai\",le=\"30\"} 5",
        "llm_request_duration_seconds_bucket{provider=\"openai\",le=\"60\"} 5",
        "llm_request_duration_seconds_bucket{provider=\"openai\",le=\"+Inf\"} 6",
        "llm_request_duration_seconds_sum{provider=\"openai\"} 104.15",
        "llm_request_duration_seconds_count{provider=\"openai\"} 6",
    };
    const char *prev = s;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        s_expect_line(s, want[i]);
        const char *at = strstr(s, want[i]);
        CU_ASSERT(at && at >= prev);  //  in this order
        prev = at ? at : prev;
    }
    free(s);
    tg_metrics_destroy(&m);
}

static void
test_merge_sources(void)
{
    tg_metrics_t *a = s_registry(), *b = s_registry();
    const char *l = "model=\"gpt-4o\",provider=\"openai\"";
    tg_metrics_add(a, "llm_requests_total", l, 3);
    tg_metrics_add(b, "llm_requests_total", l, 4);
    tg_metrics_add(b, "llm_requests_total", "model=\"x\",provider=\"y\"", 1);
    tg_metrics_add(a, "llm_cost_usd_total", l, 0.1);
    tg_metrics_add(b, "llm_cost_usd_total", l, 0.2);
    tg_metrics_set(a, "llm_queue_depth", NULL, 2);
    tg_metrics_set(b, "llm_queue_depth", NULL, 5);
    tg_metrics_observe(a, "llm_request_duration_seconds", "", 0.2);
    tg_metrics_observe(b, "llm_request_duration_seconds", "", 20);
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    char *sa = tg_metrics_snapshot(a), *sb = tg_metrics_snapshot(b);
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "ingest-1", sa, 1000), TG_OK);
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "worker-1", sb, 1000), TG_OK);
    char *r = tg_metrics_agg_render(agg);
    s_expect_line(r, "llm_requests_total{model=\"gpt-4o\",provider=\"openai\"} 7");
    s_expect_line(r, "llm_requests_total{model=\"x\",provider=\"y\"} 1");
    s_expect_line(r,
                  "llm_cost_usd_total{model=\"gpt-4o\",provider=\"openai\"} 0.30000000000000004");
    s_expect_line(r, "llm_queue_depth 7");
    s_expect_line(r, "llm_request_duration_seconds_bucket{le=\"0.1\"} 0");
    s_expect_line(r, "llm_request_duration_seconds_bucket{le=\"0.5\"} 1");
    s_expect_line(r, "llm_request_duration_seconds_bucket{le=\"30\"} 2");
    s_expect_line(r, "llm_request_duration_seconds_bucket{le=\"+Inf\"} 2");
    s_expect_line(r, "llm_request_duration_seconds_sum 20.2");
    s_expect_line(r, "llm_request_duration_seconds_count 2");
    CU_ASSERT_EQUAL(s_count(r, "# HELP llm_requests_total "), 1);
    CU_ASSERT_EQUAL(s_count(r, "# TYPE llm_requests_total "), 1);
    //  Deterministic.
    char *r2 = tg_metrics_agg_render(agg);
    CU_ASSERT_STRING_EQUAL(r, r2);
    free(r2);
    free(r);

    //  Replacing a source's snapshot replaces, not adds.
    tg_metrics_add(a, "llm_requests_total", l, 1);
    free(sa);
    sa = tg_metrics_snapshot(a);
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "ingest-1", sa, 2000), TG_OK);
    r = tg_metrics_agg_render(agg);
    s_expect_line(r, "llm_requests_total{model=\"gpt-4o\",provider=\"openai\"} 8");
    free(r);

    //  Expiring a source keeps its counters but drops its gauges.
    tg_metrics_agg_expire(agg, 1500);
    r = tg_metrics_agg_render(agg);
    s_expect_line(r, "llm_requests_total{model=\"gpt-4o\",provider=\"openai\"} 8");
    s_expect_line(r, "llm_queue_depth 2");
    s_expect_line(r, "llm_request_duration_seconds_count 2");
    free(r);
    free(sa);
    free(sb);
    tg_metrics_agg_destroy(&agg);
    CU_ASSERT_PTR_NULL(agg);
    tg_metrics_destroy(&a);
    tg_metrics_destroy(&b);
}

static void
test_restart_keeps_counters(void)
{
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    const char *before = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 10\n"
                         "# HELP g G.\n# TYPE g gauge\ng 5\n";
    const char *after = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 3\n"
                        "# HELP g G.\n# TYPE g gauge\ng 1\n";
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "w", before, 1), TG_OK);
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "w", after, 2), TG_OK);
    char *r = tg_metrics_agg_render(agg);
    s_expect_line(r, "x_total{a=\"1\"} 13");
    s_expect_line(r, "g 1");
    free(r);
    tg_metrics_agg_destroy(&agg);
}

static void
test_bucket_union(void)
{
    //  Two sources with different bucket bounds: the union stays cumulative.
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    const char *a = "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
                    "h_seconds_bucket{le=\"1\"} 5\nh_seconds_bucket{le=\"+Inf\"} 10\n"
                    "h_seconds_sum 12\nh_seconds_count 10\n";
    //  Unordered lines, \r\n endings, a timestamp and a trailing comma are accepted.
    const char *b = "# TYPE h_seconds histogram\r\n"
                    "h_seconds_count 4\r\n"
                    "h_seconds_bucket{le=\"+Inf\",} 4 1700000000000\r\n"
                    "h_seconds_bucket{ le = \"2\" } 3\r\n"
                    "h_seconds_sum 3.5\r\n";
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "a", a, 1), TG_OK);
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "b", b, 1), TG_OK);
    char *r = tg_metrics_agg_render(agg);
    s_expect_line(r, "h_seconds_bucket{le=\"1\"} 5");
    s_expect_line(r, "h_seconds_bucket{le=\"2\"} 8");
    s_expect_line(r, "h_seconds_bucket{le=\"+Inf\"} 14");
    s_expect_line(r, "h_seconds_sum 15.5");
    s_expect_line(r, "h_seconds_count 14");
    free(r);
    tg_metrics_agg_destroy(&agg);
}

static void
test_bad_snapshots(void)
{
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    const char *good = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 10\n";
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "s", good, 1), TG_OK);
    char *big = tg_zalloc(TG_METRICS_MAX_LINE + 1);
    memset(big, 'y', TG_METRICS_MAX_LINE);
    char *huge_line = tg_strfmt("# TYPE x_total counter\nx_total{a=\"%s\"} 1\n", big);
    free(big);
    const char *bad[] = {
        "x_total 1\n",                                           //  no TYPE
        "# TYPE x_total counter\nx_total{ 1\n",                  //  broken labels
        "# TYPE x_total counter\nx_total{a=\"1} 1\n",            //  unterminated value
        "# TYPE x_total counter\nx_total{a=\"\\q\"} 1\n",        //  bad escape
        "# TYPE x_total counter\nx_total{a=\"1\",a=\"2\"} 1\n",  //  duplicate label
        "# TYPE x_total counter\nx_total abc\n",                 //  bad value
        "# TYPE x_total counter\nx_total\n",                     //  no value
        "# TYPE x_total counter\nx_total 1 2 3\n",               //  trailing junk
        "# TYPE x_total counter\nx_total 1\nx_total 2\n",        //  duplicate sample
        "# TYPE x_total counter\n# TYPE x_total gauge\n",        //  duplicate TYPE
        "# TYPE x_total summary\n",                              //  unsupported type
        "# TYPE x_total counter\n9x 1\n",                        //  bad name
        "# TYPE x_total counter\nx_total{a=\"\xff\"} 1\n",       //  invalid UTF-8
        "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 3\n",  //  not cumulative
        "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_count 5\n",                //  no +Inf bucket
        "# TYPE h histogram\nh_bucket 5\n",                                  //  bucket without le
        "# TYPE h histogram\nh_bucket{le=\"x\"} 5\n",                        //  bad le
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 5\nh_sum{le=\"1\"} 5\n",  //  le on _sum
        "# HELP lonely Only help.\n",                                        //  family without TYPE
        huge_line,                                                           //  line over the cap
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = tg_metrics_agg_put(agg, "s", bad[i], 2);
        if (rc != TG_INVALID)
            fprintf(stderr, "\naccepted bad snapshot %zu\n", i);
        CU_ASSERT_EQUAL(rc, TG_INVALID);
    }
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "s", NULL, 2), TG_INVALID);
    free(huge_line);
    //  The good snapshot is still there.
    char *r = tg_metrics_agg_render(agg);
    s_expect_line(r, "x_total{a=\"1\"} 10");
    free(r);
    tg_metrics_agg_destroy(&agg);
}

static void
test_fuzz_parser(void)
{
    //  Mutated snapshots: never a crash (ASan), always OK or INVALID.
    tg_metrics_t *m = s_registry();
    tg_metrics_add(m, "llm_requests_total", "provider=\"openai\",model=\"g\\\"\"", 2);
    tg_metrics_observe(m, "llm_request_duration_seconds", "provider=\"openai\"", 1.5);
    tg_metrics_set(m, "llm_queue_depth", NULL, 3);
    char *good = tg_metrics_snapshot(m);
    size_t len = strlen(good);
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    uint32_t seed = 12345;
    const char alphabet[] = "{}\"\\=, \n#le+Inf_0123456789.-\xff\xc3";
    int ok = 0, level = tg_log_level;
    tg_log_level = TG_LOG_ERROR;  //  thousands of expected warnings
    for (int iter = 0; iter < 3000; iter++) {
        char *t = tg_strdup(good);
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 5 == 0)
                t[at] = 0;  //  truncate
            else
                t[at] = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
        }
        int rc = tg_metrics_agg_put(agg, iter % 2 ? "a" : "b", t, iter);
        CU_ASSERT(rc == TG_OK || rc == TG_INVALID);
        ok += rc == TG_OK;
        free(t);
    }
    tg_log_level = level;
    char *r = tg_metrics_agg_render(agg);
    CU_ASSERT_PTR_NOT_NULL(r);
    //  Whatever was accepted still renders to something the parser accepts.
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "c", r, 0), TG_OK);
    free(r);
    CU_ASSERT(ok > 0);
    tg_metrics_agg_destroy(&agg);
    free(good);
    tg_metrics_destroy(&m);
}

static void
test_promtool(void)
{
    tg_metrics_t *a = s_registry(), *b = s_registry();
    char l[256];
    tg_metrics_labels_buf(l, sizeof l, "provider", "openai", "model", "gpt-4o\"\\\n", "agent_id",
                          "", "cache_status", "miss", NULL);
    tg_metrics_add(a, "llm_requests_total", l, 5);
    tg_metrics_add(b, "llm_requests_total", l, 5);
    tg_metrics_add(a, "llm_cost_usd_total", l, 0.0075);
    tg_metrics_observe(a, "llm_request_duration_seconds", l, 0.3);
    tg_metrics_observe(b, "llm_request_duration_seconds", l, 45);
    tg_metrics_set(b, "llm_queue_depth", NULL, 1);
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    char *sa = tg_metrics_snapshot(a), *sb = tg_metrics_snapshot(b);
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "a", sa, 1), TG_OK);
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "b", sb, 1), TG_OK);
    char *r = tg_metrics_agg_render(agg);
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        fprintf(stdout, "\n  NOTE: promtool not installed; promtool check skipped\n");
    } else {
        char path[] = "/tmp/tg_metrics_XXXXXX";
        int fd = mkstemp(path);
        CU_ASSERT_FATAL(fd >= 0);
        CU_ASSERT_EQUAL(write(fd, r, strlen(r)), (ssize_t)strlen(r));
        close(fd);
        char *cmd = tg_strfmt("promtool check metrics < %s 2>&1", path);
        FILE *p = popen(cmd, "r");
        char out[4096] = "";
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = 0;
        int status = pclose(p);
        if (n)
            fprintf(stderr, "\npromtool: %s\n", out);
        CU_ASSERT_EQUAL(n, 0);
        CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        free(cmd);
        unlink(path);
    }
    free(r);
    free(sa);
    free(sb);
    tg_metrics_agg_destroy(&agg);
    tg_metrics_destroy(&a);
    tg_metrics_destroy(&b);
}

static void
test_hot_path(void)
{
    tg_metrics_t *m = s_registry();
    char l[128];
    int64_t t0 = tg_mono_us();
    for (int i = 0; i < 200000; i++) {
        tg_metrics_labels_buf(l, sizeof l, "provider", "openai", "model", i % 2 ? "a" : "b", NULL);
        tg_metrics_add(m, "llm_requests_total", l, 1);
        tg_metrics_observe(m, "llm_request_duration_seconds", l, i % 70);
    }
    CU_ASSERT(tg_mono_us() - t0 < 2000000);  //  generous for sanitizer builds
    char *s = tg_metrics_snapshot(m);
    s_expect_line(s, "llm_requests_total{provider=\"openai\",model=\"a\"} 100000");
    free(s);
    tg_metrics_destroy(&m);
}

void
test_metrics_register(void)
{
    CU_pSuite s = CU_add_suite("metrics", NULL, NULL);
    CU_add_test(s, "labels escape", test_labels);
    CU_add_test(s, "snapshot", test_snapshot);
    CU_add_test(s, "histogram cumulative buckets", test_histogram);
    CU_add_test(s, "merge of two sources sums", test_merge_sources);
    CU_add_test(s, "restart keeps counters", test_restart_keeps_counters);
    CU_add_test(s, "bucket union stays cumulative", test_bucket_union);
    CU_add_test(s, "bad snapshots rejected", test_bad_snapshots);
    CU_add_test(s, "parser fuzz", test_fuzz_parser);
    CU_add_test(s, "promtool check metrics", test_promtool);
    CU_add_test(s, "hot path", test_hot_path);
}
