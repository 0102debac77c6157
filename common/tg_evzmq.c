//  tg_evzmq.c - drain a zmq socket from libevent.
#include "tg_evzmq.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <signal.h>

#define S_BATCH 256  //  frames handled per activation before yielding to the loop

struct tg_evzmq {
    void *sock;            //  zsock_t, borrowed
    struct event *ev;      //  persistent read event on ZMQ_FD
    tg_evzmq_fn *fn;       //  per-frame handler
    tg_evzmq_end_fn *end;  //  after each burst, or NULL
    void *arg;             //  handler argument
};

static void
s_on_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tg_evzmq_t *self = arg;
    int handled = 0;
    for (int n = 0; n < S_BATCH; n++) {
        tg_frame_t *frame = NULL;
        int rc = tg_frame_recv(self->sock, &frame);
        if (rc == TG_AGAIN || rc == TG_ERR)
            goto done;  //  empty: the fd will signal again on the next edge
        if (rc == TG_OK) {
            self->fn(&frame, self->arg);
            tg_frame_destroy(&frame);
            handled++;
        }
    }
    //  Batch used up with frames still waiting: come back after other events had a turn.
    event_active(self->ev, EV_READ, 0);
done:
    if (handled && self->end)
        self->end(self->arg);
}

struct event_base *
tg_evzmq_base_new(void)
{
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

tg_evzmq_t *
tg_evzmq_new(struct event_base *base, void *sock, tg_evzmq_fn *fn, void *arg)
{
    tg_evzmq_t *self = tg_zalloc(sizeof *self);
    self->sock = sock;
    self->fn = fn;
    self->arg = arg;
    self->ev = event_new(base, zsock_fd(sock), EV_READ | EV_PERSIST, s_on_ready, self);
    event_add(self->ev, NULL);
    //  Messages may already be queued: the edge for them has passed.
    event_active(self->ev, EV_READ, 0);
    return self;
}

void
tg_evzmq_destroy(tg_evzmq_t **self_p)
{
    assert(self_p);
    tg_evzmq_t *self = *self_p;
    if (!self)
        return;
    event_free(self->ev);
    free(self);
    *self_p = NULL;
}

void
tg_evzmq_set_end(tg_evzmq_t *self, tg_evzmq_end_fn *end)
{
    self->end = end;
}

void
tg_evzmq_kick(tg_evzmq_t *self)
{
    if (zsock_events(self->sock) & ZMQ_POLLIN)
        event_active(self->ev, EV_READ, 0);
}

struct event *
tg_evzmq_timer(struct event_base *base, int64_t ms, event_callback_fn fn, void *arg)
{
    struct event *ev = event_new(base, -1, EV_PERSIST, fn, arg);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    event_add(ev, &tv);
    return ev;
}

static void
s_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

void
tg_evzmq_run(struct event_base *base)
{
    struct event *sigterm = evsignal_new(base, SIGTERM, s_on_signal, base);
    struct event *sigint = evsignal_new(base, SIGINT, s_on_signal, base);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    event_base_dispatch(base);
    event_free(sigterm);
    event_free(sigint);
}
