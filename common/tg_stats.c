//  tg_stats.c - heartbeat + metrics snapshot (msgpack, tg_metrics_wire.h) on the bus.
#include "tg_stats.h"
#include "tg_frame.h"
#include "tg_addr.h"
#include "tg_curve.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <stdlib.h>
#include <unistd.h>

#define S_SENT "tollgate_frames_sent_total"
#define S_RECVD "tollgate_frames_received_total"

//  Wire tags of the frame types, the label values of the frame counters.
static const char *const s_tags[] = {
#define TG_X(E, n, t) t,
    TG_FRAMES(TG_X)
#undef TG_X
};

struct tg_stats {
    zsock_t *pub;                    //  PUB connected to endpoints.bus_in
    char *proc;                      //  process kind
    char *inst;                      //  instance id
    tg_metrics_t *frames;            //  the frame counters of tg_frame, as metrics
    uint64_t sent[TG_FRAME_COUNT];   //  tg_frame_sent_count already added to frames
    uint64_t recvd[TG_FRAME_COUNT];  //  tg_frame_recv_count already added to frames
};

tg_stats_t *
tg_stats_new(const tg_config_t *cfg, const char *proc)
{
    const char *ep = tg_config_str(cfg, "endpoints.bus_in");
    zsock_t *pub = zsock_new(ZMQ_PUB);
    char *target = tg_addr_connectable(ep);
    int rc =
        pub && tg_curve_secure(pub, ep, false) == TG_OK ? zsock_connect(pub, "%s", target) : -1;
    free(target);
    if (rc != 0) {
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
    //  The host name tells containers apart (their pids are often equal) and lets a
    //  container's healthcheck (`tollgate health`) find its own process's heartbeat.
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !*host)
        snprintf(host, sizeof host, "local");
    self->inst = tg_strfmt("%s-%s-%d-%s", proc, host, (int)getpid(), rnd);
    self->frames = tg_metrics_new();
    tg_metrics_declare(self->frames, S_SENT, TG_METRIC_COUNTER,
                       "ZeroMQ messages sent, by frame type (wire tag).", NULL, 0);
    tg_metrics_declare(self->frames, S_RECVD, TG_METRIC_COUNTER,
                       "ZeroMQ messages received, by frame type (wire tag).", NULL, 0);
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
    tg_metrics_destroy(&self->frames);
    free(self->proc);
    free(self->inst);
    free(self);
    *self_p = NULL;
}

//  Brings the frame counters up to tg_frame's counts; a type gets a series once it has moved.
static void
s_count_frames(tg_stats_t *self)
{
    for (int t = 0; t < TG_FRAME_COUNT; t++) {
        char labels[64];
        uint64_t sent = tg_frame_sent_count((tg_frame_type_t)t);
        uint64_t recvd = tg_frame_recv_count((tg_frame_type_t)t);
        if (sent == self->sent[t] && recvd == self->recvd[t])
            continue;
        tg_metrics_labels_buf(labels, sizeof labels, "type", s_tags[t], NULL);
        tg_metrics_add(self->frames, S_SENT, labels, (double)(sent - self->sent[t]));
        tg_metrics_add(self->frames, S_RECVD, labels, (double)(recvd - self->recvd[t]));
        self->sent[t] = sent;
        self->recvd[t] = recvd;
    }
}

void
tg_stats_publish(tg_stats_t *self, const tg_metrics_t *metrics, bool ready)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_STATS);
    f->stats.proc = tg_strdup(self->proc);
    f->stats.inst = tg_strdup(self->inst);
    f->stats.ready = ready;
    f->stats.ts = tg_now_us();
    s_count_frames(self);
    const tg_metrics_t *regs[] = {metrics, self->frames};
    size_t len;
    char *body = tg_metrics_encode(regs, 2, &len);
    tg_frame_give_body(f, &body, len);
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
