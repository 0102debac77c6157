//  tg_evzmq.h - a ZeroMQ socket read from a libevent loop, frame by frame.
//
//  ZMQ_FD is edge-triggered: this module drains the socket until ZMQ_EVENTS says it is
//  empty, in batches so that one busy socket cannot starve the HTTP side of the loop.
#ifndef TG_EVZMQ_H
#define TG_EVZMQ_H

#include <event2/event.h>
#include <stdint.h>

#include "tg_frame.h"

typedef struct tg_evzmq tg_evzmq_t;

//  A libevent base for a service loop, with epoll's changelist on: the enable/disable pairs
//  made per request fold into one epoll_ctl (or none) per loop turn. Caller frees it.
struct event_base *tg_evzmq_base_new(void);

//  Called once per good frame; takes the frame (destroy it or keep it, *frame_p may be
//  left non-NULL, then the caller of the callback destroys it).
typedef void(tg_evzmq_fn)(tg_frame_t **frame_p, void *arg);

//  Starts reading `sock` (zsock_t *, borrowed; must outlive this object) on `base`.
tg_evzmq_t *tg_evzmq_new(struct event_base *base, void *sock, tg_evzmq_fn *fn, void *arg);
//  Stops reading and frees; *self_p = NULL. NULL-safe.
void tg_evzmq_destroy(tg_evzmq_t **self_p);
//  A persistent timer every ms milliseconds on base; event_free it.
struct event *tg_evzmq_timer(struct event_base *base, int64_t ms, event_callback_fn fn, void *arg);
//  Runs base until SIGTERM or SIGINT arrives (or someone breaks the loop), then returns: the
//  main loop of a service that stops at once on a signal (router, analytics, alert).
void tg_evzmq_run(struct event_base *base);

//  Called after each burst of frames handled in one activation (with the handler's arg):
//  where work done once per burst goes (analytics commits posted events there).
typedef void(tg_evzmq_end_fn)(void *arg);
//  Sets (or clears, with NULL) the end-of-burst callback.
void tg_evzmq_set_end(tg_evzmq_t *self, tg_evzmq_end_fn *end);
//  Re-checks the socket now: call after sending on a socket that is also read here.
void tg_evzmq_kick(tg_evzmq_t *self);

#endif
