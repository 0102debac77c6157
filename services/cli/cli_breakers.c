//  cli_breakers.c - `tollgate breakers`: subscribes to the bus and prints each circuit
//  breaker transition (BREAKER, topic "breaker.<state>") as one JSON line.
#include "cli.h"
#include "tg_frame.h"
#include "tg_util.h"

#include <czmq.h>
#include <jansson.h>
#include <stdio.h>

static void
s_print(const tg_frame_t *f)
{
    const tg_fr_breaker_t *b = &f->breaker;
    char when[40], retry[40] = "";
    tg_time_rfc3339(b->ts, when, sizeof when);
    if (b->retry_at)
        tg_time_rfc3339(b->retry_at, retry, sizeof retry);
    json_t *o =
        json_pack("{ss ss ss ss ss sI}", "ts", when, "provider", b->provider, "model", b->model,
                  "from", b->from, "to", b->to, "failures", (json_int_t)b->failures);
    if (o && *retry)
        json_object_set_new(o, "half_open_at", json_string(retry));
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line) {
        puts(line);
        fflush(stdout);
    }
    free(line);
    json_decref(o);
}

int
cli_breakers(const cli_opts_t *opts)
{
    tg_config_t *cfg = tg_config_load(opts->config_path);
    if (!cfg)
        return 2;
    const char *ep = tg_config_str(cfg, "endpoints.bus_out");
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub || zsock_connect(sub, "%s", ep) != 0) {
        fprintf(stderr, "tollgate: cannot connect to the bus %s\n", ep);
        zsock_destroy(&sub);
        tg_config_destroy(&cfg);
        return 1;
    }
    zsock_set_subscribe(sub, "breaker");
    fprintf(stderr, "tollgate: listening for breaker transitions on %s (Ctrl-C to stop)\n", ep);
    zpoller_t *poller = zpoller_new(sub, NULL);
    while (!zsys_interrupted) {
        if (!zpoller_wait(poller, 500))
            continue;
        tg_frame_t *f = NULL;
        while (tg_frame_recv(sub, &f) == TG_OK) {
            if (f->type == TG_FRAME_BREAKER)
                s_print(f);
            tg_frame_destroy(&f);
        }
    }
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    tg_config_destroy(&cfg);
    return 0;
}
