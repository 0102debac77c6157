//  services/ingest/main.c - wiring only; the logic lives in ingest.c.
#include "ingest.h"
#include "tg_config.h"
#include "tg_service.h"
#include "tg_evzmq.h"
#include "tg_log.h"

#include <czmq.h>
#include <event2/event.h>
#include <signal.h>

#define S_DRAIN_MS 5000  //  in-flight calls get this long to finish after SIGTERM

typedef struct {
    struct event_base *base;  //  the loop
    ingest_t *ingest;         //  the core
    bool stopping;            //  a first signal was seen
} s_ctx_t;

static void
s_on_drained(void *arg)
{
    event_base_loopbreak(((s_ctx_t *)arg)->base);
}

static void
s_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    s_ctx_t *ctx = arg;
    if (ctx->stopping) {  //  a second signal stops at once
        s_on_drained(ctx);
        return;
    }
    ctx->stopping = true;
    tg_log_info("signal=%d: draining for up to %d ms", (int)sig, S_DRAIN_MS);
    ingest_drain(ctx->ingest, S_DRAIN_MS, s_on_drained, ctx);
}

int
main(int argc, char **argv)
{
    tg_config_t *cfg = tg_service_start(argc, argv, "ingest", false);
    if (!cfg)
        return 2;
    signal(SIGPIPE, SIG_IGN);   //  a client gone mid-write is an error code, not a signal
    tg_service_raise_nofile();  //  one descriptor per client connection
    s_ctx_t ctx = {.base = tg_evzmq_base_new()};
    ctx.ingest = ingest_new(cfg, ctx.base);
    if (!ctx.ingest) {
        event_base_free(ctx.base);
        tg_config_destroy(&cfg);
        return 1;
    }
    struct event *sigterm = evsignal_new(ctx.base, SIGTERM, s_on_signal, &ctx);
    struct event *sigint = evsignal_new(ctx.base, SIGINT, s_on_signal, &ctx);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    tg_log_info("ready http=%s inbox=%s", ingest_http_address(ctx.ingest),
                tg_config_str(cfg, "endpoints.ingest"));
    event_base_dispatch(ctx.base);
    tg_log_info("stopping in_flight=%zu", ingest_in_flight(ctx.ingest));
    ingest_destroy(&ctx.ingest);
    event_free(sigterm);
    event_free(sigint);
    event_base_free(ctx.base);
    tg_config_destroy(&cfg);
    return 0;
}
