//  test_outbox.c - tg_outbox: kept until ACKed, resent after usage.resend_ms, batch ACKs.
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <string.h>

#include "tg_config.h"
#include "tg_outbox.h"
#include "tg_util.h"

static int
s_drain(zsock_t *pull, char *last_eid, size_t size)
{
    int n = 0;
    zpoller_t *poller = zpoller_new(pull, NULL);
    while (zpoller_wait(poller, 200)) {
        tg_frame_t *f = NULL;
        if (tg_frame_recv(pull, &f) != TG_OK)
            break;
        CU_ASSERT_EQUAL(f->type, TG_FRAME_USAGE);
        CU_ASSERT_STRING_EQUAL(f->usage.reply_to, "inproc://outbox-me");
        snprintf(last_eid, size, "%s", f->usage.eid);
        tg_frame_destroy(&f);
        n++;
    }
    zpoller_destroy(&poller);
    return n;
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
test_ack_and_resend(void)
{
    tg_config_t *cfg = tg_config_load_string("endpoints:\n  analytics: inproc://outbox-an\n"
                                             "usage:\n  resend_ms: 100\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    zsock_t *pull = zsock_new_pull("inproc://outbox-an");
    tg_outbox_t *ob = tg_outbox_new(cfg, "inproc://outbox-me");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ob);
    int64_t t0 = tg_mono_us();
    tg_frame_t *f = s_usage("ev_a");
    tg_outbox_send(ob, &f);
    CU_ASSERT_PTR_NULL(f);
    f = s_usage("ev_b");
    tg_outbox_send(ob, &f);
    f = s_usage(NULL);  //  gets an id
    tg_outbox_send(ob, &f);
    f = s_usage("ev_a");  //  already pending: not sent twice
    tg_outbox_send(ob, &f);
    char last[64] = "";
    CU_ASSERT_EQUAL(s_drain(pull, last, sizeof last), 3);
    CU_ASSERT_NSTRING_EQUAL(last, "ev_", 3);
    CU_ASSERT_EQUAL(tg_outbox_pending(ob), 3);

    //  A batch ACK naming two of them (and one unknown id).
    tg_frame_t *ack = tg_frame_new(TG_FRAME_ACK);
    ack->ack.n = 3;
    tg_frame_set_body(ack, "ev_a\nev_zz\nev_b", 15);
    tg_outbox_ack_frame(ob, ack);
    tg_frame_destroy(&ack);
    CU_ASSERT_EQUAL(tg_outbox_pending(ob), 1);

    tg_outbox_tick(ob, t0 + 10 * 1000);  //  too early: nothing resent
    CU_ASSERT_EQUAL(s_drain(pull, last, sizeof last), 0);
    tg_outbox_tick(ob, tg_mono_us() + 200 * 1000);  //  past resend_ms: the third again
    char again[64] = "";
    CU_ASSERT_EQUAL(s_drain(pull, again, sizeof again), 1);
    CU_ASSERT_STRING_EQUAL(again, last);

    tg_outbox_ack(ob, last);
    CU_ASSERT_EQUAL(tg_outbox_pending(ob), 0);
    tg_outbox_destroy(&ob);
    CU_ASSERT_PTR_NULL(ob);
    zsock_destroy(&pull);
    tg_config_destroy(&cfg);
}

void
test_outbox_register(void)
{
    CU_pSuite s = CU_add_suite("outbox", NULL, NULL);
    CU_add_test(s, "ack and resend", test_ack_and_resend);
}
