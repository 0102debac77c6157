//  test_alert_rule.c - alert rules: validation (a 400 names the field), every condition and
//  comparator, windows, cool-down, matching, the rules CRUD over QUERY frames with
//  persistence, and the webhook signature.
#include <CUnit/CUnit.h>
#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alert_book.h"
#include "alert_rule.h"
#include "alert_rules.h"
#include "alert_webhook.h"
#include "tg_metrics.h"
#include "tg_util.h"

#include <czmq.h>

#define S_SEC 1000000LL
#define T0 (1764000000LL * S_SEC)

static alert_rule_t *
s_rule(const char *json)
{
    alert_rule_t *r = NULL;
    char *msg = NULL, *param = NULL;
    int rc = alert_rule_parse(json, strlen(json), false, &r, &msg, &param);
    if (rc != TG_OK)
        fprintf(stderr, "parse failed: %s (%s)\n", msg, param ? param : "-");
    free(msg);
    free(param);
    CU_ASSERT_EQUAL(rc, TG_OK);
    return r;
}

static void
test_bad_fields(void)
{
    static const struct {
        const char *json;   //  rule body
        const char *param;  //  field named in the 400 (NULL: none)
    } cases[] = {
        {"[]", NULL},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"info\",\"colour\":\"red\"}",
         "colour"},
        {"{\"condition\":\"median\",\"comparator\":\">\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"info\"}",
         "condition"},
        {"{\"condition\":\"count\",\"comparator\":\"=>\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"info\"}",
         "comparator"},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":\"1\",\"window_s\":60,"
         "\"severity\":\"info\"}",
         "threshold"},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,\"window_s\":0,"
         "\"severity\":\"info\"}",
         "window_s"},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,\"window_s\":1.5,"
         "\"severity\":\"info\"}",
         "window_s"},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"fatal\"}",
         "severity"},
        {"{\"condition\":\"sum\",\"comparator\":\">\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"info\"}",
         "metric"},
        {"{\"condition\":\"avg\",\"metric\":\"speed\",\"comparator\":\">\",\"threshold\":1,"
         "\"window_s\":60,\"severity\":\"info\"}",
         "metric"},
        {"{\"condition\":\"percentile\",\"metric\":\"latency_ms\",\"percentile\":0,"
         "\"comparator\":\">\",\"threshold\":1,\"window_s\":60,\"severity\":\"info\"}",
         "percentile"},
        {"{\"event\":\"boom\",\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,"
         "\"window_s\":60,\"severity\":\"info\"}",
         "event"},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"info\",\"channels\":[{\"type\":\"webhook\",\"url\":\"ftp://x\"}]}",
         "channels"},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"info\",\"channels\":[{\"type\":\"pager\"}]}",
         "channels"},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"info\",\"enabled\":\"yes\"}",
         "enabled"},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"info\",\"filter\":{\"colour\":\"red\"}}",
         "filter"},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"info\",\"org\":\"a.b\"}",
         "org"},
        {"{\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,\"window_s\":60,"
         "\"severity\":\"info\",\"cooldown_s\":-1}",
         "cooldown_s"},
        {"{\"event\":\"spend\",\"condition\":\"count\",\"comparator\":\">\",\"threshold\":1,"
         "\"window_s\":60,\"severity\":\"info\"}",
         "condition"},
        {"{\"event\":\"spend\",\"condition\":\"avg\",\"metric\":\"cost_usd\",\"comparator\":"
         "\">\",\"threshold\":1,\"window_s\":60,\"severity\":\"info\"}",
         "metric"},
        {"{\"condition\":\"avg\",\"metric\":\"day_usd\",\"comparator\":\">\",\"threshold\":1,"
         "\"window_s\":60,\"severity\":\"info\"}",
         "metric"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        alert_rule_t *r = NULL;
        char *msg = NULL, *param = NULL;
        int rc = alert_rule_parse(cases[i].json, strlen(cases[i].json), false, &r, &msg, &param);
        CU_ASSERT_EQUAL(rc, TG_INVALID);
        CU_ASSERT_PTR_NULL(r);
        CU_ASSERT_PTR_NOT_NULL(msg);
        if (cases[i].param) {
            CU_ASSERT_PTR_NOT_NULL(param);
            if (param && strcmp(param, cases[i].param) != 0)
                fprintf(stderr, "case %zu: param %s, want %s\n", i, param, cases[i].param);
            CU_ASSERT(param && strcmp(param, cases[i].param) == 0);
        }
        free(msg);
        free(param);
    }
}

static void
test_roundtrip(void)
{
    alert_rule_t *r = s_rule(
        "{\"name\":\"slow\",\"event\":\"request\",\"condition\":\"percentile\",\"percentile\":95,"
        "\"metric\":\"latency_ms\",\"comparator\":\">=\",\"threshold\":250.5,\"window_s\":300,"
        "\"cooldown_s\":600,\"severity\":\"warning\",\"org\":\"acme\",\"filter\":{\"model\":"
        "\"gpt-4o\"},\"channels\":[{\"type\":\"webhook\",\"url\":\"https://h/x\",\"secret\":"
        "\"s\"},{\"type\":\"email\",\"to\":\"ops@acme.test\"},{\"type\":\"stream\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    snprintf(r->id, sizeof r->id, "rule_x");
    r->fired_us = 42;
    char *shown = alert_rule_json(r, false);
    CU_ASSERT_PTR_NULL(strstr(shown, "\"secret\":"));
    CU_ASSERT_PTR_NOT_NULL(strstr(shown, "\"secret_set\":true"));
    free(shown);
    char *json = alert_rule_json(r, true);
    alert_rule_t *back = NULL;
    char *msg = NULL, *param = NULL;
    CU_ASSERT_EQUAL(alert_rule_parse(json, strlen(json), true, &back, &msg, &param), TG_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_STRING_EQUAL(back->id, "rule_x");
    CU_ASSERT_EQUAL(back->fired_us, 42);
    CU_ASSERT_EQUAL(back->cond, ALERT_COND_PERCENTILE);
    CU_ASSERT_EQUAL(back->cmp, ALERT_CMP_GE);
    CU_ASSERT_DOUBLE_EQUAL(back->percentile, 95, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(back->threshold, 250.5, 1e-9);
    CU_ASSERT_EQUAL(back->window_s, 300);
    CU_ASSERT_EQUAL(back->cooldown_s, 600);
    CU_ASSERT_STRING_EQUAL(back->org, "acme");
    CU_ASSERT_STRING_EQUAL(back->model, "gpt-4o");
    CU_ASSERT_EQUAL(back->nchan, 3);
    CU_ASSERT_EQUAL(back->chan[0].kind, ALERT_CHAN_WEBHOOK);
    CU_ASSERT_STRING_EQUAL(back->chan[0].secret, "s");
    CU_ASSERT_EQUAL(back->chan[1].kind, ALERT_CHAN_EMAIL);
    CU_ASSERT_TRUE(back->enabled);
    char *again = alert_rule_json(back, true);
    CU_ASSERT_STRING_EQUAL(json, again);
    free(again);
    free(json);
    alert_rule_destroy(&back);
    alert_rule_destroy(&r);
    CU_ASSERT_PTR_NULL(r);
}

static void
test_comparators(void)
{
    static const struct {
        alert_cmp_t cmp;
        double v, t;
        bool want;
    } cases[] = {
        {ALERT_CMP_GT, 2, 1, true},  {ALERT_CMP_GT, 1, 1, false}, {ALERT_CMP_GE, 1, 1, true},
        {ALERT_CMP_GE, 0, 1, false}, {ALERT_CMP_LT, 0, 1, true},  {ALERT_CMP_LT, 1, 1, false},
        {ALERT_CMP_LE, 1, 1, true},  {ALERT_CMP_LE, 2, 1, false}, {ALERT_CMP_EQ, 1, 1, true},
        {ALERT_CMP_EQ, 2, 1, false}, {ALERT_CMP_NE, 2, 1, true},  {ALERT_CMP_NE, 1, 1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CU_ASSERT_EQUAL(alert_rule_compare(cases[i].cmp, cases[i].v, cases[i].t), cases[i].want);
}

//  A rule of `cond` (metric latency_ms where needed) over 10 s, compared with >= threshold.
static alert_rule_t *
s_cond_rule(const char *cond, double threshold)
{
    char *json = tg_strfmt("{\"condition\":\"%s\",\"metric\":\"latency_ms\",\"percentile\":90,"
                           "\"comparator\":\">=\",\"threshold\":%g,\"window_s\":10,"
                           "\"severity\":\"info\"}",
                           cond, threshold);
    alert_rule_t *r = s_rule(json);
    free(json);
    return r;
}

static void
test_conditions(void)
{
    //  Samples 1..10 at one per second from T0.
    static const struct {
        const char *cond;
        double want;
    } cases[] = {{"count", 10}, {"sum", 55}, {"avg", 5.5}, {"rate", 1.0}, {"percentile", 9}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        alert_rule_t *r = s_cond_rule(cases[i].cond, cases[i].want);
        alert_window_t *w = alert_window_new(10, r->cond == ALERT_COND_PERCENTILE, T0);
        for (int k = 1; k <= 10; k++)
            alert_window_add(w, T0 + (k - 1) * S_SEC, k);
        double v;
        CU_ASSERT_TRUE(alert_rule_eval(r, w, T0 + 9 * S_SEC, &v));
        CU_ASSERT_DOUBLE_EQUAL(v, cases[i].want, 1e-9);
        r->threshold = cases[i].want + 0.01;  //  just above: no longer holds
        CU_ASSERT_FALSE(alert_rule_eval(r, w, T0 + 9 * S_SEC, &v));
        alert_window_destroy(&w);
        alert_rule_destroy(&r);
    }
    //  No samples: avg and percentile have no value and never fire.
    alert_rule_t *r = s_cond_rule("avg", -1);
    alert_window_t *w = alert_window_new(10, false, T0);
    double v;
    CU_ASSERT_FALSE(alert_rule_eval(r, w, T0, &v));
    CU_ASSERT_TRUE(isnan(v));
    alert_rule_destroy(&r);
    alert_window_destroy(&w);
}

static void
test_window_prunes(void)
{
    alert_rule_t *r = s_cond_rule("count", 3);
    alert_window_t *w = alert_window_new(10, false, T0);
    for (int k = 0; k < 3; k++)
        alert_window_add(w, T0 + k * S_SEC, 1);
    double v;
    CU_ASSERT_TRUE(alert_rule_eval(r, w, T0 + 5 * S_SEC, &v));
    r->fired_us = 0;
    //  At T0 + 10 s the first sample is exactly one window old: out.
    CU_ASSERT_FALSE(alert_rule_eval(r, w, T0 + 10 * S_SEC, &v));
    CU_ASSERT_DOUBLE_EQUAL(v, 2, 1e-9);
    CU_ASSERT_EQUAL(alert_window_size(w), 2);
    CU_ASSERT_FALSE(alert_rule_eval(r, w, T0 + 30 * S_SEC, &v));
    CU_ASSERT_EQUAL(alert_window_size(w), 0);
    //  Counts and sums are exact at any rate (buckets, no sample cap).
    for (int k = 0; k < 100000; k++)
        alert_window_add(w, T0 + 40 * S_SEC + k, 1);
    r->threshold = 100000;
    CU_ASSERT_TRUE(alert_rule_eval(r, w, T0 + 41 * S_SEC, &v));
    CU_ASSERT_EQUAL(alert_window_size(w), 100000);
    //  A sample older than the buckets kept is dropped, not counted in a newer bucket.
    alert_window_add(w, T0, 1);
    r->fired_us = 0;
    CU_ASSERT_TRUE(alert_rule_eval(r, w, T0 + 41 * S_SEC, &v));
    CU_ASSERT_DOUBLE_EQUAL(v, 100000, 1e-9);
    alert_window_destroy(&w);
    alert_rule_destroy(&r);
    //  Percentile keeps the most recent samples: 1..5000 added, p0+ is over 905..5000.
    r = s_cond_rule("percentile", 0);
    r->percentile = 0.001;
    w = alert_window_new(10, true, T0);
    for (int k = 1; k <= 5000; k++)
        alert_window_add(w, T0, k);
    CU_ASSERT_TRUE(alert_rule_eval(r, w, T0 + S_SEC, &v));
    CU_ASSERT_DOUBLE_EQUAL(v, 5000 - ALERT_WINDOW_SAMPLES_MAX + 1, 1e-9);
    alert_window_destroy(&w);
    alert_rule_destroy(&r);
}

static void
test_cooldown(void)
{
    alert_rule_t *r = s_cond_rule("count", 1);
    r->cooldown_s = 25;  //  longer than the 10 s window
    alert_window_t *w = alert_window_new(10, false, T0);
    double v;
    alert_window_add(w, T0, 1);
    CU_ASSERT_TRUE(alert_rule_eval(r, w, T0, &v));
    r->fired_us = T0;  //  what the engine records
    alert_window_add(w, T0 + 5 * S_SEC, 1);
    CU_ASSERT_FALSE(alert_rule_eval(r, w, T0 + 5 * S_SEC, &v));  //  within the window
    alert_window_add(w, T0 + 20 * S_SEC, 1);
    CU_ASSERT_FALSE(alert_rule_eval(r, w, T0 + 20 * S_SEC, &v));  //  window over, cool-down not
    CU_ASSERT_TRUE(alert_rule_eval(r, w, T0 + 25 * S_SEC, &v));
    //  Without a cool-down the window itself is the quiet time: once per window.
    r->cooldown_s = 0;
    r->fired_us = T0 + 25 * S_SEC;
    alert_window_add(w, T0 + 30 * S_SEC, 1);
    CU_ASSERT_FALSE(alert_rule_eval(r, w, T0 + 30 * S_SEC, &v));
    CU_ASSERT_TRUE(alert_rule_eval(r, w, T0 + 35 * S_SEC, &v));
    //  Disabled rules never fire.
    r->fired_us = 0;
    r->enabled = false;
    CU_ASSERT_FALSE(alert_rule_eval(r, w, T0 + 35 * S_SEC, &v));
    alert_window_destroy(&w);
    alert_rule_destroy(&r);
}

static void
test_low_needs_full_window(void)
{
    alert_rule_t *r = s_rule("{\"condition\":\"count\",\"comparator\":\"<\",\"threshold\":1,"
                             "\"window_s\":10,\"severity\":\"critical\"}");
    alert_window_t *w = alert_window_new(10, false, T0);
    double v;
    CU_ASSERT_FALSE(alert_rule_eval(r, w, T0 + 5 * S_SEC, &v));  //  watched 5 s of 10
    CU_ASSERT_TRUE(alert_rule_eval(r, w, T0 + 10 * S_SEC, &v));
    CU_ASSERT_DOUBLE_EQUAL(v, 0, 1e-9);
    alert_window_destroy(&w);
    alert_rule_destroy(&r);
}

static void
test_match(void)
{
    tg_fr_usage_t ok = {.status = 200,
                        .cache = "miss",
                        .model = "gpt-4o",
                        .agent = "a1",
                        .latency_us = 1500,
                        .ttft_us = 300,
                        .tok_in = 10,
                        .tok_out = 5,
                        .cost_usd = 0.25};
    tg_fr_usage_t err = {.status = 502, .model = "gpt-4o", .error = "upstream"};
    tg_fr_usage_t hit = {.status = 200, .cache = "hit", .model = "gpt-4o-mini"};
    static const struct {
        const char *event;
        bool ok, err, hit;
    } cases[] = {
        {"request", 1, 1, 1}, {"error", 0, 1, 0}, {"cache_hit", 0, 0, 1}, {"cache_miss", 1, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *json = tg_strfmt("{\"event\":\"%s\",\"condition\":\"count\",\"comparator\":\">\","
                               "\"threshold\":0,\"window_s\":1,\"severity\":\"info\"}",
                               cases[i].event);
        alert_rule_t *r = s_rule(json);
        free(json);
        CU_ASSERT_EQUAL(alert_rule_match(r, &ok), cases[i].ok);
        CU_ASSERT_EQUAL(alert_rule_match(r, &err), cases[i].err);
        CU_ASSERT_EQUAL(alert_rule_match(r, &hit), cases[i].hit);
        alert_rule_destroy(&r);
    }
    alert_rule_t *r = s_rule("{\"condition\":\"sum\",\"metric\":\"cost_usd\",\"comparator\":\">\","
                             "\"threshold\":0,\"window_s\":1,\"severity\":\"info\","
                             "\"filter\":{\"model\":\"gpt-4o\",\"agent\":\"a1\"}}");
    CU_ASSERT_TRUE(alert_rule_match(r, &ok));
    CU_ASSERT_FALSE(alert_rule_match(r, &err));  //  no agent
    CU_ASSERT_FALSE(alert_rule_match(r, &hit));  //  other model
    CU_ASSERT_DOUBLE_EQUAL(alert_rule_value(r, &ok), 0.25, 1e-12);
    static const struct {
        const char *metric;
        double want;
    } metrics[] = {{"latency_ms", 1.5}, {"ttft_ms", 0.3}, {"tokens_in", 10},
                   {"tokens_out", 5},   {"tokens", 15},   {"cost_usd", 0.25}};
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
        free(r->metric);
        r->metric = tg_strdup(metrics[i].metric);
        CU_ASSERT_DOUBLE_EQUAL(alert_rule_value(r, &ok), metrics[i].want, 1e-12);
    }
    alert_rule_destroy(&r);
}

static void
test_sign(void)
{
    //  Checked against Python: hmac.new(b"whsec_test", b'1700000000.{"id":"alrt_1"}', sha256)
    const char *body = "{\"id\":\"alrt_1\"}";
    char sig[ALERT_SIG_MAX];
    alert_webhook_sign("whsec_test", 1700000000, body, strlen(body), sig, sizeof sig);
    CU_ASSERT_STRING_EQUAL(sig, "t=1700000000,v1="
                                "ee3b1e27df7e328ec9e7ddeacddf42f4060ee9884485c344686105e78f41ee8b");
    alert_webhook_sign("whsec_other", 1700000000, body, strlen(body), sig, sizeof sig);
    CU_ASSERT_STRING_NOT_EQUAL(sig,
                               "t=1700000000,v1="
                               "ee3b1e27df7e328ec9e7ddeacddf42f4060ee9884485c344686105e78f41ee8b");
}

//  Runs one QUERY through the rules; returns the reply's status, its body in *body_p.
static int
s_query(alert_rules_t *rules, const char *method, const char *path, const char *body, char **body_p)
{
    tg_fr_query_t q = {
        .id = "q1", .reply_to = "inproc://x", .method = (char *)method, .path = (char *)path};
    tg_frame_t *f = alert_rules_query(rules, &q, body, body ? strlen(body) : 0, T0);
    int status = (int)f->reply.status;
    *body_p = tg_strdup(f->body);
    tg_frame_destroy(&f);
    return status;
}

static void
s_count_fired(const alert_rule_t *rule, tg_frame_t **alert_p, void *arg)
{
    (void)rule;
    CU_ASSERT_STRING_EQUAL((*alert_p)->topic, "warning.acme");
    CU_ASSERT_STRING_EQUAL((*alert_p)->alert.kind, "rule");
    (*(int *)arg)++;
}

static void
test_crud(void)
{
    char tmpl[] = "/tmp/tg-test-rules-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    alert_book_t *book = alert_book_new(dir, 16 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(book);
    alert_rules_t *rules = alert_rules_new(book, T0);
    char *out;
    CU_ASSERT_EQUAL(s_query(rules, "POST", "/v1/alerts/rules", "{\"condition\":\"count\"}", &out),
                    400);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"param\":\"comparator\""));
    free(out);
    const char *good = "{\"name\":\"busy\",\"condition\":\"count\",\"comparator\":\">=\","
                       "\"threshold\":2,\"window_s\":60,\"severity\":\"warning\",\"org\":\"acme\"}";
    CU_ASSERT_EQUAL(s_query(rules, "POST", "/v1/alerts/rules", good, &out), 201);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    char *id = tg_strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    char *path = tg_strfmt("/v1/alerts/rules/%s", id);
    CU_ASSERT_EQUAL(s_query(rules, "GET", path, NULL, &out), 200);
    free(out);
    CU_ASSERT_EQUAL(s_query(rules, "PUT", path, "{\"threshold\":\"x\"}", &out), 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"param\":\"threshold\""));
    free(out);
    CU_ASSERT_EQUAL(s_query(rules, "PUT", path, "{\"threshold\":3}", &out), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"threshold\":3"));
    free(out);
    char *dis = tg_strfmt("%s/disable", path);
    CU_ASSERT_EQUAL(s_query(rules, "POST", dis, NULL, &out), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"enabled\":false"));
    free(out);
    free(dis);
    CU_ASSERT_EQUAL(s_query(rules, "GET", "/v1/alerts/rules/rule_nope", NULL, &out), 404);
    free(out);

    //  Disabled: events are not counted. Enabled: three events fire it once.
    tg_fr_usage_t u = {.status = 200};
    int fired = 0;
    for (int k = 0; k < 3; k++)
        alert_rules_on_event(rules, &u, T0 + k * S_SEC);
    CU_ASSERT_EQUAL(alert_rules_eval(rules, T0 + 3 * S_SEC, s_count_fired, &fired), 0);
    char *en = tg_strfmt("%s/enable", path);
    CU_ASSERT_EQUAL(s_query(rules, "POST", en, NULL, &out), 200);
    free(out);
    free(en);
    for (int k = 0; k < 4; k++)
        alert_rules_on_event(rules, &u, T0 + k * S_SEC);
    CU_ASSERT_EQUAL(alert_rules_eval(rules, T0 + 4 * S_SEC, s_count_fired, &fired), 1);
    CU_ASSERT_EQUAL(alert_rules_eval(rules, T0 + 5 * S_SEC, s_count_fired, &fired), 0);
    CU_ASSERT_EQUAL(fired, 1);

    //  Reopened: the rule and its last firing (the cool-down) are still there.
    alert_rules_destroy(&rules);
    rules = alert_rules_new(book, T0 + 6 * S_SEC);
    CU_ASSERT_EQUAL(alert_rules_count(rules), 1);
    for (int k = 0; k < 4; k++)
        alert_rules_on_event(rules, &u, T0 + 6 * S_SEC);
    CU_ASSERT_EQUAL(alert_rules_eval(rules, T0 + 7 * S_SEC, s_count_fired, &fired), 0);
    CU_ASSERT_EQUAL(s_query(rules, "DELETE", path, NULL, &out), 200);
    free(out);
    CU_ASSERT_EQUAL(alert_rules_count(rules), 0);
    CU_ASSERT_EQUAL(s_query(rules, "GET", "/v1/alerts/rules", NULL, &out), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"data\":[]"));
    free(out);
    alert_rules_destroy(&rules);
    rules = alert_rules_new(book, T0);
    CU_ASSERT_EQUAL(alert_rules_count(rules), 0);
    alert_rules_destroy(&rules);
    alert_book_destroy(&book);
    free(path);
    free(id);
    char *cmd = tg_strfmt("rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(cmd);
}

static void
test_spend(void)
{
    alert_rule_t *r = s_rule("{\"event\":\"spend\",\"condition\":\"percentile\","
                             "\"percentile\":100,\"metric\":\"day_usd\",\"comparator\":\">\","
                             "\"threshold\":5,\"window_s\":60,\"severity\":\"warning\"}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    tg_fr_spend_t sp = {.day_usd = 6, .month_usd = 40};
    tg_fr_usage_t u = {.status = 200};
    double v = 0;
    CU_ASSERT_FALSE(alert_rule_match(r, &u));  //  usage events never feed a spend rule
    CU_ASSERT_TRUE(alert_rule_spend_value(r, &sp, &v));
    CU_ASSERT_DOUBLE_EQUAL(v, 6, 1e-12);
    free(r->metric);
    r->metric = tg_strdup("month_usd");
    CU_ASSERT_TRUE(alert_rule_spend_value(r, &sp, &v));
    CU_ASSERT_DOUBLE_EQUAL(v, 40, 1e-12);
    free(r->metric);
    r->metric = tg_strdup("day_usd");
    alert_window_t *w = alert_window_new(60, true, T0);
    alert_window_add(w, T0, 4);
    CU_ASSERT_FALSE(alert_rule_eval(r, w, T0, &v));
    alert_window_add(w, T0 + S_SEC, 6);
    CU_ASSERT_TRUE(alert_rule_eval(r, w, T0 + S_SEC, &v));  //  the max over the window
    CU_ASSERT_DOUBLE_EQUAL(v, 6, 1e-12);
    alert_window_destroy(&w);
    alert_rule_t *usage = s_cond_rule("avg", 1);
    CU_ASSERT_FALSE(alert_rule_spend_value(usage, &sp, &v));
    alert_rule_destroy(&usage);
    alert_rule_destroy(&r);
}

static void
s_count_record(const char *json, void *arg)
{
    json_t *o = json_loads(json, 0, NULL);
    snprintf(arg, 40, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
}

static size_t
s_records(alert_book_t *book, alert_book_kind_t kind, char *id)
{
    id[0] = 0;
    alert_book_each(book, kind, s_count_record, id);
    return id[0] ? 1 : 0;  //  these tests keep at most one
}

typedef struct {
    struct event_base *base;  //  the loop
    alert_webhook_t *hooks;   //  the engine under test
} s_idle_t;

static void
s_until_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_idle_t *w = arg;
    if (alert_webhook_pending(w->hooks) == 0)
        event_base_loopbreak(w->base);
}

static void
s_give_up(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

//  A delivery survives a restart (outbox db), is dead-lettered after its tries (a refused
//  connection), and a re-send moves it back to the outbox.
static void
test_outbox_dead_resend(void)
{
    char tmpl[] = "/tmp/tg-test-hooks-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    alert_book_t *book = alert_book_new(dir, 16 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(book);
    tg_metrics_t *m = tg_metrics_new();
    alert_webhook_opts_t o = {
        .timeout_ms = 500, .backoff_ms = 10, .max_tries = 2, .max_in_flight = 4, .secret = "k"};
    alert_webhook_t *h = alert_webhook_new(&o, book, m);
    alert_webhook_send(h, "webhook", "http://127.0.0.1:1/x", NULL, "alrt_1", "{\"id\":\"alrt_1\"}");
    CU_ASSERT_EQUAL(alert_webhook_pending(h), 1);
    char id[40];
    CU_ASSERT_EQUAL(s_records(book, ALERT_BOOK_OUTBOX, id), 1);
    alert_webhook_destroy(&h);  //  "restart" before any try

    h = alert_webhook_new(&o, book, m);
    struct event_base *base = event_base_new();
    alert_webhook_attach(h, base);
    CU_ASSERT_EQUAL(alert_webhook_pending(h), 1);  //  re-queued from the outbox
    s_idle_t w = {base, h};
    struct event *idle = event_new(base, -1, EV_PERSIST, s_until_idle, &w);
    struct timeval every = {0, 10000};
    event_add(idle, &every);
    struct event *give_up = evtimer_new(base, s_give_up, base);
    struct timeval tv = {10, 0};
    evtimer_add(give_up, &tv);
    event_base_dispatch(base);
    event_free(idle);
    event_free(give_up);
    CU_ASSERT_EQUAL(alert_webhook_pending(h), 0);
    CU_ASSERT_EQUAL(s_records(book, ALERT_BOOK_OUTBOX, id), 0);
    CU_ASSERT_EQUAL(s_records(book, ALERT_BOOK_DEAD, id), 1);
    char *dead = NULL;
    CU_ASSERT_EQUAL(alert_book_get(book, ALERT_BOOK_DEAD, id, &dead), TG_OK);
    CU_ASSERT_PTR_NOT_NULL(dead && strstr(dead, "\"tries\":2"));
    CU_ASSERT_PTR_NULL(dead ? strstr(dead, "\"secret\"") : NULL);  //  the default key stays out
    free(dead);

    CU_ASSERT_EQUAL(alert_webhook_resend(h, "dlv_nope"), TG_NOTFOUND);
    CU_ASSERT_EQUAL(alert_webhook_resend(h, id), TG_OK);
    CU_ASSERT_EQUAL(alert_webhook_pending(h), 1);
    CU_ASSERT_EQUAL(s_records(book, ALERT_BOOK_DEAD, id), 0);
    CU_ASSERT_EQUAL(s_records(book, ALERT_BOOK_OUTBOX, id), 1);
    alert_webhook_destroy(&h);  //  before the loop it is attached to
    CU_ASSERT_PTR_NULL(h);
    event_base_free(base);
    tg_metrics_destroy(&m);
    alert_book_destroy(&book);
    char *cmd = tg_strfmt("rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(cmd);
}

void
test_alert_rule_register(void)
{
    CU_pSuite s = CU_add_suite("alert_rule", NULL, NULL);
    CU_add_test(s, "bad_fields", test_bad_fields);
    CU_add_test(s, "roundtrip", test_roundtrip);
    CU_add_test(s, "comparators", test_comparators);
    CU_add_test(s, "conditions", test_conditions);
    CU_add_test(s, "window_prunes", test_window_prunes);
    CU_add_test(s, "cooldown", test_cooldown);
    CU_add_test(s, "low_needs_full_window", test_low_needs_full_window);
    CU_add_test(s, "match", test_match);
    CU_add_test(s, "spend", test_spend);
    CU_add_test(s, "sign", test_sign);
    CU_add_test(s, "outbox_dead_resend", test_outbox_dead_resend);
    CU_add_test(s, "crud", test_crud);
}
