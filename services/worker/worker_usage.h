//  worker_usage.h - token usage exactly as an OpenAI-shaped upstream reports it.
#ifndef WORKER_USAGE_H
#define WORKER_USAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t in;      //  prompt tokens, cached ones included
    uint64_t out;     //  completion tokens (0 for embeddings)
    uint64_t cached;  //  prompt tokens served from the provider's prompt cache
    uint64_t cwrite;  //  prompt tokens written to the provider's prompt cache (Anthropic
                      //  cache_creation_input_tokens), included in `in`
    uint64_t total;   //  total tokens as reported, or in + out when the upstream omits it
    bool seen;        //  true once a usage object was read
} worker_usage_t;

//  Reads obj.usage of a chat.completion, a chat.completion.chunk or an embeddings response
//  into *u (all fields overwritten, seen set). TG_NOTFOUND (u untouched) when obj has no
//  usage object (absent or null); TG_INVALID (u untouched) when obj is not an object or a
//  count is not a non-negative integer.
int worker_usage_from_openai(const json_t *obj, worker_usage_t *u);
//  Same for one SSE data payload (the text after `data:`). "[DONE]" gives TG_NOTFOUND;
//  text that is not JSON gives TG_INVALID.
int worker_usage_from_openai_sse(const char *data, size_t len, worker_usage_t *u);

#endif
