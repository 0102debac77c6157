//  test_tmpdir.h - scratch directories for the unit suites that need files (LMDB stores).
#ifndef TEST_TMPDIR_H
#define TEST_TMPDIR_H

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>

#include "tg_util.h"

//  A new empty directory /tmp/tg-test-<name>-XXXXXX (owned by the caller: test_rmdir).
static inline char *
test_tmpdir(const char *name)
{
    char tmpl[96];
    snprintf(tmpl, sizeof tmpl, "/tmp/tg-test-%s-XXXXXX", name);
    char *d = mkdtemp(tmpl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    return tg_strdup(d);
}

//  Removes the directory and everything in it, and frees the path.
static inline void
test_rmdir(char **dir_p)
{
    char *cmd = tg_strfmt("rm -rf '%s'", *dir_p);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(cmd);
    tg_freep(dir_p);
}

#endif
