//  test_cache.c - tg_cache: roundtrip, expiry, invalidation, votes, touch, eviction on a
//  small map, a read-only opener in another process, unreadable entries.
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tg_cache.h"
#include "tg_lmdb.h"
#include "tg_util.h"

static char *
s_tmpdir(void)
{
    char tmpl[] = "/tmp/tg-test-cache-XXXXXX";
    char *d = mkdtemp(tmpl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    return tg_strfmt("%s/env", d);  //  a missing subdir: the writer creates it
}

static void
s_rmdir(char *dir)
{
    *strrchr(dir, '/') = 0;  //  the mkdtemp parent
    char *cmd = tg_strfmt("rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(cmd);
    free(dir);
}

static tg_cache_t *
s_open(const char *dir, size_t map)
{
    tg_cache_opts_t o = {.dir = dir, .map_size = map};
    return tg_cache_open(&o);
}

static tg_cache_key_t
s_key(uint32_t i)
{
    tg_cache_key_t k;
    for (int j = 0; j < TG_CACHE_KEY_LEN; j++)
        k.b[j] = (uint8_t)((i >> (8 * (j % 4))) + 31 * j);
    return k;
}

//  A plain valid entry: body "answer <i>", id "chatcmpl-<i>", model m, created at t.
static tg_cache_entry_t
s_entry(char *buf, size_t size, char *id, size_t idsize, uint32_t i, const char *m, int64_t t)
{
    snprintf(buf, size, "{\"answer\":%u}", i);
    snprintf(id, idsize, "chatcmpl-%u", i);
    tg_cache_entry_t e = {.form = TG_CACHE_JSON,
                          .body = buf,
                          .body_len = strlen(buf),
                          .response_id = id,
                          .model = (char *)m,
                          .provider = "openai",
                          .prompt = "hello",
                          .created_us = t,
                          .access_us = t};
    return e;
}

static int
s_put(tg_cache_t *c, uint32_t i, const char *model, int64_t t)
{
    char body[64], id[32];
    tg_cache_entry_t e = s_entry(body, sizeof body, id, sizeof id, i, model, t);
    tg_cache_key_t k = s_key(i);
    return tg_cache_put(c, &k, &e);
}

static bool
s_has(tg_cache_t *c, uint32_t i, int64_t now)
{
    tg_cache_key_t k = s_key(i);
    tg_cache_entry_t e;
    int rc = tg_cache_get(c, &k, now, 0, &e);
    tg_cache_entry_fini(&e);
    return rc == TG_OK;
}

static void
test_roundtrip(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    //  An SSE body with a NUL inside, a prompt longer than kept, every field set.
    static const char sse[] = "data: {\"a\":1}\n\n\0data: [DONE]\n\n";
    char *prompt = tg_zalloc(TG_CACHE_PROMPT_MAX + 100);
    memset(prompt, 'p', TG_CACHE_PROMPT_MAX + 99);
    tg_cache_entry_t in = {.form = TG_CACHE_SSE,
                           .body = (char *)sse,
                           .body_len = sizeof sse - 1,
                           .response_id = "chatcmpl-abc",
                           .model = "gpt-4o",
                           .provider = "openai",
                           .prompt = prompt,
                           .reason = "",
                           .tok_in = 11,
                           .tok_out = 22,
                           .cost_usd = 0.00125,
                           .created_us = 1000,
                           .expires_us = 5000,
                           .access_us = 1500,
                           .hits = 3,
                           .up = 4,
                           .down = 1};
    tg_cache_key_t k = s_key(1);
    CU_ASSERT_EQUAL(tg_cache_put(c, &k, &in), TG_OK);
    tg_cache_entry_t out;
    CU_ASSERT_EQUAL_FATAL(tg_cache_get(c, &k, 2000, 0.5, &out), TG_OK);
    CU_ASSERT_EQUAL(out.form, TG_CACHE_SSE);
    CU_ASSERT_EQUAL(out.body_len, sizeof sse - 1);
    CU_ASSERT_EQUAL(memcmp(out.body, sse, sizeof sse - 1), 0);
    CU_ASSERT_STRING_EQUAL(out.response_id, "chatcmpl-abc");
    CU_ASSERT_STRING_EQUAL(out.model, "gpt-4o");
    CU_ASSERT_STRING_EQUAL(out.provider, "openai");
    CU_ASSERT_EQUAL(strlen(out.prompt), TG_CACHE_PROMPT_MAX);
    CU_ASSERT_STRING_EQUAL(out.reason, "");
    CU_ASSERT_EQUAL(out.tok_in, 11);
    CU_ASSERT_EQUAL(out.tok_out, 22);
    CU_ASSERT_DOUBLE_EQUAL(out.cost_usd, 0.00125, 1e-12);
    CU_ASSERT_EQUAL(out.created_us, 1000);
    CU_ASSERT_EQUAL(out.expires_us, 5000);
    CU_ASSERT_EQUAL(out.access_us, 1500);
    CU_ASSERT_EQUAL(out.hits, 3);
    CU_ASSERT_EQUAL(out.up, 4);
    CU_ASSERT_EQUAL(out.down, 1);
    CU_ASSERT_FALSE(out.invalidated);
    CU_ASSERT_DOUBLE_EQUAL(tg_cache_quality(&out), 5.0 / 7.0, 1e-12);
    tg_cache_entry_fini(&out);
    CU_ASSERT_PTR_NULL(out.body);
    tg_cache_entry_fini(NULL);

    //  The JSON form, NULL strings stored as "", replacing the same key.
    tg_cache_entry_t j = {.form = TG_CACHE_JSON, .body = "{\"id\":\"x\"}", .body_len = 10};
    CU_ASSERT_EQUAL(tg_cache_put(c, &k, &j), TG_OK);
    CU_ASSERT_EQUAL_FATAL(tg_cache_get(c, &k, 2000, 0, &out), TG_OK);
    CU_ASSERT_EQUAL(out.form, TG_CACHE_JSON);
    CU_ASSERT_STRING_EQUAL(out.body, "{\"id\":\"x\"}");
    CU_ASSERT_STRING_EQUAL(out.response_id, "");
    CU_ASSERT_STRING_EQUAL(out.model, "");
    CU_ASSERT_STRING_EQUAL(out.prompt, "");
    CU_ASSERT_EQUAL(out.expires_us, 0);
    tg_cache_entry_fini(&out);
    //  The replaced entry's id no longer leads anywhere.
    CU_ASSERT_EQUAL(tg_cache_vote(c, "chatcmpl-abc", true), TG_NOTFOUND);
    tg_cache_stats_t st;
    CU_ASSERT_EQUAL(tg_cache_stats(c, 2000, &st), TG_OK);
    CU_ASSERT_EQUAL(st.entries, 1);
    CU_ASSERT_EQUAL(st.map_bytes, 4 << 20);
    CU_ASSERT(st.bytes > 0 && st.bytes < st.map_bytes);
    tg_cache_key_t other = s_key(2);
    CU_ASSERT_EQUAL(tg_cache_get(c, &other, 2000, 0, &out), TG_NOTFOUND);
    free(prompt);
    tg_cache_destroy(&c);
    CU_ASSERT_PTR_NULL(c);
    tg_cache_destroy(&c);

    //  Survives a reopen.
    c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_TRUE(s_has(c, 1, 2000));
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

static void
test_prompt_cut_utf8(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    //  "é" (2 bytes) straddling the cut: the whole character goes.
    char *prompt = tg_zalloc(TG_CACHE_PROMPT_MAX + 8);
    memset(prompt, 'a', TG_CACHE_PROMPT_MAX + 4);
    prompt[TG_CACHE_PROMPT_MAX - 1] = (char)0xc3;
    prompt[TG_CACHE_PROMPT_MAX] = (char)0xa9;
    tg_cache_entry_t in = {.body = "x", .body_len = 1, .prompt = prompt};
    tg_cache_key_t k = s_key(7);
    CU_ASSERT_EQUAL(tg_cache_put(c, &k, &in), TG_OK);
    tg_cache_entry_t out;
    CU_ASSERT_EQUAL_FATAL(tg_cache_get(c, &k, 0, 0, &out), TG_OK);
    CU_ASSERT_EQUAL(strlen(out.prompt), TG_CACHE_PROMPT_MAX - 1);
    tg_cache_entry_fini(&out);
    free(prompt);
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

static void
test_key_hex(void)
{
    tg_cache_key_t k = s_key(0xdeadbeef), back;
    char hex[TG_CACHE_KEY_HEX];
    tg_cache_key_hex(&k, hex);
    CU_ASSERT_EQUAL(strlen(hex), 32);
    CU_ASSERT_EQUAL(tg_cache_key_parse(hex, &back), TG_OK);
    CU_ASSERT_EQUAL(memcmp(k.b, back.b, TG_CACHE_KEY_LEN), 0);
    CU_ASSERT_EQUAL(tg_cache_key_parse("00112233445566778899AABBCCDDEEFF", &back), TG_OK);
    CU_ASSERT_EQUAL(back.b[0], 0x00);
    CU_ASSERT_EQUAL(back.b[15], 0xff);
    tg_cache_key_hex(&back, hex);
    CU_ASSERT_STRING_EQUAL(hex, "00112233445566778899aabbccddeeff");
    CU_ASSERT_EQUAL(tg_cache_key_parse("00112233445566778899aabbccddeef", &back), TG_INVALID);
    CU_ASSERT_EQUAL(tg_cache_key_parse("00112233445566778899aabbccddeeff0", &back), TG_INVALID);
    CU_ASSERT_EQUAL(tg_cache_key_parse("0011223344556677889gaabbccddeeff", &back), TG_INVALID);
    CU_ASSERT_EQUAL(tg_cache_key_parse("", &back), TG_INVALID);
    CU_ASSERT_EQUAL(tg_cache_key_parse(NULL, &back), TG_INVALID);
}

static void
test_expiry(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char body[64], id[32];
    tg_cache_entry_t e = s_entry(body, sizeof body, id, sizeof id, 1, "m", 100);
    e.expires_us = 1000;
    tg_cache_key_t k = s_key(1);
    CU_ASSERT_EQUAL(tg_cache_put(c, &k, &e), TG_OK);
    CU_ASSERT_EQUAL(s_put(c, 2, "m", 100), TG_OK);  //  never expires
    CU_ASSERT_TRUE(s_has(c, 1, 999));
    CU_ASSERT_FALSE(s_has(c, 1, 1000));
    tg_cache_stats_t st;
    CU_ASSERT_EQUAL(tg_cache_stats(c, 1000, &st), TG_OK);
    CU_ASSERT_EQUAL(st.entries, 2);
    CU_ASSERT_EQUAL(st.expired, 1);
    //  Eviction deletes expired entries, whatever the water level, and only those.
    CU_ASSERT_EQUAL(tg_cache_evict(c, 999), 0);
    CU_ASSERT_EQUAL(tg_cache_evict(c, 1000), 1);
    CU_ASSERT_EQUAL(tg_cache_stats(c, 1000, &st), TG_OK);
    CU_ASSERT_EQUAL(st.entries, 1);
    CU_ASSERT_EQUAL(st.expired, 0);
    CU_ASSERT_EQUAL(st.evicted, 1);
    CU_ASSERT_TRUE(s_has(c, 2, 5000));
    CU_ASSERT_EQUAL(tg_cache_vote(c, "chatcmpl-1", true), TG_NOTFOUND);  //  id row gone too

    //  Replacing an expiring entry with a lasting one drops its expiry row.
    CU_ASSERT_EQUAL(tg_cache_put(c, &k, &e), TG_OK);
    CU_ASSERT_EQUAL(s_put(c, 1, "m", 100), TG_OK);
    CU_ASSERT_EQUAL(tg_cache_evict(c, 2000), 0);
    CU_ASSERT_TRUE(s_has(c, 1, 2000));
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

static void
test_invalidated_not_served(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char body[64], id[32];
    tg_cache_entry_t e = s_entry(body, sizeof body, id, sizeof id, 1, "m", 100);
    e.invalidated = true;
    e.reason = "bad";
    tg_cache_key_t k = s_key(1);
    CU_ASSERT_EQUAL(tg_cache_put(c, &k, &e), TG_OK);
    CU_ASSERT_FALSE(s_has(c, 1, 200));
    tg_cache_stats_t st;
    CU_ASSERT_EQUAL(tg_cache_stats(c, 200, &st), TG_OK);
    CU_ASSERT_EQUAL(st.entries, 1);
    CU_ASSERT_EQUAL(st.invalidated, 1);
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

static void
test_quality_votes(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(s_put(c, 1, "m", 100), TG_OK);
    tg_cache_key_t k = s_key(1);
    tg_cache_entry_t out;
    CU_ASSERT_EQUAL(tg_cache_get(c, &k, 200, 0.5, &out), TG_OK);  //  0.5 with no votes
    tg_cache_entry_fini(&out);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(tg_cache_vote(c, "chatcmpl-1", false), TG_OK);
    //  (0 + 1) / (0 + 3 + 2) = 0.2
    CU_ASSERT_EQUAL(tg_cache_get(c, &k, 200, 0.5, &out), TG_NOTFOUND);
    CU_ASSERT_PTR_NULL(out.body);
    CU_ASSERT_EQUAL(tg_cache_get(c, &k, 200, 0.2, &out), TG_OK);
    CU_ASSERT_EQUAL(out.down, 3);
    CU_ASSERT_DOUBLE_EQUAL(tg_cache_quality(&out), 0.2, 1e-12);
    tg_cache_entry_fini(&out);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(tg_cache_vote(c, "chatcmpl-1", true), TG_OK);
    //  (3 + 1) / (3 + 3 + 2) = 0.5
    CU_ASSERT_EQUAL(tg_cache_get(c, &k, 200, 0.5, &out), TG_OK);
    CU_ASSERT_EQUAL(out.up, 3);
    CU_ASSERT_EQUAL(out.down, 3);
    tg_cache_entry_fini(&out);
    CU_ASSERT_EQUAL(tg_cache_vote(c, "chatcmpl-nope", true), TG_NOTFOUND);
    CU_ASSERT_EQUAL(tg_cache_vote(c, "", true), TG_NOTFOUND);
    tg_cache_entry_t q = {.up = 0, .down = 0};
    CU_ASSERT_DOUBLE_EQUAL(tg_cache_quality(&q), 0.5, 1e-12);
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

static void
test_invalidate(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    //  1 a@100, 2 a@200, 3 b@300, 4 b@400, 5 c@500
    const char *models[] = {"", "a", "a", "b", "b", "c"};
    for (uint32_t i = 1; i <= 5; i++)
        CU_ASSERT_EQUAL(s_put(c, i, models[i], 100 * i), TG_OK);
    CU_ASSERT_EQUAL(tg_cache_invalidate(c, NULL, NULL, 0, "x"), TG_INVALID);

    //  By id.
    CU_ASSERT_EQUAL(tg_cache_invalidate(c, "chatcmpl-5", NULL, 0, "wrong"), 1);
    CU_ASSERT_FALSE(s_has(c, 5, 1000));
    CU_ASSERT_EQUAL(tg_cache_invalidate(c, "chatcmpl-5", NULL, 0, "again"), 0);
    CU_ASSERT_EQUAL(tg_cache_invalidate(c, "chatcmpl-9", NULL, 0, "none"), 0);
    //  By id AND model: the model does not match.
    CU_ASSERT_EQUAL(tg_cache_invalidate(c, "chatcmpl-4", "a", 0, "no"), 0);
    CU_ASSERT_TRUE(s_has(c, 4, 1000));

    //  By model AND age: only b created before 350.
    CU_ASSERT_EQUAL(tg_cache_invalidate(c, NULL, "b", 350, "old b"), 1);
    CU_ASSERT_FALSE(s_has(c, 3, 1000));
    CU_ASSERT_TRUE(s_has(c, 4, 1000));
    //  By model.
    CU_ASSERT_EQUAL(tg_cache_invalidate(c, NULL, "a", 0, "model a retired"), 2);
    CU_ASSERT_FALSE(s_has(c, 1, 1000));
    CU_ASSERT_FALSE(s_has(c, 2, 1000));
    //  By age: 4 is the only valid entry created before 450.
    CU_ASSERT_EQUAL(tg_cache_invalidate(c, NULL, NULL, 450, "too old"), 1);
    CU_ASSERT_FALSE(s_has(c, 4, 1000));

    tg_cache_stats_t st;
    CU_ASSERT_EQUAL(tg_cache_stats(c, 1000, &st), TG_OK);
    CU_ASSERT_EQUAL(st.entries, 5);
    CU_ASSERT_EQUAL(st.invalidated, 5);
    //  Votes still reach an invalidated entry; a fresh put under its key serves again.
    CU_ASSERT_EQUAL(tg_cache_vote(c, "chatcmpl-4", true), TG_OK);
    CU_ASSERT_EQUAL(s_put(c, 4, "b", 2000), TG_OK);
    CU_ASSERT_TRUE(s_has(c, 4, 3000));
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

static void
test_touch(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(s_put(c, 1, "m", 100), TG_OK);
    CU_ASSERT_EQUAL(s_put(c, 2, "m", 200), TG_OK);
    tg_cache_key_t keys[3] = {s_key(1), s_key(9), s_key(1)};  //  9 is absent
    CU_ASSERT_EQUAL(tg_cache_touch(c, keys, 3, 300), 2);
    CU_ASSERT_EQUAL(tg_cache_touch(c, keys, 0, 300), 0);
    tg_cache_entry_t out;
    CU_ASSERT_EQUAL_FATAL(tg_cache_get(c, &keys[0], 400, 0, &out), TG_OK);
    CU_ASSERT_EQUAL(out.hits, 2);
    CU_ASSERT_EQUAL(out.access_us, 300);
    CU_ASSERT_EQUAL(out.created_us, 100);
    tg_cache_entry_fini(&out);
    tg_cache_stats_t st;
    CU_ASSERT_EQUAL(tg_cache_stats(c, 400, &st), TG_OK);
    CU_ASSERT_EQUAL(st.hits, 2);
    //  A put with no access time takes its creation time.
    tg_cache_entry_t in = {.body = "x", .body_len = 1, .created_us = 500};
    tg_cache_key_t k3 = s_key(3);
    CU_ASSERT_EQUAL(tg_cache_put(c, &k3, &in), TG_OK);
    CU_ASSERT_EQUAL_FATAL(tg_cache_get(c, &k3, 600, 0, &out), TG_OK);
    CU_ASSERT_EQUAL(out.access_us, 500);
    CU_ASSERT_EQUAL(out.hits, 0);
    tg_cache_entry_fini(&out);
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

//  The eviction order on a full map, watched through which keys remain.
static void
test_evict_small_map(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char *body = tg_zalloc(4001);
    memset(body, 'b', 4000);
    enum { N = 1000 };
    int ok = 0, again = 0, err = 0;
    for (uint32_t i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "chatcmpl-%u", i);
        tg_cache_entry_t e = {.form = TG_CACHE_JSON,
                              .body = body,
                              .body_len = 4000,
                              .response_id = id,
                              .model = "m",
                              .created_us = 1000 + i,
                              .access_us = 1000 + i};
        tg_cache_key_t k = s_key(i);
        int rc = tg_cache_put(c, &k, &e);
        ok += rc == TG_OK;
        again += rc == TG_AGAIN;
        err += rc == TG_ERR;
        //  Entry 0 is read after every put: it stays the most recently used.
        tg_cache_key_t k0 = s_key(0);
        CU_ASSERT_EQUAL(tg_cache_touch(c, &k0, 1, 1000 + i), 1);
    }
    CU_ASSERT_EQUAL(err, 0);
    CU_ASSERT_EQUAL(ok, N);
    CU_ASSERT_EQUAL(again, 0);
    tg_cache_stats_t st;
    CU_ASSERT_EQUAL(tg_cache_stats(c, 5000, &st), TG_OK);
    CU_ASSERT(st.evicted > 0);
    CU_ASSERT_EQUAL(st.dropped, 0);
    CU_ASSERT(st.bytes <= st.map_bytes);
    CU_ASSERT_EQUAL(st.entries + st.evicted, N);
    //  What remains is entry 0 and the newest entries, with no gap.
    CU_ASSERT_TRUE(s_has(c, 0, 5000));
    CU_ASSERT_TRUE(s_has(c, N - 1, 5000));
    CU_ASSERT_TRUE(s_has(c, N - 10, 5000));
    CU_ASSERT_FALSE(s_has(c, 1, 5000));
    uint32_t first = N;
    for (uint32_t i = 1; i < N; i++)
        if (s_has(c, i, 5000)) {
            first = i;
            break;
        }
    int gaps = 0;
    for (uint32_t i = first; i < N; i++)
        gaps += !s_has(c, i, 5000);
    CU_ASSERT_EQUAL(gaps, 0);
    CU_ASSERT_EQUAL(st.entries, 1 + N - first);
    CU_ASSERT_EQUAL(tg_cache_vote(c, "chatcmpl-1", true), TG_NOTFOUND);  //  evicted: id gone
    CU_ASSERT_EQUAL(tg_cache_vote(c, "chatcmpl-999", true), TG_OK);

    //  An entry larger than a quarter of the map is dropped, nothing else evicted for it.
    char *huge = tg_zalloc(300 * 1024);
    tg_cache_entry_t h = {.body = huge, .body_len = 300 * 1024, .created_us = 9000};
    tg_cache_key_t hk = s_key(N + 1);
    CU_ASSERT_EQUAL(tg_cache_put(c, &hk, &h), TG_AGAIN);
    tg_cache_stats_t st2;
    CU_ASSERT_EQUAL(tg_cache_stats(c, 9000, &st2), TG_OK);
    CU_ASSERT_EQUAL(st2.dropped, 1);
    CU_ASSERT_EQUAL(st2.entries, st.entries);
    free(huge);
    free(body);
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

//  Invalidated entries go before older valid ones: the newest entry, invalidated, is
//  evicted by the first eviction, which does not reach the entries just before it.
static void
test_evict_invalidated_first(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char *body = tg_zalloc(4001);
    memset(body, 'b', 4000);
    tg_cache_stats_t st = {0};
    uint32_t i;
    for (i = 1; i < 1000 && st.evicted == 0; i++) {
        char id[32];
        snprintf(id, sizeof id, "chatcmpl-%u", i);
        tg_cache_entry_t e = {.body = body,
                              .body_len = 4000,
                              .response_id = id,
                              .created_us = 1000 + i,
                              .access_us = 1000 + i};
        tg_cache_key_t k = s_key(i);
        CU_ASSERT_EQUAL(tg_cache_put(c, &k, &e), TG_OK);
        if (i == 100)
            CU_ASSERT_EQUAL(tg_cache_invalidate(c, "chatcmpl-100", NULL, 0, "bad"), 1);
        CU_ASSERT_EQUAL_FATAL(tg_cache_stats(c, 0, &st), TG_OK);
    }
    CU_ASSERT(i > 101);
    CU_ASSERT(st.evicted > 1);
    CU_ASSERT_EQUAL(st.invalidated, 0);  //  100 went first
    CU_ASSERT_FALSE(s_has(c, 1, 0));     //  then the oldest
    CU_ASSERT_TRUE(s_has(c, 99, 0));
    CU_ASSERT_TRUE(s_has(c, i - 1, 0));
    free(body);
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

static void
test_reader_missing(void)
{
    char *dir = s_tmpdir();  //  its env/ subdir does not exist
    tg_cache_opts_t o = {.dir = dir, .readonly = true};
    CU_ASSERT_PTR_NULL(tg_cache_open(&o));
    CU_ASSERT_PTR_NULL(tg_cache_open(&o));  //  quietly the second time
    //  A directory with no environment in it.
    *strrchr(dir, '/') = 0;
    CU_ASSERT_PTR_NULL(tg_cache_open(&o));
    char *again = tg_strfmt("%s/env", dir);
    free(dir);
    s_rmdir(again);
    tg_cache_opts_t bad = {.dir = "/tmp", .map_size = 1 << 20, .low_water = 0.9, .high_water = 0.5};
    CU_ASSERT_PTR_NULL(tg_cache_open(&bad));
}

//  The reader's side, in a child process: 0 when it saw what it should.
static int
s_reader(const char *dir, int from_parent, int to_parent)
{
    tg_cache_opts_t o = {.dir = dir, .readonly = true};
    tg_cache_t *c = tg_cache_open(&o);
    if (!c)
        return 10;
    int rc = 0;
    tg_cache_entry_t e;
    tg_cache_key_t k1 = s_key(1), k2 = s_key(2);
    if (tg_cache_get(c, &k1, 500, 0, &e) != TG_OK || strcmp(e.model, "a") != 0)
        rc = 11;
    tg_cache_entry_fini(&e);
    if (!rc && tg_cache_get(c, &k2, 500, 0, &e) != TG_NOTFOUND)
        rc = 12;
    tg_cache_stats_t st;
    if (!rc && (tg_cache_stats(c, 500, &st) != TG_OK || st.entries != 1 || !st.map_bytes))
        rc = 13;
    char b = 'r';
    if (write(to_parent, &b, 1) != 1 || read(from_parent, &b, 1) != 1)
        rc = rc ? rc : 14;
    //  The writer has added entry 2 meanwhile.
    if (!rc && tg_cache_get(c, &k2, 500, 0, &e) != TG_OK)
        rc = 15;
    tg_cache_entry_fini(&e);
    tg_cache_destroy(&c);
    return rc;
}

static void
test_reader_sees_writer(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(s_put(c, 1, "a", 100), TG_OK);
    int down[2], up[2];
    CU_ASSERT_EQUAL_FATAL(pipe(down), 0);
    CU_ASSERT_EQUAL_FATAL(pipe(up), 0);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        //  A fresh environment handle in the child (LMDB: never use the parent's).
        close(down[1]);
        close(up[0]);
        _exit(s_reader(dir, down[0], up[1]));
    }
    close(down[0]);
    close(up[1]);
    char b;
    CU_ASSERT_EQUAL(read(up[0], &b, 1), 1);  //  the reader has looked
    CU_ASSERT_EQUAL(s_put(c, 2, "b", 200), TG_OK);
    CU_ASSERT_EQUAL(write(down[1], &b, 1), 1);
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT_TRUE(WIFEXITED(status));
    CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
    close(down[1]);
    close(up[0]);
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

//  A reader that died inside a read txn pins the snapshot it read; the writer frees its slot
//  when the map runs full, so eviction still makes room and no fill is dropped.
static void
test_dead_reader(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(s_put(c, 0, "m", 1000), TG_OK);
    int up[2];
    CU_ASSERT_EQUAL_FATAL(pipe(up), 0);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(up[0]);
        static const char *const dbs[] = {"entries", "ids", "access", "expiry"};
        tg_lmdb_opts_t lo = {
            .dir = dir, .dbs = dbs, .ndbs = 4, .schema_version = 1, .readonly = true};
        tg_lmdb_t *db = tg_lmdb_new(&lo);
        tg_lmdb_txn_t *t = NULL;
        char b = db && tg_lmdb_begin(db, false, &t) == TG_OK ? 'y' : 'n';
        ssize_t n = write(up[1], &b, 1);
        _exit(n == 1 ? 0 : 1);  //  dies with the txn open
    }
    close(up[1]);
    char b = 0;
    CU_ASSERT_EQUAL(read(up[0], &b, 1), 1);
    CU_ASSERT_EQUAL(b, 'y');
    close(up[0]);
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    char *body = tg_zalloc(4001);
    memset(body, 'b', 4000);
    int bad = 0;
    for (uint32_t i = 1; i < 600; i++) {
        tg_cache_entry_t e = {.body = body, .body_len = 4000, .created_us = 1000 + i};
        tg_cache_key_t k = s_key(i);
        bad += tg_cache_put(c, &k, &e) != TG_OK;
    }
    CU_ASSERT_EQUAL(bad, 0);
    tg_cache_stats_t st;
    CU_ASSERT_EQUAL(tg_cache_stats(c, 0, &st), TG_OK);
    CU_ASSERT(st.evicted > 0);
    CU_ASSERT_EQUAL(st.dropped, 0);
    free(body);
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

//  Garbage written under cache keys with tg_lmdb directly: a miss, skipped, evicted.
static void
test_corrupt_entries(void)
{
    char *dir = s_tmpdir();
    tg_cache_t *c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(s_put(c, 1, "m", 100), TG_OK);
    tg_cache_destroy(&c);

    static const char *const dbs[] = {"entries", "ids", "access", "expiry"};
    tg_lmdb_opts_t lo = {
        .dir = dir, .map_size = 4 << 20, .dbs = dbs, .ndbs = 4, .schema_version = 1};
    tg_lmdb_t *db = tg_lmdb_new(&lo);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    tg_lmdb_txn_t *t;
    CU_ASSERT_EQUAL_FATAL(tg_lmdb_begin(db, true, &t), TG_OK);
    tg_cache_key_t k1 = s_key(1), k2 = s_key(2), k3 = s_key(3);
    void *good = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(tg_lmdb_get(t, 0, k1.b, 16, &good, &len), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 0, k2.b, 16, "xyz", 3), TG_OK);       //  garbage
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 0, k3.b, 16, good, len - 5), TG_OK);  //  truncated
    uint8_t row[24];
    tg_lmdb_be64_put(row, 50);
    memcpy(row + 8, k2.b, 16);
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 2, row, 24, NULL, 0), TG_OK);
    tg_lmdb_be64_put(row, 60);
    memcpy(row + 8, k3.b, 16);
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 2, row, 24, NULL, 0), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 3, row, 24, NULL, 0), TG_OK);  //  an expiry row too
    CU_ASSERT_EQUAL(tg_lmdb_put(t, 1, "chatcmpl-x", 10, k2.b, 16), TG_OK);
    CU_ASSERT_EQUAL(tg_lmdb_commit(&t), TG_OK);
    free(good);
    tg_lmdb_destroy(&db);

    c = s_open(dir, 4 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_TRUE(s_has(c, 1, 200));
    CU_ASSERT_FALSE(s_has(c, 2, 200));
    CU_ASSERT_FALSE(s_has(c, 3, 200));
    tg_cache_key_t keys[3] = {k1, k2, k3};
    CU_ASSERT_EQUAL(tg_cache_touch(c, keys, 3, 300), 1);
    CU_ASSERT_EQUAL(tg_cache_vote(c, "chatcmpl-x", true), TG_NOTFOUND);
    CU_ASSERT_EQUAL(tg_cache_invalidate(c, NULL, "m", 0, "walk"), 1);
    CU_ASSERT_EQUAL(tg_cache_invalidate(c, "chatcmpl-x", NULL, 0, "by id"), 0);
    tg_cache_stats_t st;
    CU_ASSERT_EQUAL(tg_cache_stats(c, 300, &st), TG_OK);
    CU_ASSERT_EQUAL(st.entries, 3);
    //  The expiry walk drops the truncated entry (it has an expiry row).
    CU_ASSERT_EQUAL(tg_cache_evict(c, 50), 0);
    CU_ASSERT_EQUAL(tg_cache_evict(c, 350), 1);
    CU_ASSERT_EQUAL(tg_cache_stats(c, 350, &st), TG_OK);
    CU_ASSERT_EQUAL(st.entries, 2);
    //  A replacing put over garbage works.
    CU_ASSERT_EQUAL(s_put(c, 2, "m", 400), TG_OK);
    CU_ASSERT_TRUE(s_has(c, 2, 500));
    CU_ASSERT_EQUAL(tg_cache_evict(c, 500), 0);
    //  A full eviction deletes the rest, stale access rows included.
    tg_cache_destroy(&c);
    tg_cache_opts_t o = {.dir = dir, .map_size = 4 << 20, .high_water = 1e-9, .low_water = 5e-10};
    c = tg_cache_open(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(tg_cache_evict(c, 500), 2);
    CU_ASSERT_EQUAL(tg_cache_stats(c, 500, &st), TG_OK);
    CU_ASSERT_EQUAL(st.entries, 0);
    tg_cache_destroy(&c);
    s_rmdir(dir);
}

void
test_cache_register(void)
{
    CU_pSuite s = CU_add_suite("cache", NULL, NULL);
    CU_add_test(s, "roundtrip", test_roundtrip);
    CU_add_test(s, "prompt_cut_utf8", test_prompt_cut_utf8);
    CU_add_test(s, "key_hex", test_key_hex);
    CU_add_test(s, "expiry", test_expiry);
    CU_add_test(s, "invalidated_not_served", test_invalidated_not_served);
    CU_add_test(s, "quality_votes", test_quality_votes);
    CU_add_test(s, "invalidate", test_invalidate);
    CU_add_test(s, "touch", test_touch);
    CU_add_test(s, "evict_small_map", test_evict_small_map);
    CU_add_test(s, "evict_invalidated_first", test_evict_invalidated_first);
    CU_add_test(s, "reader_missing", test_reader_missing);
    CU_add_test(s, "reader_sees_writer", test_reader_sees_writer);
    CU_add_test(s, "dead_reader", test_dead_reader);
    CU_add_test(s, "corrupt_entries", test_corrupt_entries);
}
