//  test_error.c - tg_error: OpenAI error objects, and their Anthropic form.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

static void
test_anthropic(void)
{
    const struct {
        int status;        //  HTTP status
        const char *body;  //  error body as received
        const char *want;  //  Anthropic error object
    } cases[] = {
        {400, "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}",
         "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"bad\"}}"},
        {401, "{\"error\":{\"message\":\"key\",\"code\":\"invalid_api_key\"}}",
         "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"key\"}}"},
        {404, "{\"error\":{\"message\":\"no model\"}}",
         "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"no model\"}}"},
        {429, "{\"error\":\"plain\"}",
         "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"plain\"}}"},
        {502, "",
         "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":"
         "\"upstream returned HTTP 502\"}}"},
        {503, "not json",
         "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
         "\"upstream returned HTTP 503\"}}"},
        //  Already Anthropic's: as is, whatever the status says.
        {500, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}",
         "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *text = tg_error_anthropic(cases[k].status, cases[k].body, strlen(cases[k].body));
        json_t *got = json_loads(text, 0, NULL);
        json_t *want = json_loads(cases[k].want, 0, NULL);
        CU_ASSERT_TRUE(got && want && json_equal(got, want));
        json_decref(got);
        json_decref(want);
        free(text);
    }
    char *text = tg_error_anthropic(500, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"api_error\""));
    free(text);
    CU_ASSERT_STRING_EQUAL(tg_error_anthropic_type(413), "request_too_large");
    CU_ASSERT_STRING_EQUAL(tg_error_anthropic_type(403), "permission_error");
    CU_ASSERT_STRING_EQUAL(tg_error_anthropic_type(529), "overloaded_error");
    CU_ASSERT_STRING_EQUAL(tg_error_anthropic_type(504), "timeout_error");
    CU_ASSERT_STRING_EQUAL(tg_error_anthropic_type(409), "invalid_request_error");
}

void
test_error_register(void)
{
    CU_pSuite s = CU_add_suite("error", NULL, NULL);
    CU_add_test(s, "body shape", test_body_shape);
    CU_add_test(s, "nulls and types", test_nulls_and_types);
    CU_add_test(s, "Anthropic error objects", test_anthropic);
}
