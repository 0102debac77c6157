//  tg_keystore.c - virtual API keys in LMDB: records by id, ids by key hash, budgets, spend.
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

enum { S_DB_KEYS, S_DB_HASHES, S_DB_BUDGETS, S_DB_SPEND, S_NDBS };
static const char *const s_dbs[S_NDBS] = {"keys", "hashes", "budgets", "spend"};

#define S_SLOTS 512  //  decoded records kept for tg_keystore_lookup (direct-mapped by hash)

//  A decoded record and the stored bytes it came from.
typedef struct {
    uint8_t hash[TG_KEYREC_HASH];  //  the key hash it was found by
    char *raw;                     //  the stored JSON (owned); NULL = empty slot
    size_t len;                    //  its length
    tg_keyrec_t rec;               //  decoded from raw
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

static int
s_get_in(tg_lmdb_txn_t *txn, const char *id, tg_keyrec_t *rec)
{
    void *val = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(txn, S_DB_KEYS, id, strlen(id), &val, &len);
    if (rc == TG_OK) {
        rc = tg_keyrec_decode(val, len, rec);
        free(val);
    }
    return rc;
}

int
tg_keystore_lookup(tg_keystore_t *self,
                   const uint8_t hash[TG_KEYREC_HASH],
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
    int rc = tg_lmdb_get(txn, S_DB_HASHES, hash, TG_KEYREC_HASH, &id, &idlen);
    if (rc == TG_OK)
        rc = tg_lmdb_get(txn, S_DB_KEYS, id, idlen, &raw, &len);
    tg_lmdb_abort(&txn);
    free(id);
    if (rc != TG_OK)
        return rc;
    //  The key hash is uniformly random: its first bytes pick the slot.
    s_slot_t *slot = &self->slots[((size_t)hash[0] << 8 | hash[1]) % S_SLOTS];
    if (!slot->raw || slot->len != len || memcmp(slot->hash, hash, TG_KEYREC_HASH) != 0
        || memcmp(slot->raw, raw, len) != 0) {
        free(slot->raw);
        tg_keyrec_fini(&slot->rec);
        slot->raw = NULL;
        if (tg_keyrec_decode(raw, len, &slot->rec) != TG_OK) {
            free(raw);
            return TG_ERR;
        }
        memcpy(slot->hash, hash, TG_KEYREC_HASH);
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
    if (!id || !*id || strlen(id) > TG_KEYREC_ID_LEN)
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
    char *text = tg_keyrec_encode(rec);
    size_t idlen = strlen(rec->id);
    int rc = tg_lmdb_put(txn, S_DB_KEYS, rec->id, idlen, text, strlen(text));
    free(text);
    if (rc == TG_OK && old_hash && memcmp(old_hash, rec->hash, TG_KEYREC_HASH) != 0) {
        rc = tg_lmdb_del(txn, S_DB_HASHES, old_hash, TG_KEYREC_HASH);
        if (rc == TG_NOTFOUND)
            rc = TG_OK;
    }
    if (rc == TG_OK)
        rc = tg_lmdb_put(txn, S_DB_HASHES, rec->hash, TG_KEYREC_HASH, rec->id, idlen);
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
    if (tg_keyrec_decode(val, vlen, &rec) == TG_OK) {
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
