//  test_utc.c - tg_utc: UTC days and months, strict time parsing.
#include <CUnit/CUnit.h>
#include <string.h>

#include "tg_utc.h"
#include "tg_util.h"

static void
test_periods(void)
{
    //  2026-11-25T14:30:00.5Z
    int64_t t = 1795617000LL * 1000000 + 500000;
    char day[TG_UTC_DAY_LEN], month[TG_UTC_MONTH_LEN];
    tg_utc_day(t, day);
    tg_utc_month(t, month);
    CU_ASSERT_STRING_EQUAL(day, "2026-11-25");
    CU_ASSERT_STRING_EQUAL(month, "2026-11");
    CU_ASSERT_EQUAL(tg_utc_day_start(t), 1795564800LL * 1000000);
    CU_ASSERT_EQUAL(tg_utc_month_start(t), 1793491200LL * 1000000);
    CU_ASSERT_EQUAL(tg_utc_days_in_month(t), 30);
    //  The last µs of a day belongs to it; the next starts the next day.
    int64_t end = 1795651200LL * 1000000;
    tg_utc_day(end - 1, day);
    CU_ASSERT_STRING_EQUAL(day, "2026-11-25");
    tg_utc_day(end, day);
    CU_ASSERT_STRING_EQUAL(day, "2026-11-26");
    //  Before 1970 rounds down, not toward zero.
    CU_ASSERT_EQUAL(tg_utc_day_start(-1), -TG_UTC_DAY_US);
    int64_t m;
    CU_ASSERT_EQUAL(tg_utc_parse_month("2024-02", &m), TG_OK);
    CU_ASSERT_EQUAL(tg_utc_days_in_month(m), 29);
    CU_ASSERT_EQUAL(tg_utc_parse_month("2100-02", &m), TG_OK);
    CU_ASSERT_EQUAL(tg_utc_days_in_month(m), 28);
    CU_ASSERT_EQUAL(tg_utc_parse_month("2026-13", &m), TG_INVALID);
    CU_ASSERT_EQUAL(tg_utc_parse_month("2026-1", &m), TG_INVALID);
    CU_ASSERT_EQUAL(tg_utc_parse_month("2026-11-01", &m), TG_INVALID);
}

static void
test_parse(void)
{
    int64_t t;
    CU_ASSERT_EQUAL(tg_utc_parse("2026-11-25T14:30:00Z", &t), TG_OK);
    CU_ASSERT_EQUAL(t, 1795617000LL * 1000000);
    CU_ASSERT_EQUAL(tg_utc_parse("2026-11-25t14:30:00.25z", &t), TG_OK);
    CU_ASSERT_EQUAL(t, 1795617000LL * 1000000 + 250000);
    CU_ASSERT_EQUAL(tg_utc_parse("2026-11-25T15:30:00+01:00", &t), TG_OK);
    CU_ASSERT_EQUAL(t, 1795617000LL * 1000000);
    CU_ASSERT_EQUAL(tg_utc_parse("2026-11-25T09:00:00.123456789-05:30", &t), TG_OK);
    CU_ASSERT_EQUAL(t, 1795617000LL * 1000000 + 123456);
    CU_ASSERT_EQUAL(tg_utc_parse("2026-11-25", &t), TG_OK);
    CU_ASSERT_EQUAL(t, 1795564800LL * 1000000);
    CU_ASSERT_EQUAL(tg_utc_parse("1795617000", &t), TG_OK);
    CU_ASSERT_EQUAL(t, 1795617000LL * 1000000);
    CU_ASSERT_EQUAL(tg_utc_parse("1795617000.5", &t), TG_OK);
    CU_ASSERT_EQUAL(t, 1795617000LL * 1000000 + 500000);
    CU_ASSERT_EQUAL(tg_utc_parse("0", &t), TG_OK);
    CU_ASSERT_EQUAL(t, 0);
    const char *bad[] = {"",
                         "now",
                         "-5",
                         "1795617000x",
                         "1795617000.",
                         "99999999999999",
                         "2026-11-25T14:30:00",
                         "2026-11-25T14:30Z",
                         "2026-11-31",
                         "2026-02-29",
                         "2026-11-25T24:00:00Z",
                         "2026-11-25T14:30:00+1:00",
                         "2026-11-25T14:30:00Zjunk",
                         "2026-11-25T14:30:00.Z",
                         "1969-12-31",
                         "+2026-11-25",
                         " 2026-11-25",
                         "2026-11-25T"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = 42;
        CU_ASSERT_EQUAL(tg_utc_parse(bad[i], &t), TG_INVALID);
        CU_ASSERT_EQUAL(t, 42);
    }
    CU_ASSERT_EQUAL(tg_utc_parse(NULL, &t), TG_INVALID);
    CU_ASSERT_EQUAL(tg_utc_parse("2024-02-29", &t), TG_OK);
}

void
test_utc_register(void)
{
    CU_pSuite s = CU_add_suite("utc", NULL, NULL);
    CU_add_test(s, "periods", test_periods);
    CU_add_test(s, "parse", test_parse);
}
