//  tg_validate_messages.c - Anthropic Messages request checks (POST /v1/messages), with the
//  messages and dotted field paths Anthropic's API uses.
#include "tg_validate.h"
#include "tg_util.h"

#include <stdio.h>
#include <string.h>

static int
s_fail(char **msg_p, char **param_p, const char *path, const char *what)
{
    *param_p = tg_strdup(path);
    *msg_p = tg_strfmt("%s: %s", path, what);
    return TG_INVALID;
}

static bool
s_given(const json_t *v)
{
    return v && !json_is_null(v);
}

//  One content block of a `role` message; role NULL: a block of `system` (text only).
static int
s_block(const json_t *b, const char *path, const char *role, char **msg_p, char **param_p)
{
    if (!json_is_object(b))
        return s_fail(msg_p, param_p, path, "Input should be a valid dictionary");
    json_t *type = json_object_get(b, "type");
    char sub[160];
    snprintf(sub, sizeof sub, "%s.type", path);
    if (!json_is_string(type))
        return s_fail(msg_p, param_p, sub, "Field required");
    const char *t = json_string_value(type);
    if (strcmp(t, "text") == 0) {
        snprintf(sub, sizeof sub, "%s.text", path);
        if (!json_is_string(json_object_get(b, "text")))
            return s_fail(msg_p, param_p, sub, "Input should be a valid string");
        return TG_OK;
    }
    if (!role)
        return s_fail(msg_p, param_p, sub, "Input should be 'text'");
    if (strcmp(t, "image") == 0 && strcmp(role, "user") == 0) {
        json_t *src = json_object_get(b, "source");
        snprintf(sub, sizeof sub, "%s.source", path);
        if (!json_is_object(src))
            return s_fail(msg_p, param_p, sub, "Field required");
        return TG_OK;
    }
    if (strcmp(t, "tool_result") == 0 && strcmp(role, "user") == 0) {
        snprintf(sub, sizeof sub, "%s.tool_use_id", path);
        if (!json_is_string(json_object_get(b, "tool_use_id")))
            return s_fail(msg_p, param_p, sub, "Field required");
        json_t *c = json_object_get(b, "content");
        snprintf(sub, sizeof sub, "%s.content", path);
        if (s_given(c) && !json_is_string(c) && !json_is_array(c))
            return s_fail(msg_p, param_p, sub, "Input should be a valid string or list");
        return TG_OK;
    }
    if (strcmp(t, "tool_use") == 0 && strcmp(role, "assistant") == 0) {
        snprintf(sub, sizeof sub, "%s.id", path);
        if (!json_is_string(json_object_get(b, "id")))
            return s_fail(msg_p, param_p, sub, "Field required");
        snprintf(sub, sizeof sub, "%s.name", path);
        if (!json_is_string(json_object_get(b, "name")))
            return s_fail(msg_p, param_p, sub, "Field required");
        snprintf(sub, sizeof sub, "%s.input", path);
        if (!json_is_object(json_object_get(b, "input")))
            return s_fail(msg_p, param_p, sub, "Input should be a valid dictionary");
        return TG_OK;
    }
    if (strcmp(t, "thinking") == 0 || strcmp(t, "redacted_thinking") == 0
        || strcmp(t, "document") == 0)
        return TG_OK;  //  passed to Claude; dropped or refused when translated
    char what[160];
    snprintf(what, sizeof what,
             "Input tag '%.40s' found using 'type' does not match any of the "
             "expected tags for a %s message",
             t, role);
    return s_fail(msg_p, param_p, sub, what);
}

static int
s_messages(const json_t *messages, char **msg_p, char **param_p)
{
    if (!s_given(messages))
        return s_fail(msg_p, param_p, "messages", "Field required");
    if (!json_is_array(messages))
        return s_fail(msg_p, param_p, "messages", "Input should be a valid list");
    if (json_array_size(messages) == 0)
        return s_fail(msg_p, param_p, "messages", "List should have at least 1 item");
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        char path[48], sub[64];
        snprintf(path, sizeof path, "messages.%zu", i);
        if (!json_is_object(m))
            return s_fail(msg_p, param_p, path, "Input should be a valid dictionary");
        json_t *role = json_object_get(m, "role");
        snprintf(sub, sizeof sub, "%s.role", path);
        if (!s_given(role))
            return s_fail(msg_p, param_p, sub, "Field required");
        const char *r = json_string_value(role);
        if (!r || (strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0))
            return s_fail(msg_p, param_p, sub, "Input should be 'user' or 'assistant'");
        json_t *content = json_object_get(m, "content");
        snprintf(sub, sizeof sub, "%s.content", path);
        if (!s_given(content))
            return s_fail(msg_p, param_p, sub, "Field required");
        if (json_is_string(content))
            continue;
        if (!json_is_array(content))
            return s_fail(msg_p, param_p, sub, "Input should be a valid string or list");
        size_t j;
        json_t *b;
        json_array_foreach(content, j, b)
        {
            char bpath[128];
            snprintf(bpath, sizeof bpath, "%s.%zu", sub, j);
            if (s_block(b, bpath, r, msg_p, param_p))
                return TG_INVALID;
        }
    }
    return TG_OK;
}

static int
s_system(const json_t *system, char **msg_p, char **param_p)
{
    if (!s_given(system) || json_is_string(system))
        return TG_OK;
    if (!json_is_array(system))
        return s_fail(msg_p, param_p, "system", "Input should be a valid string or list");
    size_t j;
    json_t *b;
    json_array_foreach(system, j, b)
    {
        char path[48];
        snprintf(path, sizeof path, "system.%zu", j);
        if (s_block(b, path, NULL, msg_p, param_p))
            return TG_INVALID;
    }
    return TG_OK;
}

static int
s_number(const json_t *body, const char *key, double lo, double hi, char **msg_p, char **param_p)
{
    json_t *v = json_object_get(body, key);
    if (!s_given(v))
        return TG_OK;
    if (!json_is_number(v))
        return s_fail(msg_p, param_p, key, "Input should be a valid number");
    double x = json_number_value(v);
    if (x < lo || x > hi) {
        char what[96];
        snprintf(what, sizeof what, "Input should be between %g and %g", lo, hi);
        return s_fail(msg_p, param_p, key, what);
    }
    return TG_OK;
}

static int
s_tools(const json_t *tools, char **msg_p, char **param_p)
{
    if (!s_given(tools))
        return TG_OK;
    if (!json_is_array(tools))
        return s_fail(msg_p, param_p, "tools", "Input should be a valid list");
    size_t k;
    json_t *t;
    json_array_foreach(tools, k, t)
    {
        char path[48];
        snprintf(path, sizeof path, "tools.%zu", k);
        if (!json_is_object(t))
            return s_fail(msg_p, param_p, path, "Input should be a valid dictionary");
        char sub[64];
        snprintf(sub, sizeof sub, "%s.name", path);
        if (!json_is_string(json_object_get(t, "name")))
            return s_fail(msg_p, param_p, sub, "Field required");
    }
    return TG_OK;
}

int
tg_validate_messages(const json_t *body, char **msg_p, char **param_p)
{
    *msg_p = NULL;
    *param_p = NULL;
    if (!json_is_object(body))
        return s_fail(msg_p, param_p, "body", "Input should be a valid dictionary");
    json_t *model = json_object_get(body, "model");
    if (!s_given(model))
        return s_fail(msg_p, param_p, "model", "Field required");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return s_fail(msg_p, param_p, "model", "Input should be a non-empty string");
    json_t *max = json_object_get(body, "max_tokens");
    if (!s_given(max))
        return s_fail(msg_p, param_p, "max_tokens", "Field required");
    if (!json_is_integer(max))
        return s_fail(msg_p, param_p, "max_tokens", "Input should be a valid integer");
    if (json_integer_value(max) < 1)
        return s_fail(msg_p, param_p, "max_tokens", "Input should be greater than or equal to 1");
    if (s_messages(json_object_get(body, "messages"), msg_p, param_p)
        || s_system(json_object_get(body, "system"), msg_p, param_p))
        return TG_INVALID;
    json_t *stream = json_object_get(body, "stream");
    if (s_given(stream) && !json_is_boolean(stream))
        return s_fail(msg_p, param_p, "stream", "Input should be a valid boolean");
    if (s_number(body, "temperature", 0, 1, msg_p, param_p)
        || s_number(body, "top_p", 0, 1, msg_p, param_p))
        return TG_INVALID;
    json_t *top_k = json_object_get(body, "top_k");
    if (s_given(top_k) && (!json_is_integer(top_k) || json_integer_value(top_k) < 0))
        return s_fail(msg_p, param_p, "top_k", "Input should be a non-negative integer");
    json_t *stop = json_object_get(body, "stop_sequences");
    if (s_given(stop)) {
        if (!json_is_array(stop))
            return s_fail(msg_p, param_p, "stop_sequences", "Input should be a valid list");
        size_t k;
        json_t *s;
        json_array_foreach(stop, k, s)
        {
            if (!json_is_string(s)) {
                char path[48];
                snprintf(path, sizeof path, "stop_sequences.%zu", k);
                return s_fail(msg_p, param_p, path, "Input should be a valid string");
            }
        }
    }
    if (s_tools(json_object_get(body, "tools"), msg_p, param_p))
        return TG_INVALID;
    json_t *tc = json_object_get(body, "tool_choice");
    if (s_given(tc) && (!json_is_object(tc) || !json_is_string(json_object_get(tc, "type"))))
        return s_fail(msg_p, param_p, "tool_choice", "Input should be an object with a type");
    json_t *meta = json_object_get(body, "metadata");
    if (s_given(meta) && !json_is_object(meta))
        return s_fail(msg_p, param_p, "metadata", "Input should be a valid dictionary");
    return TG_OK;
}
