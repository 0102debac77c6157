//  router_cache.h - the router's side of the response cache (spec C1, C2, C4): the one
//  writer of the LMDB map. It re-checks a miss (a fill may have landed since ingest
//  looked), stores fills from workers, records the hits ingest served, evicts, and answers
//  /v1/cache/{stats,feedback,invalidate}.
#ifndef ROUTER_CACHE_H
#define ROUTER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_cache.h"
#include "tg_config.h"
#include "tg_frame.h"
#include "tg_metrics.h"
#include "tg_pricing.h"

typedef struct router_cache router_cache_t;

//  Opens (creating) the cache map when cache.enabled, and declares the cache metrics in
//  `metrics` (borrowed, like cfg and pricing). A map that cannot be opened is moved aside
//  and started afresh; failing that, the router runs without a cache (logged). Never NULL.
router_cache_t *
router_cache_new(const tg_config_t *cfg, const tg_pricing_t *pricing, tg_metrics_t *metrics);
//  Closes the map; *self_p = NULL. NULL-safe.
void router_cache_destroy(router_cache_t **self_p);

//  A cacheable REQUEST: TG_OK with a servable entry in *out (owned: tg_cache_entry_fini)
//  when one is there (counted as a hit), else TG_NOTFOUND after noting the miss: its
//  normalized prompt is kept until the fill comes. When an identical call is already in
//  flight, *leader_p is its request id (borrowed; the caller may join it, spec C3); else the
//  request becomes the leader of its key. `fresh` (no-cache) never serves and never joins.
int router_cache_check(router_cache_t *self,
                       const tg_fr_request_t *rq,
                       const char *body,
                       size_t len,
                       bool fresh,
                       tg_cache_entry_t *out,
                       const char **leader_p);
//  Makes call `id` the leader of `ckey` (the old leader is gone).
void router_cache_lead(router_cache_t *self, const char *ckey, const char *id);
//  A FILL from a worker: stored with its tokens, cost and the kept prompt.
void router_cache_fill(router_cache_t *self, const tg_frame_t *fill);
//  HITS notices from an ingest: counted, and each entry's hit count and last access updated.
void router_cache_hits(router_cache_t *self, const tg_frame_t *hits);
//  Every tick: evicts when near full, forgets prompts whose fill never came, sets gauges.
void router_cache_tick(router_cache_t *self, int64_t now_mono_us);
//  /v1/cache/... : true when `q` is one (*status_p and *body_p, owned, set), else false.
bool router_cache_query(router_cache_t *self,
                        const tg_fr_query_t *q,
                        const char *body,
                        size_t len,
                        int *status_p,
                        char **body_p);
//  Sets the cache gauges (entries, bytes, hit rate per agent); call before publishing.
void router_cache_gauges(router_cache_t *self);
//  Hits counted (served here or reported by ingest) since start.
uint64_t router_cache_hit_count(const router_cache_t *self);

#endif
