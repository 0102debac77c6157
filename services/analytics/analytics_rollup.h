//  analytics_rollup.h - the counters of a group of events, and the rollup records built from
//  them: per minute, hour and day, per provider, model, key, agent, org, environment (and
//  user, in the user families).
//
//  Rollup key:   [u8 family][u64 BE bucket start, epoch µs]
//                [provider \0 model \0 key \0 agent \0 org \0 env \0 slot7]
//                (values cut to ANALYTICS_MAX_DIM). Families (ANALYTICS_RES_*):
//                'm' | 'h' | 'd'  minute / hour / day, slot7 always empty (no user: the fast
//                                 path for every query that neither filters nor groups by
//                                 user_id);
//                'D'              day per end user: provider, model, org, env and slot7 =
//                                 the user (user_id); key and agent left empty. Bounded:
//                                 ANALYTICS_USERS_PER_DAY distinct users per org and UTC
//                                 day, later users of that day count as "(other)". So at
//                                 most 1,001 users x models x envs records per org and
//                                 day; per hour or minute the user dimension would cost
//                                 a record per event or so, hence day only;
//                'E'              hour, error events only, slot7 = "<status> <error>"
//                                 (status "ERROR" when the event has none)
//                                 (most common errors of the summary).
//                Schema 4 keys stop after agent: their org, env and slot7 read as empty
//                (org "" = the "default" organization). Keys of one family sort by time, so a
//                time range is one cursor walk, and pruning walks from the oldest.
//  Rollup value: [u8 1][u8 w = counter words (13)][w zigzag varints: the totals, in the order
//                of analytics_totals_t][7 varints: latency sum, min, max (µs); TTFT count,
//                sum, min, max (µs)][varint n][n bytes: latency sketch][varint n][TTFT
//                sketch] (varints LEB128; sketch encoding in analytics_sketch.h; latency
//                counts every request, TTFT only the calls that reported one). A later
//                version may write more counter words: they are skipped. About 60-90 bytes
//                for a minute with a few calls. Schema 5 writes 14 words: the 14th is the
//                input part of the cost (µUSD); 13-word values read it as 0.
#ifndef ANALYTICS_ROLLUP_H
#define ANALYTICS_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics_sketch.h"

#define ANALYTICS_MAX_DIM 96      //  group values (provider, model, key, agent) are cut to this
#define ANALYTICS_TOTALS_LEN 104  //  bytes of the 13 encoded counter words
#define ANALYTICS_DIMS 7          //  dimensions of a rollup key
#define ANALYTICS_ROLLUP_KEY_MAX (9 + ANALYTICS_DIMS * (ANALYTICS_MAX_DIM + 1))
#define ANALYTICS_USERS_PER_DAY 1000    //  distinct users per org and day with rollups of their own
#define ANALYTICS_USER_OTHER "(other)"  //  the users past that bound

//  Dimensions of a rollup key, in key order.
typedef enum {
    ANALYTICS_DIM_PROVIDER,
    ANALYTICS_DIM_MODEL,
    ANALYTICS_DIM_KEY,
    ANALYTICS_DIM_AGENT,
    ANALYTICS_DIM_ORG,
    ANALYTICS_DIM_ENV,
    ANALYTICS_DIM_USER,  //  slot7: user ('D'), "<status> <error>" ('E'), else empty
} analytics_dim_t;

typedef struct {
    uint64_t requests;          //  usage events
    uint64_t errors;            //  events with status >= 400 or an error type
    uint64_t tok_in;            //  prompt tokens (cached included)
    uint64_t tok_out;           //  completion tokens
    uint64_t tok_cached;        //  cached prompt tokens
    int64_t cost_micro;         //  cost in millionths of a USD
    uint64_t unknown;           //  events priced at the default price (model not in the catalogue)
    int64_t savings_micro;      //  baseline cost minus cost, µUSD (negative when dearer)
    uint64_t auto_cls[3];       //  model "auto" calls by class: simple, medium, complex
    uint64_t cache_hits;        //  calls answered from the response cache
    int64_t cache_saved_micro;  //  what cache hits and coalesced calls would have cost, µUSD
    int64_t cost_in_micro;      //  the input tokens' part of cost_micro (rollups only, not in
                                //  the 13 words of the totals db)
} analytics_totals_t;

//  Resolutions, with how long each is kept (spec A5).
typedef enum {
    ANALYTICS_MINUTE,       //  'm', 37 days
    ANALYTICS_HOUR,         //  'h', 210 days
    ANALYTICS_DAY,          //  'd', 1,096 days (3 years)
    ANALYTICS_DAY_USER,     //  'D', 1,096 days: per user too
    ANALYTICS_HOUR_ERRORS,  //  'E', 210 days: error events by status and error
    ANALYTICS_RESOLUTIONS
} analytics_res_t;

//  One rollup: counters, latency and TTFT figures and sketches (owned).
typedef struct {
    analytics_totals_t totals;  //  counters
    uint64_t lat_sum_us;        //  sum of latencies
    uint64_t lat_min_us;        //  smallest latency (0 when no request)
    uint64_t lat_max_us;        //  largest latency
    uint64_t ttft_n;            //  calls with a TTFT
    uint64_t ttft_sum_us;       //  sum of TTFTs
    uint64_t ttft_min_us;       //  smallest TTFT (0 when none)
    uint64_t ttft_max_us;       //  largest TTFT
    analytics_sketch_t *lat;    //  latencies, µs
    analytics_sketch_t *ttft;   //  TTFTs, µs
} analytics_rollup_t;

//  Sums that stop at the type's limit instead of wrapping: counts and costs come from clients
//  (the events API takes up to 10^12 tokens and $10^6 an event), and a sum of them must not
//  turn negative or small.
static inline void
analytics_add_u64(uint64_t *a, uint64_t b)
{
    if (__builtin_add_overflow(*a, b, a))
        *a = UINT64_MAX;
}
static inline void
analytics_add_i64(int64_t *a, int64_t b)
{
    if (__builtin_add_overflow(*a, b, a))
        *a = b > 0 ? INT64_MAX : INT64_MIN;
}

//  Adds b into a (each counter saturating).
void analytics_totals_add(analytics_totals_t *a, const analytics_totals_t *b);
//  Writes the 13 counter words (ANALYTICS_TOTALS_LEN bytes) at out.
void analytics_totals_encode(const analytics_totals_t *t, uint8_t *out);
//  Reads counter words; shorter records of older versions (7 or 11 words) read as 0 for the
//  missing words, longer ones of later versions are cut. False when under 7 words.
bool analytics_totals_decode(const void *data, size_t len, analytics_totals_t *t);

//  An empty rollup (with empty sketches); analytics_rollup_fini frees them.
void analytics_rollup_init(analytics_rollup_t *r);
//  Frees the sketches; the rollup may be initialized again.
void analytics_rollup_fini(analytics_rollup_t *r);
//  Counts one event: its counters, latency and TTFT (0 = none reported).
void analytics_rollup_add(analytics_rollup_t *r,
                          const analytics_totals_t *t,
                          uint64_t latency_us,
                          uint64_t ttft_us);
//  Adds b (borrowed) into a: counters summed, min/max kept, sketches merged.
void analytics_rollup_merge(analytics_rollup_t *a, const analytics_rollup_t *b);
//  The value encoding above on the heap (caller frees), its length in *len_p.
uint8_t *analytics_rollup_encode(const analytics_rollup_t *r, size_t *len_p);
//  Decodes a value into r (initialized here; fini it after TG_OK). TG_OK or TG_INVALID
//  (r left empty and needs no fini).
int analytics_rollup_decode(const void *data, size_t len, analytics_rollup_t *r);
//  Like analytics_rollup_decode, but with sketches only when `sketches` (else r->lat and
//  r->ttft stay NULL: cheaper, for queries without percentiles; merge skips NULL sketches).
int analytics_rollup_decode_ex(const void *data, size_t len, bool sketches, analytics_rollup_t *r);

//  Start of the bucket of resolution `res` holding ts_us (>= 0).
int64_t analytics_rollup_bucket(analytics_res_t res, int64_t ts_us);
//  How long rollups of `res` are kept, µs.
int64_t analytics_rollup_horizon(analytics_res_t res);
//  Writes the key of (res, bucket start, dims in analytics_dim_t order; NULL = "") at out
//  (ANALYTICS_ROLLUP_KEY_MAX bytes); returns its length. Trailing empty dims are left out.
size_t analytics_rollup_key(analytics_res_t res,
                            int64_t bucket_us,
                            const char *const dims[ANALYTICS_DIMS],
                            uint8_t *out);
//  Splits a key into its resolution, bucket and dims (NUL-terminated copies in
//  dims_buf[ANALYTICS_DIMS][ANALYTICS_MAX_DIM + 1]; missing ones empty). False for a
//  malformed key.
bool analytics_rollup_key_parse(const void *key,
                                size_t klen,
                                analytics_res_t *res,
                                int64_t *bucket_us,
                                char dims_buf[ANALYTICS_DIMS][ANALYTICS_MAX_DIM + 1]);
//  The width of a bucket of `res`, µs.
int64_t analytics_rollup_width(analytics_res_t res);

#endif
