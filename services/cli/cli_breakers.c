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
    cli_print_json(o);
}

int
cli_breakers(const cli_opts_t *opts)
{
    tg_config_t *cfg = tg_config_load(opts->config_path);
    if (!cfg)
        return 2;
    char *ep = cli_gateway_get(cfg, "bus_out");  //  the running gateway's, else the config's
    if (!ep)
        ep = tg_strdup(tg_config_str(cfg, "endpoints.bus_out"));
    int rc = cli_follow(cfg, ep, "router", "bus", "breaker", TG_FRAME_BREAKER, s_print);
    free(ep);
    tg_config_destroy(&cfg);
    return rc;
}
