//  cli_health.c - `tollgate health KIND`: the healthcheck of one service process. Every
//  process publishes a STATS heartbeat on the bus each stats.interval_ms, with its instance id
//  "<kind>-<host name>-<pid>-<random>" and whether it serves. This command subscribes to the
//  bus and waits for the heartbeat of a KIND process of this host (in a container: the
//  container's own process) whose pid is alive here and that says it is ready.
#include "cli.h"
#include "tg_frame.h"
#include "tg_util.h"

#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  The pid in `inst` after `prefix` ("<kind>-<host>-"), or -1 when it does not match.
static long
s_local_pid(const char *inst, const char *prefix)
{
    size_t n = strlen(prefix);
    if (!inst || strncmp(inst, prefix, n) != 0)
        return -1;
    char *end = NULL;
    errno = 0;
    long pid = strtol(inst + n, &end, 10);
    if (errno || end == inst + n || *end != '-' || pid <= 0)
        return -1;
    return pid;
}

int
cli_health(const cli_opts_t *opts, const char *kind)
{
    tg_config_t *cfg = tg_config_load(opts->config_path);
    if (!cfg)
        return 2;
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !*host)
        snprintf(host, sizeof host, "local");
    char *prefix = tg_strfmt("%s-%s-", kind, host);
    const char *ep = tg_config_str(cfg, "endpoints.bus_out");
    //  Three heartbeats' time, and at least two seconds for the subscription to settle.
    int64_t wait_ms = 3 * tg_config_int(cfg, "stats.interval_ms");
    if (wait_ms < 2000)
        wait_ms = 2000;
    int rc = 1;
    bool heard = false;
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub || zsock_connect(sub, "%s", ep) != 0) {
        fprintf(stderr, "tollgate: cannot connect to the bus %s\n", ep);
        goto done;
    }
    zsock_set_subscribe(sub, "sta");
    zpoller_t *poller = zpoller_new(sub, NULL);
    int64_t deadline = tg_mono_us() + wait_ms * 1000;
    while (rc != 0 && !zsys_interrupted) {
        int64_t left_ms = (deadline - tg_mono_us()) / 1000;
        if (left_ms <= 0 || !zpoller_wait(poller, (int)left_ms))
            break;
        tg_frame_t *f = NULL;
        while (rc != 0 && tg_frame_recv(sub, &f) == TG_OK) {
            long pid = f->type == TG_FRAME_STATS && !strcmp(f->stats.proc, kind)
                           ? s_local_pid(f->stats.inst, prefix)
                           : -1;
            if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
                heard = true;
                if (f->stats.ready) {
                    printf("%s ready\n", f->stats.inst);
                    rc = 0;
                }
            }
            tg_frame_destroy(&f);
        }
    }
    zpoller_destroy(&poller);
    if (rc != 0)
        fprintf(stderr,
                heard ? "tollgate: %s on %s is alive but not ready (draining)\n"
                      : "tollgate: no heartbeat from a %s process of %s on the bus %s within "
                        "%lld ms\n",
                kind, host, ep, (long long)wait_ms);
done:
    zsock_destroy(&sub);
    free(prefix);
    tg_config_destroy(&cfg);
    return rc;
}
