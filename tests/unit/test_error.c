//  test_error.c - tg_error: OpenAI error objects.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdlib.h>

#include "tg_error.h"

static void
test_body_shape(void)
{
    char *text =
        tg_error_body(404, "The model `x` does not exist", NULL, "model", "model_not_found");
    json_t *root = json_loads(text, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *err = json_object_get(root, "error");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "message")),
                           "The model `x` does not exist");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "type")),
                           "invalid_request_error");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "param")), "model");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "code")), "model_not_found");
    CU_ASSERT_EQUAL(json_object_size(err), 4);
    json_decref(root);
    free(text);
}

static void
test_nulls_and_types(void)
{
    char *text = tg_error_body(503, "busy", NULL, NULL, NULL);
    json_t *root = json_loads(text, 0, NULL);
    json_t *err = json_object_get(root, "error");
    CU_ASSERT_TRUE(json_is_null(json_object_get(err, "param")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(err, "code")));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "type")), "service_unavailable");
    json_decref(root);
    free(text);
    CU_ASSERT_STRING_EQUAL(tg_error_type(429), "rate_limit_error");
    CU_ASSERT_STRING_EQUAL(tg_error_type(401), "invalid_request_error");
    CU_ASSERT_STRING_EQUAL(tg_error_type(502), "upstream_error");
    CU_ASSERT_STRING_EQUAL(tg_error_type(500), "server_error");
    //  A message that is not UTF-8 still yields a valid error object.
    text = tg_error_body(400, "bad \xff byte", "custom_type", NULL, NULL);
    root = json_loads(text, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(root, "error"));
    json_decref(root);
    free(text);
}

void
test_error_register(void)
{
    CU_pSuite s = CU_add_suite("error", NULL, NULL);
    CU_add_test(s, "body shape", test_body_shape);
    CU_add_test(s, "nulls and types", test_nulls_and_types);
}
