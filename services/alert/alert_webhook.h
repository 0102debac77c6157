//  alert_webhook.h - webhook deliveries of alerts (spec L3): signed, sent with curl's multi
//  interface on the alert's libevent loop (no transfer blocks another), retried with exponential
//  backoff, dead-lettered in the alert book after the last try and re-sendable.
#ifndef ALERT_WEBHOOK_H
#define ALERT_WEBHOOK_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "alert_book.h"
#include "tg_metrics.h"

#define ALERT_SIG_HEADER "X-Tollgate-Signature"  //  t=<unix seconds>,v1=<hex HMAC-SHA256>
#define ALERT_SIG_MAX 96                         //  room for the header value

typedef struct alert_webhook alert_webhook_t;

typedef struct {
    int64_t timeout_ms;  //  whole transfer, per try
    int64_t backoff_ms;  //  delay before the 2nd try; doubles each try, capped at 60 s
    int max_tries;       //  tries before the delivery is dead-lettered
    int max_in_flight;   //  transfers at once; the rest wait their turn
    const char *secret;  //  default HMAC key ("" = unsigned unless the channel has one)
} alert_webhook_opts_t;

//  A delivery engine over `book` (borrowed: dead letters) counting into `metrics` (borrowed).
alert_webhook_t *
alert_webhook_new(const alert_webhook_opts_t *opts, alert_book_t *book, tg_metrics_t *metrics);
//  Aborts transfers in flight (they are not dead-lettered); *self_p = NULL. NULL-safe.
void alert_webhook_destroy(alert_webhook_t **self_p);
//  Registers with the loop that will drive the transfers, and queues the deliveries a
//  previous run left in the book. Destroy the engine before freeing base.
void alert_webhook_attach(alert_webhook_t *self, struct event_base *base);
//  Queues a POST of `body` (JSON, copied) to url. kind ("webhook" | "email") and alert_id
//  are kept for the dead letter; secret NULL = the default one.
void alert_webhook_send(alert_webhook_t *self,
                        const char *kind,
                        const char *url,
                        const char *secret,
                        const char *alert_id,
                        const char *body);
//  Queues a dead letter again (removed from the book; it is dead-lettered anew if it fails
//  again). TG_OK, TG_NOTFOUND, TG_ERR.
int alert_webhook_resend(alert_webhook_t *self, const char *id);
//  Deliveries queued or in flight.
size_t alert_webhook_pending(const alert_webhook_t *self);
//  The signature header value for body sent at ts_s: "t=<ts_s>,v1=<hex>" where hex is
//  HMAC-SHA256(secret, "<ts_s>.<body>"). Writes at most size bytes (ALERT_SIG_MAX fits).
void alert_webhook_sign(
    const char *secret, int64_t ts_s, const char *body, size_t len, char *out, size_t size);

#endif
