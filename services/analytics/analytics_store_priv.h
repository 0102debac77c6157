//  analytics_store_priv.h - what the analytics_store*.c files share: the named dbs, the
//  environment and the event record reader. Not for other modules.
#ifndef ANALYTICS_STORE_PRIV_H
#define ANALYTICS_STORE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics_store.h"
#include "tg_lmdb.h"

//  The named dbs, in the order of s_dbs in analytics_store.c.
enum { DB_EVENTS, DB_TIME, DB_TOTALS, DB_ROLLUP, DB_ROLLUPS, DB_TRACES, DB_USERS };

//  The store's environment (borrowed for the store's life).
tg_lmdb_t *analytics_store_lmdb(analytics_store_t *self);
//  Decodes an event record: TG_OK with the USAGE frame (caller destroys) and its stored cost
//  in µUSD, or TG_INVALID.
int
analytics_store_record_decode(const void *rec, size_t len, tg_frame_t **frame_p, int64_t *cost_p);
//  Writes (put) or deletes the "traces" key [trace][0][time key] of an event whose time key
//  is tkey (8-byte BE ts + eid). TG_OK, TG_AGAIN (map full), TG_ERR.
int analytics_store_trace_index(tg_lmdb_txn_t *txn,
                                const char *trace,
                                size_t trace_len,
                                const void *tkey,
                                size_t tklen,
                                bool put);
//  Before a time key goes (retention): deletes the event's "traces" key, named by the time
//  key's value. TG_OK (also when it had none), TG_AGAIN, TG_ERR.
int analytics_store_trace_unindex(tg_lmdb_txn_t *txn, const void *tkey, size_t tklen);

#endif
