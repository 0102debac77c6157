//  test_worker_ingress.c - Anthropic ingress (route "messages"): worker_ingress translations
//  (Messages request -> chat request, chat.completion and chunks -> Messages answer and
//  events), and both .messages tables driven with canned upstream bytes.
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_util.h"
#include "worker_drive.h"
#include "worker_ingress.h"
#include "worker_provider.h"

//  True if got equals the JSON text expected; prints both when not.
static bool
s_json_eq(const json_t *got, const char *expected)
{
    json_error_t jerr;
    json_t *want = json_loads(expected, JSON_DECODE_ANY, &jerr);
    if (!want) {
        fprintf(stderr, "\nbad expected JSON: %s\n", jerr.text);
        return false;
    }
    bool eq = got && json_equal(got, want);
    if (!eq) {
        char *g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(stderr, "\n got: %s\nwant: %s\n", g ? g : "(null)", w);
        free(g);
        free(w);
    }
    json_decref(want);
    return eq;
}

static bool
s_text_eq(const char *got, const char *want)
{
    bool eq = got && strcmp(got, want) == 0;
    if (!eq)
        fprintf(stderr, "\n got: %s\nwant: %s\n", got ? got : "(null)", want);
    return eq;
}

//  Translates a request given as JSON text.
static int
s_request(const char *text, bool stream, json_t **out_p, char **err_p)
{
    json_t *req = json_loads(text, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    int rc = worker_ingress_request(req, "gpt-4o-up", stream, out_p, err_p);
    json_decref(req);
    return rc;
}

static void
test_request(void)
{
    json_t *out = NULL;
    char *err = NULL;
    CU_ASSERT_EQUAL(
        s_request(
            "{\"model\":\"gpt-4o\",\"max_tokens\":100,\"system\":[{\"type\":\"text\","
            "\"text\":\"Be brief.\"},{\"type\":\"text\",\"text\":\"Be kind.\"}],"
            "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":5,\"stop_sequences\":[\"END\"],"
            "\"metadata\":{\"user_id\":\"u1\"},"
            "\"tools\":[{\"name\":\"f\",\"description\":\"d\",\"input_schema\":"
            "{\"type\":\"object\"}},{\"name\":\"g\"}],"
            "\"tool_choice\":{\"type\":\"tool\",\"name\":\"f\","
            "\"disable_parallel_tool_use\":true},"
            "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
            "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"x\","
            "\"signature\":\"s\"},{\"type\":\"text\",\"text\":\"Let me \"},{\"type\":"
            "\"text\",\"text\":\"check.\"},{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":"
            "\"f\",\"input\":{\"a\":1}}]},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
            "\"t1\",\"content\":[{\"type\":\"text\",\"text\":\"r1\"},{\"type\":\"text\","
            "\"text\":\"r2\"}]},{\"type\":\"text\",\"text\":\"look:\"},{\"type\":\"image\","
            "\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"AAA\"}},"
            "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/i.png\"}}]}]}",
            true, &out, &err),
        TG_OK);
    CU_ASSERT_PTR_NULL(err);
    CU_ASSERT_TRUE(s_json_eq(
        out, "{\"model\":\"gpt-4o-up\",\"max_tokens\":100,\"temperature\":0.5,\"top_p\":0.9,"
             "\"stop\":[\"END\"],\"user\":\"u1\",\"stream\":true,"
             "\"stream_options\":{\"include_usage\":true},"
             "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":"
             "\"d\",\"parameters\":{\"type\":\"object\"}}},{\"type\":\"function\",\"function\":"
             "{\"name\":\"g\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}],"
             "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
             "\"parallel_tool_calls\":false,"
             "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\\n\\nBe kind.\"},"
             "{\"role\":\"user\",\"content\":\"hi\"},"
             "{\"role\":\"assistant\",\"content\":\"Let me check.\",\"tool_calls\":[{\"id\":"
             "\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
             "\"{\\\"a\\\":1}\"}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"r1\\nr2\"},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look:\"},"
             "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAA\"}},"
             "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/i.png\"}}]}]}"));
    json_decref(out);

    //  Plain: no stream options, tool_choice forms, a tool-only assistant turn.
    const struct {
        const char *choice;  //  Messages tool_choice
        const char *want;    //  OpenAI tool_choice
    } choices[] = {
        {"{\"type\":\"auto\"}", "\"auto\""},
        {"{\"type\":\"any\"}", "\"required\""},
        {"{\"type\":\"none\"}", "\"none\""},
    };
    for (size_t k = 0; k < sizeof choices / sizeof choices[0]; k++) {
        char *req = tg_strfmt("{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"name\":\"f\"}],"
                              "\"tool_choice\":%s,\"messages\":[{\"role\":\"user\",\"content\":"
                              "\"q\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
                              "\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}]}]}",
                              choices[k].choice);
        CU_ASSERT_EQUAL(s_request(req, false, &out, &err), TG_OK);
        CU_ASSERT_TRUE(s_json_eq(json_object_get(out, "tool_choice"), choices[k].want));
        CU_ASSERT_PTR_NULL(json_object_get(out, "stream"));
        CU_ASSERT_PTR_NULL(json_object_get(out, "parallel_tool_calls"));
        CU_ASSERT_TRUE(s_json_eq(json_array_get(json_object_get(out, "messages"), 1),
                                 "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
                                 "\"t\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                                 "\"arguments\":\"{}\"}}]}"));
        json_decref(out);
        free(req);
    }

    //  What an OpenAI model cannot take is refused with the field named.
    const struct {
        const char *req;  //  request
        const char *msg;  //  start of the error
    } bad[] = {
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{"
         "\"type\":"
         "\"document\",\"source\":{}}]}]}",
         "messages.0.content.0: a 'document' block"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{"
         "\"type\":"
         "\"image\",\"source\":{\"type\":\"file\"}}]}]}",
         "messages.0.content.0.source"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"type\":\"web_search_20250305\",\"name\":"
         "\"web_search\"}],\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
         "tools.0.type"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"tool_choice\":{\"type\":\"sometimes\"},\"messages\":"
         "[{\"role\":\"user\",\"content\":\"q\"}]}",
         "tool_choice"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        out = NULL;
        err = NULL;
        CU_ASSERT_EQUAL(s_request(bad[k].req, false, &out, &err), TG_INVALID);
        CU_ASSERT_PTR_NULL(out);
        CU_ASSERT_PTR_NOT_NULL_FATAL(err);
        CU_ASSERT_EQUAL(strncmp(err, bad[k].msg, strlen(bad[k].msg)), 0);
        free(err);
    }
}

static json_t *
s_response(const char *oai_text)
{
    json_t *oai = json_loads(oai_text, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(oai);
    json_t *msg = worker_ingress_response(oai, "msg_1", "gpt-4o");
    json_decref(oai);
    return msg;
}

static void
test_response(void)
{
    json_t *msg = s_response(
        "{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-2024\",\"choices\":[{"
        "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Sure.\",\"tool_calls\":[{"
        "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
        "\"{\\\"x\\\":[1,2]}\"}},{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":"
        "\"g\",\"arguments\":\"not json\"}}]},\"finish_reason\":\"tool_calls\"}],"
        "\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":7,\"total_tokens\":57,"
        "\"prompt_tokens_details\":{\"cached_tokens\":20}}}");
    CU_ASSERT_TRUE(s_json_eq(
        msg, "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"gpt-4o\","
             "\"content\":[{\"type\":\"text\",\"text\":\"Sure.\"},{\"type\":\"tool_use\",\"id\":"
             "\"call_1\",\"name\":\"f\",\"input\":{\"x\":[1,2]}},{\"type\":\"tool_use\",\"id\":"
             "\"call_2\",\"name\":\"g\",\"input\":{}}],\"stop_reason\":\"tool_use\","
             "\"stop_sequence\":null,\"usage\":{\"input_tokens\":30,"
             "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":20,"
             "\"output_tokens\":7}}"));
    json_decref(msg);

    const struct {
        const char *finish;  //  OpenAI finish_reason (JSON)
        const char *stop;    //  Messages stop_reason
    } reasons[] = {
        {"\"stop\"", "end_turn"},          {"\"length\"", "max_tokens"},
        {"\"tool_calls\"", "tool_use"},    {"\"function_call\"", "tool_use"},
        {"\"content_filter\"", "refusal"}, {"null", "end_turn"},
    };
    for (size_t k = 0; k < sizeof reasons / sizeof reasons[0]; k++) {
        char *text = tg_strfmt("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"
                               "\"\"},\"finish_reason\":%s}]}",
                               reasons[k].finish);
        msg = s_response(text);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(msg, "stop_reason")),
                               reasons[k].stop);
        CU_ASSERT_EQUAL(json_array_size(json_object_get(msg, "content")), 0);
        json_decref(msg);
        free(text);
    }
    //  Not a chat.completion.
    CU_ASSERT_PTR_NULL(s_response("{\"choices\":[]}"));
    CU_ASSERT_PTR_NULL(s_response("{\"error\":{\"message\":\"x\"}}"));
}

//  Feeds each data payload to a fresh translator; returns the text written, rc of the last.
static char *
s_stream(const char *const *datas, size_t n, int *rc_p, worker_usage_t *usage_p, bool *done_p)
{
    worker_ingress_stream_t *st = worker_ingress_stream_new("msg_s", "gpt-4o");
    tg_buf_t out;
    tg_buf_init(&out, 1 << 20);
    int rc = TG_OK;
    for (size_t k = 0; k < n && rc == TG_OK; k++)
        rc = worker_ingress_stream_event(st, datas[k], strlen(datas[k]), &out);
    *rc_p = rc;
    if (usage_p)
        *usage_p = worker_ingress_stream_usage(st);
    if (done_p)
        *done_p = worker_ingress_stream_is_finished(st);
    worker_ingress_stream_destroy(&st);
    CU_ASSERT_PTR_NULL(st);
    size_t len;
    char *text = tg_buf_take(&out, &len);
    tg_buf_fini(&out);
    return text ? text : tg_strdup("");
}

static const char s_start_ev[] =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"gpt-4o\",\"content\":[],"
    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,"
    "\"output_tokens\":0}}}\n\n";

static void
test_stream_text(void)
{
    const char *const datas[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
        "\"total_tokens\":11,\"prompt_tokens_details\":{\"cached_tokens\":4}}}",
        "[DONE]",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"after\"}}]}",  //  ignored
    };
    int rc;
    worker_usage_t u;
    bool done;
    char *text = s_stream(datas, sizeof datas / sizeof datas[0], &rc, &u, &done);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_TRUE(done);
    CU_ASSERT_TRUE(u.seen);
    CU_ASSERT_EQUAL(u.in, 9);
    CU_ASSERT_EQUAL(u.out, 2);
    CU_ASSERT_EQUAL(u.cached, 4);
    char *want = tg_strfmt(
        "%s"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":5,"
        "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":4,\"output_tokens\":2}}"
        "\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        s_start_ev);
    CU_ASSERT_TRUE(s_text_eq(text, want));
    free(want);
    free(text);

    //  An empty answer still has its message_start, message_delta and message_stop.
    const char *const empty[] = {"[DONE]"};
    text = s_stream(empty, 1, &rc, &u, &done);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_TRUE(done);
    CU_ASSERT_FALSE(u.seen);
    CU_ASSERT_EQUAL(strncmp(text, s_start_ev, strlen(s_start_ev)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"stop_reason\":\"end_turn\""));
    CU_ASSERT_PTR_NULL(strstr(text, "content_block"));
    free(text);
}

static void
test_stream_tools(void)
{
    const char *const datas[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Ok.\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
        "{\"arguments\":\"{\\\"a\\\":\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"c2\","
        "\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}",
        "[DONE]",
    };
    int rc;
    char *text = s_stream(datas, sizeof datas / sizeof datas[0], &rc, NULL, NULL);
    CU_ASSERT_EQUAL(rc, TG_OK);
    char *want = tg_strfmt(
        "%s"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Ok.\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"c1\",\"name\":\"f\",\"input\":{}}}"
        "\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"c2\",\"name\":\"g\",\"input\":{}}}"
        "\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":0,"
        "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":0}}"
        "\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        s_start_ev);
    CU_ASSERT_TRUE(s_text_eq(text, want));
    free(want);
    free(text);
}

static void
test_stream_faults(void)
{
    int rc;
    bool done;
    //  An error chunk: an Anthropic error event, TG_ERR, and nothing after it.
    const char *const err[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}",
        "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}",
    };
    char *text = s_stream(err, 2, &rc, NULL, &done);
    CU_ASSERT_EQUAL(rc, TG_ERR);
    CU_ASSERT_FALSE(done);
    const char *ev = strstr(text, "event: error\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_TRUE(s_text_eq(ev, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                                 "\"api_error\",\"message\":\"boom\"}}\n\n"));
    free(text);

    //  Data that is not a chunk: TG_INVALID, nothing of it written.
    const char *const bad[] = {"not json", "[1,2]", "",
                               "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        worker_ingress_stream_t *st = worker_ingress_stream_new("m", "x");
        tg_buf_t out;
        tg_buf_init(&out, 1 << 16);
        CU_ASSERT_EQUAL(worker_ingress_stream_event(st, bad[k], strlen(bad[k]), &out), TG_INVALID);
        CU_ASSERT_EQUAL(out.len, 0);
        tg_buf_fini(&out);
        worker_ingress_stream_destroy(&st);
    }

    //  The buffer's cap: the event is refused whole.
    worker_ingress_stream_t *st = worker_ingress_stream_new("m", "x");
    tg_buf_t out;
    tg_buf_init(&out, 64);
    const char *chunk = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"}}]}";
    CU_ASSERT_EQUAL(worker_ingress_stream_event(st, chunk, strlen(chunk), &out), TG_INVALID);
    CU_ASSERT_EQUAL(out.len, 0);
    tg_buf_fini(&out);
    worker_ingress_stream_destroy(&st);
    worker_ingress_stream_destroy(&st);  //  idempotent
}

//  ---------------------------------------------------------------------------------------
//  The tables, as worker_curl.c drives them

static const char s_msg_req[] = "{\"model\":\"gpt-4o\",\"max_tokens\":50,\"stream\":true,"
                                "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static void
test_table_openai(void)
{
    tg_frame_t *job = s_drive_job("messages", "gpt-4o", "gpt-4o", true, false, s_msg_req);
    worker_pcall_t p;
    worker_pcall_init(&p, &worker_openai_ops, job);
    CU_ASSERT_PTR_EQUAL(p.ops, &worker_openai_msg_ops);
    CU_ASSERT_TRUE(p.stream);
    CU_ASSERT_STRING_EQUAL(p.ops->chat_path, worker_openai_ops.chat_path);
    CU_ASSERT_STRING_EQUAL(p.ops->auth_prefix, worker_openai_ops.auth_prefix);
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(p.ops->prepare(&p, &err), TG_OK);
    json_t *sent = json_loadb(p.body, p.body_len, 0, NULL);
    CU_ASSERT_TRUE(s_json_eq(sent, "{\"model\":\"gpt-4o\",\"max_tokens\":50,\"stream\":true,"
                                   "\"stream_options\":{\"include_usage\":true},\"messages\":"
                                   "[{\"role\":\"user\",\"content\":\"hi\"}]}"));
    json_decref(sent);
    p.ops->stream_begin(&p, 1);
    s_drive_t d;
    s_drive_init(&d, &p, 1 << 20);
    const char up[] = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Yo\"}}]}\n\n"
                      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"
                      "\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
                      "\"completion_tokens\":1,\"total_tokens\":4}}\n\ndata: [DONE]\n\n";
    size_t cuts[] = {5, 40, 100};
    CU_ASSERT_EQUAL(s_drive_split(&d, up, strlen(up), cuts, 3), TG_OK);
    CU_ASSERT_TRUE(p.ops->stream_end(&p));
    CU_ASSERT_TRUE(p.usage.seen);
    CU_ASSERT_EQUAL(p.usage.in, 3);
    CU_ASSERT_EQUAL(p.usage.out, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(d.out.data, "event: message_start\ndata: {\"type\":"
                                              "\"message_start\",\"message\":{\"id\":"
                                              "\"msg_req-1\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(d.out.data, "\"text\":\"Yo\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(d.out.data, "event: message_stop\n"));
    s_drive_fini(&d);

    //  An error chunk mid-stream: the client's error event is in out, the stream stops.
    p.ops->stream_begin(&p, 1);
    s_drive_init(&d, &p, 1 << 20);
    const char bad[] = "data: {\"error\":{\"message\":\"overloaded\"}}\n\n";
    CU_ASSERT_NOT_EQUAL(s_drive_feed(&d, bad, strlen(bad)), TG_OK);
    CU_ASSERT_TRUE(p.fail_line);
    CU_ASSERT_PTR_NOT_NULL(strstr(d.out.data, "event: error\n"));
    CU_ASSERT_FALSE(p.ops->stream_end(&p));
    s_drive_fini(&d);

    //  A whole answer, and an error answer.
    tg_buf_t resp;
    tg_buf_init(&resp, 1 << 16);
    tg_buf_puts(&resp, "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
                       "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":4,"
                       "\"completion_tokens\":1,\"total_tokens\":5}}");
    char *body;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(p.ops->finish(&p, &resp, 1, &body, &len), TG_OK);
    json_t *msg = json_loadb(body, len, 0, NULL);
    CU_ASSERT_TRUE(s_json_eq(msg, "{\"id\":\"msg_req-1\",\"type\":\"message\",\"role\":"
                                  "\"assistant\",\"model\":\"gpt-4o\",\"content\":[{\"type\":"
                                  "\"text\",\"text\":\"Hi\"}],\"stop_reason\":\"end_turn\","
                                  "\"stop_sequence\":null,\"usage\":{\"input_tokens\":4,"
                                  "\"cache_creation_input_tokens\":0,"
                                  "\"cache_read_input_tokens\":0,\"output_tokens\":1}}"));
    CU_ASSERT_EQUAL(p.usage.in, 4);
    json_decref(msg);
    free(body);
    tg_buf_reset(&resp);
    tg_buf_puts(&resp, "{\"nope\":1}");
    CU_ASSERT_EQUAL(p.ops->finish(&p, &resp, 1, &body, &len), TG_INVALID);
    CU_ASSERT_PTR_NOT_NULL(p.fail_code);
    tg_buf_fini(&resp);

    worker_upstream_error_t e = {0};
    const char oerr[] = "{\"error\":{\"message\":\"slow down\",\"type\":\"requests\","
                        "\"code\":\"rate_limit_exceeded\"}}";
    p.ops->map_error(&p, 429, oerr, strlen(oerr), &e);
    CU_ASSERT_TRUE(e.retryable);
    json_t *eb = json_loads(e.body, 0, NULL);
    CU_ASSERT_TRUE(s_json_eq(eb, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
                                 "\"message\":\"slow down\"}}"));
    json_decref(eb);
    free(e.body);

    //  The SSE error line of a failure the worker makes is an Anthropic error event too.
    char *line = worker_pcall_error_line(&p, 504, "{\"error\":{\"message\":\"late\"}}");
    CU_ASSERT_TRUE(s_text_eq(line, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                                   "\"timeout_error\",\"message\":\"late\"}}\n\n"));
    free(line);
    worker_pcall_fini(&p);
    tg_frame_destroy(&job);

    //  A Messages request an OpenAI model cannot take is refused at prepare.
    job = s_drive_job("messages", "gpt-4o", "gpt-4o", false, false,
                      "{\"model\":\"gpt-4o\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                      "\"content\":[{\"type\":\"document\",\"source\":{}}]}]}");
    worker_pcall_init(&p, &worker_openai_ops, job);
    err = NULL;
    CU_ASSERT_EQUAL(p.ops->prepare(&p, &err), TG_INVALID);
    CU_ASSERT_PTR_NOT_NULL(err);
    free(err);
    worker_pcall_fini(&p);
    tg_frame_destroy(&job);
}

static void
test_table_anthropic(void)
{
    //  Same model: the client's bytes go as they are.
    tg_frame_t *job = s_drive_job("messages", "claude-x", "claude-x", true, false, s_msg_req);
    worker_pcall_t p;
    worker_pcall_init(&p, &worker_anthropic_ops, job);
    CU_ASSERT_PTR_EQUAL(p.ops, &worker_anthropic_msg_ops);
    CU_ASSERT_STRING_EQUAL(p.ops->chat_path, "/v1/messages");
    CU_ASSERT_STRING_EQUAL(p.ops->fixed_header, worker_anthropic_ops.fixed_header);
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(p.ops->prepare(&p, &err), TG_OK);
    CU_ASSERT_PTR_EQUAL(p.body, job->body);
    CU_ASSERT_FALSE(p.body_owned);
    p.ops->stream_begin(&p, 1);
    s_drive_t d;
    s_drive_init(&d, &p, 1 << 20);
    const char up[] =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":"
        "{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n"
        "event: ping\ndata: {\"type\": \"ping\"}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n"
        "data: {\"type\":\"message_stop\"}\n\n"
        "event: ping\ndata: {\"type\": \"ping\"}\n\n";
    size_t cuts[] = {3, 77, 200};
    CU_ASSERT_EQUAL(s_drive_split(&d, up, strlen(up), cuts, 3), TG_OK);
    CU_ASSERT_TRUE(p.ops->stream_end(&p));
    CU_ASSERT_TRUE(p.usage.seen);
    CU_ASSERT_EQUAL(p.usage.in, 15);
    CU_ASSERT_EQUAL(p.usage.cached, 5);
    CU_ASSERT_EQUAL(p.usage.out, 7);
    //  Passed through as received (an unnamed event gets its type as name); nothing after
    //  message_stop.
    size_t stop_at = strlen(up) - strlen("event: ping\ndata: {\"type\": \"ping\"}\n\n")
                     - strlen("data: {\"type\":\"message_stop\"}\n\n");
    CU_ASSERT_EQUAL(strncmp(d.out.data, up, stop_at), 0);
    CU_ASSERT_TRUE(s_text_eq(d.out.data + stop_at,
                             "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    s_drive_fini(&d);
    worker_pcall_fini(&p);

    //  An error event reaches the client and stops the stream.
    worker_pcall_init(&p, &worker_anthropic_ops, job);
    CU_ASSERT_EQUAL_FATAL(p.ops->prepare(&p, &err), TG_OK);
    s_drive_init(&d, &p, 1 << 20);
    const char bad[] = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                       "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    CU_ASSERT_NOT_EQUAL(s_drive_feed(&d, bad, strlen(bad)), TG_OK);
    CU_ASSERT_TRUE(p.fail_line);
    CU_ASSERT_TRUE(s_text_eq(d.out.data, bad));
    CU_ASSERT_FALSE(p.ops->stream_end(&p));
    s_drive_fini(&d);

    //  A whole answer passes unchanged; its usage is read.
    tg_buf_t resp;
    tg_buf_init(&resp, 1 << 16);
    const char answer[] = "{\"id\":\"msg_1\",\"type\":\"message\",\"content\":[],\"usage\":"
                          "{\"input_tokens\":3,\"cache_creation_input_tokens\":2,"
                          "\"output_tokens\":4}}";
    tg_buf_puts(&resp, answer);
    char *body;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(p.ops->finish(&p, &resp, 1, &body, &len), TG_OK);
    CU_ASSERT_TRUE(s_text_eq(body, answer));
    CU_ASSERT_EQUAL(p.usage.in, 5);
    CU_ASSERT_EQUAL(p.usage.out, 4);
    free(body);
    tg_buf_puts(&resp, "{\"choices\":[]}");
    CU_ASSERT_EQUAL(p.ops->finish(&p, &resp, 1, &body, &len), TG_INVALID);
    tg_buf_fini(&resp);

    //  Anthropic error bodies pass through; anything else becomes one.
    worker_upstream_error_t e = {0};
    const char aerr[] = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                        "\"message\":\"Overloaded\"}}";
    p.ops->map_error(&p, 529, aerr, strlen(aerr), &e);
    CU_ASSERT_TRUE(s_text_eq(e.body, aerr));
    CU_ASSERT_STRING_EQUAL(e.type, "overloaded_error");
    CU_ASSERT_TRUE(e.retryable);
    free(e.body);
    p.ops->map_error(&p, 400, "", 0, &e);
    json_t *eb = json_loads(e.body, 0, NULL);
    CU_ASSERT_TRUE(s_json_eq(eb, "{\"type\":\"error\",\"error\":{\"type\":"
                                 "\"invalid_request_error\",\"message\":\"upstream returned HTTP "
                                 "400\"}}"));
    CU_ASSERT_FALSE(e.retryable);
    json_decref(eb);
    free(e.body);
    worker_pcall_fini(&p);
    tg_frame_destroy(&job);

    //  Another upstream model name: the body is re-encoded with it.
    job = s_drive_job("messages", "claude-up", "alias", false, false, s_msg_req);
    worker_pcall_init(&p, &worker_anthropic_ops, job);
    CU_ASSERT_FALSE(p.stream);  //  the job's stream flag decides, not the body's
    CU_ASSERT_EQUAL_FATAL(p.ops->prepare(&p, &err), TG_OK);
    CU_ASSERT_TRUE(p.body_owned);
    json_t *sent = json_loadb(p.body, p.body_len, 0, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(sent, "model")), "claude-up");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(sent, "messages")), 1);
    json_decref(sent);
    worker_pcall_fini(&p);
    tg_frame_destroy(&job);

    //  A chat call's error line stays OpenAI's `data:` line.
    job = s_drive_job("chat", "m", "m", true, false, "{}");
    worker_pcall_init(&p, &worker_openai_ops, job);
    CU_ASSERT_PTR_EQUAL(p.ops, &worker_openai_ops);
    char *line = worker_pcall_error_line(&p, 502, "{\"error\":{}}");
    CU_ASSERT_TRUE(s_text_eq(line, "data: {\"error\":{}}\n\n"));
    free(line);
    worker_pcall_fini(&p);
    tg_frame_destroy(&job);
}

void
test_worker_ingress_register(void)
{
    CU_pSuite s = CU_add_suite("worker_ingress", NULL, NULL);
    CU_add_test(s, "Messages request -> chat request", test_request);
    CU_add_test(s, "chat.completion -> Messages answer", test_response);
    CU_add_test(s, "chunks -> Messages events: text, usage, end", test_stream_text);
    CU_add_test(s, "chunks -> Messages events: tool calls", test_stream_tools);
    CU_add_test(s, "stream faults: error chunk, bad data, cap", test_stream_faults);
    CU_add_test(s, "table: OpenAI upstream behind /v1/messages", test_table_openai);
    CU_add_test(s, "table: Claude upstream behind /v1/messages", test_table_anthropic);
}
