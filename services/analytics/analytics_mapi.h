//  analytics_mapi.h - the metrics query API's front (spec A5, A7): routes, roles, per-key
//  rate limits and the 60 s answer cache, in front of analytics_mq (parse) and analytics_mx
//  (run).
//
//  Routes: GET /api/v1/metrics and GET /api/v1/metrics/summary need the role metrics:read,
//  POST /api/v1/metrics/query needs metrics:query; admin grants both; a missing role is a
//  403 naming it. Every answer is limited to QUERY.org (NULL or "" = the master key: every
//  organization).
//  Rate limits (token bucket per key id, the most generous of the key's roles that grant
//  the route): admin 50 requests/s (burst 100), metrics:query 5/s (burst 10),
//  metrics:read 10/s (burst 30); the master key is not limited. Past it: 429.
//  Cache: 200 answers are kept 60 s (at most 512), keyed by organization, path, query
//  string and body; an answer is dropped as soon as an event is stored whose time falls
//  in the range it covers (analytics_mapi_touch), so a cached answer never misses data.
#ifndef ANALYTICS_MAPI_H
#define ANALYTICS_MAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics_store.h"
#include "tg_frame.h"

#define ANALYTICS_MAPI_CACHE_US 60000000LL  //  how long an answer is served from the cache
#define ANALYTICS_MAPI_CACHE_MAX 512        //  answers kept at most

typedef struct analytics_mapi analytics_mapi_t;

analytics_mapi_t *analytics_mapi_new(void);
void analytics_mapi_destroy(analytics_mapi_t **self_p);
//  True for the paths answered here (/api/v1/metrics*).
bool analytics_mapi_owns(const char *path);
//  The REPLY to QUERY frame f (borrowed: query fields and body) at now_us (wall clock) and
//  mono_us (rate limits, cache ages). Caller owns the frame.
tg_frame_t *analytics_mapi_answer(analytics_mapi_t *self,
                                  analytics_store_t *store,
                                  const tg_frame_t *f,
                                  int64_t now_us,
                                  int64_t mono_us);
//  Events with times in lo_us..hi_us were stored: drops the cached answers covering them.
void analytics_mapi_touch(analytics_mapi_t *self, int64_t lo_us, int64_t hi_us);
//  Cache counters since start: answers served from the cache, answers computed.
void analytics_mapi_stats(const analytics_mapi_t *self, uint64_t *hits, uint64_t *misses);

#endif
