//  worker_policy.h - the pure parts of the worker's retry policy: Retry-After parsing, the
//  per-provider retry budget, deadlines. No I/O and no clock: the time is passed in.
#ifndef WORKER_POLICY_H
#define WORKER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WORKER_BUDGET_WINDOW_S 10  //  the retry budget looks at the calls of the last 10 s

//  A provider's retry budget: retries in the last WORKER_BUDGET_WINDOW_S seconds may be at
//  most max(min_per_s * window, percent % of the calls started in that window).
typedef struct worker_budget worker_budget_t;

//  Parses a Retry-After header value: delta-seconds ("120") or an HTTP-date (IMF-fixdate,
//  RFC 850 or asctime form) seen at epoch second now_s. Returns the wait in µs (0 for a date
//  in the past), or -1 when the value is absent, empty or malformed.
int64_t worker_policy_retry_after_us(const char *value, int64_t now_s);

//  A budget allowing `percent` % retries over the window and at least `min_per_s` a second.
worker_budget_t *worker_budget_new(int percent, int min_per_s);
//  Frees the budget; *self_p = NULL. NULL-safe.
void worker_budget_destroy(worker_budget_t **self_p);
//  Counts one call (a first attempt) started at monotonic µs now_us.
void worker_budget_call(worker_budget_t *self, int64_t now_us);
//  True, and the retry is counted, if one more retry fits the budget at now_us.
bool worker_budget_take(worker_budget_t *self, int64_t now_us);
//  Retries the budget allows in the window ending at now_us (for logs and tests).
uint64_t worker_budget_allowed(const worker_budget_t *self, int64_t now_us);

//  The monotonic µs of a call's deadline: deadline_ms after the request entered the gateway
//  at epoch µs t0_us, given the clocks' current values. 0 when deadline_ms is 0 (none).
int64_t worker_policy_deadline_mono(int64_t t0_us,
                                    uint64_t deadline_ms,
                                    int64_t now_epoch_us,
                                    int64_t now_mono_us);

//  Characters of the first JSON string member "content" or "text" in one SSE event's data
//  (an OpenAI delta or an Anthropic text_delta), an escape counting as one; 0 when none.
//  Cheap (no parse): it feeds the usage estimate of a stream cut before its usage chunk.
uint64_t worker_policy_content_chars(const char *data, size_t len);

#endif
