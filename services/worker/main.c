//  services/worker/main.c - wiring only; the logic lives in worker.c.
#include "tg_config.h"
#include "tg_evzmq.h"
#include "tg_log.h"
#include "tg_service.h"
#include "worker.h"

#include <curl/curl.h>
#include <czmq.h>
#include <event2/event.h>
#include <signal.h>

#define S_DRAIN_MS 10000  //  in-flight calls get this long to finish after SIGTERM

static void
s_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    worker_t *worker = arg;
    worker_drain(worker, S_DRAIN_MS);
}

int
main(int argc, char **argv)
{
    tg_config_t *cfg = tg_service_start(argc, argv, "worker", false);
    if (!cfg)
        return 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tg_log_error("libcurl failed to initialise");
        tg_config_destroy(&cfg);
        return 2;
    }
    tg_service_raise_nofile();  //  thousands of connections
    zsys_set_max_sockets(0);
    worker_t *worker = worker_new(cfg);
    struct event_base *base = event_base_new();  //  no changelist: curl opens and closes sockets
    if (!worker || !base || worker_attach(worker, base) != 0) {
        worker_destroy(&worker);
        if (base)
            event_base_free(base);
        tg_config_destroy(&cfg);
        return 1;
    }
    struct event *sigterm = evsignal_new(base, SIGTERM, s_on_signal, worker);
    struct event *sigint = evsignal_new(base, SIGINT, s_on_signal, worker);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    tg_log_info("ready jobs=%s inbox=%s max_in_flight=%lld", tg_config_str(cfg, "endpoints.jobs"),
                tg_config_str(cfg, "endpoints.worker"),
                (long long)tg_config_int(cfg, "upstream.max_in_flight"));
    event_base_dispatch(base);
    tg_log_info("stopping in_flight=%zu", worker_in_flight(worker));
    worker_destroy(&worker);  //  cuts what is left, flushes the usage outbox
    event_free(sigterm);
    event_free(sigint);
    event_base_free(base);
    curl_global_cleanup();
    tg_config_destroy(&cfg);
    return 0;
}
