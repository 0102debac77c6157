//  worker_messages.c - OpenAI chat.completions <-> Anthropic Messages API translation; no I/O.
#include "worker_messages.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_DEFAULT_MAX_TOKENS 4096
#define S_MAX_BLOCKS 4096  //  content blocks accepted in one streamed message

//  Kinds of content part a role may carry besides text.
enum { S_IMAGE = 1, S_REFUSAL = 2 };

static bool
s_streq(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

static bool
s_given(const json_t *v)
{
    return v && !json_is_null(v);
}

//  Counts in Anthropic usage objects: a non-negative integer, else 0.
static uint64_t
s_count(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int s_fail(char **err_p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

//  Records the first error message (never echoing request bytes) and returns TG_INVALID.
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
//  Request: OpenAI chat.completions -> Messages API

static json_t *
s_text_block(const json_t *text, const json_t *part)
{
    json_t *b = json_object();
    json_object_set_new(b, "type", json_string("text"));
    json_object_set_new(b, "text", json_deep_copy(text));
    json_t *cc = part ? json_object_get(part, "cache_control") : NULL;
    if (json_is_object(cc))
        json_object_set_new(b, "cache_control", json_deep_copy(cc));
    return b;
}

//  image_url part -> image block with a base64 (data: URL) or url source.
static int
s_image(const json_t *part, const char *where, size_t j, json_t *blocks, char **err_p)
{
    json_t *iu = json_object_get(part, "image_url");
    json_t *url = json_is_object(iu) ? json_object_get(iu, "url") : iu;
    if (!json_is_string(url))
        return s_fail(err_p, "%s.content[%zu].image_url.url is required", where, j);
    const char *u = json_string_value(url);
    json_t *source;
    if (strncasecmp(u, "data:", 5) == 0) {
        const char *comma = strchr(u + 5, ',');
        const char *semi = comma ? memchr(u + 5, ';', (size_t)(comma - (u + 5))) : NULL;
        if (!semi || semi == u + 5 || comma - semi < 7 || strncasecmp(comma - 7, ";base64", 7))
            return s_fail(err_p,
                          "%s.content[%zu].image_url.url must be a base64 data: URL or an "
                          "http(s) URL",
                          where, j);
        source = json_pack("{s:s, s:s%, s:s}", "type", "base64", "media_type", u + 5,
                           (size_t)(semi - (u + 5)), "data", comma + 1);
    } else if (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0)
        source = json_pack("{s:s, s:s}", "type", "url", "url", u);
    else
        return s_fail(err_p,
                      "%s.content[%zu].image_url.url must be a base64 data: URL or an http(s) URL",
                      where, j);
    json_t *b = json_pack("{s:s, s:o}", "type", "image", "source", source);
    json_t *cc = json_object_get(part, "cache_control");
    if (json_is_object(cc))
        json_object_set_new(b, "cache_control", json_deep_copy(cc));
    json_array_append_new(blocks, b);
    return TG_OK;
}

//  Message content (string or array of parts) -> content blocks appended to blocks. Empty
//  text is skipped: the Messages API refuses empty text blocks.
static int
s_content(const json_t *content, const char *where, int kinds, json_t *blocks, char **err_p)
{
    if (json_is_string(content)) {
        if (json_string_length(content) > 0)
            json_array_append_new(blocks, s_text_block(content, NULL));
        return TG_OK;
    }
    if (!json_is_array(content))
        return s_fail(err_p, "%s.content must be a string or an array of content parts", where);
    size_t j;
    json_t *part;
    json_array_foreach(content, j, part)
    {
        if (!json_is_object(part))
            return s_fail(err_p, "%s.content[%zu] must be an object", where, j);
        json_t *type = json_object_get(part, "type");
        if (!json_is_string(type))
            return s_fail(err_p, "%s.content[%zu].type is required", where, j);
        const char *t = json_string_value(type);
        bool refusal = (kinds & S_REFUSAL) && strcmp(t, "refusal") == 0;
        if (strcmp(t, "text") == 0 || refusal) {
            const char *key = refusal ? "refusal" : "text";
            json_t *text = json_object_get(part, key);
            if (!json_is_string(text))
                return s_fail(err_p, "%s.content[%zu].%s must be a string", where, j, key);
            if (json_string_length(text) > 0)
                json_array_append_new(blocks, s_text_block(text, part));
        } else if ((kinds & S_IMAGE) && strcmp(t, "image_url") == 0) {
            int rc = s_image(part, where, j, blocks, err_p);
            if (rc)
                return rc;
        } else
            return s_fail(err_p, "%s.content[%zu].type must be %s", where, j,
                          (kinds & S_IMAGE)     ? "\"text\" or \"image_url\""
                          : (kinds & S_REFUSAL) ? "\"text\" or \"refusal\""
                                                : "\"text\"");
    }
    return TG_OK;
}

//  Assistant tool_calls -> tool_use blocks (arguments parsed from their JSON string).
static int
s_tool_calls(const json_t *calls, const char *where, json_t *blocks, char **err_p)
{
    if (!s_given(calls))
        return TG_OK;
    if (!json_is_array(calls))
        return s_fail(err_p, "%s.tool_calls must be an array", where);
    size_t k;
    json_t *call;
    json_array_foreach(calls, k, call)
    {
        if (!json_is_object(call))
            return s_fail(err_p, "%s.tool_calls[%zu] must be an object", where, k);
        json_t *id = json_object_get(call, "id");
        if (!json_is_string(id))
            return s_fail(err_p, "%s.tool_calls[%zu].id is required", where, k);
        json_t *type = json_object_get(call, "type");
        if (s_given(type) && !s_streq(type, "function"))
            return s_fail(err_p, "%s.tool_calls[%zu].type must be \"function\"", where, k);
        json_t *fn = json_object_get(call, "function");
        if (!json_is_object(fn))
            return s_fail(err_p, "%s.tool_calls[%zu].function is required", where, k);
        json_t *name = json_object_get(fn, "name");
        if (!json_is_string(name))
            return s_fail(err_p, "%s.tool_calls[%zu].function.name is required", where, k);
        json_t *args = json_object_get(fn, "arguments");
        json_t *input = NULL;
        if (!s_given(args))
            input = json_object();
        else if (json_is_object(args))
            input = json_deep_copy(args);
        else if (json_is_string(args)) {
            const char *s = json_string_value(args);
            size_t n = json_string_length(args);
            if (n == strspn(s, " \t\r\n"))
                input = json_object();  //  "" means no arguments
            else
                input = json_loadb(s, n, 0, NULL);
        }
        if (!json_is_object(input)) {
            json_decref(input);
            return s_fail(err_p,
                          "%s.tool_calls[%zu].function.arguments must be a JSON object "
                          "encoded as a string",
                          where, k);
        }
        json_array_append_new(blocks, json_pack("{s:s, s:O, s:O, s:o}", "type", "tool_use", "id",
                                                id, "name", name, "input", input));
    }
    return TG_OK;
}

//  tool message -> tool_result block.
static int
s_tool_result(const json_t *m, const char *where, json_t *blocks, char **err_p)
{
    json_t *id = json_object_get(m, "tool_call_id");
    if (!json_is_string(id))
        return s_fail(err_p, "%s.tool_call_id is required", where);
    json_t *b = json_pack("{s:s, s:O}", "type", "tool_result", "tool_use_id", id);
    json_t *content = json_object_get(m, "content");
    if (json_is_string(content)) {
        if (json_string_length(content) > 0)
            json_object_set_new(b, "content", json_deep_copy(content));
    } else if (s_given(content)) {
        json_t *parts = json_array();
        int rc = s_content(content, where, 0, parts, err_p);
        if (rc) {
            json_decref(parts);
            json_decref(b);
            return rc;
        }
        if (json_array_size(parts))
            json_object_set_new(b, "content", parts);
        else
            json_decref(parts);
    }
    json_array_append_new(blocks, b);
    return TG_OK;
}

//  Appends a message, merging it into the previous one when the role repeats: the Messages
//  API wants user and assistant turns to alternate. Takes blocks.
static void
s_push(json_t *msgs, const char *role, json_t *blocks)
{
    size_t n = json_array_size(msgs);
    json_t *last = n ? json_array_get(msgs, n - 1) : NULL;
    if (last && s_streq(json_object_get(last, "role"), role)) {
        json_array_extend(json_object_get(last, "content"), blocks);
        json_decref(blocks);
    } else
        json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", role, "content", blocks));
}

//  Appends the text of a system/developer message to sys, segments joined by a blank line.
static void
s_system_text(const json_t *blocks, tg_buf_t *sys)
{
    size_t j;
    json_t *b;
    json_array_foreach(blocks, j, b)
    {
        json_t *text = json_object_get(b, "text");
        if (sys->len)
            tg_buf_append(sys, "\n\n", 2);
        tg_buf_append(sys, json_string_value(text), json_string_length(text));
    }
}

static int
s_messages(const json_t *req, json_t *msgs, tg_buf_t *sys, char **err_p)
{
    json_t *messages = json_object_get(req, "messages");
    if (!s_given(messages))
        return s_fail(err_p, "messages is required");
    if (!json_is_array(messages))
        return s_fail(err_p, "messages must be an array");
    if (json_array_size(messages) == 0)
        return s_fail(err_p, "messages must not be empty");
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        char where[40];
        snprintf(where, sizeof where, "messages[%zu]", i);
        if (!json_is_object(m))
            return s_fail(err_p, "%s must be an object", where);
        json_t *role = json_object_get(m, "role");
        if (!s_given(role))
            return s_fail(err_p, "%s.role is required", where);
        if (!json_is_string(role))
            return s_fail(err_p, "%s.role must be a string", where);
        const char *r = json_string_value(role);
        json_t *content = json_object_get(m, "content");
        json_t *blocks = json_array();
        const char *as = "user";
        int rc = TG_OK;
        if (strcmp(r, "system") == 0 || strcmp(r, "developer") == 0) {
            if (!s_given(content))
                rc = s_fail(err_p, "%s.content is required", where);
            else
                rc = s_content(content, where, 0, blocks, err_p);
            if (rc == TG_OK)
                s_system_text(blocks, sys);
            json_decref(blocks);
            if (rc)
                return rc;
            continue;
        }
        if (strcmp(r, "user") == 0) {
            if (!s_given(content))
                rc = s_fail(err_p, "%s.content is required", where);
            else
                rc = s_content(content, where, S_IMAGE, blocks, err_p);
        } else if (strcmp(r, "assistant") == 0) {
            as = "assistant";
            if (s_given(content))
                rc = s_content(content, where, S_REFUSAL, blocks, err_p);
            if (rc == TG_OK)
                rc = s_tool_calls(json_object_get(m, "tool_calls"), where, blocks, err_p);
            if (rc == TG_OK && s_given(json_object_get(m, "function_call")))
                rc = s_fail(err_p, "%s.function_call is not supported; use tool_calls", where);
        } else if (strcmp(r, "tool") == 0)
            rc = s_tool_result(m, where, blocks, err_p);
        else
            rc = s_fail(err_p,
                        "%s.role must be one of \"system\", \"developer\", \"user\", "
                        "\"assistant\", \"tool\"",
                        where);
        if (rc == TG_OK && json_array_size(blocks) == 0)
            rc = s_fail(err_p, "%s.content must not be empty", where);
        if (rc) {
            json_decref(blocks);
            return rc;
        }
        s_push(msgs, as, blocks);
    }
    if (json_array_size(msgs) == 0)
        return s_fail(err_p, "messages must include a user or assistant message");
    return TG_OK;
}

static int
s_max_tokens(const json_t *req, json_t *out, char **err_p)
{
    const char *key = "max_completion_tokens";
    json_t *v = json_object_get(req, key);
    if (!s_given(v)) {
        key = "max_tokens";
        v = json_object_get(req, key);
    }
    json_int_t n = S_DEFAULT_MAX_TOKENS;
    if (s_given(v)) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return s_fail(err_p, "%s must be a positive integer", key);
        n = json_integer_value(v);
    }
    json_object_set_new(out, "max_tokens", json_integer(n));
    return TG_OK;
}

static int
s_sampling(const json_t *req, json_t *out, char **err_p)
{
    static const char *const numbers[] = {"temperature", "top_p"};
    for (size_t k = 0; k < sizeof numbers / sizeof numbers[0]; k++) {
        json_t *v = json_object_get(req, numbers[k]);
        if (!s_given(v))
            continue;
        if (!json_is_number(v))
            return s_fail(err_p, "%s must be a number", numbers[k]);
        json_object_set_new(out, numbers[k], json_deep_copy(v));
    }
    json_t *n = json_object_get(req, "n");
    if (s_given(n) && !(json_is_integer(n) && json_integer_value(n) == 1))
        return s_fail(err_p, "n must be 1: Anthropic models return one choice");
    json_t *stop = json_object_get(req, "stop");
    if (!s_given(stop))
        return TG_OK;
    json_t *seqs = json_array();
    if (json_is_string(stop))
        json_array_append_new(seqs, json_deep_copy(stop));
    else if (json_is_array(stop)) {
        size_t k;
        json_t *s;
        json_array_foreach(stop, k, s)
        {
            if (!json_is_string(s)) {
                json_decref(seqs);
                return s_fail(err_p, "stop[%zu] must be a string", k);
            }
            json_array_append_new(seqs, json_deep_copy(s));
        }
    } else {
        json_decref(seqs);
        return s_fail(err_p, "stop must be a string or an array of strings");
    }
    if (json_array_size(seqs))
        json_object_set_new(out, "stop_sequences", seqs);
    else
        json_decref(seqs);
    return TG_OK;
}

static int
s_tool_defs(const json_t *tools, json_t **defs_p, char **err_p)
{
    *defs_p = NULL;
    if (!s_given(tools))
        return TG_OK;
    if (!json_is_array(tools))
        return s_fail(err_p, "tools must be an array");
    json_t *defs = json_array();
    size_t k;
    json_t *t;
    json_array_foreach(tools, k, t)
    {
        int rc = TG_OK;
        json_t *fn = json_is_object(t) ? json_object_get(t, "function") : NULL;
        json_t *name = json_is_object(fn) ? json_object_get(fn, "name") : NULL;
        json_t *desc = json_is_object(fn) ? json_object_get(fn, "description") : NULL;
        json_t *params = json_is_object(fn) ? json_object_get(fn, "parameters") : NULL;
        if (!json_is_object(t))
            rc = s_fail(err_p, "tools[%zu] must be an object", k);
        else if (!s_streq(json_object_get(t, "type"), "function"))
            rc = s_fail(err_p, "tools[%zu].type must be \"function\"", k);
        else if (!json_is_object(fn))
            rc = s_fail(err_p, "tools[%zu].function is required", k);
        else if (!json_is_string(name))
            rc = s_fail(err_p, "tools[%zu].function.name is required", k);
        else if (s_given(desc) && !json_is_string(desc))
            rc = s_fail(err_p, "tools[%zu].function.description must be a string", k);
        else if (s_given(params) && !json_is_object(params))
            rc = s_fail(err_p, "tools[%zu].function.parameters must be an object", k);
        if (rc) {
            json_decref(defs);
            return rc;
        }
        json_t *def = json_pack("{s:O}", "name", name);
        if (s_given(desc))
            json_object_set_new(def, "description", json_deep_copy(desc));
        json_object_set_new(def, "input_schema",
                            s_given(params)
                                ? json_deep_copy(params)
                                : json_pack("{s:s, s:{}}", "type", "object", "properties"));
        json_array_append_new(defs, def);
    }
    *defs_p = defs;
    return TG_OK;
}

static int
s_tool_choice(const json_t *choice, json_t **tc_p, char **err_p)
{
    static const char *const usage = "tool_choice must be \"auto\", \"required\", \"none\" or "
                                     "{\"type\":\"function\",\"function\":{\"name\":...}}";
    *tc_p = NULL;
    if (!s_given(choice))
        return TG_OK;
    if (json_is_string(choice)) {
        const char *c = json_string_value(choice);
        const char *type = strcmp(c, "auto") == 0       ? "auto"
                           : strcmp(c, "required") == 0 ? "any"
                           : strcmp(c, "none") == 0     ? "none"
                                                        : NULL;
        if (!type)
            return s_fail(err_p, "%s", usage);
        *tc_p = json_pack("{s:s}", "type", type);
        return TG_OK;
    }
    if (!json_is_object(choice))
        return s_fail(err_p, "%s", usage);
    json_t *type = json_object_get(choice, "type");
    if (s_given(type) && !s_streq(type, "function"))
        return s_fail(err_p, "%s", usage);
    json_t *fn = json_object_get(choice, "function");
    json_t *name = json_is_object(fn) ? json_object_get(fn, "name") : NULL;
    if (!json_is_string(name))
        return s_fail(err_p, "tool_choice.function.name is required");
    *tc_p = json_pack("{s:s, s:O}", "type", "tool", "name", name);
    return TG_OK;
}

static int
s_tools(const json_t *req, json_t *out, char **err_p)
{
    json_t *ptc = json_object_get(req, "parallel_tool_calls");
    if (s_given(ptc) && !json_is_boolean(ptc))
        return s_fail(err_p, "parallel_tool_calls must be a boolean");
    json_t *defs, *tc;
    int rc = s_tool_defs(json_object_get(req, "tools"), &defs, err_p);
    if (rc)
        return rc;
    rc = s_tool_choice(json_object_get(req, "tool_choice"), &tc, err_p);
    if (rc || json_array_size(defs) == 0) {  //  the API refuses tool_choice without tools
        json_decref(defs);
        json_decref(tc);
        return rc;
    }
    json_object_set_new(out, "tools", defs);
    if (json_is_false(ptc)) {
        if (!tc)
            tc = json_pack("{s:s}", "type", "auto");
        if (!s_streq(json_object_get(tc, "type"), "none"))
            json_object_set_new(tc, "disable_parallel_tool_use", json_true());
    }
    if (tc)
        json_object_set_new(out, "tool_choice", tc);
    return TG_OK;
}

int
worker_messages_request(
    const json_t *oai_req, const char *upstream_model, bool stream, json_t **out_p, char **err_p)
{
    assert(upstream_model);
    assert(out_p);
    *out_p = NULL;
    if (err_p)
        *err_p = NULL;
    if (!json_is_object(oai_req))
        return s_fail(err_p, "request body must be a JSON object");
    json_t *out = json_pack("{s:s}", "model", upstream_model);
    json_t *msgs = json_array();
    tg_buf_t sys;
    tg_buf_init(&sys, SIZE_MAX);
    int rc = s_messages(oai_req, msgs, &sys, err_p);
    if (rc == TG_OK)
        rc = s_max_tokens(oai_req, out, err_p);
    if (rc == TG_OK && sys.len)
        json_object_set_new(out, "system", json_stringn(sys.data, sys.len));
    if (rc == TG_OK)
        json_object_set(out, "messages", msgs);
    if (rc == TG_OK)
        rc = s_sampling(oai_req, out, err_p);
    if (rc == TG_OK)
        rc = s_tools(oai_req, out, err_p);
    json_t *user = json_object_get(oai_req, "user");
    if (rc == TG_OK && s_given(user)) {
        if (!json_is_string(user))
            rc = s_fail(err_p, "user must be a string");
        else if (json_string_length(user))
            json_object_set_new(out, "metadata", json_pack("{s:O}", "user_id", user));
    }
    if (rc == TG_OK)
        json_object_set_new(out, "stream", json_boolean(stream));
    tg_buf_fini(&sys);
    json_decref(msgs);
    if (rc)
        json_decref(out);
    else
        *out_p = out;
    return rc;
}

//  ---------------------------------------------------------------------------------------
//  Responses: Messages API -> OpenAI chat.completion

static const char *
s_finish_reason(const char *stop_reason)
{
    if (!stop_reason)
        return "stop";
    if (strcmp(stop_reason, "max_tokens") == 0
        || strcmp(stop_reason, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop_reason, "refusal") == 0)
        return "content_filter";
    return "stop";  //  end_turn, stop_sequence, pause_turn and reasons added later
}

//  OpenAI usage: prompt tokens include the ones read from and written to the prompt cache.
static json_t *
s_usage_json(uint64_t in, uint64_t out, uint64_t cache_read, uint64_t cache_write)
{
    uint64_t prompt = in + cache_read + cache_write;
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)prompt,
                     "completion_tokens", (json_int_t)out, "total_tokens",
                     (json_int_t)(prompt + out), "prompt_tokens_details", "cached_tokens",
                     (json_int_t)cache_read);
}

json_t *
worker_messages_response(const json_t *msg, const char *model, const char *id, int64_t created)
{
    if (!json_is_object(msg))
        return NULL;
    json_t *type = json_object_get(msg, "type");
    json_t *content = json_object_get(msg, "content");
    if ((s_given(type) && !s_streq(type, "message")) || !json_is_array(content))
        return NULL;
    if (!id)
        id = json_string_value(json_object_get(msg, "id"));
    if (!model)
        model = json_string_value(json_object_get(msg, "model"));
    if (!id || !model)
        return NULL;
    tg_buf_t text;
    tg_buf_init(&text, SIZE_MAX);
    bool has_text = false;
    json_t *calls = json_array();
    size_t k;
    json_t *b;
    json_array_foreach(content, k, b)
    {
        const char *btype = json_string_value(json_object_get(b, "type"));
        if (!btype)
            goto bad;
        if (strcmp(btype, "text") == 0) {
            json_t *t = json_object_get(b, "text");
            if (!json_is_string(t))
                goto bad;
            tg_buf_append(&text, json_string_value(t), json_string_length(t));
            has_text = true;
        } else if (strcmp(btype, "tool_use") == 0) {
            json_t *bid = json_object_get(b, "id");
            json_t *name = json_object_get(b, "name");
            json_t *input = json_object_get(b, "input");
            if (!json_is_string(bid) || !json_is_string(name))
                goto bad;
            char *args =
                input ? json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY) : tg_strdup("{}");
            if (!args)
                goto bad;
            json_array_append_new(calls, json_pack("{s:O, s:s, s:{s:O, s:s}}", "id", bid, "type",
                                                   "function", "function", "name", name,
                                                   "arguments", args));
            free(args);
        }
        //  thinking, redacted_thinking and server-tool blocks have no chat.completion form
    }
    json_t *message = json_pack("{s:s, s:o}", "role", "assistant", "content",
                                has_text ? json_stringn(text.data, text.len) : json_null());
    if (json_array_size(calls))
        json_object_set(message, "tool_calls", calls);
    json_object_set_new(message, "refusal", json_null());
    json_t *usage = json_object_get(msg, "usage");
    json_t *out =
        json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s}], s:o}", "id", id, "object",
                  "chat.completion", "created", (json_int_t)created, "model", model, "choices",
                  "index", 0, "message", message, "logprobs", "finish_reason",
                  s_finish_reason(json_string_value(json_object_get(msg, "stop_reason"))), "usage",
                  s_usage_json(s_count(usage, "input_tokens"), s_count(usage, "output_tokens"),
                               s_count(usage, "cache_read_input_tokens"),
                               s_count(usage, "cache_creation_input_tokens")));
    json_decref(calls);
    tg_buf_fini(&text);
    return out;
bad:
    json_decref(calls);
    tg_buf_fini(&text);
    return NULL;
}

//  Anthropic (and OpenAI) error types -> the OpenAI type a client expects.
static const struct {
    const char *from;  //  upstream error.type
    const char *to;    //  OpenAI error.type
} s_error_types[] = {
    {"invalid_request_error", "invalid_request_error"},
    {"request_too_large", "invalid_request_error"},
    {"not_found_error", "invalid_request_error"},  //  OpenAI answers 404s with this type
    {"authentication_error", "authentication_error"},
    {"permission_error", "permission_error"},
    {"billing_error", "insufficient_quota"},
    {"insufficient_quota", "insufficient_quota"},
    {"rate_limit_error", "rate_limit_error"},
    {"api_error", "server_error"},
    {"overloaded_error", "server_error"},
    {"timeout_error", "server_error"},
    {"server_error", "server_error"},
};

static const char *
s_error_type(const char *type, int http_status)
{
    for (size_t k = 0; type && k < sizeof s_error_types / sizeof s_error_types[0]; k++)
        if (strcmp(type, s_error_types[k].from) == 0)
            return s_error_types[k].to;
    switch (http_status) {
    case 401:
        return "authentication_error";
    case 402:
        return "insufficient_quota";
    case 403:
        return "permission_error";
    case 408:
        return "server_error";
    case 429:
        return "rate_limit_error";
    default:
        return http_status >= 400 && http_status < 500 ? "invalid_request_error" : "server_error";
    }
}

json_t *
worker_messages_error_to_openai(int http_status, const char *body, size_t len)
{
    json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *err = json_is_object(doc) ? json_object_get(doc, "error") : NULL;
    const char *type = NULL, *message = NULL;
    if (json_is_object(err)) {
        type = json_string_value(json_object_get(err, "type"));
        message = json_string_value(json_object_get(err, "message"));
    } else if (json_is_string(err))
        message = json_string_value(err);
    char fallback[80];
    if (!message || !*message) {
        if (http_status > 0)
            snprintf(fallback, sizeof fallback, "upstream returned HTTP %d%s", http_status,
                     body && len ? "" : " with an empty body");
        else
            snprintf(fallback, sizeof fallback, "upstream stream failed");
        message = fallback;
    }
    json_t *env = json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", message, "type",
                            s_error_type(type, http_status), "param", "code");
    json_decref(doc);
    assert(env);  //  only valid UTF-8 goes in
    return env;
}

//  ---------------------------------------------------------------------------------------
//  Streams: Messages events -> chat.completion.chunk SSE lines

struct worker_messages_stream {
    char *id;              //  chat.completion.chunk id
    char *model;           //  model name shown to the client
    int64_t created;       //  unix seconds shown to the client
    bool include_usage;    //  stream_options.include_usage: usage chunk before [DONE]
    bool started;          //  the role chunk has been written
    bool finished;         //  message_stop translated, [DONE] written
    bool failed;           //  an error event was translated
    const char *finish;    //  finish_reason from message_delta (static), NULL until seen
    bool usage_seen;       //  some usage was reported
    uint64_t in;           //  input_tokens (not cached)
    uint64_t out;          //  output_tokens, cumulative
    uint64_t cache_read;   //  cache_read_input_tokens
    uint64_t cache_write;  //  cache_creation_input_tokens
    int *tool_of_block;    //  OpenAI tool_calls index per content block index, -1 if none
    size_t blocks;         //  entries in tool_of_block
    int tools;             //  tool_use blocks seen so far
};

worker_messages_stream_t *
worker_messages_stream_new(const char *id, const char *model, int64_t created, bool include_usage)
{
    assert(id);
    assert(model);
    worker_messages_stream_t *self = tg_zalloc(sizeof *self);
    self->id = tg_strdup(id);
    self->model = tg_strdup(model);
    self->created = created;
    self->include_usage = include_usage;
    return self;
}

void
worker_messages_stream_destroy(worker_messages_stream_t **self_p)
{
    assert(self_p);
    worker_messages_stream_t *self = *self_p;
    if (!self)
        return;
    free(self->tool_of_block);
    free(self->model);
    free(self->id);
    free(self);
    *self_p = NULL;
}

worker_usage_t
worker_messages_stream_usage(const worker_messages_stream_t *self)
{
    assert(self);
    worker_usage_t u = {.seen = self->usage_seen};
    u.in = self->in + self->cache_read + self->cache_write;
    u.out = self->out;
    u.cached = self->cache_read;
    u.cwrite = self->cache_write;
    u.total = u.in + u.out;
    return u;
}

bool
worker_messages_stream_is_finished(const worker_messages_stream_t *self)
{
    assert(self);
    return self->finished;
}

//  Appends "data: <json>\n\n" to out, all or nothing. Takes obj.
static int
s_emit(json_t *obj, tg_buf_t *out)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!s)
        return TG_ERR;
    size_t n = strlen(s);
    int rc = TG_INVALID;
    if (out->len <= out->limit && n + 8 <= out->limit - out->len) {
        tg_buf_append(out, "data: ", 6);
        tg_buf_append(out, s, n);
        tg_buf_append(out, "\n\n", 2);
        rc = TG_OK;
    }
    free(s);
    return rc;
}

static json_t *
s_chunk_head(worker_messages_stream_t *self)
{
    return json_pack("{s:s, s:s, s:I, s:s}", "id", self->id, "object", "chat.completion.chunk",
                     "created", (json_int_t)self->created, "model", self->model);
}

//  Writes one chunk with this delta (taken) and finish_reason (NULL: null).
static int
s_chunk(worker_messages_stream_t *self, json_t *delta, const char *finish, tg_buf_t *out)
{
    json_t *c = s_chunk_head(self);
    json_object_set_new(c, "choices",
                        json_pack("[{s:i, s:o, s:n, s:s?}]", "index", 0, "delta", delta, "logprobs",
                                  "finish_reason", finish));
    if (self->include_usage)
        json_object_set_new(c, "usage", json_null());  //  as OpenAI does on every chunk
    return s_emit(c, out);
}

//  The first chunk announces the assistant role, whatever event comes first.
static int
s_start(worker_messages_stream_t *self, tg_buf_t *out)
{
    if (self->started)
        return TG_OK;
    int rc = s_chunk(self, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, out);
    if (rc == TG_OK)
        self->started = true;
    return rc;
}

static void
s_take_usage(worker_messages_stream_t *self, const json_t *usage)
{
    if (!json_is_object(usage))
        return;
    self->usage_seen = true;
    if (json_is_integer(json_object_get(usage, "input_tokens")))
        self->in = s_count(usage, "input_tokens");
    if (json_is_integer(json_object_get(usage, "output_tokens")))
        self->out = s_count(usage, "output_tokens");
    if (json_is_integer(json_object_get(usage, "cache_read_input_tokens")))
        self->cache_read = s_count(usage, "cache_read_input_tokens");
    if (json_is_integer(json_object_get(usage, "cache_creation_input_tokens")))
        self->cache_write = s_count(usage, "cache_creation_input_tokens");
}

//  Content block index from an event; -1 if missing or out of range.
static int
s_block_index(const json_t *doc)
{
    json_t *ix = json_object_get(doc, "index");
    if (!json_is_integer(ix) || json_integer_value(ix) < 0
        || json_integer_value(ix) >= S_MAX_BLOCKS)
        return -1;
    return (int)json_integer_value(ix);
}

static int
s_on_block_start(worker_messages_stream_t *self, const json_t *doc, tg_buf_t *out)
{
    int ix = s_block_index(doc);
    json_t *cb = json_object_get(doc, "content_block");
    if (ix < 0 || !json_is_object(cb))
        return TG_INVALID;
    if ((size_t)ix >= self->blocks) {
        self->tool_of_block = tg_realloc(self->tool_of_block, (size_t)(ix + 1) * sizeof(int));
        for (size_t k = self->blocks; k <= (size_t)ix; k++)
            self->tool_of_block[k] = -1;
        self->blocks = (size_t)ix + 1;
    }
    const char *type = json_string_value(json_object_get(cb, "type"));
    if (!type)
        return TG_INVALID;
    if (strcmp(type, "tool_use") == 0) {
        json_t *id = json_object_get(cb, "id");
        json_t *name = json_object_get(cb, "name");
        if (!json_is_string(id) || !json_is_string(name))
            return TG_INVALID;
        int tool = self->tools++;
        self->tool_of_block[ix] = tool;
        return s_chunk(self,
                       json_pack("{s:[{s:i, s:O, s:s, s:{s:O, s:s}}]}", "tool_calls", "index", tool,
                                 "id", id, "type", "function", "function", "name", name,
                                 "arguments", ""),
                       NULL, out);
    }
    json_t *text = json_object_get(cb, "text");
    if (strcmp(type, "text") == 0 && json_is_string(text) && json_string_length(text))
        return s_chunk(self, json_pack("{s:O}", "content", text), NULL, out);
    return TG_OK;
}

static int
s_on_block_delta(worker_messages_stream_t *self, const json_t *doc, tg_buf_t *out)
{
    int ix = s_block_index(doc);
    json_t *delta = json_object_get(doc, "delta");
    if (ix < 0 || !json_is_object(delta))
        return TG_INVALID;
    const char *type = json_string_value(json_object_get(delta, "type"));
    if (!type)
        return TG_INVALID;
    if (strcmp(type, "text_delta") == 0) {
        json_t *text = json_object_get(delta, "text");
        if (!json_is_string(text))
            return TG_INVALID;
        if (json_string_length(text) == 0)
            return TG_OK;
        return s_chunk(self, json_pack("{s:O}", "content", text), NULL, out);
    }
    if (strcmp(type, "input_json_delta") == 0) {
        json_t *piece = json_object_get(delta, "partial_json");
        if (!json_is_string(piece) || (size_t)ix >= self->blocks || self->tool_of_block[ix] < 0)
            return TG_INVALID;
        if (json_string_length(piece) == 0)
            return TG_OK;
        return s_chunk(self,
                       json_pack("{s:[{s:i, s:{s:O}}]}", "tool_calls", "index",
                                 self->tool_of_block[ix], "function", "arguments", piece),
                       NULL, out);
    }
    return TG_OK;  //  thinking, signature and citation deltas have no chunk form
}

static int
s_on_stop(worker_messages_stream_t *self, tg_buf_t *out)
{
    int rc = s_chunk(self, json_object(), self->finish ? self->finish : "stop", out);
    if (rc == TG_OK && self->include_usage) {
        json_t *c = s_chunk_head(self);
        json_object_set_new(c, "choices", json_array());
        json_object_set_new(c, "usage",
                            s_usage_json(self->in, self->out, self->cache_read, self->cache_write));
        rc = s_emit(c, out);
    }
    if (rc == TG_OK)
        rc = tg_buf_puts(out, "data: [DONE]\n\n");
    if (rc == TG_OK)
        self->finished = true;
    return rc;
}

int
worker_messages_stream_event(
    worker_messages_stream_t *self, const char *event, const char *data, size_t len, tg_buf_t *out)
{
    assert(self);
    assert(out);
    assert(data || len == 0);
    if (self->finished || self->failed)
        return TG_OK;
    json_t *doc = NULL;
    const char *name = event;
    if (!name || !*name || strcmp(name, "message") == 0) {  //  unnamed: the type says
        doc = data ? json_loadb(data, len, 0, NULL) : NULL;
        name = json_string_value(json_object_get(doc, "type"));
        if (!name) {
            json_decref(doc);
            return TG_INVALID;
        }
    }
    if (strcmp(name, "error") == 0) {
        json_decref(doc);
        self->failed = true;
        s_emit(worker_messages_error_to_openai(0, data, len), out);
        return TG_ERR;
    }
    bool known = strcmp(name, "message_start") == 0 || strcmp(name, "content_block_start") == 0
                 || strcmp(name, "content_block_delta") == 0 || strcmp(name, "message_delta") == 0
                 || strcmp(name, "message_stop") == 0;
    if (!known) {  //  ping, content_block_stop and event types added later
        json_decref(doc);
        return TG_OK;
    }
    if (!doc)
        doc = data ? json_loadb(data, len, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return TG_INVALID;
    }
    int rc = TG_OK;
    if (strcmp(name, "message_start") == 0) {
        json_t *m = json_object_get(doc, "message");
        if (!json_is_object(m))
            rc = TG_INVALID;
        else
            s_take_usage(self, json_object_get(m, "usage"));
    }
    if (rc == TG_OK)
        rc = s_start(self, out);
    if (rc == TG_OK) {
        if (strcmp(name, "content_block_start") == 0)
            rc = s_on_block_start(self, doc, out);
        else if (strcmp(name, "content_block_delta") == 0)
            rc = s_on_block_delta(self, doc, out);
        else if (strcmp(name, "message_delta") == 0) {
            json_t *delta = json_object_get(doc, "delta");
            const char *stop = json_string_value(json_object_get(delta, "stop_reason"));
            if (stop)
                self->finish = s_finish_reason(stop);
            s_take_usage(self, json_object_get(doc, "usage"));
        } else if (strcmp(name, "message_stop") == 0)
            rc = s_on_stop(self, out);
    }
    json_decref(doc);
    return rc;
}
