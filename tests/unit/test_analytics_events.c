//  test_analytics_events.c - the events API's validation (all or nothing, per-item errors,
//  roles, organizations), the USAGE frames it builds, and the traces index in the store:
//  written with the events, read back per trace and by time, pruned with them.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_events.h"
#include "analytics_store.h"
#include "test_tmpdir.h"
#include "tg_keyrec.h"
#include "tg_utc.h"

//  A QUERY as ingest sends it for `path` with a JSON body, for organization `org`.
static tg_frame_t *
s_query(const char *path, const char *body, const char *org, uint64_t roles)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_QUERY);
    f->query.id = tg_strdup("req_1");
    f->query.reply_to = tg_strdup("inproc://ingest");
    f->query.method = tg_strdup("POST");
    f->query.path = tg_strdup(path);
    f->query.key = tg_strdup("key_1");
    f->query.org = org ? tg_strdup(org) : NULL;
    f->query.roles = roles;
    char *b = tg_strdup(body);
    tg_frame_give_body(f, &b, strlen(body));
    return f;
}

//  The answer of a post that was refused: its status and parsed body (caller decrefs).
static json_t *
s_refused(analytics_post_t *p, uint64_t *status)
{
    CU_ASSERT_EQUAL(analytics_post_count(p), 0);
    tg_frame_t *r = analytics_post_reply(p);
    *status = r->reply.status;
    json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
    tg_frame_destroy(&r);
    return doc;
}

static void
test_one_event_fields(void)
{
    tg_frame_t *q = s_query("/api/v1/events",
                            "{\"id\":\"e1\",\"type\":\"tool_call\",\"model\":\"gpt-4o\","
                            "\"total_tokens\":1000,\"timestamp\":\"2026-11-25T10:00:00Z\","
                            "\"end_timestamp\":\"2026-11-25T10:00:01.5Z\",\"user_id\":\"u\","
                            "\"environment\":\"dev\",\"trace_id\":\"t\",\"parent_event_id\":\"p\","
                            "\"properties\":{\"a\":[1,2]},\"status\":\"error\"}",
                            "acme", TG_ROLE_DEFAULT);
    analytics_post_t *p = analytics_events_parse(&q, 1795600800000000LL, "production");
    CU_ASSERT_PTR_NULL(q);
    if (analytics_post_count(p) == 0) {  //  say why
        tg_frame_t *r = analytics_post_reply(p);
        fprintf(stderr, "refused: %.*s\n", (int)r->body_len, r->body);
        tg_frame_destroy(&r);
    }
    CU_ASSERT_EQUAL_FATAL(analytics_post_count(p), 1);
    tg_frame_t *f = analytics_post_take(p, 0);
    const tg_fr_usage_t *u = &f->usage;
    CU_ASSERT_STRING_EQUAL(u->eid, "e/4:acme/e1");
    CU_ASSERT_STRING_EQUAL(u->id, "e1");
    CU_ASSERT_STRING_EQUAL(u->span, "e1");  //  no span_id: the event's id
    CU_ASSERT_STRING_EQUAL(u->org, "acme");
    CU_ASSERT_STRING_EQUAL(u->etype, "tool_call");
    CU_ASSERT_STRING_EQUAL(u->key, "key_1");
    CU_ASSERT_EQUAL(u->tok_in, 700);  //  only the total: 70/30
    CU_ASSERT_EQUAL(u->tok_out, 300);
    CU_ASSERT_EQUAL(u->ts, 1795600800000000LL);
    CU_ASSERT_EQUAL(u->latency_us, 1500000);  //  from end_timestamp
    CU_ASSERT_EQUAL(u->status, 500);
    CU_ASSERT_STRING_EQUAL(u->error, "error");
    CU_ASSERT_STRING_EQUAL(u->props, "{\"a\":[1,2]}");
    CU_ASSERT_FALSE(u->priced);
    tg_frame_destroy(&f);
    //  settled as stored: the answer names the id
    CU_ASSERT_TRUE(analytics_post_settle(p, 0, true, false));
    tg_frame_t *r = analytics_post_reply(p);
    CU_ASSERT_EQUAL(r->reply.status, 200);
    CU_ASSERT_STRING_EQUAL(r->body, "{\"id\":\"e1\",\"status\":\"stored\"}");
    tg_frame_destroy(&r);
    analytics_post_destroy(&p);
    CU_ASSERT_PTR_NULL(p);
}

static void
test_batch_errors_all_or_nothing(void)
{
    tg_frame_t *q = s_query("/api/v1/events/batch",
                            "{\"events\":[{\"model\":\"m\"},{\"input_tokens\":1.5,\"x\":1},"
                            "{\"cost_usd\":-1,\"trace_id\":\"a b\"}]}",
                            NULL, TG_ROLE_ALL);
    analytics_post_t *p = analytics_events_parse(&q, 1795600800000000LL, "production");
    uint64_t status;
    json_t *doc = s_refused(p, &status);
    CU_ASSERT_EQUAL(status, 400);
    json_t *errs = json_object_get(json_object_get(doc, "error"), "errors");
    CU_ASSERT_EQUAL(json_array_size(errs), 4);
    const char *want[][2] = {
        {"1", "x"}, {"1", "input_tokens"}, {"2", "trace_id"}, {"2", "cost_usd"}};
    for (size_t i = 0; i < 4; i++) {
        bool found = false;
        for (size_t k = 0; k < json_array_size(errs); k++) {
            json_t *e = json_array_get(errs, k);
            found |= json_integer_value(json_object_get(e, "index")) == atoi(want[i][0])
                     && strcmp(json_string_value(json_object_get(e, "field")), want[i][1]) == 0;
        }
        CU_ASSERT_TRUE(found);
    }
    json_decref(doc);
    analytics_post_destroy(&p);
}

static void
test_refusals(void)
{
    uint64_t status;
    struct {
        const char *path, *body, *org;
        uint64_t roles, status;
    } cases[] = {
        {"/api/v1/events", "{}", "acme", TG_ROLE_METRICS_READ, 403},   //  no events:write
        {"/api/v1/events", "{", "acme", TG_ROLE_DEFAULT, 400},         //  not JSON
        {"/api/v1/events/batch", "[]", "acme", TG_ROLE_DEFAULT, 400},  //  empty batch
        {"/api/v1/events/batch", "{\"events\":{}}", NULL, TG_ROLE_ALL, 400},
        {"/api/v1/events", "{\"org\":\"other\"}", "acme", TG_ROLE_DEFAULT, 400},
        {"/api/v1/events", "{\"timestamp\":4102444800}", NULL, TG_ROLE_ALL, 400},  //  2100
        {"/api/v1/events", "{\"cached_tokens\":3,\"input_tokens\":2}", NULL, TG_ROLE_ALL, 400},
        {"/api/v1/events", "{\"total_tokens\":3,\"input_tokens\":2}", NULL, TG_ROLE_ALL, 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_frame_t *q = s_query(cases[i].path, cases[i].body, cases[i].org, cases[i].roles);
        analytics_post_t *p = analytics_events_parse(&q, 1795600800000000LL, "production");
        json_t *doc = s_refused(p, &status);
        CU_ASSERT_EQUAL(status, cases[i].status);
        CU_ASSERT_PTR_NOT_NULL(json_object_get(doc, "error"));
        json_decref(doc);
        analytics_post_destroy(&p);
    }
    //  101 events
    char *body = tg_strdup("[");
    for (int i = 0; i < 101; i++) {
        char *b = tg_strfmt("%s%s{}", body, i ? "," : "");
        free(body);
        body = b;
    }
    char *b = tg_strfmt("%s]", body);
    free(body);
    tg_frame_t *q = s_query("/api/v1/events/batch", b, NULL, TG_ROLE_ALL);
    free(b);
    analytics_post_t *p = analytics_events_parse(&q, 1795600800000000LL, "production");
    json_decref(s_refused(p, &status));
    CU_ASSERT_EQUAL(status, 400);
    analytics_post_destroy(&p);
}

static void
test_master_org_and_given_cost(void)
{
    tg_frame_t *q = s_query("/api/v1/events/batch",
                            "[{\"id\":\"a\",\"org\":\"beta\",\"cost_usd\":0.5},{\"id\":\"b\"}]",
                            NULL, TG_ROLE_ALL);
    analytics_post_t *p = analytics_events_parse(&q, 1795600800000000LL, "production");
    CU_ASSERT_EQUAL_FATAL(analytics_post_count(p), 2);
    tg_frame_t *a = analytics_post_take(p, 0), *b = analytics_post_take(p, 1);
    CU_ASSERT_STRING_EQUAL(a->usage.org, "beta");
    CU_ASSERT_STRING_EQUAL(a->usage.eid, "e/4:beta/a");
    CU_ASSERT_TRUE(a->usage.priced);
    CU_ASSERT_DOUBLE_EQUAL(a->usage.cost_usd, 0.5, 1e-12);
    CU_ASSERT_STRING_EQUAL(b->usage.org, "default");
    //  one stored, one lost: the answer is 503 (retry with the same ids)
    CU_ASSERT_FALSE(analytics_post_settle(p, 0, true, false));
    CU_ASSERT_TRUE(analytics_post_settle(p, 1, false, false));
    tg_frame_t *r = analytics_post_reply(p);
    CU_ASSERT_EQUAL(r->reply.status, 503);
    tg_frame_destroy(&r);
    tg_frame_destroy(&a);
    tg_frame_destroy(&b);
    analytics_post_destroy(&p);
}

//  ---- the store's traces index -------------------------------------------------------------

static tg_frame_t *
s_usage(const char *eid, int64_t ts, const char *trace, const char *span, const char *parent)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    f->usage.eid = tg_strdup(eid);
    f->usage.reply_to = tg_strdup("inproc://nowhere");
    f->usage.ts = ts;
    f->usage.provider = tg_strdup("openai");
    f->usage.model = tg_strdup("gpt-4o");
    f->usage.status = 200;
    f->usage.tok_in = 1000;
    f->usage.tok_out = 1000;  //  gpt-4o: $0.0125
    f->usage.trace = trace ? tg_strdup(trace) : NULL;
    f->usage.span = tg_strdup(span);
    f->usage.parent = parent ? tg_strdup(parent) : NULL;
    return f;
}

typedef struct {
    char spans[8][16];
    int64_t cost[8];
    size_t n;
} s_seen_t;

static int
s_on_event(int64_t ts, tg_frame_t **frame_p, int64_t cost_micro, void *arg)
{
    (void)ts;
    s_seen_t *s = arg;
    if (s->n < 8) {
        snprintf(s->spans[s->n], 16, "%s", (*frame_p)->usage.span);
        s->cost[s->n++] = cost_micro;
    }
    return 0;
}

static int
s_on_trace_id(int64_t ts, const char *trace, void *arg)
{
    (void)ts;
    s_seen_t *s = arg;
    if (s->n < 8)
        snprintf(s->spans[s->n++], 16, "%s", trace);
    return 0;
}

static void
test_store_traces_index(void)
{
    char *dir = test_tmpdir("traces");
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    CU_ASSERT_PTR_NOT_NULL_FATAL(pricing);
    analytics_store_t *st = analytics_store_new(dir, 16 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t t0;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-15T10:00:00Z", &t0), TG_OK);
    tg_frame_t *f[5] = {
        s_usage("e1", t0 + 3, "T1", "c", "b"),
        s_usage("e2", t0 + 1, "T1", "a", NULL),
        s_usage("e3", t0 + 2, "T1", "b", "a"),
        s_usage("e4", t0 + 4, NULL, "x", NULL),
        s_usage("e5", t0 + 5 * 86400000000LL, "T2", "z", NULL),
    };
    analytics_outcome_t out[5];
    CU_ASSERT_EQUAL_FATAL(analytics_store_batch(st, pricing, f, 5, out), TG_OK);
    //  the same event again: a duplicate, indexed once
    CU_ASSERT_EQUAL_FATAL(analytics_store_batch(st, pricing, f, 1, out), TG_OK);
    CU_ASSERT_TRUE(out[0].duplicate);
    for (int i = 0; i < 5; i++)
        tg_frame_destroy(&f[i]);
    s_seen_t seen = {0};
    bool more;
    CU_ASSERT_EQUAL(analytics_store_trace(st, "T1", 10, s_on_event, &seen, &more), TG_OK);
    CU_ASSERT_EQUAL_FATAL(seen.n, 3);
    CU_ASSERT_STRING_EQUAL(seen.spans[0], "a");  //  in time order
    CU_ASSERT_STRING_EQUAL(seen.spans[1], "b");
    CU_ASSERT_STRING_EQUAL(seen.spans[2], "c");
    CU_ASSERT_EQUAL(seen.cost[0], 12500);
    CU_ASSERT_FALSE(more);
    memset(&seen, 0, sizeof seen);
    CU_ASSERT_EQUAL(analytics_store_trace(st, "T1", 2, s_on_event, &seen, &more), TG_OK);
    CU_ASSERT_EQUAL(seen.n, 2);
    CU_ASSERT_TRUE(more);
    //  newest first, only traced events, the range respected
    memset(&seen, 0, sizeof seen);
    CU_ASSERT_EQUAL(
        analytics_store_traced(st, t0, t0 + 86400000000LL, 100, s_on_trace_id, &seen, &more),
        TG_OK);
    CU_ASSERT_EQUAL_FATAL(seen.n, 3);
    CU_ASSERT_STRING_EQUAL(seen.spans[0], "T1");
    //  retention: the first day's events go, their trace keys with them
    size_t n = 0;
    CU_ASSERT_EQUAL(analytics_store_prune(st, t0 + 3 * 86400000000LL, 86400000000LL, 100, &n),
                    TG_OK);
    CU_ASSERT(n >= 4);
    memset(&seen, 0, sizeof seen);
    CU_ASSERT_EQUAL(analytics_store_trace(st, "T1", 10, s_on_event, &seen, &more), TG_OK);
    CU_ASSERT_EQUAL(seen.n, 0);
    CU_ASSERT_EQUAL(analytics_store_trace(st, "T2", 10, s_on_event, &seen, &more), TG_OK);
    CU_ASSERT_EQUAL(seen.n, 1);
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    test_rmdir(&dir);
}

void
test_analytics_events_register(void)
{
    CU_pSuite s = CU_add_suite("analytics_events", NULL, NULL);
    CU_add_test(s, "one_event_fields", test_one_event_fields);
    CU_add_test(s, "batch_errors_all_or_nothing", test_batch_errors_all_or_nothing);
    CU_add_test(s, "refusals", test_refusals);
    CU_add_test(s, "master_org_and_given_cost", test_master_org_and_given_cost);
    CU_add_test(s, "store_traces_index", test_store_traces_index);
}
