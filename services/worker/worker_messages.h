//  worker_messages.h - OpenAI chat.completions <-> Anthropic Messages API translation; no I/O.
#ifndef WORKER_MESSAGES_H
#define WORKER_MESSAGES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_util.h"
#include "worker_usage.h"

//  Translates an OpenAI chat.completions request into a Messages API body for upstream_model.
//  On TG_OK *out_p is a new object (caller decrefs). On TG_INVALID (bad request shape) *out_p
//  is NULL and, if err_p, *err_p is a message naming the field, e.g. "messages[2].role is
//  required" (caller frees).
int worker_messages_request(
    const json_t *oai_req, const char *upstream_model, bool stream, json_t **out_p, char **err_p);
//  Translates a Messages response into an OpenAI chat.completion with the given id, model and
//  created time (NULL id / model: taken from msg). Returns a new object (caller decrefs), or
//  NULL when msg is not a Messages response.
json_t *
worker_messages_response(const json_t *msg, const char *model, const char *id, int64_t created);
//  Turns an upstream error body (Anthropic's, OpenAI's, or anything else, even empty) with
//  its HTTP status into an OpenAI error envelope {"error":{message,type,param,code}}.
//  Never NULL; caller decrefs.
json_t *worker_messages_error_to_openai(int http_status, const char *body, size_t len);

typedef struct worker_messages_stream worker_messages_stream_t;

//  Creates a translator of one Messages event stream into chat.completion.chunk SSE lines
//  carrying this id, model and created time; include_usage adds the final usage chunk.
worker_messages_stream_t *
worker_messages_stream_new(const char *id, const char *model, int64_t created, bool include_usage);
//  Frees the translator and sets *self_p to NULL. NULL-safe, idempotent.
void worker_messages_stream_destroy(worker_messages_stream_t **self_p);
//  Translates one upstream event (name as given by the SSE parser, data as received) and
//  appends zero or more complete "data: ...\n\n" lines to out (the last being "data: [DONE]"
//  after message_stop). TG_OK; TG_ERR on an upstream `error` event (out gets an OpenAI error
//  line); TG_INVALID on data that is not the expected JSON, or when out's cap is reached
//  (nothing of that line appended). Events after the end of the stream are ignored.
int worker_messages_stream_event(
    worker_messages_stream_t *self, const char *event, const char *data, size_t len, tg_buf_t *out);
//  Usage seen so far (in = input + cache read + cache creation tokens, cached = cache read).
worker_usage_t worker_messages_stream_usage(const worker_messages_stream_t *self);
//  True once message_stop was translated (the stream ended normally).
bool worker_messages_stream_is_finished(const worker_messages_stream_t *self);

#endif
