//  test_trace.c - W3C traceparent parsing and trace id checks.
#include "tg_trace.h"
#include "tg_util.h"

#include <CUnit/CUnit.h>
#include <string.h>

static void
test_traceparent_valid(void)
{
    char trace[33], parent[17];
    CU_ASSERT_EQUAL(tg_trace_parse_traceparent(
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", trace, parent),
                    TG_OK);
    CU_ASSERT_STRING_EQUAL(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    CU_ASSERT_STRING_EQUAL(parent, "00f067aa0ba902b7");
    //  a future version may append fields
    CU_ASSERT_EQUAL(
        tg_trace_parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what",
                                   trace, parent),
        TG_OK);
}

static void
test_traceparent_invalid(void)
{
    char trace[33], parent[17];
    const char *bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",          //  no flags
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",       //  zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",       //  zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       //  version ff
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",       //  upper case
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",     //  00 has no more
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       //  separator
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",       //  not hex
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",       //  flags not hex
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.more",  //  no dash after
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(tg_trace_parse_traceparent(bad[i], trace, parent), TG_INVALID);
    CU_ASSERT_EQUAL(tg_trace_parse_traceparent(NULL, trace, parent), TG_INVALID);
}

static void
test_id_ok(void)
{
    CU_ASSERT_TRUE(tg_trace_id_ok("trace-1.a_b:c/d", 128));
    CU_ASSERT_FALSE(tg_trace_id_ok("", 128));
    CU_ASSERT_FALSE(tg_trace_id_ok(NULL, 128));
    CU_ASSERT_FALSE(tg_trace_id_ok("has space", 128));
    CU_ASSERT_FALSE(tg_trace_id_ok("abcd", 3));
    CU_ASSERT_TRUE(tg_trace_id_ok("abc", 3));
}

static void
test_stamp_usage(void)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    f->usage.id = tg_strdup("req_1");
    tg_trace_stamp_usage(&f->usage, NULL, "u1", "", "t1", NULL);
    CU_ASSERT_STRING_EQUAL(f->usage.org, "default");
    CU_ASSERT_STRING_EQUAL(f->usage.user, "u1");
    CU_ASSERT_PTR_NULL(f->usage.env);
    CU_ASSERT_STRING_EQUAL(f->usage.trace, "t1");
    CU_ASSERT_PTR_NULL(f->usage.parent);
    CU_ASSERT_STRING_EQUAL(f->usage.span, "req_1");
    tg_frame_destroy(&f);
}

void
test_trace_register(void)
{
    CU_pSuite s = CU_add_suite("trace", NULL, NULL);
    CU_add_test(s, "traceparent_valid", test_traceparent_valid);
    CU_add_test(s, "traceparent_invalid", test_traceparent_invalid);
    CU_add_test(s, "id_ok", test_id_ok);
    CU_add_test(s, "stamp_usage", test_stamp_usage);
}
