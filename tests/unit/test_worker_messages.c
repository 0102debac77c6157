//  test_worker_messages.c - worker_messages: requests, responses, streams and errors translated.
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_messages.h"
#include "worker_sse.h"
#include "tg_util.h"

//  True if got equals the JSON text expected; prints both when not, to show the difference.
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

//  Translates a request given as JSON text; returns the rc, *out_p and *err_p as the API does.
static int
s_request(const char *text, bool stream, json_t **out_p, char **err_p)
{
    json_t *req = json_loads(text, JSON_DECODE_ANY, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    int rc = worker_messages_request(req, "claude-sonnet-4-5", stream, out_p, err_p);
    json_decref(req);
    return rc;
}

static void
test_request_basic_and_system(void)
{
    json_t *out = NULL;
    char *err = NULL;
    int rc = s_request("{\"model\":\"claude\",\"messages\":["
                       "{\"role\":\"system\",\"content\":\"You are terse.\"},"
                       "{\"role\":\"user\",\"content\":\"Hi\"},"
                       "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"A\"},"
                       "{\"type\":\"text\",\"text\":\"B\"}]},"
                       "{\"role\":\"system\",\"content\":\"\"}],"
                       "\"temperature\":0.5,\"top_p\":1,\"stop\":\"END\",\"user\":\"u-42\","
                       "\"stream_options\":{\"include_usage\":true},\"seed\":7}",
                       true, &out, &err);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_PTR_NULL(err);
    CU_ASSERT_TRUE(s_json_eq(out, "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":4096,"
                                  "\"system\":\"You are terse.\\n\\nA\\n\\nB\","
                                  "\"messages\":[{\"role\":\"user\",\"content\":"
                                  "[{\"type\":\"text\",\"text\":\"Hi\"}]}],"
                                  "\"temperature\":0.5,\"top_p\":1,\"stop_sequences\":[\"END\"],"
                                  "\"metadata\":{\"user_id\":\"u-42\"},\"stream\":true}"));
    json_decref(out);

    //  No system message: no system key; stream false; max_completion_tokens wins.
    rc = s_request("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                   "\"max_tokens\":10,\"max_completion_tokens\":20,\"stop\":[\"a\",\"b\"],"
                   "\"n\":1,\"temperature\":null}",
                   false, &out, &err);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_TRUE(s_json_eq(out, "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":20,"
                                  "\"messages\":[{\"role\":\"user\",\"content\":"
                                  "[{\"type\":\"text\",\"text\":\"Hi\"}]}],"
                                  "\"stop_sequences\":[\"a\",\"b\"],\"stream\":false}"));
    json_decref(out);

    rc = s_request("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":10}",
                   false, &out, NULL);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(out, "max_tokens")), 10);
    json_decref(out);
}

static void
test_request_merges_roles(void)
{
    json_t *out = NULL;
    int rc = s_request("{\"messages\":["
                       "{\"role\":\"user\",\"content\":\"one\"},"
                       "{\"role\":\"system\",\"content\":\"sys\"},"
                       "{\"role\":\"user\",\"content\":\"two\"},"
                       "{\"role\":\"assistant\",\"content\":\"three\"},"
                       "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"four\"},"
                       "{\"type\":\"refusal\",\"refusal\":\"no\"}]},"
                       "{\"role\":\"user\",\"content\":\"five\"}]}",
                       false, &out, NULL);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_TRUE(
        s_json_eq(json_object_get(out, "messages"),
                  "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"one\"},"
                  "{\"type\":\"text\",\"text\":\"two\"}]},"
                  "{\"role\":\"assistant\",\"content\":["
                  "{\"type\":\"text\",\"text\":\"three\"},"
                  "{\"type\":\"text\",\"text\":\"four\"},"
                  "{\"type\":\"text\",\"text\":\"no\"}]},"
                  "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"five\"}]}]"));
    CU_ASSERT_TRUE(s_json_eq(json_object_get(out, "system"), "\"sys\""));
    json_decref(out);
}

static void
test_request_images(void)
{
    json_t *out = NULL;
    char *err = NULL;
    int rc = s_request(
        "{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"What is this?\",\"cache_control\":{\"type\":\"ephemeral\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0K\","
        "\"detail\":\"high\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/cat.jpg\"}},"
        "{\"type\":\"text\",\"text\":\"\"}]}]}",
        false, &out, &err);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_TRUE(s_json_eq(
        json_object_get(out, "messages"),
        "[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"What is this?\",\"cache_control\":{\"type\":\"ephemeral\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
        "\"data\":\"iVBORw0K\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://example.com/cat.jpg\"}}"
        "]}]"));
    json_decref(out);

    static const char *const bad[] = {
        "data:image/png,plain",     //  not base64
        "data:;base64,AAAA",        //  no media type
        "ftp://example.com/x.png",  //  not http(s)
        "data:image/png;base64",    //  no comma
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char req[256];
        snprintf(req, sizeof req,
                 "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                 "\"image_url\":{\"url\":\"%s\"}}]}]}",
                 bad[k]);
        rc = s_request(req, false, &out, &err);
        CU_ASSERT_EQUAL(rc, TG_INVALID);
        CU_ASSERT_PTR_NULL(out);
        CU_ASSERT_PTR_NOT_NULL_FATAL(err);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "messages[0].content[0].image_url.url"));
        free(err);
    }
}

static void
test_request_tools(void)
{
    json_t *out = NULL;
    char *err = NULL;
    int rc =
        s_request("{\"messages\":["
                  "{\"role\":\"user\",\"content\":\"Weather in Paris and Rome?\"},"
                  "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
                  "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                  "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
                  "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                  "\"arguments\":\"\"}}]},"
                  "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18C\"},"
                  "{\"role\":\"tool\",\"tool_call_id\":\"call_2\","
                  "\"content\":[{\"type\":\"text\",\"text\":\"21C\"}]},"
                  "{\"role\":\"user\",\"content\":\"Thanks\"}],"
                  "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                  "\"description\":\"Weather now\",\"parameters\":{\"type\":\"object\","
                  "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}},"
                  "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}],"
                  "\"tool_choice\":\"required\",\"parallel_tool_calls\":false}",
                  false, &out, &err);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_PTR_NULL(err);
    CU_ASSERT_TRUE(s_json_eq(
        json_object_get(out, "messages"),
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather in Paris and "
        "Rome?\"}]},"
        "{\"role\":\"assistant\",\"content\":["
        "{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"get_weather\","
        "\"input\":{\"city\":\"Paris\"}},"
        "{\"type\":\"tool_use\",\"id\":\"call_2\",\"name\":\"get_weather\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":["
        "{\"type\":\"tool_result\",\"tool_use_id\":\"call_1\",\"content\":\"18C\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"call_2\","
        "\"content\":[{\"type\":\"text\",\"text\":\"21C\"}]},"
        "{\"type\":\"text\",\"text\":\"Thanks\"}]}]"));
    CU_ASSERT_TRUE(
        s_json_eq(json_object_get(out, "tools"),
                  "[{\"name\":\"get_weather\",\"description\":\"Weather now\",\"input_schema\":"
                  "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
                  "\"required\":[\"city\"]}},"
                  "{\"name\":\"now\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}}]"));
    CU_ASSERT_TRUE(s_json_eq(json_object_get(out, "tool_choice"),
                             "{\"type\":\"any\",\"disable_parallel_tool_use\":true}"));
    json_decref(out);

    //  Every tool_choice form.
    static const struct {
        const char *choice;  //  OpenAI tool_choice
        const char *want;    //  Anthropic tool_choice
    } cases[] = {
        {"\"auto\"", "{\"type\":\"auto\"}"},
        {"\"required\"", "{\"type\":\"any\"}"},
        {"\"none\"", "{\"type\":\"none\"}"},
        {"{\"type\":\"function\",\"function\":{\"name\":\"now\"}}",
         "{\"type\":\"tool\",\"name\":\"now\"}"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char req[512];
        snprintf(req, sizeof req,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":"
                 "\"function\",\"function\":{\"name\":\"now\"}}],\"tool_choice\":%s}",
                 cases[k].choice);
        CU_ASSERT_EQUAL(s_request(req, false, &out, NULL), TG_OK);
        CU_ASSERT_TRUE(s_json_eq(json_object_get(out, "tool_choice"), cases[k].want));
        json_decref(out);
    }
    //  parallel_tool_calls false alone gives auto + disable; tool_choice without tools is dropped.
    CU_ASSERT_EQUAL(s_request("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":"
                              "[{\"type\":\"function\",\"function\":{\"name\":\"now\"}}],"
                              "\"parallel_tool_calls\":false}",
                              false, &out, NULL),
                    TG_OK);
    CU_ASSERT_TRUE(s_json_eq(json_object_get(out, "tool_choice"),
                             "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"));
    json_decref(out);
    CU_ASSERT_EQUAL(s_request("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                              "\"tool_choice\":\"auto\",\"tools\":[]}",
                              false, &out, NULL),
                    TG_OK);
    CU_ASSERT_PTR_NULL(json_object_get(out, "tool_choice"));
    CU_ASSERT_PTR_NULL(json_object_get(out, "tools"));
    json_decref(out);
}

static void
test_request_invalid(void)
{
    static const struct {
        const char *req;  //  request JSON
        const char *err;  //  expected error message
    } cases[] = {
        {"[]", "request body must be a JSON object"},
        {"{}", "messages is required"},
        {"{\"messages\":{}}", "messages must be an array"},
        {"{\"messages\":[]}", "messages must not be empty"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":"
         "\"b\"},{\"content\":\"c\"}]}",
         "messages[2].role is required"},
        {"{\"messages\":[7]}", "messages[0] must be an object"},
        {"{\"messages\":[{\"role\":5,\"content\":\"a\"}]}", "messages[0].role must be a string"},
        {"{\"messages\":[{\"role\":\"wizard\",\"content\":\"a\"}]}",
         "messages[0].role must be one of \"system\", \"developer\", \"user\", \"assistant\", "
         "\"tool\""},
        {"{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content is required"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}",
         "messages[0].content must not be empty"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
         "messages[0].content must be a string or an array of content parts"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}",
         "messages[0].content[0].type must be \"text\" or \"image_url\""},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}",
         "messages[0].content[0].type is required"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":1}]}]}",
         "messages[0].content[0].text must be a string"},
        {"{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"image_url\","
         "\"image_url\":{\"url\":\"https://x\"}}]}]}",
         "messages[0].content[0].type must be \"text\""},
        {"{\"messages\":[{\"role\":\"system\",\"content\":\"only system\"}]}",
         "messages must include a user or assistant message"},
        {"{\"messages\":[{\"role\":\"assistant\",\"content\":null}]}",
         "messages[0].content must not be empty"},
        {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"type\":\"function\","
         "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]}",
         "messages[0].tool_calls[0].id is required"},
        {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
         "{\"name\":\"f\",\"arguments\":\"{nope\"}}]}]}",
         "messages[0].tool_calls[0].function.arguments must be a JSON object encoded as a "
         "string"},
        {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
         "{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
         "messages[0].tool_calls[0].function.arguments must be a JSON object encoded as a "
         "string"},
        {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
         "{\"arguments\":\"{}\"}}]}]}",
         "messages[0].tool_calls[0].function.name is required"},
        {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}",
         "messages[0].tool_calls must be an array"},
        {"{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\",\"function_call\":{\"name\":"
         "\"f\"}}]}",
         "messages[0].function_call is not supported; use tool_calls"},
        {"{\"messages\":[{\"role\":\"tool\",\"content\":\"r\"}]}",
         "messages[0].tool_call_id is required"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":0}",
         "max_tokens must be a positive integer"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_completion_tokens\":\"9\"}",
         "max_completion_tokens must be a positive integer"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"temperature\":\"hot\"}",
         "temperature must be a number"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":2}",
         "n must be 1: Anthropic models return one choice"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[\"x\",3]}",
         "stop[1] must be a string"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":{}}",
         "stop must be a string or an array of strings"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":{}}",
         "tools must be an array"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"web\"}]}",
         "tools[0].type must be \"function\""},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\","
         "\"function\":{\"description\":\"d\"}}]}",
         "tools[0].function.name is required"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\","
         "\"function\":{\"name\":\"f\",\"parameters\":[]}}]}",
         "tools[0].function.parameters must be an object"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tool_choice\":\"always\"}",
         "tool_choice must be \"auto\", \"required\", \"none\" or "
         "{\"type\":\"function\",\"function\":{\"name\":...}}"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tool_choice\":{\"type\":"
         "\"function\"}}",
         "tool_choice.function.name is required"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"parallel_tool_calls\":1}",
         "parallel_tool_calls must be a boolean"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"user\":42}",
         "user must be a string"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        json_t *out = (json_t *)1;
        char *err = NULL;
        int rc = s_request(cases[k].req, false, &out, &err);
        CU_ASSERT_EQUAL(rc, TG_INVALID);
        CU_ASSERT_PTR_NULL(out);
        CU_ASSERT_PTR_NOT_NULL_FATAL(err);
        if (strcmp(err, cases[k].err) != 0)
            fprintf(stderr, "\ncase %zu: got '%s'\n", k, err);
        CU_ASSERT_STRING_EQUAL(err, cases[k].err);
        free(err);
        //  err_p may be NULL
        CU_ASSERT_EQUAL(s_request(cases[k].req, false, &out, NULL), TG_INVALID);
        CU_ASSERT_PTR_NULL(out);
    }
}

//  Translates a Messages response given as text.
static json_t *
s_response(const char *text)
{
    json_t *msg = json_loads(text, JSON_DECODE_ANY, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    json_t *out = worker_messages_response(msg, "claude-sonnet-4-5", "chatcmpl-1", 1700000000);
    json_decref(msg);
    return out;
}

static void
test_response_text(void)
{
    json_t *out = s_response(
        "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\","
        "\"content\":[{\"type\":\"thinking\",\"thinking\":\"hmm\",\"signature\":\"s\"},"
        "{\"type\":\"text\",\"text\":\"Hello\"},{\"type\":\"text\",\"text\":\", world\"}],"
        "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":5,"
        "\"cache_read_input_tokens\":100,\"output_tokens\":7}}");
    CU_ASSERT_TRUE(s_json_eq(
        out, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,"
             "\"model\":\"claude-sonnet-4-5\",\"choices\":[{\"index\":0,\"message\":"
             "{\"role\":\"assistant\",\"content\":\"Hello, world\",\"refusal\":null},"
             "\"logprobs\":null,\"finish_reason\":\"stop\"}],"
             "\"usage\":{\"prompt_tokens\":115,\"completion_tokens\":7,\"total_tokens\":122,"
             "\"prompt_tokens_details\":{\"cached_tokens\":100}}}"));
    //  usage reads back through worker_usage as the OpenAI shape
    worker_usage_t u = {0};
    CU_ASSERT_EQUAL(worker_usage_from_openai(out, &u), TG_OK);
    CU_ASSERT_EQUAL(u.in, 115);
    CU_ASSERT_EQUAL(u.cached, 100);
    CU_ASSERT_EQUAL(u.total, 122);
    json_decref(out);

    //  NULL id and model: taken from the message.
    json_t *msg = json_loads("{\"id\":\"msg_02\",\"type\":\"message\",\"model\":\"claude-x\","
                             "\"content\":[],\"stop_reason\":\"end_turn\","
                             "\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}",
                             0, NULL);
    out = worker_messages_response(msg, NULL, NULL, 5);
    CU_ASSERT_TRUE(
        s_json_eq(out, "{\"id\":\"msg_02\",\"object\":\"chat.completion\",\"created\":5,"
                       "\"model\":\"claude-x\",\"choices\":[{\"index\":0,\"message\":"
                       "{\"role\":\"assistant\",\"content\":null,\"refusal\":null},"
                       "\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                       "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":0,\"total_tokens\":1,"
                       "\"prompt_tokens_details\":{\"cached_tokens\":0}}}"));
    json_decref(out);
    json_decref(msg);
}

static void
test_response_tool_use(void)
{
    json_t *out = s_response(
        "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\","
        "\"content\":[{\"type\":\"text\",\"text\":\"Checking.\"},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\","
        "\"input\":{\"city\":\"Paris\",\"days\":[1,2]}},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"now\",\"input\":{}}],"
        "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}");
    json_t *msg = json_object_get(json_array_get(json_object_get(out, "choices"), 0), "message");
    CU_ASSERT_TRUE(s_json_eq(
        msg, "{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":["
             "{\"id\":\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
             "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\",\\\"days\\\":[1,2]}\"}},"
             "{\"id\":\"toolu_2\",\"type\":\"function\",\"function\":{\"name\":\"now\","
             "\"arguments\":\"{}\"}}],\"refusal\":null}"));
    CU_ASSERT_TRUE(s_json_eq(
        json_object_get(json_array_get(json_object_get(out, "choices"), 0), "finish_reason"),
        "\"tool_calls\""));
    json_decref(out);
}

static void
test_response_stop_reasons(void)
{
    static const struct {
        const char *stop;  //  Anthropic stop_reason (JSON)
        const char *want;  //  OpenAI finish_reason
    } cases[] = {
        {"\"end_turn\"", "stop"},
        {"\"stop_sequence\"", "stop"},
        {"\"max_tokens\"", "length"},
        {"\"tool_use\"", "tool_calls"},
        {"\"refusal\"", "content_filter"},
        {"\"pause_turn\"", "stop"},
        {"null", "stop"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"id\":\"m\",\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":"
                 "\"x\"}],\"stop_reason\":%s,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}",
                 cases[k].stop);
        json_t *out = s_response(text);
        CU_ASSERT_PTR_NOT_NULL_FATAL(out);
        json_t *choice = json_array_get(json_object_get(out, "choices"), 0);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(choice, "finish_reason")),
                               cases[k].want);
        json_decref(out);
    }
}

static void
test_response_not_a_message(void)
{
    static const char *const bad[] = {
        "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}",
        "{\"id\":\"m\",\"type\":\"message\"}",                       //  no content
        "{\"id\":\"m\",\"type\":\"message\",\"content\":\"text\"}",  //  content not an array
        "{\"id\":\"m\",\"type\":\"message\",\"content\":[7]}",       //  block not an object
        "{\"id\":\"m\",\"type\":\"message\",\"content\":[{\"type\":\"text\"}]}",
        "{\"id\":\"m\",\"type\":\"message\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\"}]}",
        "[1,2,3]",
        "\"message\"",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        json_t *out = s_response(bad[k]);
        CU_ASSERT_PTR_NULL(out);
        json_decref(out);
    }
    CU_ASSERT_PTR_NULL(worker_messages_response(NULL, "m", "id", 0));
    //  id missing everywhere
    json_t *msg = json_loads("{\"type\":\"message\",\"content\":[]}", 0, NULL);
    CU_ASSERT_PTR_NULL(worker_messages_response(msg, "m", NULL, 0));
    json_decref(msg);
}

//  Feeds (event, data) pairs to a translator and returns everything it wrote.
typedef struct {
    const char *event;  //  SSE event name
    const char *data;   //  SSE data
} s_ev_t;

static const s_ev_t s_text_stream[] = {
    {"message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":"
                      "\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\","
                      "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
                      "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":10,"
                      "\"output_tokens\":1}}}"},
    {"content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                            "{\"type\":\"text\",\"text\":\"\"}}"},
    {"ping", "{\"type\": \"ping\"}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                            "{\"type\":\"text_delta\",\"text\":\"Hello\"}}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                            "{\"type\":\"text_delta\",\"text\":\" \\\"world\\\"\"}}"},
    {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"},
    {"message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                      "\"stop_sequence\":null},\"usage\":{\"output_tokens\":12}}"},
    {"message_stop", "{\"type\":\"message_stop\"}"},
};

#define S_HEAD                                                                            \
    "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
    "\"model\":\"claude-sonnet-4-5\","
static const char s_text_sse_usage[] =
    "data: " S_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: " S_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: " S_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \\\"world\\\"\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: " S_HEAD "\"choices\":[{\"index\":0,\"delta\":{},"
    "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
    "data: " S_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":35,\"completion_tokens\":12,"
    "\"total_tokens\":47,\"prompt_tokens_details\":{\"cached_tokens\":10}}}\n\n"
    "data: [DONE]\n\n";

static int
s_run(worker_messages_stream_t *st, const s_ev_t *evs, size_t n, tg_buf_t *out)
{
    for (size_t k = 0; k < n; k++) {
        int rc =
            worker_messages_stream_event(st, evs[k].event, evs[k].data, strlen(evs[k].data), out);
        if (rc)
            return rc;
    }
    return TG_OK;
}

static void
test_stream_text_bytes(void)
{
    worker_messages_stream_t *st =
        worker_messages_stream_new("chatcmpl-9", "claude-sonnet-4-5", 1700000000, true);
    tg_buf_t out;
    tg_buf_init(&out, 1 << 16);
    CU_ASSERT_FALSE(worker_messages_stream_is_finished(st));
    CU_ASSERT_FALSE(worker_messages_stream_usage(st).seen);
    CU_ASSERT_EQUAL(s_run(st, s_text_stream, 7, &out), TG_OK);  //  all but message_stop
    CU_ASSERT_FALSE(worker_messages_stream_is_finished(st));
    CU_ASSERT_PTR_NULL(strstr(out.data, "[DONE]"));
    CU_ASSERT_EQUAL(s_run(st, s_text_stream + 7, 1, &out), TG_OK);
    CU_ASSERT_STRING_EQUAL(out.data, s_text_sse_usage);
    CU_ASSERT_TRUE(worker_messages_stream_is_finished(st));
    worker_usage_t u = worker_messages_stream_usage(st);
    CU_ASSERT_TRUE(u.seen);
    CU_ASSERT_EQUAL(u.in, 35);
    CU_ASSERT_EQUAL(u.out, 12);
    CU_ASSERT_EQUAL(u.cached, 10);
    CU_ASSERT_EQUAL(u.total, 47);
    //  Anything after the end is ignored.
    size_t len = out.len;
    CU_ASSERT_EQUAL(s_run(st, s_text_stream, 4, &out), TG_OK);
    CU_ASSERT_EQUAL(out.len, len);
    worker_messages_stream_destroy(&st);
    CU_ASSERT_PTR_NULL(st);
    worker_messages_stream_destroy(&st);

    //  Without include_usage: no usage keys, no usage chunk; the lines still parse as JSON and
    //  worker_usage finds no usage in any of them.
    st = worker_messages_stream_new("chatcmpl-9", "claude-sonnet-4-5", 1700000000, false);
    tg_buf_reset(&out);
    CU_ASSERT_EQUAL(s_run(st, s_text_stream, 8, &out), TG_OK);
    CU_ASSERT_PTR_NULL(strstr(out.data, "usage"));
    int lines = 0;
    for (char *p = out.data; (p = strstr(p, "data: ")); p += 6) {
        char *end = strstr(p, "\n\n");
        CU_ASSERT_PTR_NOT_NULL_FATAL(end);
        worker_usage_t cu = {0};
        int rc = worker_usage_from_openai_sse(p + 6, (size_t)(end - p - 6), &cu);
        CU_ASSERT_EQUAL(rc, TG_NOTFOUND);
        lines++;
    }
    CU_ASSERT_EQUAL(lines, 5);  //  role, 2 content, finish, [DONE]
    worker_messages_stream_destroy(&st);
    tg_buf_fini(&out);
}

//  Splits out into its data payloads, parsed; "[DONE]" becomes the JSON string "[DONE]".
static json_t *
s_payloads(const tg_buf_t *out)
{
    json_t *arr = json_array();
    const char *p = out->data;
    while (p && *p) {
        CU_ASSERT_EQUAL_FATAL(strncmp(p, "data: ", 6), 0);
        const char *end = strstr(p, "\n\n");
        CU_ASSERT_PTR_NOT_NULL_FATAL(end);
        if (strncmp(p + 6, "[DONE]", 6) == 0)
            json_array_append_new(arr, json_string("[DONE]"));
        else {
            json_t *v = json_loadb(p + 6, (size_t)(end - p - 6), 0, NULL);
            CU_ASSERT_PTR_NOT_NULL_FATAL(v);
            json_array_append_new(arr, v);
        }
        p = end + 2;
    }
    return arr;
}

static void
test_stream_tool_calls(void)
{
    static const s_ev_t evs[] = {
        {"message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":"
                          "{\"input_tokens\":50,\"output_tokens\":1}}}"},
        {"content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
                                "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                "{\"type\":\"text_delta\",\"text\":\"Let me check.\"}}"},
        {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"},
        {"content_block_start", "{\"type\":\"content_block_start\",\"index\":1,"
                                "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_A\","
                                "\"name\":\"get_weather\",\"input\":{}}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
                                "{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
                                "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":"
                                "\"}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
                                "{\"type\":\"input_json_delta\",\"partial_json\":\" \\\"Paris\\\"}"
                                "\"}}"},
        {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"},
        {"content_block_start", "{\"type\":\"content_block_start\",\"index\":2,"
                                "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_B\","
                                "\"name\":\"now\",\"input\":{}}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":"
                                "{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}"},
        {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}"},
        {"message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
                          "\"usage\":{\"output_tokens\":40}}"},
        {"message_stop", "{\"type\":\"message_stop\"}"},
    };
    worker_messages_stream_t *st = worker_messages_stream_new("id1", "m", 1, false);
    tg_buf_t out;
    tg_buf_init(&out, 1 << 16);
    CU_ASSERT_EQUAL(s_run(st, evs, sizeof evs / sizeof evs[0], &out), TG_OK);
    json_t *got = s_payloads(&out);
    json_t *deltas = json_array();
    size_t k;
    json_t *c;
    json_array_foreach(got, k, c)
    {
        json_t *choice = json_array_get(json_object_get(c, "choices"), 0);
        if (choice)
            json_array_append_new(deltas,
                                  json_pack("{s:O, s:O}", "delta", json_object_get(choice, "delta"),
                                            "finish", json_object_get(choice, "finish_reason")));
        else
            json_array_append(deltas, c);
    }
    CU_ASSERT_TRUE(s_json_eq(
        deltas,
        "[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish\":null},"
        "{\"delta\":{\"content\":\"Let me check.\"},\"finish\":null},"
        "{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"toolu_A\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish\":null},"
        "{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}"
        "]},\"finish\":null},"
        "{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\" \\\"Paris\\\"}\"}}"
        "]},\"finish\":null},"
        "{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"toolu_B\",\"type\":\"function\","
        "\"function\":{\"name\":\"now\",\"arguments\":\"\"}}]},\"finish\":null},"
        "{\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]},"
        "\"finish\":null},"
        "{\"delta\":{},\"finish\":\"tool_calls\"},"
        "\"[DONE]\"]"));
    json_decref(deltas);
    json_decref(got);
    worker_usage_t u = worker_messages_stream_usage(st);
    CU_ASSERT_EQUAL(u.in, 50);
    CU_ASSERT_EQUAL(u.out, 40);
    worker_messages_stream_destroy(&st);
    tg_buf_fini(&out);
}

//  finish_reason of the final chunk for a message_delta stop_reason.
static void
test_stream_stop_reasons(void)
{
    static const struct {
        const char *stop;  //  Anthropic stop_reason (JSON)
        const char *want;  //  OpenAI finish_reason
    } cases[] = {
        {"\"end_turn\"", "stop"},          {"\"stop_sequence\"", "stop"},
        {"\"max_tokens\"", "length"},      {"\"tool_use\"", "tool_calls"},
        {"\"refusal\"", "content_filter"}, {"null", "stop"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char delta[160];
        snprintf(delta, sizeof delta,
                 "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":%s},"
                 "\"usage\":{\"output_tokens\":3}}",
                 cases[k].stop);
        s_ev_t evs[] = {
            {"message_start", "{\"type\":\"message_start\",\"message\":{\"usage\":{}}}"},
            {"message_delta", delta},
            {"message_stop", "{\"type\":\"message_stop\"}"},
        };
        worker_messages_stream_t *st = worker_messages_stream_new("i", "m", 1, true);
        tg_buf_t out;
        tg_buf_init(&out, 1 << 16);
        CU_ASSERT_EQUAL(s_run(st, evs, 3, &out), TG_OK);
        json_t *got = s_payloads(&out);
        CU_ASSERT_EQUAL(json_array_size(got), 4);  //  role, finish, usage, [DONE]
        json_t *fin = json_array_get(json_object_get(json_array_get(got, 1), "choices"), 0);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(fin, "finish_reason")),
                               cases[k].want);
        CU_ASSERT_TRUE(s_json_eq(json_object_get(json_array_get(got, 2), "usage"),
                                 "{\"prompt_tokens\":0,\"completion_tokens\":3,"
                                 "\"total_tokens\":3,\"prompt_tokens_details\":"
                                 "{\"cached_tokens\":0}}"));
        json_decref(got);
        worker_messages_stream_destroy(&st);
        tg_buf_fini(&out);
    }
}

static void
test_stream_error_event(void)
{
    worker_messages_stream_t *st = worker_messages_stream_new("i", "m", 1, true);
    tg_buf_t out;
    tg_buf_init(&out, 1 << 16);
    CU_ASSERT_EQUAL(s_run(st, s_text_stream, 4, &out), TG_OK);
    size_t before = out.len;
    const char *err = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                      "\"message\":\"Overloaded\"}}";
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, "error", err, strlen(err), &out), TG_ERR);
    CU_ASSERT_STRING_EQUAL(out.data + before,
                           "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\","
                           "\"param\":null,\"code\":null}}\n\n");
    CU_ASSERT_FALSE(worker_messages_stream_is_finished(st));
    //  Nothing more after an error.
    before = out.len;
    CU_ASSERT_EQUAL(s_run(st, s_text_stream + 6, 2, &out), TG_OK);
    CU_ASSERT_EQUAL(out.len, before);
    CU_ASSERT_FALSE(worker_messages_stream_is_finished(st));
    worker_messages_stream_destroy(&st);

    //  A garbage error event still becomes an OpenAI error line.
    st = worker_messages_stream_new("i", "m", 1, false);
    tg_buf_reset(&out);
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, "error", "oops", 4, &out), TG_ERR);
    json_t *got = s_payloads(&out);
    CU_ASSERT_TRUE(s_json_eq(got, "[{\"error\":{\"message\":\"upstream stream failed\","
                                  "\"type\":\"server_error\",\"param\":null,\"code\":null}}]"));
    json_decref(got);
    worker_messages_stream_destroy(&st);
    tg_buf_fini(&out);
}

static void
test_stream_bad_input(void)
{
    worker_messages_stream_t *st = worker_messages_stream_new("i", "m", 1, false);
    tg_buf_t out;
    tg_buf_init(&out, 1 << 16);
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, "message_start", "{not json", 9, &out),
                    TG_INVALID);
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, "message_start", "[]", 2, &out), TG_INVALID);
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, "message_start", "{}", 2, &out), TG_INVALID);
    CU_ASSERT_EQUAL(out.len, 0);
    const char *neg = "{\"index\":-1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}";
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, "content_block_start", neg, strlen(neg), &out),
                    TG_INVALID);
    const char *huge = "{\"index\":99999999,\"content_block\":{\"type\":\"text\"}}";
    CU_ASSERT_EQUAL(
        worker_messages_stream_event(st, "content_block_start", huge, strlen(huge), &out),
        TG_INVALID);
    //  input_json_delta for a block that is not a tool_use
    const char *stray = "{\"index\":0,\"delta\":{\"type\":\"input_json_delta\","
                        "\"partial_json\":\"{\"}}";
    CU_ASSERT_EQUAL(
        worker_messages_stream_event(st, "content_block_delta", stray, strlen(stray), &out),
        TG_INVALID);
    const char *notool = "{\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\"}}";
    CU_ASSERT_EQUAL(
        worker_messages_stream_event(st, "content_block_start", notool, strlen(notool), &out),
        TG_INVALID);
    //  Unknown and keep-alive events pass without output, even with garbage data.
    size_t before = out.len;
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, "ping", "", 0, &out), TG_OK);
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, "future_event", "???", 3, &out), TG_OK);
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, "content_block_stop", "x", 1, &out), TG_OK);
    CU_ASSERT_EQUAL(out.len, before);
    //  An unnamed event needs a JSON type.
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, "message", "{}", 2, &out), TG_INVALID);
    CU_ASSERT_EQUAL(worker_messages_stream_event(st, NULL, NULL, 0, &out), TG_INVALID);
    worker_messages_stream_destroy(&st);
    tg_buf_fini(&out);
}

static void
test_stream_unnamed_events_and_cap(void)
{
    //  Events without a name ("message") are recognised by their type field.
    worker_messages_stream_t *st =
        worker_messages_stream_new("chatcmpl-9", "claude-sonnet-4-5", 1700000000, true);
    tg_buf_t out;
    tg_buf_init(&out, 1 << 16);
    for (size_t k = 0; k < 8; k++)
        CU_ASSERT_EQUAL(worker_messages_stream_event(st, k % 2 ? "" : "message",
                                                     s_text_stream[k].data,
                                                     strlen(s_text_stream[k].data), &out),
                        TG_OK);
    CU_ASSERT_STRING_EQUAL(out.data, s_text_sse_usage);
    worker_messages_stream_destroy(&st);
    tg_buf_fini(&out);

    //  A full out buffer: TG_INVALID and no partial line. The cap fits the role chunk only.
    size_t first = strstr(s_text_sse_usage, "\n\n") + 2 - s_text_sse_usage;
    st = worker_messages_stream_new("chatcmpl-9", "claude-sonnet-4-5", 1700000000, true);
    tg_buf_init(&out, first + 20);
    CU_ASSERT_EQUAL(s_run(st, s_text_stream, 1, &out), TG_OK);
    size_t len = out.len;
    CU_ASSERT_EQUAL(s_run(st, s_text_stream + 3, 1, &out), TG_INVALID);
    CU_ASSERT_EQUAL(out.len, len);
    worker_messages_stream_destroy(&st);
    tg_buf_fini(&out);
}

//  The raw upstream bytes of s_text_stream, through worker_sse, one byte at a time.
typedef struct {
    worker_messages_stream_t *st;  //  translator
    tg_buf_t *out;                 //  its output
    int rc;                        //  last translator result
} s_pipe_t;

static int
s_pipe_cb(void *arg, const char *event, const char *data, size_t len)
{
    s_pipe_t *p = arg;
    p->rc = worker_messages_stream_event(p->st, event, data, len, p->out);
    return p->rc;
}

static void
test_stream_through_sse(void)
{
    tg_buf_t raw;
    tg_buf_init(&raw, 1 << 16);
    for (size_t k = 0; k < sizeof s_text_stream / sizeof s_text_stream[0]; k++)
        tg_buf_printf(&raw, "event: %s\r\ndata: %s\r\n\r\n", s_text_stream[k].event,
                      s_text_stream[k].data);
    tg_buf_t out;
    tg_buf_init(&out, 1 << 16);
    s_pipe_t pipe = {
        .st = worker_messages_stream_new("chatcmpl-9", "claude-sonnet-4-5", 1700000000, true),
        .out = &out};
    worker_sse_t *sse = worker_sse_new(1 << 14);
    for (size_t i = 0; i < raw.len; i++)
        CU_ASSERT_EQUAL_FATAL(worker_sse_feed(sse, raw.data + i, 1, s_pipe_cb, &pipe), TG_OK);
    CU_ASSERT_EQUAL(worker_sse_pending(sse), 0);
    CU_ASSERT_STRING_EQUAL(out.data, s_text_sse_usage);
    CU_ASSERT_TRUE(worker_messages_stream_is_finished(pipe.st));
    worker_sse_destroy(&sse);
    worker_messages_stream_destroy(&pipe.st);
    tg_buf_fini(&out);
    tg_buf_fini(&raw);
}

static void
test_error_mapping(void)
{
    static const struct {
        int status;        //  HTTP status
        const char *body;  //  upstream body
        const char *type;  //  OpenAI error.type
        const char *msg;   //  OpenAI error.message
    } cases[] = {
        {400,
         "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"bad\"}}",
         "invalid_request_error", "bad"},
        {401,
         "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"key\"}}",
         "authentication_error", "key"},
        {403, "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"no\"}}",
         "permission_error", "no"},
        {404, "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"gone\"}}",
         "invalid_request_error", "gone"},
        {413, "{\"type\":\"error\",\"error\":{\"type\":\"request_too_large\",\"message\":\"big\"}}",
         "invalid_request_error", "big"},
        {429, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}",
         "rate_limit_error", "slow"},
        {500, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"oops\"}}",
         "server_error", "oops"},
        {529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}",
         "server_error", "busy"},
        {402, "{\"type\":\"error\",\"error\":{\"type\":\"billing_error\",\"message\":\"pay\"}}",
         "insufficient_quota", "pay"},
        //  OpenAI-shaped bodies (OpenAI-compatible upstreams) keep their message
        {429, "{\"error\":{\"message\":\"Rate limit\",\"type\":\"requests\",\"code\":\"x\"}}",
         "rate_limit_error", "Rate limit"},
        {400, "{\"error\":\"plain string\"}", "invalid_request_error", "plain string"},
        //  unknown type: by status
        {401, "{\"type\":\"error\",\"error\":{\"type\":\"new_kind\",\"message\":\"m\"}}",
         "authentication_error", "m"},
        {403, "{}", "permission_error", "upstream returned HTTP 403"},
        //  garbage and empty bodies
        {502, "<html>Bad Gateway</html>", "server_error", "upstream returned HTTP 502"},
        {503, "", "server_error", "upstream returned HTTP 503 with an empty body"},
        {422, "[1,2]", "invalid_request_error", "upstream returned HTTP 422"},
        {200, "{\"type\":\"message\"}", "server_error", "upstream returned HTTP 200"},
        {0, "\xff\xfe", "server_error", "upstream stream failed"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        json_t *env =
            worker_messages_error_to_openai(cases[k].status, cases[k].body, strlen(cases[k].body));
        CU_ASSERT_PTR_NOT_NULL_FATAL(env);
        json_t *e = json_object_get(env, "error");
        CU_ASSERT_EQUAL(json_object_size(env), 1);
        CU_ASSERT_EQUAL(json_object_size(e), 4);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "type")), cases[k].type);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "message")), cases[k].msg);
        CU_ASSERT_TRUE(json_is_null(json_object_get(e, "param")));
        CU_ASSERT_TRUE(json_is_null(json_object_get(e, "code")));
        json_decref(env);
    }
    json_t *env = worker_messages_error_to_openai(500, NULL, 0);
    CU_ASSERT_TRUE(s_json_eq(env, "{\"error\":{\"message\":\"upstream returned HTTP 500 with an "
                                  "empty body\",\"type\":\"server_error\",\"param\":null,"
                                  "\"code\":null}}"));
    json_decref(env);
}

void
test_worker_messages_register(void)
{
    CU_pSuite s = CU_add_suite("worker_messages", NULL, NULL);
    CU_add_test(s, "request basics and system", test_request_basic_and_system);
    CU_add_test(s, "request merges roles", test_request_merges_roles);
    CU_add_test(s, "request images", test_request_images);
    CU_add_test(s, "request tools", test_request_tools);
    CU_add_test(s, "request invalid shapes", test_request_invalid);
    CU_add_test(s, "response text and usage", test_response_text);
    CU_add_test(s, "response tool use", test_response_tool_use);
    CU_add_test(s, "response stop reasons", test_response_stop_reasons);
    CU_add_test(s, "response not a message", test_response_not_a_message);
    CU_add_test(s, "stream text bytes", test_stream_text_bytes);
    CU_add_test(s, "stream tool calls", test_stream_tool_calls);
    CU_add_test(s, "stream stop reasons", test_stream_stop_reasons);
    CU_add_test(s, "stream error event", test_stream_error_event);
    CU_add_test(s, "stream bad input", test_stream_bad_input);
    CU_add_test(s, "stream unnamed events and cap", test_stream_unnamed_events_and_cap);
    CU_add_test(s, "stream through sse", test_stream_through_sse);
    CU_add_test(s, "error mapping", test_error_mapping);
}
