//  test_cache_form.c - tg_cache_form: chat.completion <-> chunk stream, usage chunk replay.
//  Canned bytes are written with ' for " (s_q turns them back) so the JSON stays readable.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_cache_form.h"
#include "tg_util.h"

//  A heap copy of s with every ' turned into ". Caller frees.
static char *
s_q(const char *s)
{
    char *out = tg_strdup(s);
    for (char *p = out; *p; p++)
        if (*p == '\'')
            *p = '"';
    return out;
}

//  A heap copy of s with every \n turned into \r\n. Caller frees.
static char *
s_crlf(const char *s)
{
    tg_buf_t b;
    tg_buf_init(&b, SIZE_MAX);
    for (; *s; s++)
        tg_buf_append(&b, *s == '\n' ? "\r\n" : s, *s == '\n' ? 2 : 1);
    return tg_buf_take(&b, NULL);
}

//  True if got equals the quoted text want; prints both when not.
static bool
s_eq(const char *got, const char *want_q)
{
    char *want = s_q(want_q);
    bool eq = got && strcmp(got, want) == 0;
    if (!eq)
        fprintf(stderr, "\n got: %s\nwant: %s\n", got ? got : "(null)", want);
    free(want);
    return eq;
}

//  sse_to_json on quoted text; the JSON (caller frees) or NULL, checking the out contract.
static char *
s_to_json(const char *sse_q, uint64_t tok_in, uint64_t tok_out)
{
    char *sse = s_q(sse_q);
    char *json = (char *)"x";
    size_t len = 99;
    int rc = tg_cache_form_sse_to_json(sse, strlen(sse), tok_in, tok_out, &json, &len);
    free(sse);
    if (rc != TG_OK) {
        CU_ASSERT_EQUAL(rc, TG_INVALID);
        CU_ASSERT_PTR_NULL(json);
        CU_ASSERT_EQUAL(len, 0);
        return NULL;
    }
    CU_ASSERT_EQUAL(len, strlen(json));
    return json;
}

//  ---------------------------------------------------------------------------------------
//  Canned streams

#define S_HEAD                                                                            \
    "{'id':'chatcmpl-AbC1','object':'chat.completion.chunk','created':1733300000,"        \
    "'model':'gpt-4o-mini-2024-07-18','service_tier':'default','system_fingerprint':'fp_" \
    "0aa8'"
#define S_CHUNK(ix, delta, finish)                                \
    "data: " S_HEAD ",'choices':[{'index':" #ix ",'delta':" delta \
    ",'logprobs':null,'finish_reason':" finish "}],'usage':null}\n\n"
#define S_USAGE_JSON                                                                        \
    "{'prompt_tokens':19,'completion_tokens':4,'total_tokens':23,'prompt_tokens_details':"  \
    "{'cached_tokens':0,'audio_tokens':0},'completion_tokens_details':{'reasoning_tokens':" \
    "0,'audio_tokens':0,'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}}"
#define S_USAGE_CHUNK "data: " S_HEAD ",'choices':[],'usage':" S_USAGE_JSON "}\n\n"
#define S_DONE "data: [DONE]\n\n"

//  What OpenAI streams for "Say hello" with include_usage.
#define S_TEXT_BODY                                                        \
    S_CHUNK(0, "{'role':'assistant','content':'','refusal':null}", "null") \
    S_CHUNK(0, "{'content':'Hello'}", "null")                              \
    S_CHUNK(0, "{'content':' there'}", "null")                             \
    S_CHUNK(0, "{'content':', \\'friend\\''}", "null")                     \
    S_CHUNK(0, "{'content':'!'}", "null") S_CHUNK(0, "{}", "'stop'")
static const char s_text_stream[] = S_TEXT_BODY S_USAGE_CHUNK S_DONE;

#define S_COMPLETION_HEAD                                                                    \
    "{'id':'chatcmpl-AbC1','object':'chat.completion','created':1733300000,'model':'gpt-4o-" \
    "mini-2024-07-18','service_tier':'default','system_fingerprint':'fp_0aa8'"
static const char s_text_json[] =
    S_COMPLETION_HEAD ",'choices':[{'index':0,'message':{'role':'assistant','content':'Hello "
                      "there, \\'friend\\'!','refusal':null},'logprobs':null,'finish_reason':"
                      "'stop'}],'usage':" S_USAGE_JSON "}";

//  Two tool calls, their arguments split across chunks; no usage chunk.
static const char s_tool_stream[] = S_CHUNK(
    0,
    "{'role':'assistant','content':null,'tool_calls':[{'index':0,'id':'call_A','type':"
    "'function','function':{'name':'get_weather','arguments':''}}],'refusal':null}",
    "null") S_CHUNK(0, "{'tool_calls':[{'index':0,'function':{'arguments':'{\\'lo'}}]}", "null")
    S_CHUNK(0,
            "{'tool_calls':[{'index':0,'function':{'arguments':'cation\\':\\'Paris\\'}'}}]}",
            "null") S_CHUNK(0,
                            "{'tool_calls':[{'index':1,'id':'call_B','type':'function','function':"
                            "{'name':'get_time','arguments':''}}]}",
                            "null")
        S_CHUNK(0, "{'tool_calls':[{'index':1,'function':{'arguments':'{\\'tz\\':'}}]}", "null")
            S_CHUNK(0, "{'tool_calls':[{'index':1,'function':{'arguments':'\\'CET\\'}'}}]}", "null")
                S_CHUNK(0, "{}", "'tool_calls'") S_DONE;

static const char s_tool_json[] = S_COMPLETION_HEAD
    ",'choices':[{'index':0,'message':{'role':'assistant','content':null,'refusal':null,"
    "'tool_calls':[{'id':'call_A','type':'function','function':{'name':'get_weather','arguments'"
    ":'{\\'location\\':\\'Paris\\'}'}},{'id':'call_B','type':'function','function':{'name':"
    "'get_time','arguments':'{\\'tz\\':\\'CET\\'}'}}]},'logprobs':null,'finish_reason':"
    "'tool_calls'}],'usage':{'prompt_tokens':50,'completion_tokens':20,'total_tokens':70}}";

//  ---------------------------------------------------------------------------------------
//  SSE -> JSON

static void
test_sse_to_json_text(void)
{
    char *json = s_to_json(s_text_stream, 1, 2);  //  the usage chunk wins over tok_in/out
    CU_ASSERT_TRUE(s_eq(json, s_text_json));
    free(json);

    //  Without the usage chunk and [DONE]: usage from the counts the cache kept.
    json = s_to_json(S_TEXT_BODY, 19, 4);
    json_t *doc = json_loads(json, 0, NULL);
    json_t *want = json_pack("{s:i, s:i, s:i}", "prompt_tokens", 19, "completion_tokens", 4,
                             "total_tokens", 23);
    CU_ASSERT_TRUE(json_equal(json_object_get(doc, "usage"), want));
    json_decref(want);
    json_decref(doc);
    free(json);
}

static void
test_sse_to_json_tool_calls(void)
{
    char *json = s_to_json(s_tool_stream, 50, 20);
    CU_ASSERT_TRUE(s_eq(json, s_tool_json));
    free(json);
}

static void
test_sse_to_json_n2(void)
{
    //  Two choices interleaved, index 1 first; logprobs content concatenated per choice.
    //  Numbers keep their value and digits; jansson writes e-07 as e-7.
    static const char sse[] = S_CHUNK(1, "{'role':'assistant','content':''}", "null") S_CHUNK(
        0, "{'role':'assistant','content':''}",
        "null") "data: " S_HEAD ",'choices':[{'index':0,'delta':{'content':'A'},'logprobs':{"
                "'content':[{'token':'A','logprob':-0.1,'bytes':[65],'top_logprobs':[]}],"
                "'refusal':null},'finish_reason':null}]}\n\n"
                "data: " S_HEAD ",'choices':[{'index':1,'delta':{'content':'B'},'logprobs':null,"
                "'finish_reason':null}]}\n\n"
                "data: " S_HEAD ",'choices':[{'index':0,'delta':{'content':'a'},'logprobs':{"
                "'content':[{'token':'a','logprob':-3.1281633e-07,'bytes':[97],'top_logprobs':[]}],"
                "'refusal':null},'finish_reason':null}]}\n\n" S_CHUNK(1, "{}", "'length'")
                    S_CHUNK(0, "{}", "'stop'") S_USAGE_CHUNK S_DONE;
    char *json = s_to_json(sse, 0, 0);
    CU_ASSERT_TRUE(
        s_eq(json, S_COMPLETION_HEAD
             ",'choices':[{'index':0,'message':{'role':'assistant','content':'Aa'},'logprobs':{"
             "'content':[{'token':'A','logprob':-0.1,'bytes':[65],'top_logprobs':[]},{'token':'a',"
             "'logprob':-3.1281633e-7,'bytes':[97],'top_logprobs':[]}],'refusal':null},'finish_"
             "reason':'stop'},"
             "{'index':1,'message':{'role':'assistant','content':'B'},'logprobs':null,"
             "'finish_reason':'length'}],'usage':" S_USAGE_JSON "}"));
    free(json);
}

static void
test_sse_to_json_refusal(void)
{
    static const char sse[] = S_CHUNK(0, "{'role':'assistant','content':'','refusal':null}", "null")
        S_CHUNK(0, "{'refusal':'I can\\u2019t'}", "null") S_CHUNK(0, "{'refusal':' help.'}", "null")
            S_CHUNK(0, "{}", "'stop'") S_DONE;
    char *json = s_to_json(sse, 3, 4);
    CU_ASSERT_TRUE(s_eq(json, S_COMPLETION_HEAD
                        ",'choices':[{'index':0,'message':{'role':'assistant','content':null,"
                        "'refusal':'I can\xE2\x80\x99t help.'},'logprobs':null,'finish_reason':"
                        "'stop'}],'usage':{'prompt_tokens':3,'completion_tokens':4,"
                        "'total_tokens':7}}"));
    free(json);
}

static void
test_sse_to_json_crlf_comments_events(void)
{
    //  CRLF line ends, keep-alive comments, named events, an id field, a BOM, and a data
    //  value split over two data lines: the same answer.
    char *plain = s_q(s_text_stream);
    tg_buf_t b;
    tg_buf_init(&b, SIZE_MAX);
    tg_buf_puts(&b, "\xEF\xBB\xBF: OPENROUTER PROCESSING\n\n");
    const char *second = strstr(plain + 1, "data: ");
    tg_buf_puts(&b, "event: message\nid: 1\n");
    tg_buf_append(&b, plain, (size_t)(second - plain));
    tg_buf_puts(&b, ": ping\n\n");
    const char *third = strstr(second + 1, "data: ");
    const char *comma = strstr(second, ",\"choices\"");
    tg_buf_append(&b, second, (size_t)(comma - second));
    tg_buf_puts(&b, "\ndata:");  //  no space: the value starts right after the colon
    tg_buf_append(&b, comma, (size_t)(third - comma));
    tg_buf_puts(&b, third);
    char *crlf = s_crlf(b.data);
    char *json = s_to_json(crlf, 0, 0);
    CU_ASSERT_TRUE(s_eq(json, s_text_json));
    free(json);

    //  Bare CR line ends too.
    for (char *p = b.data; *p; p++)
        if (*p == '\n')
            *p = '\r';
    json = s_to_json(b.data, 0, 0);
    CU_ASSERT_TRUE(s_eq(json, s_text_json));
    free(json);
    free(crlf);
    tg_buf_fini(&b);
    free(plain);
}

static void
test_sse_to_json_anthropic(void)
{
    //  What the worker writes for a translated Anthropic stream (test_worker_anthropic.c).
#define S_A_HEAD                                                                    \
    "{'id':'chatcmpl-req-1','object':'chat.completion.chunk','created':1700000000," \
    "'model':'claude-sonnet-4-5',"
#define S_A_CHOICE(delta, finish) \
    "'choices':[{'index':0,'delta':" delta ",'logprobs':null,'finish_reason':" finish "}]"
    static const char text[] = "data: " S_A_HEAD S_A_CHOICE(
        "{'role':'assistant','content':''}",
        "null") ",'usage':null}\n\n"
                "data: " S_A_HEAD S_A_CHOICE(
                    "{'content':'Hello'}",
                    "null") ",'usage':null}\n\n"
                            "data: " S_A_HEAD S_A_CHOICE(
                                "{}", "'stop'") ",'usage':null}\n\n"
                                                "data: " S_A_HEAD
                                                "'choices':[],'usage':{'prompt_tokens':35,'"
                                                "completion_tokens':12,"
                                                "'total_tokens':47,'prompt_tokens_details':{'"
                                                "cached_tokens':10}}}\n\n"
                                                "data: [DONE]\n\n";
    char *json = s_to_json(text, 0, 0);
    CU_ASSERT_TRUE(s_eq(json, "{'id':'chatcmpl-req-1','object':'chat.completion','created':"
                              "1700000000,'model':'claude-sonnet-4-5','choices':[{'index':0,"
                              "'message':{'role':'assistant','content':'Hello'},'logprobs':null,"
                              "'finish_reason':'stop'}],'usage':{'prompt_tokens':35,"
                              "'completion_tokens':12,'total_tokens':47,'prompt_tokens_details':"
                              "{'cached_tokens':10}}}"));
    free(json);

    //  Its tool call form: a first chunk with id, name and "" arguments, then the pieces.
    static const char tools[] = "data: " S_A_HEAD S_A_CHOICE(
        "{'role':'assistant','content':''}",
        "null") "}\n\n"
                "data: " S_A_HEAD S_A_CHOICE(
                    "{'content':'Let me look.'}",
                    "null") "}\n\n"
                            "data: " S_A_HEAD S_A_CHOICE(
                                "{'tool_calls':[{'index':0,'id':'toolu_1','type':"
                                "'function','function':{'name':'lookup','arguments':''}}]}",
                                "null") "}\n\n"
                                        "data: " S_A_HEAD S_A_CHOICE(
                                            "{'tool_calls':[{'index':0,'function':{'arguments':"
                                            "'{\\'q\\':'}}]}",
                                            "null") "}\n\n"
                                                    "data: " S_A_HEAD S_A_CHOICE(
                                                        "{'tool_calls':[{'index':0,'function':{'"
                                                        "arguments':"
                                                        "'\\'tea\\'}'}}]}",
                                                        "null") "}\n\n"
                                                                "data: " S_A_HEAD S_A_CHOICE(
                                                                    "{}",
                                                                    "'tool_calls'") "}\n\n"
                                                                                    "data: "
                                                                                    "[DONE]\n\n";
    json = s_to_json(tools, 8, 9);
    CU_ASSERT_TRUE(s_eq(json, "{'id':'chatcmpl-req-1','object':'chat.completion','created':"
                              "1700000000,'model':'claude-sonnet-4-5','choices':[{'index':0,"
                              "'message':{'role':'assistant','content':'Let me look.',"
                              "'tool_calls':[{'id':'toolu_1','type':'function','function':{"
                              "'name':'lookup','arguments':'{\\'q\\':\\'tea\\'}'}}]},"
                              "'logprobs':null,'finish_reason':'tool_calls'}],'usage':{"
                              "'prompt_tokens':8,'completion_tokens':9,'total_tokens':17}}"));
    free(json);
#undef S_A_HEAD
#undef S_A_CHOICE
}

static void
test_sse_to_json_invalid(void)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "\n\n\n",
        ": only a comment\n\n",
        "data: [DONE]\n\n",
        "data: hello\n\n",
        "data: {'id':\n\n",
        "data: {'id':'x','choices':[]}\n\ndata: {'id':'x','choi",  //  cut inside a chunk
        "data: [1,2]\n\n",
        "data: 'a string'\n\n",
        "data: {'id':'x'}\n\n",  //  no choices
        "data: {'id':'x','choices':{}}\n\n",
        "data: {'choices':[1]}\n\n",
        "data: {'choices':[{'delta':{}}]}\n\n",  //  no index
        "data: {'choices':[{'index':'0','delta':{}}]}\n\n",
        "data: {'choices':[{'index':-1,'delta':{}}]}\n\n",
        "data: {'choices':[{'index':0,'delta':[]}]}\n\n",
        "data: {'choices':[{'index':0,'delta':{'content':5}}]}\n\n",
        "data: {'choices':[{'index':0,'delta':{'refusal':{}}}]}\n\n",
        "data: {'choices':[{'index':0,'delta':{'tool_calls':{}}}]}\n\n",
        "data: {'choices':[{'index':0,'delta':{'tool_calls':[7]}}]}\n\n",
        "data: {'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':[]}]}}]}\n\n",
        "data: {'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{"
        "'arguments':1}}]}}]}\n\n",
        "data: {'choices':[{'index':0,'logprobs':{'content':{}}}]}\n\n",
        "data: {'choices':[{'index':0,'logprobs':7}]}\n\n",
        "data: {'choices':[{'index':0,'finish_reason':1}]}\n\n",
        "data: {'choices':[]}\n\ndata: {'error':{'message':'overloaded'}}\n\n",
        "data: {'choices':[]} trailing\n\n",
        "data: \xff\xfe\n\n",
        "data: {'choices':[{'index':0,'delta':{'content':'\xff'}}]}\n\n",  //  not UTF-8
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char *json = s_to_json(bad[k], 1, 1);
        if (json)
            fprintf(stderr, "\naccepted case %zu: %s\n", k, json);
        CU_ASSERT_PTR_NULL(json);
        free(json);
    }
    //  NUL bytes and a NULL pointer.
    char *json = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(tg_cache_form_sse_to_json("data: {\0}\n\n", 11, 0, 0, &json, &len), TG_INVALID);
    CU_ASSERT_EQUAL(tg_cache_form_sse_to_json(NULL, 0, 0, 0, &json, &len), TG_INVALID);
    CU_ASSERT_PTR_NULL(json);
}

static void
test_sse_to_json_odd(void)
{
    //  Events after [DONE] are ignored; a last event without its blank line still counts.
    char *json = s_to_json(S_CHUNK(0, "{'content':'x'}", "'stop'") S_DONE "data: junk\n\n", 1, 1);
    CU_ASSERT_PTR_NOT_NULL(json);
    free(json);
    json = s_to_json("data: {'choices':[{'index':0,'delta':{'content':'x'}}]}", 1, 1);
    CU_ASSERT_TRUE(s_eq(json, "{'object':'chat.completion','choices':[{'index':0,'message':{"
                              "'role':'assistant','content':'x'},'logprobs':null,"
                              "'finish_reason':null}],'usage':{'prompt_tokens':1,"
                              "'completion_tokens':1,'total_tokens':2}}"));
    free(json);

    //  A megabyte with no line end, and one of blank lines: TG_INVALID, no crash.
    size_t n = 1 << 20;
    char *big = tg_zalloc(n + 1);
    memset(big, 'd', n);
    memcpy(big, "data: {", 7);
    char *out = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(tg_cache_form_sse_to_json(big, n, 0, 0, &out, &len), TG_INVALID);
    CU_ASSERT_EQUAL(tg_cache_form_sse_replay(big, n, true, 0, 0, &out, &len), TG_INVALID);
    memset(big, '\n', n);
    CU_ASSERT_EQUAL(tg_cache_form_sse_to_json(big, n, 0, 0, &out, &len), TG_INVALID);
    CU_ASSERT_EQUAL(tg_cache_form_sse_replay(big, n, true, 0, 0, &out, &len), TG_INVALID);
    free(big);

    //  More distinct choice indexes than OpenAI's n allows: refused, not grown without end.
    tg_buf_t b;
    tg_buf_init(&b, SIZE_MAX);
    for (int i = 0; i < 129; i++)
        tg_buf_printf(&b, "data: {\"choices\":[{\"index\":%d,\"delta\":{}}]}\n\n", i * 1000);
    CU_ASSERT_EQUAL(tg_cache_form_sse_to_json(b.data, b.len, 0, 0, &out, &len), TG_INVALID);
    tg_buf_fini(&b);
}

static void
test_cut_and_flipped_bytes(void)
{
    //  Every prefix of a stream and of a completion, and every byte flipped: each call gives
    //  TG_OK or TG_INVALID, never a crash, an overrun or a leak (run under ASan).
    char *sse = s_q(s_tool_stream);
    char *json = s_q(s_tool_json);
    size_t sn = strlen(sse), jn = strlen(json);
    size_t ok = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t cut = 0; cut <= sn; cut++) {
            char *in = tg_zalloc(sn + 1);
            memcpy(in, sse, sn);
            size_t n = pass == 0 ? cut : sn;
            if (pass == 1 && cut < sn)
                in[cut] ^= 0x21;
            char *out = NULL;
            size_t len = 0;
            int rc = tg_cache_form_sse_to_json(in, n, 1, 1, &out, &len);
            CU_ASSERT_TRUE(rc == TG_OK || rc == TG_INVALID);
            ok += rc == TG_OK;
            free(out);
            for (int usage = 0; usage < 2; usage++) {
                rc = tg_cache_form_sse_replay(in, n, usage, 1, 1, &out, &len);
                CU_ASSERT_TRUE(rc == TG_OK || rc == TG_INVALID);
                free(out);
            }
            free(in);
        }
        for (size_t cut = 0; cut <= jn; cut++) {
            char *in = tg_zalloc(jn + 1);
            memcpy(in, json, jn);
            size_t n = pass == 0 ? cut : jn;
            if (pass == 1 && cut < jn)
                in[cut] ^= 0x21;
            char *out = NULL;
            size_t len = 0;
            int rc = tg_cache_form_json_to_sse(in, n, true, &out, &len);
            CU_ASSERT_TRUE(rc == TG_OK || rc == TG_INVALID);
            CU_ASSERT_TRUE(pass == 1 || cut == jn || rc == TG_INVALID);  //  a cut never parses
            free(out);
            free(in);
        }
    }
    CU_ASSERT_TRUE(ok > 0);
    free(json);
    free(sse);
}

//  ---------------------------------------------------------------------------------------
//  JSON -> SSE

static const char s_small_json[] =
    "{'id':'chatcmpl-1','object':'chat.completion','created':1700000000,'model':'gpt-4o',"
    "'system_fingerprint':'fp_1','choices':[{'index':0,'message':{'role':'assistant',"
    "'content':'Hi','refusal':null},'logprobs':null,'finish_reason':'stop'}],'usage':{"
    "'prompt_tokens':5,'completion_tokens':1,'total_tokens':6}}";

#define S_SMALL_HEAD                                                                  \
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk','created':1700000000," \
    "'model':'gpt-4o','system_fingerprint':'fp_1',"

static char *
s_to_sse(const char *json_q, bool include_usage)
{
    char *json = s_q(json_q);
    char *sse = NULL;
    size_t len = 0;
    int rc = tg_cache_form_json_to_sse(json, strlen(json), include_usage, &sse, &len);
    free(json);
    if (rc != TG_OK) {
        CU_ASSERT_EQUAL(rc, TG_INVALID);
        CU_ASSERT_PTR_NULL(sse);
        return NULL;
    }
    CU_ASSERT_EQUAL(len, strlen(sse));
    return sse;
}

static void
test_json_to_sse_exact(void)
{
    char *sse = s_to_sse(s_small_json, true);
    CU_ASSERT_TRUE(s_eq(sse, S_SMALL_HEAD
                        "'choices':[{'index':0,'delta':{'role':'assistant',"
                        "'content':'','refusal':null},'logprobs':null,"
                        "'finish_reason':null}],'usage':null}\n\n" S_SMALL_HEAD
                        "'choices':[{'index':0,'delta':{'content':'Hi'},"
                        "'logprobs':null,'finish_reason':null}],'usage':null}\n\n" S_SMALL_HEAD
                        "'choices':[{'index':0,'delta':{},'logprobs':"
                        "null,'finish_reason':'stop'}],'usage':null}\n\n" S_SMALL_HEAD
                        "'choices':[],'usage':{'prompt_tokens':5,"
                        "'completion_tokens':1,'total_tokens':6}}\n\n"
                        "data: [DONE]\n\n"));
    free(sse);
    sse = s_to_sse(s_small_json, false);
    CU_ASSERT_TRUE(s_eq(sse, S_SMALL_HEAD "'choices':[{'index':0,'delta':{'role':'assistant',"
                                          "'content':'','refusal':null},'logprobs':null,"
                                          "'finish_reason':null}]}\n\n" S_SMALL_HEAD
                                          "'choices':[{'index':0,'delta':{'content':'Hi'},"
                                          "'logprobs':null,'finish_reason':null}]}\n\n" S_SMALL_HEAD
                                          "'choices':[{'index':0,'delta':{},'logprobs':null,"
                                          "'finish_reason':'stop'}]}\n\n"
                                          "data: [DONE]\n\n"));
    free(sse);
}

//  json -> sse -> json gives the same document.
static void
s_round_trip(const char *json_q, bool include_usage)
{
    char *sse = s_to_sse(json_q, include_usage);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sse);
    char *back = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(tg_cache_form_sse_to_json(sse, strlen(sse), 5, 1, &back, &len), TG_OK);
    char *want = s_q(json_q);
    json_t *w = json_loads(want, 0, NULL);
    json_t *g = back ? json_loads(back, 0, NULL) : NULL;
    CU_ASSERT_PTR_NOT_NULL(w);
    bool eq = w && g && json_equal(w, g);
    if (!eq)
        fprintf(stderr, "\nround trip\n got: %s\nwant: %s\n", back, want);
    CU_ASSERT_TRUE(eq);
    json_decref(w);
    json_decref(g);
    free(want);
    free(back);
    free(sse);
}

static void
test_json_sse_round_trip(void)
{
    s_round_trip(s_small_json, true);
    s_round_trip(s_text_json, true);
    s_round_trip(s_tool_json, true);
    //  Without the usage chunk, the counts passed in stand for it.
    s_round_trip("{'id':'c','object':'chat.completion','created':1,'model':'m','choices':[{"
                 "'index':0,'message':{'role':'assistant','content':'x'},'logprobs':null,"
                 "'finish_reason':'length'}],'usage':{'prompt_tokens':5,'completion_tokens':1,"
                 "'total_tokens':6}}",
                 false);
    //  n=2, logprobs, a refusal, content "" and tool calls with content text.
    s_round_trip(
        "{'id':'c','object':'chat.completion','created':1,'model':'m','service_tier':'flex',"
        "'system_fingerprint':null,'choices':[{'index':0,'message':{'role':'assistant',"
        "'content':'ok','refusal':null},'logprobs':{'content':[{'token':'ok','logprob':0,"
        "'bytes':[111,107],'top_logprobs':[]}],'refusal':null},'finish_reason':'stop'},"
        "{'index':1,'message':{'role':'assistant','content':null,'refusal':'no'},'logprobs':"
        "null,'finish_reason':'stop'},{'index':2,'message':{'role':'assistant','content':''},"
        "'logprobs':null,'finish_reason':'length'},{'index':3,'message':{'role':'assistant',"
        "'content':'Calling.','tool_calls':[{'id':'call_1','type':'function','function':{"
        "'name':'f','arguments':'{}'}}]},'logprobs':null,'finish_reason':'tool_calls'}],"
        "'usage':{'prompt_tokens':9,'completion_tokens':9,'total_tokens':18}}",
        true);
}

static void
test_json_to_sse_invalid(void)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "{'id':",
        "[]",
        "{}",
        "{'object':'list','data':[]}",
        "{'object':'chat.completion','choices':{}}",
        "{'choices':[1]}",
        "{'choices':[{'index':0}]}",
        "{'choices':[{'index':'0','message':{}}]}",
        "{'choices':[{'index':0,'message':{'content':5}}]}",
        "{'choices':[{'index':0,'message':{'tool_calls':{}}}]}",
        "{'choices':[{'index':0,'message':{'tool_calls':[1]}}]}",
        "{'choices':[{'index':0,'message':{'tool_calls':[{'id':'c','function':{}}]}}]}",
        "{'choices':[{'index':0,'message':{},'finish_reason':1}]}",
        "{'choices':[{'index':0,'message':{},'logprobs':[]}]}",
        "{'choices':[]} trailing",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char *sse = s_to_sse(bad[k], true);
        if (sse)
            fprintf(stderr, "\naccepted case %zu: %s\n", k, sse);
        CU_ASSERT_PTR_NULL(sse);
        free(sse);
    }
    char *sse = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(tg_cache_form_json_to_sse(NULL, 0, true, &sse, &len), TG_INVALID);
}

//  ---------------------------------------------------------------------------------------
//  Replay

static char *
s_replay(const char *sse_q, bool include_usage, uint64_t tok_in, uint64_t tok_out)
{
    char *sse = s_q(sse_q);
    char *out = NULL;
    size_t len = 0;
    int rc = tg_cache_form_sse_replay(sse, strlen(sse), include_usage, tok_in, tok_out, &out, &len);
    free(sse);
    if (rc != TG_OK) {
        CU_ASSERT_EQUAL(rc, TG_INVALID);
        CU_ASSERT_PTR_NULL(out);
        return NULL;
    }
    CU_ASSERT_EQUAL(len, strlen(out));
    return out;
}

static void
test_replay_usage(void)
{
    //  Kept as is, or the usage chunk dropped and every other byte the same.
    char *out = s_replay(s_text_stream, true, 0, 0);
    CU_ASSERT_TRUE(s_eq(out, s_text_stream));
    free(out);
    out = s_replay(s_text_stream, false, 0, 0);
    CU_ASSERT_TRUE(s_eq(out, S_TEXT_BODY S_DONE));
    free(out);

    //  No usage chunk: one is added before [DONE] from the first chunk and the counts.
    out = s_replay(s_tool_stream, false, 50, 20);
    CU_ASSERT_TRUE(s_eq(out, s_tool_stream));
    free(out);
#define S_ADDED                                                                         \
    "data: " S_HEAD ",'choices':[],'usage':{'prompt_tokens':50,'completion_tokens':20," \
    "'total_tokens':70}}\n\n"
    out = s_replay(s_tool_stream, true, 50, 20);
    char *want = s_q(s_tool_stream);
    char *done = strstr(want, "data: [DONE]");
    *done = 0;
    char *added = s_q(S_ADDED);
    char *expect = tg_strfmt("%s%sdata: [DONE]\n\n", want, added);
    CU_ASSERT_STRING_EQUAL(out, expect);
    free(expect);
    free(want);
    free(out);

    //  No [DONE] either: at the end, after closing a last event cut before its blank line.
    out = s_replay(S_TEXT_BODY, true, 50, 20);
    CU_ASSERT_TRUE(s_eq(out, S_TEXT_BODY S_ADDED));
    free(out);
    static const char cut[] = "data: " S_HEAD ",'choices':[]}";
    out = s_replay(cut, true, 50, 20);
    CU_ASSERT_TRUE(s_eq(out, "data: " S_HEAD ",'choices':[]}\n\n" S_ADDED));
    free(out);
    free(added);
#undef S_ADDED

    //  A usage object on a chunk that has choices is not the usage chunk: kept.
    static const char mixed[] =
        "data: {'id':'x','choices':[{'index':0,'delta':{},'finish_reason':'stop'}],"
        "'usage':{'prompt_tokens':1,'completion_tokens':1,'total_tokens':2}}\n\n" S_DONE;
    out = s_replay(mixed, false, 0, 0);
    CU_ASSERT_TRUE(s_eq(out, mixed));
    free(out);
    //  "usage" inside content is text, not a member.
    static const char quoted[] =
        "data: {'id':'x','choices':[{'index':0,'delta':{'content':'\\'usage\\':{}'}}]}\n\n" S_DONE;
    out = s_replay(quoted, false, 0, 0);
    CU_ASSERT_TRUE(s_eq(out, quoted));
    free(out);
}

static void
test_replay_crlf_comments(void)
{
    //  CRLF, comments and named events pass byte for byte; only the usage event goes.
    char *body = s_q(": keep-alive\n\nevent: message\n" S_TEXT_BODY ": ping\n\n");
    char *usage = s_q(S_USAGE_CHUNK);
    char *all = tg_strfmt("%s%s%s", body, usage, "data: [DONE]\n\n: bye\n\n");
    char *want = tg_strfmt("%s%s", body, "data: [DONE]\n\n: bye\n\n");
    char *all_crlf = s_crlf(all), *want_crlf = s_crlf(want);
    char *out = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(tg_cache_form_sse_replay(all_crlf, strlen(all_crlf), false, 0, 0, &out, &len),
                    TG_OK);
    CU_ASSERT_STRING_EQUAL(out, want_crlf);
    free(out);
    CU_ASSERT_EQUAL(tg_cache_form_sse_replay(all_crlf, strlen(all_crlf), true, 0, 0, &out, &len),
                    TG_OK);
    CU_ASSERT_STRING_EQUAL(out, all_crlf);
    free(out);
    free(all_crlf);
    free(want_crlf);
    free(all);
    free(want);
    free(usage);
    free(body);
}

static void
test_replay_invalid(void)
{
    static const char *const bad[] = {
        "",
        "garbage",
        ": only a comment\n\n",
        "data: [DONE]\n\n",
        "data: hello\n\n",
        "data: {'id':'x','choices':[]}\n\ndata: oops\n\n",
        "data: {'id':'x','choices':[]}\n\ndata: {'id':'x','choi",  //  cut inside a chunk
        "data: {'choices':[],'usage':{'prompt_tokens':1}\n\n",     //  looks closed, is not
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        for (int usage = 0; usage < 2; usage++) {
            char *out = s_replay(bad[k], usage, 1, 1);
            if (out)
                fprintf(stderr, "\naccepted case %zu: %s\n", k, out);
            CU_ASSERT_PTR_NULL(out);
            free(out);
        }
    }
    //  With include_usage and no usage chunk the first chunk is parsed: it must be JSON.
    CU_ASSERT_PTR_NULL(s_replay("data: {not json}\n\ndata: [DONE]\n\n", true, 1, 1));
    char *out = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(tg_cache_form_sse_replay(NULL, 0, true, 0, 0, &out, &len), TG_INVALID);
}

//  A 140-event stream: role chunk, 136 content chunks, finish, usage, [DONE] (with usage
//  or without it).
static char *
s_long_stream(bool usage)
{
    char *role = s_q(S_CHUNK(0, "{'role':'assistant','content':'','refusal':null}", "null"));
    char *piece = s_q(S_CHUNK(0, "{'content':' word'}", "null"));
    char *finish = s_q(S_CHUNK(0, "{}", "'stop'") S_USAGE_CHUNK);
    tg_buf_t b;
    tg_buf_init(&b, SIZE_MAX);
    tg_buf_puts(&b, role);
    for (int i = 0; i < 136; i++)
        tg_buf_puts(&b, piece);
    tg_buf_append(&b, finish,
                  usage ? strlen(finish) : (size_t)(strstr(finish, "\n\n") - finish + 2));
    tg_buf_puts(&b, S_DONE);
    free(role);
    free(piece);
    free(finish);
    return tg_buf_take(&b, NULL);
}

static void
test_replay_cost(void)
{
    //  Rough cost of the cache-hit fast path, printed for the record (no timing assert; this
    //  is the sanitizer build).
    const struct {
        bool stored_usage;   //  the stored stream has its usage chunk
        bool include_usage;  //  what the client asks
        const char *what;    //  for the printout
    } cases[] = {
        {true, true, "kept"},
        {true, false, "dropped"},
        {false, true, "added"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *sse = s_long_stream(cases[k].stored_usage);
        size_t n = strlen(sse), len = 0;
        char *out = NULL;
        CU_ASSERT_EQUAL(tg_cache_form_sse_replay(sse, n, cases[k].include_usage, 7, 8, &out, &len),
                        TG_OK);
        if (cases[k].stored_usage && cases[k].include_usage)
            CU_ASSERT_TRUE(len == n && memcmp(out, sse, n) == 0);
        free(out);
        int rounds = 500;
        int64_t t0 = tg_mono_us();
        for (int i = 0; i < rounds; i++) {
            tg_cache_form_sse_replay(sse, n, cases[k].include_usage, 7, 8, &out, &len);
            free(out);
        }
        double us = (double)(tg_mono_us() - t0) / rounds;
        fprintf(stderr, "\n  replay, usage %s: %.1f us per 140-event stream (%zu bytes)",
                cases[k].what, us, n);
        free(sse);
    }
}

void
test_cache_form_register(void)
{
    CU_pSuite s = CU_add_suite("cache_form", NULL, NULL);
    CU_add_test(s, "sse to json: text stream", test_sse_to_json_text);
    CU_add_test(s, "sse to json: tool calls", test_sse_to_json_tool_calls);
    CU_add_test(s, "sse to json: n=2, logprobs", test_sse_to_json_n2);
    CU_add_test(s, "sse to json: refusal", test_sse_to_json_refusal);
    CU_add_test(s, "sse to json: crlf, comments, events", test_sse_to_json_crlf_comments_events);
    CU_add_test(s, "sse to json: anthropic translation", test_sse_to_json_anthropic);
    CU_add_test(s, "sse to json: invalid", test_sse_to_json_invalid);
    CU_add_test(s, "sse to json: odd input", test_sse_to_json_odd);
    CU_add_test(s, "cut and flipped bytes", test_cut_and_flipped_bytes);
    CU_add_test(s, "json to sse: exact bytes", test_json_to_sse_exact);
    CU_add_test(s, "json to sse to json", test_json_sse_round_trip);
    CU_add_test(s, "json to sse: invalid", test_json_to_sse_invalid);
    CU_add_test(s, "replay: usage dropped, kept, added", test_replay_usage);
    CU_add_test(s, "replay: crlf and comments", test_replay_crlf_comments);
    CU_add_test(s, "replay: invalid", test_replay_invalid);
    CU_add_test(s, "replay: cost", test_replay_cost);
}
