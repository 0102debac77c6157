//  test_lmdb.c - tg_lmdb: put/get/del, ranges both ways, map full and growth, schema versions.
#include <CUnit/CUnit.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tg_lmdb.h"
#include "tg_util.h"

static const char *const s_dbs[] = {"a", "b"};

static char *
s_tmpdir(void)
{
    char tmpl[] = "/tmp/tg-test-lmdb-XXXXXX";
    char *d = mkdtemp(tmpl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    return tg_strfmt("%s/env", d);  //  a missing subdir: tg_lmdb_new creates it
}

static void
s_rmdir(char *dir)
{
    *strrchr(dir, '/') = 0;  //  the mkdtemp parent
    char *cmd = tg_strfmt("rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(cmd);
    free(dir);
}

static tg_lmdb_t *
s_open(const char *dir, size_t map, uint32_t version, tg_lmdb_migrate_fn *fn, void *arg)
{
    tg_lmdb_opts_t o = {.dir = dir,
                        .map_size = map,
                        .dbs = s_dbs,
                        .ndbs = 2,
                        .schema_version = version,
                        .migrate = fn,
                        .migrate_arg = arg};
    return tg_lmdb_new(&o);
}

static void
test_put_get_del(void)
{
    char *dir = s_tmpdir();
    tg_lmdb_t *db = s_open(dir, 4 << 20, 1, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    tg_lmdb_txn_t *t;
    CU_ASSERT_EQUAL(tg_lmdb_begin(db, true, &t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 0, "k1", 2, "v1", 2), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 1, "k1", 2, "other", 5), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 0, "empty", 5, NULL, 0), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 0, "", 0, "x", 1), TG_INVALID);
    CU_ASSERT_EQUAL(tg_lmdb_commit(&t), TG_OK);
    CU_ASSERT_PTR_NULL(t);
    tg_lmdb_destroy(&db);
    CU_ASSERT_PTR_NULL(db);

    //  Survives a reopen; dbs are separate.
    db = s_open(dir, 4 << 20, 1, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(tg_lmdb_begin(db, false, &t), TG_OK);
    void *v = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(tg_lmdb_get(t, 0, "k1", 2, &v, &n), TG_OK);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_STRING_EQUAL(v, "v1");
    free(v);
    CU_ASSERT_EQUAL(tg_lmdb_get(t, 1, "k1", 2, &v, &n), TG_OK);
    CU_ASSERT_STRING_EQUAL(v, "other");
    free(v);
    CU_ASSERT_EQUAL(tg_lmdb_get(t, 0, "empty", 5, NULL, &n), TG_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(tg_lmdb_get(t, 0, "nope", 4, NULL, NULL), TG_NOTFOUND);
    tg_lmdb_abort(&t);
    CU_ASSERT_PTR_NULL(t);

    CU_ASSERT_EQUAL(tg_lmdb_begin(db, true, &t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_del(t, 0, "k1", 2), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_del(t, 0, "k1", 2), TG_NOTFOUND);
    tg_lmdb_abort(&t);  //  an aborted delete leaves the record
    CU_ASSERT_EQUAL(tg_lmdb_begin(db, false, &t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_get(t, 0, "k1", 2, NULL, NULL), TG_OK);
    tg_lmdb_abort(&t);
    tg_lmdb_destroy(&db);
    s_rmdir(dir);
}

typedef struct {
    char seen[16][8];  //  keys visited, in order
    int n;             //  visits
    int stop_after;    //  stop after this many (0 = never)
} s_walk_t;

static int
s_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    s_walk_t *w = arg;
    if (w->n < 16 && klen < 8) {
        memcpy(w->seen[w->n], key, klen);
        w->seen[w->n][klen] = 0;
    }
    w->n++;
    return w->stop_after && w->n >= w->stop_after;
}

static void
test_each_ranges(void)
{
    char *dir = s_tmpdir();
    tg_lmdb_t *db = s_open(dir, 4 << 20, 1, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    tg_lmdb_txn_t *t;
    CU_ASSERT_EQUAL(tg_lmdb_begin(db, true, &t), TG_OK);
    const char *keys[] = {"b", "d", "f", "h"};
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(tg_lmdb_put(t, 0, keys[i], 1, "", 0), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_commit(&t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_begin(db, false, &t), TG_OK);

    s_walk_t w = {0};
    CU_ASSERT_EQUAL(tg_lmdb_each(t, 0, NULL, 0, NULL, 0, false, s_collect, &w), TG_OK);
    CU_ASSERT_EQUAL(w.n, 4);
    CU_ASSERT_STRING_EQUAL(w.seen[0], "b");
    CU_ASSERT_STRING_EQUAL(w.seen[3], "h");

    memset(&w, 0, sizeof w);  //  [c, f): d only, f excluded
    CU_ASSERT_EQUAL(tg_lmdb_each(t, 0, "c", 1, "f", 1, false, s_collect, &w), TG_OK);
    CU_ASSERT_EQUAL(w.n, 1);
    CU_ASSERT_STRING_EQUAL(w.seen[0], "d");

    memset(&w, 0, sizeof w);  //  [d, h) descending: f, d
    CU_ASSERT_EQUAL(tg_lmdb_each(t, 0, "d", 1, "h", 1, true, s_collect, &w), TG_OK);
    CU_ASSERT_EQUAL(w.n, 2);
    CU_ASSERT_STRING_EQUAL(w.seen[0], "f");
    CU_ASSERT_STRING_EQUAL(w.seen[1], "d");

    memset(&w, 0, sizeof w);  //  upper bound past every key, descending from the last
    CU_ASSERT_EQUAL(tg_lmdb_each(t, 0, "c", 1, "z", 1, true, s_collect, &w), TG_OK);
    CU_ASSERT_EQUAL(w.n, 3);
    CU_ASSERT_STRING_EQUAL(w.seen[0], "h");
    CU_ASSERT_STRING_EQUAL(w.seen[2], "d");

    memset(&w, 0, sizeof w);  //  whole db descending, stopped by the callback
    w.stop_after = 2;
    CU_ASSERT_EQUAL(tg_lmdb_each(t, 0, NULL, 0, NULL, 0, true, s_collect, &w), TG_OK);
    CU_ASSERT_EQUAL(w.n, 2);
    CU_ASSERT_STRING_EQUAL(w.seen[0], "h");
    CU_ASSERT_STRING_EQUAL(w.seen[1], "f");

    memset(&w, 0, sizeof w);  //  below every key
    CU_ASSERT_EQUAL(tg_lmdb_each(t, 0, NULL, 0, "a", 1, true, s_collect, &w), TG_OK);
    CU_ASSERT_EQUAL(w.n, 0);
    memset(&w, 0, sizeof w);  //  empty db
    CU_ASSERT_EQUAL(tg_lmdb_each(t, 1, NULL, 0, NULL, 0, false, s_collect, &w), TG_OK);
    CU_ASSERT_EQUAL(w.n, 0);
    tg_lmdb_abort(&t);
    tg_lmdb_destroy(&db);
    s_rmdir(dir);
}

static void
test_map_full_then_grow(void)
{
    char *dir = s_tmpdir();
    tg_lmdb_t *db = s_open(dir, 256 << 10, 1, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    char val[2048];
    memset(val, 'x', sizeof val);
    tg_lmdb_txn_t *t;
    int rc = TG_OK;
    int stored = 0;
    //  Fill the 256 KiB map until LMDB reports it full.
    while (rc == TG_OK && stored < 10000) {
        CU_ASSERT_EQUAL_FATAL(tg_lmdb_begin(db, true, &t), TG_OK);
        for (int i = 0; i < 10 && rc == TG_OK; i++) {
            char key[16];
            int n = snprintf(key, sizeof key, "k%06d", stored + i);
            rc = tg_lmdb_put(t, 0, key, (size_t)n, val, sizeof val);
        }
        if (rc == TG_OK)
            rc = tg_lmdb_commit(&t);
        else
            tg_lmdb_abort(&t);
        if (rc == TG_OK)
            stored += 10;
    }
    CU_ASSERT_EQUAL(rc, TG_AGAIN);
    CU_ASSERT(stored > 0);
    size_t before = tg_lmdb_map_size(db);
    CU_ASSERT_EQUAL(tg_lmdb_grow(db, before * 4), TG_OK);
    CU_ASSERT(tg_lmdb_map_size(db) >= before * 4);
    CU_ASSERT_EQUAL(tg_lmdb_begin(db, true, &t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 0, "after", 5, val, sizeof val), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_commit(&t), TG_OK);
    tg_lmdb_destroy(&db);

    //  The grown size is kept by the file; earlier data is intact.
    db = s_open(dir, 256 << 10, 1, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT(tg_lmdb_map_size(db) >= before * 4);
    CU_ASSERT_EQUAL(tg_lmdb_begin(db, false, &t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_get(t, 0, "k000000", 7, NULL, NULL), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_get(t, 0, "after", 5, NULL, NULL), TG_OK);
    tg_lmdb_abort(&t);

    //  Backup copy while open is a working environment of its own.
    char *copy = tg_strfmt("%s-copy", dir);
    char *mk = tg_strfmt("mkdir -p '%s'", copy);
    CU_ASSERT_EQUAL(system(mk), 0);
    CU_ASSERT_EQUAL(tg_lmdb_copy(db, copy), TG_OK);
    tg_lmdb_t *db2 = s_open(copy, 4 << 20, 1, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db2);
    CU_ASSERT_EQUAL(tg_lmdb_begin(db2, false, &t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_get(t, 0, "after", 5, NULL, NULL), TG_OK);
    tg_lmdb_abort(&t);
    tg_lmdb_destroy(&db2);
    free(mk);
    free(copy);
    tg_lmdb_destroy(&db);
    s_rmdir(dir);
}

static void
test_grow_double(void)
{
    char *dir = s_tmpdir();
    tg_lmdb_t *db = s_open(dir, 256 << 10, 1, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(tg_lmdb_map_size(db), 256 << 10);
    CU_ASSERT_EQUAL(tg_lmdb_grow_double(db, 768 << 10), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_map_size(db), 512 << 10);
    CU_ASSERT_EQUAL(tg_lmdb_grow_double(db, 768 << 10), TG_OK);  //  capped, not doubled
    CU_ASSERT_EQUAL(tg_lmdb_map_size(db), 768 << 10);
    CU_ASSERT_EQUAL(tg_lmdb_grow_double(db, 768 << 10), TG_AGAIN);
    CU_ASSERT_EQUAL(tg_lmdb_grow_double(db, 512 << 10), TG_AGAIN);  //  already larger
    CU_ASSERT_EQUAL(tg_lmdb_map_size(db), 768 << 10);
    tg_lmdb_destroy(&db);
    s_rmdir(dir);
}

static void
test_be64(void)
{
    uint8_t a[8], b[8];
    tg_lmdb_be64_put(a, 0x0102030405060708ULL);
    static const uint8_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CU_ASSERT_EQUAL(memcmp(a, want, 8), 0);
    CU_ASSERT_EQUAL(tg_lmdb_be64_get(a), 0x0102030405060708ULL);
    tg_lmdb_be64_put(b, UINT64_MAX);
    CU_ASSERT_EQUAL(tg_lmdb_be64_get(b), UINT64_MAX);
    //  Byte order follows number order.
    tg_lmdb_be64_put(a, 255);
    tg_lmdb_be64_put(b, 256);
    CU_ASSERT(memcmp(a, b, 8) < 0);
}

typedef struct {
    int calls;      //  migrate calls
    uint32_t from;  //  version it was called with
    int result;     //  what it returns
} s_migr_t;

static int
s_migrate(tg_lmdb_txn_t *txn, uint32_t from, void *arg)
{
    s_migr_t *m = arg;
    m->calls++;
    m->from = from;
    if (m->result == TG_OK)
        return tg_lmdb_put(txn, 1, "migrated", 8, "yes", 3);
    return m->result;
}

static void
test_schema_versions(void)
{
    char *dir = s_tmpdir();
    s_migr_t m = {0};
    tg_lmdb_t *db = s_open(dir, 4 << 20, 1, s_migrate, &m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(m.calls, 0);  //  fresh: nothing to migrate
    tg_lmdb_destroy(&db);

    //  A failing migration refuses the open and leaves the version as it was.
    m.result = TG_ERR;
    CU_ASSERT_PTR_NULL(s_open(dir, 4 << 20, 2, s_migrate, &m));
    CU_ASSERT_EQUAL(m.calls, 1);
    db = s_open(dir, 4 << 20, 1, s_migrate, &m);
    CU_ASSERT_PTR_NOT_NULL(db);
    tg_lmdb_destroy(&db);

    //  Newer code migrates older data once.
    m = (s_migr_t){0};
    db = s_open(dir, 4 << 20, 2, s_migrate, &m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(m.calls, 1);
    CU_ASSERT_EQUAL(m.from, 1);
    tg_lmdb_txn_t *t;
    CU_ASSERT_EQUAL(tg_lmdb_begin(db, false, &t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_get(t, 1, "migrated", 8, NULL, NULL), TG_OK);
    tg_lmdb_abort(&t);
    tg_lmdb_destroy(&db);
    db = s_open(dir, 4 << 20, 2, s_migrate, &m);
    CU_ASSERT_PTR_NOT_NULL(db);
    CU_ASSERT_EQUAL(m.calls, 1);
    tg_lmdb_destroy(&db);

    //  Older code refuses newer data.
    CU_ASSERT_PTR_NULL(s_open(dir, 4 << 20, 1, NULL, NULL));

    //  Data without a version record counts as version 0.
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    CU_ASSERT_EQUAL_FATAL(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4);
    CU_ASSERT_EQUAL_FATAL(mdb_env_open(env, dir, 0, 0640), 0);
    CU_ASSERT_EQUAL_FATAL(mdb_txn_begin(env, NULL, 0, &txn), 0);
    CU_ASSERT_EQUAL_FATAL(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {.mv_size = 14, .mv_data = "schema_version"};
    CU_ASSERT_EQUAL(mdb_del(txn, meta, &k, NULL), 0);
    CU_ASSERT_EQUAL(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    m = (s_migr_t){0};
    db = s_open(dir, 4 << 20, 2, s_migrate, &m);
    CU_ASSERT_PTR_NOT_NULL(db);
    CU_ASSERT_EQUAL(m.calls, 1);
    CU_ASSERT_EQUAL(m.from, 0);
    tg_lmdb_destroy(&db);
    s_rmdir(dir);
}

static tg_lmdb_t *
s_open_ro(const char *dir, uint32_t version, int *rc_p)
{
    tg_lmdb_opts_t o = {
        .dir = dir, .dbs = s_dbs, .ndbs = 2, .schema_version = version, .readonly = true};
    tg_lmdb_t *db = NULL;
    *rc_p = tg_lmdb_open(&o, &db);
    return db;
}

//  A read-only open: quiet TG_NOTFOUND until the writer has created the environment and its
//  dbs at the reader's schema version; then it reads what the writer committed.
static void
test_readonly(void)
{
    char *dir = s_tmpdir();
    int rc;
    CU_ASSERT_PTR_NULL(s_open_ro(dir, 1, &rc));  //  no directory
    CU_ASSERT_EQUAL(rc, TG_NOTFOUND);
    tg_lmdb_t *db = s_open(dir, 1 << 20, 1, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    tg_lmdb_txn_t *t;
    CU_ASSERT_EQUAL_FATAL(tg_lmdb_begin(db, true, &t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 1, "k", 1, "v", 1), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_commit(&t), TG_OK);
    tg_lmdb_destroy(&db);

    db = s_open_ro(dir, 1, &rc);
    CU_ASSERT_EQUAL(rc, TG_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(tg_lmdb_map_size(db), 1 << 20);  //  the writer's size
    CU_ASSERT_EQUAL_FATAL(tg_lmdb_begin(db, false, &t), TG_OK);
    void *v = NULL;
    CU_ASSERT_EQUAL(tg_lmdb_get(t, 1, "k", 1, &v, NULL), TG_OK);
    CU_ASSERT_STRING_EQUAL(v, "v");
    free(v);
    tg_lmdb_abort(&t);
    size_t used = 0;
    CU_ASSERT_EQUAL(tg_lmdb_used(db, &used), TG_OK);
    CU_ASSERT(used > 0 && used < (1 << 20));
    tg_lmdb_destroy(&db);

    //  Data not yet migrated to the reader's version: not there yet. Newer: refused.
    CU_ASSERT_PTR_NULL(s_open_ro(dir, 2, &rc));
    CU_ASSERT_EQUAL(rc, TG_NOTFOUND);
    db = s_open(dir, 1 << 20, 3, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    tg_lmdb_destroy(&db);
    CU_ASSERT_PTR_NULL(s_open_ro(dir, 2, &rc));
    CU_ASSERT_EQUAL(rc, TG_ERR);
    s_rmdir(dir);
}

//  Deleting gives pages back to the free list, so the bytes in use go down again.
static void
test_used(void)
{
    char *dir = s_tmpdir();
    tg_lmdb_t *db = s_open(dir, 4 << 20, 1, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    size_t empty = 0, full = 0, after = 0;
    CU_ASSERT_EQUAL(tg_lmdb_used(db, &empty), TG_OK);
    char val[8000] = {0};
    tg_lmdb_txn_t *t;
    CU_ASSERT_EQUAL_FATAL(tg_lmdb_begin(db, true, &t), TG_OK);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(tg_lmdb_put(t, 0, &i, sizeof i, val, sizeof val), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_commit(&t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_used(db, &full), TG_OK);
    CU_ASSERT(full >= empty + 100 * sizeof val);
    CU_ASSERT_EQUAL_FATAL(tg_lmdb_begin(db, true, &t), TG_OK);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(tg_lmdb_del(t, 0, &i, sizeof i), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_commit(&t), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_used(db, &after), TG_OK);
    CU_ASSERT(after < empty + 10 * 4096);
    tg_lmdb_destroy(&db);
    s_rmdir(dir);
}

static void
test_bad_dir(void)
{
    tg_lmdb_opts_t o = {.dir = "/proc/no-such/env", .map_size = 1 << 20, .schema_version = 1};
    CU_ASSERT_PTR_NULL(tg_lmdb_new(&o));
}

void
test_lmdb_register(void)
{
    CU_pSuite s = CU_add_suite("lmdb", NULL, NULL);
    CU_add_test(s, "put_get_del", test_put_get_del);
    CU_add_test(s, "each_ranges", test_each_ranges);
    CU_add_test(s, "map_full_then_grow", test_map_full_then_grow);
    CU_add_test(s, "grow_double", test_grow_double);
    CU_add_test(s, "be64", test_be64);
    CU_add_test(s, "schema_versions", test_schema_versions);
    CU_add_test(s, "readonly", test_readonly);
    CU_add_test(s, "used", test_used);
    CU_add_test(s, "bad_dir", test_bad_dir);
}
