//  services/alert/main.c - wiring only; the logic lives in alert.c.
#include "alert.h"
#include "tg_config.h"
#include "tg_evzmq.h"
#include "tg_log.h"
#include "tg_service.h"
#include "tg_util.h"

#include <czmq.h>
#include <event2/event.h>

int
main(int argc, char **argv)
{
    tg_config_t *cfg = tg_service_start(argc, argv, "alert", false);
    if (!cfg)
        return 2;
    alert_t *alert = alert_new(cfg);
    if (!alert) {
        tg_config_destroy(&cfg);
        return 1;
    }
    struct event_base *base = tg_evzmq_base_new();
    int rc = alert_attach(alert, base);
    if (rc == TG_OK) {
        tg_log_info("ready inbox=%s stream=%s", tg_config_str(cfg, "endpoints.alert"),
                    tg_config_str(cfg, "endpoints.alert_stream"));
        tg_evzmq_run(base);
        tg_log_info("stopping");
    } else
        tg_log_error("cannot attach to the loop");
    alert_destroy(&alert);
    event_base_free(base);
    tg_config_destroy(&cfg);
    return rc == TG_OK ? 0 : 1;
}
