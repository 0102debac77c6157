//  test_worker_provider.c - worker_provider: kind -> table, the tables' contract, the
//  per-call state's lifecycle, the shared retry rule and error mapping.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "worker_drive.h"

static void
test_kinds_and_tables(void)
{
    CU_ASSERT_PTR_EQUAL(worker_provider_ops(TG_PROVIDER_OPENAI), &worker_openai_ops);
    CU_ASSERT_PTR_EQUAL(worker_provider_ops(TG_PROVIDER_ANTHROPIC), &worker_anthropic_ops);
    //  Every table is complete: the engine calls through it without checks.
    const worker_provider_ops_t *all[] = {&worker_openai_ops, &worker_anthropic_ops};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        const worker_provider_ops_t *o = all[k];
        CU_ASSERT_PTR_NOT_NULL(o->name);
        CU_ASSERT_PTR_NOT_NULL(o->chat_path);
        CU_ASSERT_PTR_NOT_NULL(o->auth_prefix);
        CU_ASSERT(o->prepare && o->stream_begin && o->on_event && o->stream_end && o->finish
                  && o->map_error && o->fini);
    }
    //  The endpoints and headers each upstream expects.
    CU_ASSERT_STRING_EQUAL(worker_openai_ops.chat_path, "/chat/completions");
    CU_ASSERT_STRING_EQUAL(worker_openai_ops.embed_path, "/embeddings");
    CU_ASSERT_STRING_EQUAL(worker_openai_ops.auth_prefix, "Authorization: Bearer ");
    CU_ASSERT_PTR_NULL(worker_openai_ops.fixed_header);
    CU_ASSERT_STRING_EQUAL(worker_anthropic_ops.chat_path, "/v1/messages");
    CU_ASSERT_PTR_NULL(worker_anthropic_ops.embed_path);
    CU_ASSERT_STRING_EQUAL(worker_anthropic_ops.auth_prefix, "x-api-key: ");
    CU_ASSERT_STRING_EQUAL(worker_anthropic_ops.fixed_header, "anthropic-version: 2023-06-01");
}

static void
test_pcall_lifecycle(void)
{
    const struct {
        const char *route;  //  job route
        bool stream;        //  job stream flag
        bool want;          //  the call streams
    } cases[] = {
        {"chat", true, true},
        {"chat", false, false},
        {"embeddings", true, false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_frame_t *job = s_drive_job(cases[k].route, "m", "m", cases[k].stream, false, "{}");
        worker_pcall_t p;
        worker_pcall_init(&p, &worker_openai_ops, job);
        CU_ASSERT_PTR_EQUAL(p.ops, &worker_openai_ops);
        CU_ASSERT_PTR_EQUAL(p.job, job);
        CU_ASSERT_EQUAL(p.stream, cases[k].want);
        CU_ASSERT_PTR_NULL(p.body);
        CU_ASSERT_FALSE(p.usage.seen);
        worker_pcall_fini(&p);
        tg_frame_destroy(&job);
    }

    //  fini frees an owned body and the kind's state, and may run again; a zeroed state
    //  (a call that failed before it was bound to a provider) is fine too.
    tg_frame_t *job = s_drive_job("chat", "claude", "claude", true, false,
                                  "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    worker_pcall_t p;
    worker_pcall_init(&p, &worker_anthropic_ops, job);
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(p.ops->prepare(&p, &err), TG_OK);
    CU_ASSERT_TRUE(p.body_owned);
    p.ops->stream_begin(&p, 1);
    CU_ASSERT_PTR_NOT_NULL(p.u.anthropic.stream);
    worker_pcall_fini(&p);
    CU_ASSERT_PTR_NULL(p.body);
    CU_ASSERT_PTR_NULL(p.u.anthropic.stream);
    worker_pcall_fini(&p);
    tg_frame_destroy(&job);
    worker_pcall_t zero = {0};
    worker_pcall_fini(&zero);
}

static void
test_retryable(void)
{
    const int yes[] = {408, 409, 429, 500, 502, 503, 504, 529};
    const int no[] = {400, 401, 402, 403, 404, 413, 422, 451};
    for (size_t k = 0; k < sizeof yes / sizeof yes[0]; k++)
        CU_ASSERT_TRUE(worker_provider_retryable(yes[k]));
    for (size_t k = 0; k < sizeof no / sizeof no[0]; k++)
        CU_ASSERT_FALSE(worker_provider_retryable(no[k]));
}

static void
test_error_mapping(void)
{
    worker_upstream_error_t e = {0};
    const char *body = "{\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}";
    worker_provider_error(429, body, strlen(body), &e);
    CU_ASSERT_STRING_EQUAL(e.type, "rate_limit_error");
    CU_ASSERT_TRUE(e.retryable);
    CU_ASSERT_STRING_EQUAL(e.body, "{\"error\":{\"message\":\"slow\",\"type\":\"rate_limit_error\","
                                   "\"param\":null,\"code\":null}}");
    free(e.body);
    memset(&e, 0, sizeof e);
    worker_provider_error(400, NULL, 0, &e);
    CU_ASSERT_STRING_EQUAL(e.type, "invalid_request_error");
    CU_ASSERT_FALSE(e.retryable);
    json_t *doc = json_loads(e.body, 0, NULL);
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(json_object_get(doc, "error"), "message")),
        "upstream returned HTTP 400 with an empty body");
    json_decref(doc);
    free(e.body);
}

void
test_worker_provider_register(void)
{
    CU_pSuite s = CU_add_suite("worker_provider", NULL, NULL);
    CU_add_test(s, "kind -> table; tables complete", test_kinds_and_tables);
    CU_add_test(s, "per-call state: init, fini", test_pcall_lifecycle);
    CU_add_test(s, "retryable statuses", test_retryable);
    CU_add_test(s, "shared error mapping", test_error_mapping);
}
