//  analytics_events.h - POST /api/v1/events and /api/v1/events/batch (spec A3): validation
//  (all or nothing, per-item errors), USAGE frames for the store, the answer after commit.
#ifndef ANALYTICS_EVENTS_H
#define ANALYTICS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_frame.h"

#define ANALYTICS_EVENTS_BATCH_MAX 100   //  events in one batch, at most
#define ANALYTICS_EVENTS_PROPS_MAX 8192  //  bytes of `properties` as compact JSON
#define ANALYTICS_EVENTS_ID_MAX 64       //  longest client event id

//  One accepted post: its events wait for the commit, then the answer goes.
typedef struct analytics_post analytics_post_t;

//  True if `path` is an events API route.
bool analytics_events_route(const char *path);
//  Takes the QUERY (*query_p = NULL) of an events route, at now_us, into a new post: with
//  one USAGE frame per event when the body is valid, else with none and its answer ready
//  (400 naming each bad item and field, 403 without the events:write role, 404, 405).
//  Events without an environment get default_env (NULL: none). Caller destroys the post.
analytics_post_t *
analytics_events_parse(tg_frame_t **query_p, int64_t now_us, const char *default_env);
//  Events in the post.
size_t analytics_post_count(const analytics_post_t *self);
//  Hands event i's USAGE frame over (once); the caller owns it.
tg_frame_t *analytics_post_take(analytics_post_t *self, size_t i);
//  Records the outcome of event i (committed: stored or a duplicate; or not stored). True
//  when every event of the post has one: the answer is then due.
bool analytics_post_settle(analytics_post_t *self, size_t i, bool committed, bool duplicate);
//  The answer: 200 with each id and "stored" | "duplicate", or 503 when some event could
//  not be stored (none is lost: the client retries with the same ids); or the answer made
//  at parse time. Caller owns it; call once.
tg_frame_t *analytics_post_reply(analytics_post_t *self);
//  The QUERY the post answers (borrowed for the post's life).
const tg_fr_query_t *analytics_post_query(const analytics_post_t *self);
//  Frees the post and any frame not taken; *self_p = NULL. NULL-safe.
void analytics_post_destroy(analytics_post_t **self_p);

#endif
