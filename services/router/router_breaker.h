//  router_breaker.h - circuit breaker of one upstream target (spec P3): closed, open,
//  half-open. Pure: time is passed in (monotonic µs), nothing is read or sent here.
#ifndef ROUTER_BREAKER_H
#define ROUTER_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    ROUTER_BREAKER_CLOSED,
    ROUTER_BREAKER_OPEN,
    ROUTER_BREAKER_HALF_OPEN,
} router_breaker_state_t;

//  Embedded in a target; set every field with router_breaker_init.
typedef struct {
    int failure_threshold;         //  consecutive failures that open it (0 = never opens)
    int success_threshold;         //  half-open successes that close it
    int probes_max;                //  half_open_max_attempts: calls let through half-open
    int64_t timeout_us;            //  open -> half-open after this long
    router_breaker_state_t state;  //  where it stands
    int failures;                  //  consecutive failures (closed)
    int successes;                 //  successes since half-open
    int probes;                    //  calls let through since half-open
    int64_t opened_us;             //  when it last opened
    int64_t probe_us;              //  when the last half-open probe went
    uint64_t opens;                //  transitions to open so far
    uint64_t closes;               //  transitions from half-open to closed so far
} router_breaker_t;

//  Sets the thresholds and a closed state. failure_threshold 0 disables the breaker.
void router_breaker_init(router_breaker_t *self,
                         int failure_threshold,
                         int success_threshold,
                         int probes_max,
                         int64_t timeout_us);
//  The state at `now`: an open breaker whose timeout passed reads half-open (and becomes it).
router_breaker_state_t router_breaker_state(router_breaker_t *self, int64_t now);
//  True if a call may go at `now` (closed, or half-open with a probe left); a half-open
//  breaker counts the call as one of its probes.
bool router_breaker_take(router_breaker_t *self, int64_t now);
//  True if router_breaker_take would say yes at `now`, counting nothing.
bool router_breaker_allows(router_breaker_t *self, int64_t now);
//  Records the outcome of a call that went. Returns the state after it.
router_breaker_state_t router_breaker_record(router_breaker_t *self, bool ok, int64_t now);
//  Monotonic µs when an open breaker turns half-open (0 when not open).
int64_t router_breaker_retry_at(const router_breaker_t *self);
//  "closed" | "open" | "half_open".
const char *router_breaker_name(router_breaker_state_t state);

#endif
