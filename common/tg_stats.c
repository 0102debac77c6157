//  tg_stats.c - heartbeat + metrics snapshot on the bus.
#include "tg_stats.h"
#include "tg_frame.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <stdlib.h>
#include <unistd.h>

struct tg_stats {
    zsock_t *pub;  //  PUB connected to endpoints.bus_in
    char *proc;    //  process kind
    char *inst;    //  instance id
};

tg_stats_t *
tg_stats_new(const tg_config_t *cfg, const char *proc)
{
    const char *ep = tg_config_str(cfg, "endpoints.bus_in");
    zsock_t *pub = zsock_new(ZMQ_PUB);
    if (!pub || zsock_connect(pub, "%s", ep) != 0) {
        tg_log_error("cannot connect stats bus endpoint=%s", ep);
        zsock_destroy(&pub);
        return NULL;
    }
    zsock_set_sndhwm(pub, 10000);
    zsock_set_linger(pub, 200);
    tg_stats_t *self = tg_zalloc(sizeof *self);
    self->pub = pub;
    self->proc = tg_strdup(proc);
    char rnd[16];
    tg_id_fill(rnd, "", 3);
    self->inst = tg_strfmt("%s-%d-%s", proc, (int)getpid(), rnd);
    return self;
}

void
tg_stats_destroy(tg_stats_t **self_p)
{
    assert(self_p);
    tg_stats_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy(&self->pub);
    free(self->proc);
    free(self->inst);
    free(self);
    *self_p = NULL;
}

void
tg_stats_publish(tg_stats_t *self, const tg_metrics_t *metrics, bool ready)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_STATS);
    f->stats.proc = tg_strdup(self->proc);
    f->stats.inst = tg_strdup(self->inst);
    f->stats.ready = ready;
    f->stats.ts = tg_now_us();
    if (metrics) {
        char *snap = tg_metrics_snapshot(metrics);
        tg_frame_give_body(f, &snap, strlen(snap));
    }
    tg_frame_send(&f, self->pub);  //  PUB never blocks; a dropped heartbeat is resent next tick
}

const char *
tg_stats_instance(const tg_stats_t *self)
{
    return self->inst;
}

void *
tg_stats_socket(tg_stats_t *self)
{
    return self->pub;
}
