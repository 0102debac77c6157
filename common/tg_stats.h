//  tg_stats.h - a process's heartbeat and metrics snapshot, published on the bus.
#ifndef TG_STATS_H
#define TG_STATS_H

#include <stdbool.h>

#include "tg_config.h"
#include "tg_metrics.h"

typedef struct tg_stats tg_stats_t;

//  Connects a PUB socket to endpoints.bus_in for process kind `proc` ("router", ...).
//  The instance id is "<proc>-<host name>-<pid>-<random>". NULL (logged) if the socket cannot
//  connect.
tg_stats_t *tg_stats_new(const tg_config_t *cfg, const char *proc);
//  Closes the socket; *self_p = NULL. NULL-safe.
void tg_stats_destroy(tg_stats_t **self_p);
//  Publishes STATS{proc, inst, ready, ts} with the snapshot of `metrics` (may be NULL) and
//  this process's frame counters (tollgate_frames_sent_total / _received_total{type="<tag>"}).
void tg_stats_publish(tg_stats_t *self, const tg_metrics_t *metrics, bool ready);
//  The instance id. Borrowed for the object's life.
const char *tg_stats_instance(const tg_stats_t *self);
//  The PUB socket (zsock_t *), borrowed: other bus frames (CANCEL, SPEND) may go on it too.
void *tg_stats_socket(tg_stats_t *self);

#endif
