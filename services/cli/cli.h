//  cli.h - the `tollgate` command line: its commands and the helpers they share.
#ifndef CLI_H
#define CLI_H

#include "tg_config.h"
#include "tg_frame.h"

#include <jansson.h>

#include <stdbool.h>

typedef struct {
    const char *config_path;  //  -c FILE, or NULL (then $TOLLGATE_CONFIG, or defaults)
    int workers;              //  --workers N: provider-worker processes (>= 1)
    int ingest;               //  --ingest N: ingest processes sharing the port (>= 1)
    bool verbose;             //  -v: service logs on the terminal instead of run/tollgate.log
    const char *endpoint;     //  alerts --endpoint: alert stream to follow (NULL = the config's)
} cli_opts_t;

//  How long `up` waits for /readyz to answer 200 before it gives up.
#define CLI_READY_TIMEOUT_MS 30000
//  How long the children get to stop after SIGTERM before SIGKILL.
#define CLI_STOP_TIMEOUT_MS 15000

//  `tollgate up`: runs the whole set in the foreground until SIGINT/SIGTERM. Exit code:
//  0 after a clean stop, 1 on failure (logged), 2 for a bad config.
int cli_up(const cli_opts_t *opts);
//  `tollgate down`: SIGTERM to the `tollgate up` of this run dir; waits until it is gone.
int cli_down(const cli_opts_t *opts);
//  `tollgate status`: prints /readyz. Exit code 0 ready, 1 not ready, 3 not reachable.
int cli_status(const cli_opts_t *opts);

//  `tollgate alerts [SEVERITY]`: subscribes to the alert stream (all severities, or one) and
//  prints each alert as a JSON line until SIGINT/SIGTERM. 0 on a clean stop, 1/2 on errors.
int cli_alerts(const cli_opts_t *opts, const char *severity);
//  `tollgate breakers`: subscribes to the bus (endpoints.bus_out, topic "breaker") and
//  prints each circuit breaker transition as a JSON line until Ctrl-C. 0 on Ctrl-C.
int cli_breakers(const cli_opts_t *opts);

//  `tollgate certs [--dir DIR] [--client NAME]... [--revoke NAME]... [-c FILE]`: makes the
//  missing CURVE certificates (see cli_certs.c for the layout). 0, 1 on a write error, 2 on
//  bad arguments.
int cli_certs(int argc, char **argv);
//  `tollgate health KIND`: waits up to 3 stats intervals (2 s at least) for the bus heartbeat
//  of a KIND process on this host whose pid is alive and that says it is ready. 0 ready (its
//  instance id printed), 1 not heard or not ready (said on stderr), 2 for a bad config.
int cli_health(const cli_opts_t *opts, const char *kind);

//  The directory of the running executable (from /proc/self/exe). Caller frees; NULL on error.
char *cli_bin_dir(void);
//  Creates `path` and its missing parents (mkdir -p). TG_OK or TG_ERR (printed).
int cli_mkdirs(const char *path);
//  "http://host:port" to reach the HTTP API from this host (a wildcard host becomes
//  127.0.0.1). Caller frees.
char *cli_http_base(const tg_config_t *cfg);
//  The host to show users in URLs ("localhost" for a wildcard). Borrowed from cfg or static.
const char *cli_http_display_host(const tg_config_t *cfg);
//  GETs `url` within `timeout_ms`. TG_OK with *status_p and *body_p (caller frees, capped at
//  64 KiB) when a response came; TG_ERR when nothing answered (*status_p = 0, *body_p NULL).
int cli_http_get(const char *url, long timeout_ms, long *status_p, char **body_p);
//  Path of the pid file of `tollgate up` in the config's run dir. Caller frees.
char *cli_pidfile_path(const tg_config_t *cfg);
//  The value of `name` in <run_dir>/gateway, which `tollgate up` writes for the other commands
//  (id, http, alert_stream, bus_out), or NULL (no such file or line). Caller frees.
char *cli_gateway_get(const tg_config_t *cfg, const char *name);
//  Prints one JSON object as a line on stdout (flushed) and frees it. NULL-safe.
void cli_print_json(json_t *obj);
//  Subscribes to `topic` at endpoint `ep` (what names it in messages) and calls print for
//  each frame of `type` until Ctrl-C; over CURVE (as a client of server `role`) when curve.dir
//  is set. 0, or 1 when it cannot connect (said on stderr).
int cli_follow(const tg_config_t *cfg,
               const char *ep,
               const char *role,
               const char *what,
               const char *topic,
               tg_frame_type_t type,
               void (*print)(const tg_frame_t *f));

#endif
