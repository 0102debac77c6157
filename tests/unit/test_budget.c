//  test_budget.c - tg_budget: thresholds per period, the overage forecast and its guards.
#include <CUnit/CUnit.h>
#include <math.h>
#include <string.h>

#include "tg_budget.h"
#include "tg_utc.h"
#include "tg_util.h"

static void
test_levels(void)
{
    size_t n;
    const tg_budget_level_t *m = tg_budget_levels(TG_BUDGET_MONTHLY, &n);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_DOUBLE_EQUAL(m[0].fraction, 0.5, 1e-12);
    CU_ASSERT_STRING_EQUAL(m[0].severity, "info");
    CU_ASSERT_STRING_EQUAL(m[1].severity, "info");
    CU_ASSERT_STRING_EQUAL(m[2].severity, "warning");
    CU_ASSERT_STRING_EQUAL(m[3].severity, "critical");
    const tg_budget_level_t *d = tg_budget_levels(TG_BUDGET_DAILY, &n);
    CU_ASSERT_EQUAL(n, 3);  //  50 % is for monthly budgets only (spec L1)
    CU_ASSERT_DOUBLE_EQUAL(d[0].fraction, 0.75, 1e-12);
    CU_ASSERT_STRING_EQUAL(d[2].severity, "critical");
}

static void
test_crossed(void)
{
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, 4.99, 10), 0);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, 5.0, 10), 0x1);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, 7.5, 10), 0x3);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, 9.0, 10), 0x7);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, 10.0, 10), 0xf);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, 250.0, 10), 0xf);
    //  A sum of 6-decimal costs lands on the threshold despite binary rounding.
    double s = 0;
    for (int i = 0; i < 3; i++)
        s += 0.1;
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, s, 0.4), 0x3);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, 0.299998, 0.4), 0x1);
    //  Daily: bit 0 is the 75 % level.
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_DAILY, 5.0, 10), 0);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_DAILY, 7.5, 10), 0x1);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_DAILY, 9.5, 10), 0x3);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_DAILY, 10.0, 10), 0x7);
    //  No budget, bad numbers.
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, 100, 0), 0);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, 100, -1), 0);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, NAN, 10), 0);
    CU_ASSERT_EQUAL(tg_budget_crossed(TG_BUDGET_MONTHLY, 1, NAN), 0);
}

static void
test_overage(void)
{
    int64_t nov1;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse_month("2026-11", &nov1), TG_OK);
    double p = -1;
    //  10 days into a 30-day month, $40 spent against $100: forecast $120.
    int64_t t = nov1 + 10 * TG_UTC_DAY_US;
    CU_ASSERT_TRUE(tg_budget_overage(40, 100, t, &p));
    CU_ASSERT_DOUBLE_EQUAL(p, 120, 1e-9);
    //  $30 spent: forecast $90, no overage.
    CU_ASSERT_FALSE(tg_budget_overage(30, 100, t, &p));
    CU_ASSERT_DOUBLE_EQUAL(p, 90, 1e-9);
    //  Exactly on budget is not over it.
    CU_ASSERT_FALSE(tg_budget_overage(100.0 / 3, 100, t, &p));
    //  Less than one full day elapsed: silent, whatever the forecast says.
    CU_ASSERT_FALSE(tg_budget_overage(50, 100, nov1 + TG_UTC_DAY_US / 2, &p));
    CU_ASSERT_DOUBLE_EQUAL(p, 3000, 1e-6);
    //  Less than 10 % of the budget spent: silent.
    CU_ASSERT_FALSE(tg_budget_overage(9.99, 10000, nov1 + 2 * TG_UTC_DAY_US, &p));
    CU_ASSERT_TRUE(tg_budget_overage(10.0, 50, nov1 + 2 * TG_UTC_DAY_US, &p));
    CU_ASSERT_DOUBLE_EQUAL(p, 150, 1e-9);
    //  No budget.
    CU_ASSERT_FALSE(tg_budget_overage(1000, 0, t, NULL));
    //  February 2028 has 29 days.
    int64_t feb;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse_month("2028-02", &feb), TG_OK);
    CU_ASSERT_TRUE(tg_budget_overage(10, 20, feb + 10 * TG_UTC_DAY_US, &p));
    CU_ASSERT_DOUBLE_EQUAL(p, 29, 1e-9);
    //  First minute of a month: no forecast.
    p = -1;
    CU_ASSERT_FALSE(tg_budget_overage(10, 20, feb + 1000, &p));
    CU_ASSERT_DOUBLE_EQUAL(p, -1, 1e-12);
}

void
test_budget_register(void)
{
    CU_pSuite s = CU_add_suite("budget", NULL, NULL);
    CU_add_test(s, "levels", test_levels);
    CU_add_test(s, "crossed", test_crossed);
    CU_add_test(s, "overage", test_overage);
}
