//  tg_outbox.c - pending USAGE frames in send order (zlistx) with an index by eid (zhashx).
#include "tg_outbox.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <string.h>

#define S_RESEND_BATCH 5000  //  resends per tick, so a returning analytics is not flooded

typedef struct {
    tg_frame_t *frame;  //  the USAGE frame, owned
    int64_t sent_us;    //  monotonic time of the last send (0 = not sent yet)
    void *handle;       //  position in self->order
} s_entry_t;

struct tg_outbox {
    zsock_t *push;       //  PUSH connected to endpoints.analytics
    char *ack_endpoint;  //  reply_to put in every event
    zhashx_t *by_eid;    //  eid -> s_entry_t (owns the entries)
    zlistx_t *order;     //  entries, least recently sent first (borrowed)
    int64_t resend_us;   //  usage.resend_ms in µs
    size_t max_pending;  //  usage.max_pending
    uint64_t dropped;    //  events dropped at max_pending
};

static void
s_entry_destroy(void **item)
{
    s_entry_t *e = *item;
    if (e) {
        tg_frame_destroy(&e->frame);
        free(e);
        *item = NULL;
    }
}

tg_outbox_t *
tg_outbox_new(const tg_config_t *cfg, const char *ack_endpoint)
{
    const char *ep = tg_config_str(cfg, "endpoints.analytics");
    zsock_t *push = zsock_new(ZMQ_PUSH);
    if (!push) {
        tg_log_error("cannot create usage socket");
        return NULL;
    }
    zsock_set_sndhwm(push, 200000);
    zsock_set_linger(push, 2000);
    if (zsock_connect(push, "%s", ep) != 0) {
        tg_log_error("cannot connect usage socket endpoint=%s", ep);
        zsock_destroy(&push);
        return NULL;
    }
    tg_outbox_t *self = tg_zalloc(sizeof *self);
    self->push = push;
    self->ack_endpoint = tg_strdup(ack_endpoint);
    self->by_eid = zhashx_new();
    zhashx_set_destructor(self->by_eid, s_entry_destroy);
    self->order = zlistx_new();
    self->resend_us = tg_config_int(cfg, "usage.resend_ms") * 1000;
    self->max_pending = (size_t)tg_config_int(cfg, "usage.max_pending");
    return self;
}

void
tg_outbox_destroy(tg_outbox_t **self_p)
{
    assert(self_p);
    tg_outbox_t *self = *self_p;
    if (!self)
        return;
    size_t left = zhashx_size(self->by_eid);
    if (left)
        tg_log_warn("usage events unacknowledged at exit count=%zu (sent, kept by the socket "
                    "linger; analytics stores each once)",
                    left);
    zlistx_destroy(&self->order);
    zhashx_destroy(&self->by_eid);
    zsock_destroy(&self->push);
    free(self->ack_endpoint);
    free(self);
    *self_p = NULL;
}

static void
s_write(tg_outbox_t *self, s_entry_t *e, int64_t now_us)
{
    //  TG_AGAIN (HWM) leaves sent_us at 0: the next tick tries again.
    e->sent_us = tg_frame_write(e->frame, self->push) == TG_OK ? now_us : 0;
}

void
tg_outbox_send(tg_outbox_t *self, tg_frame_t **usage_p)
{
    assert(usage_p && *usage_p && (*usage_p)->type == TG_FRAME_USAGE);
    tg_frame_t *f = *usage_p;
    *usage_p = NULL;
    if (!f->usage.eid)
        f->usage.eid = tg_id_seq("ev_");
    tg_frame_set_str(&f->usage.reply_to, self->ack_endpoint);
    if (zhashx_lookup(self->by_eid, f->usage.eid)) {
        tg_frame_destroy(&f);  //  already pending under this id
        return;
    }
    if (zhashx_size(self->by_eid) >= self->max_pending) {
        s_entry_t *oldest = zlistx_first(self->order);
        if (oldest) {
            tg_log_error("usage outbox full: dropping event eid=%s", oldest->frame->usage.eid);
            zlistx_delete(self->order, oldest->handle);
            zhashx_delete(self->by_eid, oldest->frame->usage.eid);
            self->dropped++;
        }
    }
    s_entry_t *e = tg_zalloc(sizeof *e);
    e->frame = f;
    e->handle = zlistx_add_end(self->order, e);
    zhashx_insert(self->by_eid, f->usage.eid, e);
    s_write(self, e, tg_mono_us());
}

void
tg_outbox_ack(tg_outbox_t *self, const char *eid)
{
    s_entry_t *e = zhashx_lookup(self->by_eid, eid);
    if (!e)
        return;
    zlistx_delete(self->order, e->handle);
    zhashx_delete(self->by_eid, eid);
}

void
tg_outbox_ack_frame(tg_outbox_t *self, const tg_frame_t *ack)
{
    if (ack->ack.eid)
        tg_outbox_ack(self, ack->ack.eid);
    if (!ack->body)
        return;
    //  The body is NUL-terminated by the codec; ids are short, so a line buffer suffices.
    const char *p = ack->body, *end = ack->body + ack->body_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char eid[128];
        if (len > 0 && len < sizeof eid) {
            memcpy(eid, p, len);
            eid[len] = 0;
            tg_outbox_ack(self, eid);
        }
        p += len + 1;
    }
}

void
tg_outbox_tick(tg_outbox_t *self, int64_t now_us)
{
    size_t budget = S_RESEND_BATCH;
    s_entry_t *e;
    while (budget-- > 0 && (e = zlistx_first(self->order)) != NULL) {
        if (e->sent_us && now_us - e->sent_us < self->resend_us)
            break;  //  the list is in send order: the rest are younger
        s_write(self, e, now_us);
        zlistx_move_end(self->order, e->handle);
        if (!e->sent_us)
            break;  //  socket full: stop for this tick
    }
}

size_t
tg_outbox_pending(const tg_outbox_t *self)
{
    return zhashx_size(self->by_eid);
}
