//  tg_config_routes.h - the `models:` section and breaker profiles; used by tg_config.c only.
#ifndef TG_CONFIG_ROUTES_H
#define TG_CONFIG_ROUTES_H

#include "tg_config.h"

#include <yaml.h>

//  Appends the models of a `models:` mapping to *routes_p. TG_INVALID (printed, naming the
//  key) for a bad entry: unknown strategy, empty or missing targets, bad weight, unknown key.
int
tg_config_routes_parse(yaml_document_t *doc, yaml_node_t *node, tg_route_t **routes_p, size_t *n_p);
//  Checks that every target names a provider of `provs`, and fills each provider's breaker
//  thresholds from its profile where the file left them unset. TG_INVALID (printed) if not.
int tg_config_routes_check(tg_provider_t *provs,
                           size_t nprovs,
                           const tg_route_t *routes,
                           size_t nroutes);
//  Frees the routes array and everything in it.
void tg_config_routes_free(tg_route_t *routes, size_t n);
//  True if `name` is a strategy tollgate knows.
bool tg_config_strategy_known(const char *name);

#endif
