//  fuzz_mq.c - the metrics query parser: the first byte picks the form (GET /api/v1/metrics
//  query string, the summary's query string, or the JSON body of POST /api/v1/metrics/query),
//  the rest is the input. Every outcome must be TG_OK or a 400 naming a field.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_mq.h"
#include "tg_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int form = data[0] % 3;
    char *in = malloc(size);
    memcpy(in, data + 1, size - 1);
    in[size - 1] = 0;
    const int64_t now = 1795600000000000LL;  //  2026-11-25
    analytics_mq_t q;
    const char *field = NULL;
    char *msg = NULL;
    int rc = form == 2
                 ? analytics_mq_parse_json(in, size - 1, now, &q, &field, &msg)
                 : analytics_mq_parse_args(form ? MQ_SUMMARY : MQ_LIST, in, now, &q, &field, &msg);
    if (rc != TG_OK && (!field || !msg))
        abort();  //  a 400 must name its field and say why
    if (rc == TG_OK && q.kind != MQ_SUMMARY
        && (q.ncols == 0 || q.start_us >= q.end_us || q.ngroup > ANALYTICS_MQ_MAX_GROUP))
        abort();
    free(msg);
    analytics_mq_fini(&q);
    free(in);
    return 0;
}
