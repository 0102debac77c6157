//  services/alert/main.c - wiring only; the logic lives in alert.c.
#include "alert.h"
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
    tg_log_init("alert", tg_config_str(cfg, "log.level"));
    zsys_init();  //  czmq's SIGINT/SIGTERM handler stops zloop_start
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
