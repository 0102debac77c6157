//  test_keystore.c - tg_keyrec and tg_keystore: key format, keyed hashing, store and lookup,
//  rotation, a reader process's view, admin field checks, allowed models; tg_keys_secret.
#include <CUnit/CUnit.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_config.h"
#include "tg_keys.h"
#include "tg_keystore.h"
#include "tg_util.h"

static char *
s_tmpdir(void)
{
    char tmpl[] = "/tmp/tg-test-keys-XXXXXX";
    char *d = mkdtemp(tmpl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    return tg_strdup(d);
}

static void
s_rmdir(char **dir_p)
{
    char *cmd = tg_strfmt("rm -rf '%s'", *dir_p);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(cmd);
    free(*dir_p);
    *dir_p = NULL;
}

//  The built-in tiers (free, pro, enterprise) as a key may name them.
static const tg_tiers_t *
s_tiers(void)
{
    static tg_tiers_t tiers;
    if (!tiers.n) {
        tg_config_t *cfg = tg_config_load_string(NULL);
        tg_tiers_load(cfg, &tiers);
        tg_config_destroy(&cfg);
    }
    return &tiers;
}

static const uint8_t s_secret[TG_KEYREC_SECRET] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static void
test_key_and_hash(void)
{
    char a[TG_KEYREC_KEY_LEN + 1], b[TG_KEYREC_KEY_LEN + 1];
    tg_keyrec_key_new(a);
    tg_keyrec_key_new(b);
    CU_ASSERT_EQUAL(strlen(a), TG_KEYREC_KEY_LEN);
    CU_ASSERT_EQUAL(strncmp(a, "sk-tg-", 6), 0);
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    uint8_t h1[TG_KEYREC_HASH], h2[TG_KEYREC_HASH], h3[TG_KEYREC_HASH];
    tg_keyrec_hash(s_secret, a, h1);
    tg_keyrec_hash(s_secret, a, h2);
    CU_ASSERT_EQUAL(memcmp(h1, h2, sizeof h1), 0);  //  deterministic
    uint8_t other[TG_KEYREC_SECRET] = {9};
    tg_keyrec_hash(other, a, h3);
    CU_ASSERT_NOT_EQUAL(memcmp(h1, h3, sizeof h1), 0);  //  keyed: another secret, another hash
    //  It is BLAKE2b-256 keyed with the secret.
    uint8_t ref[32];
    crypto_generichash(ref, 32, (const unsigned char *)a, strlen(a), s_secret, 32);
    CU_ASSERT_EQUAL(memcmp(h1, ref, 32), 0);
    char id[TG_KEYREC_ID_LEN + 1];
    tg_keyrec_id_new(id);
    CU_ASSERT_EQUAL(strlen(id), TG_KEYREC_ID_LEN);
    CU_ASSERT_EQUAL(strncmp(id, "key_", 4), 0);
}

static void
test_store_find_rotate(void)
{
    char *dir = s_tmpdir();
    char *env = tg_strfmt("%s/keys", dir);
    tg_keystore_t *reader = NULL, *writer = NULL;
    CU_ASSERT_EQUAL(tg_keystore_open(env, true, &reader), TG_NOTFOUND);  //  not created yet
    CU_ASSERT_EQUAL_FATAL(tg_keystore_open(env, false, &writer), TG_OK);
    CU_ASSERT_EQUAL_FATAL(tg_keystore_open(env, true, &reader), TG_OK);

    tg_keyrec_t rec;
    tg_keyrec_init(&rec);
    tg_keyrec_id_new(rec.id);
    json_t *body = json_pack("{ss ss s[s] s{si}}", "owner", "alice", "tier", "pro", "models",
                             "gpt-4o", "limits", "requests_per_minute", 7);
    const char *param = NULL;
    char *msg = NULL;
    CU_ASSERT_EQUAL(tg_keyrec_apply(&rec, body, s_tiers(), &param, &msg), TG_OK);
    json_decref(body);
    char key[TG_KEYREC_KEY_LEN + 1];
    tg_keyrec_key_new(key);
    tg_keyrec_hash(s_secret, key, rec.hash);
    CU_ASSERT_EQUAL(tg_keystore_put(writer, &rec, NULL), TG_OK);

    //  The reader finds it by the hash of the key, at once.
    uint8_t h[TG_KEYREC_HASH];
    tg_keyrec_hash(s_secret, key, h);
    const tg_keyrec_t *got = NULL;
    CU_ASSERT_EQUAL_FATAL(tg_keystore_lookup(reader, h, &got), TG_OK);
    CU_ASSERT_STRING_EQUAL(got->id, rec.id);
    CU_ASSERT_STRING_EQUAL(got->owner, "alice");
    CU_ASSERT_STRING_EQUAL(got->tier, "pro");
    CU_ASSERT_EQUAL(got->nmodels, 1);
    CU_ASSERT_EQUAL(got->limits[TG_LIM_RPM], 7);
    CU_ASSERT_EQUAL(got->limits[TG_LIM_TPM], -1);
    //  A wrong key finds nothing.
    char wrong[TG_KEYREC_KEY_LEN + 1];
    tg_keyrec_key_new(wrong);
    tg_keyrec_hash(s_secret, wrong, h);
    CU_ASSERT_EQUAL(tg_keystore_lookup(reader, h, &got), TG_NOTFOUND);

    //  Rotation: the old hash stops finding the record, the new one finds it.
    uint8_t old[TG_KEYREC_HASH];
    memcpy(old, rec.hash, sizeof old);
    char key2[TG_KEYREC_KEY_LEN + 1];
    tg_keyrec_key_new(key2);
    tg_keyrec_hash(s_secret, key2, rec.hash);
    CU_ASSERT_EQUAL(tg_keystore_put(writer, &rec, old), TG_OK);
    CU_ASSERT_EQUAL(tg_keystore_lookup(reader, old, &got), TG_NOTFOUND);
    CU_ASSERT_EQUAL_FATAL(tg_keystore_lookup(reader, rec.hash, &got), TG_OK);

    //  The reader's hot path keeps the decoded record while its bytes stay the same.
    const tg_keyrec_t *seen = NULL, *again = NULL;
    CU_ASSERT_EQUAL_FATAL(tg_keystore_lookup(reader, rec.hash, &seen), TG_OK);
    CU_ASSERT_EQUAL_FATAL(tg_keystore_lookup(reader, rec.hash, &again), TG_OK);
    CU_ASSERT_PTR_EQUAL(seen, again);
    CU_ASSERT_EQUAL(seen->revoked, 0);
    CU_ASSERT_EQUAL(tg_keystore_lookup(reader, old, &seen), TG_NOTFOUND);

    //  Revocation is a field of the record, seen by the reader's next txn.
    rec.revoked = 1234;
    CU_ASSERT_EQUAL(tg_keystore_put(writer, &rec, NULL), TG_OK);
    CU_ASSERT_EQUAL_FATAL(tg_keystore_lookup(reader, rec.hash, &seen), TG_OK);
    CU_ASSERT_EQUAL(seen->revoked, 1234);
    tg_keyrec_t byid;
    CU_ASSERT_EQUAL_FATAL(tg_keystore_get(reader, rec.id, &byid), TG_OK);
    CU_ASSERT_EQUAL(byid.revoked, 1234);
    tg_keyrec_fini(&byid);
    CU_ASSERT_EQUAL(tg_keystore_get(reader, "key_nope", &byid), TG_NOTFOUND);

    json_t *list = tg_keystore_list(reader);
    CU_ASSERT_EQUAL(json_array_size(list), 1);
    char *text = json_dumps(list, JSON_COMPACT);
    CU_ASSERT_PTR_NULL(strstr(text, "hash"));  //  the API form has no hash
    CU_ASSERT_PTR_NULL(strstr(text, key2));
    free(text);
    json_decref(list);

    tg_keyrec_fini(&rec);
    tg_keystore_destroy(&reader);
    tg_keystore_destroy(&writer);
    CU_ASSERT_PTR_NULL(writer);
    free(env);
    s_rmdir(&dir);
}

static void
s_bad(const char *json, const char *param)
{
    tg_keyrec_t rec;
    tg_keyrec_init(&rec);
    json_t *body = json_loads(json, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    const char *p = NULL;
    char *msg = NULL;
    CU_ASSERT_EQUAL(tg_keyrec_apply(&rec, body, s_tiers(), &p, &msg), TG_INVALID);
    CU_ASSERT_PTR_NOT_NULL(msg);
    if (p && param)
        CU_ASSERT_STRING_EQUAL(p, param);
    free(msg);
    json_decref(body);
    tg_keyrec_fini(&rec);
}

static void
test_apply_fields(void)
{
    s_bad("{\"tier\":\"gold\"}", "tier");
    s_bad("{\"owner\":\"\"}", "owner");
    s_bad("{\"project\":3}", "project");
    s_bad("{\"models\":\"gpt-4o\"}", "models");
    s_bad("{\"models\":[\"\"]}", "models");
    s_bad("{\"expires_at\":-5}", "expires_at");
    s_bad("{\"limits\":{\"tokens_per_minute\":1.5}}", "limits.tokens_per_minute");
    s_bad("{\"limits\":{\"tokens_per_minute\":2000000000}}", "limits.tokens_per_minute");
    s_bad("{\"limits\":{\"per_hour\":1}}", "limits.per_hour");
    s_bad("{\"limits\":[]}", "limits");
    s_bad("{\"what\":1}", "what");

    tg_keyrec_t rec;
    tg_keyrec_init(&rec);
    json_t *body = json_loads("{\"name\":\"n\",\"agent\":\"a\",\"expires_at\":2000000000,"
                              "\"limits\":{\"tokens_per_month\":0,\"requests_per_minute\":null}}",
                              0, NULL);
    const char *p = NULL;
    char *msg = NULL;
    CU_ASSERT_EQUAL(tg_keyrec_apply(&rec, body, s_tiers(), &p, &msg), TG_OK);
    CU_ASSERT_EQUAL(rec.expires, 2000000000);
    CU_ASSERT_EQUAL(rec.limits[TG_LIM_TPMO], 0);  //  0 = no limit, not inherited
    CU_ASSERT_EQUAL(rec.limits[TG_LIM_RPM], -1);
    json_decref(body);
    //  null clears a field.
    body = json_loads("{\"name\":null,\"expires_at\":null}", 0, NULL);
    CU_ASSERT_EQUAL(tg_keyrec_apply(&rec, body, s_tiers(), &p, &msg), TG_OK);
    CU_ASSERT_PTR_NULL(rec.name);
    CU_ASSERT_EQUAL(rec.expires, 0);
    json_decref(body);
    tg_keyrec_fini(&rec);

    //  roles (spec A7): default, set, shown, stored and read back; bad names refused
    s_bad("{\"roles\":\"admin\"}", "roles");
    s_bad("{\"roles\":[\"root\"]}", "roles");
    s_bad("{\"roles\":[1]}", "roles");
    tg_keyrec_init(&rec);
    CU_ASSERT_EQUAL(rec.roles, TG_ROLE_DEFAULT);
    body = json_loads("{\"roles\":[\"metrics:query\",\"admin\"]}", 0, NULL);
    CU_ASSERT_EQUAL(tg_keyrec_apply(&rec, body, s_tiers(), &p, &msg), TG_OK);
    json_decref(body);
    CU_ASSERT_EQUAL(rec.roles, TG_ROLE_METRICS_QUERY | TG_ROLE_ADMIN);
    json_t *shown = tg_keyrec_json(&rec);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(shown, "roles")), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(shown, "roles"), 0)),
                           "metrics:query");
    json_decref(shown);
    snprintf(rec.id, sizeof rec.id, "key_000000000000000000000001");
    char *stored = tg_keyrec_encode(&rec);
    tg_keyrec_t back;
    CU_ASSERT_EQUAL(tg_keyrec_decode(stored, strlen(stored), &back), TG_OK);
    CU_ASSERT_EQUAL(back.roles, TG_ROLE_METRICS_QUERY | TG_ROLE_ADMIN);
    tg_keyrec_fini(&back);
    free(stored);
    body = json_loads("{\"roles\":[]}", 0, NULL);  //  no role at all
    CU_ASSERT_EQUAL(tg_keyrec_apply(&rec, body, s_tiers(), &p, &msg), TG_OK);
    json_decref(body);
    CU_ASSERT_EQUAL(rec.roles, 0);
    body = json_loads("{\"roles\":null}", 0, NULL);  //  back to the default
    CU_ASSERT_EQUAL(tg_keyrec_apply(&rec, body, s_tiers(), &p, &msg), TG_OK);
    json_decref(body);
    CU_ASSERT_EQUAL(rec.roles, TG_ROLE_DEFAULT);
    tg_keyrec_fini(&rec);
}

static void
test_allows(void)
{
    tg_keyrec_t rec;
    tg_keyrec_init(&rec);
    CU_ASSERT_TRUE(tg_keyrec_allows(&rec, "anything", NULL));  //  no list: every model
    json_t *body = json_loads("{\"models\":[\"gpt-4o-mini\",\"fast\"]}", 0, NULL);
    const char *p = NULL;
    char *msg = NULL;
    CU_ASSERT_EQUAL(tg_keyrec_apply(&rec, body, s_tiers(), &p, &msg), TG_OK);
    CU_ASSERT_TRUE(tg_keyrec_allows(&rec, "gpt-4o-mini", NULL));
    CU_ASSERT_TRUE(tg_keyrec_allows(&rec, "fast", "gpt-4o"));       //  the alias asked
    CU_ASSERT_TRUE(tg_keyrec_allows(&rec, "mini", "gpt-4o-mini"));  //  the alias's target
    CU_ASSERT_FALSE(tg_keyrec_allows(&rec, "gpt-4o", NULL));
    CU_ASSERT_FALSE(tg_keyrec_allows(&rec, NULL, NULL));
    json_decref(body);
    tg_keyrec_fini(&rec);
}

static void
test_secret(void)
{
    char *dir = s_tmpdir();
    char *yaml = tg_strfmt("data_dir: %s/data\nrun_dir: %s/run\n", dir, dir);
    tg_config_t *cfg = tg_config_load_string(yaml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    uint8_t a[32], b[32];
    CU_ASSERT_EQUAL(tg_keys_secret(cfg, a), TG_OK);  //  generated into the file
    CU_ASSERT_EQUAL(tg_keys_secret(cfg, b), TG_OK);  //  read back
    CU_ASSERT_EQUAL(memcmp(a, b, 32), 0);
    tg_config_destroy(&cfg);
    free(yaml);
    yaml = tg_strfmt("data_dir: %s/data\nkeys:\n  secret: '%s'\n", dir,
                     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    cfg = tg_config_load_string(yaml);
    CU_ASSERT_EQUAL(tg_keys_secret(cfg, a), TG_OK);
    CU_ASSERT_EQUAL(a[31], 0x1f);
    tg_config_destroy(&cfg);
    free(yaml);
    yaml = tg_strfmt("data_dir: %s/data\nkeys:\n  secret: 'short'\n", dir);
    cfg = tg_config_load_string(yaml);
    CU_ASSERT_EQUAL(tg_keys_secret(cfg, a), TG_ERR);
    tg_config_destroy(&cfg);
    free(yaml);
    s_rmdir(&dir);
}

void
test_keystore_register(void)
{
    CU_pSuite s = CU_add_suite("keystore", NULL, NULL);
    CU_add_test(s, "key and hash", test_key_and_hash);
    CU_add_test(s, "store, find, rotate, revoke", test_store_find_rotate);
    CU_add_test(s, "admin fields", test_apply_fields);
    CU_add_test(s, "allowed models", test_allows);
    CU_add_test(s, "secret", test_secret);
}
