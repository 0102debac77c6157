//  tg_limits.c - tier limits, token buckets and monthly quotas (spec K3, K4).
#include "tg_limits.h"
#include "tg_utc.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char *const s_names[TG_LIM_N] = {"requests_per_minute", "tokens_per_minute",
                                              "requests_per_month", "tokens_per_month"};

const char *
tg_limit_name(tg_limit_t which)
{
    assert(which < TG_LIM_N);
    return s_names[which];
}

static int
s_tier_index(const tg_tiers_t *tiers, const char *tier)
{
    for (size_t i = 0; tier && i < tiers->n; i++)
        if (strcmp(tier, tiers->names[i]) == 0)
            return (int)i;
    return -1;
}

bool
tg_tiers_valid(const tg_tiers_t *tiers, const char *tier)
{
    return s_tier_index(tiers, tier) >= 0;
}

void
tg_tiers_names(const tg_tiers_t *tiers, char *out, size_t size)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < tiers->n && used < size; i++) {
        int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", tiers->names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

void
tg_tiers_load(const tg_config_t *cfg, tg_tiers_t *tiers)
{
    memset(tiers, 0, sizeof *tiers);
    for (size_t t = 0; t < tg_config_tier_count(cfg) && t < TG_CONFIG_TIERS_MAX; t++) {
        const tg_tier_t *ct = tg_config_tier(cfg, t);
        snprintf(tiers->names[t], sizeof tiers->names[t], "%s", ct->name);
        int64_t v[TG_LIM_N] = {ct->per_minute[0], ct->per_minute[1], ct->per_month[0],
                               ct->per_month[1]};
        for (int i = 0; i < TG_LIM_N; i++)
            tiers->limits[t][i] = v[i] > 0 ? (uint64_t)v[i] : 0;
        tiers->n++;
    }
    int def = s_tier_index(tiers, tg_config_str(cfg, "keys.default_tier"));
    tiers->def = def >= 0 ? (size_t)def : 0;
}

void
tg_limits_resolve(const tg_tiers_t *tiers,
                  const char *tier,
                  const int64_t own[TG_LIM_N],
                  uint64_t out[TG_LIM_N])
{
    int found = s_tier_index(tiers, tier);
    size_t t = found >= 0 ? (size_t)found : tiers->def;
    for (int i = 0; i < TG_LIM_N; i++)
        out[i] = own && own[i] >= 0 ? (uint64_t)own[i] : tiers->limits[t][i];
}

void
tg_bucket_refill(tg_bucket_t *self, uint64_t limit, int64_t now_us)
{
    assert(limit > 0);
    int64_t full = (int64_t)limit * TG_LIMITS_WINDOW_US;
    if (self->last_us == 0) {
        self->level = full;
        self->last_us = now_us;
        return;
    }
    int64_t elapsed = now_us - self->last_us;
    if (elapsed <= 0)
        return;
    self->last_us = now_us;
    //  A debt deeper than a full minute's refill still refills at the same rate.
    if (elapsed >= TG_LIMITS_WINDOW_US && self->level >= 0) {
        self->level = full;
        return;
    }
    int64_t room = full - self->level;  //  > 0 unless already full
    if (room <= 0)
        return;
    //  elapsed × limit cannot overflow: limit ≤ 1e9 and elapsed is capped by room / limit.
    if (elapsed >= room / (int64_t)limit + 1)
        self->level = full;
    else
        self->level += elapsed * (int64_t)limit;
    if (self->level > full)
        self->level = full;
}

uint64_t
tg_bucket_remaining(tg_bucket_t *self, uint64_t limit, int64_t now_us)
{
    tg_bucket_refill(self, limit, now_us);
    return self->level > 0 ? (uint64_t)(self->level / TG_LIMITS_WINDOW_US) : 0;
}

bool
tg_bucket_take(tg_bucket_t *self, uint64_t limit, uint64_t n, int64_t now_us, int64_t *wait_us_p)
{
    tg_bucket_refill(self, limit, now_us);
    if (n > limit) {
        if (wait_us_p)
            *wait_us_p = INT64_MAX;
        return false;
    }
    int64_t need = (int64_t)n * TG_LIMITS_WINDOW_US;
    if (self->level >= need) {
        self->level -= need;
        return true;
    }
    if (wait_us_p) {
        int64_t missing = need - self->level;
        *wait_us_p = (missing + (int64_t)limit - 1) / (int64_t)limit;
    }
    return false;
}

void
tg_bucket_charge(tg_bucket_t *self, uint64_t limit, uint64_t n, int64_t now_us)
{
    tg_bucket_refill(self, limit, now_us);
    if (n > (uint64_t)(INT64_MAX / TG_LIMITS_WINDOW_US / 4))
        n = (uint64_t)(INT64_MAX / TG_LIMITS_WINDOW_US / 4);
    if (self->level > INT64_MIN / 2)
        self->level -= (int64_t)n * TG_LIMITS_WINDOW_US;
}

int64_t
tg_bucket_reset_us(tg_bucket_t *self, uint64_t limit, int64_t now_us)
{
    tg_bucket_refill(self, limit, now_us);
    int64_t missing = (int64_t)limit * TG_LIMITS_WINDOW_US - self->level;
    return missing > 0 ? (missing + (int64_t)limit - 1) / (int64_t)limit : 0;
}

static void
s_quota_roll(tg_quota_t *self, int64_t now_us)
{
    char month[8];
    tg_utc_month(now_us, month);
    if (strcmp(month, self->month) != 0) {
        memcpy(self->month, month, sizeof month);
        self->used = 0;
    }
}

uint64_t
tg_quota_used(tg_quota_t *self, int64_t now_us)
{
    s_quota_roll(self, now_us);
    return self->used;
}

bool
tg_quota_take(tg_quota_t *self, uint64_t limit, uint64_t n, int64_t now_us)
{
    s_quota_roll(self, now_us);
    if (limit && (self->used >= limit || n > limit - self->used))
        return false;
    self->used += n;
    return true;
}

void
tg_quota_charge(tg_quota_t *self, uint64_t n, int64_t now_us)
{
    s_quota_roll(self, now_us);
    self->used += n;
}

int64_t
tg_quota_reset_us(int64_t now_us)
{
    int64_t start = tg_utc_month_start(now_us);
    int64_t next = start + (int64_t)tg_utc_days_in_month(now_us) * 86400LL * 1000000LL;
    return next - now_us;
}

static size_t
s_text_chars(const json_t *content)
{
    if (json_is_string(content))
        return json_string_length(content);
    size_t n = 0, i;
    const json_t *part;
    if (json_is_array(content))
        json_array_foreach(content, i, part)
        {
            const json_t *t = json_is_string(part) ? part : json_object_get(part, "text");
            if (json_is_string(t))
                n += json_string_length(t);
        }
    return n;
}

uint64_t
tg_limits_estimate_tokens(const json_t *doc)
{
    size_t chars = 0, i;
    const json_t *msgs = json_object_get(doc, "messages"), *m;
    if (json_is_array(msgs))
        json_array_foreach(msgs, i, m) chars += s_text_chars(json_object_get(m, "content"));
    else
        chars = s_text_chars(json_object_get(doc, "input"));
    uint64_t t = (chars + 3) / 4;
    return t ? t : 1;
}

void
tg_limits_duration(int64_t us, char *out, size_t size)
{
    if (us < 0)
        us = 0;
    int64_t ms = (us + 999) / 1000;
    if (ms < 1000) {
        snprintf(out, size, "%lldms", (long long)ms);
        return;
    }
    int64_t s = (ms + 999) / 1000;
    if (s < 60)
        snprintf(out, size, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, size, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(out, size, "%lldh%lldm%llds", (long long)(s / 3600), (long long)(s % 3600 / 60),
                 (long long)(s % 60));
}
