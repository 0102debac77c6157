//  tg_config_routes.c - the `models:` section (targets, strategy, fallbacks) and the
//  circuit breaker profiles of providers (spec P3, P4).
#include "tg_config_routes.h"
#include "tg_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_strategies[] = {"round-robin", "weighted", "least-busy",
                                           "lowest-latency", "cheapest"};

//  Breaker profiles (spec P3): failure_threshold, success_threshold, timeout, probes.
static const struct {
    const char *name;    //  profile name in `breaker:`
    int failures;        //  failure_threshold (0 = breaker disabled)
    int successes;       //  success_threshold
    int64_t timeout_ms;  //  open -> half-open
    int probes;          //  half_open_max_attempts
} s_profiles[] = {
    {"default", 5, 2, 30000, 3}, {"openai", 5, 2, 30000, 3}, {"mistral", 3, 2, 20000, 3},
    {"azure", 5, 3, 60000, 3},   {"local", 0, 0, 0, 0},      {"off", 0, 0, 0, 0},
};

static int
s_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tollgate: config: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return TG_INVALID;
}

static void
s_set(char **field, const char *v)
{
    free(*field);
    *field = tg_strdup(v);
}

static const char *
s_scalar(yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

bool
tg_config_strategy_known(const char *name)
{
    for (size_t i = 0; i < sizeof s_strategies / sizeof s_strategies[0]; i++)
        if (strcmp(name, s_strategies[i]) == 0)
            return true;
    return false;
}

static int
s_target(yaml_document_t *doc, yaml_node_t *node, const char *model, size_t i, tg_target_t *t)
{
    t->weight = 1;
    if (!node || node->type != YAML_MAPPING_NODE)
        return s_error("models.%s.targets[%zu] must be a mapping (provider, model, weight)", model,
                       i);
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top;
         pr++) {
        const char *k = s_scalar(yaml_document_get_node(doc, pr->key));
        const char *v = s_scalar(yaml_document_get_node(doc, pr->value));
        if (!k || !v || !*v)
            return s_error("models.%s.targets[%zu]: keys and values must be scalars", model, i);
        if (strcmp(k, "provider") == 0)
            s_set(&t->provider, v);
        else if (strcmp(k, "model") == 0)
            s_set(&t->model, v);
        else if (strcmp(k, "weight") == 0) {
            char *end = NULL;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (errno || end == v || *end || n < 1 || n > 1000000)
                return s_error("models.%s.targets[%zu].weight must be an integer in 1..1000000, "
                               "not '%s'",
                               model, i, v);
            t->weight = (int)n;
        } else
            return s_error("unknown key models.%s.targets[%zu].%s", model, i, k);
    }
    if (!t->provider)
        return s_error("models.%s.targets[%zu].provider is required", model, i);
    if (!t->model)
        t->model = tg_strdup(model);
    return TG_OK;
}

static int
s_route(yaml_document_t *doc, yaml_node_t *node, tg_route_t *r)
{
    const char *name = r->name;
    if (!node || node->type != YAML_MAPPING_NODE)
        return s_error("models.%s must be a mapping (strategy, targets, fallbacks)", name);
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top;
         pr++) {
        const char *k = s_scalar(yaml_document_get_node(doc, pr->key));
        yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
        if (!k)
            return s_error("models.%s: keys must be scalars", name);
        if (strcmp(k, "strategy") == 0) {
            const char *v = s_scalar(vn);
            if (!v || !tg_config_strategy_known(v))
                return s_error("models.%s.strategy must be round-robin, weighted, least-busy, "
                               "lowest-latency or cheapest, not '%s'",
                               name, v ? v : "?");
            s_set(&r->strategy, v);
        } else if (strcmp(k, "targets") == 0) {
            if (!vn || vn->type != YAML_SEQUENCE_NODE)
                return s_error("models.%s.targets must be a list of targets", name);
            size_t n = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
            r->targets = tg_zalloc((n ? n : 1) * sizeof *r->targets);
            for (size_t i = 0; i < n; i++) {
                r->ntargets = i + 1;
                yaml_node_t *tn = yaml_document_get_node(doc, vn->data.sequence.items.start[i]);
                if (s_target(doc, tn, name, i, &r->targets[i]) != TG_OK)
                    return TG_INVALID;
            }
        } else if (strcmp(k, "fallbacks") == 0) {
            if (!vn || vn->type != YAML_SEQUENCE_NODE)
                return s_error("models.%s.fallbacks must be a list of model names", name);
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top; it++) {
                const char *m = s_scalar(yaml_document_get_node(doc, *it));
                if (!m || !*m)
                    return s_error("models.%s.fallbacks must hold model names", name);
                if (strcmp(m, name) == 0)
                    return s_error("models.%s.fallbacks names the model itself", name);
                r->fallbacks = tg_realloc(r->fallbacks, (r->nfallbacks + 1) * sizeof(char *));
                r->fallbacks[r->nfallbacks++] = tg_strdup(m);
            }
        } else
            return s_error("unknown key models.%s.%s", name, k);
    }
    if (!r->ntargets)
        return s_error("models.%s.targets is empty: list at least one target", name);
    if (!r->strategy)
        r->strategy = tg_strdup("round-robin");
    return TG_OK;
}

int
tg_config_routes_parse(yaml_document_t *doc, yaml_node_t *node, tg_route_t **routes_p, size_t *n_p)
{
    if (node->type != YAML_MAPPING_NODE)
        return s_error("models must be a mapping of model name to targets");
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top;
         pr++) {
        const char *k = s_scalar(yaml_document_get_node(doc, pr->key));
        if (!k || !*k)
            return s_error("models: names must be scalars");
        for (size_t i = 0; i < *n_p; i++)
            if (strcmp((*routes_p)[i].name, k) == 0)
                return s_error("models.%s is declared twice", k);
        *routes_p = tg_realloc(*routes_p, (*n_p + 1) * sizeof(tg_route_t));
        tg_route_t *r = &(*routes_p)[(*n_p)++];
        memset(r, 0, sizeof *r);
        r->name = tg_strdup(k);
        if (s_route(doc, yaml_document_get_node(doc, pr->value), r) != TG_OK)
            return TG_INVALID;
    }
    return TG_OK;
}

int
tg_config_routes_check(tg_provider_t *provs,
                       size_t nprovs,
                       const tg_route_t *routes,
                       size_t nroutes)
{
    for (size_t i = 0; i < nprovs; i++) {
        tg_provider_t *p = &provs[i];
        const char *prof = p->breaker                       ? p->breaker
                           : strcmp(p->name, "openai") == 0 ? "openai"
                                                            : "default";
        size_t k = 0, nprof = sizeof s_profiles / sizeof s_profiles[0];
        while (k < nprof && strcmp(s_profiles[k].name, prof) != 0)
            k++;
        if (k == nprof)
            return s_error("providers: %s.breaker must be default, openai, mistral, azure, local "
                           "or off, not '%s'",
                           p->name, prof);
        bool off = s_profiles[k].failures == 0;
        if (p->breaker_failures < 0)
            p->breaker_failures = s_profiles[k].failures;
        if (off)
            p->breaker_failures = 0;
        if (p->breaker_successes < 0)
            p->breaker_successes = s_profiles[k].successes;
        if (p->breaker_probes < 0)
            p->breaker_probes = s_profiles[k].probes;
        if (p->breaker_timeout_ms < 0)
            p->breaker_timeout_ms = s_profiles[k].timeout_ms;
        if (p->breaker_failures && p->breaker_probes < p->breaker_successes)
            return s_error("providers: %s.breaker_half_open_max_attempts (%d) must be at least "
                           "breaker_success_threshold (%d)",
                           p->name, p->breaker_probes, p->breaker_successes);
    }
    for (size_t r = 0; r < nroutes; r++)
        for (size_t t = 0; t < routes[r].ntargets; t++) {
            const char *name = routes[r].targets[t].provider;
            size_t i = 0;
            while (i < nprovs && strcmp(provs[i].name, name) != 0)
                i++;
            if (i == nprovs)
                return s_error("models.%s.targets[%zu].provider '%s' is not a provider (add it "
                               "under providers:)",
                               routes[r].name, t, name);
        }
    return TG_OK;
}

void
tg_config_routes_free(tg_route_t *routes, size_t n)
{
    for (size_t r = 0; r < n; r++) {
        free(routes[r].name);
        free(routes[r].strategy);
        for (size_t t = 0; t < routes[r].ntargets; t++) {
            free(routes[r].targets[t].provider);
            free(routes[r].targets[t].model);
        }
        free(routes[r].targets);
        for (size_t f = 0; f < routes[r].nfallbacks; f++)
            free(routes[r].fallbacks[f]);
        free(routes[r].fallbacks);
    }
    free(routes);
}
