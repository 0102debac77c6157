//  tg_outbox.c - pending usage events, kept encoded, in two lists (waiting for their first
//  batch, sent) with an index by eid (zhashx); each batch goes as one USAGES message.
#include "tg_outbox.h"
#include "tg_addr.h"
#include "tg_curve.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <event2/event.h>
#include <string.h>

#define S_RESEND_BUDGET 5000  //  events resent per tick, so a returning analytics is not flooded
#define S_BATCH_BYTES (4u << 20)  //  a batch closes early past this body size (events are ~300 B)
#define M_BATCHES "tollgate_usage_batches_total"

typedef struct s_entry s_entry_t;

typedef struct {
    s_entry_t *head;  //  first in order
    s_entry_t *tail;  //  last in order
    size_t size;      //  entries in the list
} s_list_t;

struct s_entry {
    s_entry_t *prev;  //  neighbour towards head (NULL = first)
    s_entry_t *next;  //  neighbour towards tail (NULL = last)
    s_list_t *list;   //  the list holding this entry: waiting or sent
    char *eid;        //  event id (the index holds its own copy as key)
    char *map;        //  the USAGE frame's msgpack map, as it goes on the wire
    size_t map_len;   //  bytes in map
    int64_t sent_us;  //  monotonic time of the last send (meaningful in the sent list)
};

struct tg_outbox {
    zsock_t *push;            //  PUSH connected to endpoints.analytics
    char *ack_endpoint;       //  reply_to put in every event and batch
    zhashx_t *by_eid;         //  eid -> s_entry_t (owns the entries)
    s_list_t waiting;         //  not sent yet, in arrival order
    s_list_t sent;            //  sent, least recently sent first
    int64_t waiting_since;    //  arrival of the first waiting event (when waiting.size > 0)
    size_t batch_max;         //  usage.batch_max
    int64_t batch_us;         //  usage.batch_ms in µs
    int64_t resend_us;        //  usage.resend_ms in µs
    size_t max_pending;       //  usage.max_pending
    uint64_t dropped;         //  events dropped at max_pending
    struct event *timer;      //  sends the waiting batch (NULL until tg_outbox_attach)
    struct timeval batch_tv;  //  usage.batch_ms as a timeval, for the timer
    tg_metrics_t *metrics;    //  where batches are counted (borrowed, may be NULL)
};

static void
s_unlink(s_entry_t *e)
{
    s_list_t *l = e->list;
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    l->size--;
    e->prev = e->next = NULL;
    e->list = NULL;
}

static void
s_append(s_list_t *l, s_entry_t *e)
{
    e->list = l;
    e->prev = l->tail;
    e->next = NULL;
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->size++;
}

//  The index's destructor: an entry leaves its list when it leaves the index.
static void
s_entry_destroy(void **item)
{
    s_entry_t *e = *item;
    if (e) {
        s_unlink(e);
        free(e->eid);
        free(e->map);
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
    char *target = tg_addr_connectable(ep);
    int rc = tg_curve_secure(push, ep, false) == TG_OK ? zsock_connect(push, "%s", target) : -1;
    free(target);
    if (rc != 0) {
        tg_log_error("cannot connect usage socket endpoint=%s", ep);
        zsock_destroy(&push);
        return NULL;
    }
    tg_outbox_t *self = tg_zalloc(sizeof *self);
    self->push = push;
    self->ack_endpoint = tg_strdup(ack_endpoint);
    self->by_eid = zhashx_new();
    zhashx_set_destructor(self->by_eid, s_entry_destroy);
    self->batch_max = (size_t)tg_config_int(cfg, "usage.batch_max");
    int64_t batch_ms = tg_config_int(cfg, "usage.batch_ms");
    self->batch_us = batch_ms * 1000;
    self->batch_tv.tv_sec = (time_t)(batch_ms / 1000);
    self->batch_tv.tv_usec = (suseconds_t)(batch_ms % 1000) * 1000;
    self->resend_us = tg_config_int(cfg, "usage.resend_ms") * 1000;
    self->max_pending = (size_t)tg_config_int(cfg, "usage.max_pending");
    return self;
}

//  Sends the first entries of `list` as one USAGES message: at most batch_max of them (and
//  S_BATCH_BYTES), and from the sent list only those due for a resend at now_us. On success
//  they move to the end of the sent list. Returns how many went: 0 when none was due or the
//  socket refused the message (TG_AGAIN at the HWM: the next tick tries again).
static size_t
s_send_batch(tg_outbox_t *self, s_list_t *list, int64_t now_us, const char *reason)
{
    bool resend = list == &self->sent;
    tg_buf_t body;
    tg_buf_init(&body, SIZE_MAX);  //  bounded by S_BATCH_BYTES below
    size_t n = 0;
    for (s_entry_t *e = list->head; e && n < self->batch_max; e = e->next) {
        if (resend && now_us - e->sent_us < self->resend_us)
            break;  //  the list is in send order: the rest are younger
        if (n > 0 && body.len + e->map_len > S_BATCH_BYTES)
            break;
        tg_buf_append(&body, e->map, e->map_len);
        n++;
    }
    if (n == 0) {
        tg_buf_fini(&body);
        return 0;
    }
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGES);
    f->usages.reply_to = tg_strdup(self->ack_endpoint);
    f->usages.n = n;
    size_t len;
    char *data = tg_buf_take(&body, &len);
    tg_frame_give_body(f, &data, len);
    if (tg_frame_send(&f, self->push) != TG_OK)
        return 0;
    for (size_t i = 0; i < n; i++) {
        s_entry_t *e = list->head;
        s_unlink(e);
        e->sent_us = now_us;
        s_append(&self->sent, e);
    }
    if (self->metrics && reason) {
        char labels[64];
        snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
        tg_metrics_add(self->metrics, M_BATCHES, labels, 1);
    }
    return n;
}

//  Sends every waiting event, batch_max per message, until the socket refuses one.
static void
s_flush(tg_outbox_t *self, int64_t now_us, const char *reason)
{
    while (self->waiting.size > 0 && s_send_batch(self, &self->waiting, now_us, reason) > 0)
        ;
    if (self->waiting.size == 0 && self->timer)
        evtimer_del(self->timer);
}

static void
s_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_flush(arg, tg_mono_us(), "timer");
}

void
tg_outbox_attach(tg_outbox_t *self, struct event_base *base, tg_metrics_t *metrics)
{
    assert(self && base && !self->timer);
    self->timer = evtimer_new(base, s_on_timer, self);
    assert(self->timer);  //  libevent fails only on OOM
    self->metrics = metrics;
    if (metrics)
        tg_metrics_declare(metrics, M_BATCHES, TG_METRIC_COUNTER,
                           "Usage event batches sent to analytics, by reason: full "
                           "(usage.batch_max events), timer (usage.batch_ms passed), resend.",
                           NULL, 0);
    if (self->waiting.size > 0)
        evtimer_add(self->timer, &self->batch_tv);
}

void
tg_outbox_destroy(tg_outbox_t **self_p)
{
    assert(self_p);
    tg_outbox_t *self = *self_p;
    if (!self)
        return;
    s_flush(self, tg_mono_us(), NULL);
    if (self->waiting.size)
        tg_log_error("usage events never sent at exit count=%zu (analytics socket full)",
                     self->waiting.size);
    if (self->sent.size)
        tg_log_warn("usage events unacknowledged at exit count=%zu (sent, kept by the socket "
                    "linger; analytics stores each once)",
                    self->sent.size);
    if (self->timer)
        event_free(self->timer);
    zhashx_destroy(&self->by_eid);
    zsock_destroy(&self->push);
    free(self->ack_endpoint);
    free(self);
    *self_p = NULL;
}

void
tg_outbox_send(tg_outbox_t *self, tg_frame_t **usage_p, int64_t now_us)
{
    assert(usage_p && *usage_p && (*usage_p)->type == TG_FRAME_USAGE);
    tg_frame_t *f = *usage_p;
    *usage_p = NULL;
    if (!f->usage.eid)
        f->usage.eid = tg_id_seq("ev_");
    if (zhashx_lookup(self->by_eid, f->usage.eid)) {
        tg_frame_destroy(&f);  //  already pending under this id
        return;
    }
    tg_frame_set_str(&f->usage.reply_to, self->ack_endpoint);
    if (zhashx_size(self->by_eid) >= self->max_pending) {
        s_entry_t *oldest = self->sent.head ? self->sent.head : self->waiting.head;
        if (oldest) {
            tg_log_error("usage outbox full: dropping event eid=%s", oldest->eid);
            zhashx_delete(self->by_eid, oldest->eid);  //  the key is read before the free
            self->dropped++;
        }
    }
    s_entry_t *e = tg_zalloc(sizeof *e);
    e->eid = tg_strdup(f->usage.eid);
    e->map = tg_frame_encode_map(f, &e->map_len);
    zhashx_insert(self->by_eid, f->usage.eid, e);
    s_append(&self->waiting, e);
    tg_frame_destroy(&f);
    if (self->waiting.size == 1) {
        self->waiting_since = now_us;
        if (self->timer)
            evtimer_add(self->timer, &self->batch_tv);
    }
    if (self->waiting.size >= self->batch_max)
        s_flush(self, now_us, "full");
}

void
tg_outbox_ack(tg_outbox_t *self, const char *eid)
{
    zhashx_delete(self->by_eid, eid);  //  the destructor takes it off its list
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
    if (self->waiting.size > 0 && now_us - self->waiting_since >= self->batch_us)
        s_flush(self, now_us, "timer");
    size_t budget = S_RESEND_BUDGET;
    while (budget > 0) {
        size_t n = s_send_batch(self, &self->sent, now_us, "resend");
        if (n == 0)
            break;
        budget = n < budget ? budget - n : 0;
    }
}

size_t
tg_outbox_pending(const tg_outbox_t *self)
{
    return zhashx_size(self->by_eid);
}
