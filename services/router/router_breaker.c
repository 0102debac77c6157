//  router_breaker.c - circuit breaker state machine (spec P3).
#include "router_breaker.h"

#include <assert.h>
#include <string.h>

void
router_breaker_init(router_breaker_t *self,
                    int failure_threshold,
                    int success_threshold,
                    int probes_max,
                    int64_t timeout_us)
{
    assert(self);
    memset(self, 0, sizeof *self);
    self->failure_threshold = failure_threshold > 0 ? failure_threshold : 0;
    self->success_threshold = success_threshold > 0 ? success_threshold : 1;
    self->probes_max = probes_max >= self->success_threshold ? probes_max : self->success_threshold;
    self->timeout_us = timeout_us > 0 ? timeout_us : 1;
    self->state = ROUTER_BREAKER_CLOSED;
}

router_breaker_state_t
router_breaker_state(router_breaker_t *self, int64_t now)
{
    if (self->state == ROUTER_BREAKER_OPEN && now >= self->opened_us + self->timeout_us) {
        self->state = ROUTER_BREAKER_HALF_OPEN;
        self->successes = self->probes = 0;
    }
    return self->state;
}

bool
router_breaker_allows(router_breaker_t *self, int64_t now)
{
    switch (router_breaker_state(self, now)) {
    case ROUTER_BREAKER_CLOSED:
        return true;
    case ROUTER_BREAKER_HALF_OPEN:
        //  Probes whose outcome never came (their client left) are given up after a timeout.
        if (self->probes >= self->probes_max && now - self->probe_us >= self->timeout_us)
            self->probes = self->successes;
        return self->probes < self->probes_max;
    default:
        return false;
    }
}

bool
router_breaker_take(router_breaker_t *self, int64_t now)
{
    if (!router_breaker_allows(self, now))
        return false;
    if (self->state == ROUTER_BREAKER_HALF_OPEN) {
        self->probes++;
        self->probe_us = now;
    }
    return true;
}

static void
s_open(router_breaker_t *self, int64_t now)
{
    self->state = ROUTER_BREAKER_OPEN;
    self->opened_us = now;
    self->opens++;
    self->successes = self->probes = 0;
}

router_breaker_state_t
router_breaker_record(router_breaker_t *self, bool ok, int64_t now)
{
    if (!self->failure_threshold)
        return self->state;
    switch (router_breaker_state(self, now)) {
    case ROUTER_BREAKER_CLOSED:
        if (ok)
            self->failures = 0;
        else if (++self->failures >= self->failure_threshold)
            s_open(self, now);
        break;
    case ROUTER_BREAKER_HALF_OPEN:
        if (!ok)
            s_open(self, now);
        else if (++self->successes >= self->success_threshold) {
            self->state = ROUTER_BREAKER_CLOSED;
            self->failures = self->successes = self->probes = 0;
            self->closes++;
        }
        break;
    case ROUTER_BREAKER_OPEN:
        break;  //  a late outcome of a call sent before it opened: the timeout stands
    }
    return self->state;
}

int64_t
router_breaker_retry_at(const router_breaker_t *self)
{
    return self->state == ROUTER_BREAKER_OPEN ? self->opened_us + self->timeout_us : 0;
}

const char *
router_breaker_name(router_breaker_state_t state)
{
    return state == ROUTER_BREAKER_OPEN        ? "open"
           : state == ROUTER_BREAKER_HALF_OPEN ? "half_open"
                                               : "closed";
}
