//  tg_keystore.h - virtual API keys (spec K1) in one LMDB environment (`keys.dir`, default
//  <data_dir>/keys). The router is its one writer; every ingest opens it read-only and
//  checks each request's key in its own read txn, so a change is seen by the next request.
//
//  A key is "sk-tg-" + 64 hex (256 random bits), shown once. Only its keyed BLAKE2b-256
//  (crypto_generichash with the server secret, tg_keys_secret) is stored: db `hashes`
//  maps the hash to the key id, db `keys` maps the id to the record (JSON).
#ifndef TG_KEYSTORE_H
#define TG_KEYSTORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_config.h"
#include "tg_limits.h"

#define TG_KEYSTORE_HASH 32    //  bytes of a key's hash
#define TG_KEYSTORE_SECRET 32  //  bytes of the server secret
#define TG_KEYSTORE_PREFIX "sk-tg-"
#define TG_KEYSTORE_KEY_LEN 70  //  "sk-tg-" + 64 hex
#define TG_KEYSTORE_ID_LEN 28   //  "key_" + 24 hex

typedef struct tg_keystore tg_keystore_t;

//  One virtual key as stored (never the key itself).
typedef struct {
    char id[TG_KEYSTORE_ID_LEN + 1];  //  "key_<24 hex>"
    char *name;                       //  label, or NULL
    char *owner;                      //  owner (user), or NULL
    char *org;                        //  organization, or NULL
    char *project;                    //  project, or NULL
    char *agent;                      //  agent id, or NULL
    char *tier;                       //  tier name (free | pro | enterprise)
    char **models;                    //  allowed models (none = every model)
    size_t nmodels;                   //  entries in models
    int64_t limits[TG_LIM_N];         //  overrides of the tier's limits; -1 = inherit
    double daily_usd;                 //  the key's budget per UTC day; 0 = none
    double monthly_usd;               //  the key's budget per UTC month; 0 = none
    int64_t created;                  //  epoch s
    int64_t expires;                  //  epoch s; 0 = never
    int64_t revoked;                  //  epoch s; 0 = live
    int64_t rotated;                  //  epoch s of the last rotation; 0 = never
    char hint[16];                    //  "sk-tg-…abcd": enough to recognise, not to use
    uint8_t hash[TG_KEYSTORE_HASH];   //  keyed BLAKE2b of the key
} tg_keyrec_t;

//  The store's directory: keys.dir, else <data_dir>/keys. Caller frees.
char *tg_keystore_dir(const tg_config_t *cfg);
//  Opens the environment in `dir` (the writer creates it). TG_OK and *self_p; TG_NOTFOUND
//  (read-only, not logged) when the writer has not created it yet; TG_ERR (logged).
int tg_keystore_open(const char *dir, bool readonly, tg_keystore_t **self_p);
//  Closes it; *self_p = NULL. NULL-safe.
void tg_keystore_destroy(tg_keystore_t **self_p);

//  Writes a fresh key ("sk-tg-" + 64 hex + NUL) into key[TG_KEYSTORE_KEY_LEN + 1].
void tg_keystore_key_new(char *key);
//  Writes a fresh key id into id[TG_KEYSTORE_ID_LEN + 1].
void tg_keystore_id_new(char *id);
//  The keyed BLAKE2b-256 of `key` under `secret`.
void tg_keystore_hash(const uint8_t secret[TG_KEYSTORE_SECRET],
                      const char *key,
                      uint8_t out[TG_KEYSTORE_HASH]);

//  The record whose key hashes to `hash`: TG_OK and *rec (tg_keyrec_fini), TG_NOTFOUND, TG_ERR.
int tg_keystore_find(tg_keystore_t *self, const uint8_t hash[TG_KEYSTORE_HASH], tg_keyrec_t *rec);
//  The hot path of a reader: as tg_keystore_find, but *rec_p is borrowed, valid until the
//  next call on this store. The store keeps the records it decoded (by hash, a few hundred)
//  and decodes again only when the stored bytes changed, so a check costs an LMDB read txn
//  and two lookups, not a JSON parse. TG_OK, TG_NOTFOUND or TG_ERR.
int tg_keystore_lookup(tg_keystore_t *self,
                       const uint8_t hash[TG_KEYSTORE_HASH],
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

//  Sets every field of rec to empty (limits -1). Call before filling it.
void tg_keyrec_init(tg_keyrec_t *rec);
//  Frees what rec holds; it can be reused after tg_keyrec_init.
void tg_keyrec_fini(tg_keyrec_t *rec);
//  The record as the admin API shows it (no hash). Caller decrefs.
json_t *tg_keyrec_json(const tg_keyrec_t *rec);
//  Applies the admin API fields of `body` (create or update) to rec, checking each (`tier`
//  against `tiers`): TG_OK,
//  or TG_INVALID with *param_p naming the field (static) and *msg_p (caller frees); rec may
//  then be half-changed and must be dropped. Unknown fields are refused.
int tg_keyrec_apply(tg_keyrec_t *rec,
                    const json_t *body,
                    const tg_tiers_t *tiers,
                    const char **param_p,
                    char **msg_p);
//  Applies {"daily_usd","monthly_usd"} (number > 0, or null = none) to *daily / *monthly.
//  TG_OK, or TG_INVALID with *param_p ("budgets.<field>") and *msg_p (caller frees).
int tg_budget_fields_apply(
    const json_t *v, double *daily, double *monthly, const char **param_p, char **msg_p);
//  True if `model` (as asked) or `target` (its alias target, may be NULL) is allowed.
bool tg_keyrec_allows(const tg_keyrec_t *rec, const char *model, const char *target);

#endif
