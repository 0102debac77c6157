//  tg_lmdb.c - LMDB environment helper: MDB_* codes converted here, once.
#include "tg_lmdb.h"
#include "tg_log.h"
#include "tg_util.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_MAX_DBS 30                   //  named dbs besides meta
#define S_META "meta"                  //  name of the schema db
#define S_SCHEMA_KEY "schema_version"  //  its record: decimal ASCII
#define S_MAPSIZE_KEY "map_size"       //  map size set by tg_lmdb_grow: decimal ASCII

struct tg_lmdb {
    MDB_env *env;     //  the environment
    MDB_dbi meta;     //  the meta db
    MDB_dbi *dbi;     //  handles of the named dbs, by index
    size_t ndbs;      //  entries in dbi
    char *dir;        //  environment directory (for messages)
    size_t map_size;  //  current map size in bytes
    int open_txns;    //  txns begun and not yet ended
    bool write_open;  //  a write txn is open
    bool readonly;    //  opened MDB_RDONLY: read txns only
};

struct tg_lmdb_txn {
    MDB_txn *txn;      //  the LMDB txn
    tg_lmdb_t *owner;  //  environment it belongs to
    bool write;        //  read-write txn
};

//  Logs an LMDB failure once and converts it.
static int
s_fail(const tg_lmdb_t *self, const char *what, int rc)
{
    tg_log_error("lmdb %s failed dir=%s err=%s", what, self && self->dir ? self->dir : "?",
                 mdb_strerror(rc));
    return TG_ERR;
}

//  mkdir -p; TG_OK or TG_ERR (logged).
static int
s_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof path) {
        tg_log_error("lmdb dir too long dir=%.64s...", dir);
        return TG_ERR;
    }
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(path, 0750) != 0 && errno != EEXIST) {
                tg_log_error("cannot create dir=%s err=%s", path, strerror(errno));
                return TG_ERR;
            }
            *p = '/';
        }
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
        tg_log_error("cannot create dir=%s err=%s", path, strerror(errno));
        return TG_ERR;
    }
    return TG_OK;
}

//  True if any named db holds a record.
static bool
s_has_data(tg_lmdb_t *self, MDB_txn *txn)
{
    for (size_t i = 0; i < self->ndbs; i++) {
        MDB_stat st;
        if (mdb_stat(txn, self->dbi[i], &st) == 0 && st.ms_entries > 0)
            return true;
    }
    return false;
}

static int
s_write_version(tg_lmdb_t *self, MDB_txn *txn, uint32_t version)
{
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%" PRIu32, version);
    MDB_val k = {.mv_size = strlen(S_SCHEMA_KEY), .mv_data = (void *)S_SCHEMA_KEY};
    MDB_val v = {.mv_size = (size_t)n, .mv_data = buf};
    int rc = mdb_put(txn, self->meta, &k, &v, 0);
    return rc ? s_fail(self, "put schema_version", rc) : TG_OK;
}

//  Checks the stored schema version inside the opening write txn (spec O7).
static int
s_check_schema(tg_lmdb_t *self, tg_lmdb_txn_t *t, const tg_lmdb_opts_t *opts)
{
    MDB_val k = {.mv_size = strlen(S_SCHEMA_KEY), .mv_data = (void *)S_SCHEMA_KEY}, v;
    int rc = mdb_get(t->txn, self->meta, &k, &v);
    uint32_t stored;
    if (rc == MDB_NOTFOUND) {
        if (!s_has_data(self, t->txn))
            return s_write_version(self, t->txn, opts->schema_version);  //  fresh
        stored = 0;  //  data from before versions were recorded
    } else if (rc != 0)
        return s_fail(self, "get schema_version", rc);
    else {
        char buf[16];
        if (v.mv_size == 0 || v.mv_size >= sizeof buf) {
            tg_log_error("lmdb dir=%s has an unreadable schema_version record", self->dir);
            return TG_ERR;
        }
        memcpy(buf, v.mv_data, v.mv_size);
        buf[v.mv_size] = 0;
        char *end;
        errno = 0;
        unsigned long n = strtoul(buf, &end, 10);
        if (*end || errno || n > UINT32_MAX) {
            tg_log_error("lmdb dir=%s has an unreadable schema_version '%s'", self->dir, buf);
            return TG_ERR;
        }
        stored = (uint32_t)n;
    }
    if (stored == opts->schema_version)
        return TG_OK;
    if (stored > opts->schema_version) {
        tg_log_error("data in %s has schema version %" PRIu32 ", newer than this tollgate "
                     "understands (%" PRIu32 "): refusing to open it; run a newer tollgate "
                     "or point data_dir elsewhere",
                     self->dir, stored, opts->schema_version);
        return TG_ERR;
    }
    tg_log_info("migrating data in %s from schema version %" PRIu32 " to %" PRIu32, self->dir,
                stored, opts->schema_version);
    if (opts->migrate && opts->migrate(t, stored, opts->migrate_arg) != TG_OK) {
        tg_log_error("migration of %s from schema version %" PRIu32 " failed", self->dir, stored);
        return TG_ERR;
    }
    return s_write_version(self, t->txn, opts->schema_version);
}

//  The map size recorded by tg_lmdb_grow, or 0.
static size_t
s_recorded_size(tg_lmdb_t *self, tg_lmdb_txn_t *t)
{
    MDB_val k = {.mv_size = strlen(S_MAPSIZE_KEY), .mv_data = (void *)S_MAPSIZE_KEY}, v;
    if (mdb_get(t->txn, self->meta, &k, &v) != 0 || v.mv_size == 0 || v.mv_size > 20)
        return 0;
    char buf[24];
    memcpy(buf, v.mv_data, v.mv_size);
    buf[v.mv_size] = 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(buf, &end, 10);
    return (*end || errno || n > SIZE_MAX) ? 0 : (size_t)n;
}

//  Opens the named dbs (and meta) in txn t; a read-only open does not create them.
static int
s_open_dbs(tg_lmdb_t *self, tg_lmdb_txn_t *t, const tg_lmdb_opts_t *opts)
{
    unsigned flags = opts->readonly ? 0 : MDB_CREATE;
    int rc = mdb_dbi_open(t->txn, S_META, flags, &self->meta);
    if (rc == MDB_NOTFOUND && opts->readonly)
        return TG_NOTFOUND;
    if (rc)
        return s_fail(self, "open db meta", rc);
    for (size_t i = 0; i < opts->ndbs; i++) {
        rc = mdb_dbi_open(t->txn, opts->dbs[i], flags, &self->dbi[i]);
        if (rc == MDB_NOTFOUND && opts->readonly)
            return TG_NOTFOUND;
        if (rc) {
            tg_log_error("lmdb open db=%s failed dir=%s err=%s", opts->dbs[i], self->dir,
                         mdb_strerror(rc));
            return TG_ERR;
        }
    }
    return TG_OK;
}

//  A reader's schema check: the stored version must be the current one. Missing or older
//  means the writer has not created or migrated the data yet (TG_NOTFOUND, not logged).
static int
s_check_schema_ro(tg_lmdb_t *self, tg_lmdb_txn_t *t, const tg_lmdb_opts_t *opts)
{
    MDB_val k = {.mv_size = strlen(S_SCHEMA_KEY), .mv_data = (void *)S_SCHEMA_KEY}, v;
    int rc = mdb_get(t->txn, self->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return TG_NOTFOUND;
    if (rc)
        return s_fail(self, "get schema_version", rc);
    char buf[16];
    if (v.mv_size == 0 || v.mv_size >= sizeof buf) {
        tg_log_error("lmdb dir=%s has an unreadable schema_version record", self->dir);
        return TG_ERR;
    }
    memcpy(buf, v.mv_data, v.mv_size);
    buf[v.mv_size] = 0;
    char *end;
    errno = 0;
    unsigned long n = strtoul(buf, &end, 10);
    if (*end || errno || n > UINT32_MAX) {
        tg_log_error("lmdb dir=%s has an unreadable schema_version '%s'", self->dir, buf);
        return TG_ERR;
    }
    if (n > opts->schema_version) {
        tg_log_error("data in %s has schema version %lu, newer than this tollgate understands "
                     "(%" PRIu32 "): refusing to read it",
                     self->dir, n, opts->schema_version);
        return TG_ERR;
    }
    return n == opts->schema_version ? TG_OK : TG_NOTFOUND;
}

tg_lmdb_t *
tg_lmdb_new(const tg_lmdb_opts_t *opts)
{
    tg_lmdb_t *self = NULL;
    tg_lmdb_open(opts, &self);
    return self;
}

int
tg_lmdb_open(const tg_lmdb_opts_t *opts, tg_lmdb_t **self_p)
{
    assert(opts && opts->dir && opts->schema_version >= 1 && self_p);
    assert(opts->ndbs <= S_MAX_DBS);
    *self_p = NULL;
    if (!opts->readonly && s_mkdirs(opts->dir) != TG_OK)
        return TG_ERR;
    tg_lmdb_t *self = tg_zalloc(sizeof *self);
    self->dir = tg_strdup(opts->dir);
    self->ndbs = opts->ndbs;
    self->readonly = opts->readonly;
    self->dbi = tg_zalloc((opts->ndbs + 1) * sizeof *self->dbi);
    tg_lmdb_txn_t *t = NULL;
    int ret = TG_ERR;
    int rc = mdb_env_create(&self->env);
    if (rc) {
        s_fail(self, "env create", rc);
        self->env = NULL;
        goto fail;
    }
    if ((rc = mdb_env_set_maxdbs(self->env, (MDB_dbi)opts->ndbs + 1))
        || (opts->map_size && (rc = mdb_env_set_mapsize(self->env, opts->map_size)))) {
        s_fail(self, "env setup", rc);
        goto fail;
    }
    unsigned flags = MDB_NOTLS | (opts->readonly ? MDB_RDONLY : 0)
                     | (opts->nosync && !opts->readonly ? MDB_NOSYNC : 0);
    if ((rc = mdb_env_open(self->env, opts->dir, flags, 0640))) {
        if (opts->readonly && rc == ENOENT)
            ret = TG_NOTFOUND;  //  the writer has not created it yet
        else
            s_fail(self, "env open", rc);
        goto fail;
    }
    MDB_envinfo info;
    if ((rc = mdb_env_info(self->env, &info))) {
        s_fail(self, "env info", rc);
        goto fail;
    }
    self->map_size = info.me_mapsize;  //  at least the data already stored
    tg_lmdb_reader_check(self);
    if (tg_lmdb_begin(self, !opts->readonly, &t) != TG_OK)
        goto fail;
    if ((rc = s_open_dbs(self, t, opts)) != TG_OK) {
        ret = rc;
        goto fail;
    }
    if (opts->readonly) {
        if ((rc = s_check_schema_ro(self, t, opts)) != TG_OK) {
            ret = rc;
            goto fail;
        }
        if (tg_lmdb_commit(&t) != TG_OK)  //  a read txn commits to keep its dbi handles
            goto fail;
        *self_p = self;
        return TG_OK;
    }
    if (s_check_schema(self, t, opts) != TG_OK)
        goto fail;
    size_t grown = s_recorded_size(self, t);
    if ((rc = tg_lmdb_commit(&t)) != TG_OK) {
        if (rc == TG_AGAIN)
            tg_log_error("lmdb map full while opening dir=%s", self->dir);
        goto fail;
    }
    //  A map that an earlier run grew keeps its size (LMDB itself would take the set one).
    if (grown > self->map_size && tg_lmdb_grow(self, grown) != TG_OK)
        goto fail;
    *self_p = self;
    return TG_OK;
fail:
    tg_lmdb_abort(&t);
    tg_lmdb_destroy(&self);
    return ret;
}

void
tg_lmdb_destroy(tg_lmdb_t **self_p)
{
    assert(self_p);
    tg_lmdb_t *self = *self_p;
    if (!self)
        return;
    assert(self->open_txns == 0);
    if (self->env)
        mdb_env_close(self->env);  //  closes the dbi handles too
    free(self->dbi);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

size_t
tg_lmdb_map_size(tg_lmdb_t *self)
{
    assert(self);
    return self->map_size;
}

int
tg_lmdb_reader_check(tg_lmdb_t *self)
{
    assert(self);
    //  Reader slots left by a killed process would pin old pages forever.
    int dead = 0;
    if (mdb_reader_check(self->env, &dead) != 0)
        return 0;
    if (dead)
        tg_log_info("lmdb cleared stale readers dir=%s n=%d", self->dir, dead);
    return dead;
}

int
tg_lmdb_used(tg_lmdb_t *self, size_t *used_p)
{
    assert(self && used_p);
    MDB_envinfo info;
    MDB_stat st;
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return s_fail(self, "begin read txn", rc);
    if ((rc = mdb_env_info(self->env, &info)) || (rc = mdb_env_stat(self->env, &st))) {
        mdb_txn_abort(txn);
        return s_fail(self, "env info", rc);
    }
    //  The free list is db 0: each record is an ID list whose first word is its length.
    size_t free_pages = 0;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, 0, &cur))) {
        mdb_txn_abort(txn);
        return s_fail(self, "free list cursor", rc);
    }
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        if (v.mv_size >= sizeof(size_t)) {
            size_t n;
            memcpy(&n, v.mv_data, sizeof n);
            free_pages += n;
        }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND)
        return s_fail(self, "free list walk", rc);
    size_t pages = (size_t)info.me_last_pgno + 1;
    *used_p = (pages > free_pages ? pages - free_pages : 0) * st.ms_psize;
    return TG_OK;
}

int
tg_lmdb_grow(tg_lmdb_t *self, size_t map_size)
{
    assert(self && self->open_txns == 0 && !self->readonly);
    int rc = mdb_env_set_mapsize(self->env, map_size);
    if (rc)
        return s_fail(self, "set mapsize", rc);
    MDB_envinfo info;
    self->map_size = mdb_env_info(self->env, &info) == 0 ? info.me_mapsize : map_size;
    //  Recorded so that the next open keeps the size; without the record a reopen would
    //  only run into a full map once more and grow again.
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%zu", self->map_size);
    MDB_txn *txn;
    MDB_val k = {.mv_size = strlen(S_MAPSIZE_KEY), .mv_data = (void *)S_MAPSIZE_KEY};
    MDB_val v = {.mv_size = (size_t)n, .mv_data = buf};
    if (self->meta && (rc = mdb_txn_begin(self->env, NULL, 0, &txn)) == 0) {
        rc = mdb_put(txn, self->meta, &k, &v, 0);
        if (rc)
            mdb_txn_abort(txn);
        else
            rc = mdb_txn_commit(txn);
    }
    if (rc)
        tg_log_warn("lmdb could not record the map size dir=%s err=%s", self->dir,
                    mdb_strerror(rc));
    return TG_OK;
}

int
tg_lmdb_grow_double(tg_lmdb_t *self, size_t max_size)
{
    assert(self);
    size_t now = self->map_size;
    if (now >= max_size)
        return TG_AGAIN;
    return tg_lmdb_grow(self, now > max_size / 2 ? max_size : now * 2);
}

int
tg_lmdb_copy(tg_lmdb_t *self, const char *dir)
{
    assert(self && dir);
    int rc = mdb_env_copy2(self->env, dir, MDB_CP_COMPACT);
    if (rc) {
        tg_log_error("lmdb copy failed dir=%s to=%s err=%s", self->dir, dir, mdb_strerror(rc));
        return TG_ERR;
    }
    return TG_OK;
}

int
tg_lmdb_begin(tg_lmdb_t *self, bool write, tg_lmdb_txn_t **txn_p)
{
    assert(self && txn_p);
    assert(!(write && (self->write_open || self->readonly)));
    *txn_p = NULL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, write ? 0 : MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED) {
        //  Another process grew the map: adopt its size and retry once.
        if (self->open_txns == 0 && mdb_env_set_mapsize(self->env, 0) == 0)
            rc = mdb_txn_begin(self->env, NULL, write ? 0 : MDB_RDONLY, &txn);
    }
    if (rc)
        return s_fail(self, write ? "begin write txn" : "begin read txn", rc);
    tg_lmdb_txn_t *t = tg_zalloc(sizeof *t);
    t->txn = txn;
    t->owner = self;
    t->write = write;
    self->open_txns++;
    if (write)
        self->write_open = true;
    *txn_p = t;
    return TG_OK;
}

static void
s_txn_free(tg_lmdb_txn_t **txn_p)
{
    tg_lmdb_txn_t *t = *txn_p;
    t->owner->open_txns--;
    if (t->write)
        t->owner->write_open = false;
    free(t);
    *txn_p = NULL;
}

int
tg_lmdb_commit(tg_lmdb_txn_t **txn_p)
{
    assert(txn_p && *txn_p);
    tg_lmdb_txn_t *t = *txn_p;
    tg_lmdb_t *owner = t->owner;
    int rc = mdb_txn_commit(t->txn);  //  frees the MDB txn, also on failure
    s_txn_free(txn_p);
    if (rc == MDB_MAP_FULL)
        return TG_AGAIN;
    return rc ? s_fail(owner, "commit", rc) : TG_OK;
}

void
tg_lmdb_abort(tg_lmdb_txn_t **txn_p)
{
    assert(txn_p);
    if (!*txn_p)
        return;
    mdb_txn_abort((*txn_p)->txn);
    s_txn_free(txn_p);
}

static MDB_dbi
s_dbi(tg_lmdb_txn_t *txn, int db)
{
    assert(txn && db >= 0 && (size_t)db < txn->owner->ndbs);
    return txn->owner->dbi[db];
}

int
tg_lmdb_get(tg_lmdb_txn_t *txn, int db, const void *key, size_t klen, void **val_p, size_t *len_p)
{
    MDB_dbi dbi = s_dbi(txn, db);
    if (klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(txn->owner->env))
        return TG_NOTFOUND;  //  such a key cannot be stored, so it is absent
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
    int rc = mdb_get(txn->txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return TG_NOTFOUND;
    if (rc)
        return s_fail(txn->owner, "get", rc);
    if (val_p) {
        char *copy = tg_zalloc(v.mv_size + 1);  //  copy before the txn ends; NUL for text
        memcpy(copy, v.mv_data, v.mv_size);
        *val_p = copy;
    }
    if (len_p)
        *len_p = v.mv_size;
    return TG_OK;
}

int
tg_lmdb_put(tg_lmdb_txn_t *txn, int db, const void *key, size_t klen, const void *val, size_t vlen)
{
    MDB_dbi dbi = s_dbi(txn, db);
    assert(txn->write);
    if (klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(txn->owner->env))
        return TG_INVALID;
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    MDB_val v = {.mv_size = vlen, .mv_data = (void *)val};
    int rc = mdb_put(txn->txn, dbi, &k, &v, 0);
    if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL)
        return TG_AGAIN;
    return rc ? s_fail(txn->owner, "put", rc) : TG_OK;
}

int
tg_lmdb_del(tg_lmdb_txn_t *txn, int db, const void *key, size_t klen)
{
    MDB_dbi dbi = s_dbi(txn, db);
    assert(txn->write);
    if (klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(txn->owner->env))
        return TG_NOTFOUND;
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    int rc = mdb_del(txn->txn, dbi, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return TG_NOTFOUND;
    if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL)
        return TG_AGAIN;
    return rc ? s_fail(txn->owner, "del", rc) : TG_OK;
}

int
tg_lmdb_each(tg_lmdb_txn_t *txn,
             int db,
             const void *from,
             size_t flen,
             const void *to,
             size_t tlen,
             bool reverse,
             tg_lmdb_each_fn *fn,
             void *arg)
{
    MDB_dbi dbi = s_dbi(txn, db);
    assert(fn);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn->txn, dbi, &cur);
    if (rc)
        return s_fail(txn->owner, "cursor open", rc);
    MDB_val lo = {.mv_size = flen, .mv_data = (void *)from};
    MDB_val hi = {.mv_size = tlen, .mv_data = (void *)to};
    bool has_lo = from && flen > 0;
    bool has_hi = to != NULL;
    MDB_val k, v;
    if (!reverse) {
        if (has_lo) {
            k = lo;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        } else
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    } else if (has_hi && tlen > 0) {
        //  Position on the first key >= to, then step back to the last key < to.
        k = hi;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        rc = rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &k, &v, MDB_LAST)
                                : (rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_PREV));
    } else if (has_hi)
        rc = MDB_NOTFOUND;  //  empty upper bound: nothing is below it
    else
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    while (rc == 0) {
        if (!reverse && has_hi && mdb_cmp(txn->txn, dbi, &k, &hi) >= 0)
            break;
        if (reverse && has_lo && mdb_cmp(txn->txn, dbi, &k, &lo) < 0)
            break;
        if (fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg) != 0)
            break;
        rc = mdb_cursor_get(cur, &k, &v, reverse ? MDB_PREV : MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return s_fail(txn->owner, "cursor walk", rc);
    return TG_OK;
}

void
tg_lmdb_be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

uint64_t
tg_lmdb_be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int
tg_lmdb_sync(tg_lmdb_t *self)
{
    if (self->readonly)
        return TG_OK;
    int rc = mdb_env_sync(self->env, 1);
    if (rc) {
        tg_log_error("lmdb sync failed: %s", mdb_strerror(rc));
        return TG_ERR;
    }
    return TG_OK;
}

int
tg_lmdb_count(tg_lmdb_txn_t *txn, int db, uint64_t *n_p)
{
    MDB_stat st;
    int rc = mdb_stat(txn->txn, txn->owner->dbi[db], &st);
    if (rc)
        return s_fail(txn->owner, "stat", rc);
    *n_p = st.ms_entries;
    return TG_OK;
}
