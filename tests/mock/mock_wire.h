//  mock_wire.h - tg-mock wire formats: reply text, token counts, OpenAI and Anthropic JSON/SSE.
#ifndef MOCK_WIRE_H
#define MOCK_WIRE_H

#include <event2/buffer.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    MOCK_API_CHAT,        //  POST /v1/chat/completions (OpenAI)
    MOCK_API_MESSAGES,    //  POST /v1/messages (Anthropic)
    MOCK_API_EMBEDDINGS,  //  POST /v1/embeddings (OpenAI)
    MOCK_API_MODELS,      //  GET /v1/models (OpenAI)
} mock_api_t;

typedef enum {
    MOCK_FRAME_NONE,     //  past the last frame
    MOCK_FRAME_META,     //  a frame that carries no reply text (role, ping, finish, [DONE] ...)
    MOCK_FRAME_CONTENT,  //  a frame that carries one word of the reply
} mock_frame_t;

//  One generated chat/messages answer, written whole or as stream frames.
typedef struct {
    mock_api_t api;         //  MOCK_API_CHAT or MOCK_API_MESSAGES
    uint64_t seq;           //  request number, used in the ids
    int64_t created;        //  epoch seconds
    const char *model;      //  borrowed from the request body, which outlives the answer
    char *text;             //  reply words joined by single spaces (owned)
    size_t len;             //  bytes in text
    size_t words;           //  words in text, which is the completion token count
    bool truncated;         //  cut short by max_tokens
    int64_t prompt_tokens;  //  deterministic prompt token count
    bool include_usage;     //  OpenAI stream: stream_options.include_usage
    size_t cursor;          //  stream: byte offset of the next word in text
    json_t *tmpl;           //  stream: chunk object reused for every content frame (owned)
    json_t *choice;         //  stream, OpenAI: choices[0] inside tmpl (owned reference)
    json_t *delta;          //  stream: the object holding slot (owned reference)
    json_t *slot;           //  stream: the string inside delta that carries the word (borrowed)
} mock_answer_t;

//  Checks a chat (OpenAI) or messages (Anthropic) body. TG_OK, or TG_INVALID with a message in
//  err and the offending field in *param_p (a static string).
int
mock_wire_validate(mock_api_t api, json_t *body, char *err, size_t errlen, const char **param_p);
//  Text of the last user message (text parts joined by newlines); "" if none. Caller frees.
char *mock_wire_last_user_text(json_t *body);
//  Text of the last string in an embeddings `input` ("" if none). Caller frees.
char *mock_wire_last_input_text(json_t *body);

//  Prepares the answer to a validated body. user_text is the last user message without
//  directives; words >= 0 forces exactly that many words. TG_ERR if the JSON could not be built.
int mock_answer_init(mock_answer_t *self,
                     mock_api_t api,
                     json_t *body,
                     uint64_t seq,
                     int64_t created,
                     const char *user_text,
                     long words);
//  Frees what the answer owns; NULL-safe fields, idempotent.
void mock_answer_fini(mock_answer_t *self);
//  Appends the complete non-stream response JSON. TG_ERR if it could not be built.
int mock_answer_write(mock_answer_t *self, struct evbuffer *out);
//  Appends stream frame i; call with i = 0, 1, 2, ... in order. Returns the kind of frame,
//  MOCK_FRAME_NONE (nothing appended) after the last one.
mock_frame_t mock_answer_frame(mock_answer_t *self, size_t i, struct evbuffer *out);

//  Appends frame i of a broken stream (truncated JSON, non-SSE lines); NONE after the last.
mock_frame_t mock_wire_garbage_frame(mock_api_t api, size_t i, struct evbuffer *out);
//  Appends a response body that is not valid JSON.
void mock_wire_garbage_body(struct evbuffer *out);
//  Appends an error body in the provider's format for `status`. param and code may be NULL
//  (OpenAI code then defaults from the status: 401 invalid_api_key, 429 rate_limit_exceeded).
void mock_wire_error(struct evbuffer *out,
                     mock_api_t api,
                     int status,
                     const char *message,
                     const char *param,
                     const char *code);
//  Validates an embeddings body and appends the response (out NULL: validate only).
//  TG_INVALID with a message in err
//  and the offending field in *param_p.
int mock_wire_embeddings(
    json_t *body, struct evbuffer *out, char *err, size_t errlen, const char **param_p);
//  Appends the GET /v1/models list.
void mock_wire_models(struct evbuffer *out);
//  Appends json compactly (borrowed). TG_ERR if json is NULL or could not be written.
int mock_wire_json(struct evbuffer *out, json_t *json);

#endif
