//  test_keys.c - tg_keys: master key from config, file, generation, races, comparison.
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tg_config.h"
#include "tg_keys.h"
#include "tg_util.h"

static char s_dir[64];

static tg_config_t *
s_config(const char *extra)
{
    char *yaml =
        tg_strfmt("data_dir: %s/data\nrun_dir: %s/run\n%s", s_dir, s_dir, extra ? extra : "");
    tg_config_t *cfg = tg_config_load_string(yaml);
    free(yaml);
    return cfg;
}

static void
s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static int
s_setup(void)
{
    unsetenv("TOLLGATE_MASTER_KEY");
    unsetenv("TOLLGATE_DATA_DIR");
    unsetenv("TOLLGATE_RUN_DIR");
    snprintf(s_dir, sizeof s_dir, "/tmp/tg-keys-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int
s_teardown(void)
{
    char *cmd = tg_strfmt("rm -rf '%s'", s_dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static void
test_configured(void)
{
    tg_config_t *cfg = s_config("master_key: sk-configured\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    bool generated = true;
    char *key = tg_master_key_resolve(cfg, &generated);
    CU_ASSERT_STRING_EQUAL(key, "sk-configured");
    CU_ASSERT_FALSE(generated);
    free(key);
    tg_config_destroy(&cfg);
}

static void
test_generate_then_read(void)
{
    tg_config_t *cfg = s_config(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    bool generated = false;
    char *key = tg_master_key_resolve(cfg, &generated);
    CU_ASSERT_PTR_NOT_NULL_FATAL(key);
    CU_ASSERT_TRUE(generated);
    CU_ASSERT_EQUAL(strlen(key), 51);
    CU_ASSERT_NSTRING_EQUAL(key, "tg-", 3);
    char *path = tg_master_key_path(cfg);
    struct stat st;
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    char *again = tg_master_key_resolve(cfg, &generated);
    CU_ASSERT_FALSE(generated);
    CU_ASSERT_STRING_EQUAL(again, key);
    free(again);
    free(key);

    s_write(path, "  \n");  //  garbage: refused, not replaced
    CU_ASSERT_PTR_NULL(tg_master_key_resolve(cfg, NULL));
    s_write(path, "sk-from-file\r\n");
    key = tg_master_key_resolve(cfg, NULL);
    CU_ASSERT_STRING_EQUAL(key, "sk-from-file");
    free(key);
    unlink(path);
    free(path);
    tg_config_destroy(&cfg);
}

static void
test_race(void)
{
    //  Several processes resolve at once: all end up with the same key, one generated it.
    tg_config_t *cfg = s_config(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    char *path = tg_master_key_path(cfg);
    unlink(path);
    enum { N = 6 };
    int fds[N][2];
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL_FATAL(pipe(fds[i]), 0);
        pids[i] = fork();
        if (pids[i] == 0) {
            bool gen = false;
            char *k = tg_master_key_resolve(cfg, &gen);
            char line[128];
            int n = snprintf(line, sizeof line, "%d %s", gen ? 1 : 0, k ? k : "-");
            if (write(fds[i][1], line, (size_t)n) != n)
                _exit(1);
            _exit(0);
        }
        close(fds[i][1]);
    }
    int generated = 0;
    char first[128] = "";
    for (int i = 0; i < N; i++) {
        char line[128] = "";
        ssize_t n = read(fds[i][0], line, sizeof line - 1);
        CU_ASSERT(n > 2);
        close(fds[i][0]);
        waitpid(pids[i], NULL, 0);
        generated += line[0] == '1';
        if (!*first)
            snprintf(first, sizeof first, "%s", line + 2);
        CU_ASSERT_STRING_EQUAL(line + 2, first);
    }
    CU_ASSERT_EQUAL(generated, 1);
    CU_ASSERT_NSTRING_EQUAL(first, "tg-", 3);
    free(path);
    tg_config_destroy(&cfg);
}

static void
test_equal(void)
{
    CU_ASSERT_TRUE(tg_key_equal("tg-abc", "tg-abc"));
    CU_ASSERT_FALSE(tg_key_equal("tg-abc", "tg-abd"));
    CU_ASSERT_FALSE(tg_key_equal("tg-abc", "tg-ab"));
    CU_ASSERT_FALSE(tg_key_equal("tg-abc", "tg-abcd"));
    CU_ASSERT_FALSE(tg_key_equal("", ""));
    CU_ASSERT_FALSE(tg_key_equal(NULL, "x"));
    CU_ASSERT_FALSE(tg_key_equal("x", NULL));
}

void
test_keys_register(void)
{
    CU_pSuite s = CU_add_suite("keys", s_setup, s_teardown);
    CU_add_test(s, "configured key wins", test_configured);
    CU_add_test(s, "generated once, then read", test_generate_then_read);
    CU_add_test(s, "concurrent first start", test_race);
    CU_add_test(s, "constant-time comparison", test_equal);
}
