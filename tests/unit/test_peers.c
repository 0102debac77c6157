//  test_peers.c - tg_peers: lazily connected reply sockets.
#include <CUnit/CUnit.h>
#include <czmq.h>

#include "tg_peers.h"
#include "tg_util.h"

static tg_frame_t *
s_cancel(const char *id)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_CANCEL);
    f->cancel.id = tg_strdup(id);
    return f;
}

static void
test_send_and_reuse(void)
{
    zsock_t *a = zsock_new_pull("inproc://peers-a");
    zsock_t *b = zsock_new_pull("inproc://peers-b");
    tg_peers_t *peers = tg_peers_new();
    tg_frame_t *f = s_cancel("one");
    CU_ASSERT_EQUAL(tg_peers_send(peers, "inproc://peers-a", &f), TG_OK);
    CU_ASSERT_PTR_NULL(f);
    f = s_cancel("two");
    CU_ASSERT_EQUAL(tg_peers_send(peers, "inproc://peers-b", &f), TG_OK);
    f = s_cancel("three");
    CU_ASSERT_EQUAL(tg_peers_send(peers, "inproc://peers-a", &f), TG_OK);
    zpoller_t *p = zpoller_new(a, NULL);
    const char *want_a[] = {"one", "three"};  //  in order, on the one socket kept for "a"
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_PTR_EQUAL(zpoller_wait(p, 1000), a);
        tg_frame_t *g = NULL;
        CU_ASSERT_EQUAL(tg_frame_recv(a, &g), TG_OK);
        CU_ASSERT_STRING_EQUAL(g ? g->cancel.id : "", want_a[i]);
        tg_frame_destroy(&g);
    }
    zpoller_t *pb = zpoller_new(b, NULL);
    CU_ASSERT_PTR_EQUAL(zpoller_wait(pb, 1000), b);
    zpoller_destroy(&pb);
    tg_frame_t *g = NULL;
    CU_ASSERT_EQUAL(tg_frame_recv(b, &g), TG_OK);
    CU_ASSERT_STRING_EQUAL(g ? g->cancel.id : "", "two");
    tg_frame_destroy(&g);
    //  An endpoint that cannot be connected: TG_INVALID, the frame is still consumed.
    f = s_cancel("lost");
    CU_ASSERT_EQUAL(tg_peers_send(peers, "nonsense://x", &f), TG_INVALID);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT_TRUE(tg_peers_endpoint_ok("ipc:///tmp/x.ipc"));
    CU_ASSERT_FALSE(tg_peers_endpoint_ok("nonsense://x"));
    CU_ASSERT_FALSE(tg_peers_endpoint_ok(NULL));
    zpoller_destroy(&p);
    tg_peers_destroy(&peers);
    CU_ASSERT_PTR_NULL(peers);
    zsock_destroy(&a);
    zsock_destroy(&b);
}

void
test_peers_register(void)
{
    CU_pSuite s = CU_add_suite("peers", NULL, NULL);
    CU_add_test(s, "send and reuse", test_send_and_reuse);
}
