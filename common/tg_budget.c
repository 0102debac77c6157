//  tg_budget.c - which budget thresholds a spend has reached; month-end forecast.
#include "tg_budget.h"
#include "tg_utc.h"

#include <math.h>

static const tg_budget_level_t s_monthly[] = {
    {0.50, "info"},
    {0.75, "info"},
    {0.90, "warning"},
    {1.00, "critical"},
};
static const tg_budget_level_t s_daily[] = {
    {0.75, "info"},
    {0.90, "warning"},
    {1.00, "critical"},
};

const tg_budget_level_t *
tg_budget_levels(tg_budget_period_t period, size_t *n_p)
{
    if (period == TG_BUDGET_MONTHLY) {
        *n_p = sizeof s_monthly / sizeof s_monthly[0];
        return s_monthly;
    }
    *n_p = sizeof s_daily / sizeof s_daily[0];
    return s_daily;
}

unsigned
tg_budget_crossed(tg_budget_period_t period, double spend, double limit)
{
    if (!(limit > 0) || isnan(spend))
        return 0;
    size_t n;
    const tg_budget_level_t *levels = tg_budget_levels(period, &n);
    unsigned mask = 0;
    for (size_t i = 0; i < n; i++)
        if (spend + 5e-7 >= levels[i].fraction * limit)
            mask |= 1u << i;
    return mask;
}

bool
tg_budget_overage(double month_usd, double limit, int64_t now_us, double *predicted_p)
{
    double elapsed_days = (double)(now_us - tg_utc_month_start(now_us)) / (double)TG_UTC_DAY_US;
    if (elapsed_days < 1.0 / 1440)
        return false;  //  the first minute: no forecast at all
    double predicted = month_usd / elapsed_days * tg_utc_days_in_month(now_us);
    if (predicted_p)
        *predicted_p = predicted;
    if (!(limit > 0) || isnan(month_usd))
        return false;
    if (elapsed_days < TG_BUDGET_PREDICT_MIN_DAYS
        || month_usd < TG_BUDGET_PREDICT_MIN_SHARE * limit)
        return false;
    return predicted > limit + 5e-7;
}
