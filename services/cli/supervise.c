//  supervise.c - child processes: fork/exec, reap, restart with backoff, ordered stop.
#include "supervise.h"
#include "tg_log.h"
#include "tg_util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    supervisor_t *owner;    //  back pointer for the restart timer
    char *name;             //  "router", "worker-1", "mock" ...
    char **argv;            //  NULL-terminated; argv[0] is the absolute executable path
    int rank;               //  stop order: lower ranks are stopped first
    pid_t pid;              //  running process, 0 when none
    int64_t started_us;     //  monotonic time of the last start
    int64_t backoff_ms;     //  delay before the next restart
    unsigned restarts;      //  restarts so far
    struct event *restart;  //  pending restart timer
    int pass_fd;            //  descriptor handed to the child as fd 3 (-1: none)
} s_child_t;

struct supervisor {
    struct event_base *base;  //  borrowed loop for restart timers
    char *pids_dir;           //  where <name>.pid files go
    s_child_t **children;     //  every child ever started
    size_t nchildren;         //  entries in children
    bool stopping;            //  no restarts once the stop began
    int stderr_fd;            //  children's stderr (-1: ours)
};

static char **
s_argv_copy(char *const argv[])
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **copy = tg_zalloc((n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        copy[i] = tg_strdup(argv[i]);
    return copy;
}

static void
s_argv_free(char ***argv_p)
{
    if (!*argv_p)
        return;
    for (char **a = *argv_p; *a; a++)
        free(*a);
    free(*argv_p);
    *argv_p = NULL;
}

static s_child_t *
s_find(const supervisor_t *self, const char *name)
{
    for (size_t i = 0; i < self->nchildren; i++)
        if (strcmp(self->children[i]->name, name) == 0)
            return self->children[i];
    return NULL;
}

static s_child_t *
s_find_pid(const supervisor_t *self, pid_t pid)
{
    for (size_t i = 0; i < self->nchildren; i++)
        if (self->children[i]->pid == pid)
            return self->children[i];
    return NULL;
}

//  Writes the pid file through a rename, so that a reader never sees half of it.
static void
s_pidfile_write(const supervisor_t *self, const s_child_t *child)
{
    char *path = tg_strfmt("%s/%s.pid", self->pids_dir, child->name);
    char *tmp = tg_strfmt("%s.tmp", path);
    bool ok = false;
    FILE *f = fopen(tmp, "w");
    if (f) {
        bool written = fprintf(f, "%d\n", (int)child->pid) > 0;
        ok = fclose(f) == 0 && written && rename(tmp, path) == 0;
    }
    if (!ok) {
        tg_log_warn("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(path);
}

static void
s_pidfile_remove(const supervisor_t *self, const s_child_t *child)
{
    char *path = tg_strfmt("%s/%s.pid", self->pids_dir, child->name);
    unlink(path);
    free(path);
}

extern char **environ;

//  Runs in the forked child: only async-signal-safe calls until execv. With pass_fd >= 0 the
//  child gets it as descriptor SUPERVISOR_PASS_FD (without close-on-exec) and envp says so.
static void
s_exec_child(char **argv, pid_t parent, int pass_fd, char **envp, int stderr_fd)
{
    //  Own process group: a terminal's Ctrl-C reaches only tollgate, which stops the
    //  children in order. If tollgate itself dies, the kernel sends SIGTERM.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    //  tollgate's stdout is for its own messages; whatever a child prints goes with its logs.
    if (stderr_fd >= 0)
        dup2(stderr_fd, STDERR_FILENO);
    dup2(STDERR_FILENO, STDOUT_FILENO);
    if (getppid() != parent)
        _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    if (pass_fd >= 0) {
        if (pass_fd == SUPERVISOR_PASS_FD)
            fcntl(pass_fd, F_SETFD, 0);
        else if (dup2(pass_fd, SUPERVISOR_PASS_FD) < 0)
            _exit(126);
        execve(argv[0], argv, envp);
    } else
        execv(argv[0], argv);
    static const char msg[] = "tollgate: cannot execute a service binary\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
        _exit(127);
    _exit(127);
}

static int
s_spawn(supervisor_t *self, s_child_t *child)
{
    pid_t parent = getpid();
    //  The environment for a child given a descriptor, built before fork (no malloc after).
    char **envp = NULL;
    char fd_var[48];
    if (child->pass_fd >= 0) {
        size_t n = 0;
        while (environ[n])
            n++;
        envp = tg_zalloc((n + 2) * sizeof *envp);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (strncmp(environ[i], SUPERVISOR_PASS_ENV "=", strlen(SUPERVISOR_PASS_ENV) + 1))
                envp[k++] = environ[i];
        snprintf(fd_var, sizeof fd_var, "%s=%d", SUPERVISOR_PASS_ENV, SUPERVISOR_PASS_FD);
        envp[k] = fd_var;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        tg_log_error("cannot start %s: fork: %s", child->name, strerror(errno));
        free(envp);
        return TG_ERR;
    }
    if (pid == 0)
        s_exec_child(child->argv, parent, child->pass_fd, envp, self->stderr_fd);
    free(envp);
    child->pid = pid;
    child->started_us = tg_mono_us();
    s_pidfile_write(self, child);
    if (child->restarts)
        tg_log_info("started %s pid=%d restart=%u", child->name, (int)pid, child->restarts);
    else
        tg_log_info("started %s pid=%d", child->name, (int)pid);
    return TG_OK;
}

static void s_on_restart(evutil_socket_t fd, short what, void *arg);

//  Arms the restart timer with the current backoff, then doubles the backoff (capped).
static void
s_schedule_restart(s_child_t *child)
{
    struct timeval tv = {child->backoff_ms / 1000, (child->backoff_ms % 1000) * 1000};
    evtimer_add(child->restart, &tv);
    child->backoff_ms =
        child->backoff_ms * 2 > CLI_BACKOFF_MAX_MS ? CLI_BACKOFF_MAX_MS : child->backoff_ms * 2;
}

static void
s_on_restart(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_child_t *child = arg;
    if (child->owner->stopping || child->pid)
        return;
    child->restarts++;
    if (s_spawn(child->owner, child) != TG_OK)
        s_schedule_restart(child);  //  fork failed: a resource problem, try again later
}

supervisor_t *
supervisor_new(struct event_base *base, const char *pids_dir)
{
    assert(base);
    assert(pids_dir);
    supervisor_t *self = tg_zalloc(sizeof *self);
    self->base = base;
    self->pids_dir = tg_strdup(pids_dir);
    self->stderr_fd = -1;
    return self;
}

void
supervisor_set_stderr(supervisor_t *self, int fd)
{
    self->stderr_fd = fd;
}

void
supervisor_destroy(supervisor_t **self_p)
{
    assert(self_p);
    supervisor_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nchildren; i++) {
        s_child_t *child = self->children[i];
        event_free(child->restart);
        s_argv_free(&child->argv);
        free(child->name);
        free(child);
    }
    free(self->children);
    free(self->pids_dir);
    free(self);
    *self_p = NULL;
}

int
supervisor_start(supervisor_t *self, const char *name, char *const argv[], int rank)
{
    return supervisor_start_fd(self, name, argv, rank, -1);
}

int
supervisor_start_fd(supervisor_t *self, const char *name, char *const argv[], int rank, int fd)
{
    assert(self);
    assert(name && argv && argv[0]);
    assert(!s_find(self, name));
    s_child_t *child = tg_zalloc(sizeof *child);
    child->owner = self;
    child->name = tg_strdup(name);
    child->argv = s_argv_copy(argv);
    child->rank = rank;
    child->backoff_ms = CLI_BACKOFF_MIN_MS;
    child->restart = evtimer_new(self->base, s_on_restart, child);
    child->pass_fd = fd;
    self->children = tg_realloc(self->children, (self->nchildren + 1) * sizeof(s_child_t *));
    self->children[self->nchildren++] = child;
    return s_spawn(self, child);
}

int
supervisor_set_argv(supervisor_t *self, const char *name, char *const argv[])
{
    assert(self);
    assert(argv && argv[0]);
    s_child_t *child = s_find(self, name);
    if (!child)
        return TG_NOTFOUND;
    s_argv_free(&child->argv);
    child->argv = s_argv_copy(argv);
    return TG_OK;
}

pid_t
supervisor_pid(const supervisor_t *self, const char *name)
{
    const s_child_t *child = s_find(self, name);
    return child ? child->pid : 0;
}

//  "exited with status 3", "killed by signal 9 (Killed)".
static void
s_describe(int status, char *out, size_t size)
{
    if (WIFEXITED(status))
        snprintf(out, size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, size, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(out, size, "ended with wait status %#x", (unsigned)status);
}

void
supervisor_reap(supervisor_t *self)
{
    assert(self);
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        s_child_t *child = s_find_pid(self, pid);
        if (!child)
            continue;  //  not ours (cannot happen: we start every child)
        char how[96];
        s_describe(status, how, sizeof how);
        int64_t up_ms = (tg_mono_us() - child->started_us) / 1000;
        child->pid = 0;
        s_pidfile_remove(self, child);
        if (self->stopping) {
            tg_log_info("%s pid=%d %s", child->name, (int)pid, how);
            continue;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
            //  Status 2: the service refused its configuration (said why on its own line);
            //  a restart would say the same again, forever.
            tg_log_error("%s pid=%d exited with status 2: it refused its configuration (see "
                         "its line above); not restarting it",
                         child->name, (int)pid);
            continue;
        }
        if (up_ms >= CLI_BACKOFF_RESET_MS)
            child->backoff_ms = CLI_BACKOFF_MIN_MS;
        tg_log_warn("%s pid=%d %s after %.1f s; restarting in %lld ms", child->name, (int)pid, how,
                    up_ms / 1000.0, (long long)child->backoff_ms);
        s_schedule_restart(child);
    }
}

//  Waits for the children of `rank` (or all children if rank < 0) until `deadline_us`
//  (monotonic). Returns the number still running. `clean` is cleared by any unclean exit.
static size_t
s_wait_rank(supervisor_t *self, int rank, int64_t deadline_us, bool *clean)
{
    for (;;) {
        size_t running = 0;
        for (size_t i = 0; i < self->nchildren; i++) {
            s_child_t *child = self->children[i];
            if (!child->pid || (rank >= 0 && child->rank != rank))
                continue;
            int status;
            pid_t r = waitpid(child->pid, &status, WNOHANG);
            if (r == 0) {
                running++;
                continue;
            }
            if (r == child->pid) {
                char how[96];
                s_describe(status, how, sizeof how);
                if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                    tg_log_info("%s pid=%d stopped", child->name, (int)child->pid);
                else {
                    tg_log_error("%s pid=%d did not stop cleanly: %s", child->name, (int)child->pid,
                                 how);
                    *clean = false;
                }
            }
            s_pidfile_remove(self, child);
            child->pid = 0;
        }
        if (running == 0 || tg_mono_us() >= deadline_us)
            return running;
        struct timespec ts = {0, 10 * 1000 * 1000};  //  poll the children every 10 ms
        nanosleep(&ts, NULL);
    }
}

int
supervisor_stop(supervisor_t *self, int64_t timeout_ms)
{
    assert(self);
    self->stopping = true;
    for (size_t i = 0; i < self->nchildren; i++)
        evtimer_del(self->children[i]->restart);
    bool clean = true;
    int rank = -1;
    for (;;) {
        //  Next rank up with a running child.
        int next = -1;
        for (size_t i = 0; i < self->nchildren; i++) {
            s_child_t *child = self->children[i];
            if (child->pid && child->rank > rank && (next < 0 || child->rank < next))
                next = child->rank;
        }
        if (next < 0)
            break;
        rank = next;
        for (size_t i = 0; i < self->nchildren; i++)
            if (self->children[i]->pid && self->children[i]->rank == rank)
                kill(self->children[i]->pid, SIGTERM);
        //  Each stage gets the whole timeout: a slow drain upstream (ingest, workers) must not
        //  eat the time analytics needs to commit its last batch.
        int64_t deadline = tg_mono_us() + timeout_ms * 1000;
        if (s_wait_rank(self, rank, deadline, &clean) > 0)
            break;  //  out of time: what is left gets SIGKILL below
    }
    for (size_t i = 0; i < self->nchildren; i++) {
        s_child_t *child = self->children[i];
        if (!child->pid)
            continue;
        tg_log_error("%s pid=%d did not stop within %lld ms: SIGKILL", child->name, (int)child->pid,
                     (long long)timeout_ms);
        kill(child->pid, SIGKILL);
        waitpid(child->pid, NULL, 0);
        s_pidfile_remove(self, child);
        child->pid = 0;
        clean = false;
    }
    return clean ? TG_OK : TG_ERR;
}
