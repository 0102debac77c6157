//  router_keys.h - the admin API of virtual keys (spec K1): /v1/keys create, list, get,
//  update, revoke, rotate. The router is the key store's one writer; ingest reads it.
#ifndef ROUTER_KEYS_H
#define ROUTER_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "tg_config.h"
#include "tg_frame.h"
#include "tg_keystore.h"

typedef struct router_keys router_keys_t;

//  Opens (creating) the key store and reads the server secret. NULL (logged) on failure.
router_keys_t *router_keys_new(const tg_config_t *cfg);
//  Closes the store; *self_p = NULL. NULL-safe.
void router_keys_destroy(router_keys_t **self_p);
//  The key store (borrowed: valid until router_keys_destroy), for the budgets kept in it.
tg_keystore_t *router_keys_store(router_keys_t *self);
//  /v1/keys...: true when `q` is one (*status_p and *body_p, owned, set), else false.
//  Only the master key reaches these routes (ingest answers 403 to a virtual key).
bool router_keys_query(router_keys_t *self,
                       const tg_fr_query_t *q,
                       const char *body,
                       size_t len,
                       int64_t now_us,
                       int *status_p,
                       char **body_p);

#endif
