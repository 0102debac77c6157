//  ingest.c - the ingest core: sockets, timers, the bus (STATS -> /metrics and /readyz),
//  metrics, drain and teardown. HTTP is in ingest_http.c, calls in ingest_call.c.
#include "ingest_priv.h"
#include "tg_keys.h"
#include "tg_log.h"
#include "tg_evzmq.h"
#include "tg_peers.h"
#include "tg_util.h"

#include <event2/buffer.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const double s_duration_buckets[] = {0.1, 0.5, 1, 2, 5, 10, 30, 60};
static const double s_overhead_buckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                            0.005,   0.01,   0.025,   0.05,   0.1};
const char *const ingest_peer_names[INGEST_PEERS] = {"router", "worker", "analytics", "alert"};

#define S_NB(a) (sizeof(a) / sizeof((a)[0]))

static void
s_declare_metrics(tg_metrics_t *m)
{
    tg_metrics_declare(m, "llm_requests_total", TG_METRIC_COUNTER,
                       "LLM API calls answered (chat, embeddings), by provider, model, agent and "
                       "cache status; provider and model are none when no provider was reached.",
                       NULL, 0);
    tg_metrics_declare(m, "llm_request_duration_seconds", TG_METRIC_HISTOGRAM,
                       "Time from request to last byte of LLM calls that reached a provider.",
                       s_duration_buckets, S_NB(s_duration_buckets));
    tg_metrics_declare(m, "tollgate_gateway_overhead_seconds", TG_METRIC_HISTOGRAM,
                       "Time an LLM call spent in the gateway: total time at ingest minus the "
                       "time spent waiting on the upstream.",
                       s_overhead_buckets, S_NB(s_overhead_buckets));
    tg_metrics_declare(m, "tollgate_http_responses_total", TG_METRIC_COUNTER,
                       "HTTP responses sent by ingest, by status code.", NULL, 0);
    tg_metrics_declare(m, "tollgate_ingest_in_flight", TG_METRIC_GAUGE,
                       "Calls waiting for an answer or streaming at ingest.", NULL, 0);
    tg_metrics_declare(m, "tollgate_ingest_client_closed_total", TG_METRIC_COUNTER,
                       "Calls whose client hung up before the answer was complete.", NULL, 0);
}

void
ingest_count_llm(ingest_t *self,
                 const char *agent,
                 const char *provider,
                 const char *model,
                 const char *cache,
                 int64_t t0_us,
                 int64_t up_us)
{
    bool reached = provider && *provider;
    const char *p = reached ? provider : "none";
    const char *m = reached && model && *model ? model : "none";
    const char *c = cache && *cache ? cache : reached ? "miss" : "none";
    char labels[4096];
    tg_metrics_labels_buf(labels, sizeof labels, "provider", p, "model", m, "agent_id", agent,
                          "cache_status", c, NULL);
    tg_metrics_add(self->metrics, "llm_requests_total", labels, 1);
    if (up_us < 0)
        return;  //  never forwarded, or the client left: no meaningful duration
    double total = (double)(tg_mono_us() - t0_us) / 1e6;
    if (reached) {
        tg_metrics_labels_buf(labels, sizeof labels, "provider", p, "model", m, NULL);
        tg_metrics_observe(self->metrics, "llm_request_duration_seconds", labels, total);
    }
    double overhead = total - (double)up_us / 1e6;
    tg_metrics_observe(self->metrics, "tollgate_gateway_overhead_seconds", NULL,
                       overhead > 0 ? overhead : 0);
}

static void
s_on_bus(tg_frame_t **frame_p, void *arg)
{
    ingest_t *self = arg;
    tg_frame_t *f = *frame_p;
    if (f->type != TG_FRAME_STATS)
        return;
    int64_t now = tg_now_us();  //  our clock, not the sender's: hosts may disagree
    if (f->body)
        tg_metrics_agg_put(self->agg, f->stats.inst, f->body, f->body_len, now);
    if (strcmp(f->stats.proc, "router") == 0)
        ingest_router_heard(self, f->stats.inst, NULL);
    if (f->stats.ready)
        for (int i = 0; i < INGEST_PEERS; i++)
            if (strcmp(f->stats.proc, ingest_peer_names[i]) == 0)
                self->ready_us[i] = now;
}

static void
s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ingest_t *self = arg;
    int64_t now = tg_mono_us();
    ingest_call_expire(self, now);
    ingest_router_check(self, now);
    ingest_cache_tick(self, now);
    ingest_http_resume_accepting(self);
}

static void
s_on_stats(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ingest_t *self = arg;
    tg_metrics_set(self->metrics, "tollgate_ingest_in_flight", NULL,
                   (double)zhashx_size(self->calls));
    tg_stats_publish(self->stats, self->metrics, !self->draining);
}

static void
s_on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ingest_call_reap(arg);
}

ingest_t *
ingest_new(const tg_config_t *cfg, struct event_base *base)
{
    ingest_t *self = tg_zalloc(sizeof *self);
    self->cfg = cfg;
    self->base = base;
    self->timeout_us = tg_config_int(cfg, "http.timeout_ms") * 1000;
    self->max_body = (size_t)tg_config_int(cfg, "http.max_body_bytes");
    tg_id_fill(self->id_prefix, "", 6);
    bool generated = false;
    self->master_key = tg_master_key_resolve(cfg, &generated);
    if (!self->master_key)
        goto fail;
    if (generated)
        tg_log_info("generated a master key into %s/master.key", tg_config_str(cfg, "data_dir"));
    self->inbox = tg_socket_open(ZMQ_PULL, tg_config_str(cfg, "endpoints.ingest"), true, 100000);
    self->inbox_ep = self->inbox ? tg_socket_advertised(self->inbox, cfg) : NULL;
    self->router = tg_socket_open(ZMQ_PUSH, tg_config_str(cfg, "endpoints.router"), false, 100000);
    self->analytics =
        tg_socket_open(ZMQ_PUSH, tg_config_str(cfg, "endpoints.analytics"), false, 100000);
    self->alert = tg_socket_open(ZMQ_PUSH, tg_config_str(cfg, "endpoints.alert"), false, 100000);
    self->bus = tg_socket_open(ZMQ_SUB, tg_config_str(cfg, "endpoints.bus_out"), false, 100000);
    self->stats = tg_stats_new(cfg, "ingest");
    if (!self->inbox || !self->inbox_ep || !self->router || !self->analytics || !self->alert
        || !self->bus || !self->stats)
        goto fail;
    zsock_set_subscribe(self->bus, "sta");
    self->metrics = tg_metrics_new();
    s_declare_metrics(self->metrics);
    self->agg = tg_metrics_agg_new();
    self->calls = zhashx_new();
    ingest_router_init(self);
    if (ingest_auth_init(self) != TG_OK || ingest_cache_init(self) != TG_OK)
        goto fail;
    self->dashboard_dir = ingest_dashboard_dir();
    self->chunk = evbuffer_new();
    if (ingest_sse_init(self) != TG_OK)
        goto fail;
    if (ingest_http_start(self) != TG_OK)
        goto fail;
    self->inbox_reader = tg_evzmq_new(base, self->inbox, ingest_call_on_frame, self);
    self->bus_reader = tg_evzmq_new(base, self->bus, s_on_bus, self);
    self->reaper = event_new(base, -1, 0, s_on_reap, self);
    self->tick = tg_evzmq_timer(base, INGEST_TICK_MS, s_on_tick, self);
    self->stats_tick =
        tg_evzmq_timer(base, tg_config_int(cfg, "stats.interval_ms"), s_on_stats, self);
    s_on_stats(-1, 0, self);
    return self;
fail:
    ingest_destroy(&self);
    return NULL;
}

void
ingest_destroy(ingest_t **self_p)
{
    assert(self_p);
    ingest_t *self = *self_p;
    if (!self)
        return;
    //  Closing the connections runs the close callback of every call still in flight: each
    //  sends its CANCEL on the bus, so the sockets go after the server.
    if (self->http)
        evhttp_free(self->http);
    if (self->calls)
        ingest_call_forget_all(self);
    ingest_call_reap(self);
    ingest_sse_fini(self);
    free(self->dead);
    tg_evzmq_destroy(&self->inbox_reader);
    tg_evzmq_destroy(&self->bus_reader);
    struct event *events[] = {self->tick, self->stats_tick, self->reaper, self->drain_timer};
    for (size_t i = 0; i < S_NB(events); i++)
        if (events[i])
            event_free(events[i]);
    if (self->chunk)
        evbuffer_free(self->chunk);
    ingest_cache_fini(self);
    free(self->dashboard_dir);
    ingest_auth_fini(self);
    zhashx_destroy(&self->calls);
    tg_metrics_agg_destroy(&self->agg);
    tg_metrics_destroy(&self->metrics);
    tg_stats_destroy(&self->stats);
    zsock_destroy(&self->bus);
    zsock_destroy(&self->alert);
    zsock_destroy(&self->analytics);
    zsock_destroy(&self->router);
    zsock_destroy(&self->inbox);
    free(self->inbox_ep);
    if (self->master_key) {
        sodium_memzero(self->master_key, strlen(self->master_key));
        free(self->master_key);
    }
    free(self);
    *self_p = NULL;
}

void
ingest_drain_check(ingest_t *self)
{
    if (!self->draining || !self->drain_done || zhashx_size(self->calls) || self->writing)
        return;
    void (*done)(void *) = self->drain_done;
    self->drain_done = NULL;
    done(self->drain_arg);
}

static void
s_on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ingest_t *self = arg;
    if (!self->drain_done)
        return;
    tg_log_warn("drain grace over with calls=%zu still in flight", zhashx_size(self->calls));
    void (*done)(void *) = self->drain_done;
    self->drain_done = NULL;
    done(self->drain_arg);
}

void
ingest_drain(ingest_t *self, int64_t grace_ms, void (*done)(void *arg), void *arg)
{
    assert(self && done);
    if (self->draining)
        return;
    self->draining = true;
    self->drain_done = done;
    self->drain_arg = arg;
    ingest_http_stop_accepting(self);
    ingest_sse_close_all(self);
    s_on_stats(-1, 0, self);  //  tell the bus at once that this ingest is not ready
    self->drain_timer = evtimer_new(self->base, s_on_drain_timeout, self);
    struct timeval tv = {(time_t)(grace_ms / 1000), (suseconds_t)((grace_ms % 1000) * 1000)};
    event_add(self->drain_timer, &tv);
    ingest_drain_check(self);
}

const char *
ingest_http_address(const ingest_t *self)
{
    return self->http_addr;
}

size_t
ingest_in_flight(const ingest_t *self)
{
    return zhashx_size(self->calls);
}
