//  tg_backoff.c - exponential retry backoff with full jitter.
#include "tg_backoff.h"

int64_t
tg_backoff_delay_us(int attempt, int64_t base_us, int64_t cap_us, uint32_t rnd)
{
    if (base_us <= 0 || cap_us <= 0)
        return 0;
    if (attempt < 0)
        attempt = 0;
    int64_t step = base_us < cap_us ? base_us : cap_us;
    for (int i = 0; i < attempt && step < cap_us; i++)
        step = step > cap_us / 2 ? cap_us : step * 2;  //  doubling without overflow
    //  rnd / UINT32_MAX is uniform in [0, 1]; a double holds any step up to 2^53 µs exactly.
    int64_t d = (int64_t)((double)step * ((double)rnd / (double)UINT32_MAX));
    return d < step ? d : step;
}
