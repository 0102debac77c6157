//  test_log.c - tg_log: one line per event, level gating, the process name.
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tg_log.h"

//  Runs fn with stderr sent to a temp file; returns what it wrote (caller frees).
static char *
s_capture(void (*fn)(void))
{
    char path[] = "/tmp/tg-test-log-XXXXXX";
    int fd = mkstemp(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *out = calloc(1, 4096);
    ssize_t n = pread(fd, out, 4095, 0);
    (void)n;
    close(fd);
    unlink(path);
    return out;
}

static void
s_emit(void)
{
    tg_log_init("unit", "warn");
    tg_log_info("hidden info");
    tg_log_warn("shown warning\nwith a newline");
    tg_log_error("shown error code=%d", 7);
    tg_log_init("tollgate", "info");
}

static void
test_levels(void)
{
    char *out = s_capture(s_emit);
    CU_ASSERT_PTR_NULL(strstr(out, "hidden info"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " unit W shown warning with a newline"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " unit E shown error code=7"));
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    CU_ASSERT_EQUAL(lines, 2);                  //  one line per event, the newline folded
    CU_ASSERT_EQUAL(strncmp(out, "20", 2), 0);  //  starts with the RFC 3339 time
    free(out);
    CU_ASSERT_EQUAL(tg_log_level, TG_LOG_INFO);
}

void
test_log_register(void)
{
    CU_pSuite s = CU_add_suite("log", NULL, NULL);
    CU_add_test(s, "levels and lines", test_levels);
}
