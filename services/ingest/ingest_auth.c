//  ingest_auth.c - who is calling (spec K1): the master key, or a virtual key checked
//  against the key store the router writes, opened here read-only. Each check is one LMDB
//  read txn, so a revocation or rotation is seen by the next request, with no hop.
#include "ingest_priv.h"
#include "tg_keys.h"
#include "tg_limits.h"
#include "tg_log.h"
#include "tg_util.h"

#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_OPEN_RETRY_US 1000000  //  a key store not created yet is looked for again this often

int
ingest_auth_init(ingest_t *self)
{
    ingest_auth_t *a = &self->auth;
    a->dir = tg_keystore_dir(self->cfg);
    if (tg_keys_secret(self->cfg, a->secret) != TG_OK)
        return TG_ERR;
    a->retry_us = 0;
    tg_tiers_load(self->cfg, &a->tiers);
    return TG_OK;
}

void
ingest_auth_fini(ingest_t *self)
{
    ingest_auth_t *a = &self->auth;
    tg_keystore_destroy(&a->store);
    free(a->dir);
    sodium_memzero(a, sizeof *a);
}

//  The store, opened read-only once the router has created it.
static tg_keystore_t *
s_store(ingest_t *self)
{
    ingest_auth_t *a = &self->auth;
    int64_t now = tg_mono_us();
    if (!a->store && now >= a->retry_us) {
        a->retry_us = now + S_OPEN_RETRY_US;
        tg_keystore_open(a->dir, true, &a->store);
    }
    return a->store;
}

static void
s_unauthorized(ingest_t *self, struct evhttp_request *req, const char *rid, const char *msg)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
    ingest_http_error(self, req, rid, 401, msg, NULL, "invalid_api_key");
}

bool
ingest_auth_check(
    ingest_t *self, struct evhttp_request *req, const char *rid, bool admin, ingest_who_t *who)
{
    memset(who, 0, sizeof *who);
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    const char *key = NULL;
    if (h && strncasecmp(h, "Bearer ", 7) == 0)
        for (key = h + 7; *key == ' ';)
            key++;
    if (!key)  //  Anthropic's clients send the key this way
        key = evhttp_find_header(evhttp_request_get_input_headers(req), "x-api-key");
    if (key && tg_key_equal(self->master_key, key)) {
        who->master = true;
        memcpy(who->id, "master", 7);
        return true;
    }
    if (!key || !*key) {
        s_unauthorized(self, req, rid,
                       "You didn't provide an API key. You need to provide your API key in an "
                       "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                       "YOUR_KEY).");
        return false;
    }
    int rc = TG_NOTFOUND;
    size_t n = strlen(key);
    if (n == TG_KEYREC_KEY_LEN && strncmp(key, TG_KEYREC_PREFIX, 6) == 0 && s_store(self)) {
        uint8_t hash[TG_KEYREC_HASH];
        tg_keyrec_hash(self->auth.secret, key, hash);
        rc = tg_keystore_lookup(self->auth.store, hash, &who->rec);
    }
    if (rc != TG_OK) {
        //  Never echo a key: its first and last 4 characters at most, as OpenAI does.
        char head[8], tail[8], msg[320];
        ingest_http_printable(key, head, n >= 12 ? 4 : 0);
        ingest_http_printable(n >= 12 ? key + n - 4 : "", tail, 4);
        snprintf(msg, sizeof msg,
                 "Incorrect API key provided: %s****%s. Use the gateway's master key or a "
                 "virtual key made with /v1/keys.",
                 head, tail);
        s_unauthorized(self, req, rid, msg);
        return false;
    }
    int64_t now_s = tg_now_us() / 1000000;
    const char *why = who->rec->revoked ? "This API key has been revoked."
                      : who->rec->expires && now_s >= who->rec->expires
                          ? "This API key has expired."
                          : NULL;
    if (why) {
        s_unauthorized(self, req, rid, why);
        return false;
    }
    snprintf(who->id, sizeof who->id, "%s", who->rec->id);
    if (admin) {
        ingest_http_error(self, req, rid, 403,
                          "This route needs the gateway's master key; virtual keys cannot "
                          "manage keys.",
                          NULL, "admin_key_required");
        return false;
    }
    tg_limits_resolve(&self->auth.tiers, who->rec->tier, who->rec->limits, who->limits);
    return true;
}

void
ingest_auth_rl_headers(struct evkeyvalq *h, const char *rl)
{
    uint64_t lr, rr, lt, rt;
    int64_t sr, st;
    if (!rl
        || sscanf(rl, "%" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNu64 " %" SCNu64 " %" SCNd64, &lr,
                  &rr, &sr, &lt, &rt, &st)
               != 6)
        return;
    char v[32];
    if (lr) {
        snprintf(v, sizeof v, "%" PRIu64, lr);
        evhttp_add_header(h, "x-ratelimit-limit-requests", v);
        snprintf(v, sizeof v, "%" PRIu64, rr);
        evhttp_add_header(h, "x-ratelimit-remaining-requests", v);
        tg_limits_duration(sr, v, sizeof v);
        evhttp_add_header(h, "x-ratelimit-reset-requests", v);
    }
    if (lt) {
        snprintf(v, sizeof v, "%" PRIu64, lt);
        evhttp_add_header(h, "x-ratelimit-limit-tokens", v);
        snprintf(v, sizeof v, "%" PRIu64, rt);
        evhttp_add_header(h, "x-ratelimit-remaining-tokens", v);
        tg_limits_duration(st, v, sizeof v);
        evhttp_add_header(h, "x-ratelimit-reset-tokens", v);
    }
}
