//  services/router/main.c - wiring only; the logic lives in router.c.
#include "router.h"
#include "tg_config.h"
#include "tg_service.h"
#include "tg_evzmq.h"
#include "tg_log.h"

#include <czmq.h>
#include <event2/event.h>

int
main(int argc, char **argv)
{
    tg_config_t *cfg = tg_service_start(argc, argv, "router", false);
    if (!cfg)
        return 2;
    router_t *router = router_new(cfg);
    if (!router) {
        tg_config_destroy(&cfg);
        return 1;
    }
    struct event_base *base = tg_evzmq_base_new();
    router_attach(router, base);
    tg_log_info("ready inbox=%s jobs=%s", tg_config_str(cfg, "endpoints.router"),
                tg_config_str(cfg, "endpoints.jobs"));
    tg_evzmq_run(base);
    tg_log_info("stopping");
    router_destroy(&router);
    event_base_free(base);
    tg_config_destroy(&cfg);
    return 0;
}
