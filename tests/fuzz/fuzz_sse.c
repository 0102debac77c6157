//  fuzz_sse.c - the upstream SSE parser fed the input in pieces whose sizes the input's first
//  byte sets, and each event it yields read as an OpenAI usage chunk and translated as an
//  Anthropic Messages event.
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "worker_messages.h"
#include "worker_sse.h"
#include "worker_usage.h"

typedef struct {
    worker_messages_stream_t *tr;
    tg_buf_t out;
} s_ctx_t;

static int
s_on_event(void *arg, const char *event, const char *data, size_t len)
{
    s_ctx_t *ctx = arg;
    worker_usage_t u = {0};
    worker_usage_from_openai_sse(data, len, &u);
    worker_messages_stream_event(ctx->tr, event, data, len, &ctx->out);
    if (ctx->out.len > 1 << 20)
        tg_buf_reset(&ctx->out);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)data[0] % 64 + 1;
    bool usage = data[0] & 0x80;
    data++;
    size--;
    worker_sse_t *sse = worker_sse_new(64 << 10);
    s_ctx_t ctx = {.tr = worker_messages_stream_new("chatcmpl-f", "m", 1, usage)};
    tg_buf_init(&ctx.out, 4 << 20);
    for (size_t off = 0; off < size; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        if (worker_sse_feed(sse, (const char *)data + off, n, s_on_event, &ctx) != 0)
            break;
    }
    tg_buf_fini(&ctx.out);
    worker_messages_stream_destroy(&ctx.tr);
    worker_sse_destroy(&sse);
    return 0;
}
