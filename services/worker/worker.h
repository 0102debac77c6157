//  worker.h - the provider-worker: JOB frames in, upstream HTTP calls through one libcurl
//  multi handle on a libevent loop, REPLY / HEAD+CHUNK+END out to the asking ingest, one
//  USAGE event per call.
#ifndef WORKER_H
#define WORKER_H

#include <event2/event.h>
#include <stddef.h>

#include "tg_config.h"

typedef struct worker worker_t;

//  Creates the sockets (jobs PULL, inbox PULL bound at endpoints.worker, cancel SUB, stats
//  PUB, usage outbox) and the provider table. NULL (logged) when a socket cannot bind.
worker_t *worker_new(const tg_config_t *cfg);
//  Cuts the calls still running (usage recorded), flushes the outbox (linger) and frees;
//  *self_p = NULL. NULL-safe.
void worker_destroy(worker_t **self_p);
//  Registers readers, libcurl's multi handle and the timers on `base` (borrowed, outlives
//  the worker). TG_OK, or TG_ERR (logged) when libcurl cannot be set up.
int worker_attach(worker_t *self, struct event_base *base);
//  Stops taking jobs: serves what is queued, disconnects from endpoints.jobs once the socket
//  is empty (disconnecting drops queued messages), and breaks the loop once every call ended
//  and every usage event was acknowledged, or after grace_ms (calls still running are then
//  failed with 503, usage recorded).
void worker_drain(worker_t *self, int64_t grace_ms);
//  Calls in flight.
size_t worker_in_flight(const worker_t *self);

#endif
