//  test_config.c - tg_config: defaults, YAML, environment, bounds, unknown keys.
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "tg_config.h"

static void
test_defaults(void)
{
    unsetenv("TOLLGATE_HTTP_PORT");
    unsetenv("OPENAI_API_KEY");
    tg_config_t *cfg = tg_config_load_string(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(tg_config_int(cfg, "http.port"), 8080);
    CU_ASSERT_EQUAL(tg_config_int(cfg, "http.max_body_bytes"), 4194304);
    CU_ASSERT_PTR_NOT_NULL(strstr(tg_config_str(cfg, "endpoints.router"), "/run/router.ipc"));
    CU_ASSERT_EQUAL(strncmp(tg_config_str(cfg, "endpoints.router"), "ipc:///", 7), 0);
    const tg_provider_t *p = tg_config_provider_find(cfg, "openai");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_FALSE(p->enabled);
    CU_ASSERT_STRING_EQUAL(p->base_url, "https://api.openai.com/v1");
    tg_config_destroy(&cfg);
    CU_ASSERT_PTR_NULL(cfg);
}

static void
test_yaml_and_env(void)
{
    setenv("TOLLGATE_HTTP_PORT", "9999", 1);
    setenv("OPENAI_API_KEY", "sk-test", 1);
    setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1/", 1);
    setenv("TG_TEST_VLLM_KEY", "vk", 1);
    tg_config_t *cfg = tg_config_load_string("http:\n  port: 7000\n  max_body_bytes: 2048\n"
                                             "budget:\n  monthly_usd: 12.5\n"
                                             "aliases:\n  fast: gpt-4o-mini\n"
                                             "agents:\n  bot:\n    default_model: fast\n"
                                             "providers:\n"
                                             "  - name: vllm\n    kind: openai\n"
                                             "    base_url: http://127.0.0.1:8000/v1\n"
                                             "    models: [llama-3-8b]\n"
                                             "  - name: local\n    base_url: http://h/v1\n"
                                             "    api_key_env: TG_TEST_NOPE_KEY\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(tg_config_int(cfg, "http.port"), 9999);  //  env beats file
    CU_ASSERT_EQUAL(tg_config_int(cfg, "http.max_body_bytes"), 2048);
    CU_ASSERT_DOUBLE_EQUAL(tg_config_dbl(cfg, "budget.monthly_usd"), 12.5, 1e-9);
    CU_ASSERT_STRING_EQUAL(tg_config_alias(cfg, "fast"), "gpt-4o-mini");
    CU_ASSERT_PTR_NULL(tg_config_alias(cfg, "slow"));
    CU_ASSERT_STRING_EQUAL(tg_config_agent_model(cfg, "bot"), "fast");
    const tg_provider_t *o = tg_config_provider_find(cfg, "openai");
    CU_ASSERT_TRUE(o->enabled);
    CU_ASSERT_STRING_EQUAL(o->base_url, "http://127.0.0.1:1/v1");
    CU_ASSERT_STRING_EQUAL(o->api_key, "sk-test");
    const tg_provider_t *v = tg_config_provider_find(cfg, "vllm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_TRUE(v->enabled);  //  no key needed
    CU_ASSERT_EQUAL(v->nmodels, 1);
    CU_ASSERT_FALSE(tg_config_provider_find(cfg, "local")->enabled);  //  its key is missing
    tg_config_destroy(&cfg);
    unsetenv("TOLLGATE_HTTP_PORT");
    unsetenv("OPENAI_API_KEY");
    unsetenv("OPENAI_BASE_URL");
}

static void
test_rejects(void)
{
    CU_ASSERT_PTR_NULL(tg_config_load_string("http:\n  prot: 1\n"));              //  unknown key
    CU_ASSERT_PTR_NULL(tg_config_load_string("http:\n  port: 70000\n"));          //  bound
    CU_ASSERT_PTR_NULL(tg_config_load_string("http:\n  port: eighty\n"));         //  type
    CU_ASSERT_PTR_NULL(tg_config_load_string("http: [1, 2\n"));                   //  bad YAML
    CU_ASSERT_PTR_NULL(tg_config_load_string("- a\n- b\n"));                      //  not a mapping
    CU_ASSERT_PTR_NULL(tg_config_load_string("providers:\n  - kind: openai\n"));  //  no name
    CU_ASSERT_PTR_NULL(tg_config_load_string("providers:\n  - name: x\n    api_key: sk-inline\n"));
    CU_ASSERT_PTR_NULL(tg_config_load("/nonexistent/tollgate.yaml"));
    setenv("TOLLGATE_HTTP_PORT", "-1", 1);
    CU_ASSERT_PTR_NULL(tg_config_load_string(NULL));  //  env is checked too
    unsetenv("TOLLGATE_HTTP_PORT");
    char *argv[] = {"x", "-c", "f.yaml", NULL};
    CU_ASSERT_STRING_EQUAL(tg_config_path_arg(3, argv), "f.yaml");
    CU_ASSERT_PTR_NULL(tg_config_path_arg(1, argv));
}

static void
test_provider_policy(void)
{
    tg_config_t *c = tg_config_load_string("upstream:\n  gzip_min_bytes: 2048\n"
                                           "providers:\n"
                                           "  - name: local\n"
                                           "    kind: openai\n"
                                           "    base_url: http://127.0.0.1:8000/v1\n"
                                           "    gzip: true\n"
                                           "    max_retries: 0\n"
                                           "    connect_timeout_ms: 300\n"
                                           "    first_byte_timeout_ms: 700\n"
                                           "    idle_timeout_ms: 800\n"
                                           "    total_timeout_ms: 9000\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(tg_config_int(c, "upstream.gzip_min_bytes"), 2048);
    CU_ASSERT_EQUAL(tg_config_int(c, "upstream.deadline_ms"), 0);
    CU_ASSERT_EQUAL(tg_config_int(c, "upstream.retry_budget_percent"), 20);
    const tg_provider_t *p = tg_config_provider_find(c, "local");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_TRUE(p->gzip);
    CU_ASSERT_EQUAL(p->max_retries, 0);
    CU_ASSERT_EQUAL(p->connect_timeout_ms, 300);
    CU_ASSERT_EQUAL(p->first_byte_timeout_ms, 700);
    CU_ASSERT_EQUAL(p->idle_timeout_ms, 800);
    CU_ASSERT_EQUAL(p->total_timeout_ms, 9000);
    const tg_provider_t *o = tg_config_provider_find(c, "openai");  //  unset: the defaults
    CU_ASSERT_FALSE(o->gzip);
    CU_ASSERT_EQUAL(o->max_retries, -1);
    CU_ASSERT_EQUAL(o->first_byte_timeout_ms, 0);
    tg_config_destroy(&c);
    static const char *const bad[] = {
        "providers:\n  - name: x\n    gzip: maybe\n",
        "providers:\n  - name: x\n    max_retries: 11\n",
        "providers:\n  - name: x\n    max_retries: two\n",
        "providers:\n  - name: x\n    idle_timeout_ms: 50\n",
        "providers:\n  - name: x\n    total_timeout_ms: 10s\n",
        "upstream:\n  retry_budget_percent: -1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_PTR_NULL(tg_config_load_string(bad[i]));
}

//  `models:` (targets, strategy, fallbacks) and breaker profiles (spec P3, P4).
static void
test_models_and_breakers(void)
{
    tg_config_t *c = tg_config_load_string("providers:\n"
                                           "  - name: vllm\n"
                                           "    base_url: http://127.0.0.1:8000/v1\n"
                                           "    breaker: local\n"
                                           "  - name: mis\n"
                                           "    base_url: http://m/v1\n"
                                           "    breaker: mistral\n"
                                           "    breaker_timeout_ms: 5000\n"
                                           "  - name: az\n"
                                           "    base_url: http://a/v1\n"
                                           "    breaker: azure\n"
                                           "models:\n"
                                           "  chat:\n"
                                           "    strategy: weighted\n"
                                           "    targets:\n"
                                           "      - {provider: openai, model: gpt-4o, weight: 3}\n"
                                           "      - {provider: vllm}\n"
                                           "    fallbacks: [small, anthropic/claude-3-haiku]\n"
                                           "  small:\n"
                                           "    targets:\n"
                                           "      - provider: mis\n"
                                           "        model: mistral-small\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(tg_config_route_count(c), 2);
    const tg_route_t *r = tg_config_route_find(c, "chat");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(r->strategy, "weighted");
    CU_ASSERT_EQUAL(r->ntargets, 2);
    CU_ASSERT_STRING_EQUAL(r->targets[0].model, "gpt-4o");
    CU_ASSERT_EQUAL(r->targets[0].weight, 3);
    CU_ASSERT_STRING_EQUAL(r->targets[1].model, "chat");  //  default: the model's own name
    CU_ASSERT_EQUAL(r->targets[1].weight, 1);
    CU_ASSERT_EQUAL(r->nfallbacks, 2);
    CU_ASSERT_STRING_EQUAL(r->fallbacks[1], "anthropic/claude-3-haiku");
    CU_ASSERT_STRING_EQUAL(tg_config_route_find(c, "small")->strategy, "round-robin");
    CU_ASSERT_PTR_NULL(tg_config_route_find(c, "nope"));
    const tg_provider_t *p = tg_config_provider_find(c, "openai");  //  openai profile
    CU_ASSERT_EQUAL(p->breaker_failures, 5);
    CU_ASSERT_EQUAL(p->breaker_successes, 2);
    CU_ASSERT_EQUAL(p->breaker_timeout_ms, 30000);
    CU_ASSERT_EQUAL(p->breaker_probes, 3);
    p = tg_config_provider_find(c, "anthropic");  //  default profile
    CU_ASSERT_EQUAL(p->breaker_failures, 5);
    CU_ASSERT_EQUAL(tg_config_provider_find(c, "vllm")->breaker_failures, 0);  //  disabled
    p = tg_config_provider_find(c, "mis");
    CU_ASSERT_EQUAL(p->breaker_failures, 3);
    CU_ASSERT_EQUAL(p->breaker_successes, 2);
    CU_ASSERT_EQUAL(p->breaker_timeout_ms, 5000);  //  the override wins
    p = tg_config_provider_find(c, "az");
    CU_ASSERT_EQUAL(p->breaker_failures, 5);
    CU_ASSERT_EQUAL(p->breaker_successes, 3);
    CU_ASSERT_EQUAL(p->breaker_timeout_ms, 60000);
    tg_config_destroy(&c);
    //  Refused, each naming its key (the messages are checked by the integration test).
    const char *bad[] = {
        "models:\n  x:\n    strategy: fastest\n    targets:\n      - {provider: openai}\n",
        "models:\n  x:\n    targets: []\n",
        "models:\n  x:\n    strategy: weighted\n",
        "models:\n  x:\n    targets:\n      - {provider: nosuch}\n",
        "models:\n  x:\n    targets:\n      - {provider: openai, weight: 0}\n",
        "models:\n  x:\n    targets:\n      - {provider: openai, colour: red}\n",
        "models:\n  x:\n    targets:\n      - {provider: openai}\n    fallbacks: [x]\n",
        "models:\n  x:\n    targets:\n      - {provider: openai}\n    speed: 3\n",
        "models: [a, b]\n",
        "providers:\n  - name: v\n    base_url: http://h/v1\n    breaker: flaky\n",
        "providers:\n  - name: v\n    base_url: http://h/v1\n    breaker_failure_threshold: 0\n",
        "providers:\n  - name: v\n    base_url: http://h/v1\n"
        "    breaker_success_threshold: 4\n    breaker_half_open_max_attempts: 2\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_config_t *b = tg_config_load_string(bad[i]);
        CU_ASSERT_PTR_NULL(b);
        tg_config_destroy(&b);
    }
}

void
test_config_register(void)
{
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "yaml and env", test_yaml_and_env);
    CU_add_test(s, "rejects bad config", test_rejects);
    CU_add_test(s, "provider call policy", test_provider_policy);
    CU_add_test(s, "models and breaker profiles", test_models_and_breakers);
}
