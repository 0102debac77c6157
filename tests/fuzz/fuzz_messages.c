//  fuzz_messages.c - OpenAI <-> Anthropic translation of whole bodies: the input as an OpenAI
//  request, as an Anthropic response, and as an upstream error body.
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "worker_messages.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *err =
        worker_messages_error_to_openai(size ? 400 + data[0] % 200 : 500, (const char *)data, size);
    json_decref(err);
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc)
        return 0;
    json_t *out = NULL;
    char *msg = NULL;
    if (worker_messages_request(doc, "claude-test", size & 1, &out, &msg) == 0)
        json_decref(out);
    free(msg);
    json_t *resp = worker_messages_response(doc, NULL, NULL, 1);
    json_decref(resp);
    worker_usage_t u = {0};
    worker_usage_from_openai(doc, &u);
    json_decref(doc);
    return 0;
}
