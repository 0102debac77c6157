//  test_frame.c - tg_frame: every frame round-trips; bad input is rejected, never crashes.
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <msgpack.h>
#include <string.h>

#include "tg_frame.h"
#include "tg_util.h"

//  Packs a map with every field of `type` set to a value derived from its index.
static void
s_pack_full(msgpack_packer *pk, tg_frame_type_t type)
{
    size_t n = tg_frame_field_count(type);
    msgpack_pack_map(pk, n + 1);
    msgpack_pack_str(pk, 1);
    msgpack_pack_str_body(pk, "v", 1);
    msgpack_pack_uint32(pk, TG_PROTO_VERSION);
    for (size_t i = 0; i < n; i++) {
        const char *key;
        tg_field_type_t ft;
        bool required;
        CU_ASSERT_EQUAL_FATAL(tg_frame_field(type, i, &key, &ft, &required), TG_OK);
        msgpack_pack_str(pk, strlen(key));
        msgpack_pack_str_body(pk, key, strlen(key));
        char text[32];
        switch (ft) {
        case TG_FIELD_STR:
            snprintf(text, sizeof text, "%s-%zu", key, i);
            msgpack_pack_str(pk, strlen(text));
            msgpack_pack_str_body(pk, text, strlen(text));
            break;
        case TG_FIELD_I64:
            msgpack_pack_int64(pk, -1000 - (int64_t)i);
            break;
        case TG_FIELD_U64:
            msgpack_pack_uint64(pk, 1000 + i);
            break;
        case TG_FIELD_DBL:
            msgpack_pack_double(pk, 0.5 + (double)i);
            break;
        case TG_FIELD_BOOL:
            msgpack_pack_true(pk);
            break;
        }
    }
}

//  Every frame of TG_FRAMES, every field set: decode -> encode -> decode gives the same map
//  bytes, and dropping any required field is refused naming it.
static void
test_roundtrip_all(void)
{
    CU_ASSERT_EQUAL(tg_frame_field_count(TG_FRAME_COUNT), 0);
    for (int t = 0; t < TG_FRAME_COUNT; t++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        s_pack_full(&pk, (tg_frame_type_t)t);
        tg_frame_t *probe = tg_frame_new((tg_frame_type_t)t);
        char tag[64];
        size_t tag_len = tg_frame_tag(probe, tag, sizeof tag);
        tg_frame_destroy(&probe);
        tg_frame_t *f = NULL;
        char err[128] = "";
        CU_ASSERT_EQUAL(
            tg_frame_decode(tag, tag_len, sb.data, sb.size, "body", 4, &f, err, sizeof err), TG_OK);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_EQUAL(f->type, t);
        CU_ASSERT_STRING_EQUAL(f->body, "body");
        size_t len;
        char *map = tg_frame_encode_map(f, &len);
        //  The codec writes "v" then the fields in table order, as s_pack_full did: the
        //  same bytes mean no field was lost or changed on the way through the struct.
        CU_ASSERT_EQUAL(len, sb.size);
        CU_ASSERT_EQUAL(memcmp(map, sb.data, len < sb.size ? len : sb.size), 0);
        tg_frame_t *g = NULL;
        CU_ASSERT_EQUAL(tg_frame_decode(tag, tag_len, map, len, NULL, 0, &g, err, sizeof err),
                        TG_OK);
        size_t len2;
        char *map2 = g ? tg_frame_encode_map(g, &len2) : NULL;
        CU_ASSERT_PTR_NOT_NULL(map2);
        if (map2) {
            CU_ASSERT_EQUAL(len2, len);
            CU_ASSERT_EQUAL(memcmp(map, map2, len), 0);
        }
        free(map2);
        free(map);
        tg_frame_destroy(&g);
        tg_frame_destroy(&f);
        msgpack_sbuffer_destroy(&sb);

        //  Without each required field in turn: refused, and the message names it.
        for (size_t i = 0; i < tg_frame_field_count((tg_frame_type_t)t); i++) {
            const char *key;
            tg_field_type_t ft;
            bool required;
            tg_frame_field((tg_frame_type_t)t, i, &key, &ft, &required);
            if (!required)
                continue;
            f = tg_frame_new((tg_frame_type_t)t);
            map = tg_frame_encode_map(f, &len);  //  an empty frame: every field missing
            CU_ASSERT_EQUAL(tg_frame_decode(tag, tag_len, map, len, NULL, 0, &g, err, sizeof err),
                            TG_INVALID);
            CU_ASSERT_PTR_NOT_NULL(strstr(err, "required field"));
            free(map);
            tg_frame_destroy(&f);
            break;  //  the first missing one is named; one check per frame type suffices
        }
    }
}

static void
test_roundtrip_request(void)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_REQUEST);
    f->request.id = tg_strdup("req_1");
    f->request.reply_to = tg_strdup("ipc:///tmp/x");
    f->request.route = tg_strdup("chat");
    f->request.model = tg_strdup("gpt-4o");
    f->request.stream = true;
    f->request.t0 = -5;
    tg_frame_set_body(f, "{\"model\":\"gpt-4o\"}", 18);
    size_t len;
    char *map = tg_frame_encode_map(f, &len);
    tg_frame_t *g = NULL;
    char err[128];
    CU_ASSERT_EQUAL(tg_frame_decode("req", 3, map, len, f->body, f->body_len, &g, err, sizeof err),
                    TG_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(g->type, TG_FRAME_REQUEST);
    CU_ASSERT_STRING_EQUAL(g->request.id, "req_1");
    CU_ASSERT_STRING_EQUAL(g->request.model, "gpt-4o");
    CU_ASSERT_TRUE(g->request.stream);
    CU_ASSERT_FALSE(g->request.usage);
    CU_ASSERT_EQUAL(g->request.t0, -5);
    CU_ASSERT_PTR_NULL(g->request.agent);
    CU_ASSERT_EQUAL(g->body_len, 18);
    CU_ASSERT_STRING_EQUAL(g->body, "{\"model\":\"gpt-4o\"}");
    free(map);
    tg_frame_destroy(&g);
    tg_frame_destroy(&f);
}

static void
test_alert_topic(void)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_ALERT);
    f->alert.id = tg_strdup("al_1");
    f->alert.severity = tg_strdup("critical");
    f->alert.kind = tg_strdup("budget");
    f->alert.message = tg_strdup("100% of the monthly budget");
    f->alert.threshold = 1.0;
    f->alert.ts = 7;
    f->topic = tg_strdup("critical");
    char tag[64];
    size_t tl = tg_frame_tag(f, tag, sizeof tag);
    CU_ASSERT_STRING_EQUAL(tag, "alert.critical");
    size_t len;
    char *map = tg_frame_encode_map(f, &len);
    tg_frame_t *g = NULL;
    char err[128];
    CU_ASSERT_EQUAL(tg_frame_decode(tag, tl, map, len, NULL, 0, &g, err, sizeof err), TG_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_STRING_EQUAL(g->topic, "critical");
    CU_ASSERT_DOUBLE_EQUAL(g->alert.threshold, 1.0, 1e-12);
    CU_ASSERT_PTR_NULL(g->body);
    free(map);
    tg_frame_destroy(&g);
    tg_frame_destroy(&f);
}

static void
test_bad_input(void)
{
    tg_frame_t *g = NULL;
    char err[128];
    CU_ASSERT_EQUAL(tg_frame_decode("zzz", 3, "\x80", 1, NULL, 0, &g, err, sizeof err), TG_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown frame tag"));
    //  Garbage bytes, truncated map, non-map.
    CU_ASSERT_EQUAL(tg_frame_decode("req", 3, "\xc1\xff\x00", 3, NULL, 0, &g, err, sizeof err),
                    TG_INVALID);
    CU_ASSERT_EQUAL(tg_frame_decode("req", 3, "\x82\xa1v", 3, NULL, 0, &g, err, sizeof err),
                    TG_INVALID);
    CU_ASSERT_EQUAL(tg_frame_decode("req", 3, "\x01", 1, NULL, 0, &g, err, sizeof err), TG_INVALID);
    //  A map header claiming 2^32-1 entries must be refused before anything is allocated.
    CU_ASSERT_EQUAL(
        tg_frame_decode("use", 3, "\xdf\xff\xff\xff\xff", 5, NULL, 0, &g, err, sizeof err),
        TG_INVALID);
    CU_ASSERT_EQUAL(
        tg_frame_decode("use", 3, "\x81\xa1v\xdd\xff\xff\xff\xf0", 8, NULL, 0, &g, err, sizeof err),
        TG_INVALID);
    CU_ASSERT_EQUAL(
        tg_frame_decode("use", 3, "\x81\xa1v\xdb\x7f\xff\xff\xf0", 8, NULL, 0, &g, err, sizeof err),
        TG_INVALID);
    CU_ASSERT_PTR_NULL(g);

    //  Wrong type for a field, unknown keys ignored, newer version rejected.
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "v", 1);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "id", 2);
    msgpack_pack_int32(&pk, 5);
    msgpack_pack_str(&pk, 3);
    msgpack_pack_str_body(&pk, "zzz", 3);
    msgpack_pack_nil(&pk);
    CU_ASSERT_EQUAL(tg_frame_decode("cxl", 3, sb.data, sb.size, NULL, 0, &g, err, sizeof err),
                    TG_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "wrong type"));
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "v", 1);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "id", 2);
    msgpack_pack_str(&pk, 3);
    msgpack_pack_str_body(&pk, "r_9", 3);
    msgpack_pack_str(&pk, 3);
    msgpack_pack_str_body(&pk, "zzz", 3);
    msgpack_pack_nil(&pk);
    CU_ASSERT_EQUAL(tg_frame_decode("cxl", 3, sb.data, sb.size, NULL, 0, &g, err, sizeof err),
                    TG_OK);
    CU_ASSERT_STRING_EQUAL(g ? g->cancel.id : "", "r_9");
    tg_frame_destroy(&g);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "v", 1);
    msgpack_pack_uint32(&pk, TG_PROTO_VERSION + 1);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "id", 2);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "x", 1);
    CU_ASSERT_EQUAL(tg_frame_decode("cxl", 3, sb.data, sb.size, NULL, 0, &g, err, sizeof err),
                    TG_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "version"));
    msgpack_sbuffer_destroy(&sb);
}

static void
test_over_sockets(void)
{
    zsock_t *pull = zsock_new_pull("inproc://test-frame");
    zsock_t *push = zsock_new_push("inproc://test-frame");
    tg_frame_t *f = tg_frame_new(TG_FRAME_CANCEL);
    f->cancel.id = tg_strdup("req_42");
    CU_ASSERT_EQUAL(tg_frame_send(&f, push), TG_OK);
    CU_ASSERT_PTR_NULL(f);
    //  A garbage message between two good ones is dropped; the next one still arrives.
    zstr_sendm(push, "cxl");
    zstr_send(push, "not msgpack");
    f = tg_frame_new(TG_FRAME_CANCEL);
    f->cancel.id = tg_strdup("req_43");
    CU_ASSERT_EQUAL(tg_frame_send(&f, push), TG_OK);
    zpoller_t *poller = zpoller_new(pull, NULL);
    tg_frame_t *g = NULL;
    CU_ASSERT_PTR_NOT_NULL(zpoller_wait(poller, 1000));
    CU_ASSERT_EQUAL(tg_frame_recv(pull, &g), TG_OK);
    CU_ASSERT_STRING_EQUAL(g ? g->cancel.id : "", "req_42");
    tg_frame_destroy(&g);
    CU_ASSERT_PTR_NOT_NULL(zpoller_wait(poller, 1000));
    CU_ASSERT_EQUAL(tg_frame_recv(pull, &g), TG_INVALID);
    CU_ASSERT_PTR_NOT_NULL(zpoller_wait(poller, 1000));
    CU_ASSERT_EQUAL(tg_frame_recv(pull, &g), TG_OK);
    CU_ASSERT_STRING_EQUAL(g ? g->cancel.id : "", "req_43");
    tg_frame_destroy(&g);
    CU_ASSERT_EQUAL(tg_frame_recv(pull, &g), TG_AGAIN);
    zpoller_destroy(&poller);
    zsock_destroy(&push);
    zsock_destroy(&pull);
}

//  A batch body: maps back to back, each decoded on its own; a bad one is skipped, and bytes
//  that are not msgpack end the walk.
static void
test_decode_next(void)
{
    tg_buf_t body;
    tg_buf_init(&body, SIZE_MAX);
    size_t len;
    char *map;
    tg_frame_t *u = tg_frame_new(TG_FRAME_USAGE);
    tg_frame_set_str(&u->usage.eid, "ev_1");
    tg_frame_set_str(&u->usage.reply_to, "inproc://me");
    u->usage.ts = 7;
    map = tg_frame_encode_map(u, &len);
    tg_buf_append(&body, map, len);  //  1: good
    free(map);
    tg_buf_append(&body, "\x07", 1);  //  2: one msgpack object, but not a map
    tg_frame_set_str(&u->usage.eid, NULL);
    map = tg_frame_encode_map(u, &len);
    tg_buf_append(&body, map, len);  //  3: a map without the required eid
    free(map);
    tg_frame_set_str(&u->usage.eid, "ev_4");
    map = tg_frame_encode_map(u, &len);
    tg_buf_append(&body, map, len);  //  4: good
    free(map);
    size_t good_end = body.len;
    tg_buf_append(&body, "\xc1\x00\x00", 3);  //  5: not msgpack (0xc1 is never used)
    tg_frame_destroy(&u);

    size_t off = 0;
    char err[160];
    CU_ASSERT_EQUAL(
        tg_frame_decode_next(TG_FRAME_USAGE, body.data, body.len, &off, &u, err, sizeof err),
        TG_OK);
    CU_ASSERT_STRING_EQUAL(u ? u->usage.eid : "", "ev_1");
    CU_ASSERT_STRING_EQUAL(u ? u->usage.reply_to : "", "inproc://me");
    tg_frame_destroy(&u);
    CU_ASSERT_EQUAL(
        tg_frame_decode_next(TG_FRAME_USAGE, body.data, body.len, &off, &u, err, sizeof err),
        TG_INVALID);
    CU_ASSERT_PTR_NULL(u);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not one msgpack map"));
    CU_ASSERT_EQUAL(
        tg_frame_decode_next(TG_FRAME_USAGE, body.data, body.len, &off, &u, err, sizeof err),
        TG_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "required field 'eid'"));
    CU_ASSERT_EQUAL(
        tg_frame_decode_next(TG_FRAME_USAGE, body.data, body.len, &off, &u, err, sizeof err),
        TG_OK);
    CU_ASSERT_STRING_EQUAL(u ? u->usage.eid : "", "ev_4");
    tg_frame_destroy(&u);
    CU_ASSERT_EQUAL(off, good_end);
    CU_ASSERT_EQUAL(
        tg_frame_decode_next(TG_FRAME_USAGE, body.data, body.len, &off, &u, err, sizeof err),
        TG_INVALID);
    CU_ASSERT_EQUAL(off, body.len);  //  the rest cannot be split: the walk ends
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not msgpack"));

    //  A map whose header claims more entries than there are bytes is refused, not allocated.
    off = 0;
    CU_ASSERT_EQUAL(
        tg_frame_decode_next(TG_FRAME_USAGE, "\xdf\xff\xff\xff\xff", 5, &off, &u, err, sizeof err),
        TG_INVALID);
    CU_ASSERT_EQUAL(off, 5);
    tg_buf_fini(&body);
}

static void
test_counters(void)
{
    zsock_t *pull = zsock_new_pull("inproc://test-frame-count");
    zsock_t *push = zsock_new_push("inproc://test-frame-count");
    uint64_t sent = tg_frame_sent_count(TG_FRAME_CANCEL);
    uint64_t recvd = tg_frame_recv_count(TG_FRAME_CANCEL);
    uint64_t other_sent = tg_frame_sent_count(TG_FRAME_ACK);
    uint64_t other_recvd = tg_frame_recv_count(TG_FRAME_ACK);
    for (int i = 0; i < 3; i++) {
        tg_frame_t *f = tg_frame_new(TG_FRAME_CANCEL);
        f->cancel.id = tg_strfmt("req_%d", i);
        CU_ASSERT_EQUAL(tg_frame_send(&f, push), TG_OK);
    }
    CU_ASSERT_EQUAL(tg_frame_sent_count(TG_FRAME_CANCEL), sent + 3);
    //  A message that is not a frame counts as neither.
    zstr_sendm(push, "cxl");
    zstr_send(push, "not msgpack");
    zpoller_t *poller = zpoller_new(pull, NULL);
    int ok = 0, bad = 0;
    while (ok + bad < 4 && zpoller_wait(poller, 1000)) {
        tg_frame_t *g = NULL;
        int rc = tg_frame_recv(pull, &g);
        ok += rc == TG_OK;
        bad += rc == TG_INVALID;
        tg_frame_destroy(&g);
    }
    CU_ASSERT_EQUAL(ok, 3);
    CU_ASSERT_EQUAL(bad, 1);
    tg_frame_t *g = NULL;
    CU_ASSERT_EQUAL(tg_frame_recv(pull, &g), TG_AGAIN);
    CU_ASSERT_EQUAL(tg_frame_recv_count(TG_FRAME_CANCEL), recvd + 3);
    CU_ASSERT_EQUAL(tg_frame_sent_count(TG_FRAME_ACK), other_sent);
    CU_ASSERT_EQUAL(tg_frame_recv_count(TG_FRAME_ACK), other_recvd);
    CU_ASSERT_EQUAL(tg_frame_sent_count(TG_FRAME_COUNT), 0);
    CU_ASSERT_EQUAL(tg_frame_recv_count(TG_FRAME_COUNT), 0);
    zpoller_destroy(&poller);
    zsock_destroy(&push);
    zsock_destroy(&pull);
}

void
test_frame_register(void)
{
    CU_pSuite s = CU_add_suite("frame", NULL, NULL);
    CU_add_test(s, "every frame type", test_roundtrip_all);
    CU_add_test(s, "request round trip", test_roundtrip_request);
    CU_add_test(s, "alert topic", test_alert_topic);
    CU_add_test(s, "bad input rejected", test_bad_input);
    CU_add_test(s, "over sockets", test_over_sockets);
    CU_add_test(s, "decode next of a batch body", test_decode_next);
    CU_add_test(s, "sent and received counters", test_counters);
}
