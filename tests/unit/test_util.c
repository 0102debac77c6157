//  test_util.c - tg_util: buffers, ids, strings.
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "tg_util.h"

static void
test_buf_cap(void)
{
    tg_buf_t b;
    tg_buf_init(&b, 8);
    CU_ASSERT_EQUAL(tg_buf_puts(&b, "abcd"), TG_OK);
    CU_ASSERT_EQUAL(tg_buf_puts(&b, "efgh"), TG_OK);
    CU_ASSERT_EQUAL(tg_buf_puts(&b, "i"), TG_INVALID);
    CU_ASSERT_EQUAL(b.len, 8);
    CU_ASSERT_STRING_EQUAL(b.data, "abcdefgh");
    tg_buf_consume(&b, 3);
    CU_ASSERT_STRING_EQUAL(b.data, "defgh");
    size_t n;
    char *s = tg_buf_take(&b, &n);
    CU_ASSERT_EQUAL(n, 5);
    CU_ASSERT_PTR_NULL(b.data);
    free(s);
    tg_buf_fini(&b);
}

static void
test_buf_printf_large(void)
{
    tg_buf_t b;
    tg_buf_init(&b, 1 << 20);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CU_ASSERT_EQUAL(tg_buf_printf(&b, "<%s>", big), TG_OK);
    CU_ASSERT_EQUAL(b.len, sizeof big + 1);
    tg_buf_fini(&b);
}

static void
test_ids(void)
{
    char a[40], b[40];
    tg_id_fill(a, "req_", 12);
    tg_id_fill(b, "req_", 12);
    CU_ASSERT_EQUAL(strlen(a), 28);
    CU_ASSERT_NSTRING_EQUAL(a, "req_", 4);
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    char *s = tg_strfmt("%s-%d", "x", 7);
    CU_ASSERT_STRING_EQUAL(s, "x-7");
    tg_freep(&s);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_STRING_EQUAL(tg_rc_str(TG_INVALID), "invalid");
}

void
test_util_register(void)
{
    CU_pSuite s = CU_add_suite("util", NULL, NULL);
    CU_add_test(s, "buffer cap", test_buf_cap);
    CU_add_test(s, "buffer printf large", test_buf_printf_large);
    CU_add_test(s, "ids and strings", test_ids);
}
