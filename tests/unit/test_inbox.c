//  test_inbox.c - tg_inbox: bursts, malformed frames dropped, frames kept by the handler.
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <string.h>

#include "tg_inbox.h"
#include "tg_util.h"

typedef struct {
    int calls;         //  frames handed over
    char ids[8][16];   //  their reply ids, in order
    tg_frame_t *kept;  //  the frame taken over (the first one with id "keep")
} s_seen_t;

static void
s_on_frame(tg_frame_t **frame_p, void *arg)
{
    s_seen_t *seen = arg;
    if (seen->calls < 8)
        snprintf(seen->ids[seen->calls], sizeof seen->ids[0], "%s", (*frame_p)->reply.id);
    seen->calls++;
    if (!seen->kept && strcmp((*frame_p)->reply.id, "keep") == 0) {
        seen->kept = *frame_p;
        *frame_p = NULL;
    }
}

static void
s_send(zsock_t *push, const char *id)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_REPLY);
    f->reply.id = tg_strdup(id);
    CU_ASSERT_EQUAL(tg_frame_send(&f, push), TG_OK);
}

static void
test_drain(void)
{
    zsock_t *pull = zsock_new_pull("inproc://inbox-test");
    zsock_t *push = zsock_new_push("inproc://inbox-test");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pull);
    CU_ASSERT_PTR_NOT_NULL_FATAL(push);
    s_seen_t seen = {0};
    CU_ASSERT_EQUAL(tg_inbox_drain(pull, 10, s_on_frame, &seen), TG_OK);  //  empty
    CU_ASSERT_EQUAL(seen.calls, 0);

    s_send(push, "a");
    zstr_send(push, "garbage");  //  not a frame: dropped, counts towards the burst
    s_send(push, "keep");
    s_send(push, "b");
    s_send(push, "c");
    zpoller_t *poller = zpoller_new(pull, NULL);
    CU_ASSERT_PTR_NOT_NULL(zpoller_wait(poller, 2000));
    zpoller_destroy(&poller);

    CU_ASSERT_EQUAL(tg_inbox_drain(pull, 3, s_on_frame, &seen), TG_OK);
    CU_ASSERT_EQUAL(seen.calls, 2);
    CU_ASSERT_STRING_EQUAL(seen.ids[0], "a");
    CU_ASSERT_STRING_EQUAL(seen.ids[1], "keep");
    CU_ASSERT_PTR_NOT_NULL(seen.kept);
    if (seen.kept)
        CU_ASSERT_STRING_EQUAL(seen.kept->reply.id, "keep");  //  still alive: it was taken

    CU_ASSERT_EQUAL(tg_inbox_drain(pull, 10, s_on_frame, &seen), TG_OK);
    CU_ASSERT_EQUAL(seen.calls, 4);
    CU_ASSERT_STRING_EQUAL(seen.ids[2], "b");
    CU_ASSERT_STRING_EQUAL(seen.ids[3], "c");
    tg_frame_destroy(&seen.kept);
    zsock_destroy(&push);
    zsock_destroy(&pull);
}

void
test_inbox_register(void)
{
    CU_pSuite s = CU_add_suite("inbox", NULL, NULL);
    CU_add_test(s, "drain", test_drain);
}
