//  tg_pricing.h - model price catalogue (common/pricing.json): name normalization and costs.
#ifndef TG_PRICING_H
#define TG_PRICING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_pricing tg_pricing_t;

//  One model's list price. Prices are USD per 1M tokens.
typedef struct {
    const char *name;      //  canonical name from the file ("gpt-4o"); "default" for the default
    const char *provider;  //  "openai", "anthropic", "google", "mistral", "cohere", "meta", ...
    const char *kind;      //  "chat" or "embedding"
    double input;          //  uncached input tokens
    double output;         //  output tokens
    double cached_input;   //  cache-read input tokens (equals input when the file lists none)
    bool has_cached;       //  the file lists a cached_input price
    uint64_t context;      //  context window in tokens, 0 if the file does not say
    double cache_write;    //  cache-write input tokens, e.g. Anthropic's 5-minute cache writes
                           //  (equals input when the file lists none)
    bool has_cache_write;  //  the file lists a cache_write price
} tg_price_t;

//  Loads and validates a pricing file. Returns NULL on a missing or invalid file (or path NULL),
//  after logging the file name and what is wrong ("models[3].input must be a number >= 0").
tg_pricing_t *tg_pricing_load(const char *path);
//  The catalogue a process uses: the file `pricing.file` names (else tg_pricing_default_path),
//  with the config's per-deployment prices (`pricing.models`) applied. NULL (logged) if the
//  file is missing or invalid, or an override is refused.
struct tg_config;
tg_pricing_t *tg_pricing_load_config(const struct tg_config *cfg);
//  Frees the catalogue and sets *self_p to NULL. NULL-safe, idempotent.
void tg_pricing_destroy(tg_pricing_t **self_p);

//  The pricing file to use when the config names none: $TOLLGATE_PRICING_FILE if set (even if it
//  does not exist, so that a typo is reported), else the first existing of
//  <dir of /proc/self/exe>/../share/tollgate/pricing.json and TG_SOURCE_DIR/common/pricing.json;
//  NULL if none exists. Borrowed: valid until the next call from the same thread.
const char *tg_pricing_default_path(void);

//  Normalized form of a model name: lower case, provider prefix ("openai/", "us.anthropic.")
//  and ":tag" / "@version" removed, trailing date/version suffixes ("-2024-08-06", "-20240229",
//  "-0125", "-08-2024", "-latest") removed. Returns NULL for NULL. Caller frees.
char *tg_pricing_normalize(const char *model);

//  Price of a model: exact name or alias, then the normalized name, then the name without
//  "-preview", then the longest catalogue name that is a prefix of it at a '-' boundary
//  ("gpt-4o-mini-2024-07-18" -> gpt-4o-mini). NULL if unknown. Borrowed: valid for self's life.
const tg_price_t *tg_pricing_find(const tg_pricing_t *self, const char *model);
//  The price used for unknown models. Borrowed: valid for self's life.
const tg_price_t *tg_pricing_default(const tg_pricing_t *self);

//  Cost in USD, rounded half away from zero to 6 decimals. `in` counts all input tokens, of
//  which `cached_in` (clamped to `in`) are billed at cached_input. If in == 0 and out == 0,
//  `total` is split 70 % input / 30 % output. An unknown model (or NULL) is billed at the
//  default price and sets *unknown_p (which may be NULL) to true; otherwise to false.
double tg_pricing_cost(const tg_pricing_t *self,
                       const char *model,
                       uint64_t in,
                       uint64_t out,
                       uint64_t cached_in,
                       uint64_t total,
                       bool *unknown_p);

//  The same cost in exact integer micro-dollars (1e-6 USD), rounded half up once: what
//  accounting stores and sums (never a sum of floats). `in` counts all input tokens, of which
//  `cached_in` were read from the provider's prompt cache (billed at cached_input) and
//  `cache_write_in` were written to it (billed at cache_write); both are clamped to `in`. The
//  70/30 split of `total`, the default price and *unknown_p are as for tg_pricing_cost.
int64_t tg_pricing_cost_micro(const tg_pricing_t *self,
                              const char *model,
                              uint64_t in,
                              uint64_t out,
                              uint64_t cached_in,
                              uint64_t cache_write_in,
                              uint64_t total,
                              bool *unknown_p);

//  A per-deployment price (config `pricing.models.<name>`): USD per 1M tokens; a negative
//  value means "not given".
typedef struct tg_price_override {
    const char *name;     //  model name (normalized by the call)
    double input;         //  uncached input
    double output;        //  output
    double cached_input;  //  cache-read input
    double cache_write;   //  cache-write input
} tg_price_override_t;

//  Replaces the prices of the catalogue model `o->name` names (exactly, by alias or normalized)
//  with the ones given, or adds it as a new model (provider "custom"; input and output then
//  required). Call right after loading, before any lookup: pointers from find/at taken earlier
//  are invalid afterwards. TG_OK, or TG_INVALID (logged) on a bad name or price.
int tg_pricing_override(tg_pricing_t *self, const tg_price_override_t *o);

//  Number of models in the catalogue (aliases not counted).
size_t tg_pricing_count(const tg_pricing_t *self);
//  The i-th model in file order (i < count). Borrowed: valid for self's life.
const tg_price_t *tg_pricing_at(const tg_pricing_t *self, size_t i);

#endif
