//  analytics.c - usage events in batches (one LMDB txn each), ACK after commit, SPEND, queries.
#include "analytics.h"
#include "analytics_events.h"
#include "analytics_traces.h"
#include "analytics_query.h"
#include "analytics_mapi.h"
#include "analytics_store.h"
#include "tg_frame.h"
#include "tg_evzmq.h"
#include "tg_log.h"
#include "tg_metrics.h"
#include "tg_peers.h"
#include "tg_pricing.h"
#include "tg_reply.h"
#include "tg_stats.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <assert.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define S_BATCH_MAX 1000  //  events per commit at most
#define S_SPEND_MS 1000   //  SPEND heartbeat
#define S_PRUNE_MS 50     //  retention turn: one small txn of at most analytics.prune_batch

//  The GenAI metric label sets of the last (operation, provider, asked, model) seen: most
//  events repeat it, and building label text is most of what counting them costs.
typedef struct {
    char key[600];        //  "op\x1fprovider\x1fasked\x1fmodel", "" = empty
    char duration[1024];  //  labels of gen_ai_client_operation_duration_seconds
    char input[1024];     //  labels of gen_ai_client_token_usage, gen_ai_token_type="input"
    char output[1024];    //  the same, gen_ai_token_type="output"
    bool ok;              //  the label sets fit their buffers
} s_genai_memo_t;

struct analytics {
    const tg_config_t *cfg;                    //  borrowed configuration
    analytics_store_t *store;                  //  the LMDB book
    tg_pricing_t *pricing;                     //  price catalogue
    zsock_t *inbox;                            //  PULL bound at endpoints.analytics
    tg_evzmq_t *reader;                        //  reads inbox on the loop
    struct event *commit_ev;                   //  timer: commit the batch
    struct event *spend_ev;                    //  timer: SPEND heartbeat
    struct event *prune_ev;                    //  timer: one retention turn
    struct event *stats_ev;                    //  timer: STATS heartbeat
    tg_peers_t *peers;                         //  PUSH sockets to reply_to endpoints (ACK, REPLY)
    tg_stats_t *stats;                         //  heartbeat; its PUB also carries SPEND
    tg_metrics_t *metrics;                     //  this process's counters
    s_genai_memo_t genai;                      //  GenAI label sets of the last model seen
    tg_frame_t *batch[S_BATCH_MAX];            //  usage frames waiting for the next commit
    analytics_outcome_t outcome[S_BATCH_MAX];  //  per batch slot, filled by the store
    size_t nbatch;                             //  frames in batch
    int64_t retention_us;                      //  raw events are kept this long
    size_t prune_batch;                        //  records deleted per retention turn
    int64_t prune_idle_until;                  //  mono µs: nothing was due, next look then
    analytics_post_t *waiter[S_BATCH_MAX];     //  per batch slot: the events API post it
                                               //  came from (answered after the commit)
    size_t widx[S_BATCH_MAX];                  //  per batch slot: its index in that post
    bool post_pending;                         //  posted events wait: commit after the burst
    analytics_mapi_t *mapi;                    //  /api/v1/metrics*: roles, rate limits, cache
};

static const double s_commit_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                          0.05,   0.1,   0.25,   0.5,   1,    2.5};

//  OpenTelemetry GenAI semantic conventions: the buckets the conventions advise.
static const double s_genai_token_buckets[] = {
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};
static const double s_genai_duration_buckets[] = {0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                                  1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};

static void
s_declare_metrics(tg_metrics_t *m)
{
    tg_metrics_declare(m, "gen_ai_client_token_usage", TG_METRIC_HISTOGRAM,
                       "OpenTelemetry gen_ai.client.token.usage: tokens per upstream call, by "
                       "gen_ai_token_type (input, output).",
                       s_genai_token_buckets,
                       sizeof s_genai_token_buckets / sizeof s_genai_token_buckets[0]);
    tg_metrics_declare(m, "gen_ai_client_operation_duration_seconds", TG_METRIC_HISTOGRAM,
                       "OpenTelemetry gen_ai.client.operation.duration: seconds from request to "
                       "last byte of calls that reached a provider.",
                       s_genai_duration_buckets,
                       sizeof s_genai_duration_buckets / sizeof s_genai_duration_buckets[0]);
    tg_metrics_declare(m, "llm_tokens_total", TG_METRIC_COUNTER,
                       "Tokens accounted, by type (input includes cached; cached is the "
                       "cache-read part of input), provider and model.",
                       NULL, 0);
    tg_metrics_declare(m, "llm_cost_usd_total", TG_METRIC_COUNTER,
                       "Cost in USD of the calls accounted (spec llm_cost_usd), by provider and "
                       "model.",
                       NULL, 0);
    tg_metrics_declare(m, "tollgate_pricing_unknown_total", TG_METRIC_COUNTER,
                       "Events whose model the pricing catalogue does not know, priced at the "
                       "default price (pricing.json default, or pricing.models in the config).",
                       NULL, 0);
    tg_metrics_declare(m, "tollgate_usage_events_total", TG_METRIC_COUNTER,
                       "Usage events received by analytics, by outcome (stored, duplicate, or "
                       "invalid: dropped unread).",
                       NULL, 0);
    tg_metrics_declare(m, "tollgate_analytics_commit_seconds", TG_METRIC_HISTOGRAM,
                       "Time to store and commit one batch of usage events.", s_commit_buckets,
                       sizeof s_commit_buckets / sizeof s_commit_buckets[0]);
    tg_metrics_declare(m, "tollgate_analytics_map_size_bytes", TG_METRIC_GAUGE,
                       "Size of the analytics LMDB map.", NULL, 0);
    tg_metrics_declare(m, "tollgate_analytics_used_bytes", TG_METRIC_GAUGE,
                       "Bytes of the analytics LMDB map in use (freed pages are reused).", NULL, 0);
    tg_metrics_declare(m, "tollgate_analytics_pruned_total", TG_METRIC_COUNTER,
                       "Records deleted by retention (events past analytics.retention_days, "
                       "rollups past their horizons).",
                       NULL, 0);
}

analytics_t *
analytics_new(const tg_config_t *cfg)
{
    analytics_t *self = tg_zalloc(sizeof *self);
    self->cfg = cfg;
    const char *pfile = tg_config_str(cfg, "pricing.file");
    if (!pfile || !*pfile)
        pfile = tg_pricing_default_path();
    if (!pfile) {
        tg_log_error("no pricing file found: set pricing.file or TOLLGATE_PRICING_FILE");
        goto fail;
    }
    if (!(self->pricing = tg_pricing_load_config(cfg)))  //  pricing.file + pricing.models
        goto fail;                                       //  logged by tg_pricing
    char *dir = tg_strfmt("%s/analytics", tg_config_str(cfg, "data_dir"));
    size_t map = (size_t)tg_config_int(cfg, "analytics.map_size_mb") << 20;
    self->store = analytics_store_new(dir, map);
    free(dir);
    if (!self->store)
        goto fail;
    analytics_store_set_baseline(self->store, tg_config_str(cfg, "auto.baseline_model"));
    self->retention_us = tg_config_int(cfg, "analytics.retention_days") * TG_UTC_DAY_US;
    self->prune_batch = (size_t)tg_config_int(cfg, "analytics.prune_batch");
    self->inbox = tg_socket_open(ZMQ_PULL, tg_config_str(cfg, "endpoints.analytics"), true, 100000);
    if (!self->inbox)
        goto fail;
    if (!(self->stats = tg_stats_new(cfg, "analytics")))
        goto fail;
    self->peers = tg_peers_new();
    self->mapi = analytics_mapi_new();
    self->metrics = tg_metrics_new();
    s_declare_metrics(self->metrics);
    tg_metrics_set(self->metrics, "tollgate_analytics_map_size_bytes", NULL,
                   (double)analytics_store_map_size(self->store));
    tg_log_info("analytics store open pricing=%s models=%zu map_bytes=%zu", pfile,
                tg_pricing_count(self->pricing), analytics_store_map_size(self->store));
    return self;
fail:
    analytics_destroy(&self);
    return NULL;
}

//  The OpenTelemetry GenAI client metrics of one event that reached a provider (cache hits and
//  calls refused before one are not GenAI client operations).
static void
s_count_genai(tg_metrics_t *m, s_genai_memo_t *memo, const tg_fr_usage_t *u)
{
    if (!u->provider || !*u->provider
        || (u->cache && (strcmp(u->cache, "hit") == 0 || strcmp(u->cache, "coalesced") == 0)))
        return;
    const char *op = u->route && strcmp(u->route, "embeddings") == 0 ? "embeddings" : "chat";
    const char *model = u->model ? u->model : "";
    const char *asked = u->asked && *u->asked ? u->asked : model;
    char key[sizeof memo->key];
    int klen = snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%s", op, u->provider, asked, model);
    if (klen < 0 || (size_t)klen >= sizeof key || strcmp(key, memo->key) != 0) {
        memo->ok =
            tg_metrics_labels_buf(memo->duration, sizeof memo->duration, "gen_ai_operation_name",
                                  op, "gen_ai_system", u->provider, "gen_ai_request_model", asked,
                                  "gen_ai_response_model", model, NULL)
                >= 0
            && tg_metrics_labels_buf(memo->input, sizeof memo->input, "gen_ai_operation_name", op,
                                     "gen_ai_system", u->provider, "gen_ai_request_model", asked,
                                     "gen_ai_response_model", model, "gen_ai_token_type", "input",
                                     NULL)
                   >= 0
            && tg_metrics_labels_buf(memo->output, sizeof memo->output, "gen_ai_operation_name", op,
                                     "gen_ai_system", u->provider, "gen_ai_request_model", asked,
                                     "gen_ai_response_model", model, "gen_ai_token_type", "output",
                                     NULL)
                   >= 0;
        //  A key too long to keep is not remembered: the next event builds its labels again.
        snprintf(memo->key, sizeof memo->key, "%s", (size_t)klen < sizeof key ? key : "");
    }
    if (!memo->ok)
        return;
    tg_metrics_observe(m, "gen_ai_client_operation_duration_seconds", memo->duration,
                       (double)u->latency_us / 1e6);
    if (u->error && *u->error)
        return;  //  no usage to report
    tg_metrics_observe(m, "gen_ai_client_token_usage", memo->input, (double)u->tok_in);
    tg_metrics_observe(m, "gen_ai_client_token_usage", memo->output, (double)u->tok_out);
}

//  Counts one committed event in the metrics.
static void
s_count(analytics_t *self, const tg_fr_usage_t *u, const analytics_outcome_t *o)
{
    tg_metrics_t *m = self->metrics;
    if (o->duplicate) {
        tg_metrics_add(m, "tollgate_usage_events_total", "status=\"duplicate\"", 1);
        return;
    }
    tg_metrics_add(m, "tollgate_usage_events_total", "status=\"stored\"", 1);
    char labels[1024];
    static const char *const types[] = {"input", "output", "cached"};
    const uint64_t counts[] = {u->tok_in, u->tok_out, u->tok_cached};
    for (int i = 0; i < 3; i++)
        if (tg_metrics_labels_buf(labels, sizeof labels, "type", types[i], "provider", u->provider,
                                  "model", u->model, NULL)
            >= 0)
            tg_metrics_add(m, "llm_tokens_total", labels, (double)counts[i]);
    if (tg_metrics_labels_buf(labels, sizeof labels, "provider", u->provider, "model", u->model,
                              NULL)
        >= 0)
        tg_metrics_add(m, "llm_cost_usd_total", labels, (double)o->cost_micro / 1e6);
    if (o->unknown
        && tg_metrics_labels_buf(labels, sizeof labels, "model", u->model ? u->model : "", NULL)
               >= 0)
        tg_metrics_add(m, "tollgate_pricing_unknown_total", labels, 1);
    s_count_genai(m, &self->genai, u);
}

//  SPEND{today, this month} on the bus (UTC periods of now).
static void
s_publish_spend(analytics_t *self)
{
    int64_t now = tg_now_us();
    char day[TG_UTC_DAY_LEN], month[TG_UTC_MONTH_LEN];
    tg_utc_day(now, day);
    tg_utc_month(now, month);
    analytics_totals_t d, m;
    if (analytics_store_period(self->store, day, &d) != TG_OK
        || analytics_store_period(self->store, month, &m) != TG_OK)
        return;  //  logged by the store
    tg_frame_t *f = tg_frame_new(TG_FRAME_SPEND);
    f->spend.ts = now;
    f->spend.day = tg_strdup(day);
    f->spend.month = tg_strdup(month);
    f->spend.day_usd = (double)d.cost_micro / 1e6;
    f->spend.month_usd = (double)m.cost_micro / 1e6;
    tg_frame_send(&f, tg_stats_socket(self->stats));  //  PUB: never blocks
}

//  One ACK per sender for the whole batch: the event ids, one per line, in the body.
static void
s_ack_batch(analytics_t *self)
{
    bool *done = tg_zalloc(self->nbatch * sizeof(bool));
    for (size_t i = 0; i < self->nbatch; i++)
        done[i] = self->waiter[i] != NULL;  //  events API: the answer is its ACK
    for (size_t i = 0; i < self->nbatch; i++) {
        if (done[i])
            continue;
        const char *to = self->batch[i]->usage.reply_to;
        tg_buf_t ids;
        tg_buf_init(&ids, SIZE_MAX);
        uint64_t n = 0;
        for (size_t j = i; j < self->nbatch; j++)
            if (!done[j] && strcmp(self->batch[j]->usage.reply_to, to) == 0) {
                tg_buf_printf(&ids, "%s%s", n ? "\n" : "", self->batch[j]->usage.eid);
                done[j] = true;
                n++;
            }
        tg_frame_t *ack = tg_frame_new(TG_FRAME_ACK);
        ack->ack.n = n;
        size_t len;
        char *body = tg_buf_take(&ids, &len);
        tg_frame_give_body(ack, &body, len);
        tg_peers_send(self->peers, to, &ack);  //  a lost ACK means a resend
    }
    free(done);
}

//  EVENTS on the bus: the events of the batch stored now (not duplicates), priced, for the
//  alert rules. One PUB message per commit; without a subscriber ZeroMQ drops it at once.
static void
s_publish_events(analytics_t *self)
{
    tg_buf_t body;
    tg_buf_init(&body, SIZE_MAX);
    uint64_t n = 0;
    for (size_t i = 0; i < self->nbatch; i++) {
        if (self->outcome[i].duplicate)
            continue;
        tg_frame_t *u = self->batch[i];
        u->usage.cost_usd = (double)self->outcome[i].cost_micro / 1e6;
        u->usage.unpriced = self->outcome[i].unknown;
        size_t len;
        char *map = tg_frame_encode_map(u, &len);
        if (map)
            tg_buf_append(&body, map, len);
        free(map);
        n += map != NULL;
    }
    if (n == 0) {
        tg_buf_fini(&body);
        return;
    }
    tg_frame_t *f = tg_frame_new(TG_FRAME_EVENTS);
    f->events.n = n;
    size_t len;
    char *bytes = tg_buf_take(&body, &len);
    tg_frame_give_body(f, &bytes, len);
    tg_frame_send(&f, tg_stats_socket(self->stats));  //  PUB: never blocks
}

//  The events API's posts of the batch learn what became of their events; a post whose
//  every event is known gets its answer.
static void
s_settle_posts(analytics_t *self, bool committed)
{
    for (size_t i = 0; i < self->nbatch; i++) {
        analytics_post_t *p = self->waiter[i];
        self->waiter[i] = NULL;
        if (p && analytics_post_settle(p, self->widx[i], committed, self->outcome[i].duplicate)) {
            tg_frame_t *reply = analytics_post_reply(p);
            tg_reply_send(self->peers, analytics_post_query(p), &reply);
            analytics_post_destroy(&p);
        }
    }
}

//  New events drop the cached metrics answers whose range holds them.
static void
s_touch_cache(analytics_t *self)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < self->nbatch; i++) {
        if (self->outcome[i].duplicate)
            continue;
        int64_t ts = self->batch[i]->usage.ts;
        lo = ts < lo ? ts : lo;
        hi = ts > hi ? ts : hi;
    }
    if (lo <= hi)
        analytics_mapi_touch(self->mapi, lo, hi);
}

//  Commits the pending batch in one txn, then ACKs every event of it (duplicates too).
static void
s_flush(analytics_t *self)
{
    if (self->nbatch == 0)
        return;
    int64_t t0 = tg_mono_us();
    int rc =
        analytics_store_batch(self->store, self->pricing, self->batch, self->nbatch, self->outcome);
    while (rc == TG_AGAIN) {
        //  Map full: grow it and write the batch again; if it cannot grow, nothing is
        //  acknowledged and the senders resend later.
        if (analytics_store_grow(self->store) != TG_OK)
            break;
        tg_metrics_set(self->metrics, "tollgate_analytics_map_size_bytes", NULL,
                       (double)analytics_store_map_size(self->store));
        rc = analytics_store_batch(self->store, self->pricing, self->batch, self->nbatch,
                                   self->outcome);
    }
    if (rc == TG_OK) {
        tg_metrics_observe(self->metrics, "tollgate_analytics_commit_seconds", NULL,
                           (double)(tg_mono_us() - t0) / 1e6);
        for (size_t i = 0; i < self->nbatch; i++)
            s_count(self, &self->batch[i]->usage, &self->outcome[i]);
        s_touch_cache(self);
        s_ack_batch(self);
        s_publish_events(self);
    } else
        tg_log_error("analytics could not store a batch of %zu usage events (%s): not "
                     "acknowledged, senders will resend",
                     self->nbatch, rc == TG_AGAIN ? "map full" : "write failed");
    s_settle_posts(self, rc == TG_OK);
    for (size_t i = 0; i < self->nbatch; i++)
        tg_frame_destroy(&self->batch[i]);
    self->nbatch = 0;
    self->post_pending = false;
    s_publish_spend(self);
}

//  True if the event can be stored and acknowledged: eid of 1..ANALYTICS_MAX_EID bytes and
//  a reply_to that is an endpoint.
static bool
s_usage_ok(const tg_fr_usage_t *u)
{
    size_t eid_len = strlen(u->eid);
    return eid_len > 0 && eid_len <= ANALYTICS_MAX_EID && tg_peers_endpoint_ok(u->reply_to);
}

//  Adds an event to the commit batch (taking it); a full batch is committed at once.
static void
s_batch_add(analytics_t *self, tg_frame_t **frame_p)
{
    self->waiter[self->nbatch] = NULL;
    self->batch[self->nbatch++] = *frame_p;
    *frame_p = NULL;
    if (self->nbatch == S_BATCH_MAX)
        s_flush(self);
}

static void
s_on_usage(analytics_t *self, tg_frame_t **frame_p)
{
    const tg_fr_usage_t *u = &(*frame_p)->usage;
    if (!s_usage_ok(u)) {
        tg_log_warn("dropped usage frame: eid must be 1..%d bytes and reply_to an endpoint "
                    "eid_len=%zu",
                    ANALYTICS_MAX_EID, strlen(u->eid));
        tg_metrics_add(self->metrics, "tollgate_usage_events_total", "status=\"invalid\"", 1);
        return;
    }
    s_batch_add(self, frame_p);
}

//  A batch from one sender: each event of the body is decoded and checked on its own; the
//  bad ones are dropped (one log line for the batch), the others join the commit batch,
//  which is committed whenever it fills, so a batch of any size is taken whole.
static void
s_on_usages(analytics_t *self, const tg_frame_t *batch)
{
    const tg_fr_usages_t *b = &batch->usages;
    size_t off = 0, good = 0, bad = 0;
    char err[160] = "", why[160] = "";
    while (batch->body && off < batch->body_len) {
        tg_frame_t *f = NULL;
        if (tg_frame_decode_next(TG_FRAME_USAGE, batch->body, batch->body_len, &off, &f, err,
                                 sizeof err)
            != TG_OK) {
            if (!bad++)
                snprintf(why, sizeof why, "%s", err);
        } else if (!s_usage_ok(&f->usage)) {
            if (!bad++)
                snprintf(why, sizeof why, "eid must be 1..%d bytes and reply_to an endpoint",
                         ANALYTICS_MAX_EID);
        } else {
            s_batch_add(self, &f);
            good++;
        }
        tg_frame_destroy(&f);
    }
    if (bad)
        tg_metrics_add(self->metrics, "tollgate_usage_events_total", "status=\"invalid\"",
                       (double)bad);
    if (bad || good + bad != b->n)
        tg_log_warn("usage batch kept=%zu dropped=%zu n=%llu from=%.128s first=%s", good, bad,
                    (unsigned long long)b->n, b->reply_to,
                    bad ? why : "the body holds another count of events than n");
}

//  POST /api/v1/events[/batch]: a valid post's events join the commit batch and are
//  answered after their commit (at the end of this read burst at the latest); an invalid
//  one is answered now.
static void
s_on_events(analytics_t *self, tg_frame_t **frame_p)
{
    if (!tg_peers_endpoint_ok((*frame_p)->query.reply_to)) {
        tg_log_warn("dropped events query with a bad reply_to id=%.64s", (*frame_p)->query.id);
        return;
    }
    analytics_post_t *post = analytics_events_parse(
        frame_p, tg_now_us(), tg_config_str(self->cfg, "events.default_environment"));
    size_t n = analytics_post_count(post);
    if (n == 0) {
        tg_frame_t *reply = analytics_post_reply(post);
        tg_reply_send(self->peers, analytics_post_query(post), &reply);
        analytics_post_destroy(&post);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        self->waiter[self->nbatch] = post;
        self->widx[self->nbatch] = i;
        self->batch[self->nbatch++] = analytics_post_take(post, i);
        self->post_pending = true;
        if (self->nbatch == S_BATCH_MAX)
            s_flush(self);  //  may answer and free the post: only after its last event
    }
}

static void
s_on_query(analytics_t *self, const tg_frame_t *f)
{
    const tg_fr_query_t *q = &f->query;
    if (!tg_peers_endpoint_ok(q->reply_to)) {
        tg_log_warn("dropped query frame with a bad reply_to id=%.64s", q->id);
        return;
    }
    s_flush(self);  //  an answer includes every event received before the question
    tg_frame_t *reply =
        analytics_mapi_owns(q->path)
            ? analytics_mapi_answer(self->mapi, self->store, f, tg_now_us(), tg_mono_us())
        : analytics_traces_route(q->path) ? analytics_traces_answer(self->store, q, tg_now_us())
                                          : analytics_query_answer(self->store, q, tg_now_us());
    tg_reply_send(self->peers, q, &reply);
}

static void
s_on_inbox_frame(tg_frame_t **frame_p, void *arg)
{
    analytics_t *self = arg;
    tg_frame_type_t type = (*frame_p)->type;
    if (type == TG_FRAME_USAGE)
        s_on_usage(self, frame_p);
    else if (type == TG_FRAME_USAGES)
        s_on_usages(self, *frame_p);
    else if (type == TG_FRAME_QUERY && analytics_events_route((*frame_p)->query.path))
        s_on_events(self, frame_p);
    else if (type == TG_FRAME_QUERY)
        s_on_query(self, *frame_p);
    else
        tg_log_warn("analytics ignored a %s frame", tg_frame_name(type));
}

//  The end of a burst read from the inbox: posted events are committed at once (one commit
//  for the burst), then answered; usage events wait for the batch or the commit timer.
static void
s_on_inbox_burst(void *arg)
{
    analytics_t *self = arg;
    if (self->post_pending)
        s_flush(self);
}

static void
s_on_commit_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_flush(arg);
}

static void
s_on_spend_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_publish_spend(arg);
}

//  One retention turn: at most prune_batch deletes in one small txn, so ingestion waits at
//  most one turn. When nothing was due the next look is a second later.
static void
s_on_prune_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    analytics_t *self = arg;
    int64_t mono = tg_mono_us();
    if (mono < self->prune_idle_until)
        return;
    size_t n = 0;
    int rc =
        analytics_store_prune(self->store, tg_now_us(), self->retention_us, self->prune_batch, &n);
    if (rc == TG_AGAIN && analytics_store_grow(self->store) == TG_OK)
        tg_metrics_set(self->metrics, "tollgate_analytics_map_size_bytes", NULL,
                       (double)analytics_store_map_size(self->store));
    if (n)
        tg_metrics_add(self->metrics, "tollgate_analytics_pruned_total", NULL, (double)n);
    if (rc != TG_OK || n < self->prune_batch)
        self->prune_idle_until = mono + 1000000;
}

static void
s_on_stats_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    analytics_t *self = arg;
    size_t used;
    if (analytics_store_used(self->store, &used) == TG_OK)
        tg_metrics_set(self->metrics, "tollgate_analytics_used_bytes", NULL, (double)used);
    tg_stats_publish(self->stats, self->metrics, true);
}

int
analytics_attach(analytics_t *self, struct event_base *base)
{
    assert(self && base);
    self->reader = tg_evzmq_new(base, self->inbox, s_on_inbox_frame, self);
    tg_evzmq_set_end(self->reader, s_on_inbox_burst);
    if (!self->reader)
        return TG_ERR;
    self->commit_ev = tg_evzmq_timer(base, tg_config_int(self->cfg, "analytics.commit_interval_ms"),
                                     s_on_commit_timer, self);
    self->spend_ev = tg_evzmq_timer(base, S_SPEND_MS, s_on_spend_timer, self);
    self->prune_ev = tg_evzmq_timer(base, S_PRUNE_MS, s_on_prune_timer, self);
    self->stats_ev =
        tg_evzmq_timer(base, tg_config_int(self->cfg, "stats.interval_ms"), s_on_stats_timer, self);
    tg_stats_publish(self->stats, self->metrics, true);
    return TG_OK;
}

void
analytics_destroy(analytics_t **self_p)
{
    assert(self_p);
    analytics_t *self = *self_p;
    if (!self)
        return;
    struct event **evs[] = {&self->commit_ev, &self->spend_ev, &self->prune_ev, &self->stats_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    tg_evzmq_destroy(&self->reader);
    if (self->store)
        s_flush(self);               //  the last batch: committed and acknowledged before we go
    tg_peers_destroy(&self->peers);  //  linger: the ACKs still leave
    analytics_mapi_destroy(&self->mapi);
    tg_stats_destroy(&self->stats);
    zsock_destroy(&self->inbox);
    tg_metrics_destroy(&self->metrics);
    analytics_store_destroy(&self->store);
    tg_pricing_destroy(&self->pricing);
    free(self);
    *self_p = NULL;
}
