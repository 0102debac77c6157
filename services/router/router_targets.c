//  router_targets.c - targets, their breakers and counters, and call plans (spec P3, P4, P6).
#include "router_targets.h"
#include "router_breaker.h"
#include "router_strategy.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define S_CHAIN_MAX 8       //  targets one call may try
#define S_DEPTH_MAX 4       //  fallback models followed this deep
#define S_ALIAS_MAX 8       //  alias chains longer than this are a loop (router_resolve says so)
#define S_LAT_RING 512      //  latencies kept per target for percentiles
#define S_EWMA_WEIGHT 8     //  lowest-latency: a new sample counts 1/8
#define S_TARGETS_MAX 1024  //  targets of undeclared models kept (beyond: no breaker)
#define M_STATE "tollgate_breaker_state"
#define M_OPENS "tollgate_breaker_opens_total"
#define M_CLOSES "tollgate_breaker_closes_total"
#define M_CALLS "tollgate_target_calls_total"
#define M_RETRIES "tollgate_target_retries_total"
#define M_TOKENS "tollgate_target_tokens_total"
#define M_LATENCY "tollgate_target_latency_seconds"
#define M_INFLIGHT "tollgate_target_in_flight"

static const double s_lat_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                       1,     2,    5,     10,   30,  60};

//  One upstream target: a provider and the model name it is called with.
typedef struct {
    char *provider;                 //  provider name, owned
    char *model;                    //  upstream model, owned
    const tg_provider_t *prov;      //  its config (borrowed)
    router_breaker_t breaker;       //  spec P3
    router_breaker_state_t said;    //  state last published
    char labels[600];               //  provider="..",model=".." for metrics
    double price;                   //  USD per 1M tokens of a typical call
    uint64_t inflight;              //  calls sent to it first and not reported yet
    uint64_t ewma_us;               //  EWMA of successful attempt times (0 = none yet)
    uint64_t calls;                 //  attempts reported
    uint64_t successes;             //  ... that succeeded
    uint64_t failures;              //  ... that failed (5xx, 408/409/429, network, timeout)
    uint64_t client_errors;         //  ... answered with another 4xx (not the target's fault)
    uint64_t retries;               //  attempts that were retries
    uint64_t fallbacks;             //  attempts that were fallbacks from another target
    uint64_t tokens;                //  prompt + completion tokens of its answers
    uint64_t skipped;               //  calls planned without it because it was open
    int64_t checked_us;             //  when its last health check was due (0 = never)
    uint64_t checks;                //  health checks sent
    uint64_t gz_in;                 //  request body bytes before gzip, of attempts sent gzipped
    uint64_t gz_out;                //  ... and as sent
    uint32_t lat_ms10[S_LAT_RING];  //  recent successful latencies, 0.1 ms units
    size_t nlat;                    //  samples in lat_ms10 (at most S_LAT_RING)
    size_t lat_at;                  //  next slot
} s_target_t;

//  A model declared under `models:`.
typedef struct {
    const tg_route_t *cfg;       //  borrowed from the config
    router_strategy_t strategy;  //  how its first target is picked
    s_target_t **targets;        //  cfg->ntargets entries (borrowed from self->targets)
    router_cand_t *cands;        //  strategy state per target
    uint64_t rr;                 //  turn counter
} s_model_t;

struct router_targets {
    const tg_config_t *cfg;            //  borrowed
    const tg_pricing_t *pricing;       //  borrowed
    tg_metrics_t *metrics;             //  borrowed
    router_targets_notify_fn *notify;  //  breaker transitions
    void *arg;                         //  for notify
    zhashx_t *targets;                 //  "<provider>\t<model>" -> s_target_t (owned)
    zlistx_t *order;                   //  s_target_t in creation order (borrowed)
    s_model_t *models;                 //  one per declared model
    size_t nmodels;                    //  entries in models
};

static void
s_target_free(void **item)
{
    s_target_t *t = *item;
    if (t) {
        free(t->provider);
        free(t->model);
        free(t);
        *item = NULL;
    }
}

//  The target, made on first use; NULL when it is new, not `declared`, and the table holds
//  S_TARGETS_MAX already.
static s_target_t *
s_target(router_targets_t *self, const char *provider, const char *model, bool declared);

//  router_healthy_fn for "auto": a target not seen yet, or whose breaker would let a call go.
static bool
s_healthy(void *arg, const char *provider, const char *model)
{
    router_targets_t *self = arg;
    char key[512];
    snprintf(key, sizeof key, "%s\t%s", provider, model);
    s_target_t *t = zhashx_lookup(self->targets, key);
    return !t || router_breaker_allows(&t->breaker, tg_mono_us());
}

static s_target_t *
s_target(router_targets_t *self, const char *provider, const char *model, bool declared)
{
    char key[512];
    snprintf(key, sizeof key, "%s\t%s", provider, model);
    s_target_t *t = zhashx_lookup(self->targets, key);
    if (t)
        return t;
    //  Any model name a client sends resolves to some target (OpenRouter takes the rest):
    //  the table is bounded so that made-up names cannot grow it (and /metrics) forever.
    if (!declared && zhashx_size(self->targets) >= S_TARGETS_MAX) {
        tg_log_debug("target table full: %s/%s has no breaker", provider, model);
        return NULL;
    }
    t = tg_zalloc(sizeof *t);
    t->provider = tg_strdup(provider);
    t->model = tg_strdup(model);
    t->prov = tg_config_provider_find(self->cfg, provider);
    const tg_provider_t *p = t->prov;
    router_breaker_init(&t->breaker, p ? p->breaker_failures : 0, p ? p->breaker_successes : 1,
                        p ? p->breaker_probes : 1, p ? p->breaker_timeout_ms * 1000 : 1);
    t->said = ROUTER_BREAKER_CLOSED;
    t->price = router_auto_price(self->pricing, model);
    tg_metrics_labels_buf(t->labels, sizeof t->labels, "provider", provider, "model", model, NULL);
    zhashx_insert(self->targets, key, t);
    zlistx_add_end(self->order, t);
    tg_metrics_set(self->metrics, M_STATE, t->labels, 0);
    return t;
}

router_targets_t *
router_targets_new(const tg_config_t *cfg,
                   const tg_pricing_t *pricing,
                   tg_metrics_t *metrics,
                   router_targets_notify_fn *notify,
                   void *arg)
{
    router_targets_t *self = tg_zalloc(sizeof *self);
    self->cfg = cfg;
    self->pricing = pricing;
    self->metrics = metrics;
    self->notify = notify;
    self->arg = arg;
    self->targets = zhashx_new();
    zhashx_set_destructor(self->targets, s_target_free);
    self->order = zlistx_new();
    tg_metrics_declare(metrics, M_STATE, TG_METRIC_GAUGE,
                       "Circuit breaker of each target: 0 closed, 1 half-open, 2 open.", NULL, 0);
    tg_metrics_declare(metrics, M_OPENS, TG_METRIC_COUNTER, "Breaker transitions to open.", NULL,
                       0);
    tg_metrics_declare(metrics, M_CLOSES, TG_METRIC_COUNTER,
                       "Breaker transitions from half-open to closed.", NULL, 0);
    tg_metrics_declare(metrics, M_CALLS, TG_METRIC_COUNTER,
                       "Upstream attempts per target by outcome (success, failure, client_error).",
                       NULL, 0);
    tg_metrics_declare(metrics, M_RETRIES, TG_METRIC_COUNTER,
                       "Upstream attempts per target that were retries.", NULL, 0);
    tg_metrics_declare(metrics, M_TOKENS, TG_METRIC_COUNTER,
                       "Prompt and completion tokens answered per target.", NULL, 0);
    tg_metrics_declare(metrics, M_LATENCY, TG_METRIC_HISTOGRAM,
                       "Time of successful upstream attempts per target.", s_lat_buckets,
                       sizeof s_lat_buckets / sizeof s_lat_buckets[0]);
    tg_metrics_declare(metrics, M_INFLIGHT, TG_METRIC_GAUGE,
                       "Calls sent to each target first and not reported done.", NULL, 0);
    self->nmodels = tg_config_route_count(cfg);
    self->models = tg_zalloc((self->nmodels ? self->nmodels : 1) * sizeof *self->models);
    for (size_t i = 0; i < self->nmodels; i++) {
        s_model_t *m = &self->models[i];
        m->cfg = tg_config_route(cfg, i);
        int s = router_strategy_parse(m->cfg->strategy);
        m->strategy = s < 0 ? ROUTER_STRATEGY_ROUND_ROBIN : (router_strategy_t)s;
        m->targets = tg_zalloc(m->cfg->ntargets * sizeof *m->targets);
        m->cands = tg_zalloc(m->cfg->ntargets * sizeof *m->cands);
        for (size_t k = 0; k < m->cfg->ntargets; k++) {
            m->targets[k] =
                s_target(self, m->cfg->targets[k].provider, m->cfg->targets[k].model, true);
            m->cands[k].weight = m->cfg->targets[k].weight;
        }
    }
    return self;
}

void
router_targets_destroy(router_targets_t **self_p)
{
    router_targets_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nmodels; i++) {
        free(self->models[i].targets);
        free(self->models[i].cands);
    }
    free(self->models);
    zlistx_destroy(&self->order);
    zhashx_destroy(&self->targets);
    free(self);
    *self_p = NULL;
}

//  Publishes the breaker's state if it moved since last said.
static void
s_sync(router_targets_t *self, s_target_t *t, int64_t now)
{
    router_breaker_state_t st = router_breaker_state(&t->breaker, now);
    if (st == t->said)
        return;
    const char *from = router_breaker_name(t->said);
    t->said = st;
    tg_metrics_set(self->metrics, M_STATE, t->labels,
                   st == ROUTER_BREAKER_OPEN        ? 2
                   : st == ROUTER_BREAKER_HALF_OPEN ? 1
                                                    : 0);
    if (st == ROUTER_BREAKER_OPEN)
        tg_metrics_add(self->metrics, M_OPENS, t->labels, 1);
    if (st == ROUTER_BREAKER_CLOSED)
        tg_metrics_add(self->metrics, M_CLOSES, t->labels, 1);
    int64_t retry_at = router_breaker_retry_at(&t->breaker);
    int64_t retry_epoch = retry_at ? tg_now_us() + (retry_at - now) : 0;
    tg_log_info("breaker provider=%s model=%s from=%s to=%s failures=%d", t->provider, t->model,
                from, router_breaker_name(st), t->breaker.failures);
    if (self->notify)
        self->notify(t->provider, t->model, from, router_breaker_name(st),
                     (uint64_t)t->breaker.failures, retry_epoch, self->arg);
}

static bool
s_usable(router_targets_t *self, s_target_t *t, int64_t now)
{
    if (!t->prov || !t->prov->enabled)
        return false;
    bool ok = router_breaker_allows(&t->breaker, now);
    s_sync(self, t, now);
    return ok;
}

//  A plan under construction.
typedef struct {
    s_target_t *chain[S_CHAIN_MAX];  //  targets in the order they are tried
    size_t n;                        //  entries in chain
    size_t seen;                     //  targets considered (enabled ones)
    int64_t retry_at;                //  earliest half-open time of those left out (0 = none)
} s_plan_t;

static void
s_plan_add(router_targets_t *self, s_plan_t *plan, s_target_t *t, int64_t now)
{
    if (!t->prov || !t->prov->enabled)
        return;
    plan->seen++;
    for (size_t i = 0; i < plan->n; i++)
        if (plan->chain[i] == t)
            return;
    if (!s_usable(self, t, now)) {
        int64_t at = router_breaker_retry_at(&t->breaker);
        if (!at)
            at = now + 1000000;  //  half-open, every probe out: try again in a second
        if (!plan->retry_at || at < plan->retry_at)
            plan->retry_at = at;
        t->skipped++;
        return;
    }
    if (plan->n < S_CHAIN_MAX)
        plan->chain[plan->n++] = t;
}

static s_model_t *
s_model_find(router_targets_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->nmodels; i++)
        if (strcmp(self->models[i].cfg->name, name) == 0)
            return &self->models[i];
    return NULL;
}

//  A name after its aliases (NULL when they loop).
static const char *
s_unalias(const tg_config_t *cfg, const char *model)
{
    for (int depth = 0; depth <= S_ALIAS_MAX; depth++) {
        const char *target = tg_config_alias(cfg, model);
        if (!target)
            return model;
        model = target;
    }
    return NULL;
}

static void s_plan_name(router_targets_t *self,
                        s_plan_t *plan,
                        const char *name,
                        const char *route,
                        int depth,
                        int64_t now);

//  A declared model: its strategy's pick, its other targets in order, then its fallbacks.
static void
s_plan_model(
    router_targets_t *self, s_plan_t *plan, s_model_t *m, const char *route, int depth, int64_t now)
{
    size_t n = m->cfg->ntargets;
    for (size_t k = 0; k < n; k++) {
        s_target_t *t = m->targets[k];
        m->cands[k].allowed = t->prov && t->prov->enabled && s_usable(self, t, now);
        m->cands[k].inflight = t->inflight;
        m->cands[k].ewma_us = t->ewma_us;
        m->cands[k].price = t->price;
    }
    int first = router_strategy_pick(m->strategy, m->cands, n, &m->rr);
    if (first >= 0)
        s_plan_add(self, plan, m->targets[first], now);
    for (size_t k = 0; k < n; k++)
        if ((int)k != first)
            s_plan_add(self, plan, m->targets[k], now);
    for (size_t f = 0; f < m->cfg->nfallbacks && depth < S_DEPTH_MAX; f++)
        s_plan_name(self, plan, m->cfg->fallbacks[f], route, depth + 1, now);
}

//  Any model name: declared, or resolved to one target by the G4 rules.
static void
s_plan_name(router_targets_t *self,
            s_plan_t *plan,
            const char *name,
            const char *route,
            int depth,
            int64_t now)
{
    const char *real = s_unalias(self->cfg, name);
    s_model_t *m = real ? s_model_find(self, real) : NULL;
    if (m) {
        s_plan_model(self, plan, m, route, depth, now);
        return;
    }
    router_route_t r;
    s_target_t *t = NULL;
    if (router_resolve_cls(self->cfg, self->pricing, name, NULL, route, NULL, &r) == TG_OK)
        t = s_target(self, r.provider, r.model, false);
    if (t)
        s_plan_add(self, plan, t, now);
    router_route_fini(&r);
}

int
router_targets_plan(router_targets_t *self,
                    const char *model,
                    const char *agent,
                    const char *route,
                    const char *cls,
                    int64_t now,
                    router_route_t *out,
                    char **alts_p,
                    uint64_t *retry_after_s)
{
    *alts_p = NULL;
    *retry_after_s = 0;
    memset(out, 0, sizeof *out);
    const char *name = model && *model   ? model
                       : agent && *agent ? tg_config_agent_model(self->cfg, agent)
                                         : NULL;
    const char *real = name ? s_unalias(self->cfg, name) : NULL;
    s_model_t *m = real ? s_model_find(self, real) : NULL;
    s_plan_t plan = {0};
    if (m) {
        s_plan_model(self, &plan, m, route, 0, now);
        if (!plan.seen) {
            out->status = 404;
            out->param = tg_strdup("model");
            out->error =
                tg_strfmt("The model `%s` has no target whose provider is configured", name);
            return TG_NOTFOUND;
        }
    } else {
        int rc = router_resolve_healthy(self->cfg, self->pricing, model, agent, route, cls,
                                        s_healthy, self, out);
        if (rc != TG_OK)
            return rc;
        s_target_t *t = s_target(self, out->provider, out->model, false);
        if (!t)
            return TG_OK;  //  the table is full: called without a breaker
        s_plan_add(self, &plan, t, now);
    }
    if (!plan.n) {
        router_route_fini(out);
        int64_t wait = plan.retry_at > now ? plan.retry_at - now : 0;
        *retry_after_s = (uint64_t)((wait + 999999) / 1000000);
        if (*retry_after_s < 1)
            *retry_after_s = 1;
        out->status = 503;
        out->error = tg_strfmt("every target of the model `%s` is unavailable (circuit breaker "
                               "open); retry in %llu s",
                               name ? name : "?", (unsigned long long)*retry_after_s);
        return TG_AGAIN;
    }
    s_target_t *first = plan.chain[0];
    router_breaker_take(&first->breaker, now);
    first->inflight++;
    if (m) {
        free(out->provider);
        free(out->model);
        out->provider = tg_strdup(first->provider);
        out->model = tg_strdup(first->model);
    }
    if (plan.n > 1) {
        tg_buf_t b;
        tg_buf_init(&b, 1u << 16);
        for (size_t i = 1; i < plan.n; i++) {
            tg_buf_puts(&b, plan.chain[i]->provider);
            tg_buf_puts(&b, "\t");
            tg_buf_puts(&b, plan.chain[i]->model);
            tg_buf_puts(&b, "\n");
        }
        size_t len;
        *alts_p = tg_buf_take(&b, &len);
    }
    return TG_OK;
}

void
router_targets_release(router_targets_t *self, const char *provider, const char *model)
{
    char key[512];
    snprintf(key, sizeof key, "%s\t%s", provider, model);
    s_target_t *t = zhashx_lookup(self->targets, key);
    if (!t)
        return;
    if (t->inflight)
        t->inflight--;
    if (t->breaker.state == ROUTER_BREAKER_HALF_OPEN && t->breaker.probes > t->breaker.successes)
        t->breaker.probes--;
}

static void
s_outcome(router_targets_t *self,
          s_target_t *t,
          char kind,
          uint64_t us,
          uint64_t tokens,
          unsigned flags,
          int64_t now)
{
    if ((flags & 1) && t->inflight)
        t->inflight--;
    if (kind == 'c')
        return;  //  cut before any attempt ended: says nothing of the target
    t->calls++;
    if (flags & 2) {
        t->retries++;
        tg_metrics_add(self->metrics, M_RETRIES, t->labels, 1);
    }
    if (flags & 4)
        t->fallbacks++;
    char labels[700];
    snprintf(labels, sizeof labels, "%s,outcome=\"%s\"", t->labels,
             kind == 'o'   ? "success"
             : kind == 'f' ? "failure"
                           : "client_error");
    tg_metrics_add(self->metrics, M_CALLS, labels, 1);
    if (kind == 'n') {
        t->client_errors++;
        router_breaker_record(&t->breaker, true, now);
    } else if (kind == 'f') {
        t->failures++;
        router_breaker_record(&t->breaker, false, now);
    } else {
        t->successes++;
        t->tokens += tokens;
        tg_metrics_add(self->metrics, M_TOKENS, t->labels, (double)tokens);
        tg_metrics_observe(self->metrics, M_LATENCY, t->labels, (double)us / 1e6);
        t->ewma_us = t->ewma_us ? (t->ewma_us * (S_EWMA_WEIGHT - 1) + us) / S_EWMA_WEIGHT : us;
        if (!t->ewma_us)
            t->ewma_us = 1;
        uint64_t v = us / 100;
        t->lat_ms10[t->lat_at] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
        t->lat_at = (t->lat_at + 1) % S_LAT_RING;
        if (t->nlat < S_LAT_RING)
            t->nlat++;
        router_breaker_record(&t->breaker, true, now);
    }
    s_sync(self, t, now);
}

void
router_targets_outcomes(router_targets_t *self, const char *text, int64_t now)
{
    for (const char *at = text; at && *at;) {
        const char *nl = strchr(at, '\n');
        size_t len = nl ? (size_t)(nl - at) : strlen(at);
        char line[700];
        if (len < sizeof line) {
            memcpy(line, at, len);
            line[len] = 0;
            char *f[8];  //  6 fields, then gzip bytes before / after (optional)
            int nf = 0;
            for (char *p = line; nf < 8; nf++) {
                f[nf] = p;
                char *tab = strchr(p, '\t');
                if (!tab) {
                    nf++;
                    break;
                }
                *tab = 0;
                p = tab + 1;
            }
            s_target_t *t = nf >= 6 && *f[0] && *f[1] && f[2][0] && strchr("ofnc", f[2][0])
                                ? s_target(self, f[0], f[1], false)
                                : NULL;
            if (t) {
                if (nf == 8) {
                    t->gz_in += strtoull(f[6], NULL, 10);
                    t->gz_out += strtoull(f[7], NULL, 10);
                }
                s_outcome(self, t, f[2][0], strtoull(f[3], NULL, 10), strtoull(f[4], NULL, 10),
                          (unsigned)strtoul(f[5], NULL, 10), now);
            } else
                tg_log_debug("outcome line skipped: %.*s", (int)len, at);
        }
        at = nl ? nl + 1 : NULL;
    }
}

//  A health check is due: the provider asks for them, the period passed, and the breaker
//  lets a call through (an open one waits for its timeout; a half-open one counts a probe).
static void
s_health(
    router_targets_t *self, s_target_t *t, int64_t now, router_targets_probe_fn *probe, void *arg)
{
    (void)self;
    const tg_provider_t *p = t->prov;
    if (!probe || !p || !p->enabled || p->health_check_ms <= 0)
        return;
    if (t->checked_us && now - t->checked_us < p->health_check_ms * 1000)
        return;
    if (!router_breaker_allows(&t->breaker, now))
        return;
    t->checked_us = now;
    if (!probe(t->provider, t->model, arg))
        return;  //  no worker has room: next period
    router_breaker_take(&t->breaker, now);
    t->inflight++;  //  its first outcome gives it back, as for a call
    t->checks++;
}

void
router_targets_tick(router_targets_t *self, int64_t now, router_targets_probe_fn *probe, void *arg)
{
    for (s_target_t *t = zlistx_first(self->order); t; t = zlistx_next(self->order)) {
        s_sync(self, t, now);
        s_health(self, t, now, probe, arg);
        s_sync(self, t, now);
        tg_metrics_set(self->metrics, M_INFLIGHT, t->labels, (double)t->inflight);
    }
}

static int
s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

//  Latency percentiles of the recent successful attempts, in ms.
static json_t *
s_latency(const s_target_t *t)
{
    if (!t->nlat)
        return json_pack("{sn sn sn sI}", "p50_ms", "p90_ms", "p99_ms", "samples", (json_int_t)0);
    uint32_t v[S_LAT_RING];
    memcpy(v, t->lat_ms10, t->nlat * sizeof v[0]);
    qsort(v, t->nlat, sizeof v[0], s_cmp_u32);
    double q[3] = {0.5, 0.9, 0.99};
    double r[3];
    for (int i = 0; i < 3; i++) {
        size_t k = (size_t)(q[i] * (double)t->nlat);
        r[i] = (double)v[k < t->nlat ? k : t->nlat - 1] / 10.0;
    }
    return json_pack("{sf sf sf sI}", "p50_ms", r[0], "p90_ms", r[1], "p99_ms", r[2], "samples",
                     (json_int_t)t->nlat);
}

static json_t *
s_target_json(router_targets_t *self, s_target_t *t, int64_t now)
{
    router_breaker_state_t st = router_breaker_state(&t->breaker, now);
    int64_t retry_at = router_breaker_retry_at(&t->breaker);
    const tg_price_t *price = tg_pricing_find(self->pricing, t->model);
    bool enabled = t->prov && t->prov->enabled;
    const char *health = !enabled                         ? "disabled"
                         : st == ROUTER_BREAKER_OPEN      ? "unhealthy"
                         : st == ROUTER_BREAKER_HALF_OPEN ? "recovering"
                                                          : "healthy";
    json_t *br =
        json_pack("{ss sI sI sI si si sI}", "state", router_breaker_name(st), "opens",
                  (json_int_t)t->breaker.opens, "closes", (json_int_t)t->breaker.closes,
                  "consecutive_failures", (json_int_t)t->breaker.failures, "failure_threshold",
                  t->breaker.failure_threshold, "success_threshold", t->breaker.success_threshold,
                  "timeout_ms", (json_int_t)(t->breaker.timeout_us / 1000));
    json_object_set_new(br, "retry_in_ms",
                        retry_at ? json_integer((retry_at - now) / 1000) : json_null());
    json_t *o = json_pack("{ss ss ss so}", "provider", t->provider, "model", t->model, "health",
                          health, "breaker", br);
    json_object_set_new(
        o, "price",
        price ? json_pack("{sf sf}", "input_per_1m", price->input, "output_per_1m", price->output)
              : json_null());
    json_object_set_new(
        o, "stats",
        json_pack("{sI sI sI sI sI sI sI sI sI}", "calls", (json_int_t)t->calls, "successes",
                  (json_int_t)t->successes, "failures", (json_int_t)t->failures, "client_errors",
                  (json_int_t)t->client_errors, "retries", (json_int_t)t->retries, "fallbacks",
                  (json_int_t)t->fallbacks, "tokens", (json_int_t)t->tokens, "in_flight",
                  (json_int_t)t->inflight, "skipped_open", (json_int_t)t->skipped));
    json_object_set_new(json_object_get(o, "stats"), "health_checks",
                        json_integer((json_int_t)t->checks));
    json_object_set_new(
        o, "gzip",
        json_pack("{sI sI}", "bytes_in", (json_int_t)t->gz_in, "bytes_out", (json_int_t)t->gz_out));
    json_object_set_new(o, "latency", s_latency(t));
    json_object_set_new(o, "ewma_ms",
                        t->ewma_us ? json_real((double)t->ewma_us / 1000.0) : json_null());
    return o;
}

char *
router_targets_json(router_targets_t *self, int64_t now)
{
    json_t *provs = json_array();
    for (size_t i = 0; i < tg_config_provider_count(self->cfg); i++) {
        const tg_provider_t *p = tg_config_provider(self->cfg, i);
        json_t *targets = json_array();
        for (s_target_t *t = zlistx_first(self->order); t; t = zlistx_next(self->order))
            if (t->prov == p)
                json_array_append_new(targets, s_target_json(self, t, now));
        json_t *br =
            p->breaker_failures
                ? json_pack("{ss si si si sI}", "profile",
                            p->breaker                       ? p->breaker
                            : strcmp(p->name, "openai") == 0 ? "openai"
                                                             : "default",
                            "failure_threshold", p->breaker_failures, "success_threshold",
                            p->breaker_successes, "half_open_max_attempts", p->breaker_probes,
                            "timeout_ms", (json_int_t)p->breaker_timeout_ms)
                : json_pack("{ss sb}", "profile", p->breaker ? p->breaker : "off", "enabled", 0);
        json_array_append_new(provs,
                              json_pack("{ss ss ss sb so so}", "name", p->name, "kind",
                                        p->kind == TG_PROVIDER_ANTHROPIC ? "anthropic" : "openai",
                                        "base_url", p->base_url ? p->base_url : "", "enabled",
                                        p->enabled, "breaker", br, "targets", targets));
    }
    json_t *models = json_array();
    for (size_t i = 0; i < self->nmodels; i++) {
        const tg_route_t *r = self->models[i].cfg;
        json_t *ts = json_array(), *fb = json_array();
        for (size_t k = 0; k < r->ntargets; k++)
            json_array_append_new(ts, json_pack("{ss ss si}", "provider", r->targets[k].provider,
                                                "model", r->targets[k].model, "weight",
                                                r->targets[k].weight));
        for (size_t k = 0; k < r->nfallbacks; k++)
            json_array_append_new(fb, json_string(r->fallbacks[k]));
        json_array_append_new(models, json_pack("{ss ss so so}", "name", r->name, "strategy",
                                                r->strategy, "targets", ts, "fallbacks", fb));
    }
    json_t *root = json_pack("{ss so so}", "object", "providers", "data", provs, "models", models);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}
