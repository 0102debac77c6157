//  router.c - REQUEST -> resolve -> JOB (or an error REPLY); QUERY for /v1/models and
//  /v1/router/metrics; the XSUB/XPUB bus proxy runs in a czmq zproxy actor.
#include "router.h"
#include "router_budget.h"
#include "router_cache.h"
#include "router_keys.h"
#include "router_limits.h"
#include "router_pool.h"
#include "router_resolve.h"
#include "router_targets.h"
#include "tg_complexity.h"
#include "tg_curve.h"
#include "tg_error.h"
#include "tg_evzmq.h"
#include "tg_frame.h"
#include "tg_log.h"
#include "tg_cache_form.h"
#include "tg_cache_key.h"
#include "tg_metrics.h"
#include "tg_outbox.h"
#include "tg_peers.h"
#include "tg_pricing.h"
#include "tg_reply.h"
#include "tg_stats.h"
#include "tg_trace.h"
#include "tg_util.h"

#include <czmq.h>
#include <jansson.h>
#include <string.h>

#define S_TICK_MS 100               //  worker expiry, queue timeouts, MARKs
#define S_MARK_HEARTBEAT_US 500000  //  a MARK at least this often to every ingest we know
#define S_INGEST_IDLE_US 600000000  //  an ingest silent this long is forgotten
#define S_QUEUE_MAX 100000          //  calls waiting for a free worker
#define S_JOBS_BATCH 1024           //  LOAD frames read per turn of the loop
#define S_EVICT_TICKS 10            //  the cache is checked for room every this many ticks

//  What the router knows of one ingest (keyed by its inbox endpoint).
typedef struct {
    uint64_t first;       //  first seq taken from it (0 = none yet)
    uint64_t highest;     //  highest seq taken from it
    uint64_t next;        //  mark computed at the last tick: sent at the next one
    uint64_t sent;        //  mark last sent
    int64_t sent_us;      //  monotonic µs of the last MARK sent
    int64_t seen_us;      //  monotonic µs of its last frame
    size_t queued;        //  its calls in the queue
    uint64_t min_queued;  //  lowest seq of those, found at the tick
} s_ingest_t;

//  A resolved call waiting for a worker with room.
typedef struct {
    tg_frame_t *job;     //  the JOB, owned
    s_ingest_t *ingest;  //  asking ingest (borrowed from router->ingests)
    uint64_t seq;        //  its REQUEST's seq
    int64_t since_us;    //  monotonic µs it was queued
} s_queued_t;

struct router {
    const tg_config_t *cfg;  //  borrowed
    tg_pricing_t *pricing;   //  catalogue for resolution and /v1/models
    zsock_t *inbox;          //  PULL: REQUEST, QUERY, CANCEL from ingests
    char *inbox_ep;          //  the inbox's address as others reach it (reply_to)
    zsock_t *jobs;           //  ROUTER: JOB, CANCEL to a worker; LOAD from workers
    zactor_t *proxy;         //  bus XSUB -> XPUB
    tg_peers_t *peers;       //  replies and MARKs to ingest inboxes
    tg_stats_t *stats;       //  heartbeat + metrics
    tg_metrics_t *metrics;   //  our counters
    router_pool_t *pool;     //  workers and the calls they hold
    router_cache_t *cache;   //  the response cache's writer
    router_targets_t *tgts;  //  targets of models: plans, breakers, provider view
    router_keys_t *keys;     //  the key store's writer, /v1/keys
    router_limits_t *lim;    //  rate limits and monthly quotas per key
    router_budget_t *spend;  //  USD budgets: reservations and spend
    tg_outbox_t *outbox;     //  usage events of the hits answered here
    unsigned ticks;          //  ticks so far
    zhashx_t *ingests;       //  inbox endpoint -> s_ingest_t (owned)
    zlistx_t *queue;         //  s_queued_t, oldest first (owned)
    int64_t queue_us;        //  router.queue_timeout_ms in µs
    tg_evzmq_t *reader;      //  inbox on the loop
    struct event *jobs_ev;   //  jobs socket on the loop
    struct event *tick;      //  S_TICK_MS timer
    int64_t stats_mono;      //  monotonic µs of the last STATS
    uint64_t cloud_calls;    //  dispatched to a worker (O2)
    uint64_t rejected;       //  refused before dispatch (bad model, no worker)
    uint64_t lost;           //  answered 502 because their worker was lost
};

static const double s_no_buckets[] = {0};

static void s_on_jobs(evutil_socket_t fd, short what, void *arg);

//  A target's breaker moved: BREAKER on the bus, topic "breaker.<state>".
static void
s_on_breaker(const char *provider,
             const char *model,
             const char *from,
             const char *to,
             uint64_t failures,
             int64_t retry_at_us,
             void *arg)
{
    router_t *self = arg;
    tg_frame_t *f = tg_frame_new(TG_FRAME_BREAKER);
    f->topic = tg_strdup(to);
    f->breaker.ts = tg_now_us();
    f->breaker.provider = tg_strdup(provider);
    f->breaker.model = tg_strdup(model);
    f->breaker.from = tg_strdup(from);
    f->breaker.to = tg_strdup(to);
    f->breaker.failures = failures;
    f->breaker.retry_at = retry_at_us;
    if (!self->stats || tg_frame_send(&f, tg_stats_socket(self->stats)) != TG_OK)
        tg_frame_destroy(&f);
}

static void
s_queued_destroy(void **item)
{
    s_queued_t *q = *item;
    if (q) {
        tg_frame_destroy(&q->job);
        free(q);
        *item = NULL;
    }
}

router_t *
router_new(const tg_config_t *cfg)
{
    router_t *self = tg_zalloc(sizeof *self);
    self->cfg = cfg;
    self->pricing = tg_pricing_load_config(cfg);
    if (!self->pricing)
        goto fail;
    self->inbox = tg_socket_open(ZMQ_PULL, tg_config_str(cfg, "endpoints.router"), true, 100000);
    self->jobs = zsock_new(ZMQ_ROUTER);
    if (!self->inbox || !self->jobs)
        goto fail;
    self->inbox_ep = tg_socket_advertised(self->inbox, cfg);
    if (!self->inbox_ep)
        goto fail;
    //  A send to a worker that is gone fails (EHOSTUNREACH) instead of vanishing.
    zsock_set_router_mandatory(self->jobs, 1);
    zsock_set_sndhwm(self->jobs, 100000);
    zsock_set_rcvhwm(self->jobs, 100000);
    zsock_set_linger(self->jobs, 1000);
    if (tg_curve_secure(self->jobs, tg_config_str(cfg, "endpoints.jobs"), true) != TG_OK
        || zsock_bind(self->jobs, "%s", tg_config_str(cfg, "endpoints.jobs")) < 0) {
        tg_log_error("cannot bind endpoint=%s err=%s", tg_config_str(cfg, "endpoints.jobs"),
                     zmq_strerror(zmq_errno()));
        goto fail;
    }
    self->proxy = zactor_new(zproxy, NULL);
    if (tg_curve_proxy(self->proxy, tg_config_str(cfg, "endpoints.bus_in"),
                       tg_config_str(cfg, "endpoints.bus_out"))
        != TG_OK)
        goto fail;
    zstr_sendx(self->proxy, "FRONTEND", "XSUB", tg_config_str(cfg, "endpoints.bus_in"), NULL);
    zsock_wait(self->proxy);
    zstr_sendx(self->proxy, "BACKEND", "XPUB", tg_config_str(cfg, "endpoints.bus_out"), NULL);
    zsock_wait(self->proxy);
    self->peers = tg_peers_new();
    self->stats = tg_stats_new(cfg, "router");
    if (!self->stats)
        goto fail;
    self->pool = router_pool_new(tg_config_int(cfg, "router.worker_timeout_ms") * 1000);
    self->ingests = zhashx_new();
    zhashx_set_destructor(self->ingests, tg_free_item);
    self->queue = zlistx_new();
    zlistx_set_destructor(self->queue, s_queued_destroy);
    self->queue_us = tg_config_int(cfg, "router.queue_timeout_ms") * 1000;
    self->metrics = tg_metrics_new();
    tg_metrics_declare(self->metrics, "tollgate_router_requests_total", TG_METRIC_COUNTER,
                       "Requests seen by the router, by route and outcome.", s_no_buckets, 0);
    tg_metrics_declare(self->metrics, "tollgate_router_calls_total", TG_METRIC_COUNTER,
                       "Calls answered, by source (cache or cloud).", s_no_buckets, 0);
    tg_metrics_declare(self->metrics, "tollgate_router_workers", TG_METRIC_GAUGE,
                       "Provider workers the router dispatches to.", s_no_buckets, 0);
    tg_metrics_declare(self->metrics, "tollgate_router_calls_at_workers", TG_METRIC_GAUGE,
                       "Calls dispatched to a worker and not reported done yet.", s_no_buckets, 0);
    tg_metrics_declare(self->metrics, "tollgate_router_queued", TG_METRIC_GAUGE,
                       "Calls waiting for a worker with room.", s_no_buckets, 0);
    self->cache = router_cache_new(cfg, self->pricing, self->metrics);
    self->tgts = router_targets_new(cfg, self->pricing, self->metrics, s_on_breaker, self);
    self->outbox = tg_outbox_new(cfg, self->inbox_ep);
    self->keys = router_keys_new(cfg);
    if (!self->cache || !self->outbox || !self->keys)
        goto fail;
    self->lim = router_limits_new(router_keys_store(self->keys));
    self->spend = router_budget_new(router_keys_store(self->keys),
                                    (uint64_t)tg_config_int(cfg, "budgets.default_max_tokens"));
    return self;
fail:
    router_destroy(&self);
    return NULL;
}

void
router_destroy(router_t **self_p)
{
    assert(self_p);
    router_t *self = *self_p;
    if (!self)
        return;
    tg_evzmq_destroy(&self->reader);
    if (self->jobs_ev)
        event_free(self->jobs_ev);
    if (self->tick)
        event_free(self->tick);
    zactor_destroy(&self->proxy);
    tg_outbox_destroy(&self->outbox);
    router_cache_destroy(&self->cache);
    router_targets_destroy(&self->tgts);
    router_budget_destroy(&self->spend);  //  both write to the key store: before it closes
    router_limits_destroy(&self->lim);
    router_keys_destroy(&self->keys);
    zlistx_destroy(&self->queue);
    zhashx_destroy(&self->ingests);
    router_pool_destroy(&self->pool);
    tg_metrics_destroy(&self->metrics);
    tg_stats_destroy(&self->stats);
    tg_peers_destroy(&self->peers);
    zsock_destroy(&self->jobs);
    zsock_destroy(&self->inbox);
    free(self->inbox_ep);
    tg_pricing_destroy(&self->pricing);
    free(self);
    *self_p = NULL;
}

static void
s_reply(router_t *self, const char *id, const char *reply_to, int status, char **body_p)
{
    tg_frame_t *r = tg_reply_new(id, status, body_p);
    tg_peers_send(self->peers, reply_to, &r);
}

static void
s_reply_error(router_t *self,
              const char *id,
              const char *reply_to,
              int status,
              const char *msg,
              const char *param,
              const char *code)
{
    char *body = tg_error_body(status, msg, NULL, param, code);
    tg_frame_t *r = tg_reply_new(id, status, &body);
    if (status == 503)
        r->reply.retry_after = 1;
    tg_peers_send(self->peers, reply_to, &r);
}

static void
s_count(router_t *self, const char *route, const char *outcome)
{
    char labels[128];
    tg_metrics_labels_buf(labels, sizeof labels, "route", route, "outcome", outcome, NULL);
    tg_metrics_add(self->metrics, "tollgate_router_requests_total", labels, 1);
}

//  The ingest a frame came from, by its inbox; its seq is noted as taken.
static s_ingest_t *
s_ingest_seen(router_t *self, const char *reply_to, uint64_t seq)
{
    s_ingest_t *ing = zhashx_lookup(self->ingests, reply_to);
    if (!ing) {
        ing = tg_zalloc(sizeof *ing);
        zhashx_insert(self->ingests, reply_to, ing);
    }
    ing->seen_us = tg_mono_us();
    if (seq) {
        if (!ing->first)
            ing->first = seq;
        if (seq > ing->highest)
            ing->highest = seq;
    }
    return ing;
}

//  The route's name as a static string (the pool keeps it past the frame).
static const char *
s_route_name(const char *route)
{
    return strcmp(route, "chat") == 0       ? "chat"
           : strcmp(route, "messages") == 0 ? "messages"
                                            : "embeddings";
}

//  Sends the JOB to the least busy worker. TG_OK (the frame is gone), or TG_AGAIN when no
//  worker has room (the frame stays with the caller).
static int
s_dispatch(router_t *self, tg_frame_t **job_p)
{
    tg_frame_t *job = *job_p;
    for (;;) {
        const char *rid = router_pool_pick(self->pool);
        if (!rid)
            return TG_AGAIN;
        int rc = tg_frame_write_to(job, self->jobs, rid, strlen(rid));
        if (rc == TG_OK) {
            router_pool_assign(self->pool, rid, job->job.id, job->job.reply_to,
                               s_route_name(job->job.route));
            //  A send may take in the socket's pending input, and ZMQ_FD signals only edges:
            //  look at the jobs socket once this turn is over.
            if (self->jobs_ev)
                event_active(self->jobs_ev, EV_READ, 0);
            self->cloud_calls++;
            s_count(self, job->job.route, "dispatched");
            tg_metrics_add(self->metrics, "tollgate_router_calls_total", "source=\"cloud\"", 1);
            tg_frame_destroy(job_p);
            return TG_OK;
        }
        //  Full: skipped until it reports again. Gone (no such peer) or broken: lost, its
        //  calls answered at the next tick.
        if (rc == TG_AGAIN)
            router_pool_full(self->pool, rid);
        else
            router_pool_unreachable(self->pool, rid);
    }
}

//  Sends the JOB, marked as joining call `leader`, to the worker holding the leader. TG_OK
//  (the frame is gone); TG_AGAIN when the leader is no longer held anywhere (the JOB then
//  leads its key) or that worker cannot take it.
static int
s_join(router_t *self, tg_frame_t **job_p, const char *leader)
{
    tg_fr_job_t *j = &(*job_p)->job;
    const char *rid = router_pool_holder(self->pool, leader);
    if (!rid) {
        router_cache_lead(self->cache, j->ckey, j->id);
        return TG_AGAIN;
    }
    j->join = tg_strdup(leader);
    if (tg_frame_write_to(*job_p, self->jobs, rid, strlen(rid)) != TG_OK) {
        tg_freep(&j->join);
        return TG_AGAIN;
    }
    router_pool_assign(self->pool, rid, j->id, j->reply_to, s_route_name(j->route));
    if (self->jobs_ev)
        event_active(self->jobs_ev, EV_READ, 0);
    s_count(self, j->route, "coalesced");
    router_targets_release(self->tgts, j->provider, j->model);  //  it makes no upstream call
    tg_frame_destroy(job_p);
    return TG_OK;
}

static void
s_enqueue(router_t *self, tg_frame_t **job_p, s_ingest_t *ing, uint64_t seq)
{
    tg_frame_t *job = *job_p;
    if (zlistx_size(self->queue) >= S_QUEUE_MAX) {
        self->rejected++;
        s_count(self, job->job.route, "no_worker");
        s_reply_error(self, job->job.id, job->job.reply_to, 503,
                      "every provider worker is busy; try again shortly", NULL, "no_worker");
        router_targets_release(self->tgts, job->job.provider, job->job.model);
        tg_frame_destroy(job_p);
        return;
    }
    s_queued_t *q = tg_zalloc(sizeof *q);
    q->job = job;
    *job_p = NULL;
    q->ingest = ing;
    q->seq = seq;
    q->since_us = tg_mono_us();
    ing->queued++;
    zlistx_add_end(self->queue, q);
}

//  Sends queued calls while some worker has room.
static void
s_drain_queue(router_t *self)
{
    s_queued_t *q;
    while ((q = zlistx_first(self->queue)) != NULL) {
        if (s_dispatch(self, &q->job) != TG_OK)
            return;
        q->ingest->queued--;
        zlistx_delete(self->queue, zlistx_cursor(self->queue));
    }
}

//  Answers a REQUEST from a cache entry in the form it asks for: a REPLY, or HEAD, one
//  CHUNK and END. False when the entry cannot be given in that form (then it is a miss).
static bool
s_answer_hit(router_t *self, const tg_fr_request_t *rq, const tg_cache_entry_t *e, const char *rl)
{
    char *body = NULL;
    size_t len = 0;
    if (tg_cache_form_answer(e, rq->stream, rq->usage, &body, &len) != TG_OK) {
        tg_log_warn("cache entry not servable key=%s: answered as a miss", rq->ckey);
        return false;
    }
    if (!rq->stream) {
        tg_frame_t *r = tg_reply_new(rq->id, 200, &body);
        r->reply.cache = tg_strdup("hit");
        r->reply.provider = tg_strdup(e->provider);
        r->reply.model = tg_strdup(e->model);
        r->reply.rl = tg_strdup(rl);
        r->body_len = len;
        tg_peers_send(self->peers, rq->reply_to, &r);
    } else {
        tg_frame_t *h = tg_frame_new(TG_FRAME_HEAD);
        h->head.id = tg_strdup(rq->id);
        h->head.status = 200;
        h->head.cache = tg_strdup("hit");
        h->head.provider = tg_strdup(e->provider);
        h->head.model = tg_strdup(e->model);
        h->head.rl = tg_strdup(rl);
        tg_peers_send(self->peers, rq->reply_to, &h);
        tg_frame_t *c = tg_frame_new(TG_FRAME_CHUNK);
        c->chunk.id = tg_strdup(rq->id);
        tg_frame_give_body(c, &body, len);
        tg_peers_send(self->peers, rq->reply_to, &c);
        tg_frame_t *end = tg_frame_new(TG_FRAME_END);
        end->end.id = tg_strdup(rq->id);
        tg_peers_send(self->peers, rq->reply_to, &end);
    }
    s_count(self, rq->route, "cache_hit");
    tg_metrics_add(self->metrics, "tollgate_router_calls_total", "source=\"cache\"", 1);
    tg_frame_t *u =
        tg_cache_hit_usage(e, rq->id, rq->route, rq->key, rq->agent, rq->stream, rq->t0);
    tg_trace_stamp_usage(&u->usage, rq->org, rq->user, rq->env, rq->trace, rq->parent);
    tg_outbox_send(self->outbox, &u, tg_mono_us());
    return true;
}

//  The key's budgets (spec K2), then its rate limits (K3, K4): true when the call may go
//  on (its worst cost reserved, its request and prompt tokens counted; *rl_p is the state
//  for the x-ratelimit headers, owned, or NULL); false after answering 429 (nothing held).
static bool
s_gate(router_t *self, const tg_fr_request_t *rq, const char *model, int64_t now, char **rl_p)
{
    char *over = NULL;
    uint64_t retry_s = 0;
    const tg_price_t *price = tg_pricing_find(self->pricing, model);
    bool budget_ok =
        router_budget_admit(self->spend, rq, price ? price : tg_pricing_default(self->pricing), now,
                            &over, &retry_s)
        == TG_OK;
    if (budget_ok && router_limits_admit(self->lim, rq, now, rl_p, &over, &retry_s) != TG_OK)
        router_budget_release(self->spend, rq->id, now);  //  refused: nothing held
    if (!over)
        return true;
    self->rejected++;
    s_count(self, rq->route, budget_ok ? "rate_limited" : "over_budget");
    //  OpenAI names the kind of limit in `type`: "requests" or "tokens".
    const char *kind = strstr(over, " tokens per ") ? "tokens" : "requests";
    char *body = budget_ok
                     ? tg_error_body(429, over, kind, NULL, "rate_limit_exceeded")
                     : tg_error_body(429, over, "insufficient_quota", NULL, "budget_exceeded");
    tg_frame_t *r = tg_reply_new(rq->id, 429, &body);
    r->reply.retry_after = retry_s;
    r->reply.rl = *rl_p;
    *rl_p = NULL;
    tg_peers_send(self->peers, rq->reply_to, &r);
    free(over);
    return false;
}

static void
s_on_request(router_t *self, tg_frame_t **frame_p)
{
    tg_fr_request_t *rq = &(*frame_p)->request;
    s_ingest_t *ing = s_ingest_seen(self, rq->reply_to, rq->seq);
    router_route_t route;
    char *alts = NULL;
    uint64_t retry_after = 0;
    int prc = router_targets_plan(self->tgts, rq->model, rq->agent, rq->route, rq->cls,
                                  tg_mono_us(), &route, &alts, &retry_after);
    if (prc != TG_OK) {
        self->rejected++;
        s_count(self, rq->route, prc == TG_AGAIN ? "breaker_open" : "rejected");
        char *body = tg_error_body(route.status, route.error, NULL, route.param,
                                   route.status == 404   ? "model_not_found"
                                   : route.status == 503 ? "breaker_open"
                                                         : NULL);
        tg_frame_t *r = tg_reply_new(rq->id, route.status, &body);
        r->reply.retry_after = retry_after;
        tg_peers_send(self->peers, rq->reply_to, &r);
        router_route_fini(&route);
        return;
    }
    char *rl = NULL;
    int64_t now = tg_now_us();
    if (!s_gate(self, rq, route.model, now, &rl)) {
        router_targets_release(self->tgts, route.provider, route.model);
        router_route_fini(&route);
        free(alts);
        return;
    }
    const char *leader = NULL;
    if (rq->ckey) {
        tg_cache_entry_t e;
        tg_frame_t *fr = *frame_p;
        int rc =
            router_cache_check(self->cache, rq, fr->body, fr->body_len, rq->cfresh, &e, &leader);
        bool answered = rc == TG_OK && s_answer_hit(self, rq, &e, rl);
        if (rc == TG_OK)
            tg_cache_entry_fini(&e);
        if (answered) {
            router_targets_release(self->tgts, route.provider, route.model);
            router_route_fini(&route);
            free(alts);
            router_budget_release(self->spend, rq->id, now);
            router_limits_settle(self->lim, rq->id, strlen(rq->id), now);  //  no tokens to come
            free(rl);
            return;
        }
    }
    tg_frame_t *job = tg_frame_new(TG_FRAME_JOB);
    tg_fr_job_t *j = &job->job;
    j->id = rq->id;  //  strings move from the request to the job
    j->reply_to = rq->reply_to;
    j->route = rq->route;
    j->asked = rq->model;
    j->agent = rq->agent;
    j->key = rq->key;
    rq->id = rq->reply_to = rq->route = rq->model = rq->agent = rq->key = NULL;
    j->provider = route.provider;
    j->model = route.model;
    route.provider = route.model = NULL;
    j->stream = rq->stream;
    j->usage = rq->usage;
    j->ckey = rq->ckey;  //  moved: the worker sends the answer back for the cache
    rq->ckey = NULL;
    j->cttl = rq->cttl;
    j->t0 = rq->t0;
    j->deadline_ms = rq->deadline_ms;
    j->rl = rl;  //  moved: the worker echoes it in REPLY/HEAD for the x-ratelimit headers
    //  The class scored by ingest (route.cls differs only when that class had no candidate).
    j->cls = route.cls ? tg_strdup(tg_complexity_parse(rq->cls) >= 0 ? rq->cls : route.cls) : NULL;
    j->alts = alts;  //  the fallback chain: the worker tries these in turn (owned by the job)
    j->org = tg_strdup(rq->org);  //  the call's context, for its usage event (A2, A4)
    j->user = rq->user;
    j->env = rq->env;
    j->trace = rq->trace;
    j->parent = rq->parent;
    rq->user = rq->env = rq->trace = rq->parent = NULL;
    job->body = (*frame_p)->body;
    job->body_len = (*frame_p)->body_len;
    (*frame_p)->body = NULL;
    router_route_fini(&route);
    //  An identical call in flight at a worker: this one joins it there (spec C3).
    if (leader && s_join(self, &job, leader) == TG_OK)
        return;
    //  Calls already waiting go first: a new one queues behind them.
    if (zlistx_size(self->queue) > 0 || s_dispatch(self, &job) != TG_OK)
        s_enqueue(self, &job, ing, rq->seq);
}

//  The client of `id` went away: the worker holding it aborts the upstream call; a call
//  still queued here is dropped.
static void
s_on_cancel(router_t *self, tg_frame_t **frame_p)
{
    const char *id = (*frame_p)->cancel.id;
    const char *rid = router_pool_holder(self->pool, id);
    if (rid) {
        if (tg_frame_write_to(*frame_p, self->jobs, rid, strlen(rid)) != TG_OK)
            tg_log_debug("cancel not delivered id=%s worker=%s", id, rid);
        event_active(self->jobs_ev, EV_READ, 0);
        return;
    }
    for (s_queued_t *q = zlistx_first(self->queue); q; q = zlistx_next(self->queue))
        if (strcmp(q->job->job.id, id) == 0) {
            q->ingest->queued--;
            router_targets_release(self->tgts, q->job->job.provider, q->job->job.model);
            router_budget_release(self->spend, id, tg_now_us());  //  never went out
            s_count(self, q->job->job.route, "cancelled");
            zlistx_delete(self->queue, zlistx_cursor(self->queue));
            return;
        }
}

static char *
s_models_json(router_t *self)
{
    json_t *data = json_array();
    json_t *seen = json_object();
    //  Catalogue models of every enabled provider (OpenRouter serves the other vendors).
    const tg_provider_t *openrouter = tg_config_provider_find(self->cfg, "openrouter");
    for (size_t i = 0; i < tg_pricing_count(self->pricing); i++) {
        const tg_price_t *p = tg_pricing_at(self->pricing, i);
        const tg_provider_t *prov = tg_config_provider_find(self->cfg, p->provider);
        bool served = prov ? prov->enabled : (openrouter && openrouter->enabled);
        if (!served || json_object_get(seen, p->name))
            continue;
        json_object_set_new(seen, p->name, json_true());
        json_array_append_new(data, json_pack("{ss ss si ss}", "id", p->name, "object", "model",
                                              "created", 1700000000, "owned_by", p->provider));
    }
    for (size_t i = 0; i < tg_config_provider_count(self->cfg); i++) {
        const tg_provider_t *prov = tg_config_provider(self->cfg, i);
        for (size_t m = 0; prov->enabled && m < prov->nmodels; m++) {
            if (json_object_get(seen, prov->models[m]))
                continue;
            json_object_set_new(seen, prov->models[m], json_true());
            json_array_append_new(data, json_pack("{ss ss si ss}", "id", prov->models[m], "object",
                                                  "model", "created", 1700000000, "owned_by",
                                                  prov->name));
        }
    }
    for (size_t i = 0; i < tg_config_route_count(self->cfg); i++) {
        const char *name = tg_config_route(self->cfg, i)->name;
        if (json_object_get(seen, name))
            continue;
        json_object_set_new(seen, name, json_true());
        json_array_append_new(data, json_pack("{ss ss si ss}", "id", name, "object", "model",
                                              "created", 1700000000, "owned_by", "tollgate"));
    }
    for (size_t i = 0; i < tg_config_alias_count(self->cfg); i++) {
        const char *name = tg_config_alias_name(self->cfg, i);
        if (json_object_get(seen, name))
            continue;
        json_object_set_new(seen, name, json_true());
        json_array_append_new(data, json_pack("{ss ss si ss}", "id", name, "object", "model",
                                              "created", 1700000000, "owned_by", "tollgate"));
    }
    json_t *root = json_pack("{ss so}", "object", "list", "data", data);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    json_decref(seen);
    return text;
}

//  GET /v1/models/{id}: the model object if /v1/models lists it, else 404 like OpenAI.
static void
s_model_one(router_t *self, tg_fr_query_t *q)
{
    const char *id = q->path + 11;
    char *list = s_models_json(self);
    json_t *root = json_loads(list, 0, NULL);
    free(list);
    json_t *found = NULL, *item;
    size_t i;
    json_array_foreach(json_object_get(root, "data"), i, item)
    {
        const char *mid = json_string_value(json_object_get(item, "id"));
        if (mid && strcmp(mid, id) == 0) {
            found = item;
            break;
        }
    }
    if (found) {
        char *body = json_dumps(found, JSON_COMPACT);
        s_reply(self, q->id, q->reply_to, 200, &body);
    } else {
        char *msg = tg_strfmt("The model `%s` does not exist or you do not have access to it.", id);
        s_reply_error(self, q->id, q->reply_to, 404, msg, "model", "model_not_found");
        free(msg);
    }
    json_decref(root);
}

static void
s_on_query(router_t *self, tg_frame_t **frame_p)
{
    tg_fr_query_t *q = &(*frame_p)->query;
    s_ingest_seen(self, q->reply_to, q->seq);
    char *body = NULL;
    int status = 0;
    if (router_keys_query(self->keys, q, (*frame_p)->body, (*frame_p)->body_len, tg_now_us(),
                          &status, &body)
        || router_budget_query(self->spend, q, (*frame_p)->body, (*frame_p)->body_len, tg_now_us(),
                               &status, &body))
        s_reply(self, q->id, q->reply_to, status, &body);
    else if (strcmp(q->method, "GET") != 0 && strncmp(q->path, "/v1/cache/", 10) != 0)
        s_reply_error(self, q->id, q->reply_to, 405, "method not allowed", NULL, NULL);
    else if (strcmp(q->path, "/v1/providers") == 0) {
        body = router_targets_json(self->tgts, tg_mono_us());
        s_reply(self, q->id, q->reply_to, 200, &body);
    } else if (strcmp(q->path, "/v1/models") == 0) {
        body = s_models_json(self);
        s_reply(self, q->id, q->reply_to, 200, &body);
    } else if (strncmp(q->path, "/v1/models/", 11) == 0 && q->path[11]) {
        s_model_one(self, q);
    } else if (router_cache_query(self->cache, q, (*frame_p)->body, (*frame_p)->body_len, &status,
                                  &body)) {
        s_reply(self, q->id, q->reply_to, status, &body);
    } else if (strcmp(q->path, "/v1/router/metrics") == 0) {
        char *workers = router_pool_json(self->pool);
        body =
            tg_strfmt("{\"object\":\"router.metrics\",\"total_calls\":%llu,"
                      "\"cache_hits\":%llu,\"cloud_calls\":%llu,\"rejected\":%llu,"
                      "\"worker_lost\":%llu,\"queued\":%zu,\"at_workers\":%zu,"
                      "\"workers\":%s}",
                      (unsigned long long)(self->cloud_calls + router_cache_hit_count(self->cache)),
                      (unsigned long long)router_cache_hit_count(self->cache),
                      (unsigned long long)self->cloud_calls, (unsigned long long)self->rejected,
                      (unsigned long long)self->lost, zlistx_size(self->queue),
                      router_pool_calls(self->pool), workers);
        free(workers);
        s_reply(self, q->id, q->reply_to, 200, &body);
    } else
        s_reply_error(self, q->id, q->reply_to, 404, "unknown route", NULL, "unknown_url");
}

static void
s_on_frame(tg_frame_t **frame_p, void *arg)
{
    router_t *self = arg;
    switch ((*frame_p)->type) {
    case TG_FRAME_REQUEST:
        s_on_request(self, frame_p);
        break;
    case TG_FRAME_QUERY:
        s_on_query(self, frame_p);
        break;
    case TG_FRAME_CANCEL:
        s_on_cancel(self, frame_p);
        break;
    case TG_FRAME_HITS:
        router_cache_hits(self->cache, *frame_p);
        break;
    case TG_FRAME_ACK:
        tg_outbox_ack_frame(self->outbox, *frame_p);
        break;
    case TG_FRAME_REPLY:  //  the answer to a health check (s_probe): its outcome came on LOAD
        break;
    default:
        tg_log_warn("router ignores frame type=%s", tg_frame_name((*frame_p)->type));
    }
}

//  LOAD frames from workers, drained in one go (ZMQ_FD is edge-triggered).
static void
s_on_jobs(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    router_t *self = arg;
    bool room = false;
    int n = 0;
    for (; n < S_JOBS_BATCH; n++) {
        tg_frame_t *f = NULL;
        char rid[ROUTER_POOL_RID_MAX];
        size_t rid_len = 0;
        int rc = tg_frame_recv_from(self->jobs, &f, rid, sizeof rid, &rid_len);
        if (rc == TG_AGAIN || rc == TG_ERR)
            break;
        if (rc != TG_OK)
            continue;
        if (f->type == TG_FRAME_LOAD && strlen(rid) == rid_len) {
            router_limits_settle(self->lim, f->body, f->body_len, tg_now_us());
            router_budget_settle(self->spend, f->body, f->body_len, tg_now_us());
            router_pool_load(self->pool, rid, &f->load, f->body, f->body_len, tg_mono_us());
            if (f->load.outs)
                router_targets_outcomes(self->tgts, f->load.outs, tg_mono_us());
            room = true;
        } else if (f->type == TG_FRAME_FILL)
            router_cache_fill(self->cache, f);
        else
            tg_log_warn("router ignores frame on jobs type=%s", tg_frame_name(f->type));
        tg_frame_destroy(&f);
    }
    if (n == S_JOBS_BATCH)
        event_active(self->jobs_ev, EV_READ, 0);  //  more waiting: after other events
    if (room)
        s_drain_queue(self);
}

static void
s_on_lost_call(const char *id, const char *reply_to, const char *route, void *arg)
{
    router_t *self = arg;
    self->lost++;
    s_count(self, route, "worker_lost");
    s_reply_error(self, id, reply_to, 502,
                  "The provider worker handling this request stopped before answering; it is "
                  "safe to retry.",
                  NULL, "worker_lost");
}

//  Queued calls past router.queue_timeout_ms are answered 503.
static void
s_expire_queue(router_t *self, int64_t now)
{
    s_queued_t *q;
    while ((q = zlistx_first(self->queue)) != NULL && now - q->since_us > self->queue_us) {
        self->rejected++;
        s_count(self, q->job->job.route, "no_worker");
        s_reply_error(self, q->job->job.id, q->job->job.reply_to, 503,
                      router_pool_workers(self->pool) ? "every provider worker is busy; try again "
                                                        "shortly"
                                                      : "no provider worker is available; try "
                                                        "again shortly",
                      NULL, "no_worker");
        router_budget_release(self->spend, q->job->job.id, tg_now_us());  //  never went out
        q->ingest->queued--;
        router_targets_release(self->tgts, q->job->job.provider, q->job->job.model);
        zlistx_delete(self->queue, zlistx_cursor(self->queue));
    }
}

//  MARKs: tells each ingest which of its calls are out of the router's hands (dispatched or
//  answered). The mark sent now was computed at the previous tick, so the JOBs it covers left
//  this process at least one tick ago; a router killed now loses none of them.
static void
s_marks(router_t *self, int64_t now)
{
    for (s_ingest_t *ing = zhashx_first(self->ingests); ing; ing = zhashx_next(self->ingests))
        ing->min_queued = 0;
    for (s_queued_t *q = zlistx_first(self->queue); q; q = zlistx_next(self->queue))
        if (q->seq && (!q->ingest->min_queued || q->seq < q->ingest->min_queued))
            q->ingest->min_queued = q->seq;
    zlist_t *idle = NULL;
    for (s_ingest_t *ing = zhashx_first(self->ingests); ing; ing = zhashx_next(self->ingests)) {
        const char *to = zhashx_cursor(self->ingests);
        if (now - ing->seen_us > S_INGEST_IDLE_US && !ing->queued) {
            if (!idle)
                idle = zlist_new();
            zlist_append(idle, (void *)to);
            continue;
        }
        if (ing->next != ing->sent || now - ing->sent_us >= S_MARK_HEARTBEAT_US) {
            tg_frame_t *m = tg_frame_new(TG_FRAME_MARK);
            m->mark.router = tg_strdup(tg_stats_instance(self->stats));
            m->mark.first = ing->first;
            m->mark.seq = ing->next;
            tg_peers_send(self->peers, to, &m);
            ing->sent = ing->next;
            ing->sent_us = now;
        }
        uint64_t mark = ing->highest;
        if (ing->min_queued && ing->min_queued - 1 < mark)
            mark = ing->min_queued - 1;
        ing->next = mark;
    }
    for (const char *to = idle ? zlist_first(idle) : NULL; to; to = zlist_next(idle))
        zhashx_delete(self->ingests, to);
    zlist_destroy(&idle);
}

//  An active health check of a target (provider health_check_ms): a one-token chat call that
//  a worker makes like any other; its outcome comes back on a LOAD and feeds the breaker, its
//  answer comes to our inbox and is dropped, and it has no usage event (JOB.probe).
static bool
s_probe(const char *provider, const char *model, void *arg)
{
    router_t *self = arg;
    const char *rid = router_pool_pick(self->pool);
    if (!rid)
        return false;
    tg_frame_t *job = tg_frame_new(TG_FRAME_JOB);
    tg_fr_job_t *j = &job->job;
    j->id = tg_strfmt("hc-%s-%s-%lld", provider, tg_stats_instance(self->stats),
                      (long long)tg_mono_us());
    j->reply_to = tg_strdup(self->inbox_ep);
    j->route = tg_strdup("chat");
    j->provider = tg_strdup(provider);
    j->model = tg_strdup(model);
    j->t0 = tg_now_us();
    j->probe = true;
    char *body = tg_strdup("{\"model\":\"probe\",\"max_tokens\":1,"
                           "\"messages\":[{\"role\":\"user\",\"content\":\"ping\"}]}");
    size_t len = strlen(body);
    tg_frame_give_body(job, &body, len);
    bool sent = tg_frame_write_to(job, self->jobs, rid, strlen(rid)) == TG_OK;
    if (sent) {
        router_pool_assign(self->pool, rid, j->id, j->reply_to, "chat");
        if (self->jobs_ev)
            event_active(self->jobs_ev, EV_READ, 0);
    }
    tg_frame_destroy(&job);
    return sent;
}

static void
s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    router_t *self = arg;
    int64_t now = tg_mono_us();
    if (router_pool_expire(self->pool, now, s_on_lost_call, self) > 0)
        s_drain_queue(self);
    s_expire_queue(self, now);
    s_marks(self, now);
    router_targets_tick(self->tgts, now, s_probe, self);
    tg_outbox_tick(self->outbox, now);
    if (++self->ticks % S_EVICT_TICKS == 0) {
        router_cache_tick(self->cache, now);
        router_limits_tick(self->lim, tg_now_us());
        router_budget_tick(self->spend, tg_now_us());
    }
    if (now - self->stats_mono >= tg_config_int(self->cfg, "stats.interval_ms") * 1000) {
        self->stats_mono = now;
        tg_metrics_set(self->metrics, "tollgate_router_workers", NULL,
                       (double)router_pool_workers(self->pool));
        tg_metrics_set(self->metrics, "tollgate_router_calls_at_workers", NULL,
                       (double)router_pool_calls(self->pool));
        tg_metrics_set(self->metrics, "tollgate_router_queued", NULL,
                       (double)zlistx_size(self->queue));
        router_cache_gauges(self->cache);
        tg_stats_publish(self->stats, self->metrics, true);
    }
}

void
router_attach(router_t *self, struct event_base *base)
{
    self->reader = tg_evzmq_new(base, self->inbox, s_on_frame, self);
    self->jobs_ev = event_new(base, zsock_fd(self->jobs), EV_READ | EV_PERSIST, s_on_jobs, self);
    event_add(self->jobs_ev, NULL);
    event_active(self->jobs_ev, EV_READ, 0);
    tg_outbox_attach(self->outbox, base, self->metrics);
    self->tick = tg_evzmq_timer(base, S_TICK_MS, s_on_tick, self);
    s_on_tick(-1, 0, self);
}
