//  test_ingest_validate.c - ingest: the chat and embeddings body checks (tg_validate), and
//  the ingest core on a real loop: an HTTP client and a fake router in the same process.
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "tg_config.h"
#include "tg_evzmq.h"
#include "tg_frame.h"
#include "tg_util.h"
#include "tg_validate.h"

typedef struct {
    const char *body;   //  JSON text
    const char *param;  //  expected param; NULL = valid body; "" = invalid with param null
    const char *words;  //  a fragment the message must hold (NULL = any)
} s_case_t;

static const s_case_t s_chat_cases[] = {
    {"{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, NULL},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, NULL},  //  agent default
    {"{\"model\":null,\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
     "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]},"
     "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]},"
     "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"r\"}],"
     "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":2,"
     "\"top_p\":0,\"max_tokens\":1,\"max_completion_tokens\":10,\"n\":128,\"stop\":[\"a\"],"
     "\"seed\":-3,\"user\":\"u\",\"tool_choice\":\"auto\",\"response_format\":{}}",
     NULL, NULL},
    {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[]}]}", NULL, NULL},
    {"[]", "", "expected an object, but got an array"},
    {"\"x\"", "", "got a string"},
    {"{}", "messages", "Missing required parameter: 'messages'"},
    {"{\"messages\":{}}", "messages", "expected an array"},
    {"{\"messages\":[]}", "messages", "empty array"},
    {"{\"model\":3,\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}", "model",
     "expected a string, but got an integer"},
    {"{\"messages\":[\"hi\"]}", "messages[0]", "expected an object"},
    {"{\"messages\":[{\"content\":\"a\"}]}", "messages[0].role", "Missing required"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"robot\",\"content\":\"a\"}]"
     "}",
     "messages[1].role", "Invalid value: 'robot'"},
    {"{\"messages\":[{\"role\":7,\"content\":\"a\"}]}", "messages[0].role", "expected a string"},
    {"{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content", "Missing required"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content",
     "string or array of objects, but got an integer"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[1]}]}", "messages[0].content[0]",
     "expected an object"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}",
     "messages[0].content[0].type", "Missing required"},
    {"{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "messages[0].tool_call_id",
     "Missing required"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\",\"name\":1}]}", "messages[0].name",
     "expected a string"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stream\":\"yes\"}", "stream",
     "expected a boolean"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stream_options\":true}",
     "stream_options", "expected an object"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stream_options\":"
     "{\"include_usage\":1}}",
     "stream_options.include_usage", "expected a boolean"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"temperature\":2.5}", "temperature",
     "above maximum value. Expected a value <= 2, but got 2.5"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"temperature\":-0.1}", "temperature",
     "below minimum"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"temperature\":\"hot\"}",
     "temperature", "expected a number"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"top_p\":1.01}", "top_p",
     "above maximum"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":0}", "max_tokens",
     "integer below minimum value. Expected a value >= 1, but got 0"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":1.5}", "max_tokens",
     "expected an integer, but got a decimal"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_completion_tokens\":-1}",
     "max_completion_tokens", "below minimum"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":129}", "n", "above maximum"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":0}", "n", "below minimum"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[\"a\",2]}", "stop[1]",
     "expected a string"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\","
     "\"e\"]}",
     "stop", "maximum length 4"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":{}}", "tools",
     "expected an array"},
};

static const s_case_t s_embeddings_cases[] = {
    {"{\"model\":\"text-embedding-3-small\",\"input\":\"hello\"}", NULL, NULL},
    {"{\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\",\"dimensions\":256}", NULL, NULL},
    {"{\"input\":[1,2,3],\"encoding_format\":\"float\"}", NULL, NULL},
    {"{\"input\":[[1,2],[3]],\"user\":\"u\"}", NULL, NULL},
    {"[1]", "", "expected an object"},
    {"{}", "input", "Missing required parameter: 'input'"},
    {"{\"input\":null}", "input", "Missing required"},
    {"{\"input\":\"\"}", "input", "empty string"},
    {"{\"input\":[]}", "input", "empty array"},
    {"{\"input\":3}", "input", "but got an integer"},
    {"{\"input\":[{}]}", "input[0]", "but got an object"},
    {"{\"input\":[\"a\",1]}", "input[1]", "expected a string, but got an integer"},
    {"{\"input\":[\"a\",\"\"]}", "input[1]", "empty string"},
    {"{\"input\":[1,-2]}", "input[1]", "non-negative integer"},
    {"{\"input\":[1,\"a\"]}", "input[1]", "non-negative integer"},
    {"{\"input\":[[1],[]]}", "input[1]", "empty array"},
    {"{\"input\":[[1],[2,\"x\"]]}", "input[1][1]", "token id"},
    {"{\"input\":[[1],5]}", "input[1]", "an array of token ids"},
    {"{\"input\":\"a\",\"model\":[]}", "model", "expected a string"},
    {"{\"input\":\"a\",\"encoding_format\":\"hex\"}", "encoding_format",
     "Invalid value: 'hex'. Supported values are: 'float' and 'base64'."},
    {"{\"input\":\"a\",\"encoding_format\":1}", "encoding_format", "expected a string"},
    {"{\"input\":\"a\",\"dimensions\":0}", "dimensions", "below minimum"},
    {"{\"input\":\"a\",\"dimensions\":\"8\"}", "dimensions", "expected an integer"},
};

static void
s_run(const s_case_t *cases, size_t n, int (*check)(const json_t *, char **, char **))
{
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *body = json_loads(cases[i].body, JSON_DECODE_ANY, &jerr);
        CU_ASSERT_PTR_NOT_NULL_FATAL(body);
        char *msg = NULL, *param = NULL;
        int rc = check(body, &msg, &param);
        if (!cases[i].param) {
            CU_ASSERT_EQUAL(rc, TG_OK);
            CU_ASSERT_PTR_NULL(msg);
            CU_ASSERT_PTR_NULL(param);
        } else {
            CU_ASSERT_EQUAL(rc, TG_INVALID);
            CU_ASSERT_PTR_NOT_NULL(msg);
            if (*cases[i].param) {
                CU_ASSERT(param && strcmp(param, cases[i].param) == 0);
            } else {
                CU_ASSERT_PTR_NULL(param);
            }
            if (cases[i].words) {
                CU_ASSERT(msg && strstr(msg, cases[i].words));
            }
        }
        bool param_ok =
            !cases[i].param || (*cases[i].param ? param && !strcmp(param, cases[i].param) : !param);
        if ((rc == TG_OK) != (cases[i].param == NULL) || !param_ok
            || (cases[i].words && (!msg || !strstr(msg, cases[i].words))))
            fprintf(stderr, "\n  case %zu: %s -> rc=%d param=%s msg=%s\n", i, cases[i].body, rc,
                    param ? param : "(null)", msg ? msg : "(null)");
        free(msg);
        free(param);
        json_decref(body);
    }
}

static void
test_chat(void)
{
    s_run(s_chat_cases, sizeof s_chat_cases / sizeof s_chat_cases[0], tg_validate_chat);
}

static void
test_embeddings(void)
{
    s_run(s_embeddings_cases, sizeof s_embeddings_cases / sizeof s_embeddings_cases[0],
          tg_validate_embeddings);
}

static void
test_limits(void)
{
    //  Too many inputs, and a client string cut on a character boundary in the message.
    json_t *arr = json_array();
    for (int i = 0; i <= TG_VALIDATE_MAX_INPUTS; i++)
        json_array_append_new(arr, json_string("x"));
    json_t *body = json_pack("{so}", "input", arr);
    char *msg = NULL, *param = NULL;
    CU_ASSERT_EQUAL(tg_validate_embeddings(body, &msg, &param), TG_INVALID);
    CU_ASSERT_STRING_EQUAL(param, "input");
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "maximum length 2048"));
    free(msg);
    free(param);
    json_decref(body);

    char role[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(role, "\xc3\xa9");  //  "é" x 40 = 80 bytes
    body = json_pack("{s[{ssss}]}", "messages", "role", role, "content", "x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_EQUAL(tg_validate_chat(body, &msg, &param), TG_INVALID);
    CU_ASSERT_STRING_EQUAL(param, "messages[0].role");
    json_t *check = json_string(msg);  //  NULL if the cut broke UTF-8
    CU_ASSERT_PTR_NOT_NULL(check);
    json_decref(check);
    free(msg);
    free(param);
    json_decref(body);
    CU_ASSERT_STRING_EQUAL(tg_validate_type_name(json_null()), "null");
}

//  ---- the ingest core, driven over HTTP, with a fake router on the same loop ----

typedef enum { R_REPLY, R_STREAM, R_SILENT, R_HANGUP } s_mode_t;

typedef struct {
    char dir[64];                    //  run and data dirs live here
    tg_config_t *cfg;                //  ingest's config
    struct event_base *base;         //  one loop for everything
    ingest_t *ingest;                //  under test
    zsock_t *router;                 //  PULL at endpoints.router (the fake router)
    zsock_t *reply;                  //  PUSH to ingest's inbox
    tg_evzmq_t *router_reader;       //  fake router on the loop
    struct evhttp_connection *conn;  //  the client's connection
    s_mode_t mode;                   //  how the fake router answers
    tg_frame_t *seen;                //  last REQUEST or QUERY the router got (CANCELs aside)
    char cancelled[64];              //  id of the last CANCEL seen
    int status;                      //  client: response status (0 = none)
    char *body;                      //  client: response body
    char rid[160], cache[32], provider[32], ctype[64], retry[16];  //  client: headers
    bool done;                                                     //  the awaited event happened
} s_env_t;

static s_env_t s_env;

static void
s_push(tg_frame_t *f)
{
    tg_frame_send(&f, s_env.reply);
}

static void s_on_cancel(const tg_frame_t *f);

static void
s_on_router(tg_frame_t **frame_p, void *arg)
{
    (void)arg;
    if ((*frame_p)->type == TG_FRAME_CANCEL) {  //  cancels go to the router too
        s_on_cancel(*frame_p);
        return;
    }
    tg_frame_destroy(&s_env.seen);
    s_env.seen = *frame_p;
    *frame_p = NULL;
    tg_frame_t *in = s_env.seen;
    const char *id = in->type == TG_FRAME_QUERY ? in->query.id : in->request.id;
    if (in->type == TG_FRAME_QUERY) {
        tg_frame_t *r = tg_frame_new(TG_FRAME_REPLY);
        r->reply.id = tg_strdup(id);
        r->reply.status = 200;
        char *b = tg_strfmt("{\"path\":\"%s\",\"args\":\"%s\"}", in->query.path,
                            in->query.args ? in->query.args : "");
        tg_frame_give_body(r, &b, strlen(b));
        s_push(r);
    } else if (s_env.mode == R_REPLY) {
        tg_frame_t *r = tg_frame_new(TG_FRAME_REPLY);
        r->reply.id = tg_strdup(id);
        r->reply.status = 429;
        r->reply.cache = tg_strdup("hit");
        r->reply.provider = tg_strdup("p1");
        r->reply.model = tg_strdup("m1");
        r->reply.retry_after = 7;
        tg_frame_set_body(r, "{\"ok\":1}", 8);
        s_push(r);
    } else if (s_env.mode == R_STREAM) {
        tg_frame_t *h = tg_frame_new(TG_FRAME_HEAD);
        h->head.id = tg_strdup(id);
        h->head.status = 200;
        h->head.provider = tg_strdup("p2");
        s_push(h);
        const char *parts[] = {"data: {\"a\":1}\n\n", "data: [DONE]\n\n"};
        for (int i = 0; i < 2; i++) {
            tg_frame_t *c = tg_frame_new(TG_FRAME_CHUNK);
            c->chunk.id = tg_strdup(id);
            tg_frame_set_body(c, parts[i], strlen(parts[i]));
            s_push(c);
        }
        tg_frame_t *e = tg_frame_new(TG_FRAME_END);
        e->end.id = tg_strdup(id);
        s_push(e);
    } else if (s_env.mode == R_HANGUP) {
        evhttp_connection_free(s_env.conn);  //  the client goes away mid-call
        s_env.conn = NULL;
    }
}

static void
s_on_cancel(const tg_frame_t *f)
{
    snprintf(s_env.cancelled, sizeof s_env.cancelled, "%s", f->cancel.id);
    if (s_env.mode == R_HANGUP)
        event_base_loopbreak(s_env.base);
}

static void
s_copy_header(struct evhttp_request *req, const char *name, char *out, size_t size)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    snprintf(out, size, "%s", v ? v : "");
}

static void
s_on_response(struct evhttp_request *req, void *arg)
{
    (void)arg;
    s_env.done = true;
    if (req && evhttp_request_get_response_code(req)) {
        s_env.status = evhttp_request_get_response_code(req);
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        free(s_env.body);
        s_env.body = tg_zalloc(n + 1);
        evbuffer_copyout(in, s_env.body, n);
        s_copy_header(req, "x-request-id", s_env.rid, sizeof s_env.rid);
        s_copy_header(req, "x-cache", s_env.cache, sizeof s_env.cache);
        s_copy_header(req, "x-tollgate-provider", s_env.provider, sizeof s_env.provider);
        s_copy_header(req, "Content-Type", s_env.ctype, sizeof s_env.ctype);
        s_copy_header(req, "Retry-After", s_env.retry, sizeof s_env.retry);
    }
    if (s_env.mode != R_HANGUP)
        event_base_loopbreak(s_env.base);
}

static void
s_on_safety(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopbreak(s_env.base);  //  the test then fails on what did not happen
}

//  Sends one request (headers as "Name: value" strings, NULL-terminated) and runs the loop
//  until its answer (or the CANCEL, in R_HANGUP mode), at most 3 s.
static void
s_http(enum evhttp_cmd_type method, const char *path, const char *body, ...)
{
    s_env.done = false;
    s_env.status = 0;
    s_env.cancelled[0] = 0;
    if (!s_env.conn) {
        const char *addr = ingest_http_address(s_env.ingest);
        s_env.conn =
            evhttp_connection_base_new(s_env.base, NULL, "127.0.0.1",
                                       (unsigned short)strtol(strrchr(addr, ':') + 1, NULL, 10));
    }
    struct evhttp_request *req = evhttp_request_new(s_on_response, NULL);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", "127.0.0.1");
    va_list ap;
    va_start(ap, body);
    for (const char *kv = va_arg(ap, const char *); kv; kv = va_arg(ap, const char *)) {
        char name[64];
        const char *colon = strchr(kv, ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon - kv), kv);
        evhttp_add_header(h, name, colon + 2);
    }
    va_end(ap);
    if (body)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    evhttp_make_request(s_env.conn, req, method, path);
    struct event *safety = evtimer_new(s_env.base, s_on_safety, NULL);
    struct timeval tv = {3, 0};
    evtimer_add(safety, &tv);
    event_base_dispatch(s_env.base);
    event_free(safety);
}

static int
s_core_setup(void)
{
    const char *vars[] = {"TOLLGATE_HTTP_PORT",       "TOLLGATE_HTTP_HOST",
                          "TOLLGATE_MASTER_KEY",      "TOLLGATE_RUN_DIR",
                          "TOLLGATE_DATA_DIR",        "TOLLGATE_ROUTER_ENDPOINT",
                          "TOLLGATE_BUS_IN_ENDPOINT", "TOLLGATE_BUS_OUT_ENDPOINT",
                          "TOLLGATE_INGEST_ENDPOINT", "TOLLGATE_MAX_BODY_BYTES"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    snprintf(s_env.dir, sizeof s_env.dir, "/tmp/tg-ingest-XXXXXX");
    if (!mkdtemp(s_env.dir))
        return -1;
    char *yaml = tg_strfmt("run_dir: %s/run\ndata_dir: %s/data\nmaster_key: sk-unit-key\n"
                           "log:\n  level: error\n"
                           "http:\n  host: 127.0.0.1\n  port: 0\n  timeout_ms: 1000\n"
                           "  max_body_bytes: 2048\n",
                           s_env.dir, s_env.dir);
    s_env.cfg = tg_config_load_string(yaml);
    free(yaml);
    if (!s_env.cfg || tg_config_ensure_dirs(s_env.cfg) != 0)
        return -1;
    s_env.router = zsock_new(ZMQ_PULL);
    if (zsock_bind(s_env.router, "%s", tg_config_str(s_env.cfg, "endpoints.router")) < 0)
        return -1;
    s_env.base = event_base_new();
    s_env.ingest = ingest_new(s_env.cfg, s_env.base);
    if (!s_env.ingest)
        return -1;
    s_env.reply = zsock_new_push(tg_config_str(s_env.cfg, "endpoints.ingest"));
    s_env.router_reader = tg_evzmq_new(s_env.base, s_env.router, s_on_router, NULL);
    return 0;
}

static int
s_core_teardown(void)
{
    if (s_env.conn)
        evhttp_connection_free(s_env.conn);
    tg_evzmq_destroy(&s_env.router_reader);
    ingest_destroy(&s_env.ingest);
    zsock_destroy(&s_env.reply);
    zsock_destroy(&s_env.router);
    tg_frame_destroy(&s_env.seen);
    if (s_env.base)
        event_base_free(s_env.base);
    tg_config_destroy(&s_env.cfg);
    free(s_env.body);
    char *cmd = tg_strfmt("rm -rf '%s'", s_env.dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

#define S_AUTH "Authorization: Bearer sk-unit-key"

static void
test_core_reply(void)
{
    const char *body =
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    s_env.mode = R_REPLY;
    s_http(EVHTTP_REQ_POST, "/v1/chat/completions", body, S_AUTH, "x-request-id: unit-1",
           "x-agent-id: bot", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s_env.seen);
    CU_ASSERT_EQUAL_FATAL(s_env.seen->type, TG_FRAME_REQUEST);
    tg_fr_request_t *rq = &s_env.seen->request;
    CU_ASSERT_STRING_EQUAL(rq->route, "chat");
    CU_ASSERT_STRING_EQUAL(rq->model, "gpt-4o");
    CU_ASSERT_STRING_EQUAL(rq->agent, "bot");
    CU_ASSERT_STRING_EQUAL(rq->key, "master");
    CU_ASSERT_STRING_EQUAL(rq->reply_to, tg_config_str(s_env.cfg, "endpoints.ingest"));
    CU_ASSERT_STRING_NOT_EQUAL(rq->id, "unit-1");  //  the frame id is always our own
    CU_ASSERT_FALSE(rq->stream);
    CU_ASSERT(rq->t0 > 0);
    CU_ASSERT_EQUAL(s_env.seen->body_len, strlen(body));  //  the client's bytes, unchanged
    CU_ASSERT(s_env.seen->body && memcmp(s_env.seen->body, body, strlen(body)) == 0);
    CU_ASSERT_EQUAL(s_env.status, 429);
    CU_ASSERT_STRING_EQUAL(s_env.body, "{\"ok\":1}");
    CU_ASSERT_STRING_EQUAL(s_env.rid, "unit-1");
    CU_ASSERT_STRING_EQUAL(s_env.cache, "hit");
    CU_ASSERT_STRING_EQUAL(s_env.provider, "p1");
    CU_ASSERT_STRING_EQUAL(s_env.retry, "7");
    CU_ASSERT_STRING_EQUAL(s_env.ctype, "application/json");
    CU_ASSERT_EQUAL(ingest_in_flight(s_env.ingest), 0);
}

static void
test_core_stream(void)
{
    s_env.mode = R_STREAM;
    s_http(EVHTTP_REQ_POST, "/v1/chat/completions",
           "{\"stream\":true,\"stream_options\":{\"include_usage\":true},"
           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
           S_AUTH, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s_env.seen);
    CU_ASSERT_TRUE(s_env.seen->request.stream);
    CU_ASSERT_TRUE(s_env.seen->request.usage);
    CU_ASSERT_PTR_NULL(s_env.seen->request.model);  //  none: the router applies a default
    CU_ASSERT_EQUAL(s_env.status, 200);
    CU_ASSERT_STRING_EQUAL(s_env.ctype, "text/event-stream");
    CU_ASSERT_STRING_EQUAL(s_env.provider, "p2");
    CU_ASSERT_STRING_EQUAL(s_env.body, "data: {\"a\":1}\n\ndata: [DONE]\n\n");
    CU_ASSERT_NSTRING_EQUAL(s_env.rid, "req_", 4);
}

static void
test_core_errors(void)
{
    s_env.mode = R_REPLY;
    tg_frame_destroy(&s_env.seen);
    s_http(EVHTTP_REQ_GET, "/v1/models", NULL, NULL);
    CU_ASSERT_EQUAL(s_env.status, 401);
    CU_ASSERT_PTR_NOT_NULL(strstr(s_env.body, "\"code\":\"invalid_api_key\""));
    CU_ASSERT_NSTRING_EQUAL(s_env.rid, "req_", 4);
    s_http(EVHTTP_REQ_GET, "/v1/models", NULL, "Authorization: Bearer sk-unit-kez", NULL);
    CU_ASSERT_EQUAL(s_env.status, 401);
    CU_ASSERT_PTR_NULL(strstr(s_env.body, "sk-unit-kez"));  //  never echoed
    s_http(EVHTTP_REQ_POST, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\"}]}", S_AUTH,
           "x-request-id: bad-1", NULL);
    CU_ASSERT_EQUAL(s_env.status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(s_env.body, "\"param\":\"messages[0].content\""));
    CU_ASSERT_STRING_EQUAL(s_env.rid, "bad-1");
    s_http(EVHTTP_REQ_POST, "/v1/embeddings", "{\"input\":", S_AUTH, NULL);
    CU_ASSERT_EQUAL(s_env.status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(s_env.body, "could not parse the JSON body"));
    s_http(EVHTTP_REQ_POST, "/v1/chat/completions", "{\"messages\":[]}", S_AUTH,
           "x-agent-id: has space", NULL);
    CU_ASSERT_EQUAL(s_env.status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(s_env.body, "\"param\":\"x-agent-id\""));
    s_http(EVHTTP_REQ_GET, "/v1/nothing", NULL, S_AUTH, NULL);
    CU_ASSERT_EQUAL(s_env.status, 404);
    CU_ASSERT_PTR_NOT_NULL(strstr(s_env.body, "Invalid URL (GET /v1/nothing)"));
    s_http(EVHTTP_REQ_GET, "/v1/embeddings", NULL, S_AUTH, NULL);
    CU_ASSERT_EQUAL(s_env.status, 405);
    CU_ASSERT_PTR_NULL(s_env.seen);  //  none of these reached the router
    s_http(EVHTTP_REQ_GET, "/healthz", NULL, NULL);
    CU_ASSERT_EQUAL(s_env.status, 200);
    s_http(EVHTTP_REQ_GET, "/readyz", NULL, NULL);  //  no peer has sent STATS
    CU_ASSERT_EQUAL(s_env.status, 503);
    CU_ASSERT_PTR_NOT_NULL(strstr(s_env.body, "\"missing\":[\"router\",\"worker\""));
}

static void
test_core_query(void)
{
    s_env.mode = R_REPLY;
    s_http(EVHTTP_REQ_GET, "/v1/models?limit=2", NULL, S_AUTH, NULL);
    CU_ASSERT_EQUAL(s_env.status, 200);
    CU_ASSERT_STRING_EQUAL(s_env.body, "{\"path\":\"/v1/models\",\"args\":\"limit=2\"}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s_env.seen);
    CU_ASSERT_EQUAL(s_env.seen->type, TG_FRAME_QUERY);
    CU_ASSERT_STRING_EQUAL(s_env.seen->query.method, "GET");
    CU_ASSERT_STRING_EQUAL(s_env.seen->query.key, "master");
}

static void
test_core_hangup_and_timeout(void)
{
    //  The client leaves while its answer is due: ingest sends the router CANCEL for the call.
    s_env.mode = R_HANGUP;
    s_http(EVHTTP_REQ_POST, "/v1/chat/completions",
           "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", S_AUTH, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s_env.seen);
    CU_ASSERT_STRING_EQUAL(s_env.cancelled, s_env.seen->request.id);
    CU_ASSERT_EQUAL(ingest_in_flight(s_env.ingest), 0);
    //  Nothing comes back: 504 after http.timeout_ms, and CANCEL for the workers.
    s_env.mode = R_SILENT;
    s_http(EVHTTP_REQ_POST, "/v1/chat/completions",
           "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", S_AUTH, NULL);
    CU_ASSERT_EQUAL(s_env.status, 504);
    CU_ASSERT_PTR_NOT_NULL(strstr(s_env.body, "\"code\":\"timeout\""));
    CU_ASSERT_EQUAL(ingest_in_flight(s_env.ingest), 0);
}

//  POST /v1/messages: x-api-key auth, route "messages", never cached, and every error in
//  Anthropic's form (the router's reply here is a 429 with a non-Anthropic body).
static void
test_core_messages(void)
{
    const char *body = "{\"model\":\"claude-x\",\"max_tokens\":5,\"stream\":false,"
                       "\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    s_env.mode = R_REPLY;
    tg_frame_destroy(&s_env.seen);
    s_http(EVHTTP_REQ_POST, "/v1/messages", body, "x-api-key: sk-unit-key",
           "anthropic-version: 2023-06-01", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s_env.seen);
    tg_fr_request_t *rq = &s_env.seen->request;
    CU_ASSERT_STRING_EQUAL(rq->route, "messages");
    CU_ASSERT_STRING_EQUAL(rq->model, "claude-x");
    CU_ASSERT_PTR_NULL(rq->ckey);  //  not cached, even at temperature 0
    CU_ASSERT_FALSE(rq->usage);
    CU_ASSERT_EQUAL(s_env.seen->body_len, strlen(body));
    CU_ASSERT_EQUAL(s_env.status, 429);
    CU_ASSERT_STRING_EQUAL(s_env.body, "{\"type\":\"error\",\"error\":{\"type\":"
                                       "\"rate_limit_error\",\"message\":\"upstream returned "
                                       "HTTP 429\"}}");
    CU_ASSERT_STRING_EQUAL(s_env.retry, "7");
    tg_frame_destroy(&s_env.seen);
    s_http(EVHTTP_REQ_POST, "/v1/messages", "{\"model\":\"m\",\"messages\":[]}", S_AUTH, NULL);
    CU_ASSERT_EQUAL(s_env.status, 400);
    CU_ASSERT_STRING_EQUAL(s_env.body, "{\"type\":\"error\",\"error\":{\"type\":"
                                       "\"invalid_request_error\",\"message\":\"max_tokens: "
                                       "Field required\"}}");
    s_http(EVHTTP_REQ_POST, "/v1/messages", body, "x-api-key: sk-wrong", NULL);
    CU_ASSERT_EQUAL(s_env.status, 401);
    CU_ASSERT_PTR_NOT_NULL(strstr(s_env.body, "{\"type\":\"error\",\"error\":{\"type\":"
                                              "\"authentication_error\""));
    CU_ASSERT_PTR_NULL(s_env.seen);  //  neither reached the router
    //  Chat errors keep OpenAI's form.
    s_http(EVHTTP_REQ_POST, "/v1/chat/completions", "{\"messages\":[]}", "x-api-key: sk-wrong",
           NULL);
    CU_ASSERT_EQUAL(s_env.status, 401);
    CU_ASSERT_PTR_NOT_NULL(strstr(s_env.body, "\"code\":\"invalid_api_key\""));
}

void
test_ingest_validate_register(void)
{
    CU_pSuite s = CU_add_suite("ingest_validate", NULL, NULL);
    CU_add_test(s, "chat bodies", test_chat);
    CU_add_test(s, "embeddings bodies", test_embeddings);
    CU_add_test(s, "limits and clipping", test_limits);
    CU_pSuite c = CU_add_suite("ingest core", s_core_setup, s_core_teardown);
    CU_add_test(c, "chat call answered by REPLY", test_core_reply);
    CU_add_test(c, "stream relayed chunk by chunk", test_core_stream);
    CU_add_test(c, "auth, validation, routes", test_core_errors);
    CU_add_test(c, "queries", test_core_query);
    CU_add_test(c, "POST /v1/messages: x-api-key, route, Anthropic errors", test_core_messages);
    CU_add_test(c, "hang-up cancels, silence times out", test_core_hangup_and_timeout);
}
