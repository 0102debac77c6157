//  worker.c - the provider-worker core: JOB -> upstream call -> answer to ingest + USAGE.
#include "worker_int.h"

#include "tg_addr.h"
#include "tg_curve.h"
#include "tg_error.h"
#include "tg_log.h"
#include "tg_trace.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TICK_MS 200  //  outbox resend, stats and drain checks

static const double s_ttft_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60};
static const double s_latency_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120};

#define M_REQUESTS "tollgate_provider_requests_total"
#define M_RETRIES "tollgate_provider_retries_total"
#define M_ERRORS "llm_provider_errors_total"
#define M_TTFT "llm_time_to_first_token_seconds"
#define M_LATENCY "tollgate_provider_latency_seconds"
#define M_IN_FLIGHT "tollgate_worker_in_flight"
#define M_PENDING "tollgate_usage_pending"
#define M_JOBS "tollgate_worker_jobs_total"

static void s_on_job(tg_frame_t **frame_p, void *arg);

//  ---------------------------------------------------------------------------------------
//  Construction

static struct curl_slist *
s_header(struct curl_slist *list, const char *fmt, const char *value)
{
    char *h = tg_strfmt(fmt, value);
    struct curl_slist *next = curl_slist_append(list, h);
    free(h);
    if (!next) {
        tg_log_error("out of memory building headers");
        abort();
    }
    return next;
}

static void
s_provs_build(worker_t *self)
{
    self->nprovs = tg_config_provider_count(self->cfg);
    self->provs = tg_zalloc((self->nprovs ? self->nprovs : 1) * sizeof *self->provs);
    for (size_t i = 0; i < self->nprovs; i++) {
        worker_prov_t *p = &self->provs[i];
        p->cfg = tg_config_provider(self->cfg, i);
        const char *base = p->cfg->base_url ? p->cfg->base_url : "";
        p->ops = worker_provider_ops(p->cfg->kind);
        p->url_chat = tg_strfmt("%s%s", base, p->ops->chat_path);
        if (p->ops->embed_path)
            p->url_embed = tg_strfmt("%s%s", base, p->ops->embed_path);
        struct curl_slist *h = s_header(NULL, "%s", "Content-Type: application/json");
        h = s_header(h, "%s", "Expect:");  //  no 100-continue round trip on big bodies
        if (p->ops->fixed_header)
            h = s_header(h, "%s", p->ops->fixed_header);
        if (p->cfg->api_key) {
            char *auth = tg_strfmt("%s%s", p->ops->auth_prefix, p->cfg->api_key);
            h = s_header(h, "%s", auth);
            free(auth);
        }
        p->headers = h;
        worker_curl_prov_init(self, p);
    }
}

static const worker_prov_t *
s_prov_find(worker_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->nprovs; i++)
        if (strcmp(self->provs[i].cfg->name, name) == 0)
            return &self->provs[i];
    return NULL;
}

static void
s_metrics_declare(tg_metrics_t *m)
{
    tg_metrics_declare(m, M_REQUESTS, TG_METRIC_COUNTER,
                       "Upstream calls finished by the worker, by provider and outcome.", NULL, 0);
    tg_metrics_declare(m, M_RETRIES, TG_METRIC_COUNTER,
                       "Upstream call retries made by the worker, by provider.", NULL, 0);
    tg_metrics_declare(m, M_ERRORS, TG_METRIC_COUNTER,
                       "Failed upstream attempts (error status, network error, timeout).", NULL, 0);
    tg_metrics_declare(m, M_TTFT, TG_METRIC_HISTOGRAM,
                       "Time from request arrival to the first streamed chunk.", s_ttft_buckets,
                       sizeof s_ttft_buckets / sizeof s_ttft_buckets[0]);
    tg_metrics_declare(m, M_LATENCY, TG_METRIC_HISTOGRAM,
                       "Time spent on the upstream call, retries included.", s_latency_buckets,
                       sizeof s_latency_buckets / sizeof s_latency_buckets[0]);
    tg_metrics_declare(m, M_IN_FLIGHT, TG_METRIC_GAUGE, "Upstream calls in flight.", NULL, 0);
    tg_metrics_declare(m, M_PENDING, TG_METRIC_GAUGE,
                       "Usage events sent but not yet acknowledged by analytics.", NULL, 0);
    tg_metrics_declare(m, M_JOBS, TG_METRIC_COUNTER,
                       "Jobs this worker took from the router, by worker instance.", NULL, 0);
}

#define S_DONE_FLUSH_US 10000     //  finished-call ids wait at most this long to be reported
#define S_DONE_BATCH 256          //  ... or until this many are waiting
#define S_DRAIN_SETTLE_US 300000  //  after saying we drain, jobs already sent may still come

worker_t *
worker_new(const tg_config_t *cfg)
{
    worker_t *self = tg_zalloc(sizeof *self);
    self->cfg = cfg;
    self->stats = tg_stats_new(cfg, "worker");
    if (!self->stats)
        goto fail;
    //  The router addresses this worker by its instance id (the DEALER's routing id).
    const char *ep = tg_config_str(cfg, "endpoints.jobs");
    self->jobs = zsock_new(ZMQ_DEALER);
    if (!self->jobs)
        goto fail;
    zsock_set_identity(self->jobs, tg_stats_instance(self->stats));
    zsock_set_rcvhwm(self->jobs, 100000);
    zsock_set_sndhwm(self->jobs, 100000);
    zsock_set_linger(self->jobs, 1000);
    char *target = tg_addr_connectable(ep);
    int rc = tg_curve_secure(self->jobs, ep, false) == TG_OK
                 ? zsock_connect(self->jobs, "%s", target)
                 : -1;
    free(target);
    if (rc != 0) {
        tg_log_error("cannot connect endpoint=%s", ep);
        goto fail;
    }
    self->inbox = tg_socket_open(ZMQ_PULL, tg_config_str(cfg, "endpoints.worker"), true, 0);
    if (!self->inbox)
        goto fail;
    zsock_set_rcvhwm(self->inbox, 100000);
    self->inbox_ep = tg_socket_advertised(self->inbox, cfg);
    if (!self->inbox_ep)
        goto fail;
    self->peers = tg_peers_new();
    self->outbox = tg_outbox_new(cfg, self->inbox_ep);
    if (!self->outbox)
        goto fail;
    tg_buf_init(&self->done, 1u << 20);
    worker_outcome_init(self);
    self->metrics = tg_metrics_new();
    s_metrics_declare(self->metrics);
    self->jobs_labels = tg_metrics_labels("worker", tg_stats_instance(self->stats), NULL);
    self->calls = zhashx_new();
    self->joined = zhashx_new();
    self->backlog = zlistx_new();
    self->max_in_flight = (size_t)tg_config_int(cfg, "upstream.max_in_flight");
    self->max_entry = (size_t)tg_config_int(cfg, "cache.max_entry_bytes");
    self->retry_base_us = tg_config_int(cfg, "upstream.retry_base_ms") * 1000;
    self->max_response = (size_t)tg_config_int(cfg, "upstream.max_response_bytes");
    s_provs_build(self);
    return self;
fail:
    worker_destroy(&self);
    return NULL;
}

static void s_cut_all(worker_t *self, const char *why);

void
worker_destroy(worker_t **self_p)
{
    assert(self_p);
    worker_t *self = *self_p;
    if (!self)
        return;
    tg_evzmq_destroy(&self->jobs_rd);
    tg_evzmq_destroy(&self->inbox_rd);
    if (self->calls)
        s_cut_all(self, "worker stopped before the upstream answered");
    if (self->multi)
        worker_curl_fini(self);
    if (self->done_ev)
        event_free(self->done_ev);
    tg_buf_fini(&self->done);
    worker_outcome_fini(self);
    if (self->kick_ev)
        event_free(self->kick_ev);
    zlistx_destroy(&self->backlog);
    if (self->tick)
        event_free(self->tick);
    zhashx_destroy(&self->calls);
    zhashx_destroy(&self->joined);
    tg_peers_destroy(&self->peers);
    tg_outbox_destroy(&self->outbox);
    tg_stats_destroy(&self->stats);
    tg_metrics_destroy(&self->metrics);
    free(self->jobs_labels);
    zsock_destroy(&self->inbox);
    free(self->inbox_ep);
    zsock_destroy(&self->jobs);
    for (size_t i = 0; self->provs && i < self->nprovs; i++) {
        free(self->provs[i].url_chat);
        free(self->provs[i].url_embed);
        curl_slist_free_all(self->provs[i].headers);
        worker_curl_prov_fini(&self->provs[i]);
    }
    free(self->provs);
    free(self);
    *self_p = NULL;
}

size_t
worker_in_flight(const worker_t *self)
{
    return self->in_flight;
}

//  ---------------------------------------------------------------------------------------
//  Answers to the asking ingest

static int64_t
s_up_us(const worker_call_t *c)
{
    return c->start_mono ? tg_mono_us() - c->start_mono : 0;
}

static int
s_send(worker_call_t *c, tg_frame_t **frame_p)
{
    int rc = tg_peers_send(c->w->peers, c->job->job.reply_to, frame_p);
    if (rc != TG_OK)
        tg_log_warn("answer not delivered id=%s reply_to=%s rc=%s", c->job->job.id,
                    c->job->job.reply_to, tg_rc_str(rc));
    return rc == TG_OK ? TG_OK : TG_ERR;
}

static int
s_send_end(worker_call_t *c, int status)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_END);
    f->end.id = tg_strdup(c->job->job.id);
    f->end.status = (uint64_t)status;
    f->end.up_us = (uint64_t)s_up_us(c);
    return s_send(c, &f);
}

static int
s_send_reply(worker_call_t *c, int status, char **body_p, size_t len, uint64_t retry_after_s)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_REPLY);
    f->reply.id = tg_strdup(c->job->job.id);
    f->reply.status = (uint64_t)status;
    f->reply.cache = tg_strdup(c->job->job.ckey ? "miss" : "bypass");
    f->reply.provider = tg_strdup(c->job->job.provider);
    f->reply.model = tg_strdup(c->job->job.model);
    f->reply.retry_after = retry_after_s;
    f->reply.up_us = (uint64_t)s_up_us(c);
    f->reply.rl = tg_strdup(c->job->job.rl);
    tg_frame_give_body(f, body_p, len);
    return s_send(c, &f);
}

static void
s_call_head(worker_call_t *c)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_HEAD);
    f->head.id = tg_strdup(c->job->job.id);
    f->head.status = 200;
    f->head.provider = tg_strdup(c->job->job.provider);
    f->head.model = tg_strdup(c->job->job.model);
    f->head.cache = tg_strdup(c->job->job.ckey ? "miss" : "bypass");
    f->head.rl = tg_strdup(c->job->job.rl);
    s_send(c, &f);
    worker_join_head(c);  //  a lost HEAD shows up as a lost CHUNK right after
}

static int
s_call_flush(worker_call_t *c)
{
    if (c->out.len == 0)
        return TG_OK;
    if (!c->ttft_us) {
        c->ttft_us = c->t0_us ? tg_now_us() - c->t0_us : s_up_us(c);
        if (c->ttft_us <= 0)
            c->ttft_us = 1;
        char labels[TG_METRICS_MAX_VALUE * 2 + 32];
        tg_metrics_labels_buf(labels, sizeof labels, "provider", c->job->job.provider, "model",
                              c->job->job.model, NULL);
        tg_metrics_observe(c->w->metrics, M_TTFT, labels, (double)c->ttft_us / 1e6);
    }
    tg_frame_t *f = tg_frame_new(TG_FRAME_CHUNK);
    f->chunk.id = tg_strdup(c->job->job.id);
    f->chunk.seq = c->seq++;
    size_t len;
    char *data = tg_buf_take(&c->out, &len);
    if (c->job->job.ckey && !c->fill_off && tg_buf_append(&c->fill, data, len) != TG_OK)
        c->fill_off = true;  //  bigger than cache.max_entry_bytes: not cached
    worker_join_chunk(c, data, len);
    tg_frame_give_body(f, &data, len);
    return s_send(c, &f);
}

//  ---------------------------------------------------------------------------------------
//  The end of a call: usage, metrics, free

static void
s_provider_label(worker_call_t *c, char *out, size_t size, const char *outcome)
{
    if (outcome)
        tg_metrics_labels_buf(out, size, "provider", c->job->job.provider, "outcome", outcome,
                              NULL);
    else
        tg_metrics_labels_buf(out, size, "provider", c->job->job.provider, NULL);
}

static void
s_count_error(worker_call_t *c)
{
    char labels[TG_METRICS_MAX_VALUE + 32];
    s_provider_label(c, labels, sizeof labels, NULL);
    tg_metrics_add(c->w->metrics, M_ERRORS, labels, 1);
    worker_outcome_add(c, 'f');
}

static void
s_count_retry(worker_call_t *c)
{
    char labels[TG_METRICS_MAX_VALUE + 32];
    s_provider_label(c, labels, sizeof labels, NULL);
    tg_metrics_add(c->w->metrics, M_RETRIES, labels, 1);
}

static void
s_usage(worker_call_t *c, int status, const char *error)
{
    tg_fr_job_t *j = &c->job->job;
    if (j->probe)
        return;  //  the router's health check: nobody's call, no usage
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    tg_fr_usage_t *u = &f->usage;
    int64_t now = tg_now_us();
    u->id = tg_strdup(j->id);
    u->ts = c->t0_us ? c->t0_us : now;
    u->route = tg_strdup(j->route);
    u->key = tg_strdup(j->key);
    u->agent = tg_strdup(j->agent);
    u->provider = tg_strdup(j->provider);
    u->model = tg_strdup(j->model);
    u->status = (uint64_t)status;
    u->cache = tg_strdup(j->ckey ? "miss" : "bypass");
    u->stream = c->pc.stream;
    if (c->pc.usage.seen) {
        u->tok_in = c->pc.usage.in;
        u->tok_out = c->pc.usage.out;
        u->tok_cached = c->pc.usage.cached;
        u->tok_cwrite = c->pc.usage.cwrite;
    } else
        u->tok_out = (c->content_chars + 3) / 4;  //  cut stream: ~4 characters a token
    u->latency_us = (uint64_t)(now > u->ts ? now - u->ts : 0);
    u->ttft_us = (uint64_t)(c->ttft_us > 0 ? c->ttft_us : 0);
    u->retries = (uint64_t)(c->retries + c->retries_prev);
    u->hops = (uint64_t)c->hops;
    u->error = tg_strdup(error);
    tg_trace_stamp_usage(u, j->org, j->user, j->env, j->trace, j->parent);
    u->asked = tg_strdup(j->asked);
    u->cls = tg_strdup(j->cls);
    tg_outbox_send(c->w->outbox, &f, tg_mono_us());
}

//  Tells the router how this worker stands, with the ids of the calls finished since the
//  last report (they free room in the router's count). Sent on a timer and in batches.
static void
s_load_send(worker_t *self, bool bye)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_LOAD);
    f->load.inst = tg_strdup(tg_stats_instance(self->stats));
    f->load.cap = self->max_in_flight;
    f->load.busy = self->in_flight;
    f->load.lat_us = self->lat_us;
    f->load.draining = self->draining;
    f->load.bye = bye;
    f->load.n = self->ndone;
    f->load.outs = worker_outcome_take(self);
    if (self->ndone) {
        size_t len;
        char *ids = tg_buf_take(&self->done, &len);
        tg_frame_give_body(f, &ids, len);
        self->ndone = 0;
    }
    //  At the HWM (router gone a long time) the report is dropped; the next one says it all
    //  again except the ids, which a new router would not know anyway.
    if (tg_frame_send(&f, self->jobs) != TG_OK)
        tg_log_debug("LOAD not sent: the router is not taking them");
    if (self->jobs_rd)
        tg_evzmq_kick(self->jobs_rd);
    if (self->done_ev)
        evtimer_del(self->done_ev);
}

static void
s_on_done_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_load_send(arg, false);
}

//  Notes a finished call for the next LOAD.
void
worker_done_add(worker_t *self, const char *id)
{
    if (self->ndone)
        tg_buf_puts(&self->done, "\n");
    if (tg_buf_puts(&self->done, id) != TG_OK)
        tg_log_warn("done list full: the router learns of call %s with its worker", id);
    else
        self->ndone++;
    if (!self->done_ev)
        return;
    if (self->ndone >= S_DONE_BATCH)
        event_active(self->done_ev, EV_TIMEOUT, 0);
    else if (self->ndone == 1) {
        struct timeval tv = {0, S_DONE_FLUSH_US};
        evtimer_add(self->done_ev, &tv);
    }
}

void
worker_call_finish(worker_call_t *c, int status, const char *error)
{
    worker_t *w = c->w;
    worker_join_finish(c);
    if (!c->noutcomes)  //  no attempt ended (client left, not started): the router's count
        worker_outcome_add(c, 'c');
    s_usage(c, status, error);
    if (status != 499) {  //  a client that left says nothing about the provider
        char labels[TG_METRICS_MAX_VALUE + 48];
        s_provider_label(c, labels, sizeof labels,
                         status >= 200 && status < 300 ? "success" : "failure");
        tg_metrics_add(w->metrics, M_REQUESTS, labels, 1);
        if (c->start_mono) {
            s_provider_label(c, labels, sizeof labels, NULL);
            tg_metrics_observe(w->metrics, M_LATENCY, labels, (double)s_up_us(c) / 1e6);
        }
    }
    tg_log_debug("call done id=%s provider=%s model=%s status=%d retries=%d error=%s",
                 c->job->job.id, c->job->job.provider, c->job->job.model, status, c->retries,
                 error ? error : "-");
    int64_t took = tg_mono_us() - c->arrived_mono;
    w->lat_us = w->lat_us ? (w->lat_us * 7 + (uint64_t)took) / 8 : (uint64_t)took;
    //  "<id> <completion tokens> <prompt tokens>": the router charges them to the key's
    //  limits and budgets (prompt tokens 0 = not known).
    uint64_t tok_out = c->pc.usage.seen ? c->pc.usage.out : (c->content_chars + 3) / 4;
    uint64_t tok_in = c->pc.usage.seen ? c->pc.usage.in : 0;
    char done[160];
    snprintf(done, sizeof done, "%s %llu %llu", c->job->job.id, (unsigned long long)tok_out,
             (unsigned long long)tok_in);
    worker_done_add(w, done);
    worker_curl_release(c);
    if (c->queued)
        zlistx_delete(w->backlog, c->queued);
    bool started = c->started;
    if (c->indexed)
        zhashx_delete(w->calls, c->job->job.id);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        w->tail = c->prev;
    tg_buf_fini(&c->resp);
    tg_buf_fini(&c->out);
    tg_buf_fini(&c->fill);
    worker_sse_destroy(&c->parser);
    worker_pcall_fini(&c->pc);
    free(c->abort_msg);
    tg_frame_destroy(&c->job);
    free(c);
    w->in_flight--;
    if (started) {
        w->active--;
        if (zlistx_size(w->backlog) > 0)
            event_active(w->kick_ev, EV_TIMEOUT, 0);  //  not from here: we may be deep in a call
    }
}

//  Sends a good answer to the router for the cache (only calls whose JOB has a key).
static void
s_fill(worker_call_t *c, const char *body, size_t len, bool stream)
{
    tg_fr_job_t *j = &c->job->job;
    if (!j->ckey || c->fill_off || !len || !c->pc.usage.seen)
        return;  //  no usage: the answer is not known to be whole
    tg_frame_t *f = tg_frame_new(TG_FRAME_FILL);
    f->fill.id = tg_strdup(j->id);
    f->fill.ckey = tg_strdup(j->ckey);
    f->fill.ttl = j->cttl;
    f->fill.stream = stream;
    f->fill.provider = tg_strdup(j->provider);
    f->fill.model = tg_strdup(j->model);
    f->fill.tok_in = c->pc.usage.in;
    f->fill.tok_out = c->pc.usage.out;
    f->fill.tok_cached = c->pc.usage.cached;
    char *copy = tg_strndup(body, len);
    tg_frame_give_body(f, &copy, len);
    if (tg_frame_send(&f, c->w->jobs) != TG_OK)
        tg_log_debug("fill not sent id=%s: router queue full", j->id);
}

static void
s_call_reply(worker_call_t *c, int status, char **body_p, size_t len)
{
    worker_outcome_add(c, 'o');
    if (status == 200 && c->job->job.ckey && len <= c->w->max_entry)
        s_fill(c, *body_p, len, false);
    worker_join_reply(c, status, *body_p, len, 0);
    s_send_reply(c, status, body_p, len, 0);
    worker_call_finish(c, status, NULL);
}

static void
s_call_end(worker_call_t *c)
{
    worker_outcome_add(c, 'o');
    if (s_call_flush(c) != TG_OK) {
        worker_call_finish(c, 499, "client_unreachable");
        return;
    }
    s_send_end(c, 0);
    worker_join_end(c, 0, NULL);
    s_fill(c, c->fill.data, c->fill.len, true);
    worker_call_finish(c, 200, NULL);
}

static void
s_call_fail_body(
    worker_call_t *c, int status, const char *code, char **body_p, uint64_t retry_after_s)
{
    if (worker_chain_next(c, status, code)) {  //  moved on to the next target
        tg_freep(body_p);
        return;
    }
    if (c->state == WORKER_CALL_STREAMING) {
        s_call_flush(c);
        if (!c->err_line_sent) {
            tg_buf_reset(&c->out);
            tg_frame_t *f = tg_frame_new(TG_FRAME_CHUNK);
            f->chunk.id = tg_strdup(c->job->job.id);
            f->chunk.seq = c->seq++;
            char *data = worker_pcall_error_line(&c->pc, status, *body_p);
            size_t n = strlen(data);
            worker_join_end(c, status, data);
            tg_frame_give_body(f, &data, n);
            s_send(c, &f);
            c->err_line_sent = true;
        }
        worker_join_end(c, status, NULL);  //  joiners left (the line went out earlier)
        tg_freep(body_p);
        s_send_end(c, status);
    } else {
        worker_join_reply(c, status, *body_p, strlen(*body_p), retry_after_s);
        s_send_reply(c, status, body_p, strlen(*body_p), retry_after_s);
    }
    worker_call_finish(c, status, code);
}

void
worker_call_fail(
    worker_call_t *c, int status, const char *type, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tg_log_warn("call failed id=%s provider=%s model=%s status=%d code=%s retries=%d msg=\"%s\"",
                c->job->job.id, c->job->job.provider, c->job->job.model, status, code, c->retries,
                msg);
    char *body = tg_error_body(status, msg, type, NULL, code);
    s_call_fail_body(c, status, code, &body, 0);
}

//  worker_curl_hooks_t's fail: worker_call_fail with a message made by the transfer layer.
static void
s_call_fail_msg(worker_call_t *c, int status, const char *type, const char *code, const char *msg)
{
    worker_call_fail(c, status, type, code, "%s", msg);
}

//  How worker_curl.c reports to us: it calls nothing else in this file.
static const worker_curl_hooks_t s_curl_hooks = {
    .head = s_call_head,
    .flush = s_call_flush,
    .count_error = s_count_error,
    .count_retry = s_count_retry,
    .reply = s_call_reply,
    .end = s_call_end,
    .fail = s_call_fail_msg,
    .fail_body = s_call_fail_body,
    .finish = worker_call_finish,
};

//  ---------------------------------------------------------------------------------------
//  Frames in

static void
s_link_add(worker_t *self, worker_call_t *c)
{
    c->prev = self->tail;
    if (self->tail)
        self->tail->next = c;
    else
        self->head = c;
    self->tail = c;
}

void
worker_call_start(worker_call_t *c)
{
    tg_fr_job_t *j = &c->job->job;
    //  "messages" (Anthropic ingress) goes to the chat endpoint; the table translates.
    bool chat = strcmp(j->route, "chat") == 0 || strcmp(j->route, "messages") == 0;
    if (!chat && strcmp(j->route, "embeddings") != 0) {
        worker_call_fail(c, 400, NULL, "unsupported_route", "route '%.64s' is not supported",
                         j->route);
        return;
    }
    if (!c->job->body || !c->job->body_len) {
        worker_call_fail(c, 400, NULL, "missing_body", "the request body is empty");
        return;
    }
    c->prov = s_prov_find(c->w, j->provider);
    if (!c->prov || !c->prov->cfg->enabled) {
        worker_call_fail(c, 502, "upstream_error", "provider_unavailable",
                         "provider '%.64s' is not configured on this worker", j->provider);
        return;
    }
    worker_pcall_init(&c->pc, c->prov->ops, c->job);
    char *err = NULL;
    if (c->pc.ops->prepare(&c->pc, &err) != TG_OK) {
        worker_call_fail(c, 400, NULL, "invalid_request", "%s", err ? err : "invalid request");
        free(err);
        return;
    }
    c->url = chat ? c->prov->url_chat : c->prov->url_embed;
    if (!c->started) {
        c->started = true;
        c->w->active++;
    }
    worker_curl_start(c, &s_curl_hooks);
}

static void
s_on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *self = arg;
    worker_call_t *c;
    while (self->active < self->max_in_flight && (c = zlistx_first(self->backlog)) != NULL) {
        zlistx_delete(self->backlog, c->queued);
        c->queued = NULL;
        worker_call_start(c);
    }
}

static void
s_on_cancel(worker_t *self, tg_frame_t **frame_p)
{
    if (worker_join_cancel(self, (*frame_p)->cancel.id))
        return;  //  a joiner left: the shared call goes on
    worker_call_t *c = zhashx_lookup(self->calls, (*frame_p)->cancel.id);
    if (!c)
        return;  //  finished already: its id is on the way to the router
    if (c->joiners) {
        //  Others wait for this answer: the upstream call goes on for them; what is sent to
        //  this client's ingest is dropped there (the call is gone).
        tg_log_info("call cancelled id=%s: kept for its joiners", c->job->job.id);
        return;
    }
    tg_log_info("call cancelled id=%s provider=%s state=%d", c->job->job.id, c->job->job.provider,
                (int)c->state);
    worker_curl_stop(c);
    worker_call_finish(c, 499, "client_closed");
}

static void
s_on_job(tg_frame_t **frame_p, void *arg)
{
    worker_t *self = arg;
    if ((*frame_p)->type == TG_FRAME_CANCEL) {
        s_on_cancel(self, frame_p);
        return;
    }
    if ((*frame_p)->type != TG_FRAME_JOB) {
        tg_log_warn("unexpected frame on jobs type=%s", tg_frame_name((*frame_p)->type));
        return;
    }
    if ((*frame_p)->job.join && worker_join_attach(self, frame_p))
        return;
    tg_metrics_add(self->metrics, M_JOBS, self->jobs_labels, 1);
    worker_call_t *c = tg_zalloc(sizeof *c);
    c->w = self;
    c->job = *frame_p;
    *frame_p = NULL;
    c->t0_us = c->job->job.t0 > 0 ? c->job->job.t0 : tg_now_us();
    c->arrived_mono = tg_mono_us();
    tg_buf_init(&c->fill, self->max_entry);
    self->in_flight++;
    s_link_add(self, c);
    if (zhashx_insert(self->calls, c->job->job.id, c) == 0)
        c->indexed = true;
    else
        tg_log_warn("job id already in flight id=%s: this one cannot be cancelled", c->job->job.id);
    if (self->active >= self->max_in_flight) {
        //  Every slot is taken (the router's count lags ours a little): wait here.
        c->queued = zlistx_add_end(self->backlog, c);
        return;
    }
    worker_call_start(c);
}

static void
s_on_inbox(tg_frame_t **frame_p, void *arg)
{
    worker_t *self = arg;
    if ((*frame_p)->type == TG_FRAME_ACK)
        tg_outbox_ack_frame(self->outbox, *frame_p);
    else
        tg_log_debug("ignored frame on inbox type=%s", tg_frame_name((*frame_p)->type));
}

//  ---------------------------------------------------------------------------------------
//  Timers, drain

static void
s_publish(worker_t *self)
{
    tg_metrics_set(self->metrics, M_IN_FLIGHT, NULL, (double)self->in_flight);
    tg_metrics_set(self->metrics, M_PENDING, NULL, (double)tg_outbox_pending(self->outbox));
    tg_stats_publish(self->stats, self->metrics, !self->draining);
    self->last_stats_mono = tg_mono_us();
}

//  Fails every call still running with 503 (usage recorded for each).
static void
s_cut_all(worker_t *self, const char *why)
{
    while (self->head) {
        worker_call_t *c = self->head;
        worker_curl_stop(c);
        worker_call_fail(c, 503, "service_unavailable", "worker_shutdown", "%s", why);
    }
}

static void
s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *self = arg;
    int64_t now = tg_mono_us();
    tg_outbox_tick(self->outbox, now);
    if (now - self->last_stats_mono >= tg_config_int(self->cfg, "stats.interval_ms") * 1000)
        s_publish(self);
    s_load_send(self, false);  //  heartbeat: the router forgets a worker that goes quiet
    if (!self->draining)
        return;
    //  The router stops sending once it has our draining LOAD; what it sent before that is
    //  served like any other job.
    bool settled = now - self->drain_said_mono >= S_DRAIN_SETTLE_US;
    if (settled && self->in_flight == 0 && tg_outbox_pending(self->outbox) == 0) {
        tg_log_info("drained: no call in flight, every usage event acknowledged");
        s_load_send(self, true);
        event_base_loopbreak(self->base);
    } else if (now >= self->drain_deadline) {
        tg_log_warn("drain grace over in_flight=%zu usage_pending=%zu", self->in_flight,
                    tg_outbox_pending(self->outbox));
        s_cut_all(self, "the worker is shutting down");
        s_load_send(self, true);
        event_base_loopbreak(self->base);
    }
}

int
worker_attach(worker_t *self, struct event_base *base)
{
    self->base = base;
    if (worker_curl_init(self) != TG_OK)
        return TG_ERR;
    self->done_ev = evtimer_new(base, s_on_done_flush, self);
    self->kick_ev = event_new(base, -1, 0, s_on_kick, self);
    int64_t ms = tg_config_int(self->cfg, "stats.interval_ms");
    self->tick = tg_evzmq_timer(base, ms < S_TICK_MS ? ms : S_TICK_MS, s_on_tick, self);
    tg_outbox_attach(self->outbox, base, self->metrics);
    self->inbox_rd = tg_evzmq_new(base, self->inbox, s_on_inbox, self);
    self->jobs_rd = tg_evzmq_new(base, self->jobs, s_on_job, self);
    s_load_send(self, false);  //  the router sends jobs from now on
    s_publish(self);
    return TG_OK;
}

void
worker_drain(worker_t *self, int64_t grace_ms)
{
    if (self->draining)
        return;
    self->draining = true;
    self->drain_deadline = tg_mono_us() + grace_ms * 1000;
    self->drain_said_mono = tg_mono_us();
    tg_log_info("draining in_flight=%zu usage_pending=%zu grace_ms=%lld", self->in_flight,
                tg_outbox_pending(self->outbox), (long long)grace_ms);
    s_load_send(self, false);
    s_publish(self);
}
