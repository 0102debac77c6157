//  ingest.h - the HTTP front door: OpenAI-compatible routes in, frames to the router and
//  the query owners, answers (REPLY, or HEAD/CHUNK/END streams) back to the client.
#ifndef INGEST_H
#define INGEST_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_config.h"

typedef struct ingest ingest_t;

//  Resolves the master key, binds the HTTP port (SO_REUSEPORT, so several ingest processes
//  share it) and the inbox, connects to the router, analytics, alert and the bus, and
//  registers everything on `base` (borrowed; must outlive the object). NULL (logged) on
//  failure. cfg is borrowed for the object's life.
ingest_t *ingest_new(const tg_config_t *cfg, struct event_base *base);
//  Answers nothing more: drops open connections (in-flight calls get a CANCEL on the bus),
//  closes sockets and frees; *self_p = NULL. NULL-safe.
void ingest_destroy(ingest_t **self_p);
//  Stops accepting connections and requests (new ones get 503 and Connection: close) and
//  calls done(arg) once, when no call is in flight and every answer is written, or after
//  grace_ms, whichever comes first.
void ingest_drain(ingest_t *self, int64_t grace_ms, void (*done)(void *arg), void *arg);
//  "host:port" the HTTP listener is bound to (the real port when http.port is 0). Borrowed.
const char *ingest_http_address(const ingest_t *self);
//  Calls waiting for an answer or streaming.
size_t ingest_in_flight(const ingest_t *self);

#endif
