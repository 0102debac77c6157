//  test_router.c - router_resolve: spec G4 rules, and model "auto" (G5).
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
    CU_ASSERT_EQUAL(router_resolve(cfg, s_pricing, "qwen3-coder", NULL, &r), TG_OK);
    CU_ASSERT_STRING_EQUAL(r.model, "qwen/qwen3-coder");
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

static void
s_auto(const tg_config_t *cfg, const char *cls, int rc, const char *provider, const char *up)
{
    router_route_t r;
    int got = router_resolve_cls(cfg, s_pricing, "auto", NULL, "chat", cls, &r);
    CU_ASSERT_EQUAL(got, rc);
    if (rc == 0 && got == 0) {
        CU_ASSERT_STRING_EQUAL(r.provider, provider);
        CU_ASSERT_STRING_EQUAL(r.model, up);
        CU_ASSERT_PTR_NOT_NULL(r.cls);
    }
    router_route_fini(&r);
}

static void
test_auto(void)
{
    //  Defaults, both direct providers enabled: the cheapest of each class.
    s_auto(s_cfg, "simple", 0, "openai", "gpt-4o-mini");
    s_auto(s_cfg, "medium", 0, "openai", "gpt-4.1-mini");
    s_auto(s_cfg, "complex", 0, "openai", "gpt-4.1");
    s_auto(s_cfg, NULL, 0, "openai", "gpt-4.1-mini");  //  no class: medium
    s_auto(s_cfg, "bogus", 0, "openai", "gpt-4.1-mini");
    CU_ASSERT(router_auto_price(s_pricing, "gpt-4o-mini")
              < router_auto_price(s_pricing, "claude-3-haiku-20240307"));
    //  Embeddings cannot be auto.
    router_route_t r;
    CU_ASSERT_EQUAL(router_resolve_cls(s_cfg, s_pricing, "auto", NULL, "embeddings", "simple", &r),
                    TG_INVALID);
    router_route_fini(&r);

    //  Only Anthropic enabled: its candidates; lists as YAML sequences; an alias to auto, an
    //  agent defaulting to auto; a class without a servable candidate uses the next one up.
    setenv("ANTHROPIC_API_KEY", "k", 1);
    unsetenv("OPENAI_API_KEY");
    tg_config_t *cfg = tg_config_load_string(
        "auto:\n  simple: [gpt-4o-mini, claude-3-haiku-20240307]\n"
        "  medium: [gpt-4o]\n  complex: [claude-3-opus-20240229, claude-3-5-sonnet-20241022]\n"
        "aliases:\n  cheap: auto\nagents:\n  bot:\n    default_model: auto\n");
    unsetenv("ANTHROPIC_API_KEY");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_STRING_EQUAL(tg_config_str(cfg, "auto.simple"),
                           "gpt-4o-mini,claude-3-haiku-20240307");
    s_auto(cfg, "simple", 0, "anthropic", "claude-3-haiku-20240307");
    s_auto(cfg, "complex", 0, "anthropic", "claude-3-5-sonnet-20241022");
    CU_ASSERT_EQUAL(router_resolve_cls(cfg, s_pricing, "auto", NULL, "chat", "medium", &r), TG_OK);
    CU_ASSERT_STRING_EQUAL(r.model, "claude-3-5-sonnet-20241022");  //  gpt-4o: no provider
    CU_ASSERT_STRING_EQUAL(r.cls, "complex");
    router_route_fini(&r);
    CU_ASSERT_EQUAL(router_resolve_cls(cfg, s_pricing, "cheap", NULL, "chat", "simple", &r), TG_OK);
    CU_ASSERT_STRING_EQUAL(r.model, "claude-3-haiku-20240307");
    router_route_fini(&r);
    CU_ASSERT_EQUAL(router_resolve_cls(cfg, s_pricing, NULL, "bot", "chat", "complex", &r), TG_OK);
    CU_ASSERT_STRING_EQUAL(r.model, "claude-3-5-sonnet-20241022");
    router_route_fini(&r);
    tg_config_destroy(&cfg);

    //  Nothing servable, or a list that names auto itself: 404, no loop.
    cfg = tg_config_load_string("auto:\n  simple: [auto]\n  medium: [gpt-4o]\n  complex: ''\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    s_auto(cfg, "simple", TG_NOTFOUND, NULL, NULL);
    tg_config_destroy(&cfg);
    //  A list where a scalar belongs, and a sequence for a scalar key, are refused.
    CU_ASSERT_PTR_NULL(tg_config_load_string("auto:\n  baseline_model: [a, b]\n"));
    CU_ASSERT_PTR_NULL(tg_config_load_string("auto:\n  simple: [a, {b: c}]\n"));
}

//  A breaker view where one target is open.
static bool
s_not(void *arg, const char *provider, const char *model)
{
    (void)provider;
    return strcmp(model, arg) != 0;
}

//  "auto" picks among healthy targets: the cheapest whose breaker lets calls go; when none
//  does, as if all did (the breaker then answers).
static void
test_auto_healthy(void)
{
    router_route_t r;
    CU_ASSERT_EQUAL(router_resolve_healthy(s_cfg, s_pricing, "auto", NULL, "chat", "simple", s_not,
                                           "gpt-4o-mini", &r),
                    TG_OK);
    CU_ASSERT_STRING_NOT_EQUAL(r.model, "gpt-4o-mini");
    CU_ASSERT_STRING_EQUAL(r.cls, "simple");
    router_route_fini(&r);
    CU_ASSERT_EQUAL(router_resolve_healthy(s_cfg, s_pricing, "auto", NULL, "chat", "simple", s_not,
                                           "no-such-model", &r),
                    TG_OK);
    CU_ASSERT_STRING_EQUAL(r.model, "gpt-4o-mini");
    router_route_fini(&r);
}

void
test_router_register(void)
{
    CU_pSuite s = CU_add_suite("router", s_setup, s_teardown);
    CU_add_test(s, "auto among healthy targets", test_auto_healthy);
    CU_add_test(s, "prefix rules", test_prefix_rules);
    CU_add_test(s, "openrouter fallback", test_openrouter_fallback);
    CU_add_test(s, "aliases and agents", test_aliases_and_agents);
    CU_add_test(s, "openrouter vendor prefix", test_openrouter_vendor);
    CU_add_test(s, "auto: cheapest of the class, fallbacks, aliases, agents", test_auto);
}
