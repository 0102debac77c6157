//  tg_outbox.h - at-least-once delivery of usage events to analytics, in batches.
//
//  New events wait until usage.batch_max of them are waiting or usage.batch_ms has passed
//  since the first of them, then go as one USAGES message. Each event is kept until
//  analytics ACKs it (after its LMDB commit) and is resent, in batches too, when no ACK
//  came within usage.resend_ms; analytics stores an event id once, so a resend is never
//  counted twice. Time is passed in (monotonic µs); the owner's loop drives the outbox.
#ifndef TG_OUTBOX_H
#define TG_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "tg_config.h"
#include "tg_frame.h"
#include "tg_metrics.h"

struct event_base;
typedef struct tg_outbox tg_outbox_t;

//  Connects a PUSH socket to endpoints.analytics; ACKs are expected at `ack_endpoint`
//  (the caller's own inbox). NULL (logged) if the socket cannot connect.
tg_outbox_t *tg_outbox_new(const tg_config_t *cfg, const char *ack_endpoint);
//  Sends what waits, lets the socket flush (linger 2 s) and frees; events never ACKed are
//  logged. Call before the event base given to tg_outbox_attach is freed.
void tg_outbox_destroy(tg_outbox_t **self_p);
//  Owns one timer on `base` (borrowed) that sends the waiting events usage.batch_ms after
//  the first of them; without it only tg_outbox_tick sends them. Declares and counts
//  tollgate_usage_batches_total in `metrics` (borrowed, may be NULL). Call once.
void tg_outbox_attach(tg_outbox_t *self, struct event_base *base, tg_metrics_t *metrics);
//  Takes a USAGE frame: sets eid (if NULL) and reply_to and keeps the event until ACKed.
//  It goes out now if usage.batch_max events are waiting, else with the next batch.
//  At usage.max_pending the oldest pending event is dropped and logged.
void tg_outbox_send(tg_outbox_t *self, tg_frame_t **usage_p, int64_t now_us);
//  Call every 100-200 ms: sends waiting events older than usage.batch_ms (a batch the
//  socket refused earlier, or no timer attached) and resends in batches the events
//  unacknowledged for usage.resend_ms as of `now_us`.
void tg_outbox_tick(tg_outbox_t *self, int64_t now_us);
//  Forgets the event `eid` (analytics committed it). Unknown ids are ignored.
void tg_outbox_ack(tg_outbox_t *self, const char *eid);
//  Forgets every event an ACK frame names (its `eid` and the ids in its body, one per line).
void tg_outbox_ack_frame(tg_outbox_t *self, const tg_frame_t *ack);
//  Events kept until acknowledged: waiting for their batch or sent.
size_t tg_outbox_pending(const tg_outbox_t *self);

#endif
