//  tg_service.c - shared service start-up.
#include "tg_service.h"

#include <sys/resource.h>
#include "tg_curve.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <sodium.h>
#include <stdio.h>

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
