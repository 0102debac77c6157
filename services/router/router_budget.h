//  router_budget.h - budgets in USD per key, project and organization, per UTC day and
//  month (spec K2). Before a call goes out its worst cost is reserved on every budget it
//  falls under (prompt estimate + max_tokens at the model's price); when the worker reports
//  it finished, the reservation is replaced by the real cost. A call is refused when any
//  budget's spend + reservations + its own reservation would pass the budget, so calls in
//  flight together can never overspend (as long as a call costs no more than its
//  reservation: the prompt is estimated at characters / 4).
#ifndef ROUTER_BUDGET_H
#define ROUTER_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_frame.h"
#include "tg_keystore.h"
#include "tg_pricing.h"

typedef struct router_budget router_budget_t;

//  Money is counted in pico-USD (1e-12): prices per 1M tokens with up to 6 decimals make
//  whole pico-dollars per token, so reservations and settlements add up exactly.
#define ROUTER_BUDGET_PUSD 1000000000000.0

//  Loads the org/project budgets and the spend so far from `store` (borrowed; NULL: none,
//  nothing kept). `default_max_tokens` is reserved for calls that give no max_tokens.
router_budget_t *router_budget_new(tg_keystore_t *store, uint64_t default_max_tokens);
//  Writes the spend back; *self_p = NULL. NULL-safe.
void router_budget_destroy(router_budget_t **self_p);
//  The worst cost of a call in pico-USD: ptok input + out output tokens at `price`.
int64_t router_budget_estimate(const tg_price_t *price, uint64_t ptok, uint64_t out);
//  Checks a virtual key's call against its budgets (rq->kbd/kbm, its project's and its
//  organization's) at now_us and reserves its worst cost: TG_OK (reserved, or nothing to
//  do); TG_AGAIN with *msg_p naming the budget (caller frees) and *retry_s_p (until the
//  period ends).
int router_budget_admit(router_budget_t *self,
                        const tg_fr_request_t *rq,
                        const tg_price_t *price,
                        int64_t now_us,
                        char **msg_p,
                        uint64_t *retry_s_p);
//  Drops call `id`'s reservation without cost (answered without an upstream call).
void router_budget_release(router_budget_t *self, const char *id, int64_t now_us);
//  LOAD body lines "<id> <completion tokens> <prompt tokens>": each call's reservation is
//  replaced by its real cost.
void router_budget_settle(router_budget_t *self, const char *body, size_t len, int64_t now_us);
//  Releases reservations whose call never reported (after 15 minutes) and writes the spend
//  that changed to the store.
void router_budget_tick(router_budget_t *self, int64_t now_us);
//  /v1/budgets...: true when `q` is one (*status_p, *body_p set; body owned by the caller).
bool router_budget_query(router_budget_t *self,
                         const tg_fr_query_t *q,
                         const char *body,
                         size_t len,
                         int64_t now_us,
                         int *status_p,
                         char **body_p);

#endif
