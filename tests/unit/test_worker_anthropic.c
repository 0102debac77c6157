//  test_worker_anthropic.c - worker_anthropic_ops: Messages requests, event streams split
//  anywhere, answers and errors of an Anthropic upstream, from canned bytes.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_drive.h"

#define S_MODEL "claude-sonnet-4-5"
#define S_NOW 1700000000

static const char s_chat_body[] = "{\"model\":\"claude\",\"stream\":true,\"max_tokens\":100,"
                                  "\"messages\":[{\"role\":\"system\",\"content\":\"Be terse.\"},"
                                  "{\"role\":\"user\",\"content\":\"hi\"}]}";

//  A call over a job the test owns; prepared when the body allows it.
typedef struct {
    tg_frame_t *job;   //  the JOB
    worker_pcall_t p;  //  its provider state
} s_call_t;

static int
s_call_init(s_call_t *c, const char *route, bool stream, bool usage, const char *body, char **err_p)
{
    c->job = s_drive_job(route, S_MODEL, "claude", stream, usage, body);
    worker_pcall_init(&c->p, &worker_anthropic_ops, c->job);
    return worker_anthropic_ops.prepare(&c->p, err_p);
}

static void
s_call_fini(s_call_t *c)
{
    worker_pcall_fini(&c->p);
    worker_pcall_fini(&c->p);  //  idempotent
    tg_frame_destroy(&c->job);
}

//  True if the text parses to the same JSON as expected; prints both when not.
static bool
s_json_text_eq(const char *got, size_t len, const char *expected)
{
    json_t *g = json_loadb(got, len, 0, NULL);
    json_t *w = json_loads(expected, 0, NULL);
    bool eq = g && w && json_equal(g, w);
    if (!eq)
        fprintf(stderr, "\n got: %.*s\nwant: %s\n", (int)len, got, expected);
    json_decref(g);
    json_decref(w);
    return eq;
}

//  ---------------------------------------------------------------------------------------
//  prepare

static void
test_prepare_messages_request(void)
{
    s_call_t c;
    char *err = NULL;
    CU_ASSERT_EQUAL(s_call_init(&c, "chat", true, false, s_chat_body, &err), TG_OK);
    CU_ASSERT_PTR_NULL(err);
    CU_ASSERT_TRUE(c.p.body_owned);
    CU_ASSERT_EQUAL(c.p.body_len, strlen(c.p.body));
    CU_ASSERT_TRUE(s_json_text_eq(c.p.body, c.p.body_len,
                                  "{\"model\":\"" S_MODEL "\",\"max_tokens\":100,"
                                  "\"system\":\"Be terse.\",\"messages\":[{\"role\":\"user\","
                                  "\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],"
                                  "\"stream\":true}"));
    s_call_fini(&c);

    //  Not a stream: "stream":false upstream too.
    CU_ASSERT_EQUAL(s_call_init(&c, "chat", false, false, s_chat_body, &err), TG_OK);
    json_t *doc = json_loadb(c.p.body, c.p.body_len, 0, NULL);
    CU_ASSERT_TRUE(json_is_false(json_object_get(doc, "stream")));
    json_decref(doc);
    s_call_fini(&c);
}

static void
test_prepare_refusals(void)
{
    const struct {
        const char *route;  //  job route
        const char *body;   //  client body
        const char *err;    //  message for the client
    } cases[] = {
        {"embeddings", "{\"input\":\"a\"}", "model " S_MODEL " does not support embeddings"},
        {"chat", "{\"model\":", "the request body is not a JSON object"},
        {"chat", "[1]", "the request body is not a JSON object"},
        {"chat", "\xff{}", "the request body is not a JSON object"},
        {"chat", "{\"model\":\"claude\"}", NULL},  //  the translator names the field
        {"chat", "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        s_call_t c;
        char *err = NULL;
        CU_ASSERT_EQUAL(s_call_init(&c, cases[k].route, false, false, cases[k].body, &err),
                        TG_INVALID);
        CU_ASSERT_PTR_NOT_NULL_FATAL(err);
        if (cases[k].err)
            CU_ASSERT_STRING_EQUAL(err, cases[k].err);
        CU_ASSERT_PTR_NULL(c.p.body);
        free(err);
        s_call_fini(&c);
    }
}

//  ---------------------------------------------------------------------------------------
//  Streams

#define S_EV(name, data) "event: " name "\r\ndata: " data "\r\n\r\n"

//  What the Messages API sends for a short text answer (CRLF line ends, a ping).
static const char s_up_stream[] =
    S_EV("message_start",
         "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":"
         "\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\","
         "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
         "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":10,"
         "\"output_tokens\":1}}}")
        S_EV("content_block_start",
             "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
             "{\"type\":\"text\",\"text\":\"\"}}") S_EV("ping", "{\"type\": \"ping\"}")
            S_EV("content_block_delta",
                 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                 "{\"type\":\"text_delta\",\"text\":\"Hello\"}}")
                S_EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}")
                    S_EV("message_delta",
                         "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                         "\"stop_sequence\":null},\"usage\":{\"output_tokens\":12}}")
                        S_EV("message_stop", "{\"type\":\"message_stop\"}");

#define S_HEAD                                                                                \
    "{\"id\":\"chatcmpl-req-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
    "\"model\":\"" S_MODEL "\","
#define S_CHOICE(delta, finish) \
    "\"choices\":[{\"index\":0,\"delta\":" delta ",\"logprobs\":null,\"finish_reason\":" finish "}]"

//  The client asked for usage: usage null on every chunk, then the usage chunk.
static const char s_client_usage[] = "data: " S_HEAD S_CHOICE(
    "{\"role\":\"assistant\",\"content\":\"\"}",
    "null") ",\"usage\":null}\n\n"
            "data: " S_HEAD S_CHOICE(
                "{\"content\":\"Hello\"}",
                "null") ",\"usage\":null}\n\n"
                        "data: " S_HEAD S_CHOICE(
                            "{}", "\"stop\"") ",\"usage\":null}\n\n"
                                              "data: " S_HEAD
                                              "\"choices\":[],\"usage\":{\"prompt_tokens\":35,"
                                              "\"completion_tokens\":12,"
                                              "\"total_tokens\":47,\"prompt_tokens_details\":{"
                                              "\"cached_tokens\":10}}}\n\n"
                                              "data: [DONE]\n\n";

//  It did not: chunks only.
static const char s_client_plain[] = "data: " S_HEAD S_CHOICE(
    "{\"role\":\"assistant\",\"content\":\"\"}",
    "null") "}\n\n"
            "data: " S_HEAD S_CHOICE("{\"content\":\"Hello\"}",
                                     "null") "}\n\n"
                                             "data: " S_HEAD S_CHOICE(
                                                 "{}", "\"stop\"") "}\n\n"
                                                                   "data: [DONE]\n\n";

//  Runs s_up_stream cut at `cuts` through a fresh call; checks the chunks and the usage
//  (recorded whether the client asked for it or not).
static void
s_stream_case(bool client_usage, const size_t *cuts, size_t ncuts)
{
    s_call_t c;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(s_call_init(&c, "chat", true, client_usage, s_chat_body, &err), TG_OK);
    worker_anthropic_ops.stream_begin(&c.p, S_NOW);
    s_drive_t d;
    s_drive_init(&d, &c.p, 1 << 16);
    CU_ASSERT_EQUAL(s_drive_split(&d, s_up_stream, sizeof s_up_stream - 1, cuts, ncuts), TG_OK);
    CU_ASSERT_EQUAL(worker_sse_pending(d.sse), 0);
    CU_ASSERT_STRING_EQUAL(d.out.data, client_usage ? s_client_usage : s_client_plain);
    CU_ASSERT_FALSE(c.p.usage.seen);  //  settled at the end only
    CU_ASSERT_TRUE(worker_anthropic_ops.stream_end(&c.p));
    CU_ASSERT_TRUE(c.p.usage.seen);
    CU_ASSERT_EQUAL(c.p.usage.in, 35);  //  input + cache read + cache write
    CU_ASSERT_EQUAL(c.p.usage.out, 12);
    CU_ASSERT_EQUAL(c.p.usage.cached, 10);
    CU_ASSERT_EQUAL(c.p.usage.total, 47);
    s_drive_fini(&d);
    s_call_fini(&c);
}

static void
test_stream_split_anywhere(void)
{
    size_t len = sizeof s_up_stream - 1;
    for (int mode = 0; mode < 2; mode++) {
        for (size_t cut = 0; cut <= len; cut++)  //  two reads, cut at every byte (CR|LF too)
            s_stream_case(mode, &cut, 1);
        size_t *every = tg_zalloc(len * sizeof *every);  //  one byte per read
        for (size_t k = 0; k < len; k++)
            every[k] = k + 1;
        s_stream_case(mode, every, len);
        free(every);
    }
}

static void
test_stream_cut_short(void)
{
    //  The upstream hangs up before message_stop: not complete, but the tokens seen so far
    //  are still recorded.
    s_call_t c;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(s_call_init(&c, "chat", true, false, s_chat_body, &err), TG_OK);
    CU_ASSERT_FALSE(worker_anthropic_ops.stream_end(&c.p));  //  nothing begun at all
    worker_anthropic_ops.stream_begin(&c.p, S_NOW);
    s_drive_t d;
    s_drive_init(&d, &c.p, 1 << 16);
    const char *stop = strstr(s_up_stream, "event: message_delta");
    CU_ASSERT_EQUAL(s_drive_feed(&d, s_up_stream, (size_t)(stop - s_up_stream) + 30), TG_OK);
    CU_ASSERT_NOT_EQUAL(worker_sse_pending(d.sse), 0);  //  cut inside an event
    CU_ASSERT_PTR_NULL(strstr(d.out.data, "[DONE]"));
    CU_ASSERT_FALSE(worker_anthropic_ops.stream_end(&c.p));
    CU_ASSERT_TRUE(c.p.usage.seen);
    CU_ASSERT_EQUAL(c.p.usage.in, 35);
    CU_ASSERT_EQUAL(c.p.usage.out, 1);
    s_drive_fini(&d);
    s_call_fini(&c);
}

static void
test_stream_error_event(void)
{
    //  An `error` event mid-stream: the client gets an OpenAI error line, the stream stops.
    s_call_t c;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(s_call_init(&c, "chat", true, false, s_chat_body, &err), TG_OK);
    worker_anthropic_ops.stream_begin(&c.p, S_NOW);
    s_drive_t d;
    s_drive_init(&d, &c.p, 1 << 16);
    const char *start = strstr(s_up_stream, "event: ping");
    CU_ASSERT_EQUAL(s_drive_feed(&d, s_up_stream, (size_t)(start - s_up_stream)), TG_OK);
    size_t before = d.out.len;
    const char *ev = S_EV("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                                   "\"message\":\"Overloaded\"}}");
    CU_ASSERT_NOT_EQUAL(s_drive_feed(&d, ev, strlen(ev)), TG_OK);
    CU_ASSERT_EQUAL(d.rc, TG_ERR);
    CU_ASSERT_TRUE(c.p.fail_line);
    CU_ASSERT_STRING_EQUAL(c.p.fail_code, "upstream_error");
    CU_ASSERT_STRING_EQUAL(d.out.data + before,
                           "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\","
                           "\"param\":null,\"code\":null}}\n\n");
    CU_ASSERT_FALSE(worker_anthropic_ops.stream_end(&c.p));
    s_drive_fini(&d);
    s_call_fini(&c);
}

static void
test_stream_refusals(void)
{
    //  Events that cannot be translated stop the stream: bad_response, no error line.
    const char *bad[] = {
        "data: not json\n\n",
        S_EV("message_start", "{\"type\":\"message_start\"}"),
        S_EV("content_block_delta", "{\"index\":-1,\"delta\":{\"type\":\"text_delta\"}}"),
        S_EV("message_delta", "[]"),
        "data: {\"no\":\"type\"}\n\n",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        s_call_t c;
        char *err = NULL;
        CU_ASSERT_EQUAL_FATAL(s_call_init(&c, "chat", true, true, s_chat_body, &err), TG_OK);
        worker_anthropic_ops.stream_begin(&c.p, S_NOW);
        s_drive_t d;
        s_drive_init(&d, &c.p, 1 << 16);
        CU_ASSERT_NOT_EQUAL(s_drive_feed(&d, bad[k], strlen(bad[k])), TG_OK);
        CU_ASSERT_EQUAL(d.rc, TG_ERR);
        CU_ASSERT_FALSE(c.p.fail_line);
        CU_ASSERT_STRING_EQUAL(c.p.fail_code, "bad_response");
        CU_ASSERT_FALSE(worker_anthropic_ops.stream_end(&c.p));
        s_drive_fini(&d);
        s_call_fini(&c);
    }
}

//  ---------------------------------------------------------------------------------------
//  Whole answers

static void
test_finish_answer(void)
{
    s_call_t c;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(s_call_init(&c, "chat", false, false, s_chat_body, &err), TG_OK);
    tg_buf_t resp;
    tg_buf_init(&resp, 1 << 16);
    tg_buf_puts(&resp, "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
                       "\"claude-x\",\"content\":[{\"type\":\"text\",\"text\":\"Hello\"}],"
                       "\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,\"usage\":"
                       "{\"input_tokens\":20,\"output_tokens\":7,\"cache_read_input_tokens\":5,"
                       "\"cache_creation_input_tokens\":3}}");
    char *body = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(worker_anthropic_ops.finish(&c.p, &resp, S_NOW, &body, &len), TG_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_EQUAL(len, strlen(body));
    CU_ASSERT_TRUE(s_json_text_eq(
        body, len,
        "{\"id\":\"chatcmpl-req-1\",\"object\":\"chat.completion\",\"created\":1700000000,"
        "\"model\":\"" S_MODEL "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"Hello\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"length\"}],"
        "\"usage\":{\"prompt_tokens\":28,\"completion_tokens\":7,\"total_tokens\":35,"
        "\"prompt_tokens_details\":{\"cached_tokens\":5}}}"));
    CU_ASSERT_TRUE(c.p.usage.seen);
    CU_ASSERT_EQUAL(c.p.usage.in, 28);
    CU_ASSERT_EQUAL(c.p.usage.out, 7);
    CU_ASSERT_EQUAL(c.p.usage.cached, 5);
    CU_ASSERT_EQUAL(c.p.usage.cwrite, 3);  //  billed at the cache-write price (tok_cwrite)
    CU_ASSERT_EQUAL(c.p.usage.total, 35);
    free(body);
    tg_buf_fini(&resp);
    s_call_fini(&c);
}

static void
test_finish_refusals(void)
{
    const char *bad[] = {"",
                         "not json",
                         "[]",
                         "{\"type\":\"message\",\"content\":\"text\"}",
                         "{\"type\":\"error\",\"content\":[]}",
                         "{\"content\":[{\"text\":\"no type\"}]}",
                         "{\"choices\":[{\"message\":{\"content\":\"an OpenAI answer\"}}]}"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        s_call_t c;
        char *err = NULL;
        CU_ASSERT_EQUAL_FATAL(s_call_init(&c, "chat", false, false, s_chat_body, &err), TG_OK);
        tg_buf_t resp;
        tg_buf_init(&resp, 1 << 16);
        tg_buf_puts(&resp, bad[k]);
        char *body = NULL;
        size_t len = 0;
        CU_ASSERT_EQUAL(worker_anthropic_ops.finish(&c.p, &resp, S_NOW, &body, &len), TG_INVALID);
        CU_ASSERT_PTR_NULL(body);
        CU_ASSERT_EQUAL(resp.len, strlen(bad[k]));
        CU_ASSERT_STRING_EQUAL(c.p.fail_code, "bad_response");
        CU_ASSERT_STRING_EQUAL(c.p.fail_msg, "a body that is not a Messages response");
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
        const char *type;  //  OpenAI error type (also the usage event's error)
        const char *msg;   //  message the client reads
        bool retryable;    //  worth another attempt
    } cases[] = {
        {429,
         "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Number of "
         "request tokens has exceeded your per-minute rate limit\"}}",
         "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
         true},
        {400,
         "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
         "\"max_tokens: too big\"}}",
         "invalid_request_error", "max_tokens: too big", false},
        {401, "", "authentication_error", "upstream returned HTTP 401 with an empty body", false},
        {529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}",
         "server_error", "busy", true},
        {500, "<html>Internal</html>", "server_error", "upstream returned HTTP 500", true},
        {503, "\x01\x02\xff", "server_error", "upstream returned HTTP 503", true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        s_call_t c;
        char *err = NULL;
        CU_ASSERT_EQUAL_FATAL(s_call_init(&c, "chat", false, false, s_chat_body, &err), TG_OK);
        worker_upstream_error_t e = {0};
        worker_anthropic_ops.map_error(&c.p, cases[k].status, cases[k].body, strlen(cases[k].body),
                                       &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e.body);
        json_t *doc = json_loads(e.body, 0, NULL);
        json_t *eo = json_object_get(doc, "error");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(eo, "type")), cases[k].type);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(eo, "message")), cases[k].msg);
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
    uint32_t seed = 0x9e3779b9;
    char bytes[512];
    for (int round = 0; round < 300; round++) {
        size_t n = s_drive_rand(&seed) % sizeof bytes;
        for (size_t i = 0; i < n; i++) {
            uint32_t r = s_drive_rand(&seed);
            static const char alphabet[] = "event: message_start\ndata: {}[]\":,type\r\n\n";
            bytes[i] = r % 4 ? alphabet[r % (sizeof alphabet - 1)] : (char)(r >> 8);
        }
        s_call_t c;
        char *err = NULL;
        CU_ASSERT_EQUAL_FATAL(s_call_init(&c, "chat", true, round % 2, s_chat_body, &err), TG_OK);
        worker_anthropic_ops.stream_begin(&c.p, S_NOW);
        s_drive_t d;
        s_drive_init(&d, &c.p, 1 << 16);
        int rc = s_drive_feed(&d, bytes, n);
        CU_ASSERT(rc == TG_OK || d.rc == TG_ERR);
        worker_anthropic_ops.stream_end(&c.p);
        s_drive_fini(&d);

        tg_buf_t resp;
        tg_buf_init(&resp, 1 << 16);
        tg_buf_append(&resp, bytes, n);
        char *body = NULL;
        size_t len;
        if (worker_anthropic_ops.finish(&c.p, &resp, S_NOW, &body, &len) == TG_OK)
            free(body);
        tg_buf_fini(&resp);
        worker_upstream_error_t e = {0};
        worker_anthropic_ops.map_error(&c.p, 400 + round % 200, bytes, n, &e);
        CU_ASSERT_PTR_NOT_NULL(e.body);
        free(e.body);
        s_call_fini(&c);
    }
}

void
test_worker_anthropic_register(void)
{
    CU_pSuite s = CU_add_suite("worker_anthropic", NULL, NULL);
    CU_add_test(s, "prepare: OpenAI body -> Messages request", test_prepare_messages_request);
    CU_add_test(s, "prepare refuses embeddings and bad bodies", test_prepare_refusals);
    CU_add_test(s, "stream split anywhere: chunks, usage, [DONE]", test_stream_split_anywhere);
    CU_add_test(s, "stream cut short: incomplete, usage kept", test_stream_cut_short);
    CU_add_test(s, "stream error event: error line, stop", test_stream_error_event);
    CU_add_test(s, "stream refusals: untranslatable events", test_stream_refusals);
    CU_add_test(s, "finish: Messages answer -> chat.completion", test_finish_answer);
    CU_add_test(s, "finish refuses what is not a Messages answer", test_finish_refusals);
    CU_add_test(s, "map_error: OpenAI errors, retryable", test_map_error);
    CU_add_test(s, "garbage: clean refusals, no crash", test_garbage_no_crash);
}
