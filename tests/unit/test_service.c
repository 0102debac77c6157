//  test_service.c - tg_service_start: the sweep of stale inbox sockets from the run dir.
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "test_tmpdir.h"
#include "tg_service.h"
#include "tg_util.h"

//  A Unix socket file at dir/name; listening (its descriptor returned) or not (closed, -1).
//  `old` dates it an hour back, past the sweep's minimum age.
static int
s_socket(const char *dir, const char *name, bool listening, bool old)
{
    char *path = tg_strfmt("%s/%s", dir, name);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    if (listening) {
        CU_ASSERT_EQUAL(listen(fd, 1), 0);
    } else {
        close(fd);
        fd = -1;
    }
    if (old) {
        struct timespec ts[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
        CU_ASSERT_EQUAL(utimensat(AT_FDCWD, path, ts, 0), 0);
    }
    free(path);
    return fd;
}

static bool
s_exists(const char *dir, const char *name)
{
    char *path = tg_strfmt("%s/%s", dir, name);
    struct stat st;
    bool there = lstat(path, &st) == 0;
    free(path);
    return there;
}

static void
test_sweep(void)
{
    char *run = test_tmpdir("sweep-run");
    char *data = test_tmpdir("sweep-data");
    s_socket(run, "worker-gone-7.ipc", false, true);    //  dead, old: removed
    s_socket(run, "worker-young-8.ipc", false, false);  //  dead, just made: may be starting
    int live = s_socket(run, "worker-live-9.ipc", true, true);
    s_socket(run, "ingest-gone-7.ipc", false, true);  //  another kind: not a worker's business
    s_socket(run, "router.ipc", false, true);         //  fixed names are rebound in place
    setenv("TOLLGATE_RUN_DIR", run, 1);
    setenv("TOLLGATE_DATA_DIR", data, 1);
    char *argv[] = {"tg-worker", NULL};
    tg_config_t *cfg = tg_service_start(1, argv, "worker", true);
    CU_ASSERT_PTR_NOT_NULL(cfg);
    CU_ASSERT_FALSE(s_exists(run, "worker-gone-7.ipc"));
    CU_ASSERT_TRUE(s_exists(run, "worker-young-8.ipc"));
    CU_ASSERT_TRUE(s_exists(run, "worker-live-9.ipc"));
    CU_ASSERT_TRUE(s_exists(run, "ingest-gone-7.ipc"));
    CU_ASSERT_TRUE(s_exists(run, "router.ipc"));
    tg_config_destroy(&cfg);
    unsetenv("TOLLGATE_RUN_DIR");
    unsetenv("TOLLGATE_DATA_DIR");
    close(live);
    test_rmdir(&run);
    test_rmdir(&data);
}

void
test_service_register(void)
{
    CU_pSuite s = CU_add_suite("service", NULL, NULL);
    CU_add_test(s, "sweep of stale inbox sockets", test_sweep);
}
