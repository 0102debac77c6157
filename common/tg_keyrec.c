//  tg_keyrec.c - a virtual key and its record: key material, hashing, JSON forms, admin fields.
#include "tg_keyrec.h"
#include "tg_log.h"
#include "tg_util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FIELD_MAX 128   //  longest string field
#define S_MODELS_MAX 100  //  allowed models per key

void
tg_keyrec_key_new(char *key)
{
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    memcpy(key, TG_KEYREC_PREFIX, 6);
    sodium_bin2hex(key + 6, 65, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

void
tg_keyrec_id_new(char *id)
{
    tg_id_fill(id, "key_", 12);
}

void
tg_keyrec_hash(const uint8_t secret[TG_KEYREC_SECRET], const char *key, uint8_t out[TG_KEYREC_HASH])
{
    crypto_generichash(out, TG_KEYREC_HASH, (const unsigned char *)key, strlen(key), secret,
                       TG_KEYREC_SECRET);
}

void
tg_keyrec_init(tg_keyrec_t *rec)
{
    memset(rec, 0, sizeof *rec);
    for (int i = 0; i < TG_LIM_N; i++)
        rec->limits[i] = -1;
    rec->roles = TG_ROLE_DEFAULT;
}

static const struct {
    uint64_t bit;
    const char *name;
} s_roles[] = {{TG_ROLE_METRICS_READ, "metrics:read"},
               {TG_ROLE_METRICS_QUERY, "metrics:query"},
               {TG_ROLE_ADMIN, "admin"},
               {TG_ROLE_EVENTS_WRITE, "events:write"}};

const char *
tg_role_name(uint64_t bit)
{
    for (size_t i = 0; i < sizeof s_roles / sizeof s_roles[0]; i++)
        if (s_roles[i].bit == bit)
            return s_roles[i].name;
    return NULL;
}

uint64_t
tg_role_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof s_roles / sizeof s_roles[0]; i++)
        if (strcmp(s_roles[i].name, name) == 0)
            return s_roles[i].bit;
    return 0;
}

//  The roles as a JSON array of names.
static json_t *
s_roles_json(uint64_t roles)
{
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof s_roles / sizeof s_roles[0]; i++)
        if (roles & s_roles[i].bit)
            json_array_append_new(a, json_string(s_roles[i].name));
    return a;
}

void
tg_keyrec_fini(tg_keyrec_t *rec)
{
    free(rec->name);
    free(rec->owner);
    free(rec->org);
    free(rec->project);
    free(rec->agent);
    free(rec->tier);
    for (size_t i = 0; i < rec->nmodels; i++)
        free(rec->models[i]);
    free(rec->models);
    tg_keyrec_init(rec);
}

static json_t *
s_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *
s_time_or_null(int64_t t)
{
    return t ? json_integer(t) : json_null();
}

json_t *
tg_keyrec_json(const tg_keyrec_t *rec)
{
    json_t *models = json_array(), *limits = json_object();
    for (size_t i = 0; i < rec->nmodels; i++)
        json_array_append_new(models, json_string(rec->models[i]));
    for (int i = 0; i < TG_LIM_N; i++)
        json_object_set_new(limits, tg_limit_name(i),
                            rec->limits[i] >= 0 ? json_integer(rec->limits[i]) : json_null());
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(rec->id));
    json_object_set_new(o, "object", json_string("api_key"));
    json_object_set_new(o, "name", s_str_or_null(rec->name));
    json_object_set_new(o, "key_hint", json_string(rec->hint));
    json_object_set_new(o, "owner", s_str_or_null(rec->owner));
    json_object_set_new(o, "organization", s_str_or_null(rec->org));
    json_object_set_new(o, "project", s_str_or_null(rec->project));
    json_object_set_new(o, "agent", s_str_or_null(rec->agent));
    json_object_set_new(o, "tier", s_str_or_null(rec->tier));
    json_object_set_new(o, "models", models);
    json_object_set_new(o, "limits", limits);
    json_t *budgets = json_object();
    json_object_set_new(budgets, "daily_usd",
                        rec->daily_usd > 0 ? json_real(rec->daily_usd) : json_null());
    json_object_set_new(budgets, "monthly_usd",
                        rec->monthly_usd > 0 ? json_real(rec->monthly_usd) : json_null());
    json_object_set_new(o, "budgets", budgets);
    json_object_set_new(o, "roles", s_roles_json(rec->roles));
    json_object_set_new(o, "created_at", json_integer(rec->created));
    json_object_set_new(o, "expires_at", s_time_or_null(rec->expires));
    json_object_set_new(o, "rotated_at", s_time_or_null(rec->rotated));
    json_object_set_new(o, "revoked_at", s_time_or_null(rec->revoked));
    json_object_set_new(o, "revoked", json_boolean(rec->revoked != 0));
    return o;
}

char *
tg_keyrec_encode(const tg_keyrec_t *rec)
{
    json_t *o = tg_keyrec_json(rec);
    char hex[2 * TG_KEYREC_HASH + 1];
    sodium_bin2hex(hex, sizeof hex, rec->hash, sizeof rec->hash);
    json_object_set_new(o, "hash", json_string(hex));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static char *
s_dup_field(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? tg_strdup(s) : NULL;
}

static int64_t
s_int_field(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

int
tg_keyrec_decode(const void *data, size_t len, tg_keyrec_t *rec)
{
    tg_keyrec_init(rec);
    json_t *o = json_loadb(data, len, 0, NULL);
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *hash = json_string_value(json_object_get(o, "hash"));
    if (!o || !id || strlen(id) > TG_KEYREC_ID_LEN || !hash
        || sodium_hex2bin(rec->hash, sizeof rec->hash, hash, strlen(hash), NULL, NULL, NULL) != 0) {
        tg_log_error("key store record unreadable len=%zu", len);
        json_decref(o);
        return TG_ERR;
    }
    memcpy(rec->id, id, strlen(id) + 1);
    snprintf(rec->hint, sizeof rec->hint, "%s",
             json_string_value(json_object_get(o, "key_hint")) ?: "");
    rec->name = s_dup_field(o, "name");
    rec->owner = s_dup_field(o, "owner");
    rec->org = s_dup_field(o, "organization");
    rec->project = s_dup_field(o, "project");
    rec->agent = s_dup_field(o, "agent");
    rec->tier = s_dup_field(o, "tier");
    rec->created = s_int_field(o, "created_at");
    rec->expires = s_int_field(o, "expires_at");
    rec->rotated = s_int_field(o, "rotated_at");
    rec->revoked = s_int_field(o, "revoked_at");
    const json_t *models = json_object_get(o, "models"), *m;
    size_t i;
    rec->models = tg_zalloc((json_array_size(models) + 1) * sizeof *rec->models);
    json_array_foreach(models, i, m) if (json_is_string(m)) rec->models[rec->nmodels++] =
        tg_strdup(json_string_value(m));
    const json_t *limits = json_object_get(o, "limits");
    for (int l = 0; l < TG_LIM_N; l++) {
        const json_t *v = json_object_get(limits, tg_limit_name(l));
        rec->limits[l] = json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
    }
    const json_t *budgets = json_object_get(o, "budgets");
    rec->daily_usd = json_number_value(json_object_get(budgets, "daily_usd"));
    rec->monthly_usd = json_number_value(json_object_get(budgets, "monthly_usd"));
    const json_t *roles = json_object_get(o, "roles"), *r;
    if (json_is_array(roles)) {  //  records stored before roles existed keep the default
        rec->roles = 0;
        json_array_foreach(roles, i, r) rec->roles |= tg_role_parse(json_string_value(r));
    }
    json_decref(o);
    return TG_OK;
}

//  ---------------------------------------------------------------------------------------
//  Admin API fields

static bool
s_text_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > S_FIELD_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

//  A string field: absent leaves *dst, null clears it, a valid string replaces it.
static int
s_apply_str(const json_t *v, char **dst, const char *param, const char **param_p, char **msg_p)
{
    if (json_is_null(v)) {
        free(*dst);
        *dst = NULL;
        return TG_OK;
    }
    if (!json_is_string(v) || !s_text_valid(json_string_value(v))) {
        *param_p = param;
        *msg_p =
            tg_strfmt("'%s' must be a string of 1 to %d characters, or null.", param, S_FIELD_MAX);
        return TG_INVALID;
    }
    free(*dst);
    *dst = tg_strdup(json_string_value(v));
    return TG_OK;
}

static int
s_apply_models(tg_keyrec_t *rec, const json_t *v, const char **param_p, char **msg_p)
{
    size_t i;
    const json_t *m;
    bool ok = json_is_null(v) || (json_is_array(v) && json_array_size(v) <= S_MODELS_MAX);
    json_array_foreach(v, i, m) ok = ok && json_is_string(m) && s_text_valid(json_string_value(m));
    if (!ok) {
        *param_p = "models";
        *msg_p = tg_strfmt("'models' must be a list of at most %d model names (an empty list "
                           "or null allows every model).",
                           S_MODELS_MAX);
        return TG_INVALID;
    }
    for (size_t k = 0; k < rec->nmodels; k++)
        free(rec->models[k]);
    free(rec->models);
    rec->models = tg_zalloc((json_array_size(v) + 1) * sizeof *rec->models);
    rec->nmodels = 0;
    json_array_foreach(v, i, m) rec->models[rec->nmodels++] = tg_strdup(json_string_value(m));
    return TG_OK;
}

static int
s_apply_limits(tg_keyrec_t *rec, const json_t *v, const char **param_p, char **msg_p)
{
    static char param[64];
    if (!json_is_object(v)) {
        *param_p = "limits";
        *msg_p = tg_strdup("'limits' must be an object of requests_per_minute, "
                           "tokens_per_minute, requests_per_month, tokens_per_month.");
        return TG_INVALID;
    }
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        int which = -1;
        for (int i = 0; i < TG_LIM_N; i++)
            if (strcmp(k, tg_limit_name(i)) == 0)
                which = i;
        int64_t n = json_is_integer(x) ? (int64_t)json_integer_value(x) : -2;
        int64_t max = which == TG_LIM_RPM || which == TG_LIM_TPM ? 1000000000LL : 1000000000000LL;
        if (which >= 0 && json_is_null(x)) {
            rec->limits[which] = -1;
            continue;
        }
        if (which < 0 || n < 0 || n > max) {
            snprintf(param, sizeof param, "limits.%.40s", k);
            *param_p = param;
            *msg_p = which < 0 ? tg_strfmt("Unknown limit '%s'.", param)
                               : tg_strfmt("'%s' must be an integer from 0 (no limit) to %lld, "
                                           "or null (the tier's).",
                                           param, (long long)max);
            return TG_INVALID;
        }
        rec->limits[which] = n;
    }
    return TG_OK;
}

int
tg_budget_fields_apply(
    const json_t *v, double *daily, double *monthly, const char **param_p, char **msg_p)
{
    static char param[64];
    if (!json_is_object(v)) {
        *param_p = "budgets";
        *msg_p = tg_strdup("'budgets' must be an object of daily_usd and monthly_usd.");
        return TG_INVALID;
    }
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        double *dst = strcmp(k, "daily_usd") == 0     ? daily
                      : strcmp(k, "monthly_usd") == 0 ? monthly
                                                      : NULL;
        double n = json_is_number(x) ? json_number_value(x) : -1;
        if (dst && json_is_null(x)) {
            *dst = 0;
            continue;
        }
        if (!dst || !(n > 0 && n <= 1e9)) {
            snprintf(param, sizeof param, "budgets.%.40s", k);
            *param_p = param;
            *msg_p = !dst ? tg_strfmt("Unknown budget '%s' (daily_usd, monthly_usd).", param)
                          : tg_strfmt("'%s' must be a number of USD above 0 (at most 1e9), or "
                                      "null for none.",
                                      param);
            return TG_INVALID;
        }
        *dst = n;
    }
    return TG_OK;
}

//  "roles": an array of role names (may be empty: no role), or null (the default roles).
static int
s_apply_roles(tg_keyrec_t *rec, const json_t *v, const char **param_p, char **msg_p)
{
    if (json_is_null(v)) {
        rec->roles = TG_ROLE_DEFAULT;
        return TG_OK;
    }
    uint64_t roles = 0;
    size_t i;
    const json_t *r;
    if (!json_is_array(v))
        goto bad;
    json_array_foreach(v, i, r)
    {
        uint64_t bit = json_is_string(r) ? tg_role_parse(json_string_value(r)) : 0;
        if (!bit)
            goto bad;
        roles |= bit;
    }
    rec->roles = roles;
    return TG_OK;
bad:
    *param_p = "roles";
    *msg_p = tg_strdup("'roles' must be an array of \"metrics:read\", \"metrics:query\", "
                       "\"admin\", \"events:write\" (or null for the default: metrics:read, "
                       "events:write).");
    return TG_INVALID;
}

int
tg_keyrec_apply(tg_keyrec_t *rec,
                const json_t *body,
                const tg_tiers_t *tiers,
                const char **param_p,
                char **msg_p)
{
    static char unknown[64];
    if (!json_is_object(body)) {
        *param_p = NULL;
        *msg_p = tg_strdup("The body must be a JSON object.");
        return TG_INVALID;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        int rc = TG_OK;
        if (strcmp(k, "name") == 0)
            rc = s_apply_str(v, &rec->name, "name", param_p, msg_p);
        else if (strcmp(k, "owner") == 0)
            rc = s_apply_str(v, &rec->owner, "owner", param_p, msg_p);
        else if (strcmp(k, "organization") == 0)
            rc = s_apply_str(v, &rec->org, "organization", param_p, msg_p);
        else if (strcmp(k, "project") == 0)
            rc = s_apply_str(v, &rec->project, "project", param_p, msg_p);
        else if (strcmp(k, "agent") == 0)
            rc = s_apply_str(v, &rec->agent, "agent", param_p, msg_p);
        else if (strcmp(k, "tier") == 0) {
            if (!json_is_string(v) || !tg_tiers_valid(tiers, json_string_value(v))) {
                char names[TG_CONFIG_TIERS_MAX * 36];
                tg_tiers_names(tiers, names, sizeof names);
                *param_p = "tier";
                *msg_p = tg_strfmt("'tier' must be one of %s.", names);
                rc = TG_INVALID;
            } else
                rc = s_apply_str(v, &rec->tier, "tier", param_p, msg_p);
        } else if (strcmp(k, "models") == 0)
            rc = s_apply_models(rec, v, param_p, msg_p);
        else if (strcmp(k, "limits") == 0)
            rc = s_apply_limits(rec, v, param_p, msg_p);
        else if (strcmp(k, "budgets") == 0)
            rc = tg_budget_fields_apply(v, &rec->daily_usd, &rec->monthly_usd, param_p, msg_p);
        else if (strcmp(k, "roles") == 0)
            rc = s_apply_roles(rec, v, param_p, msg_p);
        else if (strcmp(k, "expires_at") == 0) {
            if (json_is_null(v))
                rec->expires = 0;
            else if (json_is_integer(v) && json_integer_value(v) > 0
                     && json_integer_value(v) < 253402300800LL)
                rec->expires = (int64_t)json_integer_value(v);
            else {
                *param_p = "expires_at";
                *msg_p = tg_strdup("'expires_at' must be a Unix time in seconds, or null.");
                rc = TG_INVALID;
            }
        } else {
            snprintf(unknown, sizeof unknown, "%.60s", k);
            *param_p = unknown;
            *msg_p = tg_strfmt("Unknown field '%s'.", unknown);
            rc = TG_INVALID;
        }
        if (rc != TG_OK)
            return rc;
    }
    return TG_OK;
}

bool
tg_keyrec_allows(const tg_keyrec_t *rec, const char *model, const char *target)
{
    if (rec->nmodels == 0)
        return true;
    for (size_t i = 0; i < rec->nmodels; i++)
        if ((model && strcmp(rec->models[i], model) == 0)
            || (target && strcmp(rec->models[i], target) == 0))
            return true;
    return false;
}
