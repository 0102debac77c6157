//  cli_ctl.c - `tollgate down` and `tollgate status`: talk to a running `tollgate up`.
#include "cli.h"
#include "tg_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

//  True while some process holds the pid file's lock (`tollgate up` holds it while it runs).
static bool
s_locked(int fd)
{
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);
        return false;
    }
    return errno == EWOULDBLOCK;
}

int
cli_down(const cli_opts_t *opts)
{
    tg_config_t *cfg = tg_config_load(opts->config_path);
    if (!cfg)
        return 2;
    char *path = cli_pidfile_path(cfg);
    tg_config_destroy(&cfg);
    int rc = 1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !s_locked(fd)) {
        printf("tollgate is not running (%s %s)\n", path, fd < 0 ? "does not exist" : "is stale");
        goto done;
    }
    char text[32] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    char *end = NULL;
    long pid = n > 0 ? strtol(text, &end, 10) : 0;
    if (pid <= 1 || end == text) {
        fprintf(stderr, "tollgate: %s does not hold a pid\n", path);
        goto done;
    }
    if (kill((pid_t)pid, SIGTERM) != 0) {
        fprintf(stderr, "tollgate: cannot signal pid %ld: %s\n", pid, strerror(errno));
        goto done;
    }
    printf("stopping tollgate (pid %ld)...\n", pid);
    fflush(stdout);
    //  The lock goes when the process does, after its children have stopped.
    int64_t deadline = tg_mono_us() + (6 * CLI_STOP_TIMEOUT_MS + 10000) * 1000LL;
    while (s_locked(fd) && tg_mono_us() < deadline) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (s_locked(fd))
        fprintf(stderr, "tollgate: pid %ld is still running\n", pid);
    else {
        printf("tollgate stopped\n");
        rc = 0;
    }
done:
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

int
cli_status(const cli_opts_t *opts)
{
    tg_config_t *cfg = tg_config_load(opts->config_path);
    if (!cfg)
        return 2;
    //  What `tollgate up` wrote for this run dir: its id and where it listens.
    char want[64] = "";
    char *id = cli_gateway_get(cfg, "id");
    if (id)
        snprintf(want, sizeof want, "\"gateway\":\"%.40s\"", id);
    free(id);
    char *base = cli_gateway_get(cfg, "http");
    if (!base)
        base = cli_http_base(cfg);
    char *url = tg_strfmt("%s/readyz", base);
    tg_config_destroy(&cfg);
    long status = 0;
    char *body = NULL;
    int rc;
    if (cli_http_get(url, 3000, &status, &body) != TG_OK) {
        printf("tollgate is not reachable at %s\n", url);
        rc = 3;
    } else if (*want && body && strstr(body, "\"gateway\"") && !strstr(body, want)) {
        printf("another gateway answers at %s: %s\n", url, body);
        rc = 1;
    } else {
        size_t len = strlen(body);
        printf("%s%s", body, len && body[len - 1] == '\n' ? "" : "\n");
        rc = status == 200 ? 0 : 1;
    }
    free(body);
    free(url);
    free(base);
    return rc;
}
