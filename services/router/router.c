//  router.c - REQUEST -> resolve -> JOB (or an error REPLY); QUERY for /v1/models and
//  /v1/router/metrics; the XSUB/XPUB bus proxy runs in a czmq zproxy actor.
#include "router.h"
#include "router_resolve.h"
#include "tg_error.h"
#include "tg_evzmq.h"
#include "tg_frame.h"
#include "tg_log.h"
#include "tg_metrics.h"
#include "tg_peers.h"
#include "tg_pricing.h"
#include "tg_reply.h"
#include "tg_stats.h"
#include "tg_util.h"

#include <czmq.h>
#include <jansson.h>
#include <string.h>

struct router {
    const tg_config_t *cfg;  //  borrowed
    tg_pricing_t *pricing;   //  catalogue for resolution and /v1/models
    zsock_t *inbox;          //  PULL: REQUEST, QUERY
    zsock_t *jobs;           //  PUSH: JOB to workers
    zactor_t *proxy;         //  bus XSUB -> XPUB
    tg_peers_t *peers;       //  replies to ingest inboxes
    tg_stats_t *stats;       //  heartbeat + metrics
    tg_metrics_t *metrics;   //  our counters
    tg_evzmq_t *reader;      //  inbox on the loop
    struct event *tick;      //  stats timer
    uint64_t total_calls;    //  requests answered by cache or cloud (O2)
    uint64_t cache_hits;     //  answered from the cache (O2)
    uint64_t cloud_calls;    //  dispatched to a worker (O2)
    uint64_t rejected;       //  refused before dispatch (bad model, no worker)
};

static const double s_no_buckets[] = {0};

router_t *
router_new(const tg_config_t *cfg)
{
    router_t *self = tg_zalloc(sizeof *self);
    self->cfg = cfg;
    const char *pfile = tg_config_str(cfg, "pricing.file");
    self->pricing = tg_pricing_load(*pfile ? pfile : tg_pricing_default_path());
    if (!self->pricing)
        goto fail;
    self->inbox = tg_socket_open(ZMQ_PULL, tg_config_str(cfg, "endpoints.router"), true, 0);
    self->jobs = tg_socket_open(ZMQ_PUSH, tg_config_str(cfg, "endpoints.jobs"), true, 0);
    if (!self->inbox || !self->jobs)
        goto fail;
    zsock_set_rcvhwm(self->inbox, 100000);
    zsock_set_sndhwm(self->jobs, 100000);
    zsock_set_linger(self->jobs, 1000);
    self->proxy = zactor_new(zproxy, NULL);
    zstr_sendx(self->proxy, "FRONTEND", "XSUB", tg_config_str(cfg, "endpoints.bus_in"), NULL);
    zsock_wait(self->proxy);
    zstr_sendx(self->proxy, "BACKEND", "XPUB", tg_config_str(cfg, "endpoints.bus_out"), NULL);
    zsock_wait(self->proxy);
    self->peers = tg_peers_new();
    self->stats = tg_stats_new(cfg, "router");
    if (!self->stats)
        goto fail;
    self->metrics = tg_metrics_new();
    tg_metrics_declare(self->metrics, "tollgate_router_requests_total", TG_METRIC_COUNTER,
                       "Requests seen by the router, by route and outcome.", s_no_buckets, 0);
    tg_metrics_declare(self->metrics, "tollgate_router_calls_total", TG_METRIC_COUNTER,
                       "Calls answered, by source (cache or cloud).", s_no_buckets, 0);
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
    if (self->tick)
        event_free(self->tick);
    zactor_destroy(&self->proxy);
    tg_metrics_destroy(&self->metrics);
    tg_stats_destroy(&self->stats);
    tg_peers_destroy(&self->peers);
    zsock_destroy(&self->jobs);
    zsock_destroy(&self->inbox);
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
    s_reply(self, id, reply_to, status, &body);
}

static void
s_count(router_t *self, const char *route, const char *outcome)
{
    char labels[128];
    tg_metrics_labels_buf(labels, sizeof labels, "route", route, "outcome", outcome, NULL);
    tg_metrics_add(self->metrics, "tollgate_router_requests_total", labels, 1);
}

static void
s_on_request(router_t *self, tg_frame_t **frame_p)
{
    tg_fr_request_t *rq = &(*frame_p)->request;
    router_route_t route;
    if (router_resolve(self->cfg, self->pricing, rq->model, rq->agent, &route) != TG_OK) {
        self->rejected++;
        s_count(self, rq->route, "rejected");
        s_reply_error(self, rq->id, rq->reply_to, route.status, route.error, route.param,
                      route.status == 404 ? "model_not_found" : NULL);
        router_route_fini(&route);
        return;
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
    j->t0 = rq->t0;
    job->body = (*frame_p)->body;
    job->body_len = (*frame_p)->body_len;
    (*frame_p)->body = NULL;
    router_route_fini(&route);
    if (tg_frame_write(job, self->jobs) != TG_OK) {
        self->rejected++;
        s_count(self, j->route, "no_worker");
        s_reply_error(self, j->id, j->reply_to, 503,
                      "no provider worker is available; try again shortly", NULL, "no_worker");
    } else {
        self->cloud_calls++;
        self->total_calls++;
        s_count(self, j->route, "dispatched");
        tg_metrics_add(self->metrics, "tollgate_router_calls_total", "source=\"cloud\"", 1);
    }
    tg_frame_destroy(&job);
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
    char *body = NULL;
    if (strcmp(q->method, "GET") != 0)
        s_reply_error(self, q->id, q->reply_to, 405, "method not allowed", NULL, NULL);
    else if (strcmp(q->path, "/v1/models") == 0) {
        body = s_models_json(self);
        s_reply(self, q->id, q->reply_to, 200, &body);
    } else if (strncmp(q->path, "/v1/models/", 11) == 0 && q->path[11]) {
        s_model_one(self, q);
    } else if (strcmp(q->path, "/v1/router/metrics") == 0) {
        body =
            tg_strfmt("{\"object\":\"router.metrics\",\"total_calls\":%llu,"
                      "\"cache_hits\":%llu,\"cloud_calls\":%llu,\"rejected\":%llu}",
                      (unsigned long long)self->total_calls, (unsigned long long)self->cache_hits,
                      (unsigned long long)self->cloud_calls, (unsigned long long)self->rejected);
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
    default:
        tg_log_warn("router ignores frame type=%s", tg_frame_name((*frame_p)->type));
    }
}

static void
s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    router_t *self = arg;
    tg_stats_publish(self->stats, self->metrics, true);
}

void
router_attach(router_t *self, struct event_base *base)
{
    self->reader = tg_evzmq_new(base, self->inbox, s_on_frame, self);
    self->tick = event_new(base, -1, EV_PERSIST, s_on_tick, self);
    int64_t ms = tg_config_int(self->cfg, "stats.interval_ms");
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    event_add(self->tick, &tv);
    s_on_tick(-1, 0, self);
}
