//  supervise.h - starts child processes, restarts the ones that die, stops them in order.
#ifndef CLI_SUPERVISE_H
#define CLI_SUPERVISE_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct supervisor supervisor_t;

//  Restart backoff: the first restart waits CLI_BACKOFF_MIN_MS, each next one twice as long up
//  to CLI_BACKOFF_MAX_MS; a child that stayed up CLI_BACKOFF_RESET_MS starts again from the min.
#define CLI_BACKOFF_MIN_MS 200
#define CLI_BACKOFF_MAX_MS 10000
#define CLI_BACKOFF_RESET_MS 30000

//  A supervisor whose restart timers run on `base` (borrowed; it must outlive the supervisor).
//  Each running child's pid is kept in `<pids_dir>/<name>.pid`.
supervisor_t *supervisor_new(struct event_base *base, const char *pids_dir);
//  Children started from now on write their stderr (and stdout) to `fd` (kept open by the
//  caller) instead of ours; -1: ours.
void supervisor_set_stderr(supervisor_t *self, int fd);
//  Forgets the children (stop them first with supervisor_stop); *self_p = NULL. NULL-safe.
void supervisor_destroy(supervisor_t **self_p);
//  Starts child `name` running argv[0] (an absolute path) with argv (copied, NULL-terminated).
//  Children with a lower `rank` are stopped first. TG_OK, or TG_ERR if fork failed (logged).
int supervisor_start(supervisor_t *self, const char *name, char *const argv[], int rank);
//  Descriptor number and variable by which supervisor_start_fd hands a descriptor over.
#define SUPERVISOR_PASS_FD 3
#define SUPERVISOR_PASS_ENV "TOLLGATE_LISTEN_FD"
//  As supervisor_start, and the child (each restart too) gets descriptor `fd` (kept open by
//  the caller) as SUPERVISOR_PASS_FD, with SUPERVISOR_PASS_ENV=3 in its environment.
int supervisor_start_fd(supervisor_t *self, const char *name, char *const argv[], int rank, int fd);
//  Replaces the argv used the next time `name` is restarted (copied). TG_NOTFOUND if no such child.
int supervisor_set_argv(supervisor_t *self, const char *name, char *const argv[]);
//  The pid of child `name`, or 0 when it is not running (or unknown).
pid_t supervisor_pid(const supervisor_t *self, const char *name);
//  Collects every exited child, logs how it ended and schedules its restart (not for exit
//  status 2: a refused configuration, which a restart would not change). Call on SIGCHLD.
void supervisor_reap(supervisor_t *self);
//  Stops every child: SIGTERM by ascending rank, each rank waited for before the next, all
//  within `timeout_ms`; then SIGKILL for what is left. Blocks. TG_OK if every child exited
//  with status 0 after its SIGTERM, TG_ERR otherwise (each failure logged).
int supervisor_stop(supervisor_t *self, int64_t timeout_ms);

#endif
