//  test_cache_key.c - tg_cache_key: cache headers, cacheability, scopes, normalization, keys.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tg_cache_key.h"
#include "tg_util.h"

static tg_config_t *
s_cfg(const char *yaml)
{
    tg_config_t *cfg = tg_config_load_string(yaml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    return cfg;
}

//  The plan of a chat body under cfg, scope "key:master".
static tg_cache_plan_t
s_plan(tg_config_t *cfg, const char *route, const char *body)
{
    tg_cache_plan_t plan;
    const char *param = NULL;
    char *msg = NULL;
    CU_ASSERT_EQUAL(tg_cache_plan_headers(cfg, NULL, NULL, &plan, &param, &msg), TG_OK);
    json_t *doc = json_loads(body, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    tg_cache_plan_request(cfg, route, doc, tg_cache_model(cfg, doc, NULL), "key:master", &plan);
    json_decref(doc);
    return plan;
}

static void
test_headers(void)
{
    tg_config_t *cfg = s_cfg("cache:\n  ttl_s: 90\n  max_ttl_s: 600\n");
    tg_cache_plan_t p;
    const char *param = NULL;
    char *msg = NULL;
    CU_ASSERT_EQUAL(tg_cache_plan_headers(cfg, NULL, NULL, &p, &param, &msg), TG_OK);
    CU_ASSERT_EQUAL(p.mode, TG_CACHE_USE);
    CU_ASSERT_EQUAL(p.ttl_s, 90);
    CU_ASSERT_EQUAL(tg_cache_plan_headers(cfg, "no-store", "5", &p, &param, &msg), TG_OK);
    CU_ASSERT_EQUAL(p.mode, TG_CACHE_BYPASS);
    CU_ASSERT_EQUAL(p.ttl_s, 5);
    CU_ASSERT_EQUAL(tg_cache_plan_headers(cfg, "no-cache", "600", &p, &param, &msg), TG_OK);
    CU_ASSERT_EQUAL(p.mode, TG_CACHE_FRESH);
    static const char *const bad_ttl[] = {
        "0", "-1", "601", "1.5", "", "10s", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_ttl / sizeof bad_ttl[0]; i++) {
        msg = NULL;
        CU_ASSERT_EQUAL(tg_cache_plan_headers(cfg, NULL, bad_ttl[i], &p, &param, &msg), TG_INVALID);
        CU_ASSERT_STRING_EQUAL(param, "x-tollgate-cache-ttl");
        CU_ASSERT_PTR_NOT_NULL(msg);
        free(msg);
    }
    msg = NULL;
    CU_ASSERT_EQUAL(tg_cache_plan_headers(cfg, "no-thanks", NULL, &p, &param, &msg), TG_INVALID);
    CU_ASSERT_STRING_EQUAL(param, "x-tollgate-cache");
    free(msg);
    tg_config_destroy(&cfg);
}

static void
test_cacheable(void)
{
    tg_config_t *cfg = s_cfg(NULL);
    const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
    char *t0 = tg_strfmt("{\"model\":\"gpt-4o-mini\",\"temperature\":0,%s}", msgs);
    char *none = tg_strfmt("{\"model\":\"gpt-4o-mini\",%s}", msgs);
    char *t7 = tg_strfmt("{\"model\":\"gpt-4o-mini\",\"temperature\":0.7,%s}", msgs);
    tg_cache_plan_t p = s_plan(cfg, "chat", t0);
    CU_ASSERT_EQUAL(p.mode, TG_CACHE_USE);
    CU_ASSERT_EQUAL(strlen(p.hex), 32);
    CU_ASSERT_EQUAL(s_plan(cfg, "chat", none).mode, TG_CACHE_BYPASS);  //  OpenAI's default: 1
    CU_ASSERT_EQUAL(s_plan(cfg, "chat", t7).mode, TG_CACHE_BYPASS);
    CU_ASSERT_EQUAL(s_plan(cfg, "embeddings", "{\"model\":\"e\",\"input\":\"x\"}").mode,
                    TG_CACHE_USE);
    tg_config_destroy(&cfg);
    cfg = s_cfg("cache:\n  temperature: true\n");
    CU_ASSERT_EQUAL(s_plan(cfg, "chat", t7).mode, TG_CACHE_USE);
    //  A real too large for an integer stays a real (the fuzzer found the cast; no UB).
    CU_ASSERT_EQUAL(
        s_plan(cfg, "chat", "{\"model\":\"m\",\"temperature\":1e22,\"top_p\":-3e300}").mode,
        TG_CACHE_USE);
    tg_config_destroy(&cfg);
    cfg = s_cfg("cache:\n  enabled: false\n");
    CU_ASSERT_EQUAL(s_plan(cfg, "chat", t0).mode, TG_CACHE_BYPASS);
    CU_ASSERT_STRING_EQUAL(s_plan(cfg, "chat", t0).hex, "");
    tg_config_destroy(&cfg);
    free(t0);
    free(none);
    free(t7);
}

//  Same key for requests that ask the same thing; another key for anything that changes it.
static void
test_keys(void)
{
    tg_config_t *cfg = s_cfg("aliases:\n  fast: gpt-4o-mini\n");
    const char *base = "{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"messages\":[{\"role\":"
                       "\"user\",\"content\":\"hi\"}]}";
    tg_cache_plan_t a = s_plan(cfg, "chat", base);
    static const char *const same[] = {
        "{ \"messages\" : [ {\"content\":\"hi\", \"role\":\"user\"} ], \"temperature\": 0.0, "
        "\"model\": \"gpt-4o-mini\" }",
        "{\"model\":\"fast\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":"
        "\"hi\"}]}",
        "{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"stream\":true,\"stream_options\":{"
        "\"include_usage\":true},\"user\":\"u1\",\"metadata\":{\"a\":\"b\"},\"messages\":[{"
        "\"role\":\"user\",\"content\":\"hi\"}]}",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        CU_ASSERT_STRING_EQUAL(s_plan(cfg, "chat", same[i]).hex, a.hex);
    static const char *const other[] = {
        "{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"messages\":[{\"role\":\"user\","
        "\"content\":\"hi!\"}]}",
        "{\"model\":\"gpt-4o\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":"
        "\"hi\"}]}",
        "{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"max_tokens\":5,\"messages\":[{\"role\":"
        "\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"messages\":[{\"role\":\"system\","
        "\"content\":\"hi\"}]}",
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        CU_ASSERT_STRING_NOT_EQUAL(s_plan(cfg, "chat", other[i]).hex, a.hex);
    //  Another scope or route: another key.
    json_t *doc = json_loads(base, 0, NULL);
    tg_cache_plan_t p = {.mode = TG_CACHE_USE};
    tg_cache_plan_request(cfg, "chat", doc, "gpt-4o-mini", "agent:bot", &p);
    CU_ASSERT_STRING_NOT_EQUAL(p.hex, a.hex);
    p.mode = TG_CACHE_USE;
    tg_cache_plan_request(cfg, "embeddings", doc, "gpt-4o-mini", "key:master", &p);
    CU_ASSERT_STRING_NOT_EQUAL(p.hex, a.hex);
    //  The normalized prompt: sorted, compact, model resolved, members dropped.
    char *norm = tg_cache_normalize(doc, "gpt-4o-mini");
    CU_ASSERT_STRING_EQUAL(norm, "{\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}],"
                                 "\"model\":\"gpt-4o-mini\",\"temperature\":0}");
    free(norm);
    json_decref(doc);
    tg_config_destroy(&cfg);
}

static void
test_scope(void)
{
    char out[64];
    tg_config_t *cfg = s_cfg(NULL);
    tg_cache_scope(cfg, "master", NULL, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "key:master");
    tg_cache_scope(cfg, "master", "none", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "key:master");
    tg_cache_scope(cfg, "master", "bot", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "agent:bot");
    tg_config_destroy(&cfg);
    cfg = s_cfg("cache:\n  scope: shared\n");
    tg_cache_scope(cfg, "master", "bot", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "shared");
    tg_config_destroy(&cfg);
    cfg = s_cfg("cache:\n  scope: key\n");
    tg_cache_scope(cfg, "k1", "bot", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "key:k1");
    tg_config_destroy(&cfg);
    CU_ASSERT_PTR_NULL(tg_config_load_string("cache:\n  scope: everyone\n"));
    CU_ASSERT_PTR_NULL(tg_config_load_string("cache:\n  high_water: 0.5\n  low_water: 0.6\n"));
}

void
test_cache_key_register(void)
{
    CU_pSuite s = CU_add_suite("cache_key", NULL, NULL);
    CU_add_test(s, "cache headers", test_headers);
    CU_add_test(s, "what is cacheable", test_cacheable);
    CU_add_test(s, "same request, same key", test_keys);
    CU_add_test(s, "scopes", test_scope);
}
