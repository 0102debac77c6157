//  router_keys.c - /v1/keys: virtual keys created, listed, read, updated, revoked and
//  rotated. A key is shown once (create, rotate); only its keyed hash is stored.
#include "router_keys.h"
#include "tg_error.h"
#include "tg_keys.h"
#include "tg_keystore.h"
#include "tg_log.h"
#include "tg_util.h"

#include <assert.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

struct router_keys {
    const tg_config_t *cfg;            //  borrowed
    tg_keystore_t *store;              //  written here only
    uint8_t secret[TG_KEYREC_SECRET];  //  hash key; wiped on destroy
    tg_tiers_t tiers;                  //  the tiers a key may name
};

router_keys_t *
router_keys_new(const tg_config_t *cfg)
{
    router_keys_t *self = tg_zalloc(sizeof *self);
    self->cfg = cfg;
    tg_tiers_load(cfg, &self->tiers);
    char *dir = tg_keystore_dir(cfg);
    int rc = tg_keys_secret(cfg, self->secret);
    if (rc == TG_OK)
        rc = tg_keystore_open(dir, false, &self->store);
    free(dir);
    if (rc != TG_OK)
        router_keys_destroy(&self);
    return self;
}

void
router_keys_destroy(router_keys_t **self_p)
{
    assert(self_p);
    router_keys_t *self = *self_p;
    if (!self)
        return;
    tg_keystore_destroy(&self->store);
    sodium_memzero(self->secret, sizeof self->secret);
    free(self);
    *self_p = NULL;
}

tg_keystore_t *
router_keys_store(router_keys_t *self)
{
    return self->store;
}

static void
s_error(
    int status, const char *msg, const char *param, const char *code, int *status_p, char **body_p)
{
    *status_p = status;
    *body_p = tg_error_body(status, msg, NULL, param, code);
}

static void
s_json(json_t **o_p, int *status_p, char **body_p)
{
    *status_p = 200;
    *body_p = json_dumps(*o_p, JSON_COMPACT);
    json_decref(*o_p);
    *o_p = NULL;
}

//  A fresh key for rec: its hash and hint set; the key itself written to key.
static void
s_new_key(router_keys_t *self, tg_keyrec_t *rec, char *key)
{
    tg_keyrec_key_new(key);
    tg_keyrec_hash(self->secret, key, rec->hash);
    snprintf(rec->hint, sizeof rec->hint, "sk-tg-...%s", key + TG_KEYREC_KEY_LEN - 4);
}

//  The record's JSON with the key shown once.
static void
s_shown(const tg_keyrec_t *rec, char *key, int *status_p, char **body_p)
{
    json_t *o = tg_keyrec_json(rec);
    json_object_set_new(o, "key", json_string(key));
    sodium_memzero(key, TG_KEYREC_KEY_LEN);
    *status_p = 200;
    *body_p = json_dumps(o, JSON_COMPACT);
    json_decref(o);
}

static json_t *
s_body(const char *body, size_t len, int *status_p, char **body_p)
{
    json_error_t jerr;
    json_t *doc = len ? json_loadb(body, len, 0, &jerr) : json_object();
    if (!doc || !json_is_object(doc)) {
        s_error(400, "The body must be a JSON object.", NULL, NULL, status_p, body_p);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static void
s_create(
    router_keys_t *self, const char *body, size_t len, int64_t now, int *status_p, char **body_p)
{
    json_t *doc = s_body(body, len, status_p, body_p);
    if (!doc)
        return;
    tg_keyrec_t rec;
    tg_keyrec_init(&rec);
    tg_keyrec_id_new(rec.id);
    rec.tier = tg_strdup(tg_config_str(self->cfg, "keys.default_tier"));
    rec.created = now / 1000000;
    const char *param = NULL;
    char *msg = NULL;
    if (tg_keyrec_apply(&rec, doc, &self->tiers, &param, &msg) != TG_OK) {
        s_error(400, msg, param, "invalid_field", status_p, body_p);
        free(msg);
    } else {
        char key[TG_KEYREC_KEY_LEN + 1];
        s_new_key(self, &rec, key);
        if (tg_keystore_put(self->store, &rec, NULL) != TG_OK)
            s_error(500, "The key could not be stored.", NULL, NULL, status_p, body_p);
        else {
            tg_log_info("key created id=%s tier=%s", rec.id, rec.tier ? rec.tier : "-");
            s_shown(&rec, key, status_p, body_p);
        }
        sodium_memzero(key, sizeof key);
    }
    tg_keyrec_fini(&rec);
    json_decref(doc);
}

static int
s_load(router_keys_t *self, const char *id, tg_keyrec_t *rec, int *status_p, char **body_p)
{
    int rc = tg_keystore_get(self->store, id, rec);
    if (rc == TG_NOTFOUND) {
        char shown[64];
        snprintf(shown, sizeof shown, "%.40s", id);
        for (char *c = shown; *c; c++)
            if (*c < 0x20 || *c > 0x7e)
                *c = '?';
        char *msg = tg_strfmt("No key with id '%s'.", shown);
        s_error(404, msg, "id", "key_not_found", status_p, body_p);
        free(msg);
    } else if (rc != TG_OK)
        s_error(500, "The key store could not be read.", NULL, NULL, status_p, body_p);
    return rc;
}

//  /v1/keys/{id}[/{action}] with method: GET, PATCH|POST (update), DELETE, POST .../revoke,
//  POST .../rotate.
static void
s_one(router_keys_t *self,
      const tg_fr_query_t *q,
      const char *body,
      size_t len,
      int64_t now,
      int *status_p,
      char **body_p)
{
    char id[TG_KEYREC_ID_LEN + 2];
    const char *rest = q->path + 9;
    const char *slash = strchr(rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *action = slash ? slash + 1 : "";
    if (idlen == 0 || idlen >= sizeof id) {
        s_error(404, "No key with that id.", "id", "key_not_found", status_p, body_p);
        return;
    }
    memcpy(id, rest, idlen);
    id[idlen] = 0;
    bool get = strcmp(q->method, "GET") == 0, del = strcmp(q->method, "DELETE") == 0;
    bool post = strcmp(q->method, "POST") == 0, patch = strcmp(q->method, "PATCH") == 0;
    bool revoke = (post && strcmp(action, "revoke") == 0) || (del && !*action);
    bool rotate = post && strcmp(action, "rotate") == 0;
    bool update = (post || patch) && !*action;
    if (!get && !revoke && !rotate && !update) {
        s_error(*action && !revoke && !rotate ? 404 : 405,
                *action ? "Unknown key action (revoke, rotate)." : "Method not allowed.", NULL,
                NULL, status_p, body_p);
        return;
    }
    if (get && *action) {
        s_error(404, "Unknown key route.", NULL, NULL, status_p, body_p);
        return;
    }
    json_t *doc = NULL;
    if (update && !(doc = s_body(body, len, status_p, body_p)))
        return;
    tg_keyrec_t rec;
    if (s_load(self, id, &rec, status_p, body_p) != TG_OK) {
        json_decref(doc);
        return;
    }
    json_t *out = NULL;
    if (get)
        out = tg_keyrec_json(&rec);
    else if (update) {
        const char *param = NULL;
        char *msg = NULL;
        if (tg_keyrec_apply(&rec, doc, &self->tiers, &param, &msg) != TG_OK) {
            s_error(400, msg, param, "invalid_field", status_p, body_p);
            free(msg);
        } else if (tg_keystore_put(self->store, &rec, NULL) != TG_OK)
            s_error(500, "The key could not be stored.", NULL, NULL, status_p, body_p);
        else {
            tg_log_info("key updated id=%s", rec.id);
            out = tg_keyrec_json(&rec);
        }
    } else if (revoke) {
        if (!rec.revoked) {
            rec.revoked = now / 1000000;
            if (rec.revoked == 0)
                rec.revoked = 1;
        }
        if (tg_keystore_put(self->store, &rec, NULL) != TG_OK)
            s_error(500, "The key could not be stored.", NULL, NULL, status_p, body_p);
        else {
            tg_log_info("key revoked id=%s", rec.id);
            out = tg_keyrec_json(&rec);
        }
    } else if (rec.revoked)
        s_error(400, "A revoked key cannot be rotated; create a new one.", "id", "key_revoked",
                status_p, body_p);
    else {
        uint8_t old[TG_KEYREC_HASH];
        memcpy(old, rec.hash, sizeof old);
        char key[TG_KEYREC_KEY_LEN + 1];
        s_new_key(self, &rec, key);
        rec.rotated = now / 1000000;
        if (tg_keystore_put(self->store, &rec, old) != TG_OK)
            s_error(500, "The key could not be stored.", NULL, NULL, status_p, body_p);
        else {
            tg_log_info("key rotated id=%s", rec.id);
            s_shown(&rec, key, status_p, body_p);
        }
        sodium_memzero(key, sizeof key);
    }
    if (out)
        s_json(&out, status_p, body_p);
    tg_keyrec_fini(&rec);
    json_decref(doc);
}

//  GET /v1/keys?owner=&organization=&project=&agent=&tier=&revoked=true|false: the keys
//  whose fields equal every filter given. An unknown filter: 400.
static void
s_list(router_keys_t *self, const char *query, int *status_p, char **body_p)
{
    static const char *const fields[] = {"owner", "organization", "project", "agent", "tier"};
    struct evkeyvalq args;
    TAILQ_INIT(&args);
    if (query && *query && evhttp_parse_query_str(query, &args) != 0) {
        evhttp_clear_headers(&args);
        s_error(400, "The query string could not be parsed.", NULL, NULL, status_p, body_p);
        return;
    }
    for (struct evkeyval *a = args.tqh_first; a; a = a->next.tqe_next) {
        bool known = strcmp(a->key, "revoked") == 0;
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
            known = known || strcmp(a->key, fields[f]) == 0;
        if (!known) {
            char *msg = tg_strfmt("Unknown filter '%.40s' (owner, organization, project, agent, "
                                  "tier, revoked).",
                                  a->key);
            s_error(400, msg, a->key, "invalid_field", status_p, body_p);
            free(msg);
            evhttp_clear_headers(&args);
            return;
        }
    }
    json_t *all = tg_keystore_list(self->store), *data = json_array(), *k;
    size_t i;
    json_array_foreach(all, i, k)
    {
        bool keep = true;
        for (struct evkeyval *a = args.tqh_first; a && keep; a = a->next.tqe_next) {
            if (strcmp(a->key, "revoked") == 0)
                keep =
                    json_is_true(json_object_get(k, "revoked")) == (strcmp(a->value, "true") == 0);
            else {
                const char *v = json_string_value(json_object_get(k, a->key));
                keep = v && strcmp(v, a->value) == 0;
            }
        }
        if (keep)
            json_array_append(data, k);
    }
    evhttp_clear_headers(&args);
    json_decref(all);
    json_t *o = json_pack("{ss so}", "object", "list", "data", data);
    s_json(&o, status_p, body_p);
}

bool
router_keys_query(router_keys_t *self,
                  const tg_fr_query_t *q,
                  const char *body,
                  size_t len,
                  int64_t now,
                  int *status_p,
                  char **body_p)
{
    if (strcmp(q->path, "/v1/keys") != 0 && strncmp(q->path, "/v1/keys/", 9) != 0)
        return false;
    if (strcmp(q->path, "/v1/keys") == 0 || strcmp(q->path, "/v1/keys/") == 0) {
        if (strcmp(q->method, "POST") == 0)
            s_create(self, body, len, now, status_p, body_p);
        else if (strcmp(q->method, "GET") == 0)
            s_list(self, q->args, status_p, body_p);
        else
            s_error(405, "Method not allowed.", NULL, NULL, status_p, body_p);
        return true;
    }
    s_one(self, q, body, len, now, status_p, body_p);
    return true;
}
