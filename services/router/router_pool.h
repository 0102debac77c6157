//  router_pool.h - the worker fleet as the router sees it: who is there, how busy, which
//  calls each one holds. Pure bookkeeping (time is passed in); router.c moves the frames.
#ifndef ROUTER_POOL_H
#define ROUTER_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_frame.h"

#define ROUTER_POOL_RID_MAX 64  //  longest worker routing id accepted (instance ids are ~32)

typedef struct router_pool router_pool_t;

//  A worker is lost when no LOAD came from it for `quiet_us`.
router_pool_t *router_pool_new(int64_t quiet_us);
//  Frees every worker and call record; *self_p = NULL. NULL-safe.
void router_pool_destroy(router_pool_t **self_p);

//  A LOAD from the worker with routing id `rid` at `now_us` (monotonic): adds the worker if
//  new, records its capacity, latency and draining flag, and releases the calls whose ids are
//  in `body` (one per line, `len` bytes; may be NULL). A `bye` forgets the worker (its calls
//  too: it finished them). Returns the number of calls released.
size_t router_pool_load(router_pool_t *self,
                        const char *rid,
                        const tg_fr_load_t *load,
                        const char *body,
                        size_t len,
                        int64_t now_us);
//  The worker that should take the next call: fewest calls held, ties broken by the lower
//  recent latency, then in turn. Only workers below capacity, not draining. NULL if none.
//  Borrowed until the next call that changes the pool.
const char *router_pool_pick(router_pool_t *self);
//  Records that call `id` (answers go to `reply_to`; `route` is a static string, kept as is)
//  went to worker `rid`.
void router_pool_assign(
    router_pool_t *self, const char *rid, const char *id, const char *reply_to, const char *route);
//  The worker holding call `id`, or NULL. Borrowed like router_pool_pick's answer.
const char *router_pool_holder(router_pool_t *self, const char *id);
//  The worker `rid` cannot be reached (a send found no such peer): it is lost at once.
void router_pool_unreachable(router_pool_t *self, const char *rid);
//  The worker `rid`'s pipe is full (high-water mark): no picks until its next LOAD.
void router_pool_full(router_pool_t *self, const char *rid);

//  Called once per call of a lost worker: its id, reply_to and route (borrowed for the call).
typedef void(router_pool_lost_fn)(const char *id,
                                  const char *reply_to,
                                  const char *route,
                                  void *arg);
//  Forgets the workers lost as of `now_us` (quiet too long, or unreachable), calling `fn`
//  for each call they held. Returns the number of workers forgotten.
size_t router_pool_expire(router_pool_t *self, int64_t now_us, router_pool_lost_fn *fn, void *arg);

//  Workers known (draining ones included).
size_t router_pool_workers(const router_pool_t *self);
//  Calls held by workers, as far as the router knows.
size_t router_pool_calls(const router_pool_t *self);
//  JSON array describing each worker (id, cap, busy, lat_us, draining, dispatched). Caller
//  frees.
char *router_pool_json(const router_pool_t *self);

#endif
