//  analytics.h - the analytics service core: usage events in, ACKs, SPEND and answers out.
#ifndef ANALYTICS_H
#define ANALYTICS_H

#include <czmq.h>
#include <event2/event.h>

#include "tg_config.h"

typedef struct analytics analytics_t;

//  Loads the pricing file, opens <data_dir>/analytics, binds endpoints.analytics and
//  connects to the bus. NULL after logging why. cfg is borrowed and must outlive the core.
analytics_t *analytics_new(const tg_config_t *cfg);
//  Commits and acknowledges what is pending, closes everything; *self_p = NULL. NULL-safe.
void analytics_destroy(analytics_t **self_p);
//  Registers the inbox reader and the commit, spend, retention and stats timers on `base`
//  (libevent, as every service). Call analytics_destroy before freeing base.
int analytics_attach(analytics_t *self, struct event_base *base);

#endif
