//  tg_limits.h - per-key limits (spec K3, K4): which limits a key has (its tier's, unless
//  it overrides them), the per-minute token buckets and the monthly quotas. Pure arithmetic:
//  time is passed in.
#ifndef TG_LIMITS_H
#define TG_LIMITS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "tg_config.h"

//  The limits a key has; each is 0 for "no limit".
typedef enum {
    TG_LIM_RPM,   //  requests per minute
    TG_LIM_TPM,   //  tokens per minute
    TG_LIM_RPMO,  //  requests per calendar month (UTC)
    TG_LIM_TPMO,  //  tokens per calendar month (UTC)
    TG_LIM_N
} tg_limit_t;

//  The window of the per-minute limits, in µs.
#define TG_LIMITS_WINDOW_US 60000000LL

//  A per-minute limit as a token bucket of `limit` that refills continuously, in
//  limit / minute: a full bucket takes `limit` at once, then one more every minute / limit.
//  The level is kept in units of 1 / TG_LIMITS_WINDOW_US of a token so that refill is exact
//  integer arithmetic. It may go below zero (tokens settled after the call).
typedef struct {
    int64_t level;    //  tokens × TG_LIMITS_WINDOW_US available now
    int64_t last_us;  //  when level was last brought up to date (0 = never: full)
} tg_bucket_t;

//  A monthly quota: what was used in `month`.
typedef struct {
    char month[8];  //  "2026-12" (UTC); "" = nothing used yet
    uint64_t used;  //  requests or tokens used in that month
} tg_quota_t;

//  The tiers' limits, copied from the config once (a request resolves its key's limits
//  from this table, not through the config).
typedef struct {
    size_t n;                                        //  tiers
    char names[TG_CONFIG_TIERS_MAX][33];             //  their names
    uint64_t limits[TG_CONFIG_TIERS_MAX][TG_LIM_N];  //  0 = no limit
    size_t def;                                      //  index of keys.default_tier
} tg_tiers_t;

//  The config name of limit `which` ("requests_per_minute", ...). Static storage.
const char *tg_limit_name(tg_limit_t which);
//  True if `tier` is one of the tiers.
bool tg_tiers_valid(const tg_tiers_t *tiers, const char *tier);
//  The tier names, comma-separated, into out (for messages).
void tg_tiers_names(const tg_tiers_t *tiers, char *out, size_t size);
//  Copies the config's tiers and keys.default_tier into *tiers.
void tg_tiers_load(const tg_config_t *cfg, tg_tiers_t *tiers);
//  The limits of a key: own[i] when >= 0 (the key's override), else the value of `tier`
//  (NULL or unknown: the default tier). Writes TG_LIM_N values to out.
void tg_limits_resolve(const tg_tiers_t *tiers,
                       const char *tier,
                       const int64_t own[TG_LIM_N],
                       uint64_t out[TG_LIM_N]);

//  Brings the bucket of `limit` (> 0) up to now_us. A bucket never used is full.
void tg_bucket_refill(tg_bucket_t *self, uint64_t limit, int64_t now_us);
//  Whole tokens available after refill (0 when in debt).
uint64_t tg_bucket_remaining(tg_bucket_t *self, uint64_t limit, int64_t now_us);
//  Takes n if n are available: true. Else false and *wait_us_p (may be NULL) is how long
//  until n are (INT64_MAX when n > limit: never).
bool
tg_bucket_take(tg_bucket_t *self, uint64_t limit, uint64_t n, int64_t now_us, int64_t *wait_us_p);
//  Takes n whatever the level (tokens settled after the call); may leave it in debt.
void tg_bucket_charge(tg_bucket_t *self, uint64_t limit, uint64_t n, int64_t now_us);
//  µs until the bucket is full again (OpenAI's x-ratelimit-reset-*).
int64_t tg_bucket_reset_us(tg_bucket_t *self, uint64_t limit, int64_t now_us);

//  Used so far in the month of now_us (0 after the month changed).
uint64_t tg_quota_used(tg_quota_t *self, int64_t now_us);
//  Adds n if used + n <= limit: true; else false. limit 0 = no limit (always true).
bool tg_quota_take(tg_quota_t *self, uint64_t limit, uint64_t n, int64_t now_us);
//  Adds n whatever the limit (settled after the call).
void tg_quota_charge(tg_quota_t *self, uint64_t n, int64_t now_us);
//  µs from now_us to the start of the next month (the quota's reset).
int64_t tg_quota_reset_us(int64_t now_us);

//  Prompt tokens of a chat or embeddings body, estimated as characters / 4 (rounded up) of
//  the message texts (string contents and text parts) or of the inputs; at least 1.
uint64_t tg_limits_estimate_tokens(const json_t *doc);
//  Formats a duration as OpenAI's reset headers do: "120ms", "6s", "1m30s", "2h0m0s"...
void tg_limits_duration(int64_t us, char *out, size_t size);

#endif
