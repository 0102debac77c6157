//  test_pricing.c - tg_pricing: catalogue file, normalization, lookups and costs.
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tg_config.h"
#include "tg_pricing.h"
#include "tg_util.h"

#define TG_PRICING_FILE TG_SOURCE_DIR "/common/pricing.json"

static tg_pricing_t *s_pricing;

static int
s_setup(void)
{
    s_pricing = tg_pricing_load(TG_PRICING_FILE);
    return s_pricing ? 0 : 1;
}

static int
s_teardown(void)
{
    tg_pricing_destroy(&s_pricing);
    return 0;
}

static void
test_catalogue(void)
{
    size_t n = tg_pricing_count(s_pricing);
    CU_ASSERT(n >= 45);
    const char *providers[] = {"openai", "anthropic", "google", "mistral", "cohere", "meta"};
    for (size_t p = 0; p < sizeof providers / sizeof providers[0]; p++) {
        int found = 0;
        for (size_t i = 0; i < n; i++)
            found += strcmp(tg_pricing_at(s_pricing, i)->provider, providers[p]) == 0;
        CU_ASSERT(found >= 3);
    }
    //  Every catalogue name resolves to itself; prices are sane.
    for (size_t i = 0; i < n; i++) {
        const tg_price_t *p = tg_pricing_at(s_pricing, i);
        CU_ASSERT_PTR_EQUAL(tg_pricing_find(s_pricing, p->name), p);
        CU_ASSERT(strcmp(p->kind, "chat") == 0 || strcmp(p->kind, "embedding") == 0);
        CU_ASSERT(p->input > 0);
        CU_ASSERT(strcmp(p->kind, "embedding") == 0 || p->output > 0);
        CU_ASSERT(p->cached_input <= p->input);
    }
    const char *required[] = {"gpt-4o",
                              "gpt-4o-mini",
                              "gpt-4.1",
                              "gpt-4.1-mini",
                              "gpt-4.1-nano",
                              "gpt-4-turbo",
                              "gpt-4",
                              "gpt-3.5-turbo",
                              "o1",
                              "o1-mini",
                              "o3",
                              "o3-mini",
                              "o4-mini",
                              "gpt-5",
                              "gpt-5-mini",
                              "gpt-5-nano",
                              "text-embedding-3-small",
                              "text-embedding-3-large",
                              "text-embedding-ada-002",
                              "claude-opus-4-1",
                              "claude-opus-4",
                              "claude-sonnet-4-5",
                              "claude-sonnet-4",
                              "claude-3-7-sonnet",
                              "claude-3-5-sonnet",
                              "claude-haiku-4-5",
                              "claude-3-5-haiku",
                              "claude-3-opus",
                              "claude-3-haiku",
                              "gemini-1.5-pro",
                              "gemini-1.5-flash",
                              "gemini-2.0-flash",
                              "gemini-2.5-pro",
                              "gemini-2.5-flash",
                              "mistral-large",
                              "mistral-medium",
                              "mistral-small",
                              "codestral",
                              "open-mistral-nemo",
                              "command-r",
                              "command-r-plus",
                              "embed-english-v3.0",
                              "llama-3.1-70b-instruct",
                              "llama-3.1-8b-instruct",
                              "deepseek-chat"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        const tg_price_t *p = tg_pricing_find(s_pricing, required[i]);
        CU_ASSERT_PTR_NOT_NULL(p);
        if (p)
            CU_ASSERT_STRING_EQUAL(p->name, required[i]);
    }
}

static void
s_expect_price(const char *model, double in, double out, double cached)
{
    const tg_price_t *p = tg_pricing_find(s_pricing, model);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_DOUBLE_EQUAL(p->input, in, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(p->output, out, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(p->cached_input, cached, 1e-12);
}

static void
test_list_prices(void)
{
    s_expect_price("gpt-4o", 2.50, 10.00, 1.25);
    s_expect_price("gpt-4o-mini", 0.15, 0.60, 0.075);
    s_expect_price("claude-opus-4-1", 15, 75, 1.50);
    s_expect_price("claude-sonnet-4-5", 3, 15, 0.30);
    s_expect_price("claude-haiku-4-5", 1, 5, 0.10);
    s_expect_price("claude-3-5-haiku", 0.80, 4, 0.08);
    s_expect_price("claude-3-opus", 15, 75, 1.50);
    s_expect_price("claude-3-haiku", 0.25, 1.25, 0.03);
    s_expect_price("text-embedding-3-small", 0.02, 0, 0.02);
    s_expect_price("text-embedding-3-large", 0.13, 0, 0.13);
    s_expect_price("text-embedding-ada-002", 0.10, 0, 0.10);
    const tg_price_t *p = tg_pricing_find(s_pricing, "gpt-4");
    CU_ASSERT_FALSE(p->has_cached);
    CU_ASSERT_TRUE(tg_pricing_find(s_pricing, "gpt-4o")->has_cached);
    CU_ASSERT_EQUAL(tg_pricing_find(s_pricing, "gpt-4o")->context, 128000);
    const tg_price_t *d = tg_pricing_default(s_pricing);
    CU_ASSERT_STRING_EQUAL(d->name, "default");
    CU_ASSERT_DOUBLE_EQUAL(d->input, 2.50, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(d->output, 10.00, 1e-12);
}

static void
s_expect_norm(const char *in, const char *want)
{
    char *got = tg_pricing_normalize(in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\nnormalize(%s) = %s, want %s\n", in, got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void
test_normalize(void)
{
    s_expect_norm("gpt-4o-2024-08-06", "gpt-4o");
    s_expect_norm("openai/GPT-4o-2024-08-06", "gpt-4o");
    s_expect_norm("gpt-4o-mini-2024-07-18", "gpt-4o-mini");
    s_expect_norm("claude-3-opus-20240229", "claude-3-opus");
    s_expect_norm("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5");
    s_expect_norm("claude-3-5-sonnet@20240620", "claude-3-5-sonnet");
    s_expect_norm("anthropic/claude-3.5-sonnet:beta", "claude-3.5-sonnet");
    s_expect_norm("gpt-3.5-turbo-0125", "gpt-3.5-turbo");
    s_expect_norm("gpt-4-1106", "gpt-4");
    s_expect_norm("mistral-large-latest", "mistral-large");
    s_expect_norm("mistralai/mistral-large-2411", "mistral-large");
    s_expect_norm("cohere/command-r-plus-08-2024", "command-r-plus");
    s_expect_norm("meta-llama/llama-3.1-70b-instruct", "llama-3.1-70b-instruct");
    s_expect_norm("google/gemini-2.5-pro", "gemini-2.5-pro");
    s_expect_norm("us.anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307-v1");
    s_expect_norm("  GPT-4O  ", "gpt-4o");
    //  "-preview" is kept by normalize: find drops it only if the rest is known.
    s_expect_norm("o1-preview", "o1-preview");
    //  Names that look like versions but are not.
    s_expect_norm("text-embedding-ada-002", "text-embedding-ada-002");
    s_expect_norm("embed-english-v3.0", "embed-english-v3.0");
    s_expect_norm("o3", "o3");
    CU_ASSERT_PTR_NULL(tg_pricing_normalize(NULL));
}

static void
s_expect_find(const char *model, const char *want)
{
    const tg_price_t *p = tg_pricing_find(s_pricing, model);
    if (!want) {
        if (p)
            fprintf(stderr, "\nfind(%s) = %s, want unknown\n", model ? model : "(null)", p->name);
        CU_ASSERT_PTR_NULL(p);
        return;
    }
    if (!p || strcmp(p->name, want) != 0)
        fprintf(stderr, "\nfind(%s) = %s, want %s\n", model, p ? p->name : "NULL", want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->name, want);
}

static void
test_find(void)
{
    s_expect_find("gpt-4o-2024-08-06", "gpt-4o");
    s_expect_find("gpt-4o-mini-2024-07-18", "gpt-4o-mini");
    s_expect_find("openai/gpt-4o-mini", "gpt-4o-mini");
    s_expect_find("claude-3-opus-20240229", "claude-3-opus");
    s_expect_find("claude-sonnet-4-5-20250929", "claude-sonnet-4-5");
    s_expect_find("claude-opus-4-1-20250805", "claude-opus-4-1");
    s_expect_find("claude-opus-4-20250514", "claude-opus-4");
    s_expect_find("claude-sonnet-4-0", "claude-sonnet-4");
    s_expect_find("claude-3-5-sonnet-latest", "claude-3-5-sonnet");
    s_expect_find("anthropic/claude-3.5-sonnet:beta", "claude-3-5-sonnet");
    s_expect_find("anthropic/claude-3.7-sonnet:thinking", "claude-3-7-sonnet");
    s_expect_find("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet");
    s_expect_find("us.anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku");
    s_expect_find("o1-preview", "o1");
    s_expect_find("o1-mini-2024-09-12", "o1-mini");
    s_expect_find("o3-mini-high", "o3-mini");
    s_expect_find("o3-pro", "o3-pro");
    s_expect_find("gpt-4-1106-preview", "gpt-4-turbo");
    s_expect_find("gpt-4-turbo-2024-04-09", "gpt-4-turbo");
    s_expect_find("gpt-4-0613", "gpt-4");
    s_expect_find("gpt-4o-2024-05-13", "gpt-4o-2024-05-13");
    s_expect_find("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini");
    s_expect_find("gpt-5-chat-latest", "gpt-5");
    s_expect_find("gpt-3.5-turbo-0125", "gpt-3.5-turbo");
    s_expect_find("google/gemini-2.5-flash-preview-05-20", "gemini-2.5-flash");
    s_expect_find("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite");
    s_expect_find("gemini-1.5-flash-8b-001", "gemini-1.5-flash-8b");
    s_expect_find("gemini-2.0-flash-001", "gemini-2.0-flash");
    s_expect_find("gemini-3-pro-preview", "gemini-3-pro");
    s_expect_find("mistralai/mistral-nemo", "open-mistral-nemo");
    s_expect_find("mistral-small-latest", "mistral-small");
    s_expect_find("codestral-2501", "codestral");
    s_expect_find("cohere/command-r7b-12-2024", "command-r7b");
    s_expect_find("command-r-plus-08-2024", "command-r-plus");
    s_expect_find("command-r-08-2024", "command-r");
    s_expect_find("meta-llama/llama-3.1-8b-instruct", "llama-3.1-8b-instruct");
    s_expect_find("deepseek/deepseek-chat", "deepseek-chat");
    s_expect_find("GPT-4O", "gpt-4o");
    s_expect_find("gpt-4oo", NULL);
    s_expect_find("my-local-model", NULL);
    s_expect_find("gpt", NULL);
    s_expect_find("", NULL);
    s_expect_find("openai/", NULL);
    s_expect_find(NULL, NULL);
    char long_name[600];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    memcpy(long_name, "gpt-4o-", 7);
    s_expect_find(long_name, NULL);
}

static void
test_cost(void)
{
    bool unknown = true;
    double c = tg_pricing_cost(s_pricing, "gpt-4o", 1000, 500, 0, 0, &unknown);
    CU_ASSERT_EQUAL(c, 0.0075);  //  exactly
    CU_ASSERT_FALSE(unknown);
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "openai/gpt-4o-2024-08-06", 1000, 500, 0, 0, NULL),
                    0.0075);
    //  Cached input: 600 at $2.50 + 400 at $1.25.
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "gpt-4o", 1000, 0, 400, 0, NULL), 0.002);
    //  2000 at $3 + 8000 at $0.30 + 1000 out at $15.
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "claude-sonnet-4-5", 10000, 1000, 8000, 0, NULL),
                    0.0234);
    //  Cached beyond input is clamped.
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "gpt-4o", 1000, 0, 5000, 0, NULL), 0.00125);
    //  No cached price listed: cached tokens at the input price.
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "gpt-4", 1000, 0, 500, 0, NULL), 0.03);
    //  70/30 split of total: 700 at $2.50 + 300 at $10.
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "gpt-4o", 0, 0, 0, 1000, NULL), 0.00475);
    //  total ignored when in/out are known.
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "gpt-4o", 1000, 500, 0, 99999, NULL), 0.0075);
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "gpt-4o", 0, 0, 0, 0, NULL), 0);
    //  Rounding to 6 decimals, half away from zero: 2.5e-6 -> 3e-6, 0.5e-6 -> 1e-6.
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "gpt-4o", 1, 0, 0, 0, NULL), 0.000003);
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "text-embedding-3-small", 25, 0, 0, 0, NULL),
                    0.000001);
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "text-embedding-3-small", 24, 0, 0, 0, NULL), 0);
    //  total=1: 0.7 * 2.5 + 0.3 * 10 = 4.75e-6 -> 5e-6.
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "gpt-4o", 0, 0, 0, 1, NULL), 0.000005);
    //  Large counts stay exact: 1e9 tokens of claude-3-opus output = $75,000.
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "claude-3-opus", 0, 1000000000, 0, 0, NULL),
                    75000.0);
    //  Absurd counts from outside do not overflow into nonsense: the micro-dollars saturate.
    CU_ASSERT_EQUAL(
        tg_pricing_cost_micro(s_pricing, "o1-pro", UINT64_MAX, UINT64_MAX, 0, 0, 0, NULL),
        INT64_MAX);
    CU_ASSERT_EQUAL(tg_pricing_cost(s_pricing, "o1-pro", UINT64_MAX, UINT64_MAX, 0, 0, NULL),
                    (double)INT64_MAX / 1e6);
}

static void
test_cost_micro(void)
{
    //  Exact integers: gpt-4o 1000 in + 500 out = 7500 micro-dollars.
    bool unknown = true;
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "gpt-4o", 1000, 500, 0, 0, 0, &unknown), 7500);
    CU_ASSERT_FALSE(unknown);
    //  Anthropic cache writes at the 5-minute write price, reads at the hit price:
    //  claude-sonnet-4-5 10000 in of which 6000 read ($0.30) and 3000 written ($3.75), 1000
    //  plain ($3), 500 out ($15): 1800 + 11250 + 3000 + 7500 = 23550 micro-dollars.
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "claude-sonnet-4-5-20250929", 10000, 500, 6000,
                                          3000, 0, NULL),
                    23550);
    const tg_price_t *p = tg_pricing_find(s_pricing, "claude-haiku-4-5");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_TRUE(p->has_cache_write);
    CU_ASSERT_EQUAL(p->cache_write, 1.25);
    //  Writes beyond what is left of the input after the reads are clamped.
    CU_ASSERT_EQUAL(
        tg_pricing_cost_micro(s_pricing, "claude-sonnet-4-5", 1000, 0, 600, 5000, 0, NULL),
        tg_pricing_cost_micro(s_pricing, "claude-sonnet-4-5", 1000, 0, 600, 400, 0, NULL));
    //  No cache-write price listed: written tokens at the input price.
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "gpt-4o", 1000, 0, 0, 1000, 0, NULL),
                    tg_pricing_cost_micro(s_pricing, "gpt-4o", 1000, 0, 0, 0, 0, NULL));
    //  70/30 when only the total is known: 7000 at $2.50 + 3000 at $10 = 47500.
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "gpt-4o", 0, 0, 0, 0, 10000, NULL), 47500);
    //  Sums of micro-dollars are exact where sums of floats are not: 10 calls of 0.1 cent.
    int64_t sum = 0;
    double fsum = 0;
    for (int i = 0; i < 10; i++) {
        int64_t c = tg_pricing_cost_micro(s_pricing, "gpt-4o", 400, 0, 0, 0, 0, NULL);
        sum += c;
        fsum += (double)c / 1e6;
    }
    CU_ASSERT_EQUAL(sum, 10000);
    CU_ASSERT_NOT_EQUAL(fsum, 0.01);  //  why money is never summed as floats
    //  Unknown model: default price, flagged.
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "acme-9", 1000, 500, 0, 0, 0, &unknown), 7500);
    CU_ASSERT_TRUE(unknown);
}

//  Prices from LiteLLM's table (source "litellm-prices"), through the names clients send.
static void
test_litellm_prices(void)
{
    bool unknown = true;
    //  Mistral: a versioned name normalizes to the current mistral-large (0.5 / 1.5 USD per 1M).
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "mistral/mistral-large-2512", 123456, 7890, 0,
                                          0, 0, &unknown),
                    61728 + 11835);
    CU_ASSERT_FALSE(unknown);
    //  ... but a catalogued older version keeps its own price (2 / 6).
    CU_ASSERT_EQUAL(
        tg_pricing_cost_micro(s_pricing, "mistral-large-2411", 1000, 1000, 0, 0, 0, NULL), 8000);
    //  mistral-small-3-2-2506 -> alias mistral-small-3-2 -> mistral-small (0.06 / 0.18).
    CU_ASSERT_EQUAL(
        tg_pricing_cost_micro(s_pricing, "mistral-small-3-2-2506", 1000000, 100000, 0, 0, 0, NULL),
        60000 + 18000);
    //  Cohere: command-r7b (0.0375 / 0.15).
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "cohere/command-r7b-12-2024", 40000, 2000, 0,
                                          0, 0, &unknown),
                    1500 + 300);
    CU_ASSERT_FALSE(unknown);
    //  OpenRouter: llama-3-70b-instruct (0.59 / 0.79), with and without the provider prefix.
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "openrouter/meta-llama/llama-3-70b-instruct",
                                          10000, 1000, 0, 0, 0, &unknown),
                    5900 + 790);
    CU_ASSERT_FALSE(unknown);
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "meta-llama/llama-3-70b-instruct", 10000, 1000,
                                          0, 0, 0, NULL),
                    5900 + 790);
    //  deepseek-chat-v3.1 with cache hits (0.2 / 0.8, cached 0.02): not the direct deepseek-chat.
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "deepseek/deepseek-chat-v3.1", 100000, 5000,
                                          60000, 0, 0, NULL),
                    8000 + 1200 + 4000);
    //  A dated OpenRouter name listed as such keeps its own price (0.071 / 0.1).
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(s_pricing, "qwen/qwen3-235b-a22b-2507", 1000000, 10000, 0,
                                          0, 0, NULL),
                    71000 + 1000);
    CU_ASSERT_STRING_EQUAL(tg_pricing_find(s_pricing, "deepseek/deepseek-r1-0528")->name,
                           "deepseek-r1-0528");
    CU_ASSERT_STRING_EQUAL(tg_pricing_find(s_pricing, "qwen/qwen3-coder")->provider, "qwen");
}

static void
test_override(void)
{
    tg_config_t *cfg = tg_config_load_string("pricing:\n"
                                             "  models:\n"
                                             "    gpt-4o:\n"
                                             "      input: 2.0\n"
                                             "      output: 8\n"
                                             "    acme/house-model-7b:\n"
                                             "      input: 0.5\n"
                                             "      output: 1.5\n"
                                             "      cached_input: 0.05\n"
                                             "      cache_write: 0.625\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(tg_config_price_count(cfg), 2);
    tg_pricing_t *p = tg_pricing_load_config(cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    bool unknown = true;
    //  Replaced: the versioned name follows; the cached price stays the catalogue's.
    CU_ASSERT_EQUAL(tg_pricing_cost_micro(p, "gpt-4o-2024-08-06", 1000, 1000, 500, 0, 0, &unknown),
                    500 * 2 + 500 * 1.25 + 1000 * 8);
    CU_ASSERT_FALSE(unknown);
    //  Added, under its name without the provider prefix; no longer unknown.
    const tg_price_t *h = tg_pricing_find(p, "house-model-7b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_STRING_EQUAL(h->provider, "custom");
    CU_ASSERT_EQUAL(
        tg_pricing_cost_micro(p, "acme/house-model-7b", 2000, 1000, 1000, 1000, 0, &unknown),
        50 + 625 + 1500);
    CU_ASSERT_FALSE(unknown);
    CU_ASSERT_EQUAL(tg_pricing_count(p), tg_pricing_count(s_pricing) + 1);
    tg_pricing_destroy(&p);
    tg_config_destroy(&cfg);
    //  Bad overrides: refused with a clear error at config load, or at apply.
    const char *bad[] = {
        "pricing:\n  models:\n    gpt-4o:\n      input: cheap\n",
        "pricing:\n  models:\n    gpt-4o:\n      input: -1\n",
        "pricing:\n  models:\n    gpt-4o:\n      price: 1\n",
        "pricing:\n  models:\n    gpt-4o: 1\n",
        "pricing:\n  models: [gpt-4o]\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_config_t *c = tg_config_load_string(bad[i]);
        if (c)
            fprintf(stderr, "\naccepted bad pricing config %zu\n", i);
        CU_ASSERT_PTR_NULL(c);
        tg_config_destroy(&c);
    }
    //  A new model needs input and output.
    cfg = tg_config_load_string("pricing:\n  models:\n    brand-new:\n      input: 1\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_PTR_NULL(tg_pricing_load_config(cfg));
    tg_config_destroy(&cfg);
}

static void
test_unknown_model(void)
{
    bool unknown = false;
    double c = tg_pricing_cost(s_pricing, "acme-llm-9000", 1000, 500, 0, 0, &unknown);
    CU_ASSERT_TRUE(unknown);
    CU_ASSERT(c > 0);
    CU_ASSERT_EQUAL(c, 0.0075);  //  default is gpt-4o-like
    unknown = false;
    CU_ASSERT(tg_pricing_cost(s_pricing, NULL, 0, 0, 0, 100, &unknown) > 0);
    CU_ASSERT_TRUE(unknown);
}

//  Writes text to a temp file; returns its path (caller frees and unlinks).
static char *
s_temp_file(const char *text)
{
    char *path = tg_strdup("/tmp/tg_pricing_XXXXXX");
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

//  Loads text as a pricing file with stderr captured; returns the catalogue, *log_p the log.
static tg_pricing_t *
s_load_text(const char *text, char **log_p)
{
    char *path = s_temp_file(text);
    char *log_path = s_temp_file("");
    fflush(stderr);
    int saved = dup(2);
    FILE *log = fopen(log_path, "w");
    dup2(fileno(log), 2);
    tg_pricing_t *p = tg_pricing_load(path);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(log);
    log = fopen(log_path, "r");
    char buf[2048] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, log);
    buf[n] = 0;
    fclose(log);
    *log_p = tg_strdup(buf);
    unlink(path);
    unlink(log_path);
    free(path);
    free(log_path);
    return p;
}

static void
s_expect_rejected(const char *text, const char *message)
{
    char *log;
    tg_pricing_t *p = s_load_text(text, &log);
    CU_ASSERT_PTR_NULL(p);
    if (!strstr(log, message))
        fprintf(stderr, "\nlog \"%s\" lacks \"%s\"\n", log, message);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, message));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "/tmp/tg_pricing_"));  //  names the file
    tg_pricing_destroy(&p);
    free(log);
}

#define S_HEAD \
    "{\"version\":1,\"updated\":\"2026-11-25\",\"default\":{\"input\":2.5,\"output\":10},"
#define S_M0 "{\"name\":\"a\",\"provider\":\"openai\",\"kind\":\"chat\",\"input\":1,\"output\":2}"

static void
test_broken_files(void)
{
    char *log;
    tg_pricing_t *p = s_load_text(S_HEAD "\"models\":[" S_M0 "]}", &log);
    CU_ASSERT_PTR_NOT_NULL(p);
    CU_ASSERT_EQUAL(tg_pricing_count(p), 1);
    tg_pricing_destroy(&p);
    CU_ASSERT_PTR_NULL(p);
    free(log);

    s_expect_rejected("{\"version\":1,", "invalid JSON at line");
    s_expect_rejected(S_HEAD "\"models\":[" S_M0 ",{\"name\":\"b\",\"provider\":\"openai\","
                             "\"kind\":\"chat\",\"input\":-1,\"output\":2}]}",
                      "models[1].input must be a number >= 0");
    s_expect_rejected(S_HEAD "\"models\":[{\"name\":\"b\",\"provider\":\"openai\","
                             "\"kind\":\"chat\",\"input\":\"1\",\"output\":2}]}",
                      "models[0].input must be a number >= 0");
    s_expect_rejected(S_HEAD "\"models\":[{\"name\":\"b\",\"provider\":\"openai\","
                             "\"kind\":\"chat\",\"input\":1}]}",
                      "models[0].output is missing");
    s_expect_rejected(S_HEAD "\"models\":[{\"name\":\"b\",\"provider\":\"openai\","
                             "\"kind\":\"chat\",\"input\":1,\"ouput\":2}]}",
                      "models[0] has unknown key \"ouput\"");
    s_expect_rejected(S_HEAD "\"models\":[" S_M0 "," S_M0 "]}",
                      "\"a\" appears in models[0] and models[1]");
    s_expect_rejected(S_HEAD "\"models\":[{\"name\":\"b\",\"provider\":\"openai\","
                             "\"kind\":\"image\",\"input\":1,\"output\":2}]}",
                      "models[0].kind must be");
    s_expect_rejected(S_HEAD "\"models\":[{\"name\":\"openai/GPT\",\"provider\":\"openai\","
                             "\"kind\":\"chat\",\"input\":1,\"output\":2}]}",
                      "models[0].name \"openai/GPT\" must be a lower-case model name");
    s_expect_rejected(S_HEAD "\"models\":[]}", "models must be a non-empty array");
    s_expect_rejected("{\"version\":2,\"updated\":\"x\",\"default\":{\"input\":1,\"output\":1},"
                      "\"models\":[" S_M0 "]}",
                      "version must be 1");
    s_expect_rejected("{\"version\":1,\"updated\":\"x\",\"models\":[" S_M0 "]}",
                      "default must be an object");
    s_expect_rejected("[]", "top level must be an object");
    //  Missing file, NULL path.
    CU_ASSERT_PTR_NULL(tg_pricing_load("/nonexistent/pricing.json"));
    CU_ASSERT_PTR_NULL(tg_pricing_load(NULL));
}

static void
test_default_path(void)
{
    char *saved = tg_strdup(getenv("TOLLGATE_PRICING_FILE"));
    setenv("TOLLGATE_PRICING_FILE", "/etc/elsewhere/pricing.json", 1);
    CU_ASSERT_STRING_EQUAL(tg_pricing_default_path(), "/etc/elsewhere/pricing.json");
    unsetenv("TOLLGATE_PRICING_FILE");
    const char *path = tg_pricing_default_path();
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    CU_ASSERT_EQUAL(access(path, R_OK), 0);
    tg_pricing_t *p = tg_pricing_load(path);
    CU_ASSERT_PTR_NOT_NULL(p);
    tg_pricing_destroy(&p);
    if (saved)
        setenv("TOLLGATE_PRICING_FILE", saved, 1);
    free(saved);
}

static void
test_lookup_speed(void)
{
    //  Per-request lookups: no allocation, no JSON. 200k lookups well under a second.
    int64_t t0 = tg_mono_us();
    double total = 0;
    for (int i = 0; i < 200000; i++)
        total += tg_pricing_cost(s_pricing, i % 2 ? "anthropic/claude-3-opus-20240229" : "gpt-4o",
                                 100, 50, 0, 0, NULL);
    int64_t us = tg_mono_us() - t0;
    CU_ASSERT(total > 0);
    CU_ASSERT(us < 1000000);
}

void
test_pricing_register(void)
{
    CU_pSuite s = CU_add_suite("pricing", s_setup, s_teardown);
    CU_add_test(s, "catalogue loads, 45+ models", test_catalogue);
    CU_add_test(s, "list prices", test_list_prices);
    CU_add_test(s, "normalize", test_normalize);
    CU_add_test(s, "find versioned names", test_find);
    CU_add_test(s, "cost: exact, cached, 70/30, rounding", test_cost);
    CU_add_test(s, "unknown model flagged and billed", test_unknown_model);
    CU_add_test(s, "cost in integer micro-dollars, cache writes", test_cost_micro);
    CU_add_test(s, "per-deployment overrides from config", test_override);
    CU_add_test(s, "litellm-prices: Mistral, Cohere, OpenRouter", test_litellm_prices);
    CU_add_test(s, "broken files rejected with reasons", test_broken_files);
    CU_add_test(s, "default path", test_default_path);
    CU_add_test(s, "lookup speed", test_lookup_speed);
}
