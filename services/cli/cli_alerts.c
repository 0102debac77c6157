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
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line) {
        puts(line);
        fflush(stdout);
    }
    free(line);
    json_decref(o);
}

int
cli_alerts(const cli_opts_t *opts, const char *severity)
{
    tg_config_t *cfg = tg_config_load(opts->config_path);
    if (!cfg)
        return 2;
    const char *ep = opts->endpoint ? opts->endpoint : tg_config_str(cfg, "endpoints.alert_stream");
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub || zsock_connect(sub, "%s", ep) != 0) {
        fprintf(stderr, "tollgate: cannot connect to the alert stream %s\n", ep);
        zsock_destroy(&sub);
        tg_config_destroy(&cfg);
        return 1;
    }
    char topic[64];
    snprintf(topic, sizeof topic, "alert.%s", severity ? severity : "");
    zsock_set_subscribe(sub, topic);
    fprintf(stderr, "tollgate: listening for %s* on %s (Ctrl-C to stop)\n", topic, ep);
    zpoller_t *poller = zpoller_new(sub, NULL);
    while (!zsys_interrupted) {
        if (!zpoller_wait(poller, 500))
            continue;
        tg_frame_t *f = NULL;
        while (tg_frame_recv(sub, &f) == TG_OK) {
            if (f->type == TG_FRAME_ALERT)
                s_print(f);
            tg_frame_destroy(&f);
        }
    }
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    tg_config_destroy(&cfg);
    return 0;
}
