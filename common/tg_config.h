//  tg_config.h - one YAML file for every process: defaults < file < environment.
//
//  Scalar keys are declared once in tg_config_keys.def (type, default, env, bounds); list
//  keys (`auto.simple` ...) are strings that YAML may give as a sequence (joined by commas);
//  the sections `providers`, `aliases`, `agents` and `tiers` are structured. An unknown key is an
//  error.
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_config tg_config_t;

typedef enum { TG_PROVIDER_OPENAI, TG_PROVIDER_ANTHROPIC } tg_provider_kind_t;

typedef struct {
    char *name;                     //  "openai", "anthropic", "openrouter", or a configured name
    tg_provider_kind_t kind;        //  wire format spoken
    char *base_url;                 //  API root, no trailing slash
    char *api_key;                  //  from the environment only; NULL when none (never logged)
    char *api_key_env;              //  name of the variable the key came from
    char **models;                  //  models this provider serves besides the pricing catalogue
    size_t nmodels;                 //  entries in models
    bool enabled;                   //  has what it needs to be called
    bool builtin;                   //  one of the three built-in providers
    bool gzip;                      //  accepts gzip request bodies (Content-Encoding: gzip)
    int max_retries;                //  retries per call; -1 = upstream.max_retries
    int64_t connect_timeout_ms;     //  0 = upstream.connect_timeout_ms
    int64_t first_byte_timeout_ms;  //  0 = upstream.first_byte_timeout_ms
    int64_t idle_timeout_ms;        //  0 = upstream.idle_timeout_ms
    int64_t total_timeout_ms;       //  0 = upstream.total_timeout_ms
    char *breaker;                  //  breaker profile (NULL: openai for "openai", else default)
    int breaker_failures;           //  failure_threshold: opens after this many (0 = no breaker)
    int breaker_successes;          //  success_threshold: half-open closes after this many
    int breaker_probes;             //  half_open_max_attempts: calls let through half-open
    int64_t breaker_timeout_ms;     //  open -> half-open after this long
    int64_t health_check_ms;        //  active health check period per target (0 = none)
} tg_provider_t;

//  One target of a declared model: a provider and the model name it is called with.
typedef struct {
    char *provider;  //  provider name (configured or built-in)
    char *model;     //  upstream model name
    int weight;      //  share under the weighted strategy (>= 1)
} tg_target_t;

//  A model declared under `models:`: its targets, how one is picked, where to fall back.
typedef struct {
    char *name;            //  the name clients ask for
    char *strategy;        //  round-robin | weighted | least-busy | lowest-latency | cheapest
    tg_target_t *targets;  //  at least one
    size_t ntargets;       //  entries in targets
    char **fallbacks;      //  models tried, in order, when every target of this one failed
    size_t nfallbacks;     //  entries in fallbacks
} tg_route_t;

#define TG_CONFIG_TIERS_MAX 16  //  tiers a config may define

//  A tier of virtual keys (spec K4): its limits per key, 0 = no limit.
typedef struct {
    char *name;             //  "free", "pro", "enterprise", or a configured name
    int64_t per_minute[2];  //  requests, tokens per minute
    int64_t per_month[2];   //  requests, tokens per calendar month (UTC)
} tg_tier_t;

//  Loads `path` (NULL: $TOLLGATE_CONFIG if set, else defaults only), applies environment
//  overrides, checks bounds and derives endpoints. NULL after printing the reason to stderr.
tg_config_t *tg_config_load(const char *path);
//  Loads from YAML text instead of a file (for tests). Same contract as tg_config_load.
tg_config_t *tg_config_load_string(const char *yaml);
//  Frees the config; *self_p = NULL. NULL-safe.
void tg_config_destroy(tg_config_t **self_p);
//  Finds `-c FILE` / `--config FILE` in argv; NULL when absent. Borrowed from argv.
const char *tg_config_path_arg(int argc, char **argv);

//  Creates run_dir and data_dir (mkdir -p, mode 0700). TG_ERR (printed) when it cannot.
int tg_config_ensure_dirs(const tg_config_t *self);

//  Typed getters; the key must be declared (asserted). Strings are valid for the config's life.
const char *tg_config_str(const tg_config_t *self, const char *key);
int64_t tg_config_int(const tg_config_t *self, const char *key);
double tg_config_dbl(const tg_config_t *self, const char *key);
bool tg_config_bool(const tg_config_t *self, const char *key);

//  Providers in config order (built-ins first). Borrowed for the config's life.
size_t tg_config_provider_count(const tg_config_t *self);
const tg_provider_t *tg_config_provider(const tg_config_t *self, size_t index);
//  The provider named `name`, or NULL.
const tg_provider_t *tg_config_provider_find(const tg_config_t *self, const char *name);
//  The target of alias `name`, or NULL.
const char *tg_config_alias(const tg_config_t *self, const char *name);
//  All aliases: count and the i-th name / target.
size_t tg_config_alias_count(const tg_config_t *self);
const char *tg_config_alias_name(const tg_config_t *self, size_t index);
//  Models declared under `models:`, in file order; NULL when index is past the end.
size_t tg_config_route_count(const tg_config_t *self);
const tg_route_t *tg_config_route(const tg_config_t *self, size_t index);
//  The declared model `name`, or NULL.
const tg_route_t *tg_config_route_find(const tg_config_t *self, const char *name);
//  Tiers: the built-in free, pro and enterprise (with the file's values), then the file's
//  own, in file order. Borrowed for the config's life.
size_t tg_config_tier_count(const tg_config_t *self);
const tg_tier_t *tg_config_tier(const tg_config_t *self, size_t index);
//  The default model of agent `agent`, or NULL.
const char *tg_config_agent_model(const tg_config_t *self, const char *agent);

//  Per-deployment prices (`pricing.models.<name>`: input, output, cached_input, cache_write in
//  USD per 1M tokens; a price not given is negative), in file order. Borrowed for the
//  config's life; tg_pricing_override applies one.
struct tg_price_override;
size_t tg_config_price_count(const tg_config_t *self);
const struct tg_price_override *tg_config_price(const tg_config_t *self, size_t index);

#endif
