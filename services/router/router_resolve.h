//  router_resolve.h - model resolution (spec G4): which provider, which upstream model.
#ifndef ROUTER_RESOLVE_H
#define ROUTER_RESOLVE_H

#include "tg_config.h"
#include "tg_pricing.h"

typedef struct {
    char *provider;  //  provider name (config), owned
    char *model;     //  upstream model name, prefix stripped, owned
    int status;      //  HTTP status of the failure (400, 404), 0 on success
    char *error;     //  message of the failure, owned
    char *param;     //  OpenAI error param ("model"), owned, may be NULL
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
//  Frees the strings of a route and zeroes it.
void router_route_fini(router_route_t *route);

#endif
