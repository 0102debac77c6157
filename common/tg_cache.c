//  tg_cache.c - the response cache: its LMDB layout, the entry encoding, eviction.
//
//  Four dbs in one environment (schema version 1):
//    entries  key(16)                    -> entry (encoding below)
//    ids      response id                -> key(16)  (no row when the id is "")
//    access   be64(access_us) + key(16)  -> ""       (be64(0) + key while invalidated)
//    expiry   be64(expires_us) + key(16) -> ""       (only entries with expires_us != 0)
//  Every write keeps the three indexes in step with `entries` in the same txn. A row that
//  points to a missing or different entry (left by a corrupt entry) is tolerated and
//  dropped when met. An id answered under two keys indexes the later one.
//
//  Entry encoding, version 1, integers little-endian: a fixed 76-byte header
//    0 u8 version | 1 u8 form | 2 u8 flags (1 = invalidated) | 3 u8 zero
//    4 i64 created_us | 12 i64 expires_us | 20 i64 access_us | 28 u64 hits | 36 u64 up
//    44 u64 down | 52 u64 tok_in | 60 u64 tok_out | 68 f64 cost_usd (IEEE-754 bits)
//  then six u32-length-prefixed byte strings: response_id, model, provider, prompt, reason,
//  body; the lengths must add up to the record exactly. A hit is one get and copies; a
//  touch or a vote patches the header of the copy and puts it back. Bytes that do not
//  decode are a miss (one warning), skipped by walks, deleted by eviction.
//
//  Eviction: the used share is pages in use (tg_lmdb_used) over the map size. Expired
//  entries are deleted whenever eviction runs (found through `expiry`, no scan); above
//  high_water, entries are deleted from the front of `access` (invalidated first, as they
//  sit at time 0, then the least recently read) in rounds of one txn each, every round
//  freeing about half of what is still above low_water, until the share is below it. Pages
//  that a txn frees are reusable two txns later (LMDB keeps the previous snapshot), so
//  freeing in more than one round is what lets the put that follows reuse them. A put
//  that meets a full map evicts down to low_water minus twice its size, freeing at least
//  its size in each of the first two rounds even when the measure says there is room (it
//  cannot see fragmentation nor the last txn's pages), and tries once more; then it is
//  dropped (TG_AGAIN) and counted, and the next put that meets a full map evicts again, so
//  a full map never sticks. An entry larger than a quarter of the map is dropped without
//  evicting anything for it.
#include "tg_cache.h"
#include "tg_lmdb.h"
#include "tg_log.h"
#include "tg_util.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define S_SCHEMA 1        //  schema version of the environment
#define S_VERSION 1       //  entry encoding version
#define S_HEADER 76       //  bytes of the fixed entry header
#define S_INVALIDATED 1   //  flags bit
#define S_ROW 24          //  bytes of an access / expiry row: be64 time + key
#define S_BATCH 128       //  rows collected per eviction walk
#define S_CHUNK 256       //  entries changed per txn by a wide invalidation
#define S_OVERHEAD 64     //  estimated bytes of LMDB nodes and index rows per entry
#define S_MAX_ROUNDS 256  //  eviction rounds per call

enum { S_DB_ENTRIES, S_DB_IDS, S_DB_ACCESS, S_DB_EXPIRY, S_NDBS };
static const char *const s_dbs[S_NDBS] = {"entries", "ids", "access", "expiry"};

enum { S_ID, S_MODEL, S_PROVIDER, S_PROMPT, S_REASON, S_BODY, S_NSTR };

struct tg_cache {
    tg_lmdb_t *db;      //  the environment
    bool readonly;      //  opened by a reader
    size_t map_size;    //  bytes of the map
    double high_water;  //  used share that starts eviction
    double low_water;   //  used share eviction goes down to
    uint64_t evicted;   //  entries evicted since open
    uint64_t dropped;   //  puts dropped since open
    bool full_warned;   //  a full map was logged (once per open)
    bool stuck_warned;  //  a map too full to delete from was logged (once per open)
};

//  An entry decoded in place: the strings point into the encoded bytes.
typedef struct {
    uint8_t form;             //  tg_cache_form_t
    uint8_t flags;            //  S_INVALIDATED
    int64_t created_us;       //  as in tg_cache_entry_t
    int64_t expires_us;       //  ...
    int64_t access_us;        //  ...
    uint64_t hits;            //  ...
    uint64_t up;              //  ...
    uint64_t down;            //  ...
    uint64_t tok_in;          //  ...
    uint64_t tok_out;         //  ...
    double cost_usd;          //  ...
    const char *str[S_NSTR];  //  the strings, not NUL-terminated
    size_t len[S_NSTR];       //  their lengths
} s_view_t;

//  Set once a reader has said that the cache is not there yet (once per process).
static bool s_missing_said;

//  --------------------------------------------------------------------------
//  Encoding

static void
s_le_put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)(v & 0xff);
}

static uint64_t
s_le_get(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

//  Header offsets of the fields a touch or a vote patches.
#define S_OFF_ACCESS 20
#define S_OFF_HITS 28
#define S_OFF_UP 36
#define S_OFF_DOWN 44

static uint8_t *
s_encode(const s_view_t *v, size_t *len_p)
{
    size_t len = S_HEADER;
    for (int i = 0; i < S_NSTR; i++)
        len += 4 + v->len[i];
    uint8_t *p = tg_zalloc(len);
    uint64_t cost;
    memcpy(&cost, &v->cost_usd, sizeof cost);
    p[0] = S_VERSION;
    p[1] = v->form;
    p[2] = v->flags;
    s_le_put(p + 4, (uint64_t)v->created_us, 8);
    s_le_put(p + 12, (uint64_t)v->expires_us, 8);
    s_le_put(p + S_OFF_ACCESS, (uint64_t)v->access_us, 8);
    s_le_put(p + S_OFF_HITS, v->hits, 8);
    s_le_put(p + S_OFF_UP, v->up, 8);
    s_le_put(p + S_OFF_DOWN, v->down, 8);
    s_le_put(p + 52, v->tok_in, 8);
    s_le_put(p + 60, v->tok_out, 8);
    s_le_put(p + 68, cost, 8);
    size_t at = S_HEADER;
    for (int i = 0; i < S_NSTR; i++) {
        s_le_put(p + at, v->len[i], 4);
        if (v->len[i])
            memcpy(p + at + 4, v->str[i], v->len[i]);
        at += 4 + v->len[i];
    }
    *len_p = len;
    return p;
}

//  TG_OK with *v pointing into p[0..len), or TG_INVALID.
static int
s_decode(const void *data, size_t len, s_view_t *v)
{
    const uint8_t *p = data;
    if (len < S_HEADER || p[0] != S_VERSION || p[1] > TG_CACHE_SSE)
        return TG_INVALID;
    memset(v, 0, sizeof *v);
    v->form = p[1];
    v->flags = p[2];
    v->created_us = (int64_t)s_le_get(p + 4, 8);
    v->expires_us = (int64_t)s_le_get(p + 12, 8);
    v->access_us = (int64_t)s_le_get(p + S_OFF_ACCESS, 8);
    v->hits = s_le_get(p + S_OFF_HITS, 8);
    v->up = s_le_get(p + S_OFF_UP, 8);
    v->down = s_le_get(p + S_OFF_DOWN, 8);
    v->tok_in = s_le_get(p + 52, 8);
    v->tok_out = s_le_get(p + 60, 8);
    uint64_t cost = s_le_get(p + 68, 8);
    memcpy(&v->cost_usd, &cost, sizeof cost);
    size_t at = S_HEADER;
    for (int i = 0; i < S_NSTR; i++) {
        if (len - at < 4)
            return TG_INVALID;
        size_t n = (size_t)s_le_get(p + at, 4);
        at += 4;
        if (n > len - at)
            return TG_INVALID;
        v->str[i] = (const char *)p + at;
        v->len[i] = n;
        at += n;
    }
    return at == len ? TG_OK : TG_INVALID;
}

//  Decodes, or logs one warning naming the key.
static int
s_decode_logged(const tg_cache_key_t *key, const void *data, size_t len, s_view_t *v)
{
    if (s_decode(data, len, v) == TG_OK)
        return TG_OK;
    char hex[TG_CACHE_KEY_HEX];
    tg_cache_key_hex(key, hex);
    tg_log_warn("cache entry unreadable, skipped key=%s bytes=%zu", hex, len);
    return TG_INVALID;
}

static void
s_set_str(s_view_t *v, int i, const char *s)
{
    v->str[i] = s ? s : "";
    v->len[i] = s ? strlen(s) : 0;
}

static void
s_view_from_entry(const tg_cache_entry_t *in, s_view_t *v)
{
    memset(v, 0, sizeof *v);
    v->form = (uint8_t)in->form;
    v->flags = in->invalidated ? S_INVALIDATED : 0;
    v->created_us = in->created_us;
    v->expires_us = in->expires_us;
    v->access_us = in->access_us ? in->access_us : in->created_us;
    v->hits = in->hits;
    v->up = in->up;
    v->down = in->down;
    v->tok_in = in->tok_in;
    v->tok_out = in->tok_out;
    v->cost_usd = in->cost_usd;
    s_set_str(v, S_ID, in->response_id);
    s_set_str(v, S_MODEL, in->model);
    s_set_str(v, S_PROVIDER, in->provider);
    s_set_str(v, S_PROMPT, in->prompt);
    s_set_str(v, S_REASON, in->reason);
    v->str[S_BODY] = in->body ? in->body : "";
    v->len[S_BODY] = in->body ? in->body_len : 0;
    if (v->len[S_PROMPT] > TG_CACHE_PROMPT_MAX) {
        //  Cut at a character boundary: back off UTF-8 continuation bytes.
        size_t n = TG_CACHE_PROMPT_MAX;
        const uint8_t *s = (const uint8_t *)v->str[S_PROMPT];
        while (n > 0 && (s[n] & 0xc0) == 0x80)
            n--;
        v->len[S_PROMPT] = n;
    }
}

static void
s_entry_from_view(const s_view_t *v, tg_cache_entry_t *out)
{
    memset(out, 0, sizeof *out);
    out->form = (tg_cache_form_t)v->form;
    out->invalidated = (v->flags & S_INVALIDATED) != 0;
    out->created_us = v->created_us;
    out->expires_us = v->expires_us;
    out->access_us = v->access_us;
    out->hits = v->hits;
    out->up = v->up;
    out->down = v->down;
    out->tok_in = v->tok_in;
    out->tok_out = v->tok_out;
    out->cost_usd = v->cost_usd;
    out->response_id = tg_strndup(v->str[S_ID], v->len[S_ID]);
    out->model = tg_strndup(v->str[S_MODEL], v->len[S_MODEL]);
    out->provider = tg_strndup(v->str[S_PROVIDER], v->len[S_PROVIDER]);
    out->prompt = tg_strndup(v->str[S_PROMPT], v->len[S_PROMPT]);
    out->reason = tg_strndup(v->str[S_REASON], v->len[S_REASON]);
    out->body = tg_zalloc(v->len[S_BODY] + 1);  //  NUL after the bytes, for text bodies
    memcpy(out->body, v->str[S_BODY], v->len[S_BODY]);
    out->body_len = v->len[S_BODY];
}

//  --------------------------------------------------------------------------
//  Index rows

static void
s_row(uint8_t *row, int64_t t_us, const void *key)
{
    tg_lmdb_be64_put(row, t_us > 0 ? (uint64_t)t_us : 0);
    memcpy(row + 8, key, TG_CACHE_KEY_LEN);
}

//  Where an entry sits in `access`: invalidated entries at time 0, to be evicted first.
static int64_t
s_access_pos(const s_view_t *v)
{
    return (v->flags & S_INVALIDATED) ? 0 : v->access_us;
}

//  TG_NOTFOUND is no failure when deleting index rows.
static int
s_del(tg_lmdb_txn_t *txn, int db, const void *k, size_t klen)
{
    int rc = tg_lmdb_del(txn, db, k, klen);
    return rc == TG_NOTFOUND ? TG_OK : rc;
}

//  Deletes the index rows of entry v stored under key.
static int
s_unindex(tg_lmdb_txn_t *txn, const void *key, const s_view_t *v)
{
    uint8_t row[S_ROW];
    int rc;
    s_row(row, s_access_pos(v), key);
    if ((rc = s_del(txn, S_DB_ACCESS, row, S_ROW)) != TG_OK)
        return rc;
    if (v->expires_us != 0) {
        s_row(row, v->expires_us, key);
        if ((rc = s_del(txn, S_DB_EXPIRY, row, S_ROW)) != TG_OK)
            return rc;
    }
    if (v->len[S_ID] > 0) {
        //  Only if the id still points here: a later entry may have taken it.
        void *at = NULL;
        size_t n = 0;
        rc = tg_lmdb_get(txn, S_DB_IDS, v->str[S_ID], v->len[S_ID], &at, &n);
        bool mine = rc == TG_OK && n == TG_CACHE_KEY_LEN && memcmp(at, key, n) == 0;
        free(at);
        if (rc == TG_ERR)
            return rc;
        if (mine && (rc = s_del(txn, S_DB_IDS, v->str[S_ID], v->len[S_ID])) != TG_OK)
            return rc;
    }
    return TG_OK;
}

//  Writes the index rows of entry v stored under key.
static int
s_index(tg_lmdb_txn_t *txn, const void *key, const s_view_t *v)
{
    uint8_t row[S_ROW];
    int rc;
    s_row(row, s_access_pos(v), key);
    if ((rc = tg_lmdb_put(txn, S_DB_ACCESS, row, S_ROW, NULL, 0)) != TG_OK)
        return rc;
    if (v->expires_us != 0) {
        s_row(row, v->expires_us, key);
        if ((rc = tg_lmdb_put(txn, S_DB_EXPIRY, row, S_ROW, NULL, 0)) != TG_OK)
            return rc;
    }
    if (v->len[S_ID] > 0) {
        rc = tg_lmdb_put(txn, S_DB_IDS, v->str[S_ID], v->len[S_ID], key, TG_CACHE_KEY_LEN);
        if (rc == TG_INVALID)
            rc = TG_OK;  //  an id longer than LMDB's key limit is not indexed
        if (rc != TG_OK)
            return rc;
    }
    return TG_OK;
}

//  Stores the encoded entry p[0..len) (decoded as v) under key: the old entry's rows
//  (old NULL: none or unreadable) are replaced by the new ones.
static int
s_store(tg_lmdb_txn_t *txn,
        const tg_cache_key_t *key,
        const s_view_t *old,
        const uint8_t *p,
        size_t len,
        const s_view_t *v)
{
    int rc;
    if (old && (rc = s_unindex(txn, key->b, old)) != TG_OK)
        return rc;
    if ((rc = tg_lmdb_put(txn, S_DB_ENTRIES, key->b, TG_CACHE_KEY_LEN, p, len)) != TG_OK)
        return rc;
    return s_index(txn, key->b, v);
}

//  Deletes the entry under key with its rows; `row`/`db` name the index row that led here,
//  deleted even when the entry is gone or unreadable. With expired_at > 0, a readable entry
//  is deleted only if it is expired then. *freed_p += estimated bytes freed (freed_p may be
//  NULL). TG_OK, TG_NOTFOUND (nothing deleted but the row), TG_AGAIN, TG_ERR.
static int
s_remove(tg_lmdb_txn_t *txn,
         const uint8_t *key,
         int db,
         const uint8_t *row,
         int64_t expired_at,
         size_t *freed_p)
{
    void *val = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(txn, S_DB_ENTRIES, key, TG_CACHE_KEY_LEN, &val, &len);
    if (rc == TG_NOTFOUND && row) {
        rc = s_del(txn, db, row, S_ROW);  //  a stale row
        return rc == TG_OK ? TG_NOTFOUND : rc;
    }
    if (rc != TG_OK)
        return rc;
    s_view_t v;
    tg_cache_key_t k;
    memcpy(k.b, key, TG_CACHE_KEY_LEN);
    if (s_decode_logged(&k, val, len, &v) == TG_OK) {
        if (expired_at > 0 && !(v.expires_us != 0 && expired_at >= v.expires_us)) {
            free(val);  //  not expired: the row was stale, the entry stays
            rc = s_del(txn, db, row, S_ROW);
            return rc == TG_OK ? TG_NOTFOUND : rc;
        }
        rc = s_unindex(txn, key, &v);
    }
    if (rc == TG_OK && row)
        rc = s_del(txn, db, row, S_ROW);
    if (rc == TG_OK)
        rc = tg_lmdb_del(txn, S_DB_ENTRIES, key, TG_CACHE_KEY_LEN);
    free(val);
    if (rc == TG_OK && freed_p)
        *freed_p += len + S_OVERHEAD;
    return rc;
}

//  --------------------------------------------------------------------------
//  Open, close, read

double
tg_cache_quality(const tg_cache_entry_t *entry)
{
    assert(entry);
    return ((double)entry->up + 1.0) / ((double)entry->up + (double)entry->down + 2.0);
}

tg_cache_t *
tg_cache_open(const tg_cache_opts_t *opts)
{
    assert(opts && opts->dir);
    double high = opts->high_water > 0 ? opts->high_water : 0.90;
    double low = opts->low_water > 0 ? opts->low_water : 0.75;
    if (!(low < high && high <= 1.0)) {
        tg_log_error("cache water marks must be 0 < low < high <= 1 low=%g high=%g", low, high);
        return NULL;
    }
    if (!opts->readonly && opts->map_size == 0) {
        tg_log_error("cache map size is 0 dir=%s", opts->dir);
        return NULL;
    }
    tg_lmdb_opts_t lo = {.dir = opts->dir,
                         .map_size = opts->readonly ? 0 : opts->map_size,
                         .dbs = s_dbs,
                         .ndbs = S_NDBS,
                         .schema_version = S_SCHEMA,
                         .readonly = opts->readonly,
                         .nosync = !opts->readonly};
    tg_lmdb_t *db = NULL;
    int rc = tg_lmdb_open(&lo, &db);
    if (rc == TG_NOTFOUND) {
        if (!s_missing_said)
            tg_log_info("cache not there yet dir=%s (the router creates it; retrying quietly)",
                        opts->dir);
        s_missing_said = true;
        return NULL;
    }
    if (rc != TG_OK)
        return NULL;
    tg_cache_t *self = tg_zalloc(sizeof *self);
    self->db = db;
    self->readonly = opts->readonly;
    self->map_size = tg_lmdb_map_size(db);
    self->high_water = high;
    self->low_water = low;
    tg_log_info("cache open dir=%s mode=%s map_bytes=%zu", opts->dir,
                opts->readonly ? "read" : "write", self->map_size);
    return self;
}

void
tg_cache_destroy(tg_cache_t **self_p)
{
    assert(self_p);
    tg_cache_t *self = *self_p;
    if (!self)
        return;
    tg_lmdb_destroy(&self->db);
    free(self);
    *self_p = NULL;
}

int
tg_cache_get(tg_cache_t *self,
             const tg_cache_key_t *key,
             int64_t now_us,
             double min_quality,
             tg_cache_entry_t *out)
{
    assert(self && key && out);
    memset(out, 0, sizeof *out);
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    void *val = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(txn, S_DB_ENTRIES, key->b, TG_CACHE_KEY_LEN, &val, &len);
    tg_lmdb_abort(&txn);
    if (rc != TG_OK)
        return rc;
    s_view_t v;
    if (s_decode_logged(key, val, len, &v) != TG_OK)
        rc = TG_NOTFOUND;
    else if ((v.flags & S_INVALIDATED) || (v.expires_us != 0 && now_us >= v.expires_us))
        rc = TG_NOTFOUND;
    else {
        s_entry_from_view(&v, out);
        if (tg_cache_quality(out) < min_quality) {
            tg_cache_entry_fini(out);
            rc = TG_NOTFOUND;
        }
    }
    free(val);
    return rc;
}

void
tg_cache_entry_fini(tg_cache_entry_t *entry)
{
    if (!entry)
        return;
    free(entry->body);
    free(entry->response_id);
    free(entry->model);
    free(entry->provider);
    free(entry->prompt);
    free(entry->reason);
    memset(entry, 0, sizeof *entry);
}

//  --------------------------------------------------------------------------
//  Eviction

//  Collects up to S_BATCH rows of a walk.
typedef struct {
    uint8_t rows[S_BATCH][S_ROW];  //  the rows, in walk order
    size_t n;                      //  rows collected
} s_rows_t;

static int
s_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    s_rows_t *r = arg;
    if (klen != S_ROW)
        return 0;  //  not a row of ours: skip it
    memcpy(r->rows[r->n++], key, S_ROW);
    return r->n == S_BATCH;
}

//  Deletes the entries expired at now_us, through `expiry`. Count or TG_ERR/TG_AGAIN.
static int
s_drop_expired(tg_cache_t *self, int64_t now_us)
{
    int total = 0;
    uint8_t to[8];
    tg_lmdb_be64_put(to, (uint64_t)now_us + 1);  //  rows with expires_us <= now_us
    s_rows_t *r = tg_zalloc(sizeof *r);
    for (;;) {
        tg_lmdb_txn_t *txn;
        if (tg_lmdb_begin(self->db, true, &txn) != TG_OK) {
            total = TG_ERR;
            break;
        }
        r->n = 0;
        int rc = tg_lmdb_each(txn, S_DB_EXPIRY, NULL, 0, to, sizeof to, false, s_collect, r);
        int n = 0;
        for (size_t i = 0; rc == TG_OK && i < r->n; i++) {
            rc = s_remove(txn, r->rows[i] + 8, S_DB_EXPIRY, r->rows[i], now_us, NULL);
            if (rc == TG_OK)
                n++;
            else if (rc == TG_NOTFOUND)
                rc = TG_OK;  //  a stale row, now gone
        }
        if (rc == TG_OK)
            rc = tg_lmdb_commit(&txn);
        tg_lmdb_abort(&txn);
        if (rc != TG_OK) {
            total = rc;
            break;
        }
        total += n;
        self->evicted += (uint64_t)n;
        if (r->n < S_BATCH)
            break;
    }
    free(r);
    return total;
}

//  One round: deletes entries from the front of `access` until about `want` bytes are
//  freed, at most `max` entries, in one txn. Count (r->n == 0: nothing was left), TG_AGAIN
//  or TG_ERR.
static int
s_evict_round(tg_cache_t *self, size_t want, size_t max, s_rows_t *r)
{
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, true, &txn) != TG_OK)
        return TG_ERR;
    r->n = 0;
    int rc = tg_lmdb_each(txn, S_DB_ACCESS, NULL, 0, NULL, 0, false, s_collect, r);
    int n = 0;
    size_t freed = 0;
    for (size_t i = 0; rc == TG_OK && i < r->n && freed < want && (size_t)n < max; i++) {
        rc = s_remove(txn, r->rows[i] + 8, S_DB_ACCESS, r->rows[i], 0, &freed);
        if (rc == TG_OK)
            n++;
        else if (rc == TG_NOTFOUND)
            rc = TG_OK;  //  a stale row, now gone
    }
    if (rc == TG_OK)
        rc = tg_lmdb_commit(&txn);
    tg_lmdb_abort(&txn);
    if (rc != TG_OK)
        return rc;
    self->evicted += (uint64_t)n;
    return n;
}

//  Expired entries first (when now_us > 0); then, if the used share passes high_water, the
//  front of `access` until fewer than `target` bytes are used. With `force` (a write met a
//  full map) the first two rounds free at least `room` bytes each, whatever the measure
//  says: it counts as free the pages that the last txn freed (not reusable before one more
//  commit) and free pages too scattered for a large value, so it can sit below the target
//  while nothing fits. Count or TG_ERR.
static int
s_evict(tg_cache_t *self, int64_t now_us, double target, bool force, size_t room)
{
    assert(!self->readonly);
    int total = 0;
    if (now_us > 0) {
        int rc = s_drop_expired(self, now_us);
        if (rc == TG_ERR)
            return TG_ERR;
        total += rc > 0 ? rc : 0;  //  TG_AGAIN: the rounds below make room first
    }
    size_t used;
    if (tg_lmdb_used(self->db, &used) != TG_OK)
        return TG_ERR;
    if (!force && (double)used <= self->high_water * (double)self->map_size)
        return total;
    s_rows_t *r = tg_zalloc(sizeof *r);
    size_t max = S_BATCH;
    int forced = force ? 2 : 0;
    for (int round = 0; round < S_MAX_ROUNDS && ((double)used > target || round < forced);
         round++) {
        //  Half of what is above the target per round (see the top comment), at least 1.
        size_t want = (double)used > target ? (size_t)(((double)used - target) / 2) + 1 : 1;
        if (round < forced && want < room)
            want = room;
        int rc = s_evict_round(self, want, max, r);
        if (rc == TG_AGAIN && max > 1) {
            max = 1;  //  too full even to delete many: one at a time
            continue;
        }
        if (rc == TG_AGAIN) {
            //  Even deletes need fresh pages: an open reader pins all that was freed.
            if (!self->stuck_warned)
                tg_log_warn("cache map too full to evict (a reader holding an old snapshot?) "
                            "used_bytes=%zu map_bytes=%zu",
                            used, self->map_size);
            else
                tg_log_debug("cache map too full to evict used_bytes=%zu", used);
            self->stuck_warned = true;
            break;
        }
        if (rc == TG_ERR) {
            free(r);
            return TG_ERR;
        }
        if (r->n == 0)
            break;  //  nothing left to evict
        total += rc;
        if (tg_lmdb_used(self->db, &used) != TG_OK) {
            free(r);
            return TG_ERR;
        }
    }
    free(r);
    return total;
}

int
tg_cache_evict(tg_cache_t *self, int64_t now_us)
{
    assert(self && !self->readonly);
    tg_lmdb_reader_check(self->db);  //  a dead ingest's slot would keep pages from reuse
    return s_evict(self, now_us, self->low_water * (double)self->map_size, false, 0);
}

//  After a write of about `extra` bytes met a full map: evicts down to low_water minus twice
//  that, freeing at least that much in each of two txns (see s_evict).
static void
s_make_room(tg_cache_t *self, int64_t now_us, size_t extra)
{
    double target = self->low_water * (double)self->map_size - 2.0 * (double)extra;
    tg_lmdb_reader_check(self->db);
    s_evict(self, now_us, target > 0 ? target : 0, true, extra);
}

//  Logs a full map once per open (warn), then at debug.
static void
s_full(tg_cache_t *self, const char *what)
{
    if (!self->full_warned)
        tg_log_warn("cache map full even after eviction: %s dropped map_bytes=%zu "
                    "(raise cache.map_size_mb)",
                    what, self->map_size);
    else
        tg_log_debug("cache map full: %s dropped", what);
    self->full_warned = true;
}

//  --------------------------------------------------------------------------
//  Writes

//  Runs fn in one write txn and commits. fn returns a count >= 0 to commit, or a tg_rc_t
//  to abort. The count, or TG_AGAIN (map full), TG_NOTFOUND, TG_ERR...
typedef int(s_write_fn)(tg_cache_t *self, tg_lmdb_txn_t *txn, void *arg);

static int
s_write(tg_cache_t *self, s_write_fn *fn, void *arg)
{
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, true, &txn) != TG_OK)
        return TG_ERR;
    int n = fn(self, txn, arg);
    if (n < 0) {
        tg_lmdb_abort(&txn);
        return n;
    }
    int rc = tg_lmdb_commit(&txn);
    return rc == TG_OK ? n : rc;
}

//  Same, evicting and retrying once when the map is full.
static int
s_write_retry(tg_cache_t *self, int64_t now_us, size_t extra, s_write_fn *fn, void *arg)
{
    int rc = s_write(self, fn, arg);
    if (rc == TG_AGAIN) {
        s_make_room(self, now_us, extra);
        rc = s_write(self, fn, arg);
    }
    return rc;
}

typedef struct {
    const tg_cache_key_t *key;  //  where
    const uint8_t *p;           //  encoded entry
    size_t len;                 //  its length
    const s_view_t *v;          //  p decoded
} s_put_t;

static int
s_put_fn(tg_cache_t *self, tg_lmdb_txn_t *txn, void *arg)
{
    (void)self;
    s_put_t *a = arg;
    void *val = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(txn, S_DB_ENTRIES, a->key->b, TG_CACHE_KEY_LEN, &val, &len);
    s_view_t old;
    bool had = rc == TG_OK && s_decode_logged(a->key, val, len, &old) == TG_OK;
    if (rc == TG_OK || rc == TG_NOTFOUND)
        rc = s_store(txn, a->key, had ? &old : NULL, a->p, a->len, a->v);
    free(val);
    return rc;
}

int
tg_cache_put(tg_cache_t *self, const tg_cache_key_t *key, const tg_cache_entry_t *in)
{
    assert(self && key && in && !self->readonly);
    assert(in->form == TG_CACHE_JSON || in->form == TG_CACHE_SSE);
    s_view_t v;
    s_view_from_entry(in, &v);
    for (int i = 0; i < S_NSTR; i++)
        if (v.len[i] > UINT32_MAX / 2) {
            tg_log_warn("cache entry too large, dropped bytes=%zu", v.len[i]);
            self->dropped++;
            return TG_AGAIN;
        }
    s_put_t a = {.key = key, .v = &v};
    uint8_t *p = s_encode(&v, &a.len);
    a.p = p;
    s_decode(p, a.len, &v);  //  the view now points into p, as s_store expects
    int rc;
    if (a.len > self->map_size / 4) {
        tg_log_warn("cache entry too large for the map, dropped bytes=%zu map_bytes=%zu", a.len,
                    self->map_size);
        rc = TG_AGAIN;
    } else {
        s_evict(self, in->created_us, self->low_water * (double)self->map_size, false, 0);
        rc = s_write_retry(self, in->created_us, a.len + S_OVERHEAD, s_put_fn, &a);
        if (rc == TG_AGAIN)
            s_full(self, "fill");
    }
    if (rc == TG_AGAIN)
        self->dropped++;
    free(p);
    return rc == TG_AGAIN || rc == TG_ERR ? rc : TG_OK;
}

//  Reads and decodes the entry under key into *v (pointing into *val_p, which the caller
//  frees). TG_OK, TG_NOTFOUND (absent or unreadable), TG_ERR.
static int
s_load(tg_lmdb_txn_t *txn, const tg_cache_key_t *key, void **val_p, size_t *len_p, s_view_t *v)
{
    *val_p = NULL;
    int rc = tg_lmdb_get(txn, S_DB_ENTRIES, key->b, TG_CACHE_KEY_LEN, val_p, len_p);
    if (rc == TG_OK && s_decode_logged(key, *val_p, *len_p, v) != TG_OK)
        rc = TG_NOTFOUND;
    if (rc != TG_OK) {
        free(*val_p);
        *val_p = NULL;
    }
    return rc;
}

typedef struct {
    const tg_cache_key_t *keys;  //  entries read
    size_t n;                    //  how many
    int64_t now_us;              //  when
} s_touch_t;

static int
s_touch_fn(tg_cache_t *self, tg_lmdb_txn_t *txn, void *arg)
{
    (void)self;
    s_touch_t *a = arg;
    int count = 0;
    for (size_t i = 0; i < a->n; i++) {
        void *val;
        size_t len;
        s_view_t v;
        int rc = s_load(txn, &a->keys[i], &val, &len, &v);
        if (rc == TG_NOTFOUND)
            continue;
        if (rc != TG_OK)
            return rc;
        uint8_t *p = val;
        uint8_t row[S_ROW];
        if (!(v.flags & S_INVALIDATED)) {
            s_row(row, v.access_us, a->keys[i].b);
            rc = s_del(txn, S_DB_ACCESS, row, S_ROW);
            s_row(row, a->now_us, a->keys[i].b);
            if (rc == TG_OK)
                rc = tg_lmdb_put(txn, S_DB_ACCESS, row, S_ROW, NULL, 0);
        }
        s_le_put(p + S_OFF_HITS, v.hits + 1, 8);
        s_le_put(p + S_OFF_ACCESS, (uint64_t)a->now_us, 8);
        if (rc == TG_OK)
            rc = tg_lmdb_put(txn, S_DB_ENTRIES, a->keys[i].b, TG_CACHE_KEY_LEN, p, len);
        free(val);
        if (rc != TG_OK)
            return rc;
        count++;
    }
    return count;
}

int
tg_cache_touch(tg_cache_t *self, const tg_cache_key_t *keys, size_t n, int64_t now_us)
{
    assert(self && (keys || n == 0) && !self->readonly);
    if (n == 0)
        return 0;
    s_touch_t a = {.keys = keys, .n = n, .now_us = now_us};
    int rc = s_write_retry(self, now_us, 0, s_touch_fn, &a);
    if (rc == TG_AGAIN) {
        s_full(self, "hit counts");
        return 0;
    }
    return rc;
}

//  The key the id indexes. TG_OK, TG_NOTFOUND, TG_ERR.
static int
s_key_of(tg_lmdb_txn_t *txn, const char *response_id, tg_cache_key_t *key)
{
    void *val = NULL;
    size_t len = 0;
    int rc = tg_lmdb_get(txn, S_DB_IDS, response_id, strlen(response_id), &val, &len);
    if (rc == TG_OK && len != TG_CACHE_KEY_LEN)
        rc = TG_NOTFOUND;  //  not a key: ignore the row
    if (rc == TG_OK)
        memcpy(key->b, val, TG_CACHE_KEY_LEN);
    free(val);
    return rc;
}

typedef struct {
    const char *response_id;  //  answer voted on
    bool up;                  //  up or down
} s_vote_t;

static int
s_vote_fn(tg_cache_t *self, tg_lmdb_txn_t *txn, void *arg)
{
    (void)self;
    s_vote_t *a = arg;
    tg_cache_key_t key;
    int rc = s_key_of(txn, a->response_id, &key);
    if (rc != TG_OK)
        return rc;
    void *val;
    size_t len;
    s_view_t v;
    if ((rc = s_load(txn, &key, &val, &len, &v)) != TG_OK)
        return rc;
    if (v.len[S_ID] != strlen(a->response_id)
        || memcmp(v.str[S_ID], a->response_id, v.len[S_ID]) != 0)
        rc = TG_NOTFOUND;  //  a stale id row
    else if (a->up)
        s_le_put((uint8_t *)val + S_OFF_UP, v.up + 1, 8);
    else
        s_le_put((uint8_t *)val + S_OFF_DOWN, v.down + 1, 8);
    if (rc == TG_OK)
        rc = tg_lmdb_put(txn, S_DB_ENTRIES, key.b, TG_CACHE_KEY_LEN, val, len);
    free(val);
    return rc;
}

int
tg_cache_vote(tg_cache_t *self, const char *response_id, bool up)
{
    assert(self && response_id && !self->readonly);
    if (!*response_id)
        return TG_NOTFOUND;
    s_vote_t a = {.response_id = response_id, .up = up};
    int rc = s_write_retry(self, 0, 0, s_vote_fn, &a);
    if (rc == TG_AGAIN) {
        s_full(self, "vote");
        return TG_ERR;
    }
    return rc;
}

typedef struct {
    const char *id;         //  NULL = any
    const char *model;      //  NULL = any
    int64_t older_than_us;  //  0 = any
    const char *reason;     //  stored in the entries
    tg_cache_key_t *keys;   //  keys to invalidate
    size_t n;               //  keys used
    size_t alloc;           //  keys allocated
} s_inval_t;

//  True if a valid entry matches the model and age criteria.
static bool
s_matches(const s_inval_t *a, const s_view_t *v)
{
    if (v->flags & S_INVALIDATED)
        return false;  //  already invalidated: left as it is, not counted
    if (a->id && (v->len[S_ID] != strlen(a->id) || memcmp(v->str[S_ID], a->id, v->len[S_ID]) != 0))
        return false;
    if (a->model
        && (v->len[S_MODEL] != strlen(a->model)
            || memcmp(v->str[S_MODEL], a->model, v->len[S_MODEL]) != 0))
        return false;
    return !a->older_than_us || v->created_us < a->older_than_us;
}

static int
s_inval_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_inval_t *a = arg;
    s_view_t v;
    if (klen != TG_CACHE_KEY_LEN || s_decode(val, vlen, &v) != TG_OK || !s_matches(a, &v))
        return 0;  //  unreadable entries are skipped (logged when read or evicted)
    if (a->n == a->alloc) {
        a->alloc = a->alloc ? 2 * a->alloc : 64;
        a->keys = tg_realloc(a->keys, a->alloc * sizeof *a->keys);
    }
    memcpy(a->keys[a->n++].b, key, TG_CACHE_KEY_LEN);
    return 0;
}

typedef struct {
    s_inval_t *a;  //  the invalidation
    size_t from;   //  first key of this chunk
    size_t to;     //  past its last
} s_chunk_t;

static int
s_inval_fn(tg_cache_t *self, tg_lmdb_txn_t *txn, void *arg)
{
    (void)self;
    s_chunk_t *c = arg;
    int count = 0;
    for (size_t i = c->from; i < c->to; i++) {
        const tg_cache_key_t *key = &c->a->keys[i];
        void *val;
        size_t len;
        s_view_t old;
        int rc = s_load(txn, key, &val, &len, &old);
        if (rc == TG_NOTFOUND)
            continue;
        if (rc != TG_OK)
            return rc;
        if (s_matches(c->a, &old)) {
            s_view_t v = old;
            v.flags |= S_INVALIDATED;
            s_set_str(&v, S_REASON, c->a->reason);
            size_t n;
            uint8_t *p = s_encode(&v, &n);
            s_decode(p, n, &v);
            rc = s_store(txn, key, &old, p, n, &v);
            free(p);
            count++;
        }
        free(val);
        if (rc != TG_OK)
            return rc;
    }
    return count;
}

int
tg_cache_invalidate(tg_cache_t *self,
                    const char *response_id,
                    const char *model,
                    int64_t older_than_us,
                    const char *reason)
{
    assert(self && !self->readonly);
    if (!response_id && !model && !older_than_us)
        return TG_INVALID;
    s_inval_t a = {
        .id = response_id, .model = model, .older_than_us = older_than_us, .reason = reason};
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    int rc = TG_OK;
    if (response_id) {
        a.keys = tg_zalloc(sizeof *a.keys);
        a.alloc = 1;
        rc = *response_id ? s_key_of(txn, response_id, &a.keys[0]) : TG_NOTFOUND;
        a.n = rc == TG_OK ? 1 : 0;
        if (rc == TG_NOTFOUND)
            rc = TG_OK;
    } else
        rc = tg_lmdb_each(txn, S_DB_ENTRIES, NULL, 0, NULL, 0, false, s_inval_collect, &a);
    tg_lmdb_abort(&txn);
    int total = 0;
    for (size_t from = 0; rc == TG_OK && from < a.n; from += S_CHUNK) {
        s_chunk_t c = {.a = &a, .from = from, .to = a.n - from > S_CHUNK ? from + S_CHUNK : a.n};
        int n = s_write_retry(self, 0, 0, s_inval_fn, &c);
        if (n == TG_AGAIN) {
            s_full(self, "invalidation");
            rc = TG_ERR;
        } else if (n < 0)
            rc = n;
        else
            total += n;
    }
    free(a.keys);
    return rc == TG_OK ? total : rc;
}

//  --------------------------------------------------------------------------
//  Stats and keys

typedef struct {
    tg_cache_stats_t *out;  //  being filled
    int64_t now_us;         //  for expiry
} s_stats_t;

static int
s_stats_fn(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key;
    (void)klen;
    s_stats_t *a = arg;
    s_view_t v;
    a->out->entries++;
    if (s_decode(val, vlen, &v) != TG_OK)
        return 0;  //  counted, otherwise skipped
    if (v.flags & S_INVALIDATED)
        a->out->invalidated++;
    if (v.expires_us != 0 && a->now_us >= v.expires_us)
        a->out->expired++;
    a->out->hits += v.hits;
    return 0;
}

void
tg_cache_key_hex(const tg_cache_key_t *key, char *out)
{
    static const char digits[] = "0123456789abcdef";
    assert(key && out);
    for (int i = 0; i < TG_CACHE_KEY_LEN; i++) {
        out[2 * i] = digits[key->b[i] >> 4];
        out[2 * i + 1] = digits[key->b[i] & 0xf];
    }
    out[2 * TG_CACHE_KEY_LEN] = 0;
}

static int
s_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
tg_cache_key_parse(const char *hex, tg_cache_key_t *out)
{
    assert(out);
    if (!hex)
        return TG_INVALID;
    tg_cache_key_t k;
    for (int i = 0; i < TG_CACHE_KEY_LEN; i++) {
        int hi = s_nibble(hex[2 * i]);
        int lo = hi < 0 ? -1 : s_nibble(hex[2 * i + 1]);
        if (lo < 0)
            return TG_INVALID;
        k.b[i] = (uint8_t)(hi << 4 | lo);
    }
    if (hex[2 * TG_CACHE_KEY_LEN] != 0)
        return TG_INVALID;
    *out = k;
    return TG_OK;
}

int
tg_cache_sync(tg_cache_t *self)
{
    return self->readonly ? TG_OK : tg_lmdb_sync(self->db);
}

//  The figures both stats calls give; with `walk`, each entry is read for the rest.
static int
s_stats(tg_cache_t *self, int64_t now_us, bool walk, tg_cache_stats_t *out)
{
    assert(self && out);
    memset(out, 0, sizeof *out);
    size_t used = 0;
    if (tg_lmdb_used(self->db, &used) != TG_OK)
        return TG_ERR;
    out->bytes = used;
    out->map_bytes = self->map_size;
    out->evicted = self->evicted;
    out->dropped = self->dropped;
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    s_stats_t a = {.out = out, .now_us = now_us};
    int rc = walk ? tg_lmdb_each(txn, S_DB_ENTRIES, NULL, 0, NULL, 0, false, s_stats_fn, &a)
                  : tg_lmdb_count(txn, S_DB_ENTRIES, &out->entries);
    tg_lmdb_abort(&txn);
    return rc;
}

int
tg_cache_stats(tg_cache_t *self, int64_t now_us, tg_cache_stats_t *out)
{
    return s_stats(self, now_us, true, out);
}

int
tg_cache_counts(tg_cache_t *self, tg_cache_stats_t *out)
{
    return s_stats(self, 0, false, out);
}
