//  ingest_routes.c - the routes: dispatch, auth, the LLM calls and queries sent on, and the
//  answers ingest gives itself (/healthz, /readyz, /metrics).
#include "ingest_priv.h"
#include "tg_complexity.h"
#include "tg_keys.h"
#include "tg_limits.h"
#include "tg_log.h"
#include "tg_util.h"
#include "tg_validate.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { T_NONE, T_ROUTER, T_ANALYTICS, T_ALERT } s_target_t;

typedef struct s_route s_route_t;
typedef void(s_handler_fn)(ingest_t *self,
                           struct evhttp_request *req,
                           const char *id,
                           const char *rid,
                           const s_route_t *route);

struct s_route {
    const char *path;    //  exact path, or a prefix when prefix is set
    bool prefix;         //  path is a prefix ("/v1/models/")
    int methods;         //  EVHTTP_REQ_* accepted
    const char *allow;   //  Allow header for 405
    bool auth;           //  needs the Bearer key
    s_handler_fn *fn;    //  handler
    ingest_kind_t kind;  //  for LLM routes
    s_target_t target;   //  for query routes
};

static s_handler_fn s_on_llm, s_on_query, s_on_metrics, s_on_healthz, s_on_readyz, s_on_dashboard,
    s_on_sse;

#define S_GET (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)

static const s_route_t s_routes[] = {
    {"/v1/chat/completions", false, EVHTTP_REQ_POST, "POST", true, s_on_llm, INGEST_CHAT, T_NONE},
    {"/v1/embeddings", false, EVHTTP_REQ_POST, "POST", true, s_on_llm, INGEST_EMBEDDINGS, T_NONE},
    {"/v1/messages", false, EVHTTP_REQ_POST, "POST", true, s_on_llm, INGEST_MESSAGES, T_NONE},
    {"/v1/models", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ROUTER},
    {"/v1/models/", true, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ROUTER},
    {"/v1/router/metrics", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ROUTER},
    {"/v1/providers", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ROUTER},
    {"/v1/cache/stats", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ROUTER},
    {"/v1/cache/feedback", false, EVHTTP_REQ_POST, "POST", true, s_on_query, INGEST_QUERY,
     T_ROUTER},
    {"/v1/cache/invalidate", false, EVHTTP_REQ_POST, "POST", true, s_on_query, INGEST_QUERY,
     T_ROUTER},
    {"/v1/usage", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ANALYTICS},
    {"/v1/costs", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ANALYTICS},
    {"/v1/costs/history", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ANALYTICS},
    {"/v1/costs/prediction", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY,
     T_ANALYTICS},
    {"/v1/costs/alerts", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ALERT},
    {"/v1/alerts/stream", false, EVHTTP_REQ_GET, "GET", true, s_on_sse, INGEST_QUERY, T_NONE},
    {"/v1/alerts/rules", false, S_GET | EVHTTP_REQ_POST, "GET, HEAD, POST", true, s_on_query,
     INGEST_QUERY, T_ALERT},
    {"/v1/alerts/rules/", true, S_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE,
     "GET, HEAD, POST, PUT, DELETE", true, s_on_query, INGEST_QUERY, T_ALERT},
    {"/v1/alerts/dead_letters", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ALERT},
    {"/v1/alerts/dead_letters/", true, EVHTTP_REQ_POST, "POST", true, s_on_query, INGEST_QUERY,
     T_ALERT},
    {"/v1/keys", false, S_GET | EVHTTP_REQ_POST, "GET, HEAD, POST", true, s_on_query, INGEST_QUERY,
     T_ROUTER},
    {"/v1/keys/", true, S_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE,
     "GET, HEAD, POST, PATCH, DELETE", true, s_on_query, INGEST_QUERY, T_ROUTER},
    {"/v1/budgets", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ROUTER},
    {"/v1/budgets/", true,
     S_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE,
     "GET, HEAD, PUT, POST, PATCH, DELETE", true, s_on_query, INGEST_QUERY, T_ROUTER},
    {"/metrics", false, S_GET, "GET, HEAD", false, s_on_metrics, INGEST_QUERY, T_NONE},
    {"/healthz", false, S_GET, "GET, HEAD", false, s_on_healthz, INGEST_QUERY, T_NONE},
    {"/readyz", false, S_GET, "GET, HEAD", false, s_on_readyz, INGEST_QUERY, T_NONE},
    {"/dashboard", false, S_GET, "GET, HEAD", false, s_on_dashboard, INGEST_QUERY, T_NONE},
    {"/dashboard", true, S_GET, "GET, HEAD", false, s_on_dashboard, INGEST_QUERY, T_NONE},
    {"/api/v1/events", false, EVHTTP_REQ_POST, "POST", true, s_on_query, INGEST_QUERY, T_ANALYTICS},
    {"/api/v1/events/batch", false, EVHTTP_REQ_POST, "POST", true, s_on_query, INGEST_QUERY,
     T_ANALYTICS},
    {"/api/v1/traces", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ANALYTICS},
    {"/api/v1/traces/", true, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ANALYTICS},
    {"/api/v1/metrics", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY, T_ANALYTICS},
    {"/api/v1/metrics/summary", false, S_GET, "GET, HEAD", true, s_on_query, INGEST_QUERY,
     T_ANALYTICS},
    {"/api/v1/metrics/query", false, EVHTTP_REQ_POST, "POST", true, s_on_query, INGEST_QUERY,
     T_ANALYTICS},
};

static const char *
s_method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "?";
    }
}

//  Answers 503 with Retry-After: 1 (the client may retry shortly).
static void
s_retry_later(ingest_t *self,
              struct evhttp_request *req,
              const char *rid,
              const char *message,
              const char *code)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    ingest_http_error(self, req, rid, 503, message, NULL, code);
}

//  Fills agent (INGEST_AGENT_MAX + 1) from x-agent-id; "none" when absent. False (400 sent)
//  when the header is not a short printable token.
static bool
s_agent(ingest_t *self, struct evhttp_request *req, const char *rid, char *agent)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), "x-agent-id");
    if (!v || !*v) {
        memcpy(agent, "none", 5);
        return true;
    }
    if (!ingest_http_token_valid(v, INGEST_AGENT_MAX, 0x21)) {
        ingest_http_error(self, req, rid, 400,
                          "Invalid 'x-agent-id' header: expected 1 to 128 printable ASCII "
                          "characters without spaces.",
                          "x-agent-id", NULL);
        return false;
    }
    memcpy(agent, v, strlen(v) + 1);
    return true;
}

//  A virtual key with allowed models: true if the model asked (or the agent's default), or
//  the alias it names, is one of them; else false after answering 403.
static bool
s_model_allowed(
    ingest_t *self, struct evhttp_request *req, const char *rid, json_t *doc, const char *agent)
{
    const ingest_who_t *who = self->who;
    if (who->master || who->rec->nmodels == 0)
        return true;
    const char *model = json_string_value(json_object_get(doc, "model"));
    if ((!model || !*model) && strcmp(agent, "none") != 0)
        model = tg_config_agent_model(self->cfg, agent);
    const char *target = model ? tg_config_alias(self->cfg, model) : NULL;
    if (model && tg_keyrec_allows(who->rec, model, target))
        return true;
    char shown[136], msg[300];
    ingest_http_printable(model ? model : "", shown, 128);
    snprintf(msg, sizeof msg, "This API key is not allowed to use the model `%s`.", shown);
    ingest_http_error(self, req, rid, 403, msg, "model", "model_not_allowed");
    return false;
}

#define S_DEADLINE_MAX_MS 86400000  //  x-tollgate-deadline-ms accepted up to 24 h

//  Reads x-tollgate-deadline-ms into *ms (0 when absent). False (400 sent) when the header
//  is not an integer in 1..S_DEADLINE_MAX_MS.
static bool
s_deadline(ingest_t *self, struct evhttp_request *req, const char *rid, uint64_t *ms)
{
    const char *v =
        evhttp_find_header(evhttp_request_get_input_headers(req), "x-tollgate-deadline-ms");
    *ms = 0;
    if (!v)
        return true;
    uint64_t n = 0;
    size_t len = strlen(v);
    bool ok = len > 0 && len <= 9;
    for (size_t i = 0; ok && i < len; i++) {
        ok = v[i] >= '0' && v[i] <= '9';
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    if (!ok || n == 0 || n > S_DEADLINE_MAX_MS) {
        ingest_http_error(self, req, rid, 400,
                          "Invalid 'x-tollgate-deadline-ms' header: expected an integer number "
                          "of milliseconds from 1 to 86400000.",
                          "x-tollgate-deadline-ms", "invalid_deadline");
        return false;
    }
    *ms = n;
    return true;
}

//  Model "auto" (asked, or the agent's default, directly or through an alias): the class of
//  the prompt (static name), else NULL. Scoring reads the parsed messages: no copy.
static const char *
s_auto_class(ingest_t *self, json_t *doc, const char *agent)
{
    const char *model = json_string_value(json_object_get(doc, "model"));
    if ((!model || !*model) && strcmp(agent, "none") != 0)
        model = tg_config_agent_model(self->cfg, agent);
    const char *target = model ? tg_config_alias(self->cfg, model) : NULL;
    if (!model || (strcmp(model, "auto") != 0 && !(target && strcmp(target, "auto") == 0)))
        return NULL;
    return tg_complexity_name(tg_complexity_of_messages(json_object_get(doc, "messages")));
}

//  Cuts s to at most max bytes at a UTF-8 character boundary, into out (max + 1 bytes).
static void
s_copy_cut(char *out, const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;  //  s[n] continues a character: cut before that character
    }
    memcpy(out, s, n);
    out[n] = 0;
}

//  The call's context (spec A2, A4) from its headers and parsed body (user: the header, else
//  the body's "user", else its metadata.user_id). False (400 sent) when
//  x-tollgate-user-id or x-tollgate-environment is malformed; bad trace headers are ignored
//  (tracing never fails a call) and logged at debug.
static bool
s_context(ingest_t *self, struct evhttp_request *req, const char *rid, json_t *doc, ingest_ctx_t *c)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    memset(c, 0, sizeof *c);
    const char *v = evhttp_find_header(h, "x-tollgate-user-id");
    if (v && !ingest_http_token_valid(v, INGEST_USER_MAX, 0x20)) {
        ingest_http_error(self, req, rid, 400,
                          "Invalid 'x-tollgate-user-id' header: expected 1 to 128 printable "
                          "ASCII characters.",
                          "x-tollgate-user-id", NULL);
        return false;
    }
    if (!v)
        v = json_string_value(json_object_get(doc, "user"));
    if (!v)  //  /v1/messages: Anthropic's metadata.user_id
        v = json_string_value(json_object_get(json_object_get(doc, "metadata"), "user_id"));
    if (v)
        s_copy_cut(c->user, v, INGEST_USER_MAX);
    v = evhttp_find_header(h, "x-tollgate-environment");
    if (v && !ingest_http_token_valid(v, INGEST_ENV_MAX, 0x21)) {
        ingest_http_error(self, req, rid, 400,
                          "Invalid 'x-tollgate-environment' header: expected 1 to 64 printable "
                          "ASCII characters without spaces.",
                          "x-tollgate-environment", NULL);
        return false;
    }
    s_copy_cut(c->env, v ? v : tg_config_str(self->cfg, "events.default_environment"),
               INGEST_ENV_MAX);
    //  x-tollgate-trace-id / x-tollgate-parent-id, else W3C traceparent.
    const char *t = evhttp_find_header(h, "x-tollgate-trace-id");
    const char *p = evhttp_find_header(h, "x-tollgate-parent-id");
    const char *tp = evhttp_find_header(h, "traceparent");
    if (t && tg_trace_id_ok(t, TG_TRACE_ID_MAX)) {
        memcpy(c->trace, t, strlen(t) + 1);
        if (p && tg_trace_id_ok(p, TG_TRACE_ID_MAX))
            memcpy(c->parent, p, strlen(p) + 1);
        else if (p)
            tg_log_debug("ignored x-tollgate-parent-id: not an id rid=%.64s", rid);
    } else if (t) {
        tg_log_debug("ignored x-tollgate-trace-id: not an id rid=%.64s", rid);
    } else if (tp && tg_trace_parse_traceparent(tp, c->trace, c->parent) != TG_OK) {
        tg_log_debug("ignored traceparent: not W3C trace context rid=%.64s", rid);
        c->trace[0] = c->parent[0] = 0;
    } else if (!tp && p)
        tg_log_debug("ignored x-tollgate-parent-id without x-tollgate-trace-id rid=%.64s", rid);
    return true;
}

static void
s_on_llm(ingest_t *self,
         struct evhttp_request *req,
         const char *id,
         const char *rid,
         const s_route_t *route)
{
    int64_t t0 = tg_mono_us();
    char agent[INGEST_AGENT_MAX + 1];
    if (!s_agent(self, req, rid, agent))
        return;
    //  A virtual key bound to an agent labels its calls with it when x-agent-id is absent.
    const tg_keyrec_t *key = self->who->rec;
    if (key && key->agent && strcmp(agent, "none") == 0
        && ingest_http_token_valid(key->agent, INGEST_AGENT_MAX, 0x21))
        memcpy(agent, key->agent, strlen(key->agent) + 1);
    uint64_t deadline_ms;
    if (!s_deadline(self, req, rid, &deadline_ms))
        return;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > self->max_body) {  //  libevent enforces the cap too; this keeps it exact
        char msg[160];
        snprintf(msg, sizeof msg,
                 "The request body is %zu bytes; this gateway accepts at most %zu.", len,
                 self->max_body);
        ingest_http_error(self, req, rid, 413, msg, NULL, "request_too_large");
        ingest_count_llm(self, agent, NULL, NULL, NULL, t0, -1);
        return;
    }
    char *body = tg_zalloc(len + 1);
    evbuffer_copyout(in, body, len);
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    char *msg = NULL, *param = NULL;
    if (!doc)
        msg = len ? tg_strfmt("We could not parse the JSON body of your request: %s (line %d, "
                              "column %d). The API expects a JSON object.",
                              jerr.text, jerr.line, jerr.column)
                  : tg_strdup("We could not parse the JSON body of your request: the body is "
                              "empty. The API expects a JSON object.");
    else if (route->kind == INGEST_CHAT)
        tg_validate_chat(doc, &msg, &param);
    else if (route->kind == INGEST_MESSAGES)
        tg_validate_messages(doc, &msg, &param);
    else
        tg_validate_embeddings(doc, &msg, &param);
    if (msg) {
        ingest_http_error(self, req, rid, 400, msg, param, NULL);
        ingest_count_llm(self, agent, NULL, NULL, NULL, t0, -1);
        free(msg);
        free(param);
        free(body);
        json_decref(doc);
        return;
    }
    const char *rname = route->kind == INGEST_CHAT       ? "chat"
                        : route->kind == INGEST_MESSAGES ? "messages"
                                                         : "embeddings";
    bool stream = json_is_true(json_object_get(doc, "stream"));
    bool usage =
        route->kind == INGEST_CHAT
        && json_is_true(json_object_get(json_object_get(doc, "stream_options"), "include_usage"));
    tg_cache_plan_t plan;
    const char *cparam = NULL;
    struct evkeyvalq *in_h = evhttp_request_get_input_headers(req);
    if (tg_cache_plan_headers(self->cfg, evhttp_find_header(in_h, "x-tollgate-cache"),
                              evhttp_find_header(in_h, "x-tollgate-cache-ttl"), &plan, &cparam,
                              &msg)
        != TG_OK) {
        ingest_http_error(self, req, rid, 400, msg, cparam, NULL);
        ingest_count_llm(self, agent, NULL, NULL, NULL, t0, -1);
        free(msg);
        free(body);
        json_decref(doc);
        return;
    }
    if (route->kind == INGEST_MESSAGES)
        plan.mode = TG_CACHE_BYPASS;  //  /v1/messages is not cached yet (x-cache: bypass)
    const ingest_who_t *who = self->who;
    ingest_ctx_t ctx;
    if (!s_context(self, req, rid, doc, &ctx)) {
        ingest_count_llm(self, agent, NULL, NULL, NULL, t0, -1);
        free(body);
        json_decref(doc);
        return;
    }
    if (!s_model_allowed(self, req, rid, doc, agent)) {
        ingest_count_llm(self, agent, NULL, NULL, NULL, t0, -1);
        free(body);
        json_decref(doc);
        return;
    }
    const char *named = strcmp(agent, "none") ? agent : NULL;
    char scope[INGEST_AGENT_MAX + 16];
    tg_cache_scope(self->cfg, who->id, named, scope, sizeof scope);
    tg_cache_plan_request(self->cfg, rname, doc, tg_cache_model(self->cfg, doc, named), scope,
                          &plan);
    const char *cls = route->kind != INGEST_EMBEDDINGS ? s_auto_class(self, doc, agent) : NULL;
    const char *org = who->master ? NULL : who->rec->org;
    ingest_cache_hit_t hit = {id, rid, rname, who->id, agent, cls, stream, usage, org, &ctx};
    //  A key with rate limits has its hits answered by the router, which counts them.
    bool limited = who->limits[TG_LIM_RPM] || who->limits[TG_LIM_TPM] || who->limits[TG_LIM_RPMO]
                   || who->limits[TG_LIM_TPMO];
    if (!limited && ingest_cache_serve(self, req, &hit, &plan, t0)) {
        free(body);
        json_decref(doc);
        return;
    }
    if (ingest_router_down(self)) {
        s_retry_later(self, req, rid, "The gateway's router is restarting; retry shortly.",
                      "router_unavailable");
        ingest_count_llm(self, agent, NULL, NULL, NULL, t0, -1);
        free(body);
        json_decref(doc);
        return;
    }
    tg_frame_t *f = tg_frame_new(TG_FRAME_REQUEST);
    tg_fr_request_t *rq = &f->request;
    rq->id = tg_strdup(id);
    rq->reply_to = tg_strdup(self->inbox_ep);
    rq->route = tg_strdup(rname);
    rq->model = tg_strdup(json_string_value(json_object_get(doc, "model")));
    rq->agent = strcmp(agent, "none") ? tg_strdup(agent) : NULL;
    rq->key = tg_strdup(who->id);
    rq->rpm = who->limits[TG_LIM_RPM];
    rq->tpm = who->limits[TG_LIM_TPM];
    rq->rpmo = who->limits[TG_LIM_RPMO];
    rq->tpmo = who->limits[TG_LIM_TPMO];
    if (!who->master) {
        rq->ptok = tg_limits_estimate_tokens(doc);
        rq->org = tg_strdup(who->rec->org);
        rq->project = tg_strdup(who->rec->project);
        rq->kbd = who->rec->daily_usd;
        rq->kbm = who->rec->monthly_usd;
        json_t *mt = json_object_get(doc, "max_completion_tokens");
        if (!json_is_integer(mt))
            mt = json_object_get(doc, "max_tokens");
        rq->mtok = json_is_integer(mt) && json_integer_value(mt) > 0
                       ? (uint64_t)json_integer_value(mt)
                       : 0;
    }
    rq->stream = stream;
    rq->usage = usage;
    rq->t0 = tg_now_us();
    if (plan.mode != TG_CACHE_BYPASS) {
        rq->ckey = tg_strdup(plan.hex);
        rq->cttl = plan.ttl_s;
        rq->cfresh = plan.mode == TG_CACHE_FRESH;
    }
    rq->seq = ingest_router_next_seq(self);
    rq->deadline_ms = deadline_ms;
    rq->cls = tg_strdup(cls);
    rq->user = ctx.user[0] ? tg_strdup(ctx.user) : NULL;
    rq->env = ctx.env[0] ? tg_strdup(ctx.env) : NULL;
    rq->trace = ctx.trace[0] ? tg_strdup(ctx.trace) : NULL;
    rq->parent = ctx.parent[0] ? tg_strdup(ctx.parent) : NULL;
    json_decref(doc);
    tg_frame_give_body(f, &body, len);  //  the client's bytes, unchanged
    uint64_t rq_seq = rq->seq;
    int rc = tg_frame_send(&f, self->router);
    if (rc != TG_OK) {
        s_retry_later(self, req, rid,
                      "The gateway is overloaded (router queue full); retry shortly.",
                      "overloaded");
        ingest_count_llm(self, agent, NULL, NULL, NULL, t0, -1);
        return;
    }
    ingest_call_add(self, req, route->kind, id, rid, agent, t0, rq_seq)->cls = cls;
}

static void
s_on_query(ingest_t *self,
           struct evhttp_request *req,
           const char *id,
           const char *rid,
           const s_route_t *route)
{
    zsock_t *to = route->target == T_ROUTER      ? self->router
                  : route->target == T_ANALYTICS ? self->analytics
                                                 : self->alert;
    if (to == self->router && ingest_router_down(self)) {
        s_retry_later(self, req, rid, "The gateway's router is restarting; retry shortly.",
                      "router_unavailable");
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    tg_frame_t *f = tg_frame_new(TG_FRAME_QUERY);
    f->query.id = tg_strdup(id);
    f->query.reply_to = tg_strdup(self->inbox_ep);
    //  HEAD is a GET whose body libevent leaves out; POST, PUT and PATCH carry their JSON body.
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    bool post = cmd == EVHTTP_REQ_POST || cmd == EVHTTP_REQ_PUT || cmd == EVHTTP_REQ_PATCH;
    f->query.method = tg_strdup(cmd == EVHTTP_REQ_HEAD ? "GET" : s_method_name(cmd));
    if (post) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        char *body = tg_zalloc(len + 1);
        evbuffer_copyout(in, body, len);
        tg_frame_give_body(f, &body, len);
    }
    f->query.path = tg_strdup(uri ? evhttp_uri_get_path(uri) : route->path);
    f->query.args = tg_strdup(uri ? evhttp_uri_get_query(uri) : NULL);
    f->query.key = tg_strdup(self->who ? self->who->id : "master");
    //  Isolation (A7): the organization and roles the answer is limited to.
    const tg_keyrec_t *rec = self->who && !self->who->master ? self->who->rec : NULL;
    f->query.org = rec ? tg_strdup(rec->org && *rec->org ? rec->org : TG_ORG_DEFAULT) : NULL;
    f->query.roles = rec ? rec->roles : TG_ROLE_ALL;
    uint64_t seq = to == self->router ? ingest_router_next_seq(self) : 0;
    f->query.seq = seq;
    if (tg_frame_send(&f, to) != TG_OK) {
        s_retry_later(self, req, rid, "The gateway is overloaded; retry shortly.", "overloaded");
        return;
    }
    ingest_call_add(self, req, INGEST_QUERY, id, rid, "none", tg_mono_us(), seq);
}

static void
s_on_sse(ingest_t *self,
         struct evhttp_request *req,
         const char *id,
         const char *rid,
         const s_route_t *route)
{
    (void)id;
    (void)route;
    ingest_sse_open(self, req, rid);
}

static void
s_on_healthz(ingest_t *self,
             struct evhttp_request *req,
             const char *id,
             const char *rid,
             const s_route_t *route)
{
    (void)id;
    (void)route;
    char *body = tg_strdup("{\"status\":\"ok\"}");
    ingest_http_send(self, req, rid, 200, NULL, &body, strlen(body));
}

static void
s_on_readyz(ingest_t *self,
            struct evhttp_request *req,
            const char *id,
            const char *rid,
            const s_route_t *route)
{
    (void)id;
    (void)route;
    int64_t now = tg_now_us();
    json_t *missing = json_array();
    if (self->draining)
        json_array_append_new(missing, json_string("ingest"));
    for (int i = 0; i < INGEST_PEERS; i++)
        if (!self->ready_us[i] || now - self->ready_us[i] > INGEST_READY_WINDOW_US)
            json_array_append_new(missing, json_string(ingest_peer_names[i]));
    bool ready = json_array_size(missing) == 0;
    json_t *doc = ready ? json_pack("{ss}", "status", "ready")
                        : json_pack("{ss so}", "status", "not ready", "missing", missing);
    if (ready)
        json_decref(missing);
    //  Which gateway answered: `tollgate up` checks it is its own, not another server's.
    const char *gw = tg_config_str(self->cfg, "gateway_id");
    if (*gw)
        json_object_set_new(doc, "gateway", json_string(gw));
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    ingest_http_send(self, req, rid, ready ? 200 : 503, NULL, &body, strlen(body));
}

static void
s_on_dashboard(ingest_t *self,
               struct evhttp_request *req,
               const char *id,
               const char *rid,
               const s_route_t *route)
{
    (void)id;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : route->path;
    ingest_dashboard_serve(self, req, rid, path ? path : route->path);
}

static void
s_on_metrics(ingest_t *self,
             struct evhttp_request *req,
             const char *id,
             const char *rid,
             const s_route_t *route)
{
    (void)id;
    (void)route;
    int64_t interval = tg_config_int(self->cfg, "stats.interval_ms") * 1000;
    int64_t keep = 5 * interval > 5000000 ? 5 * interval : 5000000;
    tg_metrics_agg_expire(self->agg, tg_now_us() - keep);  //  gone processes' gauges go
    char *text = tg_metrics_agg_render(self->agg);
    ingest_http_send(self, req, rid, 200, "text/plain; version=0.0.4; charset=utf-8", &text,
                     strlen(text));
}

static const s_route_t *
s_find_route(const char *path)
{
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes[0]; i++) {
        const s_route_t *r = &s_routes[i];
        size_t n = strlen(r->path);
        if (r->prefix ? (strncmp(path, r->path, n) == 0 && path[n]) : strcmp(path, r->path) == 0)
            return r;
    }
    return NULL;
}

void
ingest_routes_dispatch(struct evhttp_request *req, void *arg)
{
    ingest_t *self = arg;
    char id[48], rid[INGEST_RID_MAX + 1];
    snprintf(id, sizeof id, "req_%s%012llx", self->id_prefix,
             (unsigned long long)(++self->seq & 0xffffffffffffULL));
    if (!ingest_http_client_rid(req, rid))
        memcpy(rid, id, strlen(id) + 1);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (self->draining) {
        s_retry_later(self, req, rid, "The gateway is shutting down; retry shortly.",
                      "shutting_down");
        return;
    }
    const s_route_t *route = s_find_route(path);
    if (!route || !(route->methods & (int)method)) {
        char shown[208], msg[300];
        ingest_http_printable(path, shown, 200);
        snprintf(msg, sizeof msg, "Invalid %s (%s %s)", route ? "method for URL" : "URL",
                 s_method_name(method), shown);
        if (route)
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", route->allow);
        ingest_http_error(self, req, rid, route ? 405 : 404, msg, NULL,
                          route ? "method_not_allowed" : "unknown_url");
        return;
    }
    ingest_who_t who;
    if (!route->auth) {
        route->fn(self, req, id, rid, route);
        return;
    }
    //  The admin routes (master key only): /v1/keys, /v1/budgets and below.
    bool admin =
        strncmp(route->path, "/v1/keys", 8) == 0 || strncmp(route->path, "/v1/budgets", 11) == 0;
    if (!ingest_auth_check(self, req, rid, admin, &who))
        return;
    self->who = &who;
    route->fn(self, req, id, rid, route);
    self->who = NULL;
}
