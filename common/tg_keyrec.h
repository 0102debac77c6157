//  tg_keyrec.h - a virtual API key (spec K1) and its record: the key itself (shown once, never
//  stored), its keyed hash, the record's JSON forms and the admin API's fields.
//
//  A key is "sk-tg-" + 64 hex (256 random bits). Only its BLAKE2b-256 keyed with the server
//  secret (crypto_generichash; the secret from tg_keys_secret) is kept, in tg_keystore.
#ifndef TG_KEYREC_H
#define TG_KEYREC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_limits.h"

#define TG_KEYREC_HASH 32    //  bytes of a key's hash
#define TG_KEYREC_SECRET 32  //  bytes of the server secret
#define TG_KEYREC_PREFIX "sk-tg-"
#define TG_KEYREC_KEY_LEN 70  //  "sk-tg-" + 64 hex
#define TG_KEYREC_ID_LEN 28   //  "key_" + 24 hex

//  Roles of a key (spec A7), as bits; QUERY frames carry them (`roles`). The master key has
//  them all and sees every organization; a virtual key sees only its own organization.
enum {
    TG_ROLE_METRICS_READ = 1,   //  GET /api/v1/metrics*, /api/v1/traces*
    TG_ROLE_METRICS_QUERY = 2,  //  POST /api/v1/metrics/query
    TG_ROLE_ADMIN = 4,          //  everything of its organization
    TG_ROLE_EVENTS_WRITE = 8,   //  POST /api/v1/events*
};
#define TG_ROLE_ALL 15u
#define TG_ROLE_DEFAULT (TG_ROLE_METRICS_READ | TG_ROLE_EVENTS_WRITE)  //  a key made without roles
#define TG_ORG_DEFAULT "default"  //  the organization of a key made without one

//  One virtual key as stored (never the key itself).
typedef struct {
    char id[TG_KEYREC_ID_LEN + 1];  //  "key_<24 hex>"
    char *name;                     //  label, or NULL
    char *owner;                    //  owner (user), or NULL
    char *org;                      //  organization, or NULL
    char *project;                  //  project, or NULL
    char *agent;                    //  agent id, or NULL
    char *tier;                     //  tier name (free | pro | enterprise)
    char **models;                  //  allowed models (none = every model)
    size_t nmodels;                 //  entries in models
    int64_t limits[TG_LIM_N];       //  overrides of the tier's limits; -1 = inherit
    double daily_usd;               //  the key's budget per UTC day; 0 = none
    double monthly_usd;             //  the key's budget per UTC month; 0 = none
    int64_t created;                //  epoch s
    int64_t expires;                //  epoch s; 0 = never
    int64_t revoked;                //  epoch s; 0 = live
    int64_t rotated;                //  epoch s of the last rotation; 0 = never
    char hint[16];                  //  "sk-tg-…abcd": enough to recognise, not to use
    uint8_t hash[TG_KEYREC_HASH];   //  keyed BLAKE2b of the key
    uint64_t roles;                 //  TG_ROLE_* bits (TG_ROLE_DEFAULT unless set)
} tg_keyrec_t;

//  The API name of one role bit ("metrics:read", "metrics:query", "admin", "events:write"),
//  or NULL.
const char *tg_role_name(uint64_t bit);
//  The bit of a role name, or 0.
uint64_t tg_role_parse(const char *name);

//  Writes a fresh key ("sk-tg-" + 64 hex + NUL) into key[TG_KEYREC_KEY_LEN + 1].
void tg_keyrec_key_new(char *key);
//  Writes a fresh key id into id[TG_KEYREC_ID_LEN + 1].
void tg_keyrec_id_new(char *id);
//  The keyed BLAKE2b-256 of `key` under `secret`.
void tg_keyrec_hash(const uint8_t secret[TG_KEYREC_SECRET],
                    const char *key,
                    uint8_t out[TG_KEYREC_HASH]);

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

//  The stored form: the API form plus the hash. Caller frees.
char *tg_keyrec_encode(const tg_keyrec_t *rec);
//  A stored form back into rec (initialised here; tg_keyrec_fini). TG_OK, or TG_ERR (logged:
//  the store is ours, so the record is corrupt).
int tg_keyrec_decode(const void *data, size_t len, tg_keyrec_t *rec);

#endif
