//  tg_budget.h - budget alert thresholds (spec L1) and the month-end overage prediction.
#ifndef TG_BUDGET_H
#define TG_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TG_BUDGET_DAILY,    //  a budget per UTC day
    TG_BUDGET_MONTHLY,  //  a budget per UTC month
} tg_budget_period_t;

typedef struct {
    double fraction;       //  share of the budget: 0.5, 0.75, 0.9, 1.0
    const char *severity;  //  "info" | "warning" | "critical"
} tg_budget_level_t;

//  Spend at which the overage prediction may speak: below it a month's first hours would
//  extrapolate noise. Both must hold: one full day of the month elapsed, 10 % spent.
#define TG_BUDGET_PREDICT_MIN_DAYS 1.0
#define TG_BUDGET_PREDICT_MIN_SHARE 0.10

//  The thresholds of a period, ascending (monthly: 50 75 90 100 %; daily: 75 90 100 %);
//  count in *n_p. Static storage.
const tg_budget_level_t *tg_budget_levels(tg_budget_period_t period, size_t *n_p);
//  Bit i set when spend has reached level i of tg_budget_levels(period) for `limit` (a
//  level is reached at spend >= fraction * limit, within half a micro-dollar). 0 when
//  limit <= 0 (no budget) or spend is not a number.
unsigned tg_budget_crossed(tg_budget_period_t period, double spend, double limit);
//  Month-end forecast at now_us: month_usd / elapsed days × days in the month. True when it
//  exceeds limit (> 0) and the forecast may speak (TG_BUDGET_PREDICT_MIN_*); the forecast
//  goes to *predicted_p (may be NULL) whenever at least a minute of the month has elapsed.
bool tg_budget_overage(double month_usd, double limit, int64_t now_us, double *predicted_p);

#endif
