//  tg_cache.h - the response cache (spec C1, C2, C4): one LMDB environment of answers,
//  keyed by a 128-bit hash of the normalized request and its scope.
//
//  The router opens it read-write and is its one writer: fills, hit counts, feedback,
//  invalidation, eviction. Each ingest on the same host opens it read-only and answers hits
//  from it with no hop (LMDB serves many reader processes from one map). The map size is
//  fixed by config (cache.map_size_mb): the map never grows, so readers never remap. Near
//  full, the writer evicts the entries read longest ago; a full map never fails a request
//  (a fill that does not fit is dropped and counted).
//
//  An entry holds the answer as the client got it: the JSON body of a whole answer
//  (TG_CACHE_JSON), or the SSE bytes of a stream (TG_CACHE_SSE: the "data: {...}\n\n"
//  events, usage chunk included, "data: [DONE]" included). tg_cache_form.h converts one
//  form into the other.
//
//  Entries are found by key, and by the answer's response id ("chatcmpl-...") for feedback
//  and invalidation by id. The dbs, the entry encoding and the eviction rounds are described
//  at the top of tg_cache.c. One tg_cache_t per process and thread; not thread-safe.
#ifndef TG_CACHE_H
#define TG_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_CACHE_KEY_LEN 16       //  bytes of a key (XXH3 128-bit)
#define TG_CACHE_KEY_HEX 33       //  chars of its hex form, NUL included
#define TG_CACHE_PROMPT_MAX 4096  //  bytes of the normalized prompt kept in an entry

typedef struct tg_cache tg_cache_t;

typedef struct {
    uint8_t b[TG_CACHE_KEY_LEN];
} tg_cache_key_t;

typedef enum {
    TG_CACHE_JSON = 0,  //  a whole chat.completion / embeddings JSON body
    TG_CACHE_SSE = 1,   //  the SSE bytes of a streamed chat completion
} tg_cache_form_t;

//  One entry. From tg_cache_get the strings and body are heap copies the caller owns
//  (tg_cache_entry_fini); for tg_cache_put they are borrowed (NULL = "").
typedef struct {
    tg_cache_form_t form;
    char *body;          //  the answer bytes
    size_t body_len;     //  their length
    char *response_id;   //  the answer's "id" ("chatcmpl-..."), "" when it has none
    char *model;         //  upstream model that answered
    char *provider;      //  provider that answered
    char *prompt;        //  normalized request, cut at TG_CACHE_PROMPT_MAX bytes
    char *reason;        //  why it was invalidated ("" while valid)
    uint64_t tok_in;     //  prompt tokens of the original call
    uint64_t tok_out;    //  completion tokens
    double cost_usd;     //  what the original call cost (what a hit saves)
    int64_t created_us;  //  epoch µs it was stored
    int64_t expires_us;  //  epoch µs it stops being served (0 = never)
    int64_t access_us;   //  epoch µs of the last hit (created_us until then)
    uint64_t hits;       //  hits served from it
    uint64_t up;         //  upvotes
    uint64_t down;       //  downvotes
    bool invalidated;    //  not served any more (reason says why)
} tg_cache_entry_t;

typedef struct {
    const char *dir;    //  directory of the environment (created by the writer)
    size_t map_size;    //  bytes; the writer sets it, a reader takes the writer's
    bool readonly;      //  ingest: MDB_RDONLY, no create; NULL from open if it is not there
    double high_water;  //  evict when the used share of the map passes this (0.90)
    double low_water;   //  ... down to this share (0.75)
} tg_cache_opts_t;

typedef struct {
    uint64_t entries;      //  entries stored (invalidated and expired included)
    uint64_t invalidated;  //  of those, invalidated
    uint64_t expired;      //  of those, past their expiry (deleted by the next eviction)
    uint64_t bytes;        //  bytes used in the map (pages in use × page size)
    uint64_t map_bytes;    //  the map's size
    uint64_t hits;         //  sum of the entries' hit counts
    uint64_t evicted;      //  entries evicted by this process since it opened
    uint64_t dropped;      //  fills dropped because the map was full even after eviction
} tg_cache_stats_t;

//  The quality of an entry in [0, 1]: (up + 1) / (up + down + 2). 0.5 with no votes.
double tg_cache_quality(const tg_cache_entry_t *entry);

//  Opens the environment. NULL after logging why (for a reader, also when it is not there
//  yet: the caller retries later, quietly after the first time).
tg_cache_t *tg_cache_open(const tg_cache_opts_t *opts);
//  Writer. Commits do not wait for the disk (MDB_NOSYNC: a fill costs ~25 µs instead of an
//  fsync of ~1 ms on the router's loop); this flushes them. Call every second or so: a power
//  cut loses at most the fills since. TG_OK or TG_ERR.
int tg_cache_sync(tg_cache_t *self);
//  Closes it; *self_p = NULL. NULL-safe.
void tg_cache_destroy(tg_cache_t **self_p);

//  Finds a servable entry: present, not invalidated, not expired at now_us, quality >=
//  min_quality. TG_OK with *out filled (owned: tg_cache_entry_fini), TG_NOTFOUND, TG_ERR.
int tg_cache_get(tg_cache_t *self,
                 const tg_cache_key_t *key,
                 int64_t now_us,
                 double min_quality,
                 tg_cache_entry_t *out);
//  Frees what tg_cache_get put in an entry and zeroes it. NULL-safe.
void tg_cache_entry_fini(tg_cache_entry_t *entry);

//  Writer. Stores (or replaces) the entry under key and indexes its response id; hits, votes
//  and access start from the values in `in` (access_us 0 means created_us). When the map is
//  near full, evicts first; when a put still does not fit, evicts more and tries once again.
//  TG_OK, TG_AGAIN when it did not fit (dropped, counted), TG_ERR.
int tg_cache_put(tg_cache_t *self, const tg_cache_key_t *key, const tg_cache_entry_t *in);
//  Writer. Records hits served by readers: hits += 1 and access_us = now_us for each key,
//  in one txn (absent keys skipped). Returns the number of entries updated (0 when the map
//  is full even after eviction: those hits are not counted, and a warning says so), or TG_ERR.
int tg_cache_touch(tg_cache_t *self, const tg_cache_key_t *keys, size_t n, int64_t now_us);
//  Writer. One vote for the entry whose answer had `response_id`. TG_OK, TG_NOTFOUND.
int tg_cache_vote(tg_cache_t *self, const char *response_id, bool up);
//  Writer. Invalidates, with `reason`, every entry matching all the given criteria:
//  response_id (NULL = any), model (NULL = any), created before older_than_us (0 = any);
//  at least one must be given. Returns the number invalidated, or TG_ERR / TG_INVALID.
int tg_cache_invalidate(tg_cache_t *self,
                        const char *response_id,
                        const char *model,
                        int64_t older_than_us,
                        const char *reason);
//  Writer. Deletes the entries expired at now_us (through an expiry index, no scan); then,
//  when the used share of the map is above high_water, invalidated entries, then those with
//  the oldest access_us, until it is below low_water. Returns the number deleted, or
//  TG_ERR. Run from a timer (tg_cache_put also runs it, with the entry's created_us).
int tg_cache_evict(tg_cache_t *self, int64_t now_us);
//  Fills *out. TG_OK or TG_ERR.
int tg_cache_stats(tg_cache_t *self, int64_t now_us, tg_cache_stats_t *out);

//  The cheap part of tg_cache_stats, for gauges: entries, bytes, map_bytes, evicted,
//  dropped (invalidated, expired and hits stay 0: those need a walk). TG_OK or TG_ERR.
int tg_cache_counts(tg_cache_t *self, tg_cache_stats_t *out);

//  Lowercase hex of a key into out[TG_CACHE_KEY_HEX].
void tg_cache_key_hex(const tg_cache_key_t *key, char *out);
//  Parses 32 hex digits. TG_OK or TG_INVALID.
int tg_cache_key_parse(const char *hex, tg_cache_key_t *out);

#endif
