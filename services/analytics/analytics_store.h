//  analytics_store.h - the accounting book in LMDB: usage events, time index, running totals,
//  minute/hour/day rollups.
//
//  Layout (schema version 5), all in <data_dir>/analytics:
//    events   eid -> record: [u8 3][u8 flags: 1 = unknown price][i64 BE cost in µUSD]
//                             [i64 BE savings in µUSD][i64 BE saved by the cache, µUSD]
//                             [msgpack map of the USAGE frame]
//    time     [u64 BE ts µs][eid] -> trace id, "" when none  (ranges by time are cursor walks)
//    traces   [trace id][0][u64 BE ts µs][eid] -> ""   (the events of a trace, in time order;
//             written in the event's txn, deleted with it by retention)
//    totals   "d:YYYY-MM-DD" | "m:YYYY-MM" -> counters   (spend per UTC day / month)
//             "p:events" -> u64 BE µs: events before it may have been pruned (retention);
//             a day before it is answered from rollups, never from its events
//    rollup   "YYYY-MM-DD\0provider\0model\0key\0agent" -> counters (per-day groups)
//    rollups  [u8 'm'|'h'|'d'|'D'|'E'][u64 BE bucket start µs]
//             [provider\0model\0key\0agent\0org\0env\0user-or-error]
//             -> counters + latency/TTFT sums, min, max and sketches (analytics_rollup.h)
//    users    "YYYY-MM-DD\0org\0user" -> ""; "YYYY-MM-DD\0org" -> BE u64: the users of an
//             org that day with rollups of their own (ANALYTICS_USERS_PER_DAY at most); kept
//             two days
//  Counters are 13 big-endian 64-bit words: requests, errors, tokens in/out/cached, µUSD,
//  unknown-priced requests, savings µUSD (signed), "auto" calls scored simple / medium /
//  complex, cache hits, µUSD the cache saved (hits and coalesced calls at their model's
//  price). Everything of one batch is written in one txn, so totals, rollups and events
//  never disagree, also after a SIGKILL.
//  Retention (analytics_store_prune): events and their time keys go after
//  analytics.retention_days; rollups after their horizons (minute 37 days, hour 210, day
//  1,096); "rollup" and "totals" day records are kept like day rollups, month totals for
//  ever. Deleted pages go on LMDB's free list and are reused, so the file stays bounded.
//  Version 1 (before savings) wrote [u8 1][flags][cost][map] records and 7-word counters;
//  version 2 added savings ([u8 2]... 18-byte head, 11-word counters); version 3 the cache
//  counters; version 4 the "rollups" db. Each version reads the older ones as they are (the
//  missing words are 0: not recorded then), so migrations rewrite nothing. The rollups of a
//  store opened from version 3 or older start empty at the upgrade: rebuilding them would
//  walk every stored event (gigabytes, before retention existed) in one write txn while the
//  service is not yet up. Totals and the per-day "rollup" db cover the old data, so costs
//  and /v1/usage stay exact; only minute history and percentiles start at the upgrade.
//  The version is bumped so that an older binary refuses this store instead of skipping the
//  records it cannot read.
//  Version 5 adds the org, env and user dims to rollup keys (a v4 key simply ends after
//  agent: read as empty), the user and error families ('D', 'E'), a 14th rollup
//  counter word (input cost) and the "users" db. Nothing is rewritten: those start at the
//  upgrade, and v4 rollups count as organization "" (= "default"). The "traces" db and the
//  trace id as the time key's value came with version 5 too (a v4 time value is "": no
//  trace); events stored before have no trace index.
#ifndef ANALYTICS_STORE_H
#define ANALYTICS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics_rollup.h"
#include "tg_frame.h"
#include "tg_pricing.h"

#define ANALYTICS_SCHEMA_VERSION 5
#define ANALYTICS_BASELINE_MODEL "claude-3-opus-20240229"  //  default savings baseline
#define ANALYTICS_MAX_EID 128    //  longest event id accepted (the rest of the key is bounded)
#define ANALYTICS_MAX_TRACE 128  //  longest trace id indexed (TG_TRACE_ID_MAX)

typedef struct analytics_store analytics_store_t;

//  What happened to one event of a batch.
typedef struct {
    bool duplicate;         //  its eid was already stored: nothing written
    bool unknown;           //  priced at the default price
    int64_t cost_micro;     //  its cost in µUSD (stored events)
    int64_t savings_micro;  //  the baseline model's cost of its tokens minus cost_micro
    int64_t saved_micro;    //  a cache hit's or coalesced call's would-be cost (else 0)
    int64_t cost_in_micro;  //  the input tokens' part of cost_micro
} analytics_outcome_t;

//  Group-by dimensions of a usage query (bit set).
enum {
    ANALYTICS_BY_PROVIDER = 1,
    ANALYTICS_BY_MODEL = 2,
    ANALYTICS_BY_KEY = 4,
    ANALYTICS_BY_AGENT = 8,
};

//  One group of a usage query; strings are NULL for dimensions not grouped by.
typedef struct {
    char *provider;             //  provider, or NULL
    char *model;                //  model, or NULL
    char *key;                  //  API key id, or NULL
    char *agent;                //  agent id, or NULL
    analytics_totals_t totals;  //  summed counters
} analytics_group_t;

//  Opens (creating) the store in `dir` with an initial map of map_size bytes. NULL if LMDB
//  refuses (logged: I/O, lock, newer schema).
analytics_store_t *analytics_store_new(const char *dir, size_t map_size);
//  Closes the store; *self_p = NULL. NULL-safe.
void analytics_store_destroy(analytics_store_t **self_p);
//  Sets the model whose price savings are measured against (copied; default
//  ANALYTICS_BASELINE_MODEL). Applies to events stored from now on.
void analytics_store_set_baseline(analytics_store_t *self, const char *model);
//  Current map size in bytes.
size_t analytics_store_map_size(analytics_store_t *self);
//  Bytes of the map in use (freed pages not counted). TG_OK and *used_p, or TG_ERR.
int analytics_store_used(analytics_store_t *self, size_t *used_p);
//  Doubles the map, up to 1 TiB. TG_OK, or TG_ERR when it cannot grow (logged).
int analytics_store_grow(analytics_store_t *self);

//  Stores the usage frames (borrowed) in one txn: each eid not yet stored is priced,
//  written, indexed and added to the totals; out[i] tells what happened to frames[i]. TG_OK
//  once committed (durable), TG_AGAIN when the map is full (nothing stored), TG_ERR.
int analytics_store_batch(analytics_store_t *self,
                          const tg_pricing_t *pricing,
                          tg_frame_t *const *frames,
                          size_t n,
                          analytics_outcome_t *out);
//  Like analytics_store_batch, but only the counters: totals, per-day groups and rollups,
//  exactly as analytics_store_batch builds them; no event record, no time key, no duplicate
//  check. For events already past the retention (bench/metrics_gen.c fills 90 days this
//  way; a rebuild from an archive could too).
int analytics_store_batch_counters(analytics_store_t *self,
                                   const tg_pricing_t *pricing,
                                   tg_frame_t *const *frames,
                                   size_t n,
                                   analytics_outcome_t *out);
//  Totals of a UTC day ("YYYY-MM-DD") or month ("YYYY-MM"); zero when none. TG_OK or TG_ERR.
int analytics_store_period(analytics_store_t *self, const char *period, analytics_totals_t *t);
//  Sums the events with start_us <= ts <= end_us into groups by the dimensions in `by`:
//  whole days from the per-day rollups, partial days from the events. TG_OK with a heap
//  array in *groups_p (free with analytics_groups_free) of *n_p groups, or TG_ERR.
int analytics_store_usage(analytics_store_t *self,
                          int64_t start_us,
                          int64_t end_us,
                          unsigned by,
                          analytics_group_t **groups_p,
                          size_t *n_p);
//  Visits one rollup: resolution, bucket start, dims (analytics_dim_t order) and the
//  rollup, all borrowed for the call. Return 0 to go on, other values stop the walk.
typedef int(analytics_rollup_fn)(analytics_res_t res,
                                 int64_t bucket_us,
                                 const char *const dims[ANALYTICS_DIMS],
                                 const analytics_rollup_t *r,
                                 void *arg);
//  Visits one rollup before decoding: bucket start, dims and the encoded value (for
//  analytics_rollup_decode_ex), all borrowed. Return 0 to go on, other values stop.
typedef int(analytics_rollup_raw_fn)(int64_t bucket_us,
                                     const char *const dims[ANALYTICS_DIMS],
                                     const void *val,
                                     size_t vlen,
                                     void *arg);
//  Calls fn for each rollup of `res` whose bucket starts in from_us .. to_us (inclusive), in
//  time order; unreadable records are skipped (logged). TG_OK or TG_ERR.
int analytics_store_rollups(analytics_store_t *self,
                            analytics_res_t res,
                            int64_t from_us,
                            int64_t to_us,
                            analytics_rollup_fn *fn,
                            void *arg);
//  Like analytics_store_rollups, with the values undecoded: a query decodes only the
//  records its filters keep, and sketches only when it asks for percentiles.
int analytics_store_rollups_raw(analytics_store_t *self,
                                analytics_res_t res,
                                int64_t from_us,
                                int64_t to_us,
                                analytics_rollup_raw_fn *fn,
                                void *arg);
//  One retention turn at now_us: deletes at most max_deletes records, oldest first: events
//  (and their time keys) older than retention_us, then rollups past their horizons, in one
//  small write txn. *deleted_p tells how many went (max_deletes: more may be due). TG_OK,
//  TG_AGAIN (map full: try later), TG_ERR.
int analytics_store_prune(analytics_store_t *self,
                          int64_t now_us,
                          int64_t retention_us,
                          size_t max_deletes,
                          size_t *deleted_p);
//  Visits one stored event: its time, USAGE frame (the visitor may keep it: *frame_p = NULL)
//  and cost in µUSD. Return 0 to go on, other values stop the walk.
typedef int(analytics_event_fn)(int64_t ts, tg_frame_t **frame_p, int64_t cost_micro, void *arg);
//  Calls fn for the events of trace `trace`, oldest first, at most max of them (*more_p
//  tells if more were left). Unreadable records are skipped (logged). TG_OK or TG_ERR.
int analytics_store_trace(analytics_store_t *self,
                          const char *trace,
                          size_t max,
                          analytics_event_fn *fn,
                          void *arg,
                          bool *more_p);
//  Visits one trace id met walking events back in time; the id is borrowed for the call.
//  Return 0 to go on, other values stop the walk.
typedef int(analytics_trace_id_fn)(int64_t ts, const char *trace, void *arg);
//  Walks the events with from_us <= ts <= to_us newest first, calling fn for each one that
//  belongs to a trace (reading only the time index), after at most max_scan events stops
//  with *more_p set. TG_OK or TG_ERR.
int analytics_store_traced(analytics_store_t *self,
                           int64_t from_us,
                           int64_t to_us,
                           size_t max_scan,
                           analytics_trace_id_fn *fn,
                           void *arg,
                           bool *more_p);
//  Frees what analytics_store_usage returned; *groups_p = NULL.
void analytics_groups_free(analytics_group_t **groups_p, size_t n);

#endif
