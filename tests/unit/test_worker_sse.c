//  test_worker_sse.c - worker_sse: incremental SSE parsing, split anywhere, caps, stops.
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "worker_sse.h"
#include "tg_util.h"

//  Records every event as "<event>=<data>|" so whole runs compare as one string.
typedef struct {
    tg_buf_t log;  //  the events seen
    int count;     //  events seen
    int stop_at;   //  return 7 on this event number (1-based); 0 = never
} s_rec_t;

static int
s_on_event(void *arg, const char *event, const char *data, size_t data_len)
{
    s_rec_t *r = arg;
    r->count++;
    CU_ASSERT_EQUAL(data[data_len], 0);  //  NUL-terminated
    tg_buf_puts(&r->log, event);
    tg_buf_append(&r->log, "=", 1);
    tg_buf_append(&r->log, data, data_len);
    tg_buf_append(&r->log, "|", 1);
    return r->stop_at && r->count == r->stop_at ? 7 : 0;
}

static void
s_rec_init(s_rec_t *r)
{
    memset(r, 0, sizeof *r);
    tg_buf_init(&r->log, 1 << 20);
}

//  Feeds text in one go and returns the log (caller frees).
static char *
s_parse_whole(const char *text, size_t len, int *rc_p, size_t *pending_p)
{
    s_rec_t r;
    s_rec_init(&r);
    worker_sse_t *p = worker_sse_new(4096);
    *rc_p = worker_sse_feed(p, text, len, s_on_event, &r);
    if (pending_p)
        *pending_p = worker_sse_pending(p);
    worker_sse_destroy(&p);
    return tg_buf_take(&r.log, NULL);
}

static const char s_stream[] = "\xEF\xBB\xBF"  //  BOM, dropped
                               ": comment line\r\n"
                               "event: message_start\r\n"
                               "data: {\"a\":1}\r\n"
                               "\r\n"
                               "data:no-space\n"
                               "data:  two spaces\n"
                               "id: 5\n"
                               "retry: 100\n"
                               "\n"
                               "event: delta\r"
                               "data: cr only\r"
                               "\r"
                               "data\n"
                               "\n"
                               "event: no-data\n"
                               "\n"
                               "data: x\r\n"
                               "event: late-name\r\n"
                               "unknown: field\r\n"
                               "\r\n"
                               "data: [DONE]\n\n";

static const char s_expected[] = "message_start={\"a\":1}|"
                                 "message=no-space\n two spaces|"
                                 "delta=cr only|"
                                 "message=|"
                                 "late-name=x|"
                                 "message=[DONE]|";

static void
test_whole_stream(void)
{
    int rc;
    size_t pending;
    char *log = s_parse_whole(s_stream, sizeof s_stream - 1, &rc, &pending);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_STRING_EQUAL(log, s_expected);
    CU_ASSERT_EQUAL(pending, 0);
    free(log);
}

static void
test_one_byte_at_a_time(void)
{
    s_rec_t r;
    s_rec_init(&r);
    worker_sse_t *p = worker_sse_new(4096);
    for (size_t i = 0; i < sizeof s_stream - 1; i++)
        CU_ASSERT_EQUAL(worker_sse_feed(p, s_stream + i, 1, s_on_event, &r), TG_OK);
    CU_ASSERT_STRING_EQUAL(r.log.data, s_expected);
    CU_ASSERT_EQUAL(r.count, 6);
    CU_ASSERT_EQUAL(worker_sse_pending(p), 0);
    worker_sse_destroy(&p);
    CU_ASSERT_PTR_NULL(p);
    worker_sse_destroy(&p);  //  idempotent
    tg_buf_fini(&r.log);
}

static void
test_random_splits(void)
{
    uint32_t seed = 12345;
    size_t total = sizeof s_stream - 1;
    for (int round = 0; round < 500; round++) {
        s_rec_t r;
        s_rec_init(&r);
        worker_sse_t *p = worker_sse_new(4096);
        size_t at = 0;
        while (at < total) {
            seed = seed * 1103515245u + 12345u;  //  deterministic LCG
            size_t n = (seed >> 16) % 9;         //  0..8 bytes, empty feeds included
            if (n > total - at)
                n = total - at;
            CU_ASSERT_EQUAL_FATAL(worker_sse_feed(p, s_stream + at, n, s_on_event, &r), TG_OK);
            at += n;
        }
        CU_ASSERT_STRING_EQUAL(r.log.data, s_expected);
        CU_ASSERT_EQUAL(worker_sse_pending(p), 0);
        worker_sse_destroy(&p);
        tg_buf_fini(&r.log);
    }
}

static void
test_crlf_split_between_feeds(void)
{
    //  "a\r" | "\nb\r\n\r\n": the LF after a CR in the previous feed is not a blank line.
    s_rec_t r;
    s_rec_init(&r);
    worker_sse_t *p = worker_sse_new(256);
    CU_ASSERT_EQUAL(worker_sse_feed(p, "data: a\r", 8, s_on_event, &r), TG_OK);
    CU_ASSERT_EQUAL(worker_sse_feed(p, "\ndata: b\r", 9, s_on_event, &r), TG_OK);
    CU_ASSERT_EQUAL(r.count, 0);
    CU_ASSERT_EQUAL(worker_sse_feed(p, "\n\r", 2, s_on_event, &r), TG_OK);
    CU_ASSERT_EQUAL(r.count, 1);
    CU_ASSERT_STRING_EQUAL(r.log.data, "message=a\nb|");
    CU_ASSERT_EQUAL(worker_sse_feed(p, "\n", 1, s_on_event, &r), TG_OK);  //  CRLF tail: no event
    CU_ASSERT_EQUAL(r.count, 1);
    //  but CR CR is two line ends: a blank line
    CU_ASSERT_EQUAL(worker_sse_feed(p, "data: c\r\r", 9, s_on_event, &r), TG_OK);
    CU_ASSERT_EQUAL(r.count, 2);
    CU_ASSERT_STRING_EQUAL(r.log.data, "message=a\nb|message=c|");
    worker_sse_destroy(&p);
    tg_buf_fini(&r.log);
}

static void
test_partial_bom_is_data(void)
{
    //  EF BB then 'd': not a BOM, so the two bytes start the field name ("\xEF\xBBdata").
    int rc;
    const char text[] = "\xEF\xBB"
                        "data: a\n\ndata: b\n\n";
    char *log = s_parse_whole(text, sizeof text - 1, &rc, NULL);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_STRING_EQUAL(log, "message=b|");
    free(log);
    //  A BOM only at the very start: a second one is part of the field name.
    const char text2[] = "\xEF\xBB\xBF"
                         "data: a\n\n\xEF\xBB\xBF"
                         "data: b\n\n";
    log = s_parse_whole(text2, sizeof text2 - 1, &rc, NULL);
    CU_ASSERT_STRING_EQUAL(log, "message=a|");
    free(log);
}

static void
test_pending_detects_truncation(void)
{
    s_rec_t r;
    s_rec_init(&r);
    worker_sse_t *p = worker_sse_new(256);
    CU_ASSERT_EQUAL(worker_sse_pending(p), 0);
    worker_sse_feed(p, "data: full\n\n", 12, s_on_event, &r);
    CU_ASSERT_EQUAL(worker_sse_pending(p), 0);
    worker_sse_feed(p, "data: par", 9, s_on_event, &r);
    CU_ASSERT_EQUAL(worker_sse_pending(p), 9);  //  partial line
    worker_sse_feed(p, "tial\n", 5, s_on_event, &r);
    CU_ASSERT_TRUE(worker_sse_pending(p) > 0);  //  complete line, event not ended
    worker_sse_feed(p, "\n", 1, s_on_event, &r);
    CU_ASSERT_EQUAL(worker_sse_pending(p), 0);
    worker_sse_feed(p, "event: x\n", 9, s_on_event, &r);
    CU_ASSERT_TRUE(worker_sse_pending(p) > 0);  //  an event name alone is a begun event
    worker_sse_feed(p, "\n: keepalive\n", 13, s_on_event, &r);
    CU_ASSERT_EQUAL(worker_sse_pending(p), 0);  //  comments leave nothing behind
    worker_sse_feed(p, "\xEF", 1, s_on_event, &r);
    CU_ASSERT_EQUAL(worker_sse_pending(p), 1);
    CU_ASSERT_EQUAL(r.count, 2);
    CU_ASSERT_STRING_EQUAL(r.log.data, "message=full|message=partial|");
    worker_sse_destroy(&p);
    tg_buf_fini(&r.log);
}

static void
test_oversized_event(void)
{
    s_rec_t r;
    s_rec_init(&r);
    worker_sse_t *p = worker_sse_new(64);
    //  An event that fits.
    CU_ASSERT_EQUAL(worker_sse_feed(p, "data: small\n\n", 13, s_on_event, &r), TG_OK);
    CU_ASSERT_EQUAL(r.count, 1);
    //  One long line fed in pieces passes the cap.
    char piece[20];
    memset(piece, 'x', sizeof piece);
    int rc = worker_sse_feed(p, "data: ", 6, s_on_event, &r);
    for (int i = 0; i < 10 && rc == TG_OK; i++)
        rc = worker_sse_feed(p, piece, sizeof piece, s_on_event, &r);
    CU_ASSERT_EQUAL(rc, TG_INVALID);
    //  Stopped for good, even for valid input.
    CU_ASSERT_EQUAL(worker_sse_feed(p, "\n\ndata: ok\n\n", 12, s_on_event, &r), TG_INVALID);
    CU_ASSERT_EQUAL(r.count, 1);
    worker_sse_destroy(&p);

    //  Many short data lines in one event add up past the cap too.
    p = worker_sse_new(64);
    rc = TG_OK;
    for (int i = 0; i < 40 && rc == TG_OK; i++)
        rc = worker_sse_feed(p, "data: abc\n", 10, s_on_event, &r);
    CU_ASSERT_EQUAL(rc, TG_INVALID);
    CU_ASSERT_EQUAL(r.count, 1);
    worker_sse_destroy(&p);

    //  The same lines split into events stay under it.
    p = worker_sse_new(64);
    for (int i = 0; i < 40; i++)
        CU_ASSERT_EQUAL(worker_sse_feed(p, "data: abc\n\n", 11, s_on_event, &r), TG_OK);
    CU_ASSERT_EQUAL(r.count, 41);
    worker_sse_destroy(&p);
    tg_buf_fini(&r.log);
}

static void
test_callback_stops(void)
{
    s_rec_t r;
    s_rec_init(&r);
    r.stop_at = 2;
    worker_sse_t *p = worker_sse_new(256);
    const char text[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    CU_ASSERT_EQUAL(worker_sse_feed(p, text, sizeof text - 1, s_on_event, &r), 7);
    CU_ASSERT_EQUAL(r.count, 2);
    CU_ASSERT_EQUAL(worker_sse_feed(p, "data: 4\n\n", 9, s_on_event, &r), 7);
    CU_ASSERT_EQUAL(r.count, 2);
    CU_ASSERT_STRING_EQUAL(r.log.data, "message=1|message=2|");
    worker_sse_destroy(&p);
    tg_buf_fini(&r.log);
}

static void
test_garbage_and_binary(void)
{
    //  Lines without a colon are field names with an empty value; NULs and high bytes pass.
    s_rec_t r;
    s_rec_init(&r);
    worker_sse_t *p = worker_sse_new(256);
    const char text[] = "garbage\n\x01\x02\xff\n:\n\ndata: a\0b\n\n";
    CU_ASSERT_EQUAL(worker_sse_feed(p, text, sizeof text - 1, s_on_event, &r), TG_OK);
    CU_ASSERT_EQUAL(r.count, 1);  //  only the data event; data "a\0b" has 3 bytes
    CU_ASSERT_EQUAL(r.log.len, strlen("message=") + 3 + 1);
    CU_ASSERT_EQUAL(worker_sse_feed(p, NULL, 0, s_on_event, &r), TG_OK);
    worker_sse_destroy(&p);
    tg_buf_fini(&r.log);
}

void
test_worker_sse_register(void)
{
    CU_pSuite s = CU_add_suite("worker_sse", NULL, NULL);
    CU_add_test(s, "whole stream", test_whole_stream);
    CU_add_test(s, "one byte at a time", test_one_byte_at_a_time);
    CU_add_test(s, "random splits", test_random_splits);
    CU_add_test(s, "CRLF split between feeds", test_crlf_split_between_feeds);
    CU_add_test(s, "partial BOM", test_partial_bom_is_data);
    CU_add_test(s, "pending bytes", test_pending_detects_truncation);
    CU_add_test(s, "oversized event", test_oversized_event);
    CU_add_test(s, "callback stops", test_callback_stops);
    CU_add_test(s, "garbage and binary", test_garbage_and_binary);
}
