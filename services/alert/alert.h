//  alert.h - the alert service core: budget alerts from SPEND, the alert stream, the history.
#ifndef ALERT_H
#define ALERT_H

#include <czmq.h>
#include <event2/event.h>

#include "tg_config.h"

typedef struct alert alert_t;

//  Opens <data_dir>/alert, binds endpoints.alert (PULL) and endpoints.alert_stream (PUB),
//  subscribes to SPEND on endpoints.bus_out. NULL after logging why. cfg is borrowed and
//  must outlive the core.
alert_t *alert_new(const tg_config_t *cfg);
//  Closes everything; *self_p = NULL. NULL-safe.
void alert_destroy(alert_t **self_p);
//  Registers the inbox and bus readers, the stats and rule timers and the webhook engine on
//  `base` (libevent, as every service). Call alert_destroy before freeing base.
int alert_attach(alert_t *self, struct event_base *base);

#endif
