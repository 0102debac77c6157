//  tg_keystore.h - virtual API keys (spec K1) in one LMDB environment (`keys.dir`, default
//  <data_dir>/keys). The router is its one writer; every ingest opens it read-only and
//  checks each request's key in its own read txn, so a change is seen by the next request.
//
//  Db `hashes` maps a key's keyed hash (tg_keyrec_hash) to its id, db `keys` maps the id to
//  the record (JSON, tg_keyrec_encode); `budgets` and `spend` hold the router's budgets.
#ifndef TG_KEYSTORE_H
#define TG_KEYSTORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_config.h"
#include "tg_keyrec.h"

typedef struct tg_keystore tg_keystore_t;

//  The store's directory: keys.dir, else <data_dir>/keys. Caller frees.
char *tg_keystore_dir(const tg_config_t *cfg);
//  Opens the environment in `dir` (the writer creates it). TG_OK and *self_p; TG_NOTFOUND
//  (read-only, not logged) when the writer has not created it yet; TG_ERR (logged).
int tg_keystore_open(const char *dir, bool readonly, tg_keystore_t **self_p);
//  Closes it; *self_p = NULL. NULL-safe.
void tg_keystore_destroy(tg_keystore_t **self_p);

//  The record whose key hashes to `hash`, for a reader's every request: *rec_p is borrowed,
//  valid until the next call on this store. The store keeps the records it decoded (by hash, a few
//  hundred) and decodes again only when the stored bytes changed, so a check costs an LMDB read txn
//  and two lookups, not a JSON parse. TG_OK, TG_NOTFOUND or TG_ERR.
int tg_keystore_lookup(tg_keystore_t *self,
                       const uint8_t hash[TG_KEYREC_HASH],
                       const tg_keyrec_t **rec_p);
//  The record `id`: TG_OK and *rec, TG_NOTFOUND, TG_ERR.
int tg_keystore_get(tg_keystore_t *self, const char *id, tg_keyrec_t *rec);
//  Stores rec (overwriting the record of its id); when old_hash differs from rec->hash the
//  old hash stops finding it. One write txn. TG_OK or TG_ERR.
int tg_keystore_put(tg_keystore_t *self, const tg_keyrec_t *rec, const uint8_t *old_hash);
//  Every record, as a JSON array of tg_keyrec_json objects, oldest id first. Caller decrefs.
json_t *tg_keystore_list(tg_keystore_t *self);

//  Other records the router keeps beside the keys: JSON text by name.
typedef enum {
    TG_KEYSTORE_BUDGETS,  //  "org:<name>" | "project:<name>" -> {"daily_usd","monthly_usd"}
    TG_KEYSTORE_SPEND,    //  scope -> spend of the current day and month (router_budget.c)
} tg_keystore_kv_t;

//  Stores name -> text (text NULL: deletes it). TG_OK or TG_ERR.
int
tg_keystore_kv_put(tg_keystore_t *self, tg_keystore_kv_t db, const char *name, const char *text);
//  Stores n records name[i] -> text[i] in one write txn (one disk sync). TG_OK or TG_ERR.
int tg_keystore_kv_put_many(tg_keystore_t *self,
                            tg_keystore_kv_t db,
                            const char *const *names,
                            const char *const *texts,
                            size_t n);
//  Calls fn(name, text, len, arg) for each record of db in name order (views valid during the
//  call; text not NUL-terminated). TG_OK or TG_ERR.
typedef void(tg_keystore_kv_fn)(const char *name, const char *text, size_t len, void *arg);
int tg_keystore_kv_each(tg_keystore_t *self, tg_keystore_kv_t db, tg_keystore_kv_fn *fn, void *arg);

#endif
