//  test_router_targets.c - call plans (strategy pick, other targets, fallbacks), breakers
//  fed by outcome lines, 503 when every target is open, and the provider view.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "router_targets.h"
#include "tg_util.h"

#define S 1000000  //  µs per second

static const char *s_yaml =
    "providers:\n"
    "  - name: pa\n    base_url: http://a/v1\n"
    "    breaker_failure_threshold: 2\n    breaker_success_threshold: 1\n"
    "    breaker_timeout_ms: 1000\n    breaker_half_open_max_attempts: 1\n"
    "  - name: pb\n    base_url: http://b/v1\n    breaker: local\n"
    "  - name: pk\n    base_url: http://k/v1\n    api_key_env: TG_NO_SUCH_KEY\n"
    "  - name: ph\n    base_url: http://h/v1\n    health_check_ms: 100\n"
    "models:\n"
    "  m:\n    strategy: round-robin\n    targets:\n"
    "      - {provider: pa, model: a1}\n      - {provider: pb, model: b1}\n"
    "    fallbacks: [f, pb/direct]\n"
    "  f:\n    targets:\n      - {provider: pa, model: fa}\n"
    "  solo:\n    targets:\n      - {provider: pa, model: s1}\n"
    "  nokey:\n    targets:\n      - {provider: pk, model: k1}\n"
    "  hm:\n    targets:\n      - {provider: ph, model: h1}\n";

typedef struct {
    int n;        //  transitions heard
    char to[16];  //  the last one's new state
} s_heard_t;

static void
s_notify(const char *provider,
         const char *model,
         const char *from,
         const char *to,
         uint64_t failures,
         int64_t retry_at_us,
         void *arg)
{
    (void)provider;
    (void)model;
    (void)from;
    (void)failures;
    (void)retry_at_us;
    s_heard_t *h = arg;
    h->n++;
    snprintf(h->to, sizeof h->to, "%s", to);
}

static int s_probes;  //  health checks asked for

static bool
s_probe(const char *provider, const char *model, void *arg)
{
    CU_ASSERT_STRING_EQUAL(provider, "ph");
    CU_ASSERT_STRING_EQUAL(model, "h1");
    s_probes++;
    return arg != NULL;  //  NULL arg: no worker had room
}

static void
test_health_checks(void)
{
    tg_config_t *cfg = tg_config_load_string(s_yaml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(tg_config_provider_find(cfg, "ph")->health_check_ms, 100);
    tg_metrics_t *metrics = tg_metrics_new();
    router_targets_t *rt = router_targets_new(cfg, NULL, metrics, NULL, NULL);
    int yes = 1;
    s_probes = 0;
    router_targets_tick(rt, S, s_probe, &yes);
    CU_ASSERT_EQUAL(s_probes, 1);
    router_targets_tick(rt, S + 50000, s_probe, &yes);  //  not due
    CU_ASSERT_EQUAL(s_probes, 1);
    router_targets_tick(rt, S + 100000, s_probe, NULL);  //  due, no worker: tried, not counted
    CU_ASSERT_EQUAL(s_probes, 2);
    router_targets_tick(rt, S + 200000, s_probe, &yes);
    CU_ASSERT_EQUAL(s_probes, 3);
    router_targets_tick(rt, S + 300000, NULL, NULL);  //  no sender: nothing
    CU_ASSERT_EQUAL(s_probes, 3);
    router_targets_destroy(&rt);
    tg_metrics_destroy(&metrics);
    tg_config_destroy(&cfg);
}

static void
test_plans_and_breakers(void)
{
    tg_config_t *cfg = tg_config_load_string(s_yaml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    tg_pricing_t *pricing = tg_pricing_load(tg_pricing_default_path());
    tg_metrics_t *metrics = tg_metrics_new();
    s_heard_t heard = {0};
    router_targets_t *rt = router_targets_new(cfg, pricing, metrics, s_notify, &heard);
    router_route_t r;
    char *alts = NULL;
    uint64_t ra = 0;
    //  First call: round-robin starts at a1; the rest follow in order, then the fallbacks.
    CU_ASSERT_EQUAL(router_targets_plan(rt, "m", NULL, "chat", NULL, S, &r, &alts, &ra), TG_OK);
    CU_ASSERT_STRING_EQUAL(r.provider, "pa");
    CU_ASSERT_STRING_EQUAL(r.model, "a1");
    CU_ASSERT_STRING_EQUAL(alts, "pb\tb1\npa\tfa\npb\tdirect\n");
    router_route_fini(&r);
    tg_freep(&alts);
    CU_ASSERT_EQUAL(router_targets_plan(rt, "m", NULL, "chat", NULL, S, &r, &alts, &ra), TG_OK);
    CU_ASSERT_STRING_EQUAL(r.model, "b1");
    CU_ASSERT_STRING_EQUAL(alts, "pa\ta1\npa\tfa\npb\tdirect\n");
    router_route_fini(&r);
    tg_freep(&alts);
    //  Two failures of pa/a1 open it: plans leave it out, and we heard it.
    router_targets_outcomes(rt, "pa\ta1\tf\t1000\t0\t1\npa\ta1\tf\t1000\t0\t0\nbad line\n", S);
    CU_ASSERT_EQUAL(heard.n, 1);
    CU_ASSERT_STRING_EQUAL(heard.to, "open");
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(router_targets_plan(rt, "m", NULL, "chat", NULL, S, &r, &alts, &ra), TG_OK);
        CU_ASSERT_STRING_NOT_EQUAL(r.model, "a1");
        CU_ASSERT_PTR_NULL(strstr(alts ? alts : "", "a1"));
        router_route_fini(&r);
        tg_freep(&alts);
    }
    //  A model whose only target is open: 503 with the seconds to half-open.
    router_targets_outcomes(rt, "pa\ts1\tf\t5\t0\t1\npa\ts1\tf\t5\t0\t1\n", S);
    CU_ASSERT_EQUAL(router_targets_plan(rt, "solo", NULL, "chat", NULL, S + 200000, &r, &alts, &ra),
                    TG_AGAIN);
    CU_ASSERT_EQUAL(r.status, 503);
    CU_ASSERT_EQUAL(ra, 1);
    CU_ASSERT_PTR_NULL(alts);
    router_route_fini(&r);
    //  After the timeout: half-open, one probe, the next call is refused until it reports.
    CU_ASSERT_EQUAL(router_targets_plan(rt, "solo", NULL, "chat", NULL, 2 * S, &r, &alts, &ra),
                    TG_OK);
    router_route_fini(&r);
    CU_ASSERT_EQUAL(router_targets_plan(rt, "solo", NULL, "chat", NULL, 2 * S, &r, &alts, &ra),
                    TG_AGAIN);
    router_route_fini(&r);
    router_targets_outcomes(rt, "pa\ts1\to\t5\t12\t1\t1000\t300\n", 2 * S);  //  gzipped
    CU_ASSERT_STRING_EQUAL(heard.to, "closed");
    CU_ASSERT_EQUAL(router_targets_plan(rt, "solo", NULL, "chat", NULL, 2 * S, &r, &alts, &ra),
                    TG_OK);
    router_route_fini(&r);
    //  A model with no enabled provider: 404; an undeclared name resolves as before.
    CU_ASSERT_EQUAL(router_targets_plan(rt, "nokey", NULL, "chat", NULL, S, &r, &alts, &ra),
                    TG_NOTFOUND);
    CU_ASSERT_EQUAL(r.status, 404);
    router_route_fini(&r);
    CU_ASSERT_EQUAL(router_targets_plan(rt, "pb/raw", NULL, "chat", NULL, S, &r, &alts, &ra),
                    TG_OK);
    CU_ASSERT_STRING_EQUAL(r.model, "raw");
    CU_ASSERT_PTR_NULL(alts);
    router_route_fini(&r);
    //  Made-up model names cannot grow the table forever: past its bound they still route.
    for (int i = 0; i < 1100; i++) {
        char name[32];
        snprintf(name, sizeof name, "pb/made-up-%d", i);
        CU_ASSERT_EQUAL(router_targets_plan(rt, name, NULL, "chat", NULL, S, &r, &alts, &ra),
                        TG_OK);
        CU_ASSERT_STRING_EQUAL(r.provider, "pb");
        router_route_fini(&r);
    }
    router_targets_outcomes(rt, "pb\tmade-up-1099\to\t5\t1\t1\n", S);  //  ignored
    //  The provider view.
    char *text = router_targets_json(rt, 2 * S);
    json_t *v = json_loads(text, 0, NULL);
    free(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "object")), "providers");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(v, "models")), 5);
    json_t *p, *t, *found = NULL;
    size_t i, k;
    json_array_foreach(json_object_get(v, "data"), i, p)
    {
        json_array_foreach(json_object_get(p, "targets"), k, t)
        {
            if (strcmp(json_string_value(json_object_get(t, "model")), "s1") == 0)
                found = t;
        }
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(found);
    json_t *st = json_object_get(found, "stats"), *br = json_object_get(found, "breaker");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(st, "failures")), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(st, "successes")), 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(st, "tokens")), 12);
    json_t *gz = json_object_get(found, "gzip");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(gz, "bytes_in")), 1000);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(gz, "bytes_out")), 300);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(br, "opens")), 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(br, "closes")), 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(br, "state")), "closed");
    json_decref(v);
    router_targets_destroy(&rt);
    CU_ASSERT_PTR_NULL(rt);
    tg_metrics_destroy(&metrics);
    tg_pricing_destroy(&pricing);
    tg_config_destroy(&cfg);
}

void
test_router_targets_register(void)
{
    CU_pSuite s = CU_add_suite("router_targets", NULL, NULL);
    CU_add_test(s, "plans, fallbacks, breakers, provider view", test_plans_and_breakers);
    CU_add_test(s, "active health checks", test_health_checks);
}
