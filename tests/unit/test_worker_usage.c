//  test_worker_usage.c - worker_usage: usage of chat completions, chunks and embeddings.
#include <CUnit/CUnit.h>
#include <string.h>

#include "worker_usage.h"
#include "tg_util.h"

static int
s_from(const char *text, worker_usage_t *u)
{
    json_t *obj = json_loads(text, JSON_DECODE_ANY, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
    int rc = worker_usage_from_openai(obj, u);
    json_decref(obj);
    return rc;
}

static void
test_chat_completion(void)
{
    worker_usage_t u = {0};
    CU_ASSERT_EQUAL(s_from("{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[],"
                           "\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":30,"
                           "\"total_tokens\":150,\"prompt_tokens_details\":"
                           "{\"cached_tokens\":100,\"audio_tokens\":0},"
                           "\"completion_tokens_details\":{\"reasoning_tokens\":10}}}",
                           &u),
                    TG_OK);
    CU_ASSERT_TRUE(u.seen);
    CU_ASSERT_EQUAL(u.in, 120);
    CU_ASSERT_EQUAL(u.out, 30);
    CU_ASSERT_EQUAL(u.cached, 100);
    CU_ASSERT_EQUAL(u.total, 150);
}

static void
test_total_as_reported(void)
{
    //  The upstream's total wins even when it is not in + out; absent, it is computed.
    worker_usage_t u = {0};
    CU_ASSERT_EQUAL(s_from("{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,"
                           "\"total_tokens\":20}}",
                           &u),
                    TG_OK);
    CU_ASSERT_EQUAL(u.total, 20);
    CU_ASSERT_EQUAL(s_from("{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6}}", &u), TG_OK);
    CU_ASSERT_EQUAL(u.total, 11);
    CU_ASSERT_EQUAL(u.cached, 0);
    //  Whole reals (some OpenAI-compatible servers) are counts too.
    CU_ASSERT_EQUAL(s_from("{\"usage\":{\"prompt_tokens\":7.0,\"completion_tokens\":1}}", &u),
                    TG_OK);
    CU_ASSERT_EQUAL(u.in, 7);
}

static void
test_embeddings(void)
{
    worker_usage_t u = {.out = 99};
    CU_ASSERT_EQUAL(s_from("{\"object\":\"list\",\"data\":[],\"model\":\"text-embedding-3-small\","
                           "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}",
                           &u),
                    TG_OK);
    CU_ASSERT_EQUAL(u.in, 8);
    CU_ASSERT_EQUAL(u.out, 0);
    CU_ASSERT_EQUAL(u.total, 8);
    CU_ASSERT_TRUE(u.seen);
}

static void
test_not_found_and_invalid(void)
{
    worker_usage_t u = {.in = 1, .out = 2, .cached = 3, .total = 4, .seen = false};
    CU_ASSERT_EQUAL(s_from("{\"choices\":[]}", &u), TG_NOTFOUND);
    CU_ASSERT_EQUAL(s_from("{\"choices\":[],\"usage\":null}", &u), TG_NOTFOUND);
    CU_ASSERT_EQUAL(s_from("{\"usage\":\"lots\"}", &u), TG_INVALID);
    CU_ASSERT_EQUAL(s_from("{\"usage\":{\"prompt_tokens\":-1}}", &u), TG_INVALID);
    CU_ASSERT_EQUAL(s_from("{\"usage\":{\"prompt_tokens\":\"3\"}}", &u), TG_INVALID);
    CU_ASSERT_EQUAL(s_from("{\"usage\":{\"prompt_tokens\":1.5}}", &u), TG_INVALID);
    CU_ASSERT_EQUAL(
        s_from("{\"usage\":{\"prompt_tokens\":1,\"prompt_tokens_details\":{\"cached_tokens\":[]}}}",
               &u),
        TG_INVALID);
    CU_ASSERT_EQUAL(s_from("[1,2]", &u), TG_INVALID);
    CU_ASSERT_EQUAL(s_from("42", &u), TG_INVALID);
    CU_ASSERT_EQUAL(worker_usage_from_openai(NULL, &u), TG_INVALID);
    //  u untouched by all of the above
    CU_ASSERT_EQUAL(u.in, 1);
    CU_ASSERT_EQUAL(u.out, 2);
    CU_ASSERT_EQUAL(u.cached, 3);
    CU_ASSERT_EQUAL(u.total, 4);
    CU_ASSERT_FALSE(u.seen);
}

static void
test_sse_payloads(void)
{
    worker_usage_t u = {0};
    const char *chunk =
        "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}],\"usage\":null}";
    CU_ASSERT_EQUAL(worker_usage_from_openai_sse(chunk, strlen(chunk), &u), TG_NOTFOUND);
    CU_ASSERT_FALSE(u.seen);
    const char *last = " {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
                       "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12,"
                       "\"prompt_tokens_details\":{\"cached_tokens\":4}}}\r\n";
    CU_ASSERT_EQUAL(worker_usage_from_openai_sse(last, strlen(last), &u), TG_OK);
    CU_ASSERT_EQUAL(u.in, 9);
    CU_ASSERT_EQUAL(u.out, 3);
    CU_ASSERT_EQUAL(u.cached, 4);
    CU_ASSERT_EQUAL(u.total, 12);
    CU_ASSERT_EQUAL(worker_usage_from_openai_sse("[DONE]", 6, &u), TG_NOTFOUND);
    CU_ASSERT_EQUAL(worker_usage_from_openai_sse(" [DONE]\n", 8, &u), TG_NOTFOUND);
    CU_ASSERT_EQUAL(worker_usage_from_openai_sse("[DONE", 5, &u), TG_INVALID);
    CU_ASSERT_EQUAL(worker_usage_from_openai_sse("{\"usage\":", 9, &u), TG_INVALID);
    CU_ASSERT_EQUAL(worker_usage_from_openai_sse("", 0, &u), TG_INVALID);
    CU_ASSERT_EQUAL(worker_usage_from_openai_sse(NULL, 0, &u), TG_INVALID);
    //  Only len bytes are read: the usage after them is not seen.
    const char *cut = "{}{\"usage\":{\"prompt_tokens\":1}}";
    CU_ASSERT_EQUAL(worker_usage_from_openai_sse(cut, 2, &u), TG_NOTFOUND);
    CU_ASSERT_EQUAL(u.in, 9);
}

void
test_worker_usage_register(void)
{
    CU_pSuite s = CU_add_suite("worker_usage", NULL, NULL);
    CU_add_test(s, "chat completion", test_chat_completion);
    CU_add_test(s, "total as reported", test_total_as_reported);
    CU_add_test(s, "embeddings", test_embeddings);
    CU_add_test(s, "not found and invalid", test_not_found_and_invalid);
    CU_add_test(s, "sse payloads", test_sse_payloads);
}
