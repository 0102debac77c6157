//  tg_keystore.c - virtual API keys in LMDB: hashed keys, records as JSON, admin fields.
#include "tg_keystore.h"
#include "tg_lmdb.h"
#include "tg_log.h"
#include "tg_util.h"

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SCHEMA 1              //  schema version of the environment
#define S_MAP_SIZE (64u << 20)  //  64 MiB: about 100,000 keys
#define S_FIELD_MAX 128         //  longest string field
#define S_MODELS_MAX 100        //  allowed models per key

enum { S_DB_KEYS, S_DB_HASHES, S_DB_BUDGETS, S_DB_SPEND, S_NDBS };
static const char *const s_dbs[S_NDBS] = {"keys", "hashes", "budgets", "spend"};

#define S_SLOTS 512  //  decoded records kept for tg_keystore_lookup (direct-mapped by hash)

//  A decoded record and the stored bytes it came from.
typedef struct {
    uint8_t hash[TG_KEYSTORE_HASH];  //  the key hash it was found by
    char *raw;                       //  the stored JSON (owned); NULL = empty slot
    size_t len;                      //  its length
    tg_keyrec_t rec;                 //  decoded from raw
} s_slot_t;

struct tg_keystore {
    tg_lmdb_t *db;    //  the environment
    bool readonly;    //  opened by a reader
    s_slot_t *slots;  //  S_SLOTS decoded records (readers; allocated on first lookup)
};

char *
tg_keystore_dir(const tg_config_t *cfg)
{
    const char *dir = tg_config_str(cfg, "keys.dir");
    return dir && *dir ? tg_strdup(dir) : tg_strfmt("%s/keys", tg_config_str(cfg, "data_dir"));
}

int
tg_keystore_open(const char *dir, bool readonly, tg_keystore_t **self_p)
{
    assert(dir && self_p);
    tg_lmdb_opts_t lo = {.dir = dir,
                         .map_size = readonly ? 0 : S_MAP_SIZE,
                         .dbs = s_dbs,
                         .ndbs = S_NDBS,
                         .schema_version = S_SCHEMA,
                         .readonly = readonly};
    tg_lmdb_t *db = NULL;
    int rc = tg_lmdb_open(&lo, &db);
    if (rc != TG_OK)
        return rc;
    tg_keystore_t *self = tg_zalloc(sizeof *self);
    self->db = db;
    self->readonly = readonly;
    *self_p = self;
    tg_log_info("key store open dir=%s mode=%s", dir, readonly ? "read" : "write");
    return TG_OK;
}

void
tg_keystore_destroy(tg_keystore_t **self_p)
{
    assert(self_p);
    if (!*self_p)
        return;
    tg_lmdb_destroy(&(*self_p)->db);
    for (size_t i = 0; (*self_p)->slots && i < S_SLOTS; i++) {
        free((*self_p)->slots[i].raw);
        tg_keyrec_fini(&(*self_p)->slots[i].rec);
    }
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

void
tg_keystore_key_new(char *key)
{
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    memcpy(key, TG_KEYSTORE_PREFIX, 6);
    sodium_bin2hex(key + 6, 65, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

void
tg_keystore_id_new(char *id)
{
    tg_id_fill(id, "key_", 12);
}

void
tg_keystore_hash(const uint8_t secret[TG_KEYSTORE_SECRET],
                 const char *key,
                 uint8_t out[TG_KEYSTORE_HASH])
{
    crypto_generichash(out, TG_KEYSTORE_HASH, (const unsigned char *)key, strlen(key), secret,
                       TG_KEYSTORE_SECRET);
}

void
tg_keyrec_init(tg_keyrec_t *rec)
{
    memset(rec, 0, sizeof *rec);
    for (int i = 0; i < TG_LIM_N; i++)
        rec->limits[i] = -1;
}

void
tg_keyrec_fini(tg_keyrec_t *rec)
{
    free(rec->name);
    free(rec->owner);
    free(rec->org);
    free(rec->project);
    free(rec->agent);
    free(rec->tier);
    for (size_t i = 0; i < rec->nmodels; i++)
        free(rec->models[i]);
    free(rec->models);
    tg_keyrec_init(rec);
}

static json_t *
s_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *
s_time_or_null(int64_t t)
{
    return t ? json_integer(t) : json_null();
}

json_t *
tg_keyrec_json(const tg_keyrec_t *rec)
{
    json_t *models = json_array(), *limits = json_object();
    for (size_t i = 0; i < rec->nmodels; i++)
        json_array_append_new(models, json_string(rec->models[i]));
    for (int i = 0; i < TG_LIM_N; i++)
        json_object_set_new(limits, tg_limit_name(i),
                            rec->limits[i] >= 0 ? json_integer(rec->limits[i]) : json_null());
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(rec->id));
    json_object_set_new(o, "object", json_string("api_key"));
    json_object_set_new(o, "name", s_str_or_null(rec->name));
    json_object_set_new(o, "key_hint", json_string(rec->hint));
    json_object_set_new(o, "owner", s_str_or_null(rec->owner));
    json_object_set_new(o, "organization", s_str_or_null(rec->org));
    json_object_set_new(o, "project", s_str_or_null(rec->project));
    json_object_set_new(o, "agent", s_str_or_null(rec->agent));
    json_object_set_new(o, "tier", s_str_or_null(rec->tier));
    json_object_set_new(o, "models", models);
    json_object_set_new(o, "limits", limits);
    json_t *budgets = json_object();
    json_object_set_new(budgets, "daily_usd",
                        rec->daily_usd > 0 ? json_real(rec->daily_usd) : json_null());
    json_object_set_new(budgets, "monthly_usd",
                        rec->monthly_usd > 0 ? json_real(rec->monthly_usd) : json_null());
    json_object_set_new(o, "budgets", budgets);
    json_object_set_new(o, "created_at", json_integer(rec->created));
    json_object_set_new(o, "expires_at", s_time_or_null(rec->expires));
    json_object_set_new(o, "rotated_at", s_time_or_null(rec->rotated));
    json_object_set_new(o, "revoked_at", s_time_or_null(rec->revoked));
    json_object_set_new(o, "revoked", json_boolean(rec->revoked != 0));
    return o;
}

//  The stored form: the API form plus the hash.
static char *
s_encode(const tg_keyrec_t *rec)
{
    json_t *o = tg_keyrec_json(rec);
    char hex[2 * TG_KEYSTORE_HASH + 1];
    sodium_bin2hex(hex, sizeof hex, rec->hash, sizeof rec->hash);
    json_object_set_new(o, "hash", json_string(hex));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static char *
s_dup_field(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? tg_strdup(s) : NULL;
}

static int64_t
s_int_field(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

//  A stored record back (TG_OK), or TG_ERR (logged: the store is ours, so it is corrupt).
static int
s_decode(const void *data, size_t len, tg_keyrec_t *rec)
{
    tg_keyrec_init(rec);
    json_t *o = json_loadb(data, len, 0, NULL);
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *hash = json_string_value(json_object_get(o, "hash"));
    if (!o || !id || strlen(id) > TG_KEYSTORE_ID_LEN || !hash
        || sodium_hex2bin(rec->hash, sizeof rec->hash, hash, strlen(hash), NULL, NULL, NULL) != 0) {
        tg_log_error("key store record unreadable len=%zu", len);
        json_decref(o);
        return TG_ERR;
    }
    memcpy(rec->id, id, strlen(id) + 1);
    snprintf(rec->hint, sizeof rec->hint, "%s",
             json_string_value(json_object_get(o, "key_hint")) ?: "");
    rec->name = s_dup_field(o, "name");
    rec->owner = s_dup_field(o, "owner");
    rec->org = s_dup_field(o, "organization");
    rec->project = s_dup_field(o, "project");
    rec->agent = s_dup_field(o, "agent");
    rec->tier = s_dup_field(o, "tier");
    rec->created = s_int_field(o, "created_at");
    rec->expires = s_int_field(o, "expires_at");
    rec->rotated = s_int_field(o, "rotated_at");
    rec->revoked = s_int_field(o, "revoked_at");
    const json_t *models = json_object_get(o, "models"), *m;
    size_t i;
    rec->models = tg_zalloc((json_array_size(models) + 1) * sizeof *rec->models);
    json_array_foreach(models, i, m) if (json_is_string(m)) rec->models[rec->nmodels++] =
        tg_strdup(json_string_value(m));
    const json_t *limits = json_object_get(o, "limits");
    for (int l = 0; l < TG_LIM_N; l++) {
        const json_t *v = json_object_get(limits, tg_limit_name(l));
        rec->limits[l] = json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
    }
    const json_t *budgets = json_object_get(o, "budgets");
    rec->daily_usd = json_number_value(json_object_get(budgets, "daily_usd"));
    rec->monthly_usd = json_number_value(json_object_get(budgets, "monthly_usd"));
    json_decref(o);
    return TG_OK;
}

static int
s_get_in(tg_lmdb_txn_t *txn, const char *id, tg_keyrec_t *rec)
{
    void *val = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(txn, S_DB_KEYS, id, strlen(id), &val, &len);
    if (rc == TG_OK) {
        rc = s_decode(val, len, rec);
        free(val);
    }
    return rc;
}

int
tg_keystore_find(tg_keystore_t *self, const uint8_t hash[TG_KEYSTORE_HASH], tg_keyrec_t *rec)
{
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    void *id = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(txn, S_DB_HASHES, hash, TG_KEYSTORE_HASH, &id, &len);
    if (rc == TG_OK) {
        char key[TG_KEYSTORE_ID_LEN + 1];
        snprintf(key, sizeof key, "%.*s", (int)len, (const char *)id);
        free(id);
        rc = s_get_in(txn, key, rec);
    }
    tg_lmdb_abort(&txn);
    return rc;
}

int
tg_keystore_lookup(tg_keystore_t *self,
                   const uint8_t hash[TG_KEYSTORE_HASH],
                   const tg_keyrec_t **rec_p)
{
    if (!self->slots) {
        self->slots = tg_zalloc(S_SLOTS * sizeof *self->slots);
        for (size_t i = 0; i < S_SLOTS; i++)
            tg_keyrec_init(&self->slots[i].rec);
    }
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    void *id = NULL, *raw = NULL;
    size_t idlen = 0, len = 0;
    int rc = tg_lmdb_get(txn, S_DB_HASHES, hash, TG_KEYSTORE_HASH, &id, &idlen);
    if (rc == TG_OK)
        rc = tg_lmdb_get(txn, S_DB_KEYS, id, idlen, &raw, &len);
    tg_lmdb_abort(&txn);
    free(id);
    if (rc != TG_OK)
        return rc;
    //  The key hash is uniformly random: its first bytes pick the slot.
    s_slot_t *slot = &self->slots[((size_t)hash[0] << 8 | hash[1]) % S_SLOTS];
    if (!slot->raw || slot->len != len || memcmp(slot->hash, hash, TG_KEYSTORE_HASH) != 0
        || memcmp(slot->raw, raw, len) != 0) {
        free(slot->raw);
        tg_keyrec_fini(&slot->rec);
        slot->raw = NULL;
        if (s_decode(raw, len, &slot->rec) != TG_OK) {
            free(raw);
            return TG_ERR;
        }
        memcpy(slot->hash, hash, TG_KEYSTORE_HASH);
        slot->raw = raw;
        slot->len = len;
        raw = NULL;
    }
    free(raw);
    *rec_p = &slot->rec;
    return TG_OK;
}

int
tg_keystore_get(tg_keystore_t *self, const char *id, tg_keyrec_t *rec)
{
    if (!id || !*id || strlen(id) > TG_KEYSTORE_ID_LEN)
        return TG_NOTFOUND;
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    int rc = s_get_in(txn, id, rec);
    tg_lmdb_abort(&txn);
    return rc;
}

int
tg_keystore_put(tg_keystore_t *self, const tg_keyrec_t *rec, const uint8_t *old_hash)
{
    assert(!self->readonly);
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, true, &txn) != TG_OK)
        return TG_ERR;
    char *text = s_encode(rec);
    size_t idlen = strlen(rec->id);
    int rc = tg_lmdb_put(txn, S_DB_KEYS, rec->id, idlen, text, strlen(text));
    free(text);
    if (rc == TG_OK && old_hash && memcmp(old_hash, rec->hash, TG_KEYSTORE_HASH) != 0) {
        rc = tg_lmdb_del(txn, S_DB_HASHES, old_hash, TG_KEYSTORE_HASH);
        if (rc == TG_NOTFOUND)
            rc = TG_OK;
    }
    if (rc == TG_OK)
        rc = tg_lmdb_put(txn, S_DB_HASHES, rec->hash, TG_KEYSTORE_HASH, rec->id, idlen);
    if (rc != TG_OK) {
        tg_lmdb_abort(&txn);
        tg_log_error("key store write failed id=%s rc=%s", rec->id, tg_rc_str(rc));
        return TG_ERR;
    }
    return tg_lmdb_commit(&txn) == TG_OK ? TG_OK : TG_ERR;
}

static int
s_list_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key;
    (void)klen;
    tg_keyrec_t rec;
    if (s_decode(val, vlen, &rec) == TG_OK) {
        json_array_append_new(arg, tg_keyrec_json(&rec));
        tg_keyrec_fini(&rec);
    }
    return 0;
}

json_t *
tg_keystore_list(tg_keystore_t *self)
{
    json_t *list = json_array();
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return list;
    tg_lmdb_each(txn, S_DB_KEYS, NULL, 0, NULL, 0, false, s_list_one, list);
    tg_lmdb_abort(&txn);
    return list;
}

int
tg_keystore_kv_put_many(tg_keystore_t *self,
                        tg_keystore_kv_t db,
                        const char *const *names,
                        const char *const *texts,
                        size_t n)
{
    assert(!self->readonly);
    if (n == 0)
        return TG_OK;
    int dbi = db == TG_KEYSTORE_BUDGETS ? S_DB_BUDGETS : S_DB_SPEND;
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, true, &txn) != TG_OK)
        return TG_ERR;
    int rc = TG_OK;
    for (size_t i = 0; rc == TG_OK && i < n; i++) {
        rc = texts[i]
                 ? tg_lmdb_put(txn, dbi, names[i], strlen(names[i]), texts[i], strlen(texts[i]))
                 : tg_lmdb_del(txn, dbi, names[i], strlen(names[i]));
        if (rc == TG_NOTFOUND)
            rc = TG_OK;
    }
    if (rc != TG_OK) {
        tg_lmdb_abort(&txn);
        tg_log_error("key store write failed n=%zu rc=%s", n, tg_rc_str(rc));
        return TG_ERR;
    }
    return tg_lmdb_commit(&txn) == TG_OK ? TG_OK : TG_ERR;
}

int
tg_keystore_kv_put(tg_keystore_t *self, tg_keystore_kv_t db, const char *name, const char *text)
{
    assert(name);
    return tg_keystore_kv_put_many(self, db, &name, &text, 1);
}

typedef struct {
    tg_keystore_kv_fn *fn;  //  the caller's visitor
    void *arg;              //  its argument
} s_kv_walk_t;

static int
s_kv_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_kv_walk_t *w = arg;
    char name[256];
    if (klen < sizeof name) {
        memcpy(name, key, klen);
        name[klen] = 0;
        w->fn(name, val, vlen, w->arg);
    }
    return 0;
}

int
tg_keystore_kv_each(tg_keystore_t *self, tg_keystore_kv_t db, tg_keystore_kv_fn *fn, void *arg)
{
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    s_kv_walk_t w = {fn, arg};
    int rc = tg_lmdb_each(txn, db == TG_KEYSTORE_BUDGETS ? S_DB_BUDGETS : S_DB_SPEND, NULL, 0, NULL,
                          0, false, s_kv_one, &w);
    tg_lmdb_abort(&txn);
    return rc;
}

//  ---------------------------------------------------------------------------------------
//  Admin API fields

static bool
s_text_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > S_FIELD_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

//  A string field: absent leaves *dst, null clears it, a valid string replaces it.
static int
s_apply_str(const json_t *v, char **dst, const char *param, const char **param_p, char **msg_p)
{
    if (json_is_null(v)) {
        free(*dst);
        *dst = NULL;
        return TG_OK;
    }
    if (!json_is_string(v) || !s_text_valid(json_string_value(v))) {
        *param_p = param;
        *msg_p =
            tg_strfmt("'%s' must be a string of 1 to %d characters, or null.", param, S_FIELD_MAX);
        return TG_INVALID;
    }
    free(*dst);
    *dst = tg_strdup(json_string_value(v));
    return TG_OK;
}

static int
s_apply_models(tg_keyrec_t *rec, const json_t *v, const char **param_p, char **msg_p)
{
    size_t i;
    const json_t *m;
    bool ok = json_is_null(v) || (json_is_array(v) && json_array_size(v) <= S_MODELS_MAX);
    json_array_foreach(v, i, m) ok = ok && json_is_string(m) && s_text_valid(json_string_value(m));
    if (!ok) {
        *param_p = "models";
        *msg_p = tg_strfmt("'models' must be a list of at most %d model names (an empty list "
                           "or null allows every model).",
                           S_MODELS_MAX);
        return TG_INVALID;
    }
    for (size_t k = 0; k < rec->nmodels; k++)
        free(rec->models[k]);
    free(rec->models);
    rec->models = tg_zalloc((json_array_size(v) + 1) * sizeof *rec->models);
    rec->nmodels = 0;
    json_array_foreach(v, i, m) rec->models[rec->nmodels++] = tg_strdup(json_string_value(m));
    return TG_OK;
}

static int
s_apply_limits(tg_keyrec_t *rec, const json_t *v, const char **param_p, char **msg_p)
{
    static char param[64];
    if (!json_is_object(v)) {
        *param_p = "limits";
        *msg_p = tg_strdup("'limits' must be an object of requests_per_minute, "
                           "tokens_per_minute, requests_per_month, tokens_per_month.");
        return TG_INVALID;
    }
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        int which = -1;
        for (int i = 0; i < TG_LIM_N; i++)
            if (strcmp(k, tg_limit_name(i)) == 0)
                which = i;
        int64_t n = json_is_integer(x) ? (int64_t)json_integer_value(x) : -2;
        int64_t max = which == TG_LIM_RPM || which == TG_LIM_TPM ? 1000000000LL : 1000000000000LL;
        if (which >= 0 && json_is_null(x)) {
            rec->limits[which] = -1;
            continue;
        }
        if (which < 0 || n < 0 || n > max) {
            snprintf(param, sizeof param, "limits.%.40s", k);
            *param_p = param;
            *msg_p = which < 0 ? tg_strfmt("Unknown limit '%s'.", param)
                               : tg_strfmt("'%s' must be an integer from 0 (no limit) to %lld, "
                                           "or null (the tier's).",
                                           param, (long long)max);
            return TG_INVALID;
        }
        rec->limits[which] = n;
    }
    return TG_OK;
}

int
tg_budget_fields_apply(
    const json_t *v, double *daily, double *monthly, const char **param_p, char **msg_p)
{
    static char param[64];
    if (!json_is_object(v)) {
        *param_p = "budgets";
        *msg_p = tg_strdup("'budgets' must be an object of daily_usd and monthly_usd.");
        return TG_INVALID;
    }
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        double *dst = strcmp(k, "daily_usd") == 0     ? daily
                      : strcmp(k, "monthly_usd") == 0 ? monthly
                                                      : NULL;
        double n = json_is_number(x) ? json_number_value(x) : -1;
        if (dst && json_is_null(x)) {
            *dst = 0;
            continue;
        }
        if (!dst || !(n > 0 && n <= 1e9)) {
            snprintf(param, sizeof param, "budgets.%.40s", k);
            *param_p = param;
            *msg_p = !dst ? tg_strfmt("Unknown budget '%s' (daily_usd, monthly_usd).", param)
                          : tg_strfmt("'%s' must be a number of USD above 0 (at most 1e9), or "
                                      "null for none.",
                                      param);
            return TG_INVALID;
        }
        *dst = n;
    }
    return TG_OK;
}

int
tg_keyrec_apply(tg_keyrec_t *rec,
                const json_t *body,
                const tg_tiers_t *tiers,
                const char **param_p,
                char **msg_p)
{
    static char unknown[64];
    if (!json_is_object(body)) {
        *param_p = NULL;
        *msg_p = tg_strdup("The body must be a JSON object.");
        return TG_INVALID;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        int rc = TG_OK;
        if (strcmp(k, "name") == 0)
            rc = s_apply_str(v, &rec->name, "name", param_p, msg_p);
        else if (strcmp(k, "owner") == 0)
            rc = s_apply_str(v, &rec->owner, "owner", param_p, msg_p);
        else if (strcmp(k, "organization") == 0)
            rc = s_apply_str(v, &rec->org, "organization", param_p, msg_p);
        else if (strcmp(k, "project") == 0)
            rc = s_apply_str(v, &rec->project, "project", param_p, msg_p);
        else if (strcmp(k, "agent") == 0)
            rc = s_apply_str(v, &rec->agent, "agent", param_p, msg_p);
        else if (strcmp(k, "tier") == 0) {
            if (!json_is_string(v) || !tg_tiers_valid(tiers, json_string_value(v))) {
                char names[TG_CONFIG_TIERS_MAX * 36];
                tg_tiers_names(tiers, names, sizeof names);
                *param_p = "tier";
                *msg_p = tg_strfmt("'tier' must be one of %s.", names);
                rc = TG_INVALID;
            } else
                rc = s_apply_str(v, &rec->tier, "tier", param_p, msg_p);
        } else if (strcmp(k, "models") == 0)
            rc = s_apply_models(rec, v, param_p, msg_p);
        else if (strcmp(k, "limits") == 0)
            rc = s_apply_limits(rec, v, param_p, msg_p);
        else if (strcmp(k, "budgets") == 0)
            rc = tg_budget_fields_apply(v, &rec->daily_usd, &rec->monthly_usd, param_p, msg_p);
        else if (strcmp(k, "expires_at") == 0) {
            if (json_is_null(v))
                rec->expires = 0;
            else if (json_is_integer(v) && json_integer_value(v) > 0
                     && json_integer_value(v) < 253402300800LL)
                rec->expires = (int64_t)json_integer_value(v);
            else {
                *param_p = "expires_at";
                *msg_p = tg_strdup("'expires_at' must be a Unix time in seconds, or null.");
                rc = TG_INVALID;
            }
        } else {
            snprintf(unknown, sizeof unknown, "%.60s", k);
            *param_p = unknown;
            *msg_p = tg_strfmt("Unknown field '%s'.", unknown);
            rc = TG_INVALID;
        }
        if (rc != TG_OK)
            return rc;
    }
    return TG_OK;
}

bool
tg_keyrec_allows(const tg_keyrec_t *rec, const char *model, const char *target)
{
    if (rec->nmodels == 0)
        return true;
    for (size_t i = 0; i < rec->nmodels; i++)
        if ((model && strcmp(rec->models[i], model) == 0)
            || (target && strcmp(rec->models[i], target) == 0))
            return true;
    return false;
}
