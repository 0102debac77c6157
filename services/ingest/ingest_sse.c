//  ingest_sse.c - GET /v1/alerts/stream: the alert PUB stream relayed to HTTP clients as SSE.
//
//  Each alert is written to every client's connection buffer without waiting for any of
//  them. Once a second, a client that still owes more than ingest.sse_buffer_bytes of what
//  was written to it before the previous check (over a second ago) is too slow and is cut
//  off (it may reconnect and read the history at /v1/costs/alerts). So no client holds up
//  another, and memory stays bounded: per client, the cap plus about two seconds of alerts
//  (each rule fires at most once a second). Neither the bytes owed at write time nor at
//  the check alone would do: a burst of alerts (many rules firing on one event) sits in
//  every client's buffer, fast or slow, until the loop gets to write it.
#include "ingest_priv.h"
#include "tg_log.h"
#include "tg_peers.h"
#include "tg_util.h"

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <string.h>

#define S_PING_TICKS \
    15  //  a ": ping" comment every 15 checks keeps proxies from closing idle streams
#define S_FILTER_MAX 64  //  longest severity or org filter

struct ingest_sse_client {
    ingest_t *owner;                  //  the ingest
    struct evhttp_request *req;       //  the streaming answer (libevent's while attached)
    struct evhttp_connection *evcon;  //  its connection
    char severity[S_FILTER_MAX + 1];  //  only this severity ("" = all)
    char org[S_FILTER_MAX + 1];       //  only this org ("" = all)
    uint64_t written;                 //  bytes handed to the connection since it opened
    uint64_t mark;                    //  `written` at the previous check
    ingest_sse_client_t *next;        //  list
};

static void
s_unlink(ingest_t *self, ingest_sse_client_t *c)
{
    for (ingest_sse_client_t **p = &self->sse.clients; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            self->sse.n--;
            return;
        }
}

static void
s_on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    ingest_sse_client_t *c = arg;
    ingest_t *self = c->owner;
    //  As in ingest_call.c: an unfinished answer is detached before this callback, and is
    //  ours to free, outside libevent's callback.
    if (!evhttp_request_get_connection(c->req)) {
        if (self->ndead == self->dead_cap) {
            self->dead_cap = self->dead_cap ? 2 * self->dead_cap : 16;
            self->dead = tg_realloc(self->dead, self->dead_cap * sizeof *self->dead);
        }
        self->dead[self->ndead++] = c->req;
        event_active(self->reaper, EV_TIMEOUT, 0);
    }
    tg_log_debug("alert stream client closed clients=%zu", self->sse.n - 1);
    s_unlink(self, c);
    free(c);
}

//  Bytes written to the client's socket buffer and not yet sent.
static size_t
s_owed(ingest_sse_client_t *c)
{
    return evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(c->evcon)));
}

//  Cuts a slow client off: the connection (and its request) is freed now.
static void
s_drop(ingest_t *self, ingest_sse_client_t *c)
{
    tg_log_warn("alert stream client too slow: dropped owed_bytes=%zu cap=%zu", s_owed(c),
                self->sse.cap);
    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    s_unlink(self, c);
    evhttp_connection_free(c->evcon);
    free(c);
}

static void
s_write_all(ingest_t *self, const char *text, size_t len, const char *severity, const char *org)
{
    ingest_sse_client_t *next;
    for (ingest_sse_client_t *c = self->sse.clients; c; c = next) {
        next = c->next;
        if ((severity && c->severity[0] && strcmp(c->severity, severity) != 0)
            || (org && c->org[0] && strcmp(c->org, org) != 0))
            continue;
        evbuffer_add(self->chunk, text, len);
        evhttp_send_reply_chunk(c->req, self->chunk);
        c->written += len;
    }
}

static void
s_on_alert(tg_frame_t **frame_p, void *arg)
{
    ingest_t *self = arg;
    tg_frame_t *f = *frame_p;
    if (f->type != TG_FRAME_ALERT || !self->sse.n)
        return;
    const tg_fr_alert_t *a = &f->alert;
    char when[40];
    tg_time_rfc3339(a->ts, when, sizeof when);
    json_t *o =
        json_pack("{ss ss ss ss ss ss*, ss*, ss*, sf sf sf ss}", "topic", f->topic ? f->topic : "",
                  "id", a->id, "ts", when, "severity", a->severity, "kind", a->kind, "scope",
                  a->scope, "period", a->period, "rule", a->rule, "threshold", a->threshold,
                  "value", a->value, "limit", a->limit, "message", a->message);
    char *json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!json)
        return;
    char *text = tg_strfmt("id: %s\nevent: alert\ndata: %s\n\n", a->id, json);
    free(json);
    s_write_all(self, text, strlen(text), a->severity, a->scope ? a->scope : "global");
    free(text);
}

//  Every second: slow clients go; every S_PING_TICKS seconds a ping to the others.
static void
s_on_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ingest_t *self = arg;
    ingest_sse_client_t *next;
    for (ingest_sse_client_t *c = self->sse.clients; c; c = next) {
        next = c->next;
        uint64_t owed = s_owed(c);  //  the answer's head counts too, never written here
        uint64_t sent = c->written > owed ? c->written - owed : 0;
        if (c->mark > sent + self->sse.cap)
            s_drop(self, c);  //  over `cap` bytes written a second ago are still unsent
        else
            c->mark = c->written;
    }
    if (++self->sse.ticks % S_PING_TICKS == 0) {
        static const char ping[] = ": ping\n\n";
        s_write_all(self, ping, sizeof ping - 1, NULL, NULL);
    }
}

int
ingest_sse_init(ingest_t *self)
{
    ingest_sse_t *s = &self->sse;
    s->cap = (size_t)tg_config_int(self->cfg, "ingest.sse_buffer_bytes");
    s->sub =
        tg_socket_open(ZMQ_SUB, tg_config_str(self->cfg, "endpoints.alert_stream"), false, 100000);
    if (!s->sub)
        return TG_ERR;
    zsock_set_subscribe(s->sub, "alert.");
    s->reader = tg_evzmq_new(self->base, s->sub, s_on_alert, self);
    s->ping = event_new(self->base, -1, EV_PERSIST, s_on_check, self);
    struct timeval tv = {1, 0};
    event_add(s->ping, &tv);
    return TG_OK;
}

void
ingest_sse_fini(ingest_t *self)
{
    ingest_sse_t *s = &self->sse;
    while (s->clients) {  //  their connections went with evhttp_free
        ingest_sse_client_t *c = s->clients;
        s->clients = c->next;
        free(c);
    }
    if (s->ping)
        event_free(s->ping);
    tg_evzmq_destroy(&s->reader);
    zsock_destroy(&s->sub);
    memset(s, 0, sizeof *s);
}

//  Copies query argument `name` into out when it is a short token; false when it is bad.
static bool
s_arg(struct evkeyvalq *args, const char *name, char *out)
{
    const char *v = evhttp_find_header(args, name);
    if (!v)
        return true;
    if (!ingest_http_token_valid(v, S_FILTER_MAX, 0x21))
        return false;
    memcpy(out, v, strlen(v) + 1);
    return true;
}

void
ingest_sse_open(ingest_t *self, struct evhttp_request *req, const char *rid)
{
    ingest_sse_client_t *c = tg_zalloc(sizeof *c);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq args;
    TAILQ_INIT(&args);
    bool ok = !q || evhttp_parse_query_str(q, &args) == 0;
    const char *bad = !ok                                      ? "query"
                      : !s_arg(&args, "severity", c->severity) ? "severity"
                      : !s_arg(&args, "org", c->org)           ? "org"
                                                               : NULL;
    evhttp_clear_headers(&args);
    if (bad) {
        free(c);
        ingest_http_error(self, req, rid, 400,
                          "Invalid alert stream filter: severity and org must be short tokens.",
                          bad, NULL);
        return;
    }
    c->owner = self;
    c->req = req;
    c->evcon = evhttp_request_get_connection(req);
    ingest_http_stream_start(self, req, rid, 200, NULL);
    //  Watch for the client hanging up: read without parsing, capped, no read timeout (a
    //  stream is idle between alerts), as ingest_call.c does for answers under way.
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    bufferevent_data_cb readcb, writecb;
    bufferevent_event_cb eventcb;
    void *cbarg;
    bufferevent_getcb(bev, &readcb, &writecb, &eventcb, &cbarg);
    bufferevent_setcb(bev, NULL, writecb, eventcb, cbarg);
    bufferevent_setwatermark(bev, EV_READ, 0, INGEST_WATCH_READ_CAP);
    struct timeval wtv = {INGEST_IDLE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(bev, NULL, &wtv);
    bufferevent_enable(bev, EV_READ);
    evhttp_connection_set_closecb(c->evcon, s_on_close, c);
    c->next = self->sse.clients;
    self->sse.clients = c;
    self->sse.n++;
    static const char hello[] = ": tollgate alert stream\n\n";
    evbuffer_add(self->chunk, hello, sizeof hello - 1);
    evhttp_send_reply_chunk(req, self->chunk);
    c->written = sizeof hello - 1;
    tg_log_debug("alert stream client opened clients=%zu", self->sse.n);
}

void
ingest_sse_close_all(ingest_t *self)
{
    while (self->sse.clients) {
        ingest_sse_client_t *c = self->sse.clients;
        self->sse.clients = c->next;
        self->sse.n--;
        evhttp_connection_set_closecb(c->evcon, NULL, NULL);
        struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
        bufferevent_setwatermark(bev, EV_READ, 0, 0);
        struct timeval tv = {INGEST_IDLE_TIMEOUT_S, 0};
        bufferevent_set_timeouts(bev, &tv, &tv);
        ingest_http_stream_end(self, c->req);
        free(c);
    }
}
