//  router_resolve.h - model resolution (spec G4): which provider, which upstream model.
#ifndef ROUTER_RESOLVE_H
#define ROUTER_RESOLVE_H

#include "tg_config.h"
#include "tg_pricing.h"

typedef struct {
    char *provider;   //  provider name (config), owned
    char *model;      //  upstream model name, prefix stripped, owned
    int status;       //  HTTP status of the failure (400, 404), 0 on success
    char *error;      //  message of the failure, owned
    char *param;      //  OpenAI error param ("model"), owned, may be NULL
    const char *cls;  //  model "auto": the class that chose the model (static), else NULL
} router_route_t;

//  Resolves `model` (NULL or "" = the agent's default) for `agent` (may be NULL):
//  aliases, then "<provider>/" prefixes, then claude*/gpt* rules, then the catalogue and
//  configured provider model lists, else OpenRouter. TG_OK with provider/model set;
//  TG_INVALID (no model, status 400) or TG_NOTFOUND (no enabled provider, 404) with error set.
int router_resolve(const tg_config_t *cfg,
                   const tg_pricing_t *pricing,
                   const char *model,
                   const char *agent,
                   router_route_t *out);
//  As router_resolve; model "auto" (asked, the agent's default, or an alias's target) picks
//  the cheapest model of class `cls` ("simple" | "medium" | "complex"; NULL or unknown =
//  medium) that resolves to an enabled provider: see router_auto_price.
int router_resolve_cls(const tg_config_t *cfg,
                       const tg_pricing_t *pricing,
                       const char *model,
                       const char *agent,
                       const char *route,
                       const char *cls,
                       router_route_t *out);
//  Whether the target (provider, upstream model) can be called now (its breaker allows it).
typedef bool(router_healthy_fn)(void *arg, const char *provider, const char *model);
//  As router_resolve_cls; model "auto" picks only among candidates `healthy` says can be
//  called (spec G5: "among healthy targets"), and only when none can, as if all could (the
//  breaker then answers 503). healthy NULL: every candidate is healthy.
int router_resolve_healthy(const tg_config_t *cfg,
                           const tg_pricing_t *pricing,
                           const char *model,
                           const char *agent,
                           const char *route,
                           const char *cls,
                           router_healthy_fn *healthy,
                           void *healthy_arg,
                           router_route_t *out);
//  The price "auto" ranks a model by: USD per 1M tokens of a typical call, 70 % input and
//  30 % output (the split spec A1 uses when only a total is known). Unknown models rank at
//  the catalogue's default price.
double router_auto_price(const tg_pricing_t *pricing, const char *model);
//  Frees the strings of a route and zeroes it.
void router_route_fini(router_route_t *route);

#endif
