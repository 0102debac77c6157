//  test_outbox.c - tg_outbox: batches of usage.batch_max or after usage.batch_ms, kept until
//  ACKed, resent in batches after usage.resend_ms, the oldest dropped at usage.max_pending.
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <event2/event.h>
#include <string.h>

#include "tg_config.h"
#include "tg_metrics.h"
#include "tg_outbox.h"
#include "tg_util.h"

#define S_ME "inproc://outbox-me"
#define S_MS 1000  //  µs per ms

typedef struct {
    int msgs;          //  USAGES messages received
    int events;        //  events in them
    char eid[64][32];  //  the first 64 event ids, in order
    int sizes[16];     //  events per message, for the first 16 messages
} s_got_t;

//  Reads one USAGES message and checks it: every element a USAGE map naming our inbox, and
//  `n` equal to their count.
static void
s_take(zsock_t *pull, s_got_t *got)
{
    tg_frame_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(tg_frame_recv(pull, &f), TG_OK);
    CU_ASSERT_EQUAL_FATAL(f->type, TG_FRAME_USAGES);
    CU_ASSERT_STRING_EQUAL(f->usages.reply_to, S_ME);
    size_t off = 0;
    int n = 0;
    char err[160];
    while (f->body && off < f->body_len) {
        tg_frame_t *u = NULL;
        CU_ASSERT_EQUAL(
            tg_frame_decode_next(TG_FRAME_USAGE, f->body, f->body_len, &off, &u, err, sizeof err),
            TG_OK);
        if (!u)
            break;
        CU_ASSERT_STRING_EQUAL(u->usage.reply_to, S_ME);
        CU_ASSERT_STRING_EQUAL(u->usage.model, "gpt-4o");
        if (got->events < 64)
            snprintf(got->eid[got->events], sizeof got->eid[0], "%s", u->usage.eid);
        got->events++;
        n++;
        tg_frame_destroy(&u);
    }
    CU_ASSERT_EQUAL(f->usages.n, (uint64_t)n);
    if (got->msgs < 16)
        got->sizes[got->msgs] = n;
    got->msgs++;
    tg_frame_destroy(&f);
}

//  Receives until `events` events came (a message is on an inproc pipe as soon as the send
//  returns; the wait only bounds a failure), then checks that nothing more is queued.
static s_got_t
s_recv(zsock_t *pull, int events)
{
    s_got_t got = {0};
    zpoller_t *poller = zpoller_new(pull, NULL);
    while (got.events < events && zpoller_wait(poller, 2000))
        s_take(pull, &got);
    CU_ASSERT_EQUAL(got.events, events);
    CU_ASSERT_PTR_NULL(zpoller_wait(poller, 0));
    zpoller_destroy(&poller);
    return got;
}

static tg_frame_t *
s_usage(const char *eid)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    f->usage.eid = eid ? tg_strdup(eid) : NULL;
    f->usage.ts = 1;
    f->usage.model = tg_strdup("gpt-4o");
    return f;
}

static void
s_send(tg_outbox_t *ob, const char *eid, int64_t now_us)
{
    tg_frame_t *f = s_usage(eid);
    tg_outbox_send(ob, &f, now_us);
    CU_ASSERT_PTR_NULL(f);
}

typedef struct {
    tg_config_t *cfg;
    zsock_t *pull;
    tg_outbox_t *ob;
} s_fix_t;

static s_fix_t
s_open(const char *usage_yaml)
{
    static int seq;  //  a fresh endpoint per test: a closed inproc name is freed asynchronously
    s_fix_t x;
    char an[64];
    snprintf(an, sizeof an, "inproc://outbox-an-%d", ++seq);
    char *yaml = tg_strfmt("endpoints:\n  analytics: %s\nusage:\n%s", an, usage_yaml);
    x.cfg = tg_config_load_string(yaml);
    free(yaml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x.cfg);
    x.pull = zsock_new_pull(an);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x.pull);
    x.ob = tg_outbox_new(x.cfg, S_ME);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x.ob);
    return x;
}

static void
s_close(s_fix_t *x)
{
    tg_outbox_destroy(&x->ob);
    CU_ASSERT_PTR_NULL(x->ob);
    zsock_destroy(&x->pull);
    tg_config_destroy(&x->cfg);
}

//  The batch_max-th waiting event sends the batch at once, as one message.
static void
test_full_batch(void)
{
    s_fix_t x = s_open("  batch_max: 4\n  batch_ms: 1000\n");
    int64_t t0 = 1000000;
    s_send(x.ob, "ev_1", t0);
    s_send(x.ob, "ev_2", t0 + 1);
    s_send(x.ob, "ev_3", t0 + 2);
    s_recv(x.pull, 0);             //  three wait
    s_send(x.ob, "ev_2", t0 + 3);  //  already pending under this id: ignored
    CU_ASSERT_EQUAL(tg_outbox_pending(x.ob), 3);
    s_send(x.ob, "ev_4", t0 + 4);
    s_got_t got = s_recv(x.pull, 4);
    CU_ASSERT_EQUAL(got.msgs, 1);
    CU_ASSERT_STRING_EQUAL(got.eid[0], "ev_1");
    CU_ASSERT_STRING_EQUAL(got.eid[3], "ev_4");
    CU_ASSERT_EQUAL(tg_outbox_pending(x.ob), 4);

    s_send(x.ob, NULL, t0 + 10);  //  gets an id, and waits for the next batch
    tg_outbox_tick(x.ob, t0 + 10 + 999 * S_MS);
    s_recv(x.pull, 0);
    tg_outbox_tick(x.ob, t0 + 10 + 1000 * S_MS);  //  batch_ms after it came: it goes alone
    got = s_recv(x.pull, 1);
    CU_ASSERT_NSTRING_EQUAL(got.eid[0], "ev_", 3);
    CU_ASSERT_EQUAL(tg_outbox_pending(x.ob), 5);
    s_close(&x);
}

//  Without a timer, tick sends what waited batch_ms, batch_max per message.
static void
test_time_flush(void)
{
    s_fix_t x = s_open("  batch_max: 3\n  batch_ms: 5\n");
    int64_t t0 = 1000000;
    s_send(x.ob, "ev_1", t0);
    s_send(x.ob, "ev_2", t0 + 2 * S_MS);
    tg_outbox_tick(x.ob, t0 + 4999);
    s_recv(x.pull, 0);
    tg_outbox_tick(x.ob, t0 + 5 * S_MS);  //  5 ms after the first
    s_got_t got = s_recv(x.pull, 2);
    CU_ASSERT_EQUAL(got.msgs, 1);
    CU_ASSERT_STRING_EQUAL(got.eid[1], "ev_2");
    s_close(&x);
}

//  Attached to a loop, the outbox's own timer sends the batch batch_ms after its first
//  event, and the batches are counted by reason.
static void
test_attached_timer(void)
{
    s_fix_t x = s_open("  batch_max: 4\n  batch_ms: 5\n");
    struct event_base *base = event_base_new();
    tg_metrics_t *m = tg_metrics_new();
    tg_outbox_attach(x.ob, base, m);
    s_send(x.ob, "ev_1", tg_mono_us());
    s_send(x.ob, "ev_2", tg_mono_us());
    s_recv(x.pull, 0);
    CU_ASSERT_EQUAL(event_base_loop(base, EVLOOP_ONCE), 0);  //  returns once the timer ran
    s_got_t got = s_recv(x.pull, 2);
    CU_ASSERT_EQUAL(got.msgs, 1);

    for (int i = 0; i < 4; i++) {
        char eid[16];
        snprintf(eid, sizeof eid, "ev_f%d", i);
        s_send(x.ob, eid, tg_mono_us());
    }
    got = s_recv(x.pull, 4);
    CU_ASSERT_EQUAL(got.msgs, 1);
    CU_ASSERT_EQUAL(event_base_loop(base, EVLOOP_NONBLOCK), 1);  //  no timer left armed

    char *snap = tg_metrics_snapshot(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(snap, "tollgate_usage_batches_total{reason=\"timer\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(snap, "tollgate_usage_batches_total{reason=\"full\"} 1\n"));
    free(snap);
    s_close(&x);  //  before the base goes: the outbox frees its timer
    tg_metrics_destroy(&m);
    event_base_free(base);
}

//  ACKs forget events; the rest are resent after resend_ms, batch_max per message.
static void
test_ack_and_resend(void)
{
    s_fix_t x = s_open("  batch_max: 2\n  batch_ms: 5\n  resend_ms: 100\n");
    int64_t t0 = 1000000;
    for (int i = 1; i <= 5; i++) {
        char eid[16];
        snprintf(eid, sizeof eid, "ev_%d", i);
        s_send(x.ob, eid, t0);
    }
    tg_outbox_tick(x.ob, t0 + 5 * S_MS);  //  the fifth, alone
    s_got_t got = s_recv(x.pull, 5);
    CU_ASSERT_EQUAL(got.msgs, 3);
    CU_ASSERT_EQUAL(got.sizes[0], 2);
    CU_ASSERT_EQUAL(got.sizes[2], 1);
    CU_ASSERT_EQUAL(tg_outbox_pending(x.ob), 5);

    //  A batch ACK naming two of them (and one unknown id).
    tg_frame_t *ack = tg_frame_new(TG_FRAME_ACK);
    ack->ack.n = 3;
    tg_frame_set_body(ack, "ev_1\nev_zz\nev_3", 15);
    tg_outbox_ack_frame(x.ob, ack);
    tg_frame_destroy(&ack);
    CU_ASSERT_EQUAL(tg_outbox_pending(x.ob), 3);

    tg_outbox_tick(x.ob, t0 + 99 * S_MS);  //  too early: nothing resent
    s_recv(x.pull, 0);
    tg_outbox_tick(x.ob, t0 + 100 * S_MS);  //  ev_2 and ev_4 (sent at t0), one message
    got = s_recv(x.pull, 2);
    CU_ASSERT_EQUAL(got.msgs, 1);
    CU_ASSERT_STRING_EQUAL(got.eid[0], "ev_2");
    CU_ASSERT_STRING_EQUAL(got.eid[1], "ev_4");
    tg_outbox_tick(x.ob, t0 + 105 * S_MS);  //  ev_5 (sent at t0 + 5 ms)
    got = s_recv(x.pull, 1);
    CU_ASSERT_STRING_EQUAL(got.eid[0], "ev_5");
    tg_outbox_tick(x.ob, t0 + 300 * S_MS);  //  all three again: 2 + 1
    got = s_recv(x.pull, 3);
    CU_ASSERT_EQUAL(got.msgs, 2);

    ack = tg_frame_new(TG_FRAME_ACK);  //  one id in `eid`, the others in the body
    ack->ack.eid = tg_strdup("ev_2");
    tg_frame_set_body(ack, "ev_4\nev_5", 9);
    tg_outbox_ack_frame(x.ob, ack);
    tg_frame_destroy(&ack);
    CU_ASSERT_EQUAL(tg_outbox_pending(x.ob), 0);
    tg_outbox_tick(x.ob, t0 + 10000 * S_MS);
    s_recv(x.pull, 0);
    s_close(&x);
}

//  At max_pending the oldest event goes: a sent one first, else a waiting one.
static void
test_max_pending(void)
{
    s_fix_t x = s_open("  batch_max: 4096\n  batch_ms: 1000\n  max_pending: 1000\n");
    int64_t t0 = 1000000;
    for (int i = 0; i <= 1000; i++) {
        char eid[16];
        snprintf(eid, sizeof eid, "ev_%04d", i);
        s_send(x.ob, eid, t0);
    }
    CU_ASSERT_EQUAL(tg_outbox_pending(x.ob), 1000);  //  ev_0000 dropped before it was sent
    tg_outbox_tick(x.ob, t0 + 1000 * S_MS);
    s_got_t got = s_recv(x.pull, 1000);
    CU_ASSERT_EQUAL(got.msgs, 1);
    CU_ASSERT_STRING_EQUAL(got.eid[0], "ev_0001");
    s_send(x.ob, "ev_new", t0 + 1001 * S_MS);  //  drops ev_0001, the oldest sent
    CU_ASSERT_EQUAL(tg_outbox_pending(x.ob), 1000);
    tg_outbox_ack(x.ob, "ev_0001");  //  already gone: ignored
    tg_outbox_ack(x.ob, "ev_0002");
    CU_ASSERT_EQUAL(tg_outbox_pending(x.ob), 999);
    s_close(&x);
}

//  Destroy sends the events still waiting for their batch.
static void
test_destroy_sends_waiting(void)
{
    s_fix_t x = s_open("  batch_max: 64\n  batch_ms: 1000\n");
    s_send(x.ob, "ev_1", 1000);
    s_send(x.ob, "ev_2", 1000);
    tg_outbox_destroy(&x.ob);
    s_got_t got = s_recv(x.pull, 2);
    CU_ASSERT_EQUAL(got.msgs, 1);
    s_close(&x);
}

void
test_outbox_register(void)
{
    CU_pSuite s = CU_add_suite("outbox", NULL, NULL);
    CU_add_test(s, "full batch", test_full_batch);
    CU_add_test(s, "time flush", test_time_flush);
    CU_add_test(s, "attached timer", test_attached_timer);
    CU_add_test(s, "ack and resend", test_ack_and_resend);
    CU_add_test(s, "max pending", test_max_pending);
    CU_add_test(s, "destroy sends waiting", test_destroy_sends_waiting);
}
