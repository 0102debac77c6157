//  fuzz_validate.c - the client's JSON at ingest: parse, validate (chat and embeddings), and
//  the cache plan and normalized key of whatever validates.
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "tg_cache_key.h"
#include "tg_validate.h"

static tg_config_t *s_cfg;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_cfg)
        s_cfg = tg_config_load_string("cache:\n  temperature: true\n");
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc)
        return 0;
    char *msg = NULL, *param = NULL;
    int chat = tg_validate_chat(doc, &msg, &param);
    free(msg);
    free(param);
    msg = param = NULL;
    int emb = tg_validate_embeddings(doc, &msg, &param);
    free(msg);
    free(param);
    if (chat == 0 || emb == 0) {
        tg_cache_plan_t plan = {.mode = TG_CACHE_USE};
        tg_cache_plan_request(s_cfg, chat == 0 ? "chat" : "embeddings", doc,
                              tg_cache_model(s_cfg, doc, "agent"), "key:k", &plan);
    }
    json_decref(doc);
    return 0;
}
