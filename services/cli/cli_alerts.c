//  cli_alerts.c - `tollgate alerts`: subscribes to the alert stream and prints each alert
//  as one JSON line, the way any outside program can (ZeroMQ SUB on endpoints.alert_stream).
#include "cli.h"
#include "tg_frame.h"
#include "tg_util.h"

#include <czmq.h>
#include <jansson.h>
#include <stdio.h>

static void
s_print(const tg_frame_t *f)
{
    const tg_fr_alert_t *a = &f->alert;
    char when[40];
    tg_time_rfc3339(a->ts, when, sizeof when);
    json_t *o =
        json_pack("{ss ss ss ss ss ss*, ss*, ss*, sf sf sf ss}", "topic", f->topic ? f->topic : "",
                  "id", a->id, "ts", when, "severity", a->severity, "kind", a->kind, "scope",
                  a->scope, "period", a->period, "rule", a->rule, "threshold", a->threshold,
                  "value", a->value, "limit", a->limit, "message", a->message);
    cli_print_json(o);
}

int
cli_alerts(const cli_opts_t *opts, const char *severity)
{
    tg_config_t *cfg = tg_config_load(opts->config_path);
    if (!cfg)
        return 2;
    //  The running gateway's stream (as `tollgate up` wrote it in the run dir), else the config's.
    char *ep = opts->endpoint ? tg_strdup(opts->endpoint) : cli_gateway_get(cfg, "alert_stream");
    if (!ep)
        ep = tg_strdup(tg_config_str(cfg, "endpoints.alert_stream"));
    char topic[64];
    snprintf(topic, sizeof topic, "alert.%s", severity ? severity : "");
    int rc = cli_follow(cfg, ep, "alert", "alert stream", topic, TG_FRAME_ALERT, s_print);
    free(ep);
    tg_config_destroy(&cfg);
    return rc;
}
