//  tests/unit/main.c - runs every CUnit suite, or those named with -t NAME.
#include <CUnit/Basic.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "tg_suites.h"

int
main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            only = argv[++i];
    if (sodium_init() < 0)
        return 2;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    int added = 0;
    for (int i = 0; s_suites[i].name; i++)
        if (!only || strcmp(only, s_suites[i].name) == 0) {
            s_suites[i].fn();
            added++;
        }
    if (!added) {
        fprintf(stderr, "no suite named %s\n", only ? only : "(none)");
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failures || run == 0) ? 1 : 0;
}
