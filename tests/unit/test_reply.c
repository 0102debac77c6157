//  test_reply.c - tg_reply: REPLY frames, error bodies, sending to reply_to; tg_peers_endpoint_ok.
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tg_peers.h"
#include "tg_reply.h"
#include "tg_util.h"

static void
test_new(void)
{
    char *body = tg_strdup("{\"ok\":true}");
    tg_frame_t *r = tg_reply_new("q1", 200, &body);
    CU_ASSERT_PTR_NULL(body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(r->type, TG_FRAME_REPLY);
    CU_ASSERT_STRING_EQUAL(r->reply.id, "q1");
    CU_ASSERT_EQUAL(r->reply.status, 200);
    CU_ASSERT_EQUAL(r->body_len, strlen("{\"ok\":true}"));
    CU_ASSERT_STRING_EQUAL(r->body, "{\"ok\":true}");
    tg_frame_destroy(&r);
}

static void
test_error(void)
{
    tg_frame_t *r = tg_reply_error("q2", 400, "limit must be small", "limit");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(r->reply.id, "q2");
    CU_ASSERT_EQUAL(r->reply.status, 400);
    json_t *doc = json_loads(r->body, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    json_t *err = json_object_get(doc, "error");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "message")),
                           "limit must be small");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "type")),
                           "invalid_request_error");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "param")), "limit");
    CU_ASSERT_TRUE(json_is_null(json_object_get(err, "code")));
    json_decref(doc);
    tg_frame_destroy(&r);

    r = tg_reply_error("q3", 500, "store failed", NULL);
    doc = json_loads(r->body, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    err = json_object_get(doc, "error");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "type")), "server_error");
    CU_ASSERT_TRUE(json_is_null(json_object_get(err, "param")));
    json_decref(doc);
    tg_frame_destroy(&r);
}

static void
test_send(void)
{
    zsock_t *pull = zsock_new_pull("inproc://reply-asker");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pull);
    tg_peers_t *peers = tg_peers_new();
    tg_fr_query_t q = {.id = "q4", .reply_to = "inproc://reply-asker"};
    tg_frame_t *r = tg_reply_error(q.id, 404, "no such route", NULL);
    CU_ASSERT_EQUAL(tg_reply_send(peers, &q, &r), TG_OK);
    CU_ASSERT_PTR_NULL(r);
    zpoller_t *poller = zpoller_new(pull, NULL);
    CU_ASSERT_PTR_NOT_NULL(zpoller_wait(poller, 2000));
    tg_frame_t *got = NULL;
    CU_ASSERT_EQUAL(tg_frame_recv(pull, &got), TG_OK);
    if (got) {
        CU_ASSERT_EQUAL(got->type, TG_FRAME_REPLY);
        CU_ASSERT_STRING_EQUAL(got->reply.id, "q4");
        CU_ASSERT_EQUAL(got->reply.status, 404);
    }
    tg_frame_destroy(&got);

    //  An endpoint that cannot be connected: the frame is freed, the caller told.
    tg_fr_query_t bad = {.id = "q5", .reply_to = "nonsense://x"};
    r = tg_reply_new(bad.id, 200, &(char *){tg_strdup("{}")});
    CU_ASSERT_EQUAL(tg_reply_send(peers, &bad, &r), TG_INVALID);
    CU_ASSERT_PTR_NULL(r);
    zpoller_destroy(&poller);
    tg_peers_destroy(&peers);
    zsock_destroy(&pull);
}

static void
test_endpoint_ok(void)
{
    CU_ASSERT_TRUE(tg_peers_endpoint_ok("ipc:///tmp/run/ingest-1"));
    CU_ASSERT_TRUE(tg_peers_endpoint_ok("tcp://127.0.0.1:5555"));
    CU_ASSERT_TRUE(tg_peers_endpoint_ok("inproc://x"));
    CU_ASSERT_FALSE(tg_peers_endpoint_ok(NULL));
    CU_ASSERT_FALSE(tg_peers_endpoint_ok(""));
    CU_ASSERT_FALSE(tg_peers_endpoint_ok("udp://1.2.3.4:5"));
    CU_ASSERT_FALSE(tg_peers_endpoint_ok("ipc:/"));
    char ep[TG_PEERS_MAX_ENDPOINT + 2];
    memcpy(ep, "ipc://", 6);
    memset(ep + 6, 'a', TG_PEERS_MAX_ENDPOINT - 6);
    ep[TG_PEERS_MAX_ENDPOINT] = 0;  //  exactly the longest accepted
    CU_ASSERT_TRUE(tg_peers_endpoint_ok(ep));
    ep[TG_PEERS_MAX_ENDPOINT] = 'a';
    ep[TG_PEERS_MAX_ENDPOINT + 1] = 0;  //  one byte too long
    CU_ASSERT_FALSE(tg_peers_endpoint_ok(ep));
}

void
test_reply_register(void)
{
    CU_pSuite s = CU_add_suite("reply", NULL, NULL);
    CU_add_test(s, "new", test_new);
    CU_add_test(s, "error", test_error);
    CU_add_test(s, "send", test_send);
    CU_add_test(s, "endpoint_ok", test_endpoint_ok);
}
