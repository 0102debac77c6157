//  tg_config.c - YAML (libyaml) + environment + defaults, checked against tg_config_keys.def.
#include "tg_config.h"
#include "tg_addr.h"
#include "tg_pricing.h"
#include "tg_config_routes.h"
#include "tg_util.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <yaml.h>

typedef enum { K_STR, K_INT, K_DBL, K_BOOL } s_ktype_t;
#define TG_KEY_SECRET 1
#define TG_KEY_LIST 2

typedef struct {
    const char *key;  //  dotted name
    s_ktype_t type;   //  value type
    const char *def;  //  default, as text
    const char *env;  //  environment override, or NULL
    double min, max;  //  bounds for INT and DBL
    int flags;        //  TG_KEY_SECRET, TG_KEY_LIST
} s_key_t;

static const s_key_t s_keys[] = {
#define TG_KEY(k, T, d, e, lo, hi, fl) {k, K_##T, d, e, lo, hi, fl},
#include "tg_config_keys.def"
#undef TG_KEY
};
#define S_NKEYS (sizeof s_keys / sizeof s_keys[0])

typedef struct {
    char *name;    //  alias or agent id
    char *target;  //  model
} s_pair_t;

struct tg_config {
    char *values[S_NKEYS];        //  text value of every key, after overrides
    int64_t ints[S_NKEYS];        //  parsed INT / BOOL values
    double dbls[S_NKEYS];         //  parsed DBL values
    tg_provider_t *providers;     //  providers, built-ins first
    size_t nproviders;            //  entries in providers
    s_pair_t *aliases;            //  alias -> model
    size_t naliases;              //  entries in aliases
    s_pair_t *agents;             //  agent -> default model
    size_t nagents;               //  entries in agents
    tg_route_t *routes;           //  models declared under `models:`
    size_t nroutes;               //  entries in routes
    tg_tier_t *tiers;             //  tiers of virtual keys, built-ins first
    size_t ntiers;                //  entries in tiers
    tg_price_override_t *prices;  //  pricing.models.<name>: per-deployment prices
    size_t nprices;               //  entries in prices
};

//  The built-in tiers and their limits (requests/min, tokens/min, requests/month, tokens/month).
static const struct {
    const char *name;  //  tier name
    int64_t v[4];      //  default limits
} s_tier_defaults[] = {
    {"free", {60, 40000, 10000, 1000000}},
    {"pro", {600, 400000, 0, 50000000}},
    {"enterprise", {0, 0, 0, 0}},
};
static const char *const s_tier_keys[4] = {"requests_per_minute", "tokens_per_minute",
                                           "requests_per_month", "tokens_per_month"};

static void
s_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tollgate: config: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static int
s_key_index(const char *key)
{
    for (size_t i = 0; i < S_NKEYS; i++)
        if (strcmp(s_keys[i].key, key) == 0)
            return (int)i;
    return -1;
}

static void
s_set(tg_config_t *self, int idx, const char *value)
{
    free(self->values[idx]);
    self->values[idx] = tg_strdup(value);
}

static tg_provider_t *
s_provider_add(tg_config_t *self, const char *name)
{
    for (size_t i = 0; i < self->nproviders; i++)
        if (strcmp(self->providers[i].name, name) == 0)
            return &self->providers[i];
    self->providers = tg_realloc(self->providers, (self->nproviders + 1) * sizeof(tg_provider_t));
    tg_provider_t *p = &self->providers[self->nproviders++];
    memset(p, 0, sizeof *p);
    p->name = tg_strdup(name);
    p->max_retries = -1;
    p->breaker_failures = p->breaker_successes = p->breaker_probes = -1;
    p->breaker_timeout_ms = -1;
    return p;
}

//  Per-provider call policy keys: name, bounds, where the value goes (int64_t or int).
static const struct {
    const char *key;  //  key in the provider's block
    int64_t min;      //  lowest value accepted
    int64_t max;      //  highest value accepted
    size_t off;       //  offset in tg_provider_t
    bool is_int;      //  an int member (else int64_t)
} s_provider_ints[] = {
    {"max_retries", 0, 10, offsetof(tg_provider_t, max_retries), true},
    {"connect_timeout_ms", 100, 600000, offsetof(tg_provider_t, connect_timeout_ms), false},
    {"first_byte_timeout_ms", 100, 3600000, offsetof(tg_provider_t, first_byte_timeout_ms), false},
    {"idle_timeout_ms", 100, 3600000, offsetof(tg_provider_t, idle_timeout_ms), false},
    {"total_timeout_ms", 100, 86400000, offsetof(tg_provider_t, total_timeout_ms), false},
    {"breaker_failure_threshold", 1, 1000, offsetof(tg_provider_t, breaker_failures), true},
    {"breaker_success_threshold", 1, 1000, offsetof(tg_provider_t, breaker_successes), true},
    {"breaker_half_open_max_attempts", 1, 1000, offsetof(tg_provider_t, breaker_probes), true},
    {"breaker_timeout_ms", 100, 86400000, offsetof(tg_provider_t, breaker_timeout_ms), false},
    {"health_check_ms", 100, 86400000, offsetof(tg_provider_t, health_check_ms), false},
};

//  Sets p's policy key `k` from `v`. TG_NOTFOUND when k is not one, TG_INVALID (printed)
//  when v is not an integer within its bounds.
static int
s_provider_int(tg_provider_t *p, size_t index, const char *k, const char *v)
{
    for (size_t i = 0; i < sizeof s_provider_ints / sizeof s_provider_ints[0]; i++) {
        if (strcmp(k, s_provider_ints[i].key) != 0)
            continue;
        char *end = NULL;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno || end == v || *end || n < s_provider_ints[i].min || n > s_provider_ints[i].max) {
            s_error("providers[%zu].%s must be an integer in %lld..%lld, not '%s'", index, k,
                    (long long)s_provider_ints[i].min, (long long)s_provider_ints[i].max, v);
            return TG_INVALID;
        }
        char *at = (char *)p + s_provider_ints[i].off;
        if (s_provider_ints[i].is_int)
            *(int *)at = (int)n;
        else
            *(int64_t *)at = (int64_t)n;
        return TG_OK;
    }
    return TG_NOTFOUND;
}

static void
s_pair_put(s_pair_t **pairs, size_t *n, const char *name, const char *target)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*pairs)[i].name, name) == 0) {
            free((*pairs)[i].target);
            (*pairs)[i].target = tg_strdup(target);
            return;
        }
    *pairs = tg_realloc(*pairs, (*n + 1) * sizeof(s_pair_t));
    (*pairs)[*n].name = tg_strdup(name);
    (*pairs)[*n].target = tg_strdup(target);
    (*n)++;
}

static tg_tier_t *
s_tier_find(tg_config_t *self, const char *name)
{
    for (size_t i = 0; i < self->ntiers; i++)
        if (strcmp(self->tiers[i].name, name) == 0)
            return &self->tiers[i];
    return NULL;
}

static tg_tier_t *
s_tier_add(tg_config_t *self, const char *name)
{
    self->tiers = tg_realloc(self->tiers, (self->ntiers + 1) * sizeof *self->tiers);
    tg_tier_t *t = &self->tiers[self->ntiers++];
    memset(t, 0, sizeof *t);
    t->name = tg_strdup(name);
    return t;
}

static int64_t *
s_tier_slot(tg_tier_t *t, int which)
{
    return which < 2 ? &t->per_minute[which] : &t->per_month[which - 2];
}

static const char *
s_scalar(yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static int
s_load_provider(tg_config_t *self, yaml_document_t *doc, yaml_node_t *node, size_t index)
{
    if (node->type != YAML_MAPPING_NODE) {
        s_error("providers[%zu] must be a mapping", index);
        return TG_INVALID;
    }
    const char *name = NULL;
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top;
         pr++) {
        const char *k = s_scalar(yaml_document_get_node(doc, pr->key));
        if (k && strcmp(k, "name") == 0)
            name = s_scalar(yaml_document_get_node(doc, pr->value));
    }
    if (!name || !*name) {
        s_error("providers[%zu].name is required", index);
        return TG_INVALID;
    }
    tg_provider_t *p = s_provider_add(self, name);
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top;
         pr++) {
        const char *k = s_scalar(yaml_document_get_node(doc, pr->key));
        yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
        const char *v = s_scalar(vn);
        if (!k) {
            s_error("providers[%zu]: keys must be scalars", index);
            return TG_INVALID;
        }
        if (strcmp(k, "name") == 0)
            continue;
        if (strcmp(k, "models") == 0) {
            if (!vn || vn->type != YAML_SEQUENCE_NODE) {
                s_error("providers[%zu].models must be a list", index);
                return TG_INVALID;
            }
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top; it++) {
                const char *m = s_scalar(yaml_document_get_node(doc, *it));
                if (!m || !*m) {
                    s_error("providers[%zu].models must hold model names", index);
                    return TG_INVALID;
                }
                p->models = tg_realloc(p->models, (p->nmodels + 1) * sizeof(char *));
                p->models[p->nmodels++] = tg_strdup(m);
            }
            continue;
        }
        if (!v) {
            s_error("providers[%zu].%s must be a scalar", index, k);
            return TG_INVALID;
        }
        if (strcmp(k, "kind") == 0) {
            if (strcmp(v, "openai") == 0)
                p->kind = TG_PROVIDER_OPENAI;
            else if (strcmp(v, "anthropic") == 0)
                p->kind = TG_PROVIDER_ANTHROPIC;
            else {
                s_error("providers[%zu].kind must be openai or anthropic, not '%s'", index, v);
                return TG_INVALID;
            }
        } else if (strcmp(k, "base_url") == 0) {
            free(p->base_url);
            p->base_url = tg_strdup(v);
        } else if (strcmp(k, "api_key_env") == 0) {
            free(p->api_key_env);
            p->api_key_env = tg_strdup(v);
        } else if (strcmp(k, "breaker") == 0) {
            free(p->breaker);
            p->breaker = tg_strdup(v);
        } else if (strcmp(k, "api_key") == 0) {
            s_error("providers[%zu]: api keys come from the environment only; use api_key_env",
                    index);
            return TG_INVALID;
        } else if (strcmp(k, "gzip") == 0) {
            if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
                s_error("providers[%zu].gzip must be true or false, not '%s'", index, v);
                return TG_INVALID;
            }
            p->gzip = strcmp(v, "true") == 0;
        } else {
            int rc = s_provider_int(p, index, k, v);
            if (rc == TG_NOTFOUND)
                s_error("unknown key providers[%zu].%s", index, k);
            if (rc != TG_OK)
                return TG_INVALID;
        }
    }
    return TG_OK;
}

static int
s_load_pairs(yaml_document_t *doc,
             yaml_node_t *node,
             const char *section,
             s_pair_t **pairs,
             size_t *n,
             const char *inner_key)
{
    if (node->type != YAML_MAPPING_NODE) {
        s_error("%s must be a mapping", section);
        return TG_INVALID;
    }
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top;
         pr++) {
        const char *k = s_scalar(yaml_document_get_node(doc, pr->key));
        yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
        const char *v = NULL;
        if (inner_key && vn && vn->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *ip = vn->data.mapping.pairs.start;
                 ip < vn->data.mapping.pairs.top; ip++) {
                const char *ik = s_scalar(yaml_document_get_node(doc, ip->key));
                if (ik && strcmp(ik, inner_key) == 0)
                    v = s_scalar(yaml_document_get_node(doc, ip->value));
                else {
                    s_error("unknown key %s.%s.%s", section, k ? k : "?", ik ? ik : "?");
                    return TG_INVALID;
                }
            }
        } else if (!inner_key)
            v = s_scalar(vn);
        if (!k || !v || !*v) {
            s_error("%s.%s must name a model%s%s", section, k ? k : "?", inner_key ? " in " : "",
                    inner_key ? inner_key : "");
            return TG_INVALID;
        }
        s_pair_put(pairs, n, k, v);
    }
    return TG_OK;
}

//  tiers: {<name>: {requests_per_minute: n, ...}}: a built-in tier's values replace its
//  defaults; a new name starts with no limits.
static int
s_load_tiers(tg_config_t *self, yaml_document_t *doc, yaml_node_t *node)
{
    if (node->type != YAML_MAPPING_NODE) {
        s_error("tiers must be a mapping of tier names");
        return TG_INVALID;
    }
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top;
         pr++) {
        const char *name = s_scalar(yaml_document_get_node(doc, pr->key));
        yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
        size_t len = name ? strlen(name) : 0;
        bool ok = len > 0 && len <= 32;
        for (size_t i = 0; ok && i < len; i++)
            ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')
                 || name[i] == '-' || name[i] == '_';
        if (!ok) {
            s_error("tiers: '%s' is not a tier name (1 to 32 of a-z 0-9 - _)", name ? name : "?");
            return TG_INVALID;
        }
        if (!vn || vn->type != YAML_MAPPING_NODE) {
            s_error("tiers.%s must be a mapping of limits", name);
            return TG_INVALID;
        }
        tg_tier_t *t = s_tier_find(self, name);
        if (!t && self->ntiers >= TG_CONFIG_TIERS_MAX) {
            s_error("tiers: at most %d tiers", TG_CONFIG_TIERS_MAX);
            return TG_INVALID;
        }
        if (!t)
            t = s_tier_add(self, name);
        for (yaml_node_pair_t *ip = vn->data.mapping.pairs.start; ip < vn->data.mapping.pairs.top;
             ip++) {
            const char *k = s_scalar(yaml_document_get_node(doc, ip->key));
            const char *v = s_scalar(yaml_document_get_node(doc, ip->value));
            int which = -1;
            for (int w = 0; k && w < 4; w++)
                if (strcmp(k, s_tier_keys[w]) == 0)
                    which = w;
            if (which < 0) {
                s_error("unknown key tiers.%s.%s (requests_per_minute, tokens_per_minute, "
                        "requests_per_month, tokens_per_month)",
                        name, k ? k : "?");
                return TG_INVALID;
            }
            char *end = NULL;
            errno = 0;
            long long n = v ? strtoll(v, &end, 10) : -1;
            long long max = which < 2 ? 1000000000LL : 1000000000000LL;
            if (!v || errno || end == v || *end || n < 0 || n > max) {
                s_error("tiers.%s.%s must be an integer from 0 (no limit) to %lld, not '%s'", name,
                        k, max, v ? v : "?");
                return TG_INVALID;
            }
            *s_tier_slot(t, which) = n;
        }
    }
    return TG_OK;
}

//  A YAML sequence for a TG_KEY_LIST key: stored as its items joined by commas.
static int
s_load_list(tg_config_t *self, yaml_document_t *doc, yaml_node_t *node, const char *path)
{
    int idx = s_key_index(path);
    if (idx < 0 || !(s_keys[idx].flags & TG_KEY_LIST)) {
        s_error(idx < 0 ? "unknown key '%s'" : "'%s' must be a scalar", path);
        return TG_INVALID;
    }
    char *joined = tg_strdup("");
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        const char *v = s_scalar(yaml_document_get_node(doc, *it));
        if (!v || !*v || strchr(v, ',')) {
            s_error("%s must be a list of names", path);
            free(joined);
            return TG_INVALID;
        }
        char *next = tg_strfmt("%s%s%s", joined, *joined ? "," : "", v);
        free(joined);
        joined = next;
    }
    s_set(self, idx, joined);
    free(joined);
    return TG_OK;
}

//  pricing.models: model name -> {input, output, cached_input, cache_write} in USD per 1M.
static int
s_load_prices(tg_config_t *self, yaml_document_t *doc, yaml_node_t *node)
{
    static const char *const keys[4] = {"input", "output", "cached_input", "cache_write"};
    if (node->type != YAML_MAPPING_NODE) {
        s_error("pricing.models must be a mapping of model names to prices");
        return TG_INVALID;
    }
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top;
         pr++) {
        const char *name = s_scalar(yaml_document_get_node(doc, pr->key));
        yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
        if (!name || !*name || strlen(name) > 200) {
            s_error("pricing.models: keys must be model names (1 to 200 characters)");
            return TG_INVALID;
        }
        if (!vn || vn->type != YAML_MAPPING_NODE) {
            s_error("pricing.models.%s must be a mapping of prices (input, output, cached_input, "
                    "cache_write)",
                    name);
            return TG_INVALID;
        }
        double v[4] = {-1, -1, -1, -1};
        for (yaml_node_pair_t *ip = vn->data.mapping.pairs.start; ip < vn->data.mapping.pairs.top;
             ip++) {
            const char *k = s_scalar(yaml_document_get_node(doc, ip->key));
            const char *val = s_scalar(yaml_document_get_node(doc, ip->value));
            int which = -1;
            for (int w = 0; k && w < 4; w++)
                if (strcmp(k, keys[w]) == 0)
                    which = w;
            if (which < 0) {
                s_error("unknown key pricing.models.%s.%s (input, output, cached_input, "
                        "cache_write)",
                        name, k ? k : "?");
                return TG_INVALID;
            }
            char *end = NULL;
            errno = 0;
            double d = val ? strtod(val, &end) : -1;
            if (!val || errno || end == val || *end || !isfinite(d) || d < 0 || d > 1000000) {
                s_error("pricing.models.%s.%s must be a price in USD per 1M tokens (0 to "
                        "1000000), not '%s'",
                        name, k, val ? val : "?");
                return TG_INVALID;
            }
            v[which] = d;
        }
        self->prices = tg_realloc(self->prices, (self->nprices + 1) * sizeof *self->prices);
        self->prices[self->nprices++] = (tg_price_override_t){
            .name = tg_strdup(name),
            .input = v[0],
            .output = v[1],
            .cached_input = v[2],
            .cache_write = v[3],
        };
    }
    return TG_OK;
}

static int
s_load_mapping(tg_config_t *self, yaml_document_t *doc, yaml_node_t *node, const char *prefix)
{
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top;
         pr++) {
        const char *k = s_scalar(yaml_document_get_node(doc, pr->key));
        yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
        if (!k || !vn) {
            s_error("keys must be scalars");
            return TG_INVALID;
        }
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", k);
        int rc = TG_OK;
        if (!*prefix && strcmp(k, "providers") == 0) {
            if (vn->type != YAML_SEQUENCE_NODE) {
                s_error("providers must be a list");
                return TG_INVALID;
            }
            size_t i = 0;
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 rc == TG_OK && it < vn->data.sequence.items.top; it++, i++)
                rc = s_load_provider(self, doc, yaml_document_get_node(doc, *it), i);
        } else if (!*prefix && strcmp(k, "aliases") == 0)
            rc = s_load_pairs(doc, vn, "aliases", &self->aliases, &self->naliases, NULL);
        else if (!*prefix && strcmp(k, "models") == 0)
            rc = tg_config_routes_parse(doc, vn, &self->routes, &self->nroutes);
        else if (!*prefix && strcmp(k, "agents") == 0)
            rc = s_load_pairs(doc, vn, "agents", &self->agents, &self->nagents, "default_model");
        else if (!*prefix && strcmp(k, "tiers") == 0)
            rc = s_load_tiers(self, doc, vn);
        else if (strcmp(prefix, "pricing") == 0 && strcmp(k, "models") == 0)
            rc = s_load_prices(self, doc, vn);
        else if (vn->type == YAML_MAPPING_NODE)
            rc = s_load_mapping(self, doc, vn, path);
        else if (vn->type == YAML_SCALAR_NODE) {
            int idx = s_key_index(path);
            if (idx < 0) {
                s_error("unknown key '%s'", path);
                return TG_INVALID;
            }
            s_set(self, idx, (const char *)vn->data.scalar.value);
        } else if (vn->type == YAML_SEQUENCE_NODE) {
            rc = s_load_list(self, doc, vn, path);
        } else {
            s_error("'%s' must be a scalar", path);
            return TG_INVALID;
        }
        if (rc != TG_OK)
            return rc;
    }
    return TG_OK;
}

static int
s_load_yaml(tg_config_t *self, const char *text, size_t len, const char *origin)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        s_error("%s: %s at line %zu", origin, parser.problem ? parser.problem : "bad YAML",
                parser.problem_mark.line + 1);
        yaml_parser_delete(&parser);
        return TG_INVALID;
    }
    int rc = TG_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE)
        rc = s_load_mapping(self, &doc, root, "");
    else if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
        s_error("%s: the top level must be a mapping", origin);
        rc = TG_INVALID;
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

//  A tcp:// endpoint that other hosts can reach needs CURVE (curve.dir): refuse it without.
static int
s_check_endpoints(const tg_config_t *self)
{
    static const char *const names[] = {"router", "jobs",         "bus_in", "bus_out", "analytics",
                                        "alert",  "alert_stream", "ingest", "worker"};
    if (*tg_config_str(self, "curve.dir"))
        return TG_OK;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "endpoints.%s", names[i]);
        const char *ep = tg_config_str(self, key);
        char host[256];
        if (!tg_addr_is_tcp(ep))
            continue;
        if (!tg_addr_host(ep, host, sizeof host)) {
            s_error("%s=%s is not tcp://HOST:PORT", key, ep);
            return TG_INVALID;
        }
        if (!tg_addr_host_is_loopback(host)) {
            s_error("%s=%s is reachable from other hosts and curve.dir is not set: run "
                    "`tollgate certs` and set curve.dir (TOLLGATE_CURVE_DIR), or bind 127.0.0.1",
                    key, ep);
            return TG_INVALID;
        }
    }
    return TG_OK;
}

static int
s_check(tg_config_t *self)
{
    for (size_t i = 0; i < S_NKEYS; i++) {
        const s_key_t *k = &s_keys[i];
        const char *v = self->values[i];
        char *end = NULL;
        errno = 0;
        switch (k->type) {
        case K_STR:
            break;
        case K_INT: {
            long long n = strtoll(v, &end, 10);
            if (errno || end == v || *end || n < k->min || n > k->max) {
                s_error("%s must be an integer from %.0f to %.0f, not '%s'", k->key, k->min, k->max,
                        v);
                return TG_INVALID;
            }
            self->ints[i] = n;
            break;
        }
        case K_DBL: {
            double d = strtod(v, &end);
            if (errno || end == v || *end || !isfinite(d) || d < k->min || d > k->max) {
                s_error("%s must be a number from %g to %g, not '%s'", k->key, k->min, k->max, v);
                return TG_INVALID;
            }
            self->dbls[i] = d;
            break;
        }
        case K_BOOL:
            if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
                self->ints[i] = 1;
            else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")
                     || !strcmp(v, "0"))
                self->ints[i] = 0;
            else {
                s_error("%s must be true or false, not '%s'", k->key, v);
                return TG_INVALID;
            }
            break;
        }
    }
    const char *scope = tg_config_str(self, "cache.scope");
    if (strcmp(scope, "auto") && strcmp(scope, "key") && strcmp(scope, "agent")
        && strcmp(scope, "shared")) {
        s_error("cache.scope must be auto, key, agent or shared, not '%s'", scope);
        return TG_INVALID;
    }
    if (!s_tier_find(self, tg_config_str(self, "keys.default_tier"))) {
        s_error("keys.default_tier '%s' is not a tier (see tiers)",
                tg_config_str(self, "keys.default_tier"));
        return TG_INVALID;
    }
    if (s_check_endpoints(self) != TG_OK)
        return TG_INVALID;
    if (tg_config_dbl(self, "cache.low_water") >= tg_config_dbl(self, "cache.high_water")) {
        s_error("cache.low_water (%g) must be below cache.high_water (%g)",
                tg_config_dbl(self, "cache.low_water"), tg_config_dbl(self, "cache.high_water"));
        return TG_INVALID;
    }
    return TG_OK;
}

static const struct {
    const char *name;         //  built-in provider
    tg_provider_kind_t kind;  //  wire format
    const char *url;          //  default API root
    const char *key_env;      //  key variable
    const char *url_env;      //  base URL variable
} s_builtins[] = {
    {"openai", TG_PROVIDER_OPENAI, "https://api.openai.com/v1", "OPENAI_API_KEY",
     "OPENAI_BASE_URL"},
    {"anthropic", TG_PROVIDER_ANTHROPIC, "https://api.anthropic.com", "ANTHROPIC_API_KEY",
     "ANTHROPIC_BASE_URL"},
    {"openrouter", TG_PROVIDER_OPENAI, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
     "OPENROUTER_BASE_URL"},
};

static void
s_derive(tg_config_t *self)
{
    //  Endpoints left empty live in the run directory, as an absolute path so that every
    //  process agrees on them whatever its working directory.
    static const char *const names[] = {"router", "jobs",         "bus_in", "bus_out", "analytics",
                                        "alert",  "alert_stream", "ingest", "worker"};
    const char *run = self->values[s_key_index("run_dir")];
    char *run_abs;
    if (run[0] == '/')
        run_abs = tg_strdup(run);
    else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            snprintf(cwd, sizeof cwd, ".");
        run_abs = tg_strfmt("%s/%s", cwd, strncmp(run, "./", 2) == 0 ? run + 2 : run);
    }
    s_set(self, s_key_index("run_dir"), run_abs);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "endpoints.%s", names[i]);
        int idx = s_key_index(key);
        if (*self->values[idx])
            continue;
        char *ep;
        //  Processes that run as many instances get one inbox each.
        //  Host name and pid: containers sharing one run dir may all be pid 1.
        if (!strcmp(names[i], "ingest") || !strcmp(names[i], "worker")) {
            char host[64] = "";
            if (gethostname(host, sizeof host - 1) != 0 || !*host)
                snprintf(host, sizeof host, "local");
            for (char *c = host; *c; c++)
                if (*c == '/' || *c == ':')
                    *c = '_';
            ep = tg_strfmt("ipc://%s/%s-%s-%d.ipc", run_abs, names[i], host, (int)getpid());
        } else
            ep = tg_strfmt("ipc://%s/%s.ipc", run_abs, names[i]);
        s_set(self, idx, ep);
        free(ep);
    }
    free(run_abs);
    for (size_t i = 0; i < self->nproviders; i++) {
        tg_provider_t *p = &self->providers[i];
        for (size_t b = 0; b < sizeof s_builtins / sizeof s_builtins[0]; b++)
            if (!strcmp(p->name, s_builtins[b].name)) {
                const char *url = getenv(s_builtins[b].url_env);
                if (url && *url) {
                    free(p->base_url);
                    p->base_url = tg_strdup(url);
                }
            }
        if (p->base_url) {
            size_t n = strlen(p->base_url);
            while (n > 0 && p->base_url[n - 1] == '/')
                p->base_url[--n] = 0;
        }
        const char *key = p->api_key_env ? getenv(p->api_key_env) : NULL;
        p->api_key = key && *key ? tg_strdup(key) : NULL;
        //  A built-in needs its key; a configured server (vLLM, Ollama) may need none.
        p->enabled = p->base_url && *p->base_url && (p->api_key || !p->api_key_env);
    }
}

static tg_config_t *
s_new(void)
{
    tg_config_t *self = tg_zalloc(sizeof *self);
    for (size_t i = 0; i < S_NKEYS; i++)
        self->values[i] = tg_strdup(s_keys[i].def);
    for (size_t b = 0; b < sizeof s_builtins / sizeof s_builtins[0]; b++) {
        tg_provider_t *p = s_provider_add(self, s_builtins[b].name);
        p->kind = s_builtins[b].kind;
        p->base_url = tg_strdup(s_builtins[b].url);
        p->api_key_env = tg_strdup(s_builtins[b].key_env);
        p->builtin = true;
    }
    for (size_t t = 0; t < sizeof s_tier_defaults / sizeof s_tier_defaults[0]; t++) {
        tg_tier_t *tier = s_tier_add(self, s_tier_defaults[t].name);
        for (int w = 0; w < 4; w++)
            *s_tier_slot(tier, w) = s_tier_defaults[t].v[w];
    }
    return self;
}

static tg_config_t *
s_finish(tg_config_t *self)
{
    for (size_t i = 0; i < S_NKEYS; i++) {
        const char *v = s_keys[i].env ? getenv(s_keys[i].env) : NULL;
        if (v && *v)
            s_set(self, (int)i, v);
    }
    if (s_check(self) != TG_OK
        || tg_config_routes_check(self->providers, self->nproviders, self->routes, self->nroutes)
               != TG_OK) {
        tg_config_destroy(&self);
        return NULL;
    }
    s_derive(self);
    return self;
}

tg_config_t *
tg_config_load_string(const char *yaml)
{
    tg_config_t *self = s_new();
    if (yaml && s_load_yaml(self, yaml, strlen(yaml), "config") != TG_OK) {
        tg_config_destroy(&self);
        return NULL;
    }
    return s_finish(self);
}

tg_config_t *
tg_config_load(const char *path)
{
    if (!path) {
        const char *env = getenv("TOLLGATE_CONFIG");
        path = env && *env ? env : NULL;
    }
    tg_config_t *self = s_new();
    if (path) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            s_error("cannot open %s: %s", path, strerror(errno));
            tg_config_destroy(&self);
            return NULL;
        }
        tg_buf_t buf;
        tg_buf_init(&buf, 16u << 20);
        char chunk[4096];
        size_t n;
        int rc = TG_OK;
        while (rc == TG_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
            rc = tg_buf_append(&buf, chunk, n);
        fclose(f);
        if (rc != TG_OK)
            s_error("%s is larger than 16 MiB", path);
        else
            rc = s_load_yaml(self, buf.data ? buf.data : "", buf.len, path);
        tg_buf_fini(&buf);
        if (rc != TG_OK) {
            tg_config_destroy(&self);
            return NULL;
        }
    }
    return s_finish(self);
}

void
tg_config_destroy(tg_config_t **self_p)
{
    assert(self_p);
    tg_config_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < S_NKEYS; i++)
        free(self->values[i]);
    for (size_t i = 0; i < self->nproviders; i++) {
        tg_provider_t *p = &self->providers[i];
        free(p->name);
        free(p->base_url);
        free(p->api_key);
        free(p->api_key_env);
        for (size_t m = 0; m < p->nmodels; m++)
            free(p->models[m]);
        free(p->models);
        free(p->breaker);
    }
    free(self->providers);
    tg_config_routes_free(self->routes, self->nroutes);
    for (size_t i = 0; i < self->naliases; i++) {
        free(self->aliases[i].name);
        free(self->aliases[i].target);
    }
    free(self->aliases);
    for (size_t i = 0; i < self->nagents; i++) {
        free(self->agents[i].name);
        free(self->agents[i].target);
    }
    for (size_t i = 0; i < self->nprices; i++)
        free((char *)self->prices[i].name);
    free(self->prices);
    free(self->agents);
    for (size_t i = 0; i < self->ntiers; i++)
        free(self->tiers[i].name);
    free(self->tiers);
    free(self);
    *self_p = NULL;
}

const char *
tg_config_path_arg(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
            return argv[i + 1];
    return NULL;
}

static int
s_typed(const char *key, s_ktype_t type)
{
    int idx = s_key_index(key);
    assert(idx >= 0 && "undeclared config key");
    assert(s_keys[idx].type == type);
    (void)type;
    return idx;
}

const char *
tg_config_str(const tg_config_t *self, const char *key)
{
    return self->values[s_typed(key, K_STR)];
}

int64_t
tg_config_int(const tg_config_t *self, const char *key)
{
    return self->ints[s_typed(key, K_INT)];
}

double
tg_config_dbl(const tg_config_t *self, const char *key)
{
    return self->dbls[s_typed(key, K_DBL)];
}

bool
tg_config_bool(const tg_config_t *self, const char *key)
{
    return self->ints[s_typed(key, K_BOOL)] != 0;
}

size_t
tg_config_provider_count(const tg_config_t *self)
{
    return self->nproviders;
}

const tg_provider_t *
tg_config_provider(const tg_config_t *self, size_t index)
{
    return index < self->nproviders ? &self->providers[index] : NULL;
}

const tg_provider_t *
tg_config_provider_find(const tg_config_t *self, const char *name)
{
    for (size_t i = 0; i < self->nproviders; i++)
        if (!strcmp(self->providers[i].name, name))
            return &self->providers[i];
    return NULL;
}

static const char *
s_pair_get(const s_pair_t *pairs, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (!strcmp(pairs[i].name, name))
            return pairs[i].target;
    return NULL;
}

const char *
tg_config_alias(const tg_config_t *self, const char *name)
{
    return s_pair_get(self->aliases, self->naliases, name);
}

size_t
tg_config_alias_count(const tg_config_t *self)
{
    return self->naliases;
}

const char *
tg_config_alias_name(const tg_config_t *self, size_t index)
{
    return index < self->naliases ? self->aliases[index].name : NULL;
}

size_t
tg_config_route_count(const tg_config_t *self)
{
    return self->nroutes;
}

const tg_route_t *
tg_config_route(const tg_config_t *self, size_t index)
{
    return index < self->nroutes ? &self->routes[index] : NULL;
}

const tg_route_t *
tg_config_route_find(const tg_config_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->nroutes; i++)
        if (!strcmp(self->routes[i].name, name))
            return &self->routes[i];
    return NULL;
}

size_t
tg_config_tier_count(const tg_config_t *self)
{
    return self->ntiers;
}

const tg_tier_t *
tg_config_tier(const tg_config_t *self, size_t index)
{
    return index < self->ntiers ? &self->tiers[index] : NULL;
}

const char *
tg_config_agent_model(const tg_config_t *self, const char *agent)
{
    return s_pair_get(self->agents, self->nagents, agent);
}

static int
s_mkdirs(const char *path)
{
    char *copy = tg_strdup(path);
    int rc = TG_OK;
    for (char *p = copy + 1; rc == TG_OK; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
                s_error("cannot create directory %s: %s", copy, strerror(errno));
                rc = TG_ERR;
            }
            *p = saved;
            if (!saved)
                break;
        }
    }
    free(copy);
    return rc;
}

int
tg_config_ensure_dirs(const tg_config_t *self)
{
    if (s_mkdirs(tg_config_str(self, "run_dir")) != TG_OK)
        return TG_ERR;
    return s_mkdirs(tg_config_str(self, "data_dir"));
}

size_t
tg_config_price_count(const tg_config_t *self)
{
    return self->nprices;
}

const struct tg_price_override *
tg_config_price(const tg_config_t *self, size_t index)
{
    return index < self->nprices ? &self->prices[index] : NULL;
}
