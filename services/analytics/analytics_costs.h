//  analytics_costs.h - GET /v1/costs, /v1/costs/history and /v1/costs/prediction (spec A6).
#ifndef ANALYTICS_COSTS_H
#define ANALYTICS_COSTS_H

#include <stddef.h>
#include <stdint.h>

#include "analytics_store.h"
#include "tg_frame.h"

//  End-of-month prediction (formula in docs/api.md, /v1/costs/prediction).
typedef struct {
    double daily_avg_micro;  //  current / max(days_elapsed, 1)
    double predicted_micro;  //  current + daily_avg * days_remaining
    double confidence;       //  (1 - e^(-n / 7)) / (1 + cv), 0..1
    double cv;               //  coefficient of variation of the complete days' costs
    size_t days_of_data;     //  n: complete days, from the first one with requests
} analytics_prediction_t;

//  Predicts the month's end from the month-to-date cost, the costs of the complete days of
//  the month so far (days[0] = the 1st; days without data before the first with data are not
//  counted), the days elapsed and remaining (fractional). Pure.
analytics_prediction_t analytics_costs_predict(int64_t current_micro,
                                               const int64_t *days_micro,
                                               const uint64_t *days_requests,
                                               size_t ndays,
                                               double days_elapsed,
                                               double days_remaining);
//  The REPLY for a /v1/costs* query `q` (borrowed) at now_us: 200, 400 naming the bad
//  parameter, 500 when the store failed. Caller owns the frame.
tg_frame_t *
analytics_costs_answer(analytics_store_t *store, const tg_fr_query_t *q, int64_t now_us);

#endif
