//  tg_validate.c - OpenAI request body checks with OpenAI-style messages and param paths.
#include "tg_validate.h"
#include "tg_util.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef enum {
    P_STRING,     //  a string
    P_BOOL,       //  true / false
    P_NUMBER,     //  integer or real within [min, max]
    P_INT,        //  integer within [min, max]
    P_OBJECT,     //  an object
    P_ARRAY,      //  an array
    P_STOP,       //  a string or an array of up to 4 strings
    P_STR_OR_OBJ  //  a string or an object (tool_choice)
} s_kind_t;

typedef struct {
    const char *name;  //  top-level field
    s_kind_t kind;     //  what it must be; null is always accepted (= absent)
    double min, max;   //  bounds for P_NUMBER and P_INT
} s_param_t;

static const s_param_t s_chat_params[] = {
    {"model", P_STRING, 0, 0},
    {"stream", P_BOOL, 0, 0},
    {"stream_options", P_OBJECT, 0, 0},
    {"temperature", P_NUMBER, 0, 2},
    {"top_p", P_NUMBER, 0, 1},
    {"max_tokens", P_INT, 1, INFINITY},
    {"max_completion_tokens", P_INT, 1, INFINITY},
    {"n", P_INT, 1, 128},
    {"presence_penalty", P_NUMBER, -2, 2},
    {"frequency_penalty", P_NUMBER, -2, 2},
    {"logprobs", P_BOOL, 0, 0},
    {"top_logprobs", P_INT, 0, 20},
    {"seed", P_INT, -INFINITY, INFINITY},
    {"user", P_STRING, 0, 0},
    {"stop", P_STOP, 0, 0},
    {"tools", P_ARRAY, 0, 0},
    {"tool_choice", P_STR_OR_OBJ, 0, 0},
    {"parallel_tool_calls", P_BOOL, 0, 0},
    {"response_format", P_OBJECT, 0, 0},
    {"logit_bias", P_OBJECT, 0, 0},
    {"metadata", P_OBJECT, 0, 0},
    {"store", P_BOOL, 0, 0},
};

static const s_param_t s_embeddings_params[] = {
    {"model", P_STRING, 0, 0},
    {"dimensions", P_INT, 1, INFINITY},
    {"user", P_STRING, 0, 0},
};

static const char *const s_roles[] = {"system",    "developer", "user",
                                      "assistant", "tool",      "function"};

const char *
tg_validate_type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a decimal";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

//  Copies at most 64 bytes of a client's string into out[72], cut on a UTF-8 boundary.
static const char *
s_clip(const char *s, char *out)
{
    size_t n = strlen(s);
    if (n > 64) {
        n = 64;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;  //  s[n] continues a character: cut before it starts
    }
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

static int
s_fail(char **msg_p, char **param_p, char *param, char *msg)
{
    *msg_p = msg;
    *param_p = param;
    return TG_INVALID;
}

static int
s_wrong_type(
    char **msg_p, char **param_p, const char *path, const char *expected, const json_t *got)
{
    return s_fail(msg_p, param_p, tg_strdup(path),
                  tg_strfmt("Invalid type for '%s': expected %s, but got %s instead.", path,
                            expected, tg_validate_type_name(got)));
}

static int
s_missing(char **msg_p, char **param_p, const char *path)
{
    return s_fail(msg_p, param_p, tg_strdup(path),
                  tg_strfmt("Missing required parameter: '%s'.", path));
}

static int
s_check_bounds(const s_param_t *p, const json_t *v, char **msg_p, char **param_p)
{
    double x = json_number_value(v);
    const char *what = json_is_integer(v) ? "integer" : "decimal";
    if (x < p->min)
        return s_fail(msg_p, param_p, tg_strdup(p->name),
                      tg_strfmt("Invalid '%s': %s below minimum value. Expected a value >= %g, "
                                "but got %g instead.",
                                p->name, what, p->min, x));
    if (x > p->max)
        return s_fail(msg_p, param_p, tg_strdup(p->name),
                      tg_strfmt("Invalid '%s': %s above maximum value. Expected a value <= %g, "
                                "but got %g instead.",
                                p->name, what, p->max, x));
    return TG_OK;
}

static int
s_check_param(const s_param_t *p, const json_t *v, char **msg_p, char **param_p)
{
    switch (p->kind) {
    case P_STRING:
        if (!json_is_string(v))
            return s_wrong_type(msg_p, param_p, p->name, "a string", v);
        return TG_OK;
    case P_BOOL:
        if (!json_is_boolean(v))
            return s_wrong_type(msg_p, param_p, p->name, "a boolean", v);
        return TG_OK;
    case P_NUMBER:
        if (!json_is_number(v))
            return s_wrong_type(msg_p, param_p, p->name, "a number", v);
        return s_check_bounds(p, v, msg_p, param_p);
    case P_INT:
        if (!json_is_integer(v))
            return s_wrong_type(msg_p, param_p, p->name, "an integer", v);
        return s_check_bounds(p, v, msg_p, param_p);
    case P_OBJECT:
        if (!json_is_object(v))
            return s_wrong_type(msg_p, param_p, p->name, "an object", v);
        return TG_OK;
    case P_ARRAY:
        if (!json_is_array(v))
            return s_wrong_type(msg_p, param_p, p->name, "an array", v);
        return TG_OK;
    case P_STR_OR_OBJ:
        if (!json_is_string(v) && !json_is_object(v))
            return s_wrong_type(msg_p, param_p, p->name, "one of a string or an object", v);
        return TG_OK;
    case P_STOP:
        if (json_is_string(v))
            return TG_OK;
        if (!json_is_array(v))
            return s_wrong_type(msg_p, param_p, p->name, "one of a string or an array of strings",
                                v);
        if (json_array_size(v) > 4)
            return s_fail(msg_p, param_p, tg_strdup(p->name),
                          tg_strfmt("Invalid '%s': array too long. Expected an array with maximum "
                                    "length 4, but got an array with length %zu instead.",
                                    p->name, json_array_size(v)));
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i))) {
                char path[64];
                snprintf(path, sizeof path, "%s[%zu]", p->name, i);
                return s_wrong_type(msg_p, param_p, path, "a string", json_array_get(v, i));
            }
        return TG_OK;
    }
    return TG_OK;
}

static int
s_check_params(const json_t *body, const s_param_t *params, size_t n, char **msg_p, char **param_p)
{
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(body, params[i].name);
        if (v && !json_is_null(v) && s_check_param(&params[i], v, msg_p, param_p) != TG_OK)
            return TG_INVALID;
    }
    return TG_OK;
}

static int
s_check_body(const json_t *body, char **msg_p, char **param_p)
{
    *msg_p = NULL;
    *param_p = NULL;
    if (!json_is_object(body))
        return s_fail(msg_p, param_p, NULL,
                      tg_strfmt("Invalid type for request body: expected an object, but got %s "
                                "instead.",
                                body ? tg_validate_type_name(body) : "nothing"));
    return TG_OK;
}

static int
s_check_content(const json_t *content, size_t index, char **msg_p, char **param_p)
{
    char path[96];
    if (json_is_string(content) || json_is_null(content))
        return TG_OK;
    snprintf(path, sizeof path, "messages[%zu].content", index);
    if (!json_is_array(content))
        return s_wrong_type(msg_p, param_p, path, "one of a string or array of objects", content);
    for (size_t k = 0; k < json_array_size(content); k++) {
        const json_t *part = json_array_get(content, k);
        snprintf(path, sizeof path, "messages[%zu].content[%zu]", index, k);
        if (!json_is_object(part))
            return s_wrong_type(msg_p, param_p, path, "an object", part);
        const json_t *type = json_object_get(part, "type");
        snprintf(path, sizeof path, "messages[%zu].content[%zu].type", index, k);
        if (!type)
            return s_missing(msg_p, param_p, path);
        if (!json_is_string(type))
            return s_wrong_type(msg_p, param_p, path, "a string", type);
    }
    return TG_OK;
}

static int
s_check_message(const json_t *m, size_t index, char **msg_p, char **param_p)
{
    char path[96];
    snprintf(path, sizeof path, "messages[%zu]", index);
    if (!json_is_object(m))
        return s_wrong_type(msg_p, param_p, path, "an object", m);
    const json_t *role = json_object_get(m, "role");
    snprintf(path, sizeof path, "messages[%zu].role", index);
    if (!role)
        return s_missing(msg_p, param_p, path);
    if (!json_is_string(role))
        return s_wrong_type(msg_p, param_p, path, "a string", role);
    const char *r = json_string_value(role);
    char clip[72];
    bool known = false;
    for (size_t i = 0; i < sizeof s_roles / sizeof s_roles[0]; i++)
        known = known || strcmp(r, s_roles[i]) == 0;
    if (!known)
        return s_fail(msg_p, param_p, tg_strdup(path),
                      tg_strfmt("Invalid value: '%s'. Supported values are: 'system', "
                                "'developer', 'user', 'assistant', 'tool', and 'function'.",
                                s_clip(r, clip)));
    const json_t *content = json_object_get(m, "content");
    //  An assistant turn may carry only tool_calls (content absent).
    if (!content && strcmp(r, "assistant") != 0) {
        snprintf(path, sizeof path, "messages[%zu].content", index);
        return s_missing(msg_p, param_p, path);
    }
    if (content && s_check_content(content, index, msg_p, param_p) != TG_OK)
        return TG_INVALID;
    const json_t *name = json_object_get(m, "name");
    if (name && !json_is_string(name)) {
        snprintf(path, sizeof path, "messages[%zu].name", index);
        return s_wrong_type(msg_p, param_p, path, "a string", name);
    }
    if (strcmp(r, "tool") == 0) {
        const json_t *call = json_object_get(m, "tool_call_id");
        snprintf(path, sizeof path, "messages[%zu].tool_call_id", index);
        if (!call)
            return s_missing(msg_p, param_p, path);
        if (!json_is_string(call))
            return s_wrong_type(msg_p, param_p, path, "a string", call);
    }
    const json_t *calls = json_object_get(m, "tool_calls");
    if (calls && !json_is_null(calls) && !json_is_array(calls)) {
        snprintf(path, sizeof path, "messages[%zu].tool_calls", index);
        return s_wrong_type(msg_p, param_p, path, "an array", calls);
    }
    return TG_OK;
}

int
tg_validate_chat(const json_t *body, char **msg_p, char **param_p)
{
    assert(msg_p && param_p);
    if (s_check_body(body, msg_p, param_p) != TG_OK)
        return TG_INVALID;
    const json_t *messages = json_object_get(body, "messages");
    if (!messages)
        return s_missing(msg_p, param_p, "messages");
    if (!json_is_array(messages))
        return s_wrong_type(msg_p, param_p, "messages", "an array", messages);
    if (json_array_size(messages) == 0)
        return s_fail(msg_p, param_p, tg_strdup("messages"),
                      tg_strdup("Invalid 'messages': empty array. Expected an array with minimum "
                                "length 1, but got an empty array instead."));
    for (size_t i = 0; i < json_array_size(messages); i++)
        if (s_check_message(json_array_get(messages, i), i, msg_p, param_p) != TG_OK)
            return TG_INVALID;
    if (s_check_params(body, s_chat_params, sizeof s_chat_params / sizeof s_chat_params[0], msg_p,
                       param_p)
        != TG_OK)
        return TG_INVALID;
    const json_t *opts = json_object_get(body, "stream_options");
    const json_t *usage = opts ? json_object_get(opts, "include_usage") : NULL;
    if (usage && !json_is_null(usage) && !json_is_boolean(usage))
        return s_wrong_type(msg_p, param_p, "stream_options.include_usage", "a boolean", usage);
    return TG_OK;
}

//  Checks one element of an `input` array against the kind set by element 0.
static int
s_check_input_item(const json_t *item, const json_t *first, size_t i, char **msg_p, char **param_p)
{
    char path[64];
    snprintf(path, sizeof path, "input[%zu]", i);
    if (json_is_string(first)) {
        if (!json_is_string(item))
            return s_wrong_type(msg_p, param_p, path, "a string", item);
        if (json_string_length(item) == 0)
            return s_fail(
                msg_p, param_p, tg_strdup(path),
                tg_strfmt("Invalid '%s': empty string. Expected a non-empty string.", path));
        return TG_OK;
    }
    if (json_is_integer(first)) {
        if (!json_is_integer(item) || json_integer_value(item) < 0)
            return s_wrong_type(msg_p, param_p, path, "a non-negative integer (token id)", item);
        return TG_OK;
    }
    if (!json_is_array(item))
        return s_wrong_type(msg_p, param_p, path, "an array of token ids", item);
    if (json_array_size(item) == 0)
        return s_fail(msg_p, param_p, tg_strdup(path),
                      tg_strfmt("Invalid '%s': empty array. Expected an array with minimum "
                                "length 1, but got an empty array instead.",
                                path));
    for (size_t k = 0; k < json_array_size(item); k++) {
        const json_t *tok = json_array_get(item, k);
        if (!json_is_integer(tok) || json_integer_value(tok) < 0) {
            snprintf(path, sizeof path, "input[%zu][%zu]", i, k);
            return s_wrong_type(msg_p, param_p, path, "a non-negative integer (token id)", tok);
        }
    }
    return TG_OK;
}

static int
s_check_input(const json_t *input, char **msg_p, char **param_p)
{
    if (!input || json_is_null(input))
        return s_missing(msg_p, param_p, "input");
    if (json_is_string(input)) {
        if (json_string_length(input) == 0)
            return s_fail(msg_p, param_p, tg_strdup("input"),
                          tg_strdup("Invalid 'input': empty string. Expected a non-empty "
                                    "string."));
        return TG_OK;
    }
    if (!json_is_array(input))
        return s_wrong_type(msg_p, param_p, "input",
                            "one of a string, an array of strings or an array of token ids", input);
    size_t n = json_array_size(input);
    if (n == 0)
        return s_fail(msg_p, param_p, tg_strdup("input"),
                      tg_strdup("Invalid 'input': empty array. Expected an array with minimum "
                                "length 1, but got an empty array instead."));
    if (n > TG_VALIDATE_MAX_INPUTS)
        return s_fail(msg_p, param_p, tg_strdup("input"),
                      tg_strfmt("Invalid 'input': array too long. Expected an array with maximum "
                                "length %d, but got an array with length %zu instead.",
                                TG_VALIDATE_MAX_INPUTS, n));
    const json_t *first = json_array_get(input, 0);
    if (!json_is_string(first) && !json_is_integer(first) && !json_is_array(first))
        return s_wrong_type(msg_p, param_p, "input[0]",
                            "one of a string, a token id or an array of token ids", first);
    for (size_t i = 0; i < n; i++)
        if (s_check_input_item(json_array_get(input, i), first, i, msg_p, param_p) != TG_OK)
            return TG_INVALID;
    return TG_OK;
}

int
tg_validate_embeddings(const json_t *body, char **msg_p, char **param_p)
{
    assert(msg_p && param_p);
    if (s_check_body(body, msg_p, param_p) != TG_OK)
        return TG_INVALID;
    if (s_check_input(json_object_get(body, "input"), msg_p, param_p) != TG_OK)
        return TG_INVALID;
    if (s_check_params(body, s_embeddings_params,
                       sizeof s_embeddings_params / sizeof s_embeddings_params[0], msg_p, param_p)
        != TG_OK)
        return TG_INVALID;
    const json_t *fmt = json_object_get(body, "encoding_format");
    if (fmt && !json_is_null(fmt)) {
        if (!json_is_string(fmt))
            return s_wrong_type(msg_p, param_p, "encoding_format", "a string", fmt);
        const char *f = json_string_value(fmt);
        char clip[72];
        if (strcmp(f, "float") != 0 && strcmp(f, "base64") != 0)
            return s_fail(msg_p, param_p, tg_strdup("encoding_format"),
                          tg_strfmt("Invalid value: '%s'. Supported values are: 'float' and "
                                    "'base64'.",
                                    s_clip(f, clip)));
    }
    return TG_OK;
}
