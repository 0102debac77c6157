//  fuzz_metrics.c - the metrics aggregator on any bytes as a STATS body (msgpack snapshot):
//  put it, render the sum, and put the same bytes again as a second source.
#include <stdint.h>
#include <stdlib.h>

#include "tg_log.h"
#include "tg_metrics_agg.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_log_level = TG_LOG_ERROR;
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    if (tg_metrics_agg_put(agg, "a", data, size, 1) == 0) {
        tg_metrics_agg_put(agg, "b", data, size, 1);
        char *text = tg_metrics_agg_render(agg);
        free(text);
    }
    tg_metrics_agg_destroy(&agg);
    return 0;
}
