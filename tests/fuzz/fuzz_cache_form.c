//  fuzz_cache_form.c - a cached answer converted between forms: the input as a stored stream
//  (to a completion, replayed with and without usage) and as a stored completion (to SSE).
#include <stdint.h>
#include <stdlib.h>

#include "tg_cache_form.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char *out = NULL;
    size_t len = 0;
    if (tg_cache_form_sse_to_json(s, size, 3, 5, &out, &len) == 0)
        free(out);
    out = NULL;
    if (tg_cache_form_sse_replay(s, size, true, 3, 5, &out, &len) == 0)
        free(out);
    out = NULL;
    if (tg_cache_form_sse_replay(s, size, false, 3, 5, &out, &len) == 0)
        free(out);
    out = NULL;
    if (tg_cache_form_json_to_sse(s, size, size & 1, &out, &len) == 0) {
        char *back = NULL;
        size_t blen = 0;
        if (tg_cache_form_sse_to_json(out, len, 0, 0, &back, &blen) == 0)  //  and back
            free(back);
        free(out);
    }
    return 0;
}
