//  router_resolve.c - model resolution rules (spec G4).
#include "router_resolve.h"
#include "tg_complexity.h"
#include "tg_util.h"

#include <stdlib.h>
#include <string.h>

#define S_MAX_ALIAS_DEPTH 8  //  alias chains longer than this are a config loop

static bool
s_starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

//  Models that name OpenAI by their family: gpt*, chatgpt*, o1/o3/o4*, text-embedding*.
static bool
s_is_openai_family(const char *m)
{
    if (s_starts(m, "gpt") || s_starts(m, "chatgpt") || s_starts(m, "text-embedding")
        || s_starts(m, "davinci") || s_starts(m, "babbage"))
        return true;
    return m[0] == 'o' && (m[1] == '1' || m[1] == '3' || m[1] == '4') && (m[2] == 0 || m[2] == '-');
}

//  OpenRouter's vendor prefix for a catalogue provider, or NULL when it has none.
static const char *
s_openrouter_vendor(const char *provider)
{
    static const char *const map[][2] = {
        {"google", "google"},         {"mistral", "mistralai"},   {"meta", "meta-llama"},
        {"cohere", "cohere"},         {"deepseek", "deepseek"},   {"xai", "x-ai"},
        {"openai", "openai"},         {"anthropic", "anthropic"}, {"qwen", "qwen"},
        {"moonshotai", "moonshotai"}, {"z-ai", "z-ai"},           {"minimax", "minimax"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i][0], provider) == 0)
            return map[i][1];
    return NULL;
}

static int
s_fail(router_route_t *out, int status, const char *param, char *msg)
{
    out->status = status;
    out->error = msg;
    out->param = param ? tg_strdup(param) : NULL;
    return status == 400 ? TG_INVALID : TG_NOTFOUND;
}

static int
s_choose(const tg_config_t *cfg,
         const char *asked,
         const char *provider,
         const char *model,
         router_route_t *out)
{
    const tg_provider_t *p = tg_config_provider_find(cfg, provider);
    if (!p || !p->enabled) {
        const char *hint = p && p->api_key_env ? p->api_key_env : NULL;
        return s_fail(out, 404, "model",
                      hint ? tg_strfmt("The model `%s` does not exist or you do not have access "
                                       "to it: provider %s is not configured (set %s)",
                                       asked, provider, hint)
                           : tg_strfmt("The model `%s` does not exist or you do not have access "
                                       "to it: provider %s is not configured",
                                       asked, provider));
    }
    if (!*model)
        return s_fail(out, 400, "model", tg_strfmt("The model `%s` names no model", asked));
    out->provider = tg_strdup(provider);
    out->model = tg_strdup(model);
    return TG_OK;
}

static const char s_nested[] = "";  //  cls of auto's candidates: they must not be auto

static int s_resolve_auto(const tg_config_t *cfg,
                          const tg_pricing_t *pricing,
                          const char *route,
                          const char *cls,
                          router_healthy_fn *healthy,
                          void *healthy_arg,
                          router_route_t *out);

int
router_resolve(const tg_config_t *cfg,
               const tg_pricing_t *pricing,
               const char *model,
               const char *agent,
               router_route_t *out)
{
    return router_resolve_cls(cfg, pricing, model, agent, "chat", NULL, out);
}

int
router_resolve_cls(const tg_config_t *cfg,
                   const tg_pricing_t *pricing,
                   const char *model,
                   const char *agent,
                   const char *route,
                   const char *cls,
                   router_route_t *out)
{
    return router_resolve_healthy(cfg, pricing, model, agent, route, cls, NULL, NULL, out);
}

int
router_resolve_healthy(const tg_config_t *cfg,
                       const tg_pricing_t *pricing,
                       const char *model,
                       const char *agent,
                       const char *route,
                       const char *cls,
                       router_healthy_fn *healthy,
                       void *healthy_arg,
                       router_route_t *out)
{
    memset(out, 0, sizeof *out);
    if (!model || !*model)
        model = agent && *agent ? tg_config_agent_model(cfg, agent) : NULL;
    if (!model || !*model)
        return s_fail(out, 400, "model",
                      tg_strdup(agent && *agent
                                    ? "you must provide a model parameter (agent has no "
                                      "default model)"
                                    : "you must provide a model parameter"));
    const char *asked = model;
    for (int depth = 0;; depth++) {
        const char *target = tg_config_alias(cfg, model);
        if (!target)
            break;
        if (depth == S_MAX_ALIAS_DEPTH)
            return s_fail(out, 400, "model", tg_strfmt("alias `%s` loops", asked));
        model = target;
    }
    if (strcmp(model, "auto") == 0 && cls == s_nested)  //  a candidate of auto is auto
        return s_fail(out, 400, "model", tg_strdup("auto.* lists name `auto`"));
    if (strcmp(model, "auto") == 0)
        return s_resolve_auto(cfg, pricing, route, cls, healthy, healthy_arg, out);
    //  "<provider>/<model>": an explicit provider wins.
    const char *slash = strchr(model, '/');
    if (slash) {
        char *prefix = tg_strndup(model, (size_t)(slash - model));
        const tg_provider_t *p = tg_config_provider_find(cfg, prefix);
        int rc = p ? s_choose(cfg, asked, prefix, slash + 1, out) : TG_NOTFOUND;
        free(prefix);
        if (p)
            return rc;
    }
    if (s_starts(model, "claude"))
        return s_choose(cfg, asked, "anthropic", model, out);
    if (s_is_openai_family(model))
        return s_choose(cfg, asked, "openai", model, out);
    //  A model that a configured provider lists.
    for (size_t i = 0; i < tg_config_provider_count(cfg); i++) {
        const tg_provider_t *p = tg_config_provider(cfg, i);
        for (size_t m = 0; m < p->nmodels; m++)
            if (strcmp(p->models[m], model) == 0)
                return s_choose(cfg, asked, p->name, model, out);
    }
    //  A catalogue model of a built-in direct provider.
    const tg_price_t *price = pricing ? tg_pricing_find(pricing, model) : NULL;
    if (price && tg_config_provider_find(cfg, price->provider))
        return s_choose(cfg, asked, price->provider, model, out);
    //  OpenRouter names models "<vendor>/<model>": give a bare catalogue name its vendor.
    const char *vendor = price ? s_openrouter_vendor(price->provider) : NULL;
    if (vendor && !slash) {
        char *full = tg_strfmt("%s/%s", vendor, model);
        int rc = s_choose(cfg, asked, "openrouter", full, out);
        free(full);
        return rc;
    }
    return s_choose(cfg, asked, "openrouter", model, out);
}

double
router_auto_price(const tg_pricing_t *pricing, const char *model)
{
    const tg_price_t *p = pricing ? tg_pricing_find(pricing, model) : NULL;
    if (!p && pricing)
        p = tg_pricing_default(pricing);
    return p ? 0.7 * p->input + 0.3 * p->output : 0;
}

//  The candidates of auto.<class>: the cheapest that resolves to an enabled provider (ties:
//  the first listed). A class with none falls to the next more capable class, then to the
//  less capable ones, so a call is never refused while some class can serve it.
static int
s_resolve_auto(const tg_config_t *cfg,
               const tg_pricing_t *pricing,
               const char *route,
               const char *cls,
               router_healthy_fn *healthy,
               void *healthy_arg,
               router_route_t *out)
{
    if (route && strcmp(route, "chat") != 0 && strcmp(route, "messages") != 0)
        return s_fail(out, 400, "model",
                      tg_strdup("The model `auto` is for chat completions only: name an "
                                "embedding model"));
    int asked = tg_complexity_parse(cls);
    if (asked < 0)
        asked = TG_COMPLEXITY_MEDIUM;
    static const int order[3][3] = {{0, 1, 2}, {1, 2, 0}, {2, 1, 0}};
    for (int k = 0; k < 3; k++) {
        tg_complexity_class_t c = (tg_complexity_class_t)order[asked][k];
        char key[32];
        snprintf(key, sizeof key, "auto.%s", tg_complexity_name(c));
        const char *list = tg_config_str(cfg, key);
        router_route_t best = {0};
        double best_price = 0;
        for (const char *at = list; *at;) {
            size_t skip = strspn(at, ", "), n = strcspn(at + skip, ", ");
            if (!n)
                break;
            char m[128];
            snprintf(m, sizeof m, "%.*s", (int)(n < sizeof m - 1 ? n : sizeof m - 1), at + skip);
            at += skip + n;
            router_route_t r = {0};
            if (router_resolve_cls(cfg, pricing, m, NULL, route, s_nested, &r) != TG_OK
                || (healthy && !healthy(healthy_arg, r.provider, r.model))) {
                router_route_fini(&r);
                continue;
            }
            double price = router_auto_price(pricing, m);
            if (!best.model || price < best_price) {
                router_route_fini(&best);
                best = r;
                best_price = price;
            } else
                router_route_fini(&r);
        }
        if (best.model) {
            *out = best;
            out->cls = tg_complexity_name(c);
            return TG_OK;
        }
    }
    if (healthy)  //  every candidate's breaker is open: pick as if not, the breaker answers
        return s_resolve_auto(cfg, pricing, route, cls, NULL, NULL, out);
    return s_fail(out, 404, "model",
                  tg_strdup("The model `auto` has no candidate served by an enabled provider: "
                            "check auto.simple, auto.medium and auto.complex in the config"));
}

void
router_route_fini(router_route_t *route)
{
    free(route->provider);
    free(route->model);
    free(route->error);
    free(route->param);
    memset(route, 0, sizeof *route);
}
