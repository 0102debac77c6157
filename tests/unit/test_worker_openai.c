//  test_worker_openai.c - worker_openai_ops: requests, streams split anywhere, answers and
//  errors of an OpenAI-compatible upstream, from canned bytes.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_drive.h"

static const char s_chat_body[] =
    "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

//  A prepared call over a job the test owns.
typedef struct {
    tg_frame_t *job;   //  the JOB
    worker_pcall_t p;  //  its provider state, prepared
} s_call_t;

static void
s_call_init(
    s_call_t *c, const char *route, const char *asked, bool stream, bool usage, const char *body)
{
    c->job = s_drive_job(route, "gpt-4o", asked, stream, usage, body);
    worker_pcall_init(&c->p, &worker_openai_ops, c->job);
    char *err = NULL;
    CU_ASSERT_EQUAL(worker_openai_ops.prepare(&c->p, &err), TG_OK);
    CU_ASSERT_PTR_NULL(err);
    free(err);
}

static void
s_call_fini(s_call_t *c)
{
    worker_pcall_fini(&c->p);
    tg_frame_destroy(&c->job);
}

//  Reads a JSON member of a text body (for checks on re-encoded bodies).
static json_t *
s_parse(const char *text, size_t len)
{
    json_t *doc = json_loadb(text, len, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL(doc);
    return doc;
}

//  ---------------------------------------------------------------------------------------
//  prepare

static void
test_prepare_pass_through(void)
{
    //  The model the client named is the upstream's and nothing must be added: the job's own
    //  bytes go out, not a copy.
    s_call_t c;
    s_call_init(&c, "chat", "gpt-4o", false, false, s_chat_body);
    CU_ASSERT_PTR_EQUAL(c.p.body, c.job->body);
    CU_ASSERT_EQUAL(c.p.body_len, c.job->body_len);
    CU_ASSERT_FALSE(c.p.body_owned);
    CU_ASSERT_FALSE(c.p.stream);
    s_call_fini(&c);

    //  A stream whose client asked for usage itself: also untouched, nothing to strip later.
    s_call_init(&c, "chat", "gpt-4o", true, true, s_chat_body);
    CU_ASSERT_TRUE(c.p.stream);
    CU_ASSERT_PTR_EQUAL(c.p.body, c.job->body);
    CU_ASSERT_FALSE(c.p.u.openai.strip_usage);
    s_call_fini(&c);

    //  Embeddings: the same pass-through, never a stream.
    s_call_init(&c, "embeddings", "gpt-4o", true, false, "{\"model\":\"gpt-4o\",\"input\":\"a\"}");
    CU_ASSERT_FALSE(c.p.stream);
    CU_ASSERT_PTR_EQUAL(c.p.body, c.job->body);
    s_call_fini(&c);
}

static void
test_prepare_include_usage(void)
{
    //  Stream without include_usage: inserted as text, the rest byte for byte.
    s_call_t c;
    s_call_init(&c, "chat", "gpt-4o", true, false, s_chat_body);
    CU_ASSERT_TRUE(c.p.u.openai.strip_usage);
    CU_ASSERT_TRUE(c.p.body_owned);
    const char want[] = "{\"stream_options\":{\"include_usage\":true},\"model\":\"gpt-4o\","
                        "\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    CU_ASSERT_EQUAL(c.p.body_len, strlen(want));
    CU_ASSERT_STRING_EQUAL(c.p.body, want);
    s_call_fini(&c);

    //  Leading white space is kept where it was.
    s_call_init(&c, "chat", "gpt-4o", true, false, " \n{ \"model\":\"gpt-4o\"}");
    CU_ASSERT_STRING_EQUAL(
        c.p.body, " \n{\"stream_options\":{\"include_usage\":true}, \"model\":\"gpt-4o\"}");
    s_call_fini(&c);

    //  stream_options already there (include_usage false): re-encoded, the option set, the
    //  client's other options kept.
    s_call_init(&c, "chat", "gpt-4o", true, false,
                "{\"model\":\"gpt-4o\",\"stream_options\":{\"include_usage\":false,\"x\":1}}");
    json_t *doc = s_parse(c.p.body, c.p.body_len);
    json_t *so = json_object_get(doc, "stream_options");
    CU_ASSERT_TRUE(json_is_true(json_object_get(so, "include_usage")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(so, "x")), 1);
    json_decref(doc);
    s_call_fini(&c);
}

static void
test_prepare_model_swap_and_refusals(void)
{
    //  An alias or a prefix was resolved: the upstream model replaces the client's.
    s_call_t c;
    s_call_init(&c, "chat", "fast", true, false, "{\"model\":\"fast\",\"temperature\":0.5}");
    json_t *doc = s_parse(c.p.body, c.p.body_len);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "model")), "gpt-4o");
    CU_ASSERT_EQUAL(json_real_value(json_object_get(doc, "temperature")), 0.5);
    CU_ASSERT_TRUE(
        json_is_true(json_object_get(json_object_get(doc, "stream_options"), "include_usage")));
    json_decref(doc);
    s_call_fini(&c);

    //  Not JSON when it has to be parsed: refused with a message, no body.
    const char *bad[] = {"{\"model\":", "[1,2]", "\"text\"", "\xff\xfe{}"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tg_frame_t *job = s_drive_job("chat", "gpt-4o", NULL, false, false, bad[k]);
        worker_pcall_t p;
        worker_pcall_init(&p, &worker_openai_ops, job);
        char *err = NULL;
        CU_ASSERT_EQUAL(worker_openai_ops.prepare(&p, &err), TG_INVALID);
        CU_ASSERT_STRING_EQUAL(err, "the request body is not a JSON object");
        CU_ASSERT_PTR_NULL(p.body);
        free(err);
        worker_pcall_fini(&p);
        tg_frame_destroy(&job);
    }
}

//  ---------------------------------------------------------------------------------------
//  Streams

#define S_CHUNK(delta, finish)                                                                \
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\"," \
    "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]"
#define S_ROLE S_CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null")
#define S_TEXT S_CHUNK("{\"content\":\"Hi \\\"usage\\\"\"}", "null")
#define S_STOP S_CHUNK("{}", "\"stop\"")
#define S_USAGE                                                                               \
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\"," \
    "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"                  \
    "\"total_tokens\":11,\"prompt_tokens_details\":{\"cached_tokens\":4}}}"

//  What an OpenAI upstream sends for a stream with include_usage (a comment line included).
static const char s_up_stream[] = "data: " S_ROLE ",\"usage\":null}\n\n"
                                  ": keep-alive\n\n"
                                  "data: " S_TEXT ",\"usage\":null}\n\n"
                                  "data: " S_STOP ",\"usage\":null}\n\n"
                                  "data: " S_USAGE "\n\n"
                                  "data: [DONE]\n\n";

//  What a client that asked for usage gets: the events as sent.
static const char s_client_usage[] = "data: " S_ROLE ",\"usage\":null}\n\n"
                                     "data: " S_TEXT ",\"usage\":null}\n\n"
                                     "data: " S_STOP ",\"usage\":null}\n\n"
                                     "data: " S_USAGE "\n\n"
                                     "data: [DONE]\n\n";

//  What a client that did not ask gets: no usage chunk, no `"usage":null` members.
static const char s_client_plain[] = "data: " S_ROLE "}\n\n"
                                     "data: " S_TEXT "}\n\n"
                                     "data: " S_STOP "}\n\n"
                                     "data: [DONE]\n\n";

//  Runs s_up_stream cut at `cuts` through a fresh call; checks the client's text and usage.
static void
s_stream_case(bool client_usage, const size_t *cuts, size_t ncuts)
{
    s_call_t c;
    s_call_init(&c, "chat", "gpt-4o", true, client_usage, s_chat_body);
    worker_openai_ops.stream_begin(&c.p, 1700000000);
    s_drive_t d;
    s_drive_init(&d, &c.p, 1 << 16);
    CU_ASSERT_EQUAL(s_drive_split(&d, s_up_stream, sizeof s_up_stream - 1, cuts, ncuts), TG_OK);
    CU_ASSERT_EQUAL(worker_sse_pending(d.sse), 0);
    CU_ASSERT_STRING_EQUAL(d.out.data, client_usage ? s_client_usage : s_client_plain);
    CU_ASSERT_TRUE(worker_openai_ops.stream_end(&c.p));
    CU_ASSERT_TRUE(c.p.usage.seen);
    CU_ASSERT_EQUAL(c.p.usage.in, 9);
    CU_ASSERT_EQUAL(c.p.usage.out, 2);
    CU_ASSERT_EQUAL(c.p.usage.cached, 4);
    CU_ASSERT_EQUAL(c.p.usage.total, 11);
    s_drive_fini(&d);
    s_call_fini(&c);
}

static void
test_stream_split_anywhere(void)
{
    size_t len = sizeof s_up_stream - 1;
    for (int mode = 0; mode < 2; mode++) {
        for (size_t cut = 0; cut <= len; cut++)  //  two reads, cut at every byte
            s_stream_case(mode, &cut, 1);
        size_t *every = tg_zalloc(len * sizeof *every);  //  one byte per read
        for (size_t k = 0; k < len; k++)
            every[k] = k + 1;
        s_stream_case(mode, every, len);
        free(every);
    }
}

static void
test_stream_done_marker(void)
{
    s_call_t c;
    s_call_init(&c, "chat", "gpt-4o", true, true, s_chat_body);
    s_drive_t d;
    s_drive_init(&d, &c.p, 1 << 16);
    const char *head = "data: " S_ROLE ",\"usage\":null}\n\n";
    CU_ASSERT_EQUAL(s_drive_feed(&d, head, strlen(head)), TG_OK);
    CU_ASSERT_FALSE(worker_openai_ops.stream_end(&c.p));  //  cut before [DONE]
    CU_ASSERT_FALSE(c.p.usage.seen);
    //  A data payload over several lines goes out as several data lines; a named event
    //  passes as data.
    const char *multi = "event: note\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n";
    CU_ASSERT_EQUAL(s_drive_feed(&d, multi, strlen(multi)), TG_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(d.out.data, "data: {\"a\":\ndata: 1}\n\n"));
    CU_ASSERT_EQUAL(s_drive_feed(&d, "data: [DONE]\n\n", 14), TG_OK);
    CU_ASSERT_TRUE(worker_openai_ops.stream_end(&c.p));
    //  Nothing after [DONE] reaches the client, not even garbage.
    size_t len = d.out.len;
    const char *after = "data: " S_TEXT "}\n\ndata: not json\n\ndata: [DONE]\n\n";
    CU_ASSERT_EQUAL(s_drive_feed(&d, after, strlen(after)), TG_OK);
    CU_ASSERT_EQUAL(d.out.len, len);
    CU_ASSERT_EQUAL(strcmp(d.out.data + len - 14, "data: [DONE]\n\n"), 0);
    s_drive_fini(&d);
    s_call_fini(&c);
}

static void
test_stream_spaced_usage_null(void)
{
    //  Some OpenAI-compatible servers write JSON with spaces; strip mode still hides usage.
    s_call_t c;
    s_call_init(&c, "chat", "gpt-4o", true, false, s_chat_body);
    s_drive_t d;
    s_drive_init(&d, &c.p, 1 << 16);
    const char *up = "data: {\"id\": \"c1\", \"choices\": [], \"usage\": null}\n\n"
                     "data: {\"usage\": null, \"id\": \"c2\"}\n\n"
                     "data: {\"id\": \"c3\", \"choices\": [{\"index\": 0}], \"usage\": "
                     "{\"prompt_tokens\": 3, \"completion_tokens\": 1}}\n\n";
    CU_ASSERT_EQUAL(s_drive_feed(&d, up, strlen(up)), TG_OK);
    //  A usage chunk that still carries choices goes on, without its usage.
    CU_ASSERT_STRING_EQUAL(d.out.data, "data: {\"id\": \"c1\", \"choices\": []}\n\n"
                                       "data: {\"id\": \"c2\"}\n\n"
                                       "data: {\"id\":\"c3\",\"choices\":[{\"index\":0}]}\n\n");
    CU_ASSERT_EQUAL(c.p.usage.in, 3);
    CU_ASSERT_EQUAL(c.p.usage.total, 4);
    s_drive_fini(&d);
    s_call_fini(&c);
}

static void
test_stream_refusals(void)
{
    //  An event that is not a JSON object stops the stream: bad_response, nothing written.
    const char *bad[] = {"data: not json\n\n", "data: [1,2]\n\n", "data: {\"usage\":{\n\n",
                         "data: \n\n", "data: [DONE] \n\n"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        for (int strip = 0; strip < 2; strip++) {
            s_call_t c;
            s_call_init(&c, "chat", "gpt-4o", true, !strip, s_chat_body);
            s_drive_t d;
            s_drive_init(&d, &c.p, 1 << 16);
            int rc = s_drive_feed(&d, bad[k], strlen(bad[k]));
            CU_ASSERT_NOT_EQUAL(rc, TG_OK);
            CU_ASSERT_EQUAL(d.rc, TG_ERR);
            CU_ASSERT_STRING_EQUAL(c.p.fail_code, "bad_response");
            CU_ASSERT_FALSE(c.p.fail_line);
            CU_ASSERT_EQUAL(d.out.len, 0);
            //  The parser stays stopped: the engine stops the transfer.
            CU_ASSERT_EQUAL(s_drive_feed(&d, "data: [DONE]\n\n", 14), rc);
            CU_ASSERT_FALSE(worker_openai_ops.stream_end(&c.p));
            s_drive_fini(&d);
            s_call_fini(&c);
        }
    }

    //  The client's buffer cap: an event that does not fit is not written at all.
    s_call_t c;
    s_call_init(&c, "chat", "gpt-4o", true, true, s_chat_body);
    s_drive_t d;
    s_drive_init(&d, &c.p, 40);
    const char *small = "data: {\"a\":1}\n\n";
    CU_ASSERT_EQUAL(s_drive_feed(&d, small, strlen(small)), TG_OK);
    size_t len = d.out.len;
    CU_ASSERT_NOT_EQUAL(s_drive_feed(&d, "data: " S_ROLE "}\n\n", strlen("data: " S_ROLE "}\n\n")),
                        TG_OK);
    CU_ASSERT_STRING_EQUAL(c.p.fail_code, "response_too_large");
    CU_ASSERT_EQUAL(d.out.len, len);
    CU_ASSERT_STRING_EQUAL(d.out.data, "data: {\"a\":1}\n\n");
    s_drive_fini(&d);
    s_call_fini(&c);
}

//  ---------------------------------------------------------------------------------------
//  Whole answers

static void
test_finish_answer(void)
{
    s_call_t c;
    s_call_init(&c, "chat", "gpt-4o", false, false, s_chat_body);
    const char answer[] = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{"
                          "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
                          "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,"
                          "\"completion_tokens\":5,\"total_tokens\":17,"
                          "\"prompt_tokens_details\":{\"cached_tokens\":8}}}";
    tg_buf_t resp;
    tg_buf_init(&resp, 1 << 16);
    tg_buf_puts(&resp, answer);
    const char *bytes = resp.data;
    char *body = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(worker_openai_ops.finish(&c.p, &resp, 1700000000, &body, &len), TG_OK);
    CU_ASSERT_PTR_EQUAL(body, bytes);  //  the upstream's buffer itself: no copy
    CU_ASSERT_EQUAL(len, strlen(answer));
    CU_ASSERT_STRING_EQUAL(body, answer);
    CU_ASSERT_EQUAL(resp.len, 0);
    CU_ASSERT_TRUE(c.p.usage.seen);
    CU_ASSERT_EQUAL(c.p.usage.in, 12);
    CU_ASSERT_EQUAL(c.p.usage.out, 5);
    CU_ASSERT_EQUAL(c.p.usage.cached, 8);
    CU_ASSERT_EQUAL(c.p.usage.total, 17);
    free(body);
    tg_buf_fini(&resp);
    s_call_fini(&c);

    //  Embeddings: prompt tokens only; no usage at all is still an answer.
    const struct {
        const char *body;  //  upstream answer
        bool seen;         //  usage found
        uint64_t in;       //  prompt tokens
    } cases[] = {
        {"{\"object\":\"list\",\"data\":[],\"usage\":{\"prompt_tokens\":4,\"total_tokens\":4}}",
         true, 4},
        {"{\"object\":\"chat.completion\",\"choices\":[]}", false, 0},
        {" {\"usage\":null} ", false, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        s_call_init(&c, "embeddings", "gpt-4o", false, false, "{}");
        tg_buf_init(&resp, 1 << 16);
        tg_buf_puts(&resp, cases[k].body);
        CU_ASSERT_EQUAL(worker_openai_ops.finish(&c.p, &resp, 0, &body, &len), TG_OK);
        CU_ASSERT_STRING_EQUAL(body, cases[k].body);
        CU_ASSERT_EQUAL(c.p.usage.seen, cases[k].seen);
        CU_ASSERT_EQUAL(c.p.usage.in, cases[k].in);
        CU_ASSERT_EQUAL(c.p.usage.out, 0);
        free(body);
        tg_buf_fini(&resp);
        s_call_fini(&c);
    }
}

static void
test_finish_refusals(void)
{
    const char *bad[] = {"", "not json", "[1,2]", "{\"id\":", "\"text\"", "null"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        s_call_t c;
        s_call_init(&c, "chat", "gpt-4o", false, false, s_chat_body);
        tg_buf_t resp;
        tg_buf_init(&resp, 1 << 16);
        tg_buf_puts(&resp, bad[k]);
        char *body = NULL;
        size_t len = 0;
        CU_ASSERT_EQUAL(worker_openai_ops.finish(&c.p, &resp, 0, &body, &len), TG_INVALID);
        CU_ASSERT_PTR_NULL(body);
        CU_ASSERT_EQUAL(resp.len, strlen(bad[k]));  //  left alone
        CU_ASSERT_STRING_EQUAL(c.p.fail_code, "bad_response");
        CU_ASSERT_STRING_EQUAL(c.p.fail_msg, "a body that is not a JSON object");
        CU_ASSERT_FALSE(c.p.usage.seen);
        tg_buf_fini(&resp);
        s_call_fini(&c);
    }
}

//  ---------------------------------------------------------------------------------------
//  Errors

static void
test_map_error(void)
{
    const struct {
        int status;        //  upstream status
        const char *body;  //  upstream body
        bool same;         //  passed through byte for byte
        const char *type;  //  error type (usage event)
        bool retryable;    //  worth another attempt
    } cases[] = {
        {429,
         "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"rate_limit_error\","
         "\"param\":null,\"code\":\"rate_limit_exceeded\"}}",
         true, "rate_limit_error", true},
        {400,
         "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\",\"param\":\"x\"}}",
         true, "invalid_request_error", false},
        {401, "{\"error\":{\"message\":\"key\",\"type\":\"\"}}", true, "upstream_error", false},
        {503, "{\"error\":{\"message\":\"busy\",\"type\":7}}", true, "upstream_error", true},
        {500, "<html>oops</html>", false, "server_error", true},
        {502, "", false, "server_error", true},
        {404, "{\"error\":\"no such model\"}", false, "invalid_request_error", false},
        {408, "{\"detail\":\"timeout\"}", false, "server_error", true},
        {409, "[]", false, "invalid_request_error", true},
        {422, "\xff\xfe\x00garbage", false, "invalid_request_error", false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        s_call_t c;
        s_call_init(&c, "chat", "gpt-4o", false, false, s_chat_body);
        size_t len = strlen(cases[k].body);
        worker_upstream_error_t e = {0};
        worker_openai_ops.map_error(&c.p, cases[k].status, cases[k].body, len, &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e.body);
        if (cases[k].same)
            CU_ASSERT_STRING_EQUAL(e.body, cases[k].body);
        json_t *doc = json_loads(e.body, 0, NULL);  //  always a JSON error for the client
        CU_ASSERT_TRUE(json_is_object(json_object_get(doc, "error")));
        json_decref(doc);
        CU_ASSERT_STRING_EQUAL(e.type, cases[k].type);
        CU_ASSERT_EQUAL(e.retryable, cases[k].retryable);
        free(e.body);
        s_call_fini(&c);
    }
}

//  ---------------------------------------------------------------------------------------
//  Garbage

static void
test_garbage_no_crash(void)
{
    uint32_t seed = 0x2545f491;
    char bytes[512];
    for (int round = 0; round < 300; round++) {
        size_t n = s_drive_rand(&seed) % sizeof bytes;
        for (size_t i = 0; i < n; i++) {
            uint32_t r = s_drive_rand(&seed);
            //  Mostly SSE-ish and JSON-ish bytes, so that the parser and the ops get far.
            static const char alphabet[] = "data: {}[]\":,usage\n\r\n[DONE]null";
            bytes[i] = r % 4 ? alphabet[r % (sizeof alphabet - 1)] : (char)(r >> 8);
        }
        s_call_t c;
        s_call_init(&c, "chat", "gpt-4o", true, round % 2, s_chat_body);
        s_drive_t d;
        s_drive_init(&d, &c.p, 1 << 16);
        int rc = s_drive_feed(&d, bytes, n);
        CU_ASSERT(rc == TG_OK || d.rc == TG_ERR);
        worker_openai_ops.stream_end(&c.p);
        s_drive_fini(&d);

        tg_buf_t resp;
        tg_buf_init(&resp, 1 << 16);
        tg_buf_append(&resp, bytes, n);
        char *body = NULL;
        size_t len;
        if (worker_openai_ops.finish(&c.p, &resp, 0, &body, &len) == TG_OK)
            free(body);
        tg_buf_fini(&resp);
        worker_upstream_error_t e = {0};
        worker_openai_ops.map_error(&c.p, 400 + round % 200, bytes, n, &e);
        CU_ASSERT_PTR_NOT_NULL(e.body);
        free(e.body);
        s_call_fini(&c);
    }
}

void
test_worker_openai_register(void)
{
    CU_pSuite s = CU_add_suite("worker_openai", NULL, NULL);
    CU_add_test(s, "prepare passes the job's bytes through", test_prepare_pass_through);
    CU_add_test(s, "prepare adds include_usage", test_prepare_include_usage);
    CU_add_test(s, "prepare swaps the model, refuses non-JSON",
                test_prepare_model_swap_and_refusals);
    CU_add_test(s, "stream split anywhere: chunks, usage, [DONE]", test_stream_split_anywhere);
    CU_add_test(s, "stream: [DONE] ends it, nothing after", test_stream_done_marker);
    CU_add_test(s, "stream: spaced usage null stripped", test_stream_spaced_usage_null);
    CU_add_test(s, "stream refusals: not JSON, over the cap", test_stream_refusals);
    CU_add_test(s, "finish: answer passed through, usage read", test_finish_answer);
    CU_add_test(s, "finish refuses what is not an answer", test_finish_refusals);
    CU_add_test(s, "map_error: pass-through or mapped, retryable", test_map_error);
    CU_add_test(s, "garbage: clean refusals, no crash", test_garbage_no_crash);
}
