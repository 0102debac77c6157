//  tg_pricing.c - model price catalogue: load and validate pricing.json, normalize, cost.
#include "tg_pricing.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tg_config.h"
#include "tg_log.h"
#include "tg_util.h"

#define TG_PRICING_NAME_MAX 256         //  model names this long or longer are unknown
#define TG_PRICING_FILE_MAX (4 << 20)   //  bytes; a larger pricing file is rejected
#define TG_PRICING_PRICE_MAX 1000000.0  //  USD per 1M tokens; sanity bound
#define TG_PRICING_CONTEXT_MAX (1ULL << 40)

__extension__ typedef unsigned __int128 s_u128;

//  A model as stored: the public view plus exact integer prices.
typedef struct {
    tg_price_t pub;     //  what callers see (strings owned by this struct)
    uint64_t input_u;   //  input price in 1e-6 USD per 1M tokens (= 1e-12 USD per token)
    uint64_t output_u;  //  output price, same unit
    uint64_t cached_u;  //  cached input price, same unit
    uint64_t cwrite_u;  //  cache-write input price, same unit
} s_model_t;

//  One lookup key (a normalized name or alias) and the model it names.
typedef struct {
    char *key;     //  lower-case name, owned
    size_t model;  //  index into models
} s_key_t;

struct tg_pricing {
    s_model_t *models;  //  file order
    size_t count;       //  entries in models
    s_model_t dflt;     //  price for unknown models
    s_key_t *keys;      //  names and aliases, sorted by key for bsearch
    size_t nkeys;       //  entries in keys
};

// --------------------------------------------------------------------------------------------
//  Normalization

//  Region and vendor prefixes of AWS Bedrock model ids ("us.anthropic.claude-...").
static const char *s_regions[] = {"us.", "eu.", "apac.", "global.", NULL};
static const char *s_vendors[] = {"anthropic.", "meta.", "mistral.",  "cohere.",
                                  "amazon.",    "ai21.", "deepseek.", "openai.",
                                  "google.",    "xai.",  NULL};

static size_t
s_prefix_of(const char *s, const char **list)
{
    for (int i = 0; list[i]; i++) {
        size_t n = strlen(list[i]);
        if (strncmp(s, list[i], n) == 0)
            return n;
    }
    return 0;
}

//  Writes the lightly normalized name into out (TG_PRICING_NAME_MAX bytes): trimmed, lower case,
//  without provider prefix and ":tag" / "@version". Returns its length, or -1 if too long/empty.
static int
s_light(const char *model, char *out)
{
    if (!model)
        return -1;
    while (isspace((unsigned char)*model))
        model++;
    size_t len = strlen(model);
    while (len && isspace((unsigned char)model[len - 1]))
        len--;
    const char *slash = memrchr(model, '/', len);
    if (slash) {
        len -= (size_t)(slash + 1 - model);
        model = slash + 1;
    }
    for (size_t i = 0; i < len; i++)
        if (model[i] == ':' || model[i] == '@') {
            len = i;
            break;
        }
    if (len == 0 || len >= TG_PRICING_NAME_MAX)
        return -1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)model[i]);
    out[len] = 0;
    size_t skip = s_prefix_of(out, s_regions);
    size_t vendor = s_prefix_of(out + skip, s_vendors);
    if (vendor && out[skip + vendor]) {
        skip += vendor;
        len -= skip;
        memmove(out, out + skip, len + 1);
    }
    return (int)len;
}

//  True if s[0..n) is n ASCII digits.
static bool
s_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

//  Length of a version suffix at the end of name[0..len), 0 if none. At least one character
//  must stay in front of it.
static size_t
s_version_suffix(const char *name, size_t len)
{
    //  "-YYYY-MM-DD"
    if (len > 11 && name[len - 11] == '-' && s_digits(name + len - 10, 4) && name[len - 6] == '-'
        && s_digits(name + len - 5, 2) && name[len - 3] == '-' && s_digits(name + len - 2, 2))
        return 11;
    //  "-YYYYMMDD"
    if (len > 9 && name[len - 9] == '-' && s_digits(name + len - 8, 8))
        return 9;
    //  "-MM-YYYY" (Cohere)
    if (len > 8 && name[len - 8] == '-' && s_digits(name + len - 7, 2) && name[len - 5] == '-'
        && s_digits(name + len - 4, 4))
        return 8;
    //  "-MMDD" / "-YYMM" (OpenAI snapshots, Mistral releases)
    if (len > 5 && name[len - 5] == '-' && s_digits(name + len - 4, 4))
        return 5;
    if (len > 7 && strcmp(name + len - 7, "-latest") == 0)
        return 7;
    return 0;
}

//  Strips version suffixes from name in place; returns the new length.
static size_t
s_strip_versions(char *name, size_t len)
{
    size_t n;
    while ((n = s_version_suffix(name, len)) > 0)
        len -= n;
    name[len] = 0;
    return len;
}

char *
tg_pricing_normalize(const char *model)
{
    if (!model)
        return NULL;
    char buf[TG_PRICING_NAME_MAX];
    int len = s_light(model, buf);
    if (len < 0) {
        //  Too long or empty: still return a lower-cased copy, but do not cut it.
        char *copy = tg_strdup(model);
        for (char *p = copy; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        return copy;
    }
    s_strip_versions(buf, (size_t)len);
    return tg_strdup(buf);
}

// --------------------------------------------------------------------------------------------
//  Lookup

static int
s_key_cmp(const void *a, const void *b)
{
    return strcmp(((const s_key_t *)a)->key, ((const s_key_t *)b)->key);
}

static const s_model_t *
s_exact(const tg_pricing_t *self, const char *name)
{
    s_key_t probe = {.key = (char *)name};
    const s_key_t *hit = bsearch(&probe, self->keys, self->nkeys, sizeof(s_key_t), s_key_cmp);
    return hit ? &self->models[hit->model] : NULL;
}

static const s_model_t *
s_find(const tg_pricing_t *self, const char *model)
{
    char name[TG_PRICING_NAME_MAX];
    int light = s_light(model, name);
    if (light < 0)
        return NULL;
    const s_model_t *m = s_exact(self, name);
    if (m)
        return m;
    size_t len = s_strip_versions(name, (size_t)light);
    if ((size_t)light != len && (m = s_exact(self, name)))
        return m;
    if (len > 8 && strcmp(name + len - 8, "-preview") == 0) {
        len -= 8;
        name[len] = 0;
        len = s_strip_versions(name, len);
        if ((m = s_exact(self, name)))
            return m;
    }
    //  Longest catalogue name that is a prefix at a '-' boundary.
    for (size_t i = len; i-- > 1;)
        if (name[i] == '-') {
            name[i] = 0;
            if ((m = s_exact(self, name)))
                return m;
        }
    return NULL;
}

const tg_price_t *
tg_pricing_find(const tg_pricing_t *self, const char *model)
{
    assert(self);
    const s_model_t *m = s_find(self, model);
    return m ? &m->pub : NULL;
}

const tg_price_t *
tg_pricing_default(const tg_pricing_t *self)
{
    assert(self);
    return &self->dflt.pub;
}

int64_t
tg_pricing_cost_micro(const tg_pricing_t *self,
                      const char *model,
                      uint64_t in,
                      uint64_t out,
                      uint64_t cached_in,
                      uint64_t cache_write_in,
                      uint64_t total,
                      bool *unknown_p)
{
    assert(self);
    const s_model_t *m = s_find(self, model);
    if (unknown_p)
        *unknown_p = m == NULL;
    if (!m)
        m = &self->dflt;
    //  Exact integer arithmetic in units of 1e-13 USD (a tenth of the price unit per token),
    //  so that the 70/30 split needs no rounding before the final one.
    s_u128 tenths;
    if (in == 0 && out == 0)
        tenths = (s_u128)total * (7 * (s_u128)m->input_u + 3 * (s_u128)m->output_u);
    else {
        uint64_t cached = cached_in < in ? cached_in : in;
        uint64_t cwrite = cache_write_in < in - cached ? cache_write_in : in - cached;
        tenths = 10
                 * ((s_u128)(in - cached - cwrite) * m->input_u + (s_u128)cached * m->cached_u
                    + (s_u128)cwrite * m->cwrite_u + (s_u128)out * m->output_u);
    }
    s_u128 micro_usd = (tenths + 5000000) / 10000000;  //  1e-6 USD = 1e7 units; half up
    return micro_usd > (s_u128)INT64_MAX ? INT64_MAX : (int64_t)micro_usd;
}

double
tg_pricing_cost(const tg_pricing_t *self,
                const char *model,
                uint64_t in,
                uint64_t out,
                uint64_t cached_in,
                uint64_t total,
                bool *unknown_p)
{
    return (double)tg_pricing_cost_micro(self, model, in, out, cached_in, 0, total, unknown_p)
           / 1e6;
}

//  Sets one price from an override (usd < 0: not given, nothing changes). False if invalid.
static bool
s_override_price(double usd, double *pub, uint64_t *units)
{
    if (usd < 0)
        return true;
    if (!isfinite(usd) || usd > TG_PRICING_PRICE_MAX)
        return false;
    *pub = usd;
    *units = (uint64_t)llround(usd * 1e6);
    return true;
}

int
tg_pricing_override(tg_pricing_t *self, const tg_price_override_t *o)
{
    assert(self && o);
    char key[TG_PRICING_NAME_MAX];
    if (!o->name || s_light(o->name, key) < 0) {
        tg_log_error("pricing override: \"%.80s\" is not a model name", o->name ? o->name : "");
        return TG_INVALID;
    }
    const double given[] = {o->input, o->output, o->cached_input, o->cache_write};
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
        if (isnan(given[i]) || given[i] > TG_PRICING_PRICE_MAX) {
            tg_log_error("pricing override %s: prices must be numbers from 0 to %.0f USD per 1M "
                         "tokens",
                         key, TG_PRICING_PRICE_MAX);
            return TG_INVALID;
        }
    s_model_t *m = (s_model_t *)s_exact(self, key);
    bool added = !m;
    if (added) {
        if (o->input < 0 || o->output < 0) {
            tg_log_error("pricing override %s: a model not in the catalogue needs input and "
                         "output prices",
                         key);
            return TG_INVALID;
        }
        self->models = tg_realloc(self->models, (self->count + 1) * sizeof(s_model_t));
        m = &self->models[self->count];
        memset(m, 0, sizeof *m);
        m->pub.name = tg_strdup(key);
        m->pub.provider = tg_strdup("custom");
        m->pub.kind = tg_strdup("chat");
        self->keys = tg_realloc(self->keys, (self->nkeys + 1) * sizeof(s_key_t));
        self->keys[self->nkeys].key = tg_strdup(key);
        self->keys[self->nkeys].model = self->count;
        self->nkeys++;
        self->count++;
        qsort(self->keys, self->nkeys, sizeof(s_key_t), s_key_cmp);
    }
    s_override_price(o->input, &m->pub.input, &m->input_u);
    s_override_price(o->output, &m->pub.output, &m->output_u);
    if (o->cached_input >= 0) {
        s_override_price(o->cached_input, &m->pub.cached_input, &m->cached_u);
        m->pub.has_cached = true;
    } else if (!m->pub.has_cached) {  //  follows the (new) input price
        m->pub.cached_input = m->pub.input;
        m->cached_u = m->input_u;
    }
    if (o->cache_write >= 0) {
        s_override_price(o->cache_write, &m->pub.cache_write, &m->cwrite_u);
        m->pub.has_cache_write = true;
    } else if (!m->pub.has_cache_write) {
        m->pub.cache_write = m->pub.input;
        m->cwrite_u = m->input_u;
    }
    tg_log_info("pricing override %s %s: input=%g output=%g cached_input=%g cache_write=%g",
                added ? "added" : "replaced", key, m->pub.input, m->pub.output, m->pub.cached_input,
                m->pub.cache_write);
    return TG_OK;
}

size_t
tg_pricing_count(const tg_pricing_t *self)
{
    assert(self);
    return self->count;
}

const tg_price_t *
tg_pricing_at(const tg_pricing_t *self, size_t i)
{
    assert(self);
    assert(i < self->count);
    return &self->models[i].pub;
}

// --------------------------------------------------------------------------------------------
//  Loading

//  Logs "pricing: <path>: <message>" and returns NULL.
static void *s_fail(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void *
s_fail(const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tg_log_error("pricing: %s: %s", path, msg);
    return NULL;
}

//  Reads a price member into *usd and *units. Returns 0, 1 if absent and optional, -1 (logged).
static int
s_price(const char *path,
        const char *where,
        json_t *obj,
        const char *key,
        bool required,
        double *usd,
        uint64_t *units)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (!required)
            return 1;
        s_fail(path, "%s.%s is missing", where, key);
        return -1;
    }
    double d = json_is_number(v) ? json_number_value(v) : -1;
    if (!json_is_number(v) || !isfinite(d) || d < 0 || d > TG_PRICING_PRICE_MAX) {
        s_fail(path, "%s.%s must be a number >= 0 and <= %.0f (USD per 1M tokens)", where, key,
               TG_PRICING_PRICE_MAX);
        return -1;
    }
    *usd = d;
    *units = (uint64_t)llround(d * 1e6);
    return 0;
}

//  Fills a model's prices from obj ("default" or "models[i]"). Returns 0 or -1 (logged).
static int
s_prices(const char *path, const char *where, json_t *obj, s_model_t *m)
{
    if (s_price(path, where, obj, "input", true, &m->pub.input, &m->input_u) < 0
        || s_price(path, where, obj, "output", true, &m->pub.output, &m->output_u) < 0)
        return -1;
    int rc = s_price(path, where, obj, "cached_input", false, &m->pub.cached_input, &m->cached_u);
    if (rc < 0)
        return -1;
    m->pub.has_cached = rc == 0;
    if (rc == 1) {
        m->pub.cached_input = m->pub.input;
        m->cached_u = m->input_u;
    }
    rc = s_price(path, where, obj, "cache_write", false, &m->pub.cache_write, &m->cwrite_u);
    if (rc < 0)
        return -1;
    m->pub.has_cache_write = rc == 0;
    if (rc == 1) {
        m->pub.cache_write = m->pub.input;
        m->cwrite_u = m->input_u;
    }
    return 0;
}

//  Returns the first member of obj whose key is not in allowed, or NULL.
static const char *
s_unknown_key(json_t *obj, const char **allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        (void)v;
        int i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i])
            return key;
    }
    return NULL;
}

//  A short identifier: 1-63 chars of [a-z0-9._-].
static bool
s_ident(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && !strchr("._-", s[i]))
            return false;
    return true;
}

//  Adds a lookup key for model i. Returns 0 or -1 (logged) on a bad or duplicate name.
static int
s_add_key(tg_pricing_t *self, const char *path, const char *where, const char *name, size_t i)
{
    char key[TG_PRICING_NAME_MAX];
    if (strlen(name) >= TG_PRICING_NAME_MAX || s_light(name, key) < 0 || strcmp(key, name) != 0) {
        s_fail(path,
               "%s \"%.80s\" must be a lower-case model name without provider prefix, "
               "':' or '@' (at most %d characters)",
               where, name, TG_PRICING_NAME_MAX - 1);
        return -1;
    }
    self->keys[self->nkeys].key = tg_strdup(key);
    self->keys[self->nkeys].model = i;
    self->nkeys++;
    return 0;
}

static int
s_load_model(tg_pricing_t *self, const char *path, json_t *obj, size_t i)
{
    static const char *allowed[] = {"name",    "provider",     "kind",        "input",
                                    "output",  "cached_input", "cache_write", "context",
                                    "aliases", "source",       NULL};
    char where[32];
    snprintf(where, sizeof where, "models[%zu]", i);
    if (!json_is_object(obj)) {
        s_fail(path, "%s must be an object", where);
        return -1;
    }
    const char *unknown = s_unknown_key(obj, allowed);
    if (unknown) {
        s_fail(path, "%s has unknown key \"%.64s\"", where, unknown);
        return -1;
    }
    s_model_t *m = &self->models[i];
    const char *name = json_string_value(json_object_get(obj, "name"));
    const char *provider = json_string_value(json_object_get(obj, "provider"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!name) {
        s_fail(path, "%s.name must be a string", where);
        return -1;
    }
    if (!provider || !s_ident(provider)) {
        s_fail(path, "%s.provider must be a lower-case identifier (\"openai\", \"meta\", ...)",
               where);
        return -1;
    }
    if (!kind || (strcmp(kind, "chat") != 0 && strcmp(kind, "embedding") != 0)) {
        s_fail(path, "%s.kind must be \"chat\" or \"embedding\"", where);
        return -1;
    }
    char field[80];
    snprintf(field, sizeof field, "%s.name", where);
    if (s_add_key(self, path, field, name, i) < 0)
        return -1;
    m->pub.name = tg_strdup(name);
    m->pub.provider = tg_strdup(provider);
    m->pub.kind = tg_strdup(kind);
    if (s_prices(path, where, obj, m) < 0)
        return -1;
    json_t *ctx = json_object_get(obj, "context");
    if (ctx) {
        json_int_t n = json_is_integer(ctx) ? json_integer_value(ctx) : 0;
        if (n <= 0 || (uint64_t)n > TG_PRICING_CONTEXT_MAX) {
            s_fail(path, "%s.context must be a positive integer (tokens)", where);
            return -1;
        }
        m->pub.context = (uint64_t)n;
    }
    json_t *aliases = json_object_get(obj, "aliases");
    if (aliases && !json_is_array(aliases)) {
        s_fail(path, "%s.aliases must be an array of names", where);
        return -1;
    }
    size_t a;
    json_t *alias;
    json_array_foreach(aliases, a, alias)
    {
        snprintf(field, sizeof field, "%s.aliases[%zu]", where, a);
        if (!json_is_string(alias)) {
            s_fail(path, "%s must be a string", field);
            return -1;
        }
        if (s_add_key(self, path, field, json_string_value(alias), i) < 0)
            return -1;
    }
    return 0;
}

//  Validates the document and fills self. Returns 0 or -1 (logged).
static int
s_load_doc(tg_pricing_t *self, const char *path, json_t *doc)
{
    static const char *allowed[] = {"version", "updated", "notes", "sources",
                                    "default", "models",  NULL};
    if (!json_is_object(doc)) {
        s_fail(path, "top level must be an object");
        return -1;
    }
    const char *unknown = s_unknown_key(doc, allowed);
    if (unknown) {
        s_fail(path, "unknown top-level key \"%.64s\"", unknown);
        return -1;
    }
    json_t *version = json_object_get(doc, "version");
    if (!json_is_integer(version) || json_integer_value(version) != 1) {
        s_fail(path, "version must be 1");
        return -1;
    }
    if (!json_is_string(json_object_get(doc, "updated"))) {
        s_fail(path, "updated must be a date string (\"YYYY-MM-DD\")");
        return -1;
    }
    json_t *dflt = json_object_get(doc, "default");
    if (!json_is_object(dflt)) {
        s_fail(path, "default must be an object with input and output prices");
        return -1;
    }
    static const char *dflt_allowed[] = {"input", "output", "cached_input", "cache_write", NULL};
    if ((unknown = s_unknown_key(dflt, dflt_allowed))) {
        s_fail(path, "default has unknown key \"%.64s\"", unknown);
        return -1;
    }
    self->dflt.pub.name = tg_strdup("default");
    self->dflt.pub.provider = tg_strdup("unknown");
    self->dflt.pub.kind = tg_strdup("chat");
    if (s_prices(path, "default", dflt, &self->dflt) < 0)
        return -1;
    json_t *models = json_object_get(doc, "models");
    if (!json_is_array(models) || json_array_size(models) == 0) {
        s_fail(path, "models must be a non-empty array");
        return -1;
    }
    size_t n = json_array_size(models), keys = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *aliases = json_object_get(json_array_get(models, i), "aliases");
        keys += 1 + (json_is_array(aliases) ? json_array_size(aliases) : 0);
    }
    self->models = tg_zalloc(n * sizeof(s_model_t));
    self->count = n;
    self->keys = tg_zalloc(keys * sizeof(s_key_t));
    for (size_t i = 0; i < n; i++)
        if (s_load_model(self, path, json_array_get(models, i), i) < 0)
            return -1;
    qsort(self->keys, self->nkeys, sizeof(s_key_t), s_key_cmp);
    for (size_t k = 1; k < self->nkeys; k++)
        if (strcmp(self->keys[k - 1].key, self->keys[k].key) == 0) {
            size_t a = self->keys[k - 1].model, b = self->keys[k].model;
            s_fail(path, "name or alias \"%s\" appears in models[%zu] and models[%zu]",
                   self->keys[k].key, a < b ? a : b, a < b ? b : a);
            return -1;
        }
    return 0;
}

tg_pricing_t *
tg_pricing_load(const char *path)
{
    if (!path)
        return s_fail("(none)", "no pricing file found; set pricing.file or "
                                "TOLLGATE_PRICING_FILE");
    struct stat st;
    if (stat(path, &st) != 0)
        return s_fail(path, "cannot read: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return s_fail(path, "not a regular file");
    if (st.st_size > TG_PRICING_FILE_MAX)
        return s_fail(path, "larger than %d bytes", TG_PRICING_FILE_MAX);
    json_error_t err;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        return s_fail(path, "invalid JSON at line %d column %d: %s", err.line, err.column,
                      err.text);
    tg_pricing_t *self = tg_zalloc(sizeof(tg_pricing_t));
    int rc = s_load_doc(self, path, doc);
    json_decref(doc);
    if (rc < 0)
        tg_pricing_destroy(&self);
    return self;
}

tg_pricing_t *
tg_pricing_load_config(const tg_config_t *cfg)
{
    const char *file = tg_config_str(cfg, "pricing.file");
    tg_pricing_t *self = tg_pricing_load(file && *file ? file : tg_pricing_default_path());
    for (size_t i = 0; self && i < tg_config_price_count(cfg); i++)
        if (tg_pricing_override(self, tg_config_price(cfg, i)) != TG_OK)
            tg_pricing_destroy(&self);
    return self;
}

static void
s_model_fini(s_model_t *m)
{
    free((char *)m->pub.name);
    free((char *)m->pub.provider);
    free((char *)m->pub.kind);
}

void
tg_pricing_destroy(tg_pricing_t **self_p)
{
    assert(self_p);
    tg_pricing_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nkeys; i++)
        free(self->keys[i].key);
    free(self->keys);
    for (size_t i = 0; i < self->count; i++)
        s_model_fini(&self->models[i]);
    free(self->models);
    s_model_fini(&self->dflt);
    free(self);
    *self_p = NULL;
}

// --------------------------------------------------------------------------------------------
//  Default location

const char *
tg_pricing_default_path(void)
{
    static _Thread_local char s_path[PATH_MAX + 64];
    const char *env = getenv("TOLLGATE_PRICING_FILE");
    if (env && *env) {
        snprintf(s_path, sizeof s_path, "%s", env);
        return s_path;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char candidate[PATH_MAX + 64];
            snprintf(candidate, sizeof candidate, "%s/../share/tollgate/pricing.json", exe);
            if (realpath(candidate, s_path) && access(s_path, R_OK) == 0)
                return s_path;
        }
    }
#ifdef TG_SOURCE_DIR
    snprintf(s_path, sizeof s_path, "%s", TG_SOURCE_DIR "/common/pricing.json");
    if (access(s_path, R_OK) == 0)
        return s_path;
#endif
    return NULL;
}
