//  worker_ingress.c - Anthropic Messages request -> chat.completions request, chat.completion
//  and chunks -> Messages answer and events (see worker_ingress.h); no I/O.
#include "worker_ingress.h"

#include "tg_error.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_TOOLS 1024        //  tool calls accepted in one streamed answer
#define S_TEXT_MAX (64u << 20)  //  joined text of one field (ingest caps whole bodies far lower)

static bool
s_given(const json_t *v)
{
    return v && !json_is_null(v);
}

static int s_fail(char **err_p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

//  Records the first error message and returns TG_INVALID.
static int
s_fail(char **err_p, const char *fmt, ...)
{
    if (err_p && !*err_p) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        *err_p = tg_strdup(msg);
    }
    return TG_INVALID;
}

//  ---------------------------------------------------------------------------------------
//  Request: Messages -> chat.completions

//  Text of a string or of the text blocks of an array, blocks joined by sep.
static void
s_join_text(const json_t *content, const char *sep, tg_buf_t *out)
{
    if (json_is_string(content)) {
        tg_buf_append(out, json_string_value(content), json_string_length(content));
        return;
    }
    size_t j;
    json_t *b;
    json_array_foreach(content, j, b)
    {
        json_t *text = json_object_get(b, "text");
        if (!json_is_string(text))
            continue;
        if (out->len)
            tg_buf_puts(out, sep);
        tg_buf_append(out, json_string_value(text), json_string_length(text));
    }
}

static json_t *
s_text_of(const json_t *content, const char *sep)
{
    tg_buf_t text;
    tg_buf_init(&text, S_TEXT_MAX);
    s_join_text(content, sep, &text);
    json_t *s = json_stringn(text.data ? text.data : "", text.len);
    tg_buf_fini(&text);
    return s;
}

//  image block -> image_url content part.
static json_t *
s_image_part(const json_t *b)
{
    json_t *src = json_object_get(b, "source");
    const char *type = json_string_value(json_object_get(src, "type"));
    const char *url = NULL;
    char *made = NULL;
    if (type && strcmp(type, "base64") == 0) {
        const char *mt = json_string_value(json_object_get(src, "media_type"));
        const char *data = json_string_value(json_object_get(src, "data"));
        if (mt && data)
            url = made = tg_strfmt("data:%s;base64,%s", mt, data);
    } else if (type && strcmp(type, "url") == 0)
        url = json_string_value(json_object_get(src, "url"));
    json_t *part =
        url ? json_pack("{s:s, s:{s:s}}", "type", "image_url", "image_url", "url", url) : NULL;
    free(made);
    return part;
}

//  A user turn: tool_result blocks become tool messages (first, as OpenAI wants them right
//  after the assistant's tool_calls), the rest one user message.
static int
s_user(const json_t *content, size_t i, json_t *msgs, char **err_p)
{
    if (json_is_string(content)) {
        json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "user", "content", content));
        return TG_OK;
    }
    json_t *parts = json_array();
    size_t j;
    json_t *b;
    json_array_foreach(content, j, b)
    {
        const char *t = json_string_value(json_object_get(b, "type"));
        if (t && strcmp(t, "text") == 0)
            json_array_append_new(
                parts, json_pack("{s:s, s:O}", "type", "text", "text", json_object_get(b, "text")));
        else if (t && strcmp(t, "image") == 0) {
            json_t *part = s_image_part(b);
            if (!part) {
                json_decref(parts);
                return s_fail(err_p,
                              "messages.%zu.content.%zu.source: expected a base64 or url "
                              "image source",
                              i, j);
            }
            json_array_append_new(parts, part);
        } else if (t && strcmp(t, "tool_result") == 0) {
            json_t *text = s_text_of(json_object_get(b, "content"), "\n");
            json_array_append_new(msgs,
                                  json_pack("{s:s, s:O, s:o}", "role", "tool", "tool_call_id",
                                            json_object_get(b, "tool_use_id"), "content", text));
        } else {
            json_decref(parts);
            return s_fail(err_p,
                          "messages.%zu.content.%zu: a '%.40s' block cannot be sent to an "
                          "OpenAI model",
                          i, j, t ? t : "?");
        }
    }
    if (json_array_size(parts))
        json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "user", "content", parts));
    else
        json_decref(parts);
    return TG_OK;
}

//  An assistant turn: text blocks joined into content, tool_use blocks into tool_calls;
//  thinking blocks have no chat form and are left out.
static void
s_assistant(const json_t *content, json_t *msgs)
{
    if (json_is_string(content)) {
        json_array_append_new(msgs,
                              json_pack("{s:s, s:O}", "role", "assistant", "content", content));
        return;
    }
    tg_buf_t text;
    tg_buf_init(&text, S_TEXT_MAX);
    json_t *calls = json_array();
    size_t j;
    json_t *b;
    json_array_foreach(content, j, b)
    {
        const char *t = json_string_value(json_object_get(b, "type"));
        if (t && strcmp(t, "text") == 0) {
            json_t *s = json_object_get(b, "text");
            tg_buf_append(&text, json_string_value(s), json_string_length(s));
        } else if (t && strcmp(t, "tool_use") == 0) {
            char *args = json_dumps(json_object_get(b, "input"), JSON_COMPACT);
            json_array_append_new(calls, json_pack("{s:O, s:s, s:{s:O, s:s}}", "id",
                                                   json_object_get(b, "id"), "type", "function",
                                                   "function", "name", json_object_get(b, "name"),
                                                   "arguments", args ? args : "{}"));
            free(args);
        }
    }
    json_t *m = json_pack("{s:s}", "role", "assistant");
    json_object_set_new(m, "content", text.len ? json_stringn(text.data, text.len) : json_null());
    if (json_array_size(calls))
        json_object_set(m, "tool_calls", calls);
    json_decref(calls);
    tg_buf_fini(&text);
    json_array_append_new(msgs, m);
}

static int
s_tools(const json_t *tools, json_t *out, char **err_p)
{
    if (!s_given(tools))
        return TG_OK;
    json_t *defs = json_array();
    size_t k;
    json_t *t;
    json_array_foreach(tools, k, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));
        if (type && strcmp(type, "custom") != 0) {
            json_decref(defs);
            return s_fail(err_p,
                          "tools.%zu.type: the tool type '%.40s' is not supported by "
                          "OpenAI models",
                          k, type);
        }
        json_t *fn = json_pack("{s:O}", "name", json_object_get(t, "name"));
        json_t *desc = json_object_get(t, "description");
        if (json_is_string(desc))
            json_object_set(fn, "description", desc);
        json_t *schema = json_object_get(t, "input_schema");
        json_object_set_new(fn, "parameters",
                            json_is_object(schema)
                                ? json_deep_copy(schema)
                                : json_pack("{s:s, s:{}}", "type", "object", "properties"));
        json_array_append_new(defs, json_pack("{s:s, s:o}", "type", "function", "function", fn));
    }
    if (json_array_size(defs))
        json_object_set_new(out, "tools", defs);
    else
        json_decref(defs);
    return TG_OK;
}

static int
s_tool_choice(const json_t *tc, json_t *out, char **err_p)
{
    if (!s_given(tc))
        return TG_OK;
    const char *type = json_string_value(json_object_get(tc, "type"));
    json_t *v = NULL;
    if (type && strcmp(type, "auto") == 0)
        v = json_string("auto");
    else if (type && strcmp(type, "any") == 0)
        v = json_string("required");
    else if (type && strcmp(type, "none") == 0)
        v = json_string("none");
    else if (type && strcmp(type, "tool") == 0 && json_is_string(json_object_get(tc, "name")))
        v = json_pack("{s:s, s:{s:O}}", "type", "function", "function", "name",
                      json_object_get(tc, "name"));
    else
        return s_fail(err_p, "tool_choice: expected {\"type\": \"auto\" | \"any\" | \"none\"} or "
                             "{\"type\": \"tool\", \"name\": ...}");
    json_object_set_new(out, "tool_choice", v);
    if (json_is_true(json_object_get(tc, "disable_parallel_tool_use"))
        && json_object_get(out, "tools"))
        json_object_set_new(out, "parallel_tool_calls", json_false());
    return TG_OK;
}

int
worker_ingress_request(
    const json_t *req, const char *upstream_model, bool stream, json_t **out_p, char **err_p)
{
    assert(req);
    assert(upstream_model);
    assert(out_p);
    *out_p = NULL;
    if (!json_is_object(req))
        return s_fail(err_p, "the request body is not a JSON object");
    json_t *msgs = json_array();
    json_t *system = json_object_get(req, "system");
    if (s_given(system)) {
        json_t *text = s_text_of(system, "\n\n");
        if (json_string_length(text))
            json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "system", "content", text));
        else
            json_decref(text);
    }
    size_t i;
    json_t *m;
    json_t *messages = json_object_get(req, "messages");
    if (!json_is_array(messages)) {
        json_decref(msgs);
        return s_fail(err_p, "messages: Field required");
    }
    json_array_foreach(messages, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        if (!role || (!json_is_string(content) && !json_is_array(content))) {
            json_decref(msgs);
            return s_fail(err_p, "messages.%zu: expected a role and a content", i);
        }
        if (strcmp(role, "assistant") == 0)
            s_assistant(content, msgs);
        else if (s_user(content, i, msgs, err_p) != TG_OK) {
            json_decref(msgs);
            return TG_INVALID;
        }
    }
    json_t *out = json_pack("{s:s, s:o}", "model", upstream_model, "messages", msgs);
    json_t *max = json_object_get(req, "max_tokens");
    if (json_is_integer(max))
        json_object_set(out, "max_tokens", max);
    static const char *const copied[] = {"temperature", "top_p"};
    for (size_t k = 0; k < sizeof copied / sizeof copied[0]; k++) {
        json_t *v = json_object_get(req, copied[k]);
        if (json_is_number(v))
            json_object_set(out, copied[k], v);
    }
    json_t *stop = json_object_get(req, "stop_sequences");
    if (json_is_array(stop) && json_array_size(stop))
        json_object_set(out, "stop", stop);
    json_t *user = json_object_get(json_object_get(req, "metadata"), "user_id");
    if (json_is_string(user))
        json_object_set(out, "user", user);
    if (stream) {
        json_object_set_new(out, "stream", json_true());
        json_object_set_new(out, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    if (s_tools(json_object_get(req, "tools"), out, err_p) != TG_OK
        || s_tool_choice(json_object_get(req, "tool_choice"), out, err_p) != TG_OK) {
        json_decref(out);
        return TG_INVALID;
    }
    *out_p = out;
    return TG_OK;
}

//  ---------------------------------------------------------------------------------------
//  Answers: chat.completion -> Messages response

const char *
worker_ingress_stop_reason(const char *finish_reason)
{
    if (!finish_reason)
        return "end_turn";
    if (strcmp(finish_reason, "length") == 0)
        return "max_tokens";
    if (strcmp(finish_reason, "tool_calls") == 0 || strcmp(finish_reason, "function_call") == 0)
        return "tool_use";
    if (strcmp(finish_reason, "content_filter") == 0)
        return "refusal";
    return "end_turn";
}

static uint64_t
s_count(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

//  Messages usage: input_tokens excludes the cached prompt tokens, reported apart.
static json_t *
s_usage_json(uint64_t prompt, uint64_t completion, uint64_t cached)
{
    if (cached > prompt)
        cached = prompt;
    return json_pack("{s:I, s:I, s:I, s:I}", "input_tokens", (json_int_t)(prompt - cached),
                     "cache_creation_input_tokens", (json_int_t)0, "cache_read_input_tokens",
                     (json_int_t)cached, "output_tokens", (json_int_t)completion);
}

//  A tool call's arguments (a JSON text) as the tool_use input object ({} when not one).
static json_t *
s_tool_input(const json_t *args)
{
    json_t *input = json_is_string(args)
                        ? json_loadb(json_string_value(args), json_string_length(args), 0, NULL)
                        : NULL;
    if (!json_is_object(input)) {
        json_decref(input);
        input = json_object();
    }
    return input;
}

json_t *
worker_ingress_response(const json_t *oai, const char *id, const char *model)
{
    assert(id);
    json_t *choice = json_array_get(json_object_get(oai, "choices"), 0);
    json_t *message = json_object_get(choice, "message");
    if (!json_is_object(message))
        return NULL;
    json_t *content = json_array();
    json_t *text = json_object_get(message, "content");
    if (json_is_string(text) && json_string_length(text))
        json_array_append_new(content, json_pack("{s:s, s:O}", "type", "text", "text", text));
    json_t *refusal = json_object_get(message, "refusal");
    if (json_is_string(refusal) && json_string_length(refusal))
        json_array_append_new(content, json_pack("{s:s, s:O}", "type", "text", "text", refusal));
    size_t k;
    json_t *call;
    json_array_foreach(json_object_get(message, "tool_calls"), k, call)
    {
        json_t *fn = json_object_get(call, "function");
        json_t *cid = json_object_get(call, "id");
        json_t *name = json_object_get(fn, "name");
        if (!json_is_string(cid) || !json_is_string(name))
            continue;
        json_array_append_new(content, json_pack("{s:s, s:O, s:O, s:o}", "type", "tool_use", "id",
                                                 cid, "name", name, "input",
                                                 s_tool_input(json_object_get(fn, "arguments"))));
    }
    json_t *usage = json_object_get(oai, "usage");
    uint64_t cached = s_count(json_object_get(usage, "prompt_tokens_details"), "cached_tokens");
    const char *m = model ? model : json_string_value(json_object_get(oai, "model"));
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:s, s:n, s:o}", "id", id, "type", "message", "role",
        "assistant", "model", m ? m : "", "content", content, "stop_reason",
        worker_ingress_stop_reason(json_string_value(json_object_get(choice, "finish_reason"))),
        "stop_sequence", "usage",
        s_usage_json(s_count(usage, "prompt_tokens"), s_count(usage, "completion_tokens"), cached));
}

//  ---------------------------------------------------------------------------------------
//  Streams: chunks -> Messages events

typedef enum { S_NONE, S_TEXT, S_TOOL } s_block_t;

struct worker_ingress_stream {
    char *id;              //  message id shown to the client
    char *model;           //  model shown to the client
    bool started;          //  message_start written
    bool finished;         //  message_stop written
    bool failed;           //  an error event was written
    s_block_t open;        //  kind of the open content block
    int open_index;        //  its index (valid when open != S_NONE)
    int blocks;            //  content blocks started so far
    int *block_of_tool;    //  content block index per OpenAI tool_calls index, -1 if none
    size_t tools;          //  entries in block_of_tool
    const char *stop;      //  stop_reason (static), NULL until a finish_reason came
    worker_usage_t usage;  //  from the usage chunk
};

worker_ingress_stream_t *
worker_ingress_stream_new(const char *id, const char *model)
{
    assert(id);
    assert(model);
    worker_ingress_stream_t *self = tg_zalloc(sizeof *self);
    self->id = tg_strdup(id);
    self->model = tg_strdup(model);
    return self;
}

void
worker_ingress_stream_destroy(worker_ingress_stream_t **self_p)
{
    assert(self_p);
    worker_ingress_stream_t *self = *self_p;
    if (!self)
        return;
    free(self->block_of_tool);
    free(self->model);
    free(self->id);
    free(self);
    *self_p = NULL;
}

worker_usage_t
worker_ingress_stream_usage(const worker_ingress_stream_t *self)
{
    assert(self);
    return self->usage;
}

bool
worker_ingress_stream_is_finished(const worker_ingress_stream_t *self)
{
    assert(self);
    return self->finished;
}

//  Appends "event: NAME\ndata: <json>\n\n" to out. Takes obj. TG_INVALID at the cap.
static int
s_event(const char *name, json_t *obj, tg_buf_t *out)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!s)
        return TG_INVALID;
    int rc = tg_buf_printf(out, "event: %s\ndata: %s\n\n", name, s);
    free(s);
    return rc == TG_OK ? TG_OK : TG_INVALID;
}

static int
s_start(worker_ingress_stream_t *self, tg_buf_t *out)
{
    if (self->started)
        return TG_OK;
    self->started = true;
    json_t *msg =
        json_pack("{s:s, s:s, s:s, s:s, s:[], s:n, s:n, s:{s:i, s:i}}", "id", self->id, "type",
                  "message", "role", "assistant", "model", self->model, "content", "stop_reason",
                  "stop_sequence", "usage", "input_tokens", 0, "output_tokens", 0);
    return s_event("message_start",
                   json_pack("{s:s, s:o}", "type", "message_start", "message", msg), out);
}

static int
s_close(worker_ingress_stream_t *self, tg_buf_t *out)
{
    if (self->open == S_NONE)
        return TG_OK;
    self->open = S_NONE;
    return s_event("content_block_stop",
                   json_pack("{s:s, s:i}", "type", "content_block_stop", "index", self->open_index),
                   out);
}

//  Closes the open block and starts a new one (block taken). Its index in *index_p.
static int
s_open(worker_ingress_stream_t *self, s_block_t kind, json_t *block, tg_buf_t *out)
{
    int rc = s_close(self, out);
    if (rc != TG_OK) {
        json_decref(block);
        return rc;
    }
    self->open = kind;
    self->open_index = self->blocks++;
    return s_event("content_block_start",
                   json_pack("{s:s, s:i, s:o}", "type", "content_block_start", "index",
                             self->open_index, "content_block", block),
                   out);
}

static int
s_delta(int index, json_t *delta, tg_buf_t *out)
{
    return s_event(
        "content_block_delta",
        json_pack("{s:s, s:i, s:o}", "type", "content_block_delta", "index", index, "delta", delta),
        out);
}

static int
s_text(worker_ingress_stream_t *self, const json_t *text, tg_buf_t *out)
{
    int rc = TG_OK;
    if (self->open != S_TEXT)
        rc = s_open(self, S_TEXT, json_pack("{s:s, s:s}", "type", "text", "text", ""), out);
    if (rc == TG_OK)
        rc = s_delta(self->open_index, json_pack("{s:s, s:O}", "type", "text_delta", "text", text),
                     out);
    return rc;
}

static int
s_tool(worker_ingress_stream_t *self, const json_t *tc, tg_buf_t *out)
{
    json_t *ix = json_object_get(tc, "index");
    json_int_t t = json_is_integer(ix) ? json_integer_value(ix) : 0;
    if (t < 0 || t >= S_MAX_TOOLS)
        return TG_INVALID;
    if ((size_t)t >= self->tools) {
        self->block_of_tool = tg_realloc(self->block_of_tool, (size_t)(t + 1) * sizeof(int));
        for (size_t k = self->tools; k <= (size_t)t; k++)
            self->block_of_tool[k] = -1;
        self->tools = (size_t)t + 1;
    }
    json_t *fn = json_object_get(tc, "function");
    int rc = TG_OK;
    if (self->block_of_tool[t] < 0) {
        json_t *id = json_object_get(tc, "id");
        json_t *name = json_object_get(fn, "name");
        if (!json_is_string(id) || !json_is_string(name))
            return TG_INVALID;
        rc = s_open(
            self, S_TOOL,
            json_pack("{s:s, s:O, s:O, s:{}}", "type", "tool_use", "id", id, "name", name, "input"),
            out);
        self->block_of_tool[t] = self->open_index;
    }
    json_t *args = json_object_get(fn, "arguments");
    if (rc == TG_OK && json_is_string(args) && json_string_length(args))
        rc =
            s_delta(self->block_of_tool[t],
                    json_pack("{s:s, s:O}", "type", "input_json_delta", "partial_json", args), out);
    return rc;
}

static int
s_finish(worker_ingress_stream_t *self, tg_buf_t *out)
{
    int rc = s_start(self, out);
    if (rc == TG_OK)
        rc = s_close(self, out);
    if (rc != TG_OK)
        return rc;
    uint64_t in = self->usage.in, cached = self->usage.cached;
    if (cached > in)
        cached = in;
    json_t *md = json_pack("{s:s, s:{s:s, s:n}, s:{s:I, s:I, s:I, s:I}}", "type", "message_delta",
                           "delta", "stop_reason", self->stop ? self->stop : "end_turn",
                           "stop_sequence", "usage", "input_tokens", (json_int_t)(in - cached),
                           "cache_creation_input_tokens", (json_int_t)0, "cache_read_input_tokens",
                           (json_int_t)cached, "output_tokens", (json_int_t)self->usage.out);
    rc = s_event("message_delta", md, out);
    if (rc == TG_OK)
        rc = s_event("message_stop", json_pack("{s:s}", "type", "message_stop"), out);
    if (rc == TG_OK)
        self->finished = true;
    return rc;
}

static int
s_chunk(worker_ingress_stream_t *self, const json_t *doc, tg_buf_t *out)
{
    json_t *err = json_object_get(doc, "error");
    if (s_given(err)) {
        char *body = json_dumps(doc, JSON_COMPACT);
        char *a = tg_error_anthropic(500, body, body ? strlen(body) : 0);
        tg_buf_printf(out, "event: error\ndata: %s\n\n", a);
        free(a);
        free(body);
        self->failed = true;
        return TG_ERR;
    }
    int rc = s_start(self, out);
    if (rc != TG_OK)
        return rc;
    worker_usage_from_openai(doc, &self->usage);  //  TG_NOTFOUND on most chunks
    json_t *choice = json_array_get(json_object_get(doc, "choices"), 0);
    json_t *delta = json_object_get(choice, "delta");
    json_t *text = json_object_get(delta, "content");
    if (rc == TG_OK && json_is_string(text) && json_string_length(text))
        rc = s_text(self, text, out);
    size_t k;
    json_t *tc;
    json_array_foreach(json_object_get(delta, "tool_calls"), k, tc)
    {
        if (rc == TG_OK)
            rc = s_tool(self, tc, out);
    }
    const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
    if (rc == TG_OK && finish)
        self->stop = worker_ingress_stop_reason(finish);
    return rc;
}

int
worker_ingress_stream_event(worker_ingress_stream_t *self,
                            const char *data,
                            size_t len,
                            tg_buf_t *out)
{
    assert(self);
    assert(out);
    assert(data || len == 0);
    if (self->finished || self->failed)
        return TG_OK;
    size_t mark = out->len;
    int rc;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        rc = s_finish(self, out);
    else {
        json_t *doc = len ? json_loadb(data, len, 0, NULL) : NULL;
        rc = json_is_object(doc) ? s_chunk(self, doc, out) : TG_INVALID;
        json_decref(doc);
    }
    if (rc == TG_INVALID) {  //  nothing of this event goes out; the stream stops here
        self->failed = true;
        out->len = mark;
        if (out->data)
            out->data[mark] = 0;
    }
    return rc;
}
