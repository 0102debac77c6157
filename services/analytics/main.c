//  services/analytics/main.c - wiring only; the logic lives in analytics.c.
#include "analytics.h"
#include "tg_config.h"
#include "tg_log.h"

#include <czmq.h>
#include <sodium.h>

int
main(int argc, char **argv)
{
    tg_config_t *cfg = tg_config_load(tg_config_path_arg(argc, argv));
    if (!cfg || sodium_init() < 0 || tg_config_ensure_dirs(cfg) != 0) {
        tg_config_destroy(&cfg);
        return 2;
    }
    tg_log_init("analytics", tg_config_str(cfg, "log.level"));
    zsys_init();  //  czmq's SIGINT/SIGTERM handler stops zloop_start
    analytics_t *analytics = analytics_new(cfg);
    if (!analytics) {
        tg_config_destroy(&cfg);
        return 1;
    }
    zloop_t *loop = zloop_new();
    analytics_attach(analytics, loop);
    tg_log_info("ready inbox=%s", tg_config_str(cfg, "endpoints.analytics"));
    zloop_start(loop);
    tg_log_info("stopping");
    zloop_destroy(&loop);
    analytics_destroy(&analytics);  //  commits and acknowledges the last batch
    tg_config_destroy(&cfg);
    return 0;
}
