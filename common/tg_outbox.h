//  tg_outbox.h - at-least-once delivery of USAGE frames to analytics.
//
//  Each event is kept until analytics ACKs it (after its LMDB commit) and is resent when
//  no ACK came within usage.resend_ms; analytics stores an event id once, so a resend is
//  never counted twice.
#ifndef TG_OUTBOX_H
#define TG_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "tg_config.h"
#include "tg_frame.h"

typedef struct tg_outbox tg_outbox_t;

//  Connects a PUSH socket to endpoints.analytics; ACKs are expected at `ack_endpoint`
//  (the caller's own inbox). NULL (logged) if the socket cannot connect.
tg_outbox_t *tg_outbox_new(const tg_config_t *cfg, const char *ack_endpoint);
//  Flushes what it can (linger 2 s) and frees; events never ACKed are logged as lost.
void tg_outbox_destroy(tg_outbox_t **self_p);
//  Takes a USAGE frame: sets eid (if NULL) and reply_to, keeps it until ACKed, sends it now.
//  At usage.max_pending the oldest pending event is dropped and logged.
void tg_outbox_send(tg_outbox_t *self, tg_frame_t **usage_p);
//  Forgets the event `eid` (analytics committed it). Unknown ids are ignored.
void tg_outbox_ack(tg_outbox_t *self, const char *eid);
//  Resends events unacknowledged for usage.resend_ms as of `now_us` (monotonic µs).
void tg_outbox_tick(tg_outbox_t *self, int64_t now_us);
//  Forgets every event an ACK frame names (its `eid` and the ids in its body, one per line).
void tg_outbox_ack_frame(tg_outbox_t *self, const tg_frame_t *ack);
//  Events sent but not yet acknowledged.
size_t tg_outbox_pending(const tg_outbox_t *self);

#endif
