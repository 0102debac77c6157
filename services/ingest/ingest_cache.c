//  ingest_cache.c - cache hits answered here, from the LMDB map the router fills (spec C1):
//  no process is crossed. Each hit is reported twice, in batches: to analytics as a usage
//  event (at least once, through an outbox) and to the router (hit counts, last access and
//  the hit-rate metrics; best effort).
#include "ingest_priv.h"
#include "tg_cache_form.h"
#include "tg_log.h"
#include "tg_util.h"

#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_OPEN_RETRY_US 1000000  //  a missing cache map is looked for again this often
#define S_HITS_MAX 64            //  hit notices sent to the router in one frame, at most
#define S_HITS_DELAY_US 5000     //  ... or this long after the first of them

static void
s_hits_flush(ingest_t *self)
{
    ingest_cache_t *c = &self->cache;
    if (!c->nhits)
        return;
    tg_frame_t *f = tg_frame_new(TG_FRAME_HITS);
    f->hits.n = c->nhits;
    size_t len;
    char *body = tg_buf_take(&c->hits, &len);
    tg_frame_give_body(f, &body, len);
    if (tg_frame_send(&f, self->router) != TG_OK)
        tg_log_debug("hit notices not sent n=%zu: router queue full", c->nhits);
    c->nhits = 0;
}

static void
s_on_hits_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_hits_flush(arg);
}

static void
s_try_open(ingest_t *self, int64_t now)
{
    ingest_cache_t *c = &self->cache;
    if (c->store || !c->enabled || now < c->retry_us)
        return;
    c->retry_us = now + S_OPEN_RETRY_US;
    tg_cache_opts_t opts = {.dir = c->dir, .readonly = true};
    c->store = tg_cache_open(&opts);
    if (c->store)
        tg_log_info("cache map open read-only dir=%s", c->dir);
}

int
ingest_cache_init(ingest_t *self)
{
    ingest_cache_t *c = &self->cache;
    //  Without the map on this host (cache.ingest_reads: false) every cacheable call goes to
    //  the router, which answers the hits itself.
    c->enabled = tg_config_bool(self->cfg, "cache.enabled")
                 && tg_config_bool(self->cfg, "cache.ingest_reads");
    c->min_quality = tg_config_dbl(self->cfg, "cache.min_quality");
    c->dir = tg_cache_dir(self->cfg);
    c->outbox = tg_outbox_new(self->cfg, self->inbox_ep);
    if (!c->outbox)
        return TG_ERR;
    tg_outbox_attach(c->outbox, self->base, self->metrics);
    tg_buf_init(&c->hits, 1 << 20);  //  64 lines of at most ~160 bytes: never reached
    c->hits_ev = evtimer_new(self->base, s_on_hits_timer, self);
    s_try_open(self, tg_mono_us());
    return TG_OK;
}

void
ingest_cache_fini(ingest_t *self)
{
    ingest_cache_t *c = &self->cache;
    if (c->hits_ev) {
        s_hits_flush(self);
        event_free(c->hits_ev);
    }
    tg_buf_fini(&c->hits);
    tg_outbox_destroy(&c->outbox);
    tg_cache_destroy(&c->store);
    free(c->dir);
    memset(c, 0, sizeof *c);
}

void
ingest_cache_tick(ingest_t *self, int64_t now)
{
    s_try_open(self, now);
    if (self->cache.outbox)
        tg_outbox_tick(self->cache.outbox, now);
}

void
ingest_cache_on_ack(ingest_t *self, const tg_frame_t *ack)
{
    if (self->cache.outbox)
        tg_outbox_ack_frame(self->cache.outbox, ack);
}

static void
s_notice(ingest_t *self, const char *hex, const char *agent)
{
    ingest_cache_t *c = &self->cache;
    tg_buf_printf(&c->hits, "%s %s\n", hex, agent);
    if (++c->nhits >= S_HITS_MAX) {
        event_del(c->hits_ev);
        s_hits_flush(self);
    } else if (c->nhits == 1) {
        struct timeval tv = {0, S_HITS_DELAY_US};
        evtimer_add(c->hits_ev, &tv);
    }
}

bool
ingest_cache_serve(ingest_t *self,
                   struct evhttp_request *req,
                   const ingest_cache_hit_t *h,
                   const tg_cache_plan_t *plan,
                   int64_t t0)
{
    ingest_cache_t *c = &self->cache;
    if (plan->mode != TG_CACHE_USE || !c->store)
        return false;
    tg_cache_entry_t e;
    if (tg_cache_get(c->store, &plan->key, tg_now_us(), c->min_quality, &e) != TG_OK)
        return false;
    char *body = NULL;
    size_t len = 0;
    if (tg_cache_form_answer(&e, h->stream, h->usage, &body, &len) != TG_OK) {
        tg_log_warn("cache entry not servable key=%s form=%d: answered as a miss", plan->hex,
                    (int)e.form);
        tg_cache_entry_fini(&e);
        return false;
    }
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "x-cache", "hit");
    if (e.provider && *e.provider)
        evhttp_add_header(hdr, "x-tollgate-provider", e.provider);
    if (e.model && *e.model)
        evhttp_add_header(hdr, "x-tollgate-model", e.model);
    if (h->cls)
        evhttp_add_header(hdr, "x-tollgate-auto-class", h->cls);
    if (h->stream)
        evhttp_add_header(hdr, "Cache-Control", "no-cache");
    ingest_http_send(self, req, h->rid, 200, h->stream ? "text/event-stream" : NULL, &body, len);
    ingest_count_llm(self, h->agent, e.provider, e.model, "hit", t0, -1);
    tg_frame_t *u = tg_cache_hit_usage(&e, h->id, h->route, h->key, h->agent, h->stream,
                                       tg_now_us() - (tg_mono_us() - t0));
    tg_trace_stamp_usage(&u->usage, h->org, h->ctx->user, h->ctx->env, h->ctx->trace,
                         h->ctx->parent);
    tg_outbox_send(c->outbox, &u, tg_mono_us());
    s_notice(self, plan->hex, h->agent);
    tg_cache_entry_fini(&e);
    return true;
}
