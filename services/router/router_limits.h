//  router_limits.h - rate limits and monthly quotas per virtual key (spec K3, K4), held by
//  the router because it sees every call that goes upstream, whichever ingest took it: the
//  limits are exact however many ingest processes run, and ingest asks nothing extra.
#ifndef ROUTER_LIMITS_H
#define ROUTER_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_frame.h"
#include "tg_keystore.h"

typedef struct router_limits router_limits_t;

//  Reads the monthly counts kept in `store` (borrowed; NULL: kept in memory only). The
//  per-minute buckets are in memory only: a restart starts them full.
router_limits_t *router_limits_new(tg_keystore_t *store);
//  Writes the monthly counts back, frees every key's counters; *self_p = NULL. NULL-safe.
void router_limits_destroy(router_limits_t **self_p);
//  Checks the REQUEST against its key's limits (rq->rpm ...; all 0: nothing to do) at
//  now_us (epoch µs). TG_OK: admitted and counted (requests, estimated prompt tokens);
//  TG_AGAIN: a limit is reached, nothing counted, *msg_p names it (caller frees) and
//  *retry_s_p is when to retry. Either way *rl_p is the state for the x-ratelimit headers
//  (caller frees; NULL when the key has no per-minute limit).
int router_limits_admit(router_limits_t *self,
                        const tg_fr_request_t *rq,
                        int64_t now_us,
                        char **rl_p,
                        char **msg_p,
                        uint64_t *retry_s_p);
//  The finished calls of a LOAD body ("<id> <completion tokens>" lines): their completion
//  tokens are charged to their keys.
void router_limits_settle(router_limits_t *self, const char *body, size_t len, int64_t now_us);
//  One line of a LOAD body, "<id>[ <completion tokens>[ <prompt tokens>]]" (a joined call's
//  line has the id only: it made no upstream call). False when the id does not fit idsize;
//  else the id in id, the numbers in *out_p / *in_p (0 when absent), *tokens_p whether the
//  line had any.
bool router_limits_done_line(const char *line,
                             size_t n,
                             char *id,
                             size_t idsize,
                             uint64_t *out_p,
                             uint64_t *in_p,
                             bool *tokens_p);
//  Forgets calls whose completion never came (their worker was lost) after 15 minutes;
//  writes the monthly counts that changed to the store.
void router_limits_tick(router_limits_t *self, int64_t now_us);
//  Keys with counters, and calls awaiting their completion tokens (for tests and metrics).
size_t router_limits_pending(const router_limits_t *self);

#endif
