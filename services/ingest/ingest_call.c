//  ingest_call.c - calls in flight: the id table, the deadline list, answers from the inbox,
//  clients that hang up, and timeouts.
#include "ingest_priv.h"
#include "tg_error.h"
#include "tg_log.h"
#include "tg_util.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_on_close(struct evhttp_connection *evcon, void *arg);
static void s_write_chunk(ingest_t *self, ingest_call_t *call, char **data_p, size_t len);

static void
s_free_ref(const void *data, size_t len, void *extra)
{
    (void)len;
    (void)extra;
    free((void *)data);
}

//  Appends the call at the end of the deadline list with a deadline of now + timeout: every
//  call gets the same timeout, so appending keeps the list sorted.
static void
s_arm(ingest_t *self, ingest_call_t *call, int64_t now_us)
{
    call->deadline_us = now_us + self->timeout_us;
    call->next = NULL;
    call->prev = self->last;
    if (self->last)
        self->last->next = call;
    else
        self->first = call;
    self->last = call;
}

static void
s_disarm(ingest_t *self, ingest_call_t *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        self->first = call->next;
    if (call->next)
        call->next->prev = call->prev;
    else
        self->last = call->prev;
    call->prev = call->next = NULL;
}

//  While the answer is due, libevent does not read from the connection, so it would not see
//  the client hang up. Read without parsing (no read callback, capped buffer, no read
//  timeout: an answer may take minutes) so that EOF reaches the close callback.
static void
s_watch(ingest_call_t *call)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(call->evcon);
    bufferevent_data_cb readcb, writecb;
    bufferevent_event_cb eventcb;
    void *cbarg;
    bufferevent_getcb(bev, &readcb, &writecb, &eventcb, &cbarg);
    bufferevent_setcb(bev, NULL, writecb, eventcb, cbarg);
    bufferevent_setwatermark(bev, EV_READ, 0, INGEST_WATCH_READ_CAP);
    struct timeval wtv = {INGEST_IDLE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(bev, NULL, &wtv);
    bufferevent_enable(bev, EV_READ);
    evhttp_connection_set_closecb(call->evcon, s_on_close, call);
}

//  Gives the connection back to libevent's own settings before the last bytes of the answer.
static void
s_unwatch(ingest_call_t *call)
{
    evhttp_connection_set_closecb(call->evcon, NULL, NULL);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(call->evcon);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    struct timeval tv = {INGEST_IDLE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(bev, &tv, &tv);
}

static void
s_remove(ingest_t *self, ingest_call_t **call_p)
{
    ingest_call_t *call = *call_p;
    s_disarm(self, call);
    zhashx_delete(self->calls, call->id);
    free(call->provider);
    free(call->model);
    free(call);
    *call_p = NULL;
    ingest_drain_check(self);
}

void
ingest_call_cancel(ingest_t *self, const char *id)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_CANCEL);
    f->cancel.id = tg_strdup(id);
    if (tg_frame_send(&f, self->router) != TG_OK)  //  never blocks; at the HWM it is dropped
        tg_log_debug("cancel not sent id=%s: router queue full", id);
}

ingest_call_t *
ingest_call_add(ingest_t *self,
                struct evhttp_request *req,
                ingest_kind_t kind,
                const char *id,
                const char *rid,
                const char *agent,
                int64_t t0_us,
                uint64_t seq)
{
    ingest_call_t *call = tg_zalloc(sizeof *call);
    call->seq = seq;
    call->owner = self;
    snprintf(call->id, sizeof call->id, "%s", id);
    snprintf(call->rid, sizeof call->rid, "%s", rid);
    snprintf(call->agent, sizeof call->agent, "%s", agent);
    call->req = req;
    call->evcon = evhttp_request_get_connection(req);
    call->kind = kind;
    call->state = INGEST_WAITING;
    call->t0_us = t0_us;
    zhashx_insert(self->calls, call->id, call);
    s_arm(self, call, t0_us);
    s_watch(call);
    return call;
}

//  Frees requests that libevent detached from their connection when the client went away:
//  they are ours now, and are freed here, outside libevent's callback.
void
ingest_call_reap(ingest_t *self)
{
    for (size_t i = 0; i < self->ndead; i++)
        evhttp_request_free(self->dead[i]);
    self->ndead = 0;
}

static void
s_on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    ingest_call_t *call = arg;
    ingest_t *self = call->owner;
    //  A request whose answer was not finished is detached by libevent before this callback
    //  (it stays ours to free); one still attached is freed by libevent right after it.
    if (!evhttp_request_get_connection(call->req)) {
        if (self->ndead == self->dead_cap) {
            self->dead_cap = self->dead_cap ? 2 * self->dead_cap : 16;
            self->dead = tg_realloc(self->dead, self->dead_cap * sizeof *self->dead);
        }
        self->dead[self->ndead++] = call->req;
        event_active(self->reaper, EV_TIMEOUT, 0);
    }
    call->req = NULL;
    tg_log_debug("client closed id=%s rid=%s state=%s", call->id, call->rid,
                 call->state == INGEST_STREAMING ? "streaming" : "waiting");
    tg_metrics_add(self->metrics, "tollgate_ingest_client_closed_total", NULL, 1);
    if (call->kind != INGEST_QUERY) {
        ingest_call_cancel(self, call->id);
        ingest_count_llm(self, call->agent, call->provider, call->model, NULL, call->t0_us, -1);
    }
    s_remove(self, &call);
}

static int
s_status(uint64_t status)
{
    return status >= 100 && status <= 599 ? (int)status : 502;
}

//  x-tollgate-model (the upstream model that answers) and, for model "auto",
//  x-tollgate-auto-class.
static void
s_model_headers(struct evkeyvalq *h, const ingest_call_t *call, const char *model)
{
    if (model && *model && call->kind != INGEST_QUERY)
        evhttp_add_header(h, "x-tollgate-model", model);
    if (call->cls)
        evhttp_add_header(h, "x-tollgate-auto-class", call->cls);
}

static void
s_on_reply(ingest_t *self, ingest_call_t *call, tg_frame_t *f)
{
    tg_fr_reply_t *r = &f->reply;
    if (call->state == INGEST_STREAMING) {
        //  An error for a stream under way (its worker was lost): an SSE error line, the end.
        s_unwatch(call);
        if (f->body && f->body_len) {
            char *line = ingest_http_error_line(call->kind, s_status(r->status), f->body);
            s_write_chunk(self, call, &line, strlen(line));
        }
        ingest_http_stream_end(self, call->req);
        ingest_count_llm(self, call->agent, call->provider, call->model, NULL, call->t0_us, -1);
        s_remove(self, &call);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(call->req);
    if (r->cache && *r->cache)
        evhttp_add_header(h, "x-cache", r->cache);
    if (r->provider && *r->provider)
        evhttp_add_header(h, "x-tollgate-provider", r->provider);
    s_model_headers(h, call, r->model);
    ingest_auth_rl_headers(h, r->rl);
    if (r->retry_after > 0) {
        char secs[24];
        snprintf(secs, sizeof secs, "%llu", (unsigned long long)r->retry_after);
        evhttp_add_header(h, "Retry-After", secs);
    }
    s_unwatch(call);
    char *body = f->body;  //  handed to libevent as is: no copy
    f->body = NULL;
    ingest_http_send(self, call->req, call->rid, s_status(r->status), r->ctype, &body, f->body_len);
    if (call->kind != INGEST_QUERY)
        ingest_count_llm(self, call->agent, r->provider, r->model, r->cache, call->t0_us,
                         (int64_t)r->up_us);
    s_remove(self, &call);
}

static void
s_on_head(ingest_t *self, ingest_call_t *call, tg_frame_t *f)
{
    if (call->state == INGEST_STREAMING) {
        tg_log_warn("second HEAD for id=%s: dropped", call->id);
        return;
    }
    call->state = INGEST_STREAMING;
    call->provider = tg_strdup(f->head.provider);
    call->model = tg_strdup(f->head.model);
    s_disarm(self, call);
    s_arm(self, call, tg_mono_us());  //  from now on the timeout is the idle gap
    if (f->head.cache && *f->head.cache)
        evhttp_add_header(evhttp_request_get_output_headers(call->req), "x-cache", f->head.cache);
    s_model_headers(evhttp_request_get_output_headers(call->req), call, f->head.model);
    ingest_auth_rl_headers(evhttp_request_get_output_headers(call->req), f->head.rl);
    ingest_http_stream_start(self, call->req, call->rid, s_status(f->head.status),
                             f->head.provider);
}

static void
s_write_chunk(ingest_t *self, ingest_call_t *call, char **data_p, size_t len)
{
    evbuffer_add_reference(self->chunk, *data_p, len, s_free_ref, NULL);
    *data_p = NULL;
    evhttp_send_reply_chunk(call->req, self->chunk);  //  moves the bytes to the socket buffer
    evbuffer_drain(self->chunk, evbuffer_get_length(self->chunk));
}

static void
s_on_chunk(ingest_t *self, ingest_call_t *call, tg_frame_t *f)
{
    if (call->state != INGEST_STREAMING) {
        tg_log_warn("CHUNK before HEAD for id=%s: dropped", call->id);
        return;
    }
    if (!f->body || !f->body_len)
        return;
    size_t len = f->body_len;
    s_write_chunk(self, call, &f->body, len);
    s_disarm(self, call);
    s_arm(self, call, tg_mono_us());
}

static void
s_on_end(ingest_t *self, ingest_call_t *call, tg_frame_t *f)
{
    if (call->state != INGEST_STREAMING) {
        tg_log_warn("END before HEAD for id=%s: answering 502", call->id);
        s_unwatch(call);
        ingest_http_error(self, call->req, call->rid, 502,
                          "The upstream stream ended before it started.", NULL, "bad_stream");
        ingest_count_llm(self, call->agent, NULL, NULL, NULL, call->t0_us, -1);
        s_remove(self, &call);
        return;
    }
    s_unwatch(call);
    ingest_http_stream_end(self, call->req);
    ingest_count_llm(self, call->agent, call->provider, call->model, NULL, call->t0_us,
                     (int64_t)f->end.up_us);
    s_remove(self, &call);
}

void
ingest_call_on_frame(tg_frame_t **frame_p, void *arg)
{
    ingest_t *self = arg;
    tg_frame_t *f = *frame_p;
    const char *id;
    switch (f->type) {
    case TG_FRAME_REPLY:
        id = f->reply.id;
        break;
    case TG_FRAME_HEAD:
        id = f->head.id;
        break;
    case TG_FRAME_CHUNK:
        id = f->chunk.id;
        break;
    case TG_FRAME_END:
        id = f->end.id;
        break;
    case TG_FRAME_MARK:
        ingest_router_heard(self, f->mark.router, &f->mark);
        return;
    case TG_FRAME_ACK:
        ingest_cache_on_ack(self, f);
        return;
    default:
        tg_log_warn("ingest inbox ignores frame type=%s", tg_frame_name(f->type));
        return;
    }
    ingest_call_t *call = zhashx_lookup(self->calls, id);
    if (!call) {
        tg_log_debug("dropped %s for a call no longer here id=%s", tg_frame_name(f->type), id);
        return;
    }
    if (f->type == TG_FRAME_REPLY)
        s_on_reply(self, call, f);
    else if (f->type == TG_FRAME_HEAD)
        s_on_head(self, call, f);
    else if (f->type == TG_FRAME_CHUNK)
        s_on_chunk(self, call, f);
    else
        s_on_end(self, call, f);
}

//  Answers a call that will get nothing more from its worker: an error object while the
//  client still waits for the head, an SSE error line and the end once it streams.
static void
s_fail(ingest_t *self, ingest_call_t **call_p, int status, const char *msg, const char *code)
{
    ingest_call_t *call = *call_p;
    s_unwatch(call);
    if (call->state == INGEST_WAITING && status == 503)
        evhttp_add_header(evhttp_request_get_output_headers(call->req), "Retry-After", "1");
    if (call->state == INGEST_WAITING)
        ingest_http_error(self, call->req, call->rid, status, msg, NULL, code);
    else {
        char *err = tg_error_body(status, msg, NULL, NULL, code);
        char *line = ingest_http_error_line(call->kind, status, err);
        free(err);
        s_write_chunk(self, call, &line, strlen(line));
        ingest_http_stream_end(self, call->req);
    }
    if (call->kind != INGEST_QUERY)
        ingest_count_llm(self, call->agent, call->provider, call->model, NULL, call->t0_us, -1);
    s_remove(self, call_p);
}

void
ingest_call_expire(ingest_t *self, int64_t now_us)
{
    char msg[160];
    snprintf(msg, sizeof msg, "The gateway got no answer within %lld ms (http.timeout_ms).",
             (long long)(self->timeout_us / 1000));
    while (self->first && self->first->deadline_us <= now_us) {
        ingest_call_t *call = self->first;
        tg_log_warn("call timed out id=%s rid=%s state=%s", call->id, call->rid,
                    call->state == INGEST_STREAMING ? "streaming" : "waiting");
        if (call->kind != INGEST_QUERY)
            ingest_call_cancel(self, call->id);
        s_fail(self, &call, 504, msg, "timeout");
    }
}

void
ingest_call_fail_router(ingest_t *self, uint64_t lo, uint64_t hi)
{
    size_t n = 0;
    ingest_call_t *call = self->first;
    while (call) {
        ingest_call_t *next = call->next;
        if (call->seq > lo && call->seq <= hi && call->state == INGEST_WAITING) {
            s_fail(self, &call, 503,
                   "The gateway's router stopped before dispatching this request; retry shortly.",
                   "router_unavailable");
            n++;
        }
        call = next;
    }
    if (n)
        tg_log_warn("answered 503 router_unavailable calls=%zu seq=(%llu,%llu]", n,
                    (unsigned long long)lo, (unsigned long long)hi);
}

void
ingest_call_forget_all(ingest_t *self)
{
    while (self->first) {
        ingest_call_t *call = self->first;
        s_remove(self, &call);
    }
}
