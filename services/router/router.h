//  router.h - the router: model resolution, dispatch to the worker pool, the bus proxy.
#ifndef ROUTER_H
#define ROUTER_H

#include <event2/event.h>

#include "tg_config.h"

typedef struct router router_t;

//  Binds the inbox and the job endpoint, starts the bus proxy, loads the pricing
//  catalogue. NULL (logged) when a socket cannot bind or the catalogue cannot load.
router_t *router_new(const tg_config_t *cfg);
//  Stops the proxy, closes sockets, frees; *self_p = NULL. NULL-safe.
void router_destroy(router_t **self_p);
//  Registers the router's sockets and timers on `base`.
void router_attach(router_t *self, struct event_base *base);

#endif
