//  cli_up.c - `tollgate up`: starts the set in the foreground, supervises it, stops it.
#include "cli.h"
#include "cli_up.h"
#include "supervise.h"
#include "tg_log.h"
#include "tg_util.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_TICK_MS 100         //  phase timer period
#define S_PROBE_EVERY_MS 200  //  /readyz poll period while starting
#define S_MOCK_TIMEOUT_MS 10000

//  Services in start order; stop order is by rank (ingest first, router last).
static const struct {
    const char *name;  //  process kind
    int rank;          //  stop rank
} s_services[] = {
    {"router", 5}, {"analytics", 3}, {"alert", 2}, {"worker", 1}, {"ingest", 0},
};
#define S_MOCK_RANK 6

static bool
s_executable(const char *bin_dir, const char *exe)
{
    char *path = tg_strfmt("%s/%s", bin_dir, exe);
    bool ok = access(path, X_OK) == 0;
    if (!ok)
        fprintf(stderr, "tollgate: %s is missing: build the project first (see README.md)\n", path);
    free(path);
    return ok;
}

//  Starts one service process; `-c FILE` is passed on when tollgate got one.
static int
s_start_service(cli_up_t *up, const char *name, const char *kind, int rank)
{
    char *exe = tg_strfmt("%s/tg-%s", up->bin_dir, kind);
    char *argv[4] = {exe, NULL, NULL, NULL};
    if (up->opts->config_path) {
        argv[1] = "-c";
        argv[2] = (char *)up->opts->config_path;
    }
    //  Every ingest accepts on the one socket bound here (see s_listen).
    int rc = strcmp(kind, "ingest") == 0
                 ? supervisor_start_fd(up->sup, name, argv, rank, up->listen_fd)
                 : supervisor_start(up->sup, name, argv, rank);
    free(exe);
    return rc;
}

static int
s_start_services(cli_up_t *up)
{
    for (size_t i = 0; i < sizeof s_services / sizeof s_services[0]; i++) {
        const char *kind = s_services[i].name;
        int copies = !strcmp(kind, "worker")   ? up->opts->workers
                     : !strcmp(kind, "ingest") ? up->opts->ingest
                                               : 1;
        for (int n = 1; n <= copies; n++) {
            char name[32];
            if (!strcmp(kind, "worker") || !strcmp(kind, "ingest"))
                snprintf(name, sizeof name, "%s-%d", kind, n);
            else
                snprintf(name, sizeof name, "%s", kind);
            if (s_start_service(up, name, kind, s_services[i].rank) != TG_OK)
                return TG_ERR;
        }
    }
    up->phase = CLI_UP_STARTING;
    up->deadline_us = tg_mono_us() + CLI_READY_TIMEOUT_MS * 1000LL;
    return TG_OK;
}

static void
s_fail(cli_up_t *up, int rc)
{
    up->rc = rc;
    event_base_loopbreak(up->base);
}

//  Mock phase: waits for the port file, then points the providers at the mock.
static void
s_tick_mock(cli_up_t *up)
{
    int port = cli_mock_port(up);
    if (port <= 0) {
        if (tg_mono_us() > up->deadline_us) {
            fprintf(stderr, "tollgate: the mock provider did not start within %d s\n",
                    S_MOCK_TIMEOUT_MS / 1000);
            s_fail(up, 1);
        }
        return;
    }
    cli_mock_use(up, port);
    if (s_start_services(up) != TG_OK)
        s_fail(up, 1);
}

static void
s_tick_ready(cli_up_t *up)
{
    int64_t now = tg_mono_us();
    if (now < up->next_probe_us)
        return;
    up->next_probe_us = now + S_PROBE_EVERY_MS * 1000LL;
    long status = 0;
    char *body = NULL;
    cli_http_get(up->ready_url, 1000, &status, &body);
    //  Ready, and this gateway's own ingest: not another server that took the port first.
    char want[64];
    snprintf(want, sizeof want, "\"gateway\":\"%s\"", up->gateway_id);
    if (status == 200 && (!body || !strstr(body, want))) {
        fprintf(stderr, "tollgate: %s answered for another gateway: %s\n", up->ready_url,
                body ? body : "");
        free(body);
        s_fail(up, 1);
        return;
    }
    if (status == 200) {
        up->phase = CLI_UP_READY;
        printf("tollgate ready: http://%s:%lld/v1 (admin key %s)\n", cli_http_display_host(up->cfg),
               (long long)tg_config_int(up->cfg, "http.port"), up->key_note);
        if (up->log_path)
            printf("logs: %s\n", up->log_path);
        printf("alert stream: %s (ZeroMQ SUB; topics alert.info, alert.warning, "
               "alert.critical)\n",
               tg_config_str(up->cfg, "endpoints.alert_stream"));
        fflush(stdout);
        tg_log_info("ready pid=%d", (int)getpid());
    } else if (now > up->deadline_us) {
        if (status)
            fprintf(stderr, "tollgate: not ready within %d s (%s answered %ld: %s)\n",
                    CLI_READY_TIMEOUT_MS / 1000, up->ready_url, status, body);
        else
            fprintf(stderr, "tollgate: not ready within %d s (nothing answered at %s)\n",
                    CLI_READY_TIMEOUT_MS / 1000, up->ready_url);
        if (up->log_path)
            fprintf(stderr, "tollgate: the services' logs are in %s\n", up->log_path);
        s_fail(up, 1);
    }
    free(body);
}

static void
s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cli_up_t *up = arg;
    if (up->phase == CLI_UP_MOCK)
        s_tick_mock(up);
    else if (up->phase == CLI_UP_STARTING)
        s_tick_ready(up);
    if (up->phase == CLI_UP_READY)
        event_del(up->tick);
}

static void
s_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    cli_up_t *up = arg;
    if (sig == SIGCHLD) {
        supervisor_reap(up->sup);
        return;
    }
    tg_log_info("%s: stopping", strsignal((int)sig));
    event_base_loopbreak(up->base);
}

//  Takes run_dir/tollgate.pid with an exclusive lock held while tollgate runs.
static int
s_pidfile_take(cli_up_t *up)
{
    up->pid_path = cli_pidfile_path(up->cfg);
    up->pid_fd = open(up->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (up->pid_fd < 0) {
        fprintf(stderr, "tollgate: cannot open %s: %s\n", up->pid_path, strerror(errno));
        return TG_ERR;
    }
    if (flock(up->pid_fd, LOCK_EX | LOCK_NB) != 0) {
        char text[32] = "";
        ssize_t n = pread(up->pid_fd, text, sizeof text - 1, 0);
        text[n > 0 ? n : 0] = 0;
        text[strcspn(text, "\n")] = 0;
        fprintf(stderr, "tollgate: already running for %s (pid %s); `tollgate down` stops it\n",
                tg_config_str(up->cfg, "run_dir"), *text ? text : "?");
        close(up->pid_fd);
        up->pid_fd = -1;
        return TG_ERR;
    }
    char text[32];
    int len = snprintf(text, sizeof text, "%d\n", (int)getpid());
    if (ftruncate(up->pid_fd, 0) != 0 || pwrite(up->pid_fd, text, (size_t)len, 0) != len) {
        fprintf(stderr, "tollgate: cannot write %s: %s\n", up->pid_path, strerror(errno));
        return TG_ERR;
    }
    return TG_OK;
}

static void
s_pidfile_release(cli_up_t *up)
{
    if (up->pid_fd < 0)
        return;
    unlink(up->pid_path);
    close(up->pid_fd);  //  releases the lock last, so `tollgate down` returns after the unlink
    up->pid_fd = -1;
}

//  Binds http.host:http.port once, for every ingest child (handed over as descriptor 3): the
//  ingests of this gateway share it, and no other process can take the port while it runs
//  (no SO_REUSEPORT). TG_OK, or TG_ERR after one clear line on stderr.
static int
s_listen(cli_up_t *up)
{
    const char *host = tg_config_str(up->cfg, "http.host");
    char port[16];
    snprintf(port, sizeof port, "%lld", (long long)tg_config_int(up->cfg, "http.port"));
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
    if (gai != 0 || !ai) {
        fprintf(stderr, "tollgate: cannot resolve http.host %s: %s\n", host, gai_strerror(gai));
        return TG_ERR;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        int err = errno;
        fprintf(stderr, "tollgate: cannot listen on %s:%s: %s%s\n", *host ? host : "*", port,
                strerror(err),
                err == EADDRINUSE ? " (another server has this port: stop it, or set "
                                    "http.port / TOLLGATE_HTTP_PORT)"
                                  : "");
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return TG_ERR;
    }
    freeaddrinfo(ai);
    up->listen_fd = fd;
    return TG_OK;
}

//  This run's gateway id, in the environment of every child, and what `tollgate status`
//  needs to find this gateway from its run dir alone: <run_dir>/gateway, "key=value" lines
//  (id, http, alert_stream, bus_out).
static int
s_gateway_id(cli_up_t *up)
{
    tg_id_fill(up->gateway_id, "gw_", 12);
    setenv("TOLLGATE_GATEWAY_ID", up->gateway_id, 1);
    char *path = tg_strfmt("%s/gateway", tg_config_str(up->cfg, "run_dir"));
    char *base = cli_http_base(up->cfg);
    FILE *f = fopen(path, "w");
    int rc = f
                     && fprintf(f, "id=%s\nhttp=%s\nalert_stream=%s\nbus_out=%s\n", up->gateway_id,
                                base, tg_config_str(up->cfg, "endpoints.alert_stream"),
                                tg_config_str(up->cfg, "endpoints.bus_out"))
                            > 0
                 ? TG_OK
                 : TG_ERR;
    if (f && fclose(f) != 0)
        rc = TG_ERR;
    if (rc != TG_OK)
        fprintf(stderr, "tollgate: cannot write %s: %s\n", path, strerror(errno));
    free(base);
    free(path);
    return rc;
}

//  Everything before the first child starts: config, directories, pid file, key, binaries.
static int
s_prepare(cli_up_t *up)
{
    const tg_config_t *cfg = up->cfg;
    if (tg_config_int(cfg, "http.port") == 0) {
        fprintf(stderr, "tollgate: http.port must be a fixed port for `tollgate up`\n");
        return 2;
    }
    up->bin_dir = cli_bin_dir();
    if (!up->bin_dir) {
        fprintf(stderr, "tollgate: cannot find my own directory: %s\n", strerror(errno));
        return 1;
    }
    up->use_mock = cli_mock_needed(cfg);
    bool ok = !up->use_mock || s_executable(up->bin_dir, "tg-mock");
    for (size_t i = 0; i < sizeof s_services / sizeof s_services[0]; i++) {
        char exe[32];
        snprintf(exe, sizeof exe, "tg-%s", s_services[i].name);
        ok = s_executable(up->bin_dir, exe) && ok;
    }
    if (!ok)
        return 1;
    char *pids = tg_strfmt("%s/pids", tg_config_str(cfg, "run_dir"));
    int rc = cli_mkdirs(tg_config_str(cfg, "run_dir")) == TG_OK
                     && cli_mkdirs(tg_config_str(cfg, "data_dir")) == TG_OK
                     && cli_mkdirs(pids) == TG_OK && s_pidfile_take(up) == TG_OK
                     && s_listen(up) == TG_OK && s_gateway_id(up) == TG_OK
                     && cli_master_key(up) == TG_OK
                 ? 0
                 : 1;
    if (rc == 0)
        up->sup = supervisor_new(up->base, pids);
    if (rc == 0 && !up->opts->verbose) {
        //  The terminal keeps tollgate's own few lines; the services log to a file.
        up->log_path = tg_strfmt("%s/tollgate.log", tg_config_str(cfg, "run_dir"));
        int fd = open(up->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        up->log = fd >= 0 ? fdopen(fd, "a") : NULL;
        if (!up->log) {
            fprintf(stderr, "tollgate: cannot open %s: %s\n", up->log_path, strerror(errno));
            rc = 1;
        } else {
            supervisor_set_stderr(up->sup, fd);
            tg_log_to(up->log);
        }
    }
    free(pids);
    return rc;
}

//  Every child is gone and this run dir is ours (flock on tollgate.pid): the ipc socket
//  files left in it are stale, and per-pid inbox names would pile up across restarts.
static void
s_remove_sockets(cli_up_t *up)
{
    char *pattern = tg_strfmt("%s/*.ipc", tg_config_str(up->cfg, "run_dir"));
    glob_t g;
    if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            unlink(g.gl_pathv[i]);
        globfree(&g);
    }
    free(pattern);
}

static void
s_run(cli_up_t *up)
{
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};
    struct event *events[4];
    for (size_t i = 0; i < 4; i++) {
        events[i] = evsignal_new(up->base, sigs[i], s_on_signal, up);
        event_add(events[i], NULL);
    }
    up->tick = event_new(up->base, -1, EV_PERSIST, s_on_tick, up);
    struct timeval tick = {0, S_TICK_MS * 1000};
    event_add(up->tick, &tick);
    char *base = cli_http_base(up->cfg);
    up->ready_url = tg_strfmt("%s/readyz", base);
    free(base);
    printf("tollgate %s: starting router, analytics, alert, %d worker(s), %d ingest; run dir %s\n",
           TOLLGATE_VERSION, up->opts->workers, up->opts->ingest,
           tg_config_str(up->cfg, "run_dir"));
    fflush(stdout);
    int rc = TG_OK;
    if (up->use_mock) {
        up->phase = CLI_UP_MOCK;
        up->deadline_us = tg_mono_us() + S_MOCK_TIMEOUT_MS * 1000LL;
        rc = cli_mock_start(up, S_MOCK_RANK);
    } else
        rc = s_start_services(up);
    if (rc == TG_OK)
        event_base_dispatch(up->base);
    else
        up->rc = 1;
    printf("tollgate: stopping\n");
    fflush(stdout);
    if (supervisor_stop(up->sup, CLI_STOP_TIMEOUT_MS) != TG_OK && up->rc == 0)
        up->rc = 1;
    else
        s_remove_sockets(up);
    event_free(up->tick);
    for (size_t i = 0; i < 4; i++)
        event_free(events[i]);
}

int
cli_up(const cli_opts_t *opts)
{
    cli_up_t up = {.opts = opts, .pid_fd = -1, .listen_fd = -1};
    up.cfg = tg_config_load(opts->config_path);
    if (!up.cfg)
        return 2;
    tg_log_init("tollgate", tg_config_str(up.cfg, "log.level"));
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0) {
        fprintf(stderr, "tollgate: libsodium failed to initialise\n");
        tg_config_destroy(&up.cfg);
        return 1;
    }
    up.base = event_base_new();
    up.rc = s_prepare(&up);
    if (up.rc == 0)
        s_run(&up);
    if (up.listen_fd >= 0)
        close(up.listen_fd);
    s_pidfile_release(&up);
    if (up.rc == 0)
        printf("tollgate stopped\n");
    supervisor_destroy(&up.sup);
    tg_log_to(NULL);
    if (up.log)
        fclose(up.log);
    free(up.log_path);
    event_base_free(up.base);
    free(up.ready_url);
    free(up.key_note);
    free(up.mock_port_path);
    free(up.pid_path);
    free(up.bin_dir);
    tg_config_destroy(&up.cfg);
    return up.rc;
}
