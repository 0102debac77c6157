//  services/alert/main.c - wiring only; the logic lives in alert.c.
#include "alert.h"
#include "tg_config.h"
#include "tg_service.h"
#include "tg_log.h"

#include <czmq.h>

int
main(int argc, char **argv)
{
    tg_config_t *cfg = tg_service_start(argc, argv, "alert", true);
    if (!cfg)
        return 2;
    alert_t *alert = alert_new(cfg);
    if (!alert) {
        tg_config_destroy(&cfg);
        return 1;
    }
    zloop_t *loop = zloop_new();
    alert_attach(alert, loop);
    tg_log_info("ready inbox=%s stream=%s", tg_config_str(cfg, "endpoints.alert"),
                tg_config_str(cfg, "endpoints.alert_stream"));
    zloop_start(loop);
    tg_log_info("stopping");
    zloop_destroy(&loop);
    alert_destroy(&alert);
    tg_config_destroy(&cfg);
    return 0;
}
