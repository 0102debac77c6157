//  test_router.c - router_resolve: spec G4 rules.
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "router_resolve.h"
#include "tg_config.h"
#include "tg_pricing.h"
#include "tg_util.h"

static tg_config_t *s_cfg;
static tg_pricing_t *s_pricing;

static int
s_setup(void)
{
    setenv("OPENAI_API_KEY", "k", 1);
    setenv("ANTHROPIC_API_KEY", "k", 1);
    unsetenv("OPENROUTER_API_KEY");
    s_cfg = tg_config_load_string("aliases:\n  fast: openai/gpt-4o-mini\n  loop1: loop2\n"
                                  "  loop2: loop1\n"
                                  "agents:\n  support:\n    default_model: claude-haiku-4-5\n"
                                  "providers:\n  - name: vllm\n    kind: openai\n"
                                  "    base_url: http://127.0.0.1:8000/v1\n"
                                  "    models: [llama-3-8b]\n");
    s_pricing = tg_pricing_load(tg_pricing_default_path());
    unsetenv("OPENAI_API_KEY");
    unsetenv("ANTHROPIC_API_KEY");
    return s_cfg && s_pricing ? 0 : 1;
}

static int
s_teardown(void)
{
    tg_config_destroy(&s_cfg);
    tg_pricing_destroy(&s_pricing);
    return 0;
}

static void
s_expect(const char *model, const char *agent, int rc, const char *provider, const char *up)
{
    router_route_t r;
    int got = router_resolve(s_cfg, s_pricing, model, agent, &r);
    CU_ASSERT_EQUAL(got, rc);
    if (rc == 0 && got == 0) {
        CU_ASSERT_STRING_EQUAL(r.provider, provider);
        CU_ASSERT_STRING_EQUAL(r.model, up);
    }
    if (rc != 0)
        CU_ASSERT_PTR_NOT_NULL(r.error);
    router_route_fini(&r);
}

static void
test_prefix_rules(void)
{
    s_expect("gpt-4o", NULL, 0, "openai", "gpt-4o");
    s_expect("openai/gpt-4o", NULL, 0, "openai", "gpt-4o");
    s_expect("o3-mini", NULL, 0, "openai", "o3-mini");
    s_expect("text-embedding-3-small", NULL, 0, "openai", "text-embedding-3-small");
    s_expect("claude-3-5-haiku", NULL, 0, "anthropic", "claude-3-5-haiku");
    s_expect("anthropic/claude-sonnet-4-5", NULL, 0, "anthropic", "claude-sonnet-4-5");
    s_expect("vllm/llama-3-8b", NULL, 0, "vllm", "llama-3-8b");
    s_expect("llama-3-8b", NULL, 0, "vllm", "llama-3-8b");
}

static void
test_openrouter_fallback(void)
{
    router_route_t r;
    //  Anything else goes to OpenRouter, which is not configured here: 404 naming the model.
    CU_ASSERT_EQUAL(router_resolve(s_cfg, s_pricing, "mistralai/mistral-large", NULL, &r),
                    TG_NOTFOUND);
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.error, "mistralai/mistral-large"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.error, "OPENROUTER_API_KEY"));
    router_route_fini(&r);
}

static void
test_aliases_and_agents(void)
{
    s_expect("fast", NULL, 0, "openai", "gpt-4o-mini");
    s_expect(NULL, "support", 0, "anthropic", "claude-haiku-4-5");
    s_expect("", "support", 0, "anthropic", "claude-haiku-4-5");
    s_expect("gpt-4o", "support", 0, "openai", "gpt-4o");  //  explicit model wins
    s_expect(NULL, NULL, TG_INVALID, NULL, NULL);
    s_expect(NULL, "nobody", TG_INVALID, NULL, NULL);
    s_expect("loop1", NULL, TG_INVALID, NULL, NULL);
    s_expect("openai/", NULL, TG_INVALID, NULL, NULL);
}

static void
test_openrouter_vendor(void)
{
    setenv("OPENROUTER_API_KEY", "k", 1);
    tg_config_t *cfg = tg_config_load_string(NULL);
    unsetenv("OPENROUTER_API_KEY");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    router_route_t r;
    CU_ASSERT_EQUAL(router_resolve(cfg, s_pricing, "gemini-2.5-pro", NULL, &r), TG_OK);
    CU_ASSERT_STRING_EQUAL(r.provider, "openrouter");
    CU_ASSERT_STRING_EQUAL(r.model, "google/gemini-2.5-pro");
    router_route_fini(&r);
    CU_ASSERT_EQUAL(router_resolve(cfg, s_pricing, "mistral-large", NULL, &r), TG_OK);
    CU_ASSERT_STRING_EQUAL(r.model, "mistralai/mistral-large");
    router_route_fini(&r);
    //  Already vendor-qualified or unknown names pass unchanged.
    CU_ASSERT_EQUAL(router_resolve(cfg, s_pricing, "meta-llama/llama-3.1-8b-instruct", NULL, &r),
                    TG_OK);
    CU_ASSERT_STRING_EQUAL(r.model, "meta-llama/llama-3.1-8b-instruct");
    router_route_fini(&r);
    CU_ASSERT_EQUAL(router_resolve(cfg, s_pricing, "some-new-model", NULL, &r), TG_OK);
    CU_ASSERT_STRING_EQUAL(r.model, "some-new-model");
    router_route_fini(&r);
    tg_config_destroy(&cfg);
}

void
test_router_register(void)
{
    CU_pSuite s = CU_add_suite("router", s_setup, s_teardown);
    CU_add_test(s, "prefix rules", test_prefix_rules);
    CU_add_test(s, "openrouter fallback", test_openrouter_fallback);
    CU_add_test(s, "aliases and agents", test_aliases_and_agents);
    CU_add_test(s, "openrouter vendor prefix", test_openrouter_vendor);
}
