//  tg_cache_key.h - what makes two requests the same answer (spec C1): the cache plan of a
//  request (cacheable? which scope, TTL, mode) and the key of its normalized form.
//
//  Ingest computes the key once, from the JSON it already parsed for validation, and sends it
//  with the REQUEST; the router uses that key for its re-check, coalescing and the fill, so
//  both sides always agree. Used by ingest (keys) and the router (normalized prompts).
#ifndef TG_CACHE_KEY_H
#define TG_CACHE_KEY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "tg_cache.h"
#include "tg_config.h"
#include "tg_frame.h"

typedef enum {
    TG_CACHE_USE,     //  serve a hit, store a miss
    TG_CACHE_FRESH,   //  x-tollgate-cache: no-cache: never serve, store the fresh answer
    TG_CACHE_BYPASS,  //  not cacheable, disabled, or x-tollgate-cache: no-store
} tg_cache_mode_t;

//  The cache plan of one request.
typedef struct {
    tg_cache_mode_t mode;
    tg_cache_key_t key;          //  set unless mode is BYPASS
    char hex[TG_CACHE_KEY_HEX];  //  key in hex ("" when BYPASS)
    uint64_t ttl_s;              //  seconds a fill is kept (0 = never expires)
} tg_cache_plan_t;

//  Reads the cache headers' values (NULL when absent) into mode and ttl: `mode_hdr` is
//  x-tollgate-cache (no-store | no-cache), `ttl_hdr` x-tollgate-cache-ttl (whole seconds,
//  1 .. cache.max_ttl_s). TG_OK, or TG_INVALID with *msg_p (owned) and *param_p (static)
//  saying which header is wrong and why.
int tg_cache_plan_headers(const tg_config_t *cfg,
                          const char *mode_hdr,
                          const char *ttl_hdr,
                          tg_cache_plan_t *plan,
                          const char **param_p,
                          char **msg_p);

//  Completes the plan for a validated request body `doc` of `route` ("chat" | "embeddings"):
//  BYPASS when the cache is disabled or the answer is not deterministic enough to reuse
//  (chat with temperature > 0, or absent, i.e. OpenAI's default 1, unless cache.temperature);
//  else the key of (route, scope, normalized request). `model` is the model after alias
//  resolution (the key names what answers, not how it was asked); `scope` is the cache scope
//  (tg_cache_scope). Call after tg_cache_plan_headers.
void tg_cache_plan_request(const tg_config_t *cfg,
                           const char *route,
                           const json_t *doc,
                           const char *model,
                           const char *scope,
                           tg_cache_plan_t *plan);

//  The scope string for cache.scope: "shared", "agent:<agent>", or "key:<key id>" ("auto":
//  the agent when the request names one, else the key). Writes into out[size].
void tg_cache_scope(
    const tg_config_t *cfg, const char *key_id, const char *agent, char *out, size_t size);

//  The model the key uses: the client's (or the agent's default), aliases followed. Borrowed
//  from doc or cfg; "" when none.
const char *tg_cache_model(const tg_config_t *cfg, const json_t *doc, const char *agent);

//  The normalized request: the body as compact JSON with sorted keys, the model replaced by
//  `model`, and the members that never change the answer dropped (stream, stream_options,
//  user, metadata, store), and top-level numbers with a whole value written as integers (0.0 and 0
//  are one temperature). Owned by the caller.
char *tg_cache_normalize(const json_t *doc, const char *model);

//  The usage event of a hit on `entry`: request `id` of `route`, key id, agent (NULL or
//  "none": none), asked as a stream or not, received at epoch µs `ts`, answered now; status
//  200, cache "hit", the entry's provider, model and tokens (analytics prices it at 0 and
//  counts its cost as saved). Caller owns the frame.
tg_frame_t *tg_cache_hit_usage(const tg_cache_entry_t *entry,
                               const char *id,
                               const char *route,
                               const char *key,
                               const char *agent,
                               bool stream,
                               int64_t ts);

//  The cache's directory: cache.dir, or <data_dir>/cache. Owned by the caller.
char *tg_cache_dir(const tg_config_t *cfg);

#endif
