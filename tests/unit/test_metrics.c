//  test_metrics.c - the metrics modules: registry (tg_metrics), wire (msgpack snapshots),
//  renderer (Prometheus text) and aggregation (tg_metrics_agg), and promtool validity.
#include <CUnit/CUnit.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tg_log.h"
#include "tg_metrics.h"
#include "tg_metrics_agg.h"
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

//  Puts registry m's msgpack snapshot (as tg_stats publishes it) into agg as source.
static int
s_put(tg_metrics_agg_t *agg, const char *source, const tg_metrics_t *m, int64_t now)
{
    size_t len;
    char *body = tg_metrics_encode(&m, 1, &len);
    int rc = tg_metrics_agg_put(agg, source, body, len, now);
    free(body);
    return rc;
}

//  A msgpack body from space-separated tokens: aN array of N, uN unsigned, iN negative int,
//  dX double, s:TEXT string (TEXT has no spaces), n nil, x raw byte 0xc1 (never valid).
static char *
s_mp(const char *spec, size_t *len_p)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char *copy = tg_strdup(spec), *save = NULL;
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (t[0] == 'a')
            msgpack_pack_array(&pk, (size_t)atoi(t + 1));
        else if (t[0] == 'u')
            msgpack_pack_uint64(&pk, strtoull(t + 1, NULL, 10));
        else if (t[0] == 'i')
            msgpack_pack_int64(&pk, strtoll(t + 1, NULL, 10));
        else if (t[0] == 'd')
            msgpack_pack_double(&pk, strtod(t + 1, NULL));
        else if (t[0] == 's') {
            msgpack_pack_str(&pk, strlen(t + 2));
            msgpack_pack_str_body(&pk, t + 2, strlen(t + 2));
        } else if (t[0] == 'n')
            msgpack_pack_nil(&pk);
        else
            msgpack_sbuffer_write(&sb, "\xc1", 1);
    }
    free(copy);
    *len_p = sb.size;
    return sb.data;
}

static int
s_put_mp(tg_metrics_agg_t *agg, const char *source, const char *spec, int64_t now)
{
    size_t len;
    char *body = s_mp(spec, &len);
    int rc = tg_metrics_agg_put(agg, source, body, len, now);
    free(body);
    return rc;
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
    //  Whole characters only: a 2-byte character that would cross the cut is left out.
    memset(big, 'x', TG_METRICS_MAX_VALUE - 1);
    memcpy(big + TG_METRICS_MAX_VALUE - 1, "\xc3\xa9z", 4);
    l = tg_metrics_labels("m", big, NULL);
    CU_ASSERT_EQUAL(strlen(l), TG_METRICS_MAX_VALUE - 1 + 4);
    free(l);
    //  Plain runs and escapes interleaved.
    l = tg_metrics_labels("m", "ab\"cd\\ef\ngh\x01ij", NULL);
    CU_ASSERT_STRING_EQUAL(l, "m=\"ab\\\"cd\\\\ef\\ngh?ij\"");
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
    tg_metrics_add(m, "llm_requests_total", "model=\"gpt-4o\",provider=\"openai\"", 1);
    char *s = tg_metrics_snapshot(m);
    s_expect_line(s, "# HELP llm_requests_total LLM requests handled.");
    s_expect_line(s, "# TYPE llm_requests_total counter");
    //  Label names come out sorted, whatever order the caller wrote them in; the other order
    //  is the same series.
    s_expect_line(s, "llm_requests_total{model=\"gpt-4o\",provider=\"openai\"} 4");
    s_expect_line(s, "llm_cost_usd_total{model=\"gpt-4o\",provider=\"openai\"} 0.0075");
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
    CU_ASSERT_EQUAL(s_put(agg, "ingest-1", a, 1000), TG_OK);
    CU_ASSERT_EQUAL(s_put(agg, "worker-1", b, 1000), TG_OK);
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
    CU_ASSERT_EQUAL(s_put(agg, "ingest-1", a, 2000), TG_OK);
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
    tg_metrics_agg_destroy(&agg);
    CU_ASSERT_PTR_NULL(agg);
    tg_metrics_destroy(&a);
    tg_metrics_destroy(&b);
}

static void
test_restart_keeps_counters(void)
{
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    const char *before = "a2 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"1\" d10 "
                         "a5 s:g u1 s:G. a0 a1 a2 s: d5";
    const char *after = "a2 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"1\" d3 "
                        "a5 s:g u1 s:G. a0 a1 a2 s: d1";
    CU_ASSERT_EQUAL(s_put_mp(agg, "w", before, 1), TG_OK);
    CU_ASSERT_EQUAL(s_put_mp(agg, "w", after, 2), TG_OK);
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
    const char *a = "a1 a5 s:h_seconds u2 s:H. a1 d1 a1 a4 s: d12 d10 a2 d5 d10";
    //  Integers are numbers too.
    const char *b = "a1 a5 s:h_seconds u2 s:H. a1 u2 a1 a4 s: d3.5 u4 a2 u3 u4";
    CU_ASSERT_EQUAL(s_put_mp(agg, "a", a, 1), TG_OK);
    CU_ASSERT_EQUAL(s_put_mp(agg, "b", b, 1), TG_OK);
    char *r = tg_metrics_agg_render(agg);
    s_expect_line(r, "# HELP h_seconds H.");
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
    const char *good = "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"1\" d10";
    CU_ASSERT_EQUAL(s_put_mp(agg, "s", good, 1), TG_OK);
    const char *bad[] = {
        "x",                                                              //  not msgpack
        "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"1\"",                     //  truncated
        "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"1\" d10 u1",              //  trailing bytes
        "a1 a4 s:x_total u0 s:X. a0",                                     //  family of 4
        "a1 a5 s:x_total u3 s:X. a0 a0",                                  //  unknown type
        "a1 a5 s:x_total i-1 s:X. a0 a0",                                 //  negative type
        "a1 a5 s:x u0 s:X. a0 a0",                                        //  counter without _total
        "a1 a5 s:x_total u1 s:X. a0 a0",                                  //  gauge with _total
        "a1 a5 s:9x u1 s:X. a0 a0",                                       //  bad name
        "a1 a5 s: u1 s:X. a0 a0",                                         //  empty name
        "a1 a5 s:x\xff u1 s:X. a0 a0",                                    //  invalid UTF-8 name
        "a1 a5 s:x u1 s:X\xc3 a0 a0",                                     //  invalid UTF-8 help
        "a1 a5 u1 u1 s:X. a0 a0",                                         //  name not a string
        "a2 a5 s:x u1 s:X. a0 a0 a5 s:x u1 s:X. a0 a0",                   //  family twice
        "a1 a5 s:x u1 s:X. a1 d1 a0",                                     //  bounds on a gauge
        "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"1\" s:1",                 //  value not a number
        "a1 a5 s:x_total u0 s:X. a0 a1 a3 s:a=\"1\" d1 d1",               //  series of 3
        "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:a=1 d1",                      //  unquoted label value
        "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"1 d1",                    //  unterminated value
        "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"\\q\" d1",                //  bad escape
        "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"\xff\" d1",               //  invalid UTF-8 value
        "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"1\",a=\"2\" d1",          //  label twice
        "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:b=\"1\",a=\"2\" d1",          //  labels not sorted
        "a1 a5 s:x_total u0 s:X. a0 a1 a2 s:a=\"1\", d1",                 //  trailing comma
        "a1 a5 s:x_total u0 s:X. a0 a2 a2 s:a=\"1\" d1 a2 s:a=\"1\" d2",  //  series twice
        "a1 a5 s:h u2 s:H. a1 d1 a1 a4 s:le=\"1\" d1 d1 a2 d1 d1",        //  le on a histogram
        "a1 a5 s:h u2 s:H. a2 d2 d1 a0",                                  //  bounds decreasing
        "a1 a5 s:h u2 s:H. a2 d1 d1 a0",                                  //  bound twice
        "a1 a5 s:h u2 s:H. a1 dinf a0",                                   //  infinite bound
        "a1 a5 s:h u2 s:H. a1 dnan a0",                                   //  NaN bound
        "a1 a5 s:h u2 s:H. a1 d1 a1 a4 s: d1 d1 a1 d1",                   //  one count short
        "a1 a5 s:h u2 s:H. a1 d1 a1 a4 s: d1 d1 a3 d1 d1 d1",             //  one count over
        "a1 a5 s:h u2 s:H. a1 d1 a1 a4 s: d1 d1 a2 d2 d1",                //  not cumulative
        "a1 a5 s:h u2 s:H. a1 d1 a1 a4 s: d1 d1 a2 dnan d1",              //  NaN count
        "a1 a5 s:h u2 s:H. a1 d1 a1 a2 s: d1",                            //  histogram as a counter
        "a1 s:x",                                                         //  family not an array
        "s:x",                                                            //  body not an array
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = s_put_mp(agg, "s", bad[i], 2);
        if (rc != TG_INVALID)
            fprintf(stderr, "\naccepted bad snapshot %zu: %s\n", i, bad[i]);
        CU_ASSERT_EQUAL(rc, TG_INVALID);
    }
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "s", NULL, 0, 2), TG_INVALID);
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "s", "", 0, 2), TG_INVALID);
    //  The good snapshot is still there.
    char *r = tg_metrics_agg_render(agg);
    s_expect_line(r, "x_total{a=\"1\"} 10");
    free(r);
    tg_metrics_agg_destroy(&agg);
}

static void
test_fuzz_decoder(void)
{
    //  Mutated snapshots: never a crash (ASan), always OK or INVALID.
    tg_metrics_t *m = s_registry();
    tg_metrics_add(m, "llm_requests_total", "provider=\"openai\",model=\"g\\\"\"", 2);
    tg_metrics_observe(m, "llm_request_duration_seconds", "provider=\"openai\"", 1.5);
    tg_metrics_set(m, "llm_queue_depth", NULL, 3);
    size_t len;
    char *good = tg_metrics_encode((const tg_metrics_t *const *)&m, 1, &len);
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    uint32_t seed = 12345;
    int ok = 0, level = tg_log_level;
    tg_log_level = TG_LOG_ERROR;  //  thousands of expected warnings
    for (int iter = 0; iter < 3000; iter++) {
        char *t = tg_zalloc(len);
        memcpy(t, good, len);
        size_t n = len;
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 5 == 0)
                n = at;  //  truncate
            else
                t[at] = (char)(seed >> 8);
        }
        int rc = tg_metrics_agg_put(agg, iter % 2 ? "a" : "b", t, n, iter);
        CU_ASSERT(rc == TG_OK || rc == TG_INVALID);
        ok += rc == TG_OK;
        free(t);
    }
    tg_log_level = level;
    char *r = tg_metrics_agg_render(agg);
    CU_ASSERT_PTR_NOT_NULL(r);
    free(r);
    CU_ASSERT(ok > 0);
    tg_metrics_agg_destroy(&agg);
    free(good);
    tg_metrics_destroy(&m);
}

static void
test_roundtrip(void)
{
    //  One source through msgpack renders exactly as its registry does.
    tg_metrics_t *m = s_registry();
    tg_metrics_add(m, "llm_requests_total", "provider=\"o\\\\\\n\\\"\",model=\"\xc3\xa9\"", 2);
    tg_metrics_add(m, "llm_cost_usd_total", NULL, 0.1 + 0.2);
    tg_metrics_observe(m, "llm_request_duration_seconds", "provider=\"openai\"", 1.5);
    tg_metrics_observe(m, "llm_request_duration_seconds", "provider=\"openai\"", 1e9);
    tg_metrics_set(m, "llm_queue_depth", NULL, -3.25);
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    CU_ASSERT_EQUAL(s_put(agg, "a", m, 1), TG_OK);
    char *r = tg_metrics_agg_render(agg), *want = tg_metrics_snapshot(m);
    CU_ASSERT_STRING_EQUAL(r, want);
    free(r);
    free(want);
    tg_metrics_agg_destroy(&agg);
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
    CU_ASSERT_EQUAL(s_put(agg, "a", a, 1), TG_OK);
    CU_ASSERT_EQUAL(s_put(agg, "b", b, 1), TG_OK);
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
    s_expect_line(s, "llm_requests_total{model=\"a\",provider=\"openai\"} 100000");
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
    CU_add_test(s, "decoder fuzz", test_fuzz_decoder);
    CU_add_test(s, "msgpack round trip", test_roundtrip);
    CU_add_test(s, "promtool check metrics", test_promtool);
    CU_add_test(s, "hot path", test_hot_path);
}
