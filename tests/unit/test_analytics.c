//  test_analytics.c - analytics core: store (dedupe, totals, rollups vs events), /v1/usage
//  answers, and the service on inproc:// (ACK after commit, duplicates, queries, SPEND).
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "tg_evzmq.h"
#include "analytics_query.h"
#include "analytics_store.h"
#include "tg_config.h"
#include "tg_lmdb.h"
#include "tg_pricing.h"
#include "tg_utc.h"
#include "tg_util.h"
#include "test_tmpdir.h"

#define S_DAY TG_UTC_DAY_US

static tg_frame_t *
s_usage(
    const char *eid, int64_t ts, const char *provider, const char *model, uint64_t in, uint64_t out)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    f->usage.eid = tg_strdup(eid);
    f->usage.reply_to = tg_strdup("inproc://nowhere");
    f->usage.ts = ts;
    f->usage.provider = tg_strdup(provider);
    f->usage.model = tg_strdup(model);
    f->usage.key = tg_strdup("key_1");
    f->usage.agent = tg_strdup("bot");
    f->usage.status = 200;
    f->usage.cache = tg_strdup("miss");
    f->usage.tok_in = in;
    f->usage.tok_out = out;
    return f;
}

static const analytics_group_t *
s_find(const analytics_group_t *g, size_t n, const char *model)
{
    for (size_t i = 0; i < n; i++)
        if (g[i].model && strcmp(g[i].model, model) == 0)
            return &g[i];
    return NULL;
}

static void
test_store_batch_dedupe_totals(void)
{
    char *dir = test_tmpdir("analytics");
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    CU_ASSERT_PTR_NOT_NULL_FATAL(pricing);
    analytics_store_t *st = analytics_store_new(dir, 8 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t day;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-25", &day), TG_OK);

    tg_frame_t *b[5];
    b[0] = s_usage("ev_1", day + 3600000000LL, "openai", "gpt-4o", 1000, 1000);          //  $0.0125
    b[1] = s_usage("ev_2", day + 7200000000LL, "openai", "gpt-4o-2024-08-06", 2000, 0);  //  $0.005
    b[2] = s_usage("ev_1", day + 3600000000LL, "openai", "gpt-4o", 1000, 1000);    //  dup in batch
    b[3] = s_usage("ev_3", day + 9000000000LL, "x", "no-such-model", 1000000, 0);  //  default
    b[4] = s_usage("ev_4", day - 1000000, "openai", "gpt-4o", 1000, 0);            //  day before
    b[4]->usage.status = 500;
    b[4]->usage.error = tg_strdup("upstream_error");
    analytics_outcome_t out[5];
    CU_ASSERT_EQUAL(analytics_store_batch(st, pricing, b, 5, out), TG_OK);
    CU_ASSERT_FALSE(out[0].duplicate);
    CU_ASSERT_EQUAL(out[0].cost_micro, 12500);
    CU_ASSERT_FALSE(out[0].unknown);
    CU_ASSERT_EQUAL(out[1].cost_micro, 5000);
    CU_ASSERT_TRUE(out[2].duplicate);
    CU_ASSERT_TRUE(out[3].unknown);
    CU_ASSERT_EQUAL(out[3].cost_micro, 2500000);  //  never silently $0
    CU_ASSERT_EQUAL(out[4].cost_micro, 2500);

    //  A second batch: an earlier eid again, and a cache hit that costs nothing.
    tg_frame_t *c[2];
    c[0] = s_usage("ev_2", day + 7200000000LL, "openai", "gpt-4o", 2000, 0);
    c[1] = s_usage("ev_5", day + 7300000000LL, "openai", "gpt-4o", 5000, 5000);
    tg_frame_set_str(&c[1]->usage.cache, "hit");
    CU_ASSERT_EQUAL(analytics_store_batch(st, pricing, c, 2, out), TG_OK);
    CU_ASSERT_TRUE(out[0].duplicate);
    CU_ASSERT_FALSE(out[1].duplicate);
    CU_ASSERT_EQUAL(out[1].cost_micro, 0);

    analytics_totals_t t;
    CU_ASSERT_EQUAL(analytics_store_period(st, "2026-11-25", &t), TG_OK);
    CU_ASSERT_EQUAL(t.requests, 4);
    CU_ASSERT_EQUAL(t.cost_micro, 12500 + 5000 + 2500000);
    CU_ASSERT_EQUAL(t.tok_in, 1000 + 2000 + 1000000 + 5000);
    CU_ASSERT_EQUAL(t.unknown, 1);
    CU_ASSERT_EQUAL(t.errors, 0);
    CU_ASSERT_EQUAL(analytics_store_period(st, "2026-11-24", &t), TG_OK);
    CU_ASSERT_EQUAL(t.requests, 1);
    CU_ASSERT_EQUAL(t.errors, 1);
    CU_ASSERT_EQUAL(analytics_store_period(st, "2026-11", &t), TG_OK);
    CU_ASSERT_EQUAL(t.requests, 5);
    CU_ASSERT_EQUAL(t.cost_micro, 12500 + 5000 + 2500000 + 2500);
    CU_ASSERT_EQUAL(analytics_store_period(st, "2026-10", &t), TG_OK);
    CU_ASSERT_EQUAL(t.requests, 0);

    //  Totals survive a reopen.
    analytics_store_destroy(&st);
    st = analytics_store_new(dir, 8 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(analytics_store_period(st, "2026-11", &t), TG_OK);
    CU_ASSERT_EQUAL(t.requests, 5);

    //  Whole days come from rollups, cut days from events: both must agree.
    analytics_group_t *g = NULL;
    size_t n = 0;
    unsigned by = ANALYTICS_BY_PROVIDER | ANALYTICS_BY_MODEL;
    CU_ASSERT_EQUAL(analytics_store_usage(st, 0, day + 10 * S_DAY, by, &g, &n), TG_OK);
    CU_ASSERT_EQUAL(n, 3);  //  openai/gpt-4o, openai/gpt-4o-2024-08-06, x/no-such-model
    const analytics_group_t *x = s_find(g, n, "gpt-4o");
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_EQUAL(x->totals.requests, 3);
    CU_ASSERT_EQUAL(x->totals.cost_micro, 12500 + 0 + 2500);
    CU_ASSERT_EQUAL(x->totals.errors, 1);
    CU_ASSERT_STRING_EQUAL(g[0].model, "no-such-model");  //  most expensive first
    CU_ASSERT_EQUAL(g[0].totals.unknown, 1);
    CU_ASSERT_PTR_NULL(g[0].key);
    analytics_groups_free(&g, n);
    CU_ASSERT_PTR_NULL(g);

    //  A range that cuts 2026-11-25 at 02:00: only ev_1 from that day, ev_4 the day before.
    CU_ASSERT_EQUAL(analytics_store_usage(st, day - S_DAY, day + 7200000000LL - 1, by, &g, &n),
                    TG_OK);
    x = s_find(g, n, "gpt-4o");
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_EQUAL(x->totals.requests, 2);
    CU_ASSERT_EQUAL(x->totals.cost_micro, 12500 + 2500);
    CU_ASSERT_PTR_NULL(s_find(g, n, "no-such-model"));
    analytics_groups_free(&g, n);

    //  Grouping by key and agent.
    CU_ASSERT_EQUAL(
        analytics_store_usage(st, 0, day + S_DAY, ANALYTICS_BY_KEY | ANALYTICS_BY_AGENT, &g, &n),
        TG_OK);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_STRING_EQUAL(g[0].key, "key_1");
    CU_ASSERT_STRING_EQUAL(g[0].agent, "bot");
    CU_ASSERT_PTR_NULL(g[0].model);
    CU_ASSERT_EQUAL(g[0].totals.requests, 5);
    analytics_groups_free(&g, n);

    //  An empty range.
    CU_ASSERT_EQUAL(analytics_store_usage(st, day + 5 * S_DAY, day + 6 * S_DAY, by, &g, &n), TG_OK);
    CU_ASSERT_EQUAL(n, 0);
    analytics_groups_free(&g, n);

    for (int i = 0; i < 5; i++)
        tg_frame_destroy(&b[i]);
    for (int i = 0; i < 2; i++)
        tg_frame_destroy(&c[i]);
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    test_rmdir(&dir);
}

static void
test_store_map_full_grows(void)
{
    char *dir = test_tmpdir("analytics");
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    CU_ASSERT_PTR_NOT_NULL_FATAL(pricing);
    analytics_store_t *st = analytics_store_new(dir, 256 << 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    enum { N = 1000 };
    tg_frame_t **b = tg_zalloc(N * sizeof *b);
    analytics_outcome_t *out = tg_zalloc(N * sizeof *out);
    for (int i = 0; i < N; i++) {
        char eid[32];
        snprintf(eid, sizeof eid, "ev_%06d", i);
        b[i] = s_usage(eid, 1795564800000000LL + i, "openai", "gpt-4o", 10, 10);
    }
    int rc = analytics_store_batch(st, pricing, b, N, out);
    CU_ASSERT_EQUAL(rc, TG_AGAIN);  //  1000 events do not fit in 256 KiB
    int grown = 0;
    while (rc == TG_AGAIN && grown < 10) {
        CU_ASSERT_EQUAL_FATAL(analytics_store_grow(st), TG_OK);
        grown++;
        rc = analytics_store_batch(st, pricing, b, N, out);
    }
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT(analytics_store_map_size(st) > (256 << 10));
    analytics_totals_t t;
    CU_ASSERT_EQUAL(analytics_store_period(st, "2026-11", &t), TG_OK);
    CU_ASSERT_EQUAL(t.requests, N);  //  the failed attempts left nothing behind
    for (int i = 0; i < N; i++)
        tg_frame_destroy(&b[i]);
    free(b);
    free(out);
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    test_rmdir(&dir);
}

//  Runs a query and returns the REPLY; body parsed into *json_p when it is JSON.
static tg_frame_t *
s_ask(analytics_store_t *st, const char *path, const char *args, int64_t now, json_t **json_p)
{
    tg_frame_t *q = tg_frame_new(TG_FRAME_QUERY);
    q->query.id = tg_strdup("req_1");
    q->query.reply_to = tg_strdup("inproc://x");
    q->query.method = tg_strdup("GET");
    q->query.path = tg_strdup(path);
    q->query.args = tg_strdup(args);
    tg_frame_t *r = analytics_query_answer(st, &q->query, now);
    tg_frame_destroy(&q);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(r->reply.id, "req_1");
    json_error_t err;
    *json_p = r->body ? json_loads(r->body, 0, &err) : NULL;
    CU_ASSERT_PTR_NOT_NULL(*json_p);
    return r;
}

static void
test_query_answers(void)
{
    char *dir = test_tmpdir("analytics");
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    CU_ASSERT_PTR_NOT_NULL_FATAL(pricing);
    analytics_store_t *st = analytics_store_new(dir, 8 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t day;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-25", &day), TG_OK);
    tg_frame_t *b[2] = {s_usage("ev_a", day + 1000, "openai", "gpt-4o", 1000, 0),
                        s_usage("ev_b", day + 2000, "anthropic", "claude-sonnet-4-5", 0, 0)};
    analytics_outcome_t out[2];
    CU_ASSERT_EQUAL_FATAL(analytics_store_batch(st, pricing, b, 2, out), TG_OK);

    json_t *j;
    //  Default range: today 00:00 UTC .. now.
    tg_frame_t *r = s_ask(st, "/v1/usage", NULL, day + 3600000000LL, &j);
    CU_ASSERT_EQUAL(r->reply.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->body, "\"cost_usd\":0.002500"));  //  6 decimals
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "object")), "usage");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "start")),
                           "2026-11-25T00:00:00.000Z");
    json_t *totals = json_object_get(j, "totals");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(totals, "requests")), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(totals, "tokens_in")), 1000);
    json_t *data = json_object_get(j, "data");
    CU_ASSERT_EQUAL(json_array_size(data), 2);
    json_t *row = json_array_get(data, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(row, "provider")), "openai");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(row, "model")), "gpt-4o");
    CU_ASSERT_TRUE(json_is_false(json_object_get(row, "unknown_pricing")));
    json_decref(j);
    tg_frame_destroy(&r);

    //  The day before holds nothing; grouping by provider only.
    r = s_ask(st, "/v1/usage", "start=2026-11-24&end=2026-11-24T23:59:59Z&group_by=provider",
              day + 3600000000LL, &j);
    CU_ASSERT_EQUAL(r->reply.status, 200);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "data")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->body, "\"group_by\":[\"provider\"]"));
    json_decref(j);
    tg_frame_destroy(&r);

    r = s_ask(st, "/v1/usage", "start=1795564800&end=1795564801&group_by=agent", day, &j);
    CU_ASSERT_EQUAL(r->reply.status, 200);
    row = json_array_get(json_object_get(j, "data"), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(row, "agent")), "bot");
    CU_ASSERT_PTR_NULL(json_object_get(row, "model"));
    json_decref(j);
    tg_frame_destroy(&r);

    //  Bad arguments are OpenAI errors naming the parameter.
    const char *bad[][2] = {{"start=yesterday", "start"},
                            {"end=2026-02-30", "end"},
                            {"group_by=model,model", "group_by"},
                            {"group_by=org", "group_by"},
                            {"start=2026-11-26&end=2026-11-25", "start"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = s_ask(st, "/v1/usage", bad[i][0], day, &j);
        CU_ASSERT_EQUAL(r->reply.status, 400);
        json_t *e = json_object_get(j, "error");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "param")), bad[i][1]);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "type")),
                               "invalid_request_error");
        json_decref(j);
        tg_frame_destroy(&r);
    }
    r = s_ask(st, "/v1/nothing", NULL, day, &j);
    CU_ASSERT_EQUAL(r->reply.status, 404);
    json_decref(j);
    tg_frame_destroy(&r);

    tg_frame_destroy(&b[0]);
    tg_frame_destroy(&b[1]);
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    test_rmdir(&dir);
}

//  ---- the service on inproc:// ---------------------------------------------------------

typedef struct {
    zsock_t *push;            //  to the analytics inbox
    zsock_t *inbox;           //  our PULL: ACKs and REPLYs
    const char *me;           //  endpoint of inbox
    int acks;                 //  event ids acknowledged
    int want_acks;            //  ids to be acknowledged before the query goes
    int ack_frames;           //  ACK frames received
    double want_usd;          //  day spend that ends the test
    char *reply;              //  body of the REPLY
    uint64_t status;          //  its status
    double day_usd;           //  day spend of the last SPEND seen (-1: none yet)
    bool timeout;             //  the deadline fired
    struct event_base *base;  //  the loop, broken when done
} s_core_t;

//  Done when the answer came and a SPEND showed the stored events ($0.0025 each): the loop
//  stops.
static void
s_done(s_core_t *c)
{
    if (c->reply && c->day_usd > c->want_usd - 1e-9)
        event_base_loopbreak(c->base);
}

static void
s_on_bus(tg_frame_t **frame_p, void *arg)
{
    s_core_t *c = arg;
    tg_frame_t *f = *frame_p;
    if (f->type == TG_FRAME_SPEND)
        c->day_usd = f->spend.day_usd;
    s_done(c);
}

static void
s_on_inbox(tg_frame_t **frame_p, void *arg)
{
    s_core_t *c = arg;
    tg_frame_t *f = *frame_p;
    int before = c->acks;
    if (f->type == TG_FRAME_ACK) {
        //  One ACK per batch: its ids are in the body, one per line, and `n` counts them.
        int lines = f->body_len ? 1 : 0;
        for (size_t i = 0; i < f->body_len; i++)
            lines += f->body[i] == '\n';
        CU_ASSERT_EQUAL((uint64_t)lines, f->ack.n);
        c->acks += lines;
        c->ack_frames++;
    }
    if (f->type == TG_FRAME_ACK && before < c->want_acks && c->acks >= c->want_acks) {
        CU_ASSERT_EQUAL(c->acks, c->want_acks);
        tg_frame_t *q = tg_frame_new(TG_FRAME_QUERY);
        q->query.id = tg_strdup("req_core");
        q->query.reply_to = tg_strdup(c->me);
        q->query.method = tg_strdup("GET");
        q->query.path = tg_strdup("/v1/usage");
        q->query.args = tg_strdup("start=0&end=4102444800");
        CU_ASSERT_EQUAL(tg_frame_send(&q, c->push), TG_OK);
    } else if (f->type == TG_FRAME_REPLY) {
        c->status = f->reply.status;
        c->reply = tg_strdup(f->body);
        s_done(c);
    }
}

static void
s_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_core_t *c = arg;
    c->timeout = true;
    event_base_loopbreak(c->base);
}

//  Runs the analytics core and the test's readers on one libevent loop until done (or 10 s).
static void
s_run(analytics_t *a, s_core_t *c, zsock_t *bus)
{
    c->base = tg_evzmq_base_new();
    CU_ASSERT_EQUAL(analytics_attach(a, c->base), TG_OK);
    tg_evzmq_t *inbox = tg_evzmq_new(c->base, c->inbox, s_on_inbox, c);
    tg_evzmq_t *spend = tg_evzmq_new(c->base, bus, s_on_bus, c);
    struct event *deadline = evtimer_new(c->base, s_on_deadline, c);
    struct timeval tv = {10, 0};
    evtimer_add(deadline, &tv);
    event_base_dispatch(c->base);
    event_free(deadline);
    tg_evzmq_destroy(&inbox);
    tg_evzmq_destroy(&spend);
}

static void
test_core_inproc(void)
{
    char *dir = test_tmpdir("analytics");
    char *yaml = tg_strfmt("run_dir: %s\ndata_dir: %s\n"
                           "endpoints:\n  analytics: inproc://test-analytics\n"
                           "  bus_in: inproc://test-analytics-bus\n"
                           "analytics:\n  commit_interval_ms: 5\n",
                           dir, dir);
    tg_config_t *cfg = tg_config_load_string(yaml);
    free(yaml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    zsock_t *bus = zsock_new(ZMQ_SUB);  //  stands for the router's XSUB on bus_in
    zsock_set_subscribe(bus, "spd");
    CU_ASSERT_EQUAL_FATAL(zsock_bind(bus, "inproc://test-analytics-bus"), 0);
    analytics_t *a = analytics_new(cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);

    s_core_t c = {
        .me = "inproc://test-analytics-me", .want_acks = 6, .want_usd = 0.01, .day_usd = -1};
    c.inbox = zsock_new(ZMQ_PULL);
    CU_ASSERT_EQUAL_FATAL(zsock_bind(c.inbox, "inproc://test-analytics-me"), 0);
    c.push = zsock_new(ZMQ_PUSH);
    CU_ASSERT_EQUAL_FATAL(zsock_connect(c.push, "inproc://test-analytics"), 0);
    int64_t now = tg_now_us();
    for (int i = 0; i < 6; i++) {
        char eid[16];
        snprintf(eid, sizeof eid, "ev_c%d", i % 4);  //  ev_c0 and ev_c1 twice
        tg_frame_t *f = s_usage(eid, now, "openai", "gpt-4o", 1000, 0);
        tg_frame_set_str(&f->usage.reply_to, "inproc://test-analytics-me");
        CU_ASSERT_EQUAL(tg_frame_send(&f, c.push), TG_OK);
    }
    zsock_send(c.push, "ss", "use", "garbage");  //  dropped, never acknowledged

    s_run(a, &c, bus);
    CU_ASSERT_FALSE(c.timeout);
    CU_ASSERT_EQUAL(c.acks, 6);  //  duplicates are acknowledged too
    CU_ASSERT_EQUAL(c.status, 200);
    json_error_t err;
    json_t *j = c.reply ? json_loads(c.reply, 0, &err) : NULL;
    CU_ASSERT_PTR_NOT_NULL(j);
    json_t *totals = json_object_get(j, "totals");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(totals, "requests")), 4);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(totals, "tokens_in")), 4000);
    json_decref(j);

    //  SPEND went out (after the commit, and every second) with today's spend.
    CU_ASSERT_DOUBLE_EQUAL(c.day_usd, 0.01, 1e-9);

    analytics_destroy(&a);  //  before the loop it is attached to
    event_base_free(c.base);
    CU_ASSERT_PTR_NULL(a);
    free(c.reply);
    zsock_destroy(&c.push);
    zsock_destroy(&c.inbox);
    zsock_destroy(&bus);
    tg_config_destroy(&cfg);
    test_rmdir(&dir);
}

static void
s_append_map(tg_buf_t *body, const tg_frame_t *f)
{
    size_t len;
    char *map = tg_frame_encode_map(f, &len);
    tg_buf_append(body, map, len);
    free(map);
}

//  USAGES batches next to a single USAGE: one batch of 1,200 events (more than one commit
//  holds) with bad events among them, which are dropped while the rest are stored.
static void
test_core_batches(void)
{
    char *dir = test_tmpdir("analytics");
    char *yaml = tg_strfmt("run_dir: %s\ndata_dir: %s\n"
                           "endpoints:\n  analytics: inproc://test-analytics-b\n"
                           "  bus_in: inproc://test-analytics-b-bus\n"
                           "analytics:\n  commit_interval_ms: 5\n",
                           dir, dir);
    tg_config_t *cfg = tg_config_load_string(yaml);
    free(yaml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    zsock_t *bus = zsock_new(ZMQ_SUB);
    zsock_set_subscribe(bus, "spd");
    CU_ASSERT_EQUAL_FATAL(zsock_bind(bus, "inproc://test-analytics-b-bus"), 0);
    analytics_t *a = analytics_new(cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);

    enum { GOOD = 1200 };
    //  Acknowledged: the single event, the batch's good events and its copy of the single.
    s_core_t c = {.me = "inproc://test-analytics-b-me",
                  .want_acks = 1 + GOOD + 1,
                  .want_usd = (1 + GOOD) * 0.0025,
                  .day_usd = -1};
    c.inbox = zsock_new(ZMQ_PULL);
    CU_ASSERT_EQUAL_FATAL(zsock_bind(c.inbox, c.me), 0);
    c.push = zsock_new(ZMQ_PUSH);
    CU_ASSERT_EQUAL_FATAL(zsock_connect(c.push, "inproc://test-analytics-b"), 0);
    int64_t now = tg_now_us();

    tg_frame_t *f = s_usage("ev_single", now, "openai", "gpt-4o", 1000, 0);
    tg_frame_set_str(&f->usage.reply_to, c.me);
    tg_frame_t *copy = s_usage("ev_single", now, "openai", "gpt-4o", 1000, 0);
    tg_frame_set_str(&copy->usage.reply_to, c.me);
    CU_ASSERT_EQUAL(tg_frame_send(&f, c.push), TG_OK);

    tg_buf_t body;
    tg_buf_init(&body, SIZE_MAX);
    uint64_t n = 0;
    for (int i = 0; i < GOOD; i++, n++) {
        char eid[32];
        snprintf(eid, sizeof eid, "ev_b%04d", i);
        f = s_usage(eid, now, "openai", "gpt-4o", 1000, 0);
        tg_frame_set_str(&f->usage.reply_to, c.me);
        s_append_map(&body, f);
        tg_frame_destroy(&f);
        if (i == 10) {  //  bad events among the good: not a map, no eid, a 200-byte eid
            tg_buf_append(&body, "\x07", 1);
            f = s_usage("x", now, "openai", "gpt-4o", 1000, 0);
            tg_frame_set_str(&f->usage.eid, NULL);
            s_append_map(&body, f);
            char longid[201];
            memset(longid, 'e', 200);
            longid[200] = 0;
            tg_frame_set_str(&f->usage.eid, longid);
            tg_frame_set_str(&f->usage.reply_to, c.me);
            s_append_map(&body, f);
            tg_frame_destroy(&f);
            n += 3;
        }
        if (i == 500) {
            s_append_map(&body, copy);  //  a duplicate: acknowledged, stored once
            n++;
        }
    }
    tg_frame_destroy(&copy);
    f = tg_frame_new(TG_FRAME_USAGES);
    f->usages.reply_to = tg_strdup(c.me);
    f->usages.n = n;
    size_t len;
    char *data = tg_buf_take(&body, &len);
    tg_frame_give_body(f, &data, len);
    CU_ASSERT_EQUAL(tg_frame_send(&f, c.push), TG_OK);
    zsock_send(c.push, "ss", "usb", "garbage");  //  dropped whole, never acknowledged

    s_run(a, &c, bus);
    CU_ASSERT_FALSE(c.timeout);
    CU_ASSERT_EQUAL(c.acks, 1 + GOOD + 1);
    CU_ASSERT(c.ack_frames >= 2);  //  1,202 events do not fit one commit batch
    CU_ASSERT_EQUAL(c.status, 200);
    json_error_t err;
    json_t *j = c.reply ? json_loads(c.reply, 0, &err) : NULL;
    CU_ASSERT_PTR_NOT_NULL(j);
    json_t *totals = json_object_get(j, "totals");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(totals, "requests")), 1 + GOOD);
    json_decref(j);

    analytics_destroy(&a);  //  before the loop it is attached to
    event_base_free(c.base);
    free(c.reply);
    zsock_destroy(&c.push);
    zsock_destroy(&c.inbox);
    zsock_destroy(&bus);
    tg_config_destroy(&cfg);
    test_rmdir(&dir);
}

//  Savings against the baseline (default claude-3-opus-20240229, $15 / $75 per 1M), per
//  event, in the totals and the groups; "auto" calls counted by class.
static void
test_store_savings(void)
{
    char *dir = test_tmpdir("analytics");
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    analytics_store_t *st = analytics_store_new(dir, 8 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t day;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-25", &day), TG_OK);
    tg_frame_t *b[3];
    b[0] = s_usage("sv_1", day + 1000, "openai", "gpt-4o-mini", 1000, 1000);  //  $0.00075
    tg_frame_set_str(&b[0]->usage.cls, "simple");
    tg_frame_set_str(&b[0]->usage.asked, "auto");
    b[1] = s_usage("sv_2", day + 2000, "openai", "gpt-4.1", 1000, 1000);  //  $0.01
    tg_frame_set_str(&b[1]->usage.cls, "complex");
    b[2] = s_usage("sv_3", day + 3000, "anthropic", "claude-3-opus-20240229", 1000, 0);
    analytics_outcome_t out[3];
    CU_ASSERT_EQUAL(analytics_store_batch(st, pricing, b, 3, out), TG_OK);
    CU_ASSERT_EQUAL(out[0].cost_micro, 750);
    CU_ASSERT_EQUAL(out[0].savings_micro, 90000 - 750);
    CU_ASSERT_EQUAL(out[1].savings_micro, 90000 - 10000);
    CU_ASSERT_EQUAL(out[2].savings_micro, 0);  //  the baseline itself saves nothing
    analytics_totals_t t;
    CU_ASSERT_EQUAL(analytics_store_period(st, "2026-11-25", &t), TG_OK);
    CU_ASSERT_EQUAL(t.savings_micro, 89250 + 80000);
    CU_ASSERT_EQUAL(t.auto_cls[0], 1);
    CU_ASSERT_EQUAL(t.auto_cls[1], 0);
    CU_ASSERT_EQUAL(t.auto_cls[2], 1);
    //  Rollups (whole day) and events (cut day) agree.
    analytics_group_t *g = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(analytics_store_usage(st, day, day + S_DAY - 1, ANALYTICS_BY_MODEL, &g, &n),
                    TG_OK);
    const analytics_group_t *mini = s_find(g, n, "gpt-4o-mini");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mini);
    CU_ASSERT_EQUAL(mini->totals.savings_micro, 89250);
    CU_ASSERT_EQUAL(mini->totals.auto_cls[0], 1);
    analytics_groups_free(&g, n);
    CU_ASSERT_EQUAL(analytics_store_usage(st, day + 1500, day + 5000, 0, &g, &n), TG_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(g[0].totals.savings_micro, 80000);
    CU_ASSERT_EQUAL(g[0].totals.auto_cls[2], 1);
    analytics_groups_free(&g, n);
    //  Another baseline: a dearer model saves a negative amount.
    analytics_store_set_baseline(st, "gpt-4o-mini");
    tg_frame_t *c = s_usage("sv_4", day + 4000, "openai", "gpt-4.1", 1000, 1000);
    CU_ASSERT_EQUAL(analytics_store_batch(st, pricing, &c, 1, out), TG_OK);
    CU_ASSERT_EQUAL(out[0].savings_micro, 750 - 10000);
    tg_frame_destroy(&c);
    for (int i = 0; i < 3; i++)
        tg_frame_destroy(&b[i]);
    analytics_store_destroy(&st);
    tg_pricing_destroy(&pricing);
    test_rmdir(&dir);
}

//  A schema 1 store (records without savings, 7-word counters) opens, migrates to 2 and
//  reads as before with savings 0; new events add to the old counters.
static void
test_store_schema1(void)
{
    char *dir = test_tmpdir("analytics");
    int64_t day;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-25", &day), TG_OK);
    static const char *const dbs[] = {"events", "time", "totals", "rollup"};
    tg_lmdb_opts_t o = {
        .dir = dir, .map_size = 8 << 20, .dbs = dbs, .ndbs = 4, .schema_version = 1};
    tg_lmdb_t *db = tg_lmdb_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    tg_lmdb_txn_t *txn;
    CU_ASSERT_EQUAL_FATAL(tg_lmdb_begin(db, true, &txn), TG_OK);
    tg_frame_t *f = s_usage("old_1", day + 1000, "openai", "gpt-4o", 1000, 1000);
    size_t map_len;
    char *map = tg_frame_encode_map(f, &map_len);
    uint8_t rec[512] = {1, 0};
    tg_lmdb_be64_put(rec + 2, 12500);
    memcpy(rec + 10, map, map_len);
    CU_ASSERT_EQUAL(tg_lmdb_put(txn, 0, "old_1", 5, rec, 10 + map_len), TG_OK);
    uint8_t tkey[13];
    tg_lmdb_be64_put(tkey, (uint64_t)(day + 1000));
    memcpy(tkey + 8, "old_1", 5);
    CU_ASSERT_EQUAL(tg_lmdb_put(txn, 1, tkey, 13, NULL, 0), TG_OK);
    uint8_t ctr[56] = {0};
    tg_lmdb_be64_put(ctr, 1);
    tg_lmdb_be64_put(ctr + 16, 1000);
    tg_lmdb_be64_put(ctr + 24, 1000);
    tg_lmdb_be64_put(ctr + 40, 12500);
    CU_ASSERT_EQUAL(tg_lmdb_put(txn, 2, "d:2026-11-25", 12, ctr, 56), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_put(txn, 2, "m:2026-11", 9, ctr, 56), TG_OK);
    const char rkey[] = "2026-11-25\0openai\0gpt-4o\0key_1\0bot";
    CU_ASSERT_EQUAL(tg_lmdb_put(txn, 3, rkey, sizeof rkey - 1, ctr, 56), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_commit(&txn), TG_OK);
    tg_lmdb_destroy(&db);
    free(map);
    tg_frame_destroy(&f);

    analytics_store_t *st = analytics_store_new(dir, 8 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    analytics_totals_t t;
    CU_ASSERT_EQUAL(analytics_store_period(st, "2026-11", &t), TG_OK);
    CU_ASSERT_EQUAL(t.requests, 1);
    CU_ASSERT_EQUAL(t.cost_micro, 12500);
    CU_ASSERT_EQUAL(t.savings_micro, 0);
    analytics_group_t *g = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(analytics_store_usage(st, day, day + 5000, 0, &g, &n), TG_OK);  //  events
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(g[0].totals.cost_micro, 12500);
    CU_ASSERT_EQUAL(g[0].totals.savings_micro, 0);
    analytics_groups_free(&g, n);
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    tg_frame_t *nf = s_usage("new_1", day + 2000, "openai", "gpt-4o", 1000, 1000);
    analytics_outcome_t out;
    CU_ASSERT_EQUAL(analytics_store_batch(st, pricing, &nf, 1, &out), TG_OK);
    CU_ASSERT_EQUAL(analytics_store_usage(st, day, day + S_DAY - 1, ANALYTICS_BY_MODEL, &g, &n),
                    TG_OK);  //  the day's rollup: the old 7 words plus the new 11
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(g[0].totals.requests, 2);
    CU_ASSERT_EQUAL(g[0].totals.cost_micro, 25000);
    CU_ASSERT_EQUAL(g[0].totals.savings_micro, 90000 - 12500);
    analytics_groups_free(&g, n);
    tg_frame_destroy(&nf);
    tg_pricing_destroy(&pricing);
    analytics_store_destroy(&st);
    test_rmdir(&dir);
}

void
test_analytics_register(void)
{
    CU_pSuite s = CU_add_suite("analytics", NULL, NULL);
    CU_add_test(s, "store_batch_dedupe_totals", test_store_batch_dedupe_totals);
    CU_add_test(s, "store_map_full_grows", test_store_map_full_grows);
    CU_add_test(s, "store_savings", test_store_savings);
    CU_add_test(s, "store_schema1_migrates", test_store_schema1);
    CU_add_test(s, "query_answers", test_query_answers);
    CU_add_test(s, "core_inproc", test_core_inproc);
    CU_add_test(s, "core_batches", test_core_batches);
}
