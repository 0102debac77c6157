//  router_targets.h - the targets of every model (spec P3, P4, P6): which one a call goes
//  to first and which follow if it fails, each target's breaker, and what each has done.
#ifndef ROUTER_TARGETS_H
#define ROUTER_TARGETS_H

#include "router_resolve.h"
#include "tg_config.h"
#include "tg_metrics.h"
#include "tg_pricing.h"

#include <stdint.h>

typedef struct router_targets router_targets_t;

//  Told of each breaker transition: the target, the states ("closed" ...), the failures
//  that opened it, and for an open breaker the epoch µs it turns half-open (else 0).
typedef void(router_targets_notify_fn)(const char *provider,
                                       const char *model,
                                       const char *from,
                                       const char *to,
                                       uint64_t failures,
                                       int64_t retry_at_us,
                                       void *arg);

//  Builds the declared models of `cfg` (borrowed, as are pricing and metrics, for the
//  object's life); `notify` (may be NULL) hears breaker transitions.
router_targets_t *router_targets_new(const tg_config_t *cfg,
                                     const tg_pricing_t *pricing,
                                     tg_metrics_t *metrics,
                                     router_targets_notify_fn *notify,
                                     void *arg);
//  Frees it; *self_p = NULL. NULL-safe.
void router_targets_destroy(router_targets_t **self_p);

//  Plans a call to `model` at monotonic `now`: a declared model's first target by its
//  strategy, then its other targets, then its fallbacks' targets; any other model as
//  router_resolve_cls says. Targets whose breaker is open are left out. TG_OK: out's
//  provider/model is the first target, *alts_p (owned, NULL = none) the rest as
//  "<provider>\t<model>\n" lines. TG_AGAIN: every target is open; *retry_after_s = seconds
//  until the first turns half-open. Else as router_resolve_cls (out->status, error).
int router_targets_plan(router_targets_t *self,
                        const char *model,
                        const char *agent,
                        const char *route,
                        const char *cls,
                        int64_t now,
                        router_route_t *out,
                        char **alts_p,
                        uint64_t *retry_after_s);
//  A planned call that will not reach a worker (a cache hit, a coalesced call, a queued call
//  dropped): its first target's count of calls in flight, and a half-open probe, go back.
void router_targets_release(router_targets_t *self, const char *provider, const char *model);
//  Takes a LOAD's outcome lines ("<provider>\t<model>\t<o|f|n|c>\t<µs>\t<tokens>\t<flags>"):
//  breakers, counters, latency. Lines it cannot read are skipped.
void router_targets_outcomes(router_targets_t *self, const char *text, int64_t now);
//  Sends a health check to a target: true if it went (then its outcome comes on a LOAD).
typedef bool(router_targets_probe_fn)(const char *provider, const char *model, void *arg);
//  Publishes open -> half-open transitions due at `now`, sets the gauges, and sends the
//  health checks due (targets of providers with health_check_ms whose breaker lets a call
//  through: closed, or a half-open probe left) through `probe` (may be NULL).
void
router_targets_tick(router_targets_t *self, int64_t now, router_targets_probe_fn *probe, void *arg);
//  GET /v1/providers: providers, their targets (models, prices, health, breaker state,
//  counters, latency percentiles), and the declared models. Caller frees.
char *router_targets_json(router_targets_t *self, int64_t now);

#endif
