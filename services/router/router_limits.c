//  router_limits.c - per-key token buckets (per minute) and monthly quotas.
//
//  Requests: one per call, taken at admission. Tokens: the prompt estimate ingest sends
//  (characters / 4) is taken at admission; the completion tokens are charged when the
//  worker's LOAD reports the call finished ("<id> <tokens>"), which may leave the bucket in
//  debt: the next call then waits until it has refilled. A call is admitted only if every
//  limit has room; nothing is counted for a refused call.
#include "router_limits.h"
#include "tg_limits.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PENDING_MAX_US (15LL * 60 * 1000000)  //  a call's tokens are awaited this long

typedef struct {
    tg_bucket_t req;  //  requests per minute
    tg_bucket_t tok;  //  tokens per minute
    tg_quota_t mreq;  //  requests this month
    tg_quota_t mtok;  //  tokens this month
    uint64_t tpm;     //  tokens per minute last seen (to charge completions)
    int64_t seen_us;  //  last call
    bool dirty;       //  monthly counts changed since last written
} s_key_t;

typedef struct {
    char key[64];   //  key id
    int64_t at_us;  //  admitted
} s_pending_t;

struct router_limits {
    tg_keystore_t *store;  //  borrowed; NULL: monthly counts in memory only
    zhashx_t *keys;        //  key id -> s_key_t (owned)
    zhashx_t *pending;     //  call id -> s_pending_t (owned): tokens to settle
};

static s_key_t *
s_key(router_limits_t *self, const char *id)
{
    s_key_t *k = zhashx_lookup(self->keys, id);
    if (!k) {
        k = tg_zalloc(sizeof *k);
        zhashx_insert(self->keys, id, k);
    }
    return k;
}

//  "quota:<key id>" -> {"month":"2026-12","requests":n,"tokens":n}
static void
s_load(const char *name, const char *text, size_t len, void *arg)
{
    if (strncmp(name, "quota:", 6) != 0)
        return;
    json_t *o = json_loadb(text, len, 0, NULL);
    const char *month = json_string_value(json_object_get(o, "month"));
    if (month && strlen(month) == 7) {
        s_key_t *k = s_key(arg, name + 6);
        memcpy(k->mreq.month, month, 8);
        memcpy(k->mtok.month, month, 8);
        k->mreq.used = (uint64_t)json_integer_value(json_object_get(o, "requests"));
        k->mtok.used = (uint64_t)json_integer_value(json_object_get(o, "tokens"));
    }
    json_decref(o);
}

router_limits_t *
router_limits_new(tg_keystore_t *store)
{
    router_limits_t *self = tg_zalloc(sizeof *self);
    self->store = store;
    self->keys = zhashx_new();
    zhashx_set_destructor(self->keys, tg_free_item);
    self->pending = zhashx_new();
    zhashx_set_destructor(self->pending, tg_free_item);
    if (store)
        tg_keystore_kv_each(store, TG_KEYSTORE_SPEND, s_load, self);
    return self;
}

//  Writes the monthly counts that changed, in one txn.
static void
s_flush(router_limits_t *self)
{
    if (!self->store)
        return;
    size_t n = 0, cap = zhashx_size(self->keys);
    char **names = tg_zalloc((cap + 1) * sizeof *names);
    char **texts = tg_zalloc((cap + 1) * sizeof *texts);
    s_key_t **which = tg_zalloc((cap + 1) * sizeof *which);
    for (s_key_t *k = zhashx_first(self->keys); k && n < cap; k = zhashx_next(self->keys)) {
        if (!k->dirty)
            continue;
        names[n] = tg_strfmt("quota:%s", (const char *)zhashx_cursor(self->keys));
        texts[n] = tg_strfmt("{\"month\":\"%s\",\"requests\":%" PRIu64 ",\"tokens\":%" PRIu64 "}",
                             k->mreq.month, k->mreq.used, k->mtok.used);
        which[n++] = k;
    }
    if (tg_keystore_kv_put_many(self->store, TG_KEYSTORE_SPEND, (const char *const *)names,
                                (const char *const *)texts, n)
        == TG_OK)
        for (size_t i = 0; i < n; i++)
            which[i]->dirty = false;
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        free(texts[i]);
    }
    free(which);
    free(texts);
    free(names);
}

void
router_limits_destroy(router_limits_t **self_p)
{
    assert(self_p);
    router_limits_t *self = *self_p;
    if (!self)
        return;
    s_flush(self);
    zhashx_destroy(&self->pending);
    zhashx_destroy(&self->keys);
    free(self);
    *self_p = NULL;
}

size_t
router_limits_pending(const router_limits_t *self)
{
    return zhashx_size(self->pending);
}

//  "<limit> <remaining> <reset µs>" for requests, then for tokens (0 0 0 = no limit).
static char *
s_rl(s_key_t *k, const tg_fr_request_t *rq, int64_t now)
{
    if (!rq->rpm && !rq->tpm)
        return NULL;
    uint64_t rr = rq->rpm ? tg_bucket_remaining(&k->req, rq->rpm, now) : 0;
    int64_t rs = rq->rpm ? tg_bucket_reset_us(&k->req, rq->rpm, now) : 0;
    uint64_t tr = rq->tpm ? tg_bucket_remaining(&k->tok, rq->tpm, now) : 0;
    int64_t ts = rq->tpm ? tg_bucket_reset_us(&k->tok, rq->tpm, now) : 0;
    return tg_strfmt("%" PRIu64 " %" PRIu64 " %" PRId64 " %" PRIu64 " %" PRIu64 " %" PRId64,
                     rq->rpm, rr, rs, rq->tpm, tr, ts);
}

static uint64_t
s_secs(int64_t us)
{
    uint64_t s = us > 0 ? (uint64_t)((us + 999999) / 1000000) : 1;
    return s ? s : 1;
}

int
router_limits_admit(router_limits_t *self,
                    const tg_fr_request_t *rq,
                    int64_t now,
                    char **rl_p,
                    char **msg_p,
                    uint64_t *retry_s_p)
{
    *rl_p = NULL;
    *msg_p = NULL;
    *retry_s_p = 0;
    if (!rq->key || (!rq->rpm && !rq->tpm && !rq->rpmo && !rq->tpmo))
        return TG_OK;
    s_key_t *k = s_key(self, rq->key);
    k->seen_us = now;
    k->tpm = rq->tpm;
    uint64_t ptok = rq->ptok ? rq->ptok : 1;
    //  Check every limit before taking from any: a refused call counts nowhere.
    int64_t wait = 0;
    if (rq->rpm) {
        tg_bucket_refill(&k->req, rq->rpm, now);
        if (k->req.level < TG_LIMITS_WINDOW_US) {
            tg_bucket_t probe = k->req;
            tg_bucket_take(&probe, rq->rpm, 1, now, &wait);
            *msg_p = tg_strfmt("Rate limit reached for key %s on requests per minute (RPM): "
                               "Limit %" PRIu64 ", Used %" PRIu64 ", Requested 1. Please try "
                               "again in %" PRIu64 "s.",
                               rq->key, rq->rpm,
                               rq->rpm - tg_bucket_remaining(&k->req, rq->rpm, now), s_secs(wait));
        }
    }
    if (!*msg_p && rq->tpm) {
        tg_bucket_t probe = k->tok;
        if (!tg_bucket_take(&probe, rq->tpm, ptok, now, &wait)) {
            uint64_t left = tg_bucket_remaining(&k->tok, rq->tpm, now);
            if (wait == INT64_MAX) {
                *msg_p =
                    tg_strfmt("Request too large for key %s on tokens per minute (TPM): "
                              "Limit %" PRIu64 ", Requested %" PRIu64 ". Send a smaller prompt.",
                              rq->key, rq->tpm, ptok);
                wait = TG_LIMITS_WINDOW_US;
            } else
                *msg_p = tg_strfmt("Rate limit reached for key %s on tokens per minute (TPM): "
                                   "Limit %" PRIu64 ", Used %" PRIu64 ", Requested %" PRIu64
                                   ". Please try again in %" PRIu64 "s.",
                                   rq->key, rq->tpm, rq->tpm - left, ptok, s_secs(wait));
        }
    }
    if (!*msg_p && rq->rpmo && tg_quota_used(&k->mreq, now) >= rq->rpmo) {
        wait = tg_quota_reset_us(now);
        *msg_p = tg_strfmt("Monthly limit reached for key %s on requests per month: Limit "
                           "%" PRIu64 ", Used %" PRIu64 ". It resets at the start of the next "
                           "month (UTC).",
                           rq->key, rq->rpmo, k->mreq.used);
    }
    if (!*msg_p && rq->tpmo && tg_quota_used(&k->mtok, now) + ptok > rq->tpmo) {
        wait = tg_quota_reset_us(now);
        *msg_p = tg_strfmt("Monthly limit reached for key %s on tokens per month: Limit "
                           "%" PRIu64 ", Used %" PRIu64 ", Requested %" PRIu64 ". It resets "
                           "at the start of the next month (UTC).",
                           rq->key, rq->tpmo, k->mtok.used, ptok);
    }
    if (*msg_p) {
        *retry_s_p = s_secs(wait);
        *rl_p = s_rl(k, rq, now);
        return TG_AGAIN;
    }
    if (rq->rpm)
        tg_bucket_take(&k->req, rq->rpm, 1, now, NULL);
    if (rq->tpm)
        tg_bucket_take(&k->tok, rq->tpm, ptok, now, NULL);
    tg_quota_charge(&k->mreq, 1, now);
    tg_quota_charge(&k->mtok, ptok, now);
    k->dirty = true;
    if ((rq->tpm || rq->tpmo) && rq->id) {
        s_pending_t *p = tg_zalloc(sizeof *p);
        snprintf(p->key, sizeof p->key, "%s", rq->key);
        p->at_us = now;
        zhashx_update(self->pending, rq->id, p);
    }
    *rl_p = s_rl(k, rq, now);
    return TG_OK;
}

bool
router_limits_done_line(const char *line,
                        size_t n,
                        char *id,
                        size_t idsize,
                        uint64_t *out_p,
                        uint64_t *in_p,
                        bool *tokens_p)
{
    const char *sp = memchr(line, ' ', n);
    size_t idn = sp ? (size_t)(sp - line) : n;
    *out_p = *in_p = 0;
    *tokens_p = false;
    if (idn == 0 || idn >= idsize)
        return false;
    memcpy(id, line, idn);
    id[idn] = 0;
    if (sp) {
        char nums[64];
        size_t m = n - idn - 1;
        if (m >= sizeof nums)
            m = sizeof nums - 1;
        memcpy(nums, sp + 1, m);
        nums[m] = 0;
        unsigned long long out = 0, in = 0;
        *tokens_p = sscanf(nums, "%llu %llu", &out, &in) >= 1;
        *out_p = out;
        *in_p = in;
    }
    return true;
}

void
router_limits_settle(router_limits_t *self, const char *body, size_t len, int64_t now)
{
    if (!zhashx_size(self->pending))
        return;
    const char *p = body, *end = body + len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char id[128];
        uint64_t tokens, in;
        bool any;
        if (router_limits_done_line(p, n, id, sizeof id, &tokens, &in, &any)) {
            s_pending_t *pd = zhashx_lookup(self->pending, id);
            s_key_t *k = pd ? zhashx_lookup(self->keys, pd->key) : NULL;
            if (k) {
                if (k->tpm)
                    tg_bucket_charge(&k->tok, k->tpm, tokens, now);
                tg_quota_charge(&k->mtok, tokens, now);
                k->dirty = k->dirty || tokens > 0;
            }
            if (pd)
                zhashx_delete(self->pending, id);
        }
        p += n + 1;
    }
}

void
router_limits_tick(router_limits_t *self, int64_t now)
{
    zlistx_t *gone = zlistx_new();
    zlistx_set_destructor(gone, tg_free_item);
    for (s_pending_t *p = zhashx_first(self->pending); p; p = zhashx_next(self->pending))
        if (now - p->at_us > S_PENDING_MAX_US)
            zlistx_add_end(gone, tg_strdup(zhashx_cursor(self->pending)));
    for (const char *id = zlistx_first(gone); id; id = zlistx_next(gone))
        zhashx_delete(self->pending, id);
    zlistx_destroy(&gone);
    s_flush(self);
}
