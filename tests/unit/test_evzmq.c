//  test_evzmq.c - tg_evzmq: frames read from a libevent loop, in batches, bad ones dropped.
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <event2/event.h>
#include <stdio.h>

#include "tg_evzmq.h"
#include "tg_util.h"

#define S_FRAMES 1000  //  more than one batch (256)

typedef struct {
    struct event_base *base;
    int seen;
    int in_order;
} s_ctx_t;

static void
s_on_frame(tg_frame_t **frame_p, void *arg)
{
    s_ctx_t *c = arg;
    char want[16];
    snprintf(want, sizeof want, "r%d", c->seen);
    if (strcmp((*frame_p)->cancel.id, want) == 0)
        c->in_order++;
    if (++c->seen == S_FRAMES)
        event_base_loopbreak(c->base);
}

static void
s_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void
test_drain(void)
{
    zsock_t *pull = zsock_new_pull("inproc://evzmq");
    zsock_t *push = zsock_new_push("inproc://evzmq");
    zsock_set_sndhwm(push, 0);
    zsock_set_rcvhwm(pull, 0);
    //  Queued before the reader exists: the edge for them has already passed.
    for (int i = 0; i < S_FRAMES; i++) {
        if (i == 10)
            zstr_sendx(push, "cxl", "garbage", NULL);  //  dropped, the rest still comes
        tg_frame_t *f = tg_frame_new(TG_FRAME_CANCEL);
        f->cancel.id = tg_strfmt("r%d", i);
        CU_ASSERT_EQUAL(tg_frame_send(&f, push), TG_OK);
    }
    s_ctx_t c = {.base = tg_evzmq_base_new()};
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.base);
    tg_evzmq_t *rd = tg_evzmq_new(c.base, pull, s_on_frame, &c);
    struct event *deadline = evtimer_new(c.base, s_on_deadline, c.base);
    struct timeval tv = {5, 0};
    evtimer_add(deadline, &tv);
    event_base_dispatch(c.base);
    CU_ASSERT_EQUAL(c.seen, S_FRAMES);
    CU_ASSERT_EQUAL(c.in_order, S_FRAMES);
    event_free(deadline);
    tg_evzmq_destroy(&rd);
    CU_ASSERT_PTR_NULL(rd);
    event_base_free(c.base);
    zsock_destroy(&push);
    zsock_destroy(&pull);
}

void
test_evzmq_register(void)
{
    CU_pSuite s = CU_add_suite("evzmq", NULL, NULL);
    CU_add_test(s, "drain in batches", test_drain);
}
