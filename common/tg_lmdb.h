//  tg_lmdb.h - one LMDB environment in a directory: named dbs, txns, a schema version.
//
//  The only module that sees MDB_* codes: every call returns tg_rc_t and logs
//  mdb_strerror once. A `meta` db holds "schema_version" (spec O7): a newer version than
//  the caller knows is refused on open, an older one is migrated (and the log says so).
//  Single-threaded use per environment (the writer process); read txns are MDB_NOTLS.
//  Other processes may open the same environment read-only (opts.readonly): no create, no
//  schema write, no migration; they see what the writer has committed.
#ifndef TG_LMDB_H
#define TG_LMDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Largest map a store grows to (1 TiB, the bound of the *.map_size_mb config keys).
#define TG_LMDB_MAX_MAP ((size_t)1 << 40)

typedef struct tg_lmdb tg_lmdb_t;
typedef struct tg_lmdb_txn tg_lmdb_txn_t;

//  Migrates the data of a write txn from `from_version` (0 = data written before versions
//  were recorded) to the current version. TG_OK to commit, anything else refuses the open.
typedef int(tg_lmdb_migrate_fn)(tg_lmdb_txn_t *txn, uint32_t from_version, void *arg);

//  Visits one record; the views are valid during the call only. Return 0 to go on, any
//  other value to stop the walk.
typedef int(tg_lmdb_each_fn)(const void *key, size_t klen, const void *val, size_t vlen, void *arg);

typedef struct {
    const char *dir;              //  directory of data.mdb/lock.mdb; created if missing
    size_t map_size;              //  map size in bytes (rounded up by LMDB to pages)
    const char *const *dbs;       //  names of the named dbs; a db is later named by its index
    size_t ndbs;                  //  entries in dbs (at most 30)
    uint32_t schema_version;      //  version this code reads and writes (>= 1)
    tg_lmdb_migrate_fn *migrate;  //  called when the stored version is older; NULL: none needed
    bool nosync;                  //  MDB_NOSYNC: commits do not wait for the disk; tg_lmdb_sync
                                  //  flushes (for data that may be lost in a power cut: a cache)
    void *migrate_arg;            //  passed to migrate
    bool readonly;                //  MDB_RDONLY: no create, no write txns; map_size 0 takes
                                  //  the size the writer set
} tg_lmdb_opts_t;

//  Opens (creating if needed) the environment and its dbs, checks or records the schema
//  version. NULL after logging why (I/O error, lock, newer schema, failed migration).
//  A read-only open of an environment that is not there yet returns NULL unlogged.
tg_lmdb_t *tg_lmdb_new(const tg_lmdb_opts_t *opts);
//  Same as tg_lmdb_new with the outcome: TG_OK and *self_p; TG_NOTFOUND (read-only only,
//  not logged) when the directory, the environment, one of its dbs or the current schema
//  version is not there yet (the writer has not created or migrated it); TG_ERR (logged).
int tg_lmdb_open(const tg_lmdb_opts_t *opts, tg_lmdb_t **self_p);
//  Closes the environment; *self_p = NULL. No txn may be open. NULL-safe.
void tg_lmdb_destroy(tg_lmdb_t **self_p);
//  Current map size in bytes.
size_t tg_lmdb_map_size(tg_lmdb_t *self);
//  Bytes of the map in use: pages up to the last one written, minus those on the free list
//  (pages freed but still held by an open reader count as free), times the page size.
//  Opens its own read txn. TG_OK and *used_p, or TG_ERR.
int tg_lmdb_used(tg_lmdb_t *self, size_t *used_p);
//  Frees the reader slots of processes that died inside a read txn (their slots would pin
//  old pages, so deletes would free nothing). Returns how many were freed (logged), or 0.
int tg_lmdb_reader_check(tg_lmdb_t *self);
//  Sets a larger map size (no txn may be open in this process). TG_OK or TG_ERR.
int tg_lmdb_grow(tg_lmdb_t *self, size_t map_size);
//  Doubles the map size, up to max_size (no txn may be open). TG_OK; TG_AGAIN when the map
//  is already max_size or larger (not logged: it stays full); TG_ERR (logged).
int tg_lmdb_grow_double(tg_lmdb_t *self, size_t max_size);
//  Flushes commits made with opts.nosync to the disk. TG_OK or TG_ERR (logged).
int tg_lmdb_sync(tg_lmdb_t *self);
//  Writes a compacted consistent copy to `dir` (must exist and be empty) while the
//  environment stays in use (backup, spec O7). TG_OK or TG_ERR.
int tg_lmdb_copy(tg_lmdb_t *self, const char *dir);

//  Starts a txn (one write txn at a time). TG_OK and *txn_p, or TG_ERR.
int tg_lmdb_begin(tg_lmdb_t *self, bool write, tg_lmdb_txn_t **txn_p);
//  Commits and frees the txn (*txn_p = NULL whatever the outcome). TG_AGAIN when the map
//  is full (not logged: the caller grows or gives up), TG_ERR otherwise on failure.
int tg_lmdb_commit(tg_lmdb_txn_t **txn_p);
//  Drops the txn's changes and frees it; *txn_p = NULL. NULL-safe.
void tg_lmdb_abort(tg_lmdb_txn_t **txn_p);

//  Looks a key up in db `db`. TG_OK with a heap copy in *val_p / *len_p (caller frees; pass
//  val_p NULL to test presence only), TG_NOTFOUND, or TG_ERR.
int
tg_lmdb_get(tg_lmdb_txn_t *txn, int db, const void *key, size_t klen, void **val_p, size_t *len_p);
//  Stores key -> val (overwrites). TG_OK; TG_AGAIN when the map is full (not logged; the
//  txn can then only be aborted); TG_INVALID for an empty or oversized key; TG_ERR.
int
tg_lmdb_put(tg_lmdb_txn_t *txn, int db, const void *key, size_t klen, const void *val, size_t vlen);
//  Deletes a key. TG_OK, TG_NOTFOUND, TG_AGAIN (map full), or TG_ERR.
int tg_lmdb_del(tg_lmdb_txn_t *txn, int db, const void *key, size_t klen);
//  Calls fn for each record with from <= key < to in key order (descending if reverse);
//  from/to NULL mean the first/past-the-last key. TG_OK when done or stopped by fn, TG_ERR.
int tg_lmdb_each(tg_lmdb_txn_t *txn,
                 int db,
                 const void *from,
                 size_t flen,
                 const void *to,
                 size_t tlen,
                 bool reverse,
                 tg_lmdb_each_fn *fn,
                 void *arg);

//  Number of records in db `db`, read from LMDB's own count (no walk). TG_OK or TG_ERR.
int tg_lmdb_count(tg_lmdb_txn_t *txn, int db, uint64_t *n_p);

//  Writes v big-endian into p[0..7], so that keys sort by number (time-ordered keys).
void tg_lmdb_be64_put(uint8_t *p, uint64_t v);
//  Reads the big-endian number that tg_lmdb_be64_put wrote at p[0..7].
uint64_t tg_lmdb_be64_get(const uint8_t *p);

#endif
