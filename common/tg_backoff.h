//  tg_backoff.h - exponential retry backoff with full jitter; pure arithmetic, no clock.
#ifndef TG_BACKOFF_H
#define TG_BACKOFF_H

#include <stdint.h>

//  Delay before retry number `attempt` (0 = the first retry): the exponential step
//  d = min(cap_us, base_us * 2^attempt), jittered ("full jitter", as in AWS's backoff
//  article and gRPC) uniformly into [0, d] by `rnd` (any 32-bit random value; the caller
//  draws it). 0 when base_us <= 0 or cap_us <= 0; never above cap_us. Whether a Retry-After
//  header replaces it is the caller's decision.
int64_t tg_backoff_delay_us(int attempt, int64_t base_us, int64_t cap_us, uint32_t rnd);

#endif
