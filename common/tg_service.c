//  tg_service.c - shared service start-up.
#include "tg_service.h"

#include <sys/resource.h>
#include "tg_curve.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <errno.h>
#include <glob.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define S_SWEEP_MIN_AGE_S 10  //  younger socket files may belong to a peer still starting

//  True when the Unix socket file at `path` has no listener: connect() is refused.
static bool
s_socket_dead(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return false;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool dead = connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno == ECONNREFUSED;
    close(fd);
    return dead;
}

//  Ingest and worker inboxes are named <proc>-<host>-<pid>.ipc: in containers sharing one run
//  dir every new container (a restart after `down`, a scale-up) adds one. Removes the files of
//  this kind that nothing listens on any more and that are older than S_SWEEP_MIN_AGE_S.
static void
s_sweep_inboxes(const tg_config_t *cfg, const char *proc)
{
    if (strcmp(proc, "ingest") != 0 && strcmp(proc, "worker") != 0)
        return;
    char *pattern = tg_strfmt("%s/%s-*.ipc", tg_config_str(cfg, "run_dir"), proc);
    glob_t g;
    size_t removed = 0;
    if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
        time_t now = time(NULL);
        for (size_t i = 0; i < g.gl_pathc; i++) {
            struct stat st;
            const char *path = g.gl_pathv[i];
            if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)
                || now - st.st_mtime < S_SWEEP_MIN_AGE_S || !s_socket_dead(path))
                continue;
            if (unlink(path) == 0)
                removed++;
        }
        globfree(&g);
    }
    if (removed)
        tg_log_info("removed %zu stale %s inbox socket(s) from %s", removed, proc,
                    tg_config_str(cfg, "run_dir"));
    free(pattern);
}

tg_config_t *
tg_service_start(int argc, char **argv, const char *proc, bool czmq_signals)
{
    tg_config_t *cfg = tg_config_load(tg_config_path_arg(argc, argv));
    if (!cfg)
        return NULL;
    if (sodium_init() < 0) {
        fprintf(stderr, "tollgate: %s: libsodium failed to initialise\n", proc);
        tg_config_destroy(&cfg);
        return NULL;
    }
    if (tg_config_ensure_dirs(cfg) != TG_OK) {
        tg_config_destroy(&cfg);
        return NULL;
    }
    tg_log_init(proc, tg_config_str(cfg, "log.level"));
    s_sweep_inboxes(cfg, proc);
    if (!czmq_signals)
        zsys_handler_set(NULL);
    zsys_init();
    if (tg_curve_start(cfg, proc) != TG_OK) {
        tg_config_destroy(&cfg);
        return NULL;
    }
    return cfg;
}

void
tg_service_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}
