//  fuzz_config.c - the YAML config loader on any text.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tg_config.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    tg_config_t *cfg = tg_config_load_string(text);
    tg_config_destroy(&cfg);
    free(text);
    return 0;
}
