//  test_jsonw.c - tg_jsonw: nesting, escaping, fixed decimals, misuse and caps.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tg_jsonw.h"
#include "tg_util.h"

static void
test_document(void)
{
    tg_jsonw_t *w = tg_jsonw_new(4096);
    tg_jsonw_object(w, NULL);
    tg_jsonw_str(w, "object", "usage");
    tg_jsonw_str(w, "quote\"d", "a\"b\\c\n\x01");
    tg_jsonw_str(w, "none", NULL);
    tg_jsonw_int(w, "neg", -42);
    tg_jsonw_uint(w, "big", UINT64_MAX);
    tg_jsonw_fixed(w, "cost", 0.0025, 6);
    tg_jsonw_fixed(w, "zero", -0.0000001, 6);
    tg_jsonw_fixed(w, "nan", NAN, 6);
    tg_jsonw_bool(w, "t", true);
    tg_jsonw_array(w, "data");
    tg_jsonw_object(w, NULL);
    tg_jsonw_str(w, "model", "gpt-4o");
    tg_jsonw_end(w);
    tg_jsonw_raw(w, NULL, "{\"x\":1}");
    tg_jsonw_array(w, NULL);
    tg_jsonw_end(w);
    tg_jsonw_end(w);
    tg_jsonw_end(w);
    size_t len = 0;
    char *text = tg_jsonw_take(w, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(len, strlen(text));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"cost\":0.002500"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"zero\":0.000000"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"big\":18446744073709551615"));
    //  It is JSON that jansson reads back to the same values.
    json_error_t err;
    json_t *root = json_loads(text, JSON_DECODE_INT_AS_REAL, &err);  //  "big" > INT64_MAX
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(root, "quote\"d")), "a\"b\\c\n\x01");
    CU_ASSERT_TRUE(json_is_null(json_object_get(root, "none")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(root, "nan")));
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(root, "neg")), -42, 1e-9);
    CU_ASSERT_TRUE(json_is_true(json_object_get(root, "t")));
    json_t *data = json_object_get(root, "data");
    CU_ASSERT_EQUAL(json_array_size(data), 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(data, 0), "model")),
                           "gpt-4o");
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(json_array_get(data, 1), "x")), 1, 1e-9);
    json_decref(root);
    free(text);
    tg_jsonw_destroy(&w);
    CU_ASSERT_PTR_NULL(w);
}

static void
test_invalid_utf8(void)
{
    tg_jsonw_t *w = tg_jsonw_new(256);
    tg_jsonw_array(w, NULL);
    tg_jsonw_str(w, NULL, "ok\xff\xfe");
    tg_jsonw_end(w);
    char *text = tg_jsonw_take(w, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(text, "[\"ok??\"]");
    free(text);
    tg_jsonw_destroy(&w);
}

static void
test_misuse(void)
{
    tg_jsonw_t *w = tg_jsonw_new(256);
    tg_jsonw_object(w, NULL);
    tg_jsonw_int(w, NULL, 1);  //  a value without a key inside an object
    tg_jsonw_end(w);
    CU_ASSERT_PTR_NULL(tg_jsonw_take(w, NULL));
    //  The writer is reusable after take.
    tg_jsonw_array(w, NULL);
    tg_jsonw_int(w, "k", 1);  //  a key inside an array
    tg_jsonw_end(w);
    CU_ASSERT_PTR_NULL(tg_jsonw_take(w, NULL));
    tg_jsonw_object(w, NULL);  //  unfinished
    CU_ASSERT_PTR_NULL(tg_jsonw_take(w, NULL));
    tg_jsonw_end(w);  //  nothing open
    CU_ASSERT_PTR_NULL(tg_jsonw_take(w, NULL));
    tg_jsonw_int(w, NULL, 1);
    tg_jsonw_int(w, NULL, 2);  //  two top-level values
    CU_ASSERT_PTR_NULL(tg_jsonw_take(w, NULL));
    tg_jsonw_uint(w, NULL, 7);
    char *text = tg_jsonw_take(w, NULL);
    CU_ASSERT_STRING_EQUAL(text, "7");
    free(text);
    tg_jsonw_destroy(&w);
}

static void
test_cap(void)
{
    tg_jsonw_t *w = tg_jsonw_new(16);
    tg_jsonw_array(w, NULL);
    for (int i = 0; i < 10; i++)
        tg_jsonw_int(w, NULL, 12345);
    tg_jsonw_end(w);
    CU_ASSERT_PTR_NULL(tg_jsonw_take(w, NULL));
    tg_jsonw_destroy(&w);
}

void
test_jsonw_register(void)
{
    CU_pSuite s = CU_add_suite("jsonw", NULL, NULL);
    CU_add_test(s, "document", test_document);
    CU_add_test(s, "invalid_utf8", test_invalid_utf8);
    CU_add_test(s, "misuse", test_misuse);
    CU_add_test(s, "cap", test_cap);
}
