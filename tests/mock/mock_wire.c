//  mock_wire.c - tg-mock wire formats: reply text, token counts, OpenAI and Anthropic JSON/SSE.
#include "mock_wire.h"
#include "tg_util.h"

#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#define MOCK_SNIPPET_CHARS 60        //  characters of the user message echoed in the reply
#define MOCK_TEXT_LIMIT (16u << 20)  //  cap for texts assembled from a request
#define MOCK_EMBED_MAX_INPUTS 2048   //  OpenAI's limit on inputs per embeddings request
#define MOCK_EMBED_MAX_DIMS 4096     //  upper bound for `dimensions`
#define MOCK_EMBED_SEED 0x746f6c6c67617465ULL  //  "tollgate"

static const char s_greeting[] = "Hello from the tollgate mock provider.";
static const char *const s_filler[] = {
    "lorem",  "ipsum", "dolor",  "sit",     "amet",    "consectetur", "adipiscing",
    "elit",   "sed",   "do",     "eiusmod", "tempor",  "incididunt",  "ut",
    "labore", "et",    "dolore", "magna",   "aliqua.",
};
#define S_NFILLER (sizeof s_filler / sizeof s_filler[0])

static int
s_dump_cb(const char *buffer, size_t size, void *data)
{
    return evbuffer_add(data, buffer, size) == 0 ? 0 : -1;
}

int
mock_wire_json(struct evbuffer *out, json_t *json)
{
    if (!json)
        return TG_ERR;
    //  One evbuffer_add for the usual small document; the callback (one add per token) only
    //  for large ones.
    char buf[8192];
    size_t n = json_dumpb(json, buf, sizeof buf, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n == 0)
        return TG_ERR;
    if (n <= sizeof buf)
        return evbuffer_add(out, buf, n) == 0 ? TG_OK : TG_ERR;
    return json_dump_callback(json, s_dump_cb, out, JSON_COMPACT | JSON_ENCODE_ANY) == 0 ? TG_OK
                                                                                         : TG_ERR;
}

//  Appends json and drops the reference (json may be NULL when json_pack failed).
static int
s_put_new(struct evbuffer *out, json_t *json)
{
    int rc = mock_wire_json(out, json);
    json_decref(json);
    return rc;
}

//  Appends one SSE event: optional "event: name" line, then "data: <json>", then a blank line.
static void
s_sse(struct evbuffer *out, const char *event, json_t *json)
{
    if (event)
        evbuffer_add_printf(out, "event: %s\n", event);
    evbuffer_add(out, "data: ", 6);
    mock_wire_json(out, json);
    evbuffer_add(out, "\n\n", 2);
}

static void
s_add_str(struct evbuffer *out, const char *s)
{
    evbuffer_add(out, s, strlen(s));
}

//  Unicode code points in n bytes of UTF-8.
static size_t
s_chars(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

static int64_t
s_tokens4(size_t chars)
{
    return (int64_t)((chars + 3) / 4);
}

//  Characters of a message content: a string, or an array of strings / {"text": ...} parts.
static size_t
s_content_chars(json_t *content)
{
    if (json_is_string(content))
        return s_chars(json_string_value(content), json_string_length(content));
    size_t total = 0, i;
    json_t *part;
    if (json_is_array(content))
        json_array_foreach(content, i, part)
        {
            json_t *text = json_is_object(part) ? json_object_get(part, "text") : part;
            if (json_is_string(text))
                total += s_chars(json_string_value(text), json_string_length(text));
        }
    return total;
}

//  Appends the text of a message content to out, parts joined by newlines.
static void
s_content_text(json_t *content, tg_buf_t *out)
{
    if (json_is_string(content)) {
        tg_buf_append(out, json_string_value(content), json_string_length(content));
        return;
    }
    size_t i;
    json_t *part;
    if (json_is_array(content))
        json_array_foreach(content, i, part)
        {
            json_t *text = json_is_object(part) ? json_object_get(part, "text") : part;
            if (!json_is_string(text))
                continue;
            if (out->len)
                tg_buf_append(out, "\n", 1);
            tg_buf_append(out, json_string_value(text), json_string_length(text));
        }
}

//  sum over messages of ceil(chars / 4) + 3, plus the Anthropic `system` as one more message.
static int64_t
s_prompt_tokens(json_t *body)
{
    int64_t tokens = 0;
    size_t i;
    json_t *msg;
    json_array_foreach(json_object_get(body, "messages"), i, msg)
    {
        tokens += s_tokens4(s_content_chars(json_object_get(msg, "content"))) + 3;
    }
    json_t *system = json_object_get(body, "system");
    if (json_is_string(system) || json_is_array(system))
        tokens += s_tokens4(s_content_chars(system)) + 3;
    return tokens;
}

int
mock_wire_validate(mock_api_t api, json_t *body, char *err, size_t errlen, const char **param_p)
{
    bool anthropic = api == MOCK_API_MESSAGES;
    *param_p = NULL;
    if (!json_is_object(body)) {
        snprintf(err, errlen, "The request body must be a JSON object.");
        return TG_INVALID;
    }
    json_t *model = json_object_get(body, "model");
    if (!json_is_string(model) || json_string_length(model) == 0) {
        *param_p = "model";
        snprintf(err, errlen, "%s",
                 anthropic ? "model: Field required" : "you must provide a model parameter");
        return TG_INVALID;
    }
    json_t *max = json_object_get(body, "max_tokens");
    if (anthropic && !max) {
        *param_p = "max_tokens";
        snprintf(err, errlen, "max_tokens: Field required");
        return TG_INVALID;
    }
    const char *max_names[] = {"max_tokens", "max_completion_tokens"};
    for (size_t k = 0; k < (anthropic ? 1u : 2u); k++) {
        json_t *v = json_object_get(body, max_names[k]);
        if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 1)) {
            *param_p = max_names[k];
            snprintf(err, errlen, "%s: must be an integer >= 1", max_names[k]);
            return TG_INVALID;
        }
    }
    json_t *messages = json_object_get(body, "messages");
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        *param_p = "messages";
        snprintf(err, errlen, "%s",
                 anthropic ? "messages: Field required (a non-empty array)"
                           : "'messages' must be a non-empty array.");
        return TG_INVALID;
    }
    size_t i;
    json_t *msg;
    json_array_foreach(messages, i, msg)
    {
        json_t *role = json_object_get(msg, "role");
        json_t *content = json_object_get(msg, "content");
        bool ok = json_is_object(msg) && json_is_string(role);
        if (ok && anthropic)
            ok = (strcmp(json_string_value(role), "user") == 0
                  || strcmp(json_string_value(role), "assistant") == 0)
                 && (json_is_string(content) || json_is_array(content));
        else if (ok)
            ok = !content || json_is_null(content) || json_is_string(content)
                 || json_is_array(content);
        if (!ok) {
            *param_p = "messages";
            snprintf(err, errlen,
                     anthropic ? "messages.%zu: expected role user|assistant and content"
                               : "Invalid 'messages[%zu]': expected an object with a 'role' and "
                                 "a string or array 'content'.",
                     i);
            return TG_INVALID;
        }
    }
    json_t *stream = json_object_get(body, "stream");
    if (stream && !json_is_boolean(stream) && !json_is_null(stream)) {
        *param_p = "stream";
        snprintf(err, errlen, "stream: must be a boolean");
        return TG_INVALID;
    }
    json_t *system = json_object_get(body, "system");
    if (anthropic && system && !json_is_string(system) && !json_is_array(system)) {
        *param_p = "system";
        snprintf(err, errlen, "system: must be a string or an array of text blocks");
        return TG_INVALID;
    }
    return TG_OK;
}

char *
mock_wire_last_user_text(json_t *body)
{
    json_t *messages = json_object_get(body, "messages");
    tg_buf_t text;
    tg_buf_init(&text, MOCK_TEXT_LIMIT);
    for (size_t i = json_array_size(messages); i > 0; i--) {
        json_t *msg = json_array_get(messages, i - 1);
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (role && strcmp(role, "user") == 0) {
            s_content_text(json_object_get(msg, "content"), &text);
            break;
        }
    }
    return tg_buf_take(&text, NULL);
}

char *
mock_wire_last_input_text(json_t *body)
{
    json_t *input = json_object_get(body, "input");
    if (json_is_array(input))
        for (size_t i = json_array_size(input); i > 0; i--)
            if (json_is_string(json_array_get(input, i - 1))) {
                input = json_array_get(input, i - 1);
                break;
            }
    return tg_strdup(json_is_string(input) ? json_string_value(input) : "");
}

//  Writes the first MOCK_SNIPPET_CHARS characters of text, whitespace runs folded to one
//  space and trimmed, into out (which holds at least 4 * MOCK_SNIPPET_CHARS + 1 bytes).
static void
s_snippet(const char *text, char *out)
{
    size_t n = 0, chars = 0;
    bool space = false, copying = false;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p & 0xC0) == 0x80) {  //  continuation byte of the character being copied
            if (copying)
                out[n++] = (char)*p;
            continue;
        }
        copying = false;
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v') {
            space = n > 0;
            continue;
        }
        if (chars + (space ? 2 : 1) > MOCK_SNIPPET_CHARS)
            break;
        if (space) {
            out[n++] = ' ';
            chars++;
            space = false;
        }
        out[n++] = (char)*p;
        chars++;
        copying = true;
    }
    out[n] = '\0';
}

//  Builds the reply text: natural, or exactly `words` words, then cut to max_words (> 0).
static void
s_build_text(mock_answer_t *self, const char *user_text, long words, long max_words)
{
    char snippet[4 * MOCK_SNIPPET_CHARS + 1];
    s_snippet(user_text ? user_text : "", snippet);
    char *natural = snippet[0] ? tg_strfmt("Mock reply to: %s", snippet) : tg_strdup(s_greeting);
    if (words < 0) {
        self->text = natural;
        self->len = strlen(natural);
        self->words = 1;
        for (const char *p = natural; *p; p++)
            self->words += *p == ' ';
    } else {
        tg_buf_t text;
        tg_buf_init(&text, MOCK_TEXT_LIMIT);
        const char *p = natural;
        size_t filler = 0;
        for (long i = 0; i < words; i++) {
            if (i)
                tg_buf_append(&text, " ", 1);
            if (*p) {
                const char *end = strchr(p, ' ');
                size_t n = end ? (size_t)(end - p) : strlen(p);
                tg_buf_append(&text, p, n);
                p += n + (end ? 1 : 0);
            } else
                tg_buf_puts(&text, s_filler[filler++ % S_NFILLER]);
        }
        free(natural);
        self->text = tg_buf_take(&text, &self->len);
        self->words = (size_t)words;
    }
    if (max_words > 0 && (size_t)max_words < self->words) {
        size_t spaces = 0, i = 0;
        for (; i < self->len; i++)
            if (self->text[i] == ' ' && ++spaces == (size_t)max_words)
                break;
        self->text[i] = '\0';
        self->len = i;
        self->words = (size_t)max_words;
        self->truncated = true;
    }
}

static long
s_max_words(mock_api_t api, json_t *body)
{
    long max = 0;
    const char *names[] = {"max_tokens", "max_completion_tokens"};
    for (size_t k = 0; k < (api == MOCK_API_CHAT ? 2u : 1u); k++) {
        json_t *v = json_object_get(body, names[k]);
        if (json_is_integer(v) && json_integer_value(v) > 0
            && (max == 0 || json_integer_value(v) < max))
            max = (long)(json_integer_value(v) > 0x7fffffff ? 0x7fffffff : json_integer_value(v));
    }
    return max;
}

static void
s_id(const mock_answer_t *self, char *out, size_t size)
{
    snprintf(out, size, self->api == MOCK_API_CHAT ? "chatcmpl-mock-%" PRIu64 : "msg_mock_%" PRIu64,
             self->seq);
}

int
mock_answer_init(mock_answer_t *self,
                 mock_api_t api,
                 json_t *body,
                 uint64_t seq,
                 int64_t created,
                 const char *user_text,
                 long words)
{
    memset(self, 0, sizeof *self);
    self->api = api;
    self->seq = seq;
    self->created = created;
    self->model = json_string_value(json_object_get(body, "model"));
    self->prompt_tokens = s_prompt_tokens(body);
    self->include_usage =
        api == MOCK_API_CHAT
        && json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
    s_build_text(self, user_text, words, s_max_words(api, body));
    if (!json_is_true(json_object_get(body, "stream")))
        return TG_OK;

    //  Stream templates: content frames only rewrite the word in `slot`.
    char id[48];
    s_id(self, id, sizeof id);
    if (api == MOCK_API_CHAT) {
        self->choice = json_pack("{s:i, s:o, s:n, s:n}", "index", 0, "delta", json_object(),
                                 "logprobs", "finish_reason");
        self->tmpl =
            json_pack("{s:s, s:s, s:I, s:s, s:s, s:[O]}", "id", id, "object",
                      "chat.completion.chunk", "created", (json_int_t)created, "model", self->model,
                      "system_fingerprint", "fp_mock", "choices", self->choice);
        if (self->tmpl && self->include_usage)
            json_object_set_new(self->tmpl, "usage", json_null());
        self->delta = json_pack("{s:s}", "content", "");
        self->slot = json_object_get(self->delta, "content");
    } else {
        self->delta = json_pack("{s:s, s:s}", "type", "text_delta", "text", "");
        self->slot = json_object_get(self->delta, "text");
        self->tmpl = json_pack("{s:s, s:i, s:O}", "type", "content_block_delta", "index", 0,
                               "delta", self->delta);
    }
    return self->tmpl && self->slot && (api != MOCK_API_CHAT || self->choice) ? TG_OK : TG_ERR;
}

void
mock_answer_fini(mock_answer_t *self)
{
    tg_freep(&self->text);
    json_decref(self->tmpl);
    json_decref(self->choice);
    json_decref(self->delta);
    self->tmpl = self->choice = self->delta = self->slot = NULL;
}

//  Appends s as a JSON string (quoted, escaped). s is valid UTF-8: it comes from parsed JSON.
static void
s_put_str(struct evbuffer *out, const char *s, size_t len)
{
    json_t *str = json_stringn_nocheck(s, len);
    mock_wire_json(out, str);
    json_decref(str);
}

static void
s_put_openai_usage(struct evbuffer *out, const mock_answer_t *self)
{
    evbuffer_add_printf(
        out,
        "{\"prompt_tokens\":%" PRId64 ",\"completion_tokens\":%zu,\"total_tokens\":%" PRId64
        ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
        "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
        self->prompt_tokens, self->words, self->prompt_tokens + (int64_t)self->words);
}

static void
s_put_anthropic_usage(struct evbuffer *out, const mock_answer_t *self, size_t output_tokens)
{
    evbuffer_add_printf(out,
                        "{\"input_tokens\":%" PRId64 ",\"cache_creation_input_tokens\":0,"
                        "\"cache_read_input_tokens\":0,\"output_tokens\":%zu}",
                        self->prompt_tokens, output_tokens);
}

//  The non-stream answers are written from templates, only the strings go through jansson:
//  building them as jansson objects cost a quarter of the CPU under load.
int
mock_answer_write(mock_answer_t *self, struct evbuffer *out)
{
    char id[48];
    s_id(self, id, sizeof id);
    if (self->api == MOCK_API_CHAT) {
        evbuffer_add_printf(
            out,
            "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%" PRId64 ",\"model\":", id,
            self->created);
        s_put_str(out, self->model, strlen(self->model));
        evbuffer_add_printf(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                 "\"content\":");
        s_put_str(out, self->text, self->len);
        evbuffer_add_printf(out,
                            ",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
                            "\"finish_reason\":\"%s\"}],\"usage\":",
                            self->truncated ? "length" : "stop");
        s_put_openai_usage(out, self);
        evbuffer_add_printf(out,
                            ",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_mock\"}");
    } else {
        evbuffer_add_printf(
            out, "{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\",\"model\":", id);
        s_put_str(out, self->model, strlen(self->model));
        evbuffer_add_printf(out, ",\"content\":[{\"type\":\"text\",\"text\":");
        s_put_str(out, self->text, self->len);
        evbuffer_add_printf(out, "}],\"stop_reason\":\"%s\",\"stop_sequence\":null,\"usage\":",
                            self->truncated ? "max_tokens" : "end_turn");
        s_put_anthropic_usage(out, self, self->words);
        evbuffer_add(out, "}", 1);
    }
    return TG_OK;
}

//  Puts the next word (with the space before it, except for the first) into the slot.
static void
s_next_word(mock_answer_t *self)
{
    size_t start = self->cursor, end = start;
    while (end < self->len && self->text[end] != ' ')
        end++;
    const char *p = self->text + start;
    size_t n = end - start;
    if (start > 0) {
        p--;
        n++;
    }
    json_string_setn(self->slot, p, n);
    self->cursor = end + 1;
}

static mock_frame_t
s_openai_frame(mock_answer_t *self, size_t i, struct evbuffer *out)
{
    size_t n = self->words;
    if (i == 0) {
        json_object_set_new(
            self->choice, "delta",
            json_pack("{s:s, s:s, s:n}", "role", "assistant", "content", "", "refusal"));
        s_sse(out, NULL, self->tmpl);
        return MOCK_FRAME_META;
    }
    if (i <= n) {
        s_next_word(self);
        json_object_set(self->choice, "delta", self->delta);
        s_sse(out, NULL, self->tmpl);
        return MOCK_FRAME_CONTENT;
    }
    if (i == n + 1) {
        json_object_set_new(self->choice, "delta", json_object());
        json_object_set_new(self->choice, "finish_reason",
                            json_string(self->truncated ? "length" : "stop"));
        s_sse(out, NULL, self->tmpl);
        return MOCK_FRAME_META;
    }
    size_t k = i - n - 2;
    if (self->include_usage) {
        if (k == 0) {
            char id[48];
            s_id(self, id, sizeof id);
            evbuffer_add_printf(out,
                                "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\","
                                "\"created\":%" PRId64 ",\"model\":",
                                id, self->created);
            s_put_str(out, self->model, strlen(self->model));
            evbuffer_add_printf(out,
                                ",\"system_fingerprint\":\"fp_mock\",\"choices\":[],\"usage\":");
            s_put_openai_usage(out, self);
            evbuffer_add(out, "}\n\n", 3);
            return MOCK_FRAME_META;
        }
        k--;
    }
    if (k == 0) {
        evbuffer_add(out, "data: [DONE]\n\n", 14);
        return MOCK_FRAME_META;
    }
    return MOCK_FRAME_NONE;
}

static mock_frame_t
s_anthropic_frame(mock_answer_t *self, size_t i, struct evbuffer *out)
{
    size_t n = self->words;
    if (i == 0) {
        char id[48];
        s_id(self, id, sizeof id);
        evbuffer_add_printf(
            out,
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
            "{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
            "\"model\":",
            id);
        s_put_str(out, self->model, strlen(self->model));
        evbuffer_add_printf(out, ",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
        s_put_anthropic_usage(out, self, 1);
        evbuffer_add(out, "}}\n\n", 4);
    } else if (i == 1)
        s_add_str(out, "event: content_block_start\ndata: {\"type\":\"content_block_start\","
                       "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    else if (i == 2)
        s_add_str(out, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    else if (i < n + 3) {
        s_next_word(self);
        s_sse(out, "content_block_delta", self->tmpl);
        return MOCK_FRAME_CONTENT;
    } else if (i == n + 3)
        s_add_str(out, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
                       "\"index\":0}\n\n");
    else if (i == n + 4)
        evbuffer_add_printf(out,
                            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
                            "{\"stop_reason\":\"%s\",\"stop_sequence\":null},\"usage\":"
                            "{\"output_tokens\":%zu}}\n\n",
                            self->truncated ? "max_tokens" : "end_turn", n);
    else if (i == n + 5)
        s_add_str(out, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    else
        return MOCK_FRAME_NONE;
    return MOCK_FRAME_META;
}

mock_frame_t
mock_answer_frame(mock_answer_t *self, size_t i, struct evbuffer *out)
{
    if (!self->tmpl)
        return MOCK_FRAME_NONE;
    return self->api == MOCK_API_CHAT ? s_openai_frame(self, i, out)
                                      : s_anthropic_frame(self, i, out);
}

mock_frame_t
mock_wire_garbage_frame(mock_api_t api, size_t i, struct evbuffer *out)
{
    static const char *const openai[] = {
        ("data: {\"id\":\"chatcmpl-mock-garbage\",\"object\":\"chat.completion.chunk\","
         "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\n\n"),
        "this line is not server-sent events at all\n\n",
        "data: }{ not json ]]\n\n",
    };
    static const char *const anthropic[] = {
        ("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
         "\"delta\":{\"type\":\"text_del\n\n"),
        "this line is not server-sent events at all\n\n",
        "event: message_delta\ndata: }{ not json ]]\n\n",
    };
    const char *const *frames = api == MOCK_API_MESSAGES ? anthropic : openai;
    if (i >= 3)
        return MOCK_FRAME_NONE;
    evbuffer_add(out, frames[i], strlen(frames[i]));
    return MOCK_FRAME_CONTENT;
}

void
mock_wire_garbage_body(struct evbuffer *out)
{
    static const char garbage[] =
        "{\"id\":\"chatcmpl-mock-garbage\",\"object\":\"chat.completion\",\"choices\":[{\"index\""
        ":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hel<<mock garbage: not JSON>>\n";
    evbuffer_add(out, garbage, sizeof garbage - 1);
}

static const char *
s_openai_type(int status)
{
    if (status == 429)
        return "requests";
    return status >= 500 ? "server_error" : "invalid_request_error";
}

static const char *
s_anthropic_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

void
mock_wire_error(struct evbuffer *out,
                mock_api_t api,
                int status,
                const char *message,
                const char *param,
                const char *code)
{
    json_t *json;
    if (api == MOCK_API_MESSAGES)
        json = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type",
                         s_anthropic_type(status), "message", message);
    else {
        if (!code)
            code = status == 401 ? "invalid_api_key" : status == 429 ? "rate_limit_exceeded" : NULL;
        json = json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message", message, "type",
                         s_openai_type(status), "param", param, "code", code);
    }
    if (s_put_new(out, json) != TG_OK) {
        //  message was not valid UTF-8 (it may quote the request): say less.
        static const char fallback[] = "{\"error\":{\"message\":\"request failed\",\"type\":"
                                       "\"invalid_request_error\",\"param\":null,\"code\":null}}";
        evbuffer_add(out, fallback, sizeof fallback - 1);
    }
}

//  Embedding geometry for a model: default and largest dimensions, and whether the
//  `dimensions` parameter is accepted.
static void
s_embed_model(const char *model, long *dims_p, long *max_p, bool *settable_p)
{
    *dims_p = 1536;
    *max_p = MOCK_EMBED_MAX_DIMS;
    *settable_p = true;
    if (strcmp(model, "text-embedding-3-small") == 0)
        *max_p = 1536;
    else if (strcmp(model, "text-embedding-3-large") == 0)
        *dims_p = *max_p = 3072;
    else if (strcmp(model, "text-embedding-ada-002") == 0) {
        *max_p = 1536;
        *settable_p = false;
    }
}

//  Seed and token count of one input: a non-empty string or a non-empty array of token ids.
static int
s_embed_item(json_t *item, uint64_t *seed_p, int64_t *tokens_p)
{
    if (json_is_string(item) && json_string_length(item) > 0) {
        const char *s = json_string_value(item);
        size_t n = json_string_length(item);
        *seed_p = XXH64(s, n, MOCK_EMBED_SEED);
        *tokens_p = s_tokens4(s_chars(s, n));
        return TG_OK;
    }
    if (!json_is_array(item) || json_array_size(item) == 0)
        return TG_INVALID;
    uint64_t seed = MOCK_EMBED_SEED;
    size_t i;
    json_t *token;
    json_array_foreach(item, i, token)
    {
        if (!json_is_integer(token) || json_integer_value(token) < 0)
            return TG_INVALID;
        uint8_t le[8];
        uint64_t v = (uint64_t)json_integer_value(token);
        for (int b = 0; b < 8; b++)
            le[b] = (uint8_t)(v >> (8 * b));
        seed = XXH64(le, sizeof le, seed);
    }
    *seed_p = seed;
    *tokens_p = (int64_t)json_array_size(item);
    return TG_OK;
}

static uint64_t
s_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

//  Unit-length vector of dims floats from seed. A shorter vector is the normalised prefix of a
//  longer one, as with OpenAI's `dimensions`.
static void
s_embed_vector(uint64_t seed, long dims, float *v)
{
    uint64_t state = seed;
    double sum = 0;
    for (long i = 0; i < dims; i++) {
        double u = (double)(s_splitmix(&state) >> 11) * 0x1.0p-53 * 2.0 - 1.0;
        v[i] = (float)u;
        sum += (double)v[i] * v[i];
    }
    double scale = sum > 0 ? 1.0 / sqrt(sum) : 0;
    for (long i = 0; i < dims; i++)
        v[i] = (float)(v[i] * scale);
}

static void
s_embed_floats(struct evbuffer *out, const float *v, long dims)
{
    char chunk[8192];
    size_t n = 0;
    chunk[n++] = '[';
    for (long i = 0; i < dims; i++) {
        if (n > sizeof chunk - 32) {
            evbuffer_add(out, chunk, n);
            n = 0;
        }
        n += (size_t)snprintf(chunk + n, sizeof chunk - n, i ? ",%.9g" : "%.9g", (double)v[i]);
    }
    chunk[n++] = ']';
    evbuffer_add(out, chunk, n);
}

static void
s_embed_base64(
    struct evbuffer *out, const float *v, long dims, unsigned char *bin, char *b64, size_t b64_len)
{
    for (long i = 0; i < dims; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        for (int b = 0; b < 4; b++)
            bin[4 * i + b] = (unsigned char)(bits >> (8 * b));  //  little-endian float32
    }
    sodium_bin2base64(b64, b64_len, bin, (size_t)dims * 4, sodium_base64_VARIANT_ORIGINAL);
    evbuffer_add(out, "\"", 1);
    evbuffer_add(out, b64, strlen(b64));
    evbuffer_add(out, "\"", 1);
}

int
mock_wire_embeddings(
    json_t *body, struct evbuffer *out, char *err, size_t errlen, const char **param_p)
{
    *param_p = NULL;
    json_t *model = json_object_get(body, "model");
    if (!json_is_object(body) || !json_is_string(model) || json_string_length(model) == 0) {
        *param_p = "model";
        snprintf(err, errlen, "you must provide a model parameter");
        return TG_INVALID;
    }
    //  One item when input is a string or a flat token array, else one per element.
    json_t *input = json_object_get(body, "input");
    bool single = json_is_string(input)
                  || (json_is_array(input) && json_is_integer(json_array_get(input, 0)));
    size_t count = single ? 1 : json_array_size(input);
    uint64_t seed;
    int64_t tokens = 0, item_tokens;
    bool ok = (single || json_is_array(input)) && count > 0 && count <= MOCK_EMBED_MAX_INPUTS;
    for (size_t i = 0; ok && i < count; i++)
        ok = s_embed_item(single ? input : json_array_get(input, i), &seed, &item_tokens) == TG_OK;
    if (!ok) {
        *param_p = "input";
        snprintf(err, errlen,
                 "'input' must be a non-empty string, an array of up to %d non-empty strings, "
                 "or token arrays.",
                 MOCK_EMBED_MAX_INPUTS);
        return TG_INVALID;
    }
    long dims, max_dims;
    bool settable;
    s_embed_model(json_string_value(model), &dims, &max_dims, &settable);
    json_t *dimensions = json_object_get(body, "dimensions");
    if (dimensions && !json_is_null(dimensions)) {
        if (!settable) {
            *param_p = "dimensions";
            snprintf(err, errlen, "This model does not support specifying dimensions.");
            return TG_INVALID;
        }
        if (!json_is_integer(dimensions) || json_integer_value(dimensions) < 1
            || json_integer_value(dimensions) > max_dims) {
            *param_p = "dimensions";
            snprintf(err, errlen, "'dimensions' must be an integer in [1, %ld].", max_dims);
            return TG_INVALID;
        }
        dims = (long)json_integer_value(dimensions);
    }
    json_t *format = json_object_get(body, "encoding_format");
    bool base64 = json_is_string(format) && strcmp(json_string_value(format), "base64") == 0;
    if (format && !json_is_null(format) && !base64
        && !(json_is_string(format) && strcmp(json_string_value(format), "float") == 0)) {
        *param_p = "encoding_format";
        snprintf(err, errlen, "'encoding_format' must be 'float' or 'base64'.");
        return TG_INVALID;
    }
    if (!out)
        return TG_OK;  //  validation only

    float *v = tg_zalloc((size_t)dims * sizeof *v);
    unsigned char *bin = base64 ? tg_zalloc((size_t)dims * 4) : NULL;
    size_t b64_len = sodium_base64_ENCODED_LEN((size_t)dims * 4, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = base64 ? tg_zalloc(b64_len) : NULL;
    evbuffer_add_printf(out, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < count; i++) {
        s_embed_item(single ? input : json_array_get(input, i), &seed, &item_tokens);
        tokens += item_tokens;
        s_embed_vector(seed, dims, v);
        evbuffer_add_printf(
            out, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
        if (base64)
            s_embed_base64(out, v, dims, bin, b64, b64_len);
        else
            s_embed_floats(out, v, dims);
        evbuffer_add(out, "}", 1);
    }
    evbuffer_add_printf(out, "],\"model\":");
    mock_wire_json(out, model);
    evbuffer_add_printf(out,
                        ",\"usage\":{\"prompt_tokens\":%" PRId64 ",\"total_tokens\":%" PRId64 "}}",
                        tokens, tokens);
    free(v);
    free(bin);
    free(b64);
    return TG_OK;
}

void
mock_wire_models(struct evbuffer *out)
{
    static const struct {
        const char *id;        //  model id
        json_int_t created;    //  fixed epoch seconds
        const char *owned_by;  //  owner as OpenAI reports it
    } models[] = {
        {"gpt-4o", 1715367049, "system"},
        {"gpt-4o-mini", 1721172741, "system"},
        {"gpt-4.1", 1744316542, "system"},
        {"gpt-4.1-mini", 1744318173, "system"},
        {"o3-mini", 1737146383, "system"},
        {"gpt-3.5-turbo", 1677610602, "openai"},
        {"text-embedding-3-small", 1705948997, "system"},
        {"text-embedding-3-large", 1705953180, "system"},
        {"text-embedding-ada-002", 1671217299, "openai-internal"},
    };
    json_t *data = json_array();
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", models[i].id, "object",
                                              "model", "created", models[i].created, "owned_by",
                                              models[i].owned_by));
    s_put_new(out, json_pack("{s:s, s:o}", "object", "list", "data", data));
}
