//  services/analytics/main.c - wiring only; the logic lives in analytics.c.
#include "analytics.h"
#include "tg_config.h"
#include "tg_service.h"
#include "tg_log.h"

#include <czmq.h>

int
main(int argc, char **argv)
{
    tg_config_t *cfg = tg_service_start(argc, argv, "analytics", true);
    if (!cfg)
        return 2;
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
