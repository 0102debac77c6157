//  worker_sse.h - incremental Server-Sent-Events parser (WHATWG event stream); no I/O.
#ifndef WORKER_SSE_H
#define WORKER_SSE_H

#include <stddef.h>

typedef struct worker_sse worker_sse_t;

//  Called once per complete event. `event` is the event name ("message" when the event had no
//  `event:` field); `data` is its data lines joined by \n, NUL-terminated, data_len bytes long.
//  Both are borrowed, valid during the call only. Return 0 to go on, non-zero to stop parsing.
typedef int(worker_sse_cb)(void *arg, const char *event, const char *data, size_t data_len);

//  Creates a parser that buffers at most max_event_bytes (> 0) of one event: the line being
//  read plus the event's data and name. Aborts on OOM only.
worker_sse_t *worker_sse_new(size_t max_event_bytes);
//  Frees the parser and sets *self_p to NULL. NULL-safe, idempotent.
void worker_sse_destroy(worker_sse_t **self_p);
//  Parses len more bytes of the stream (split anywhere), calling cb for each event completed.
//  Returns TG_OK, TG_INVALID when an event passes the cap, or cb's first non-zero return.
//  After a non-OK return the parser is stopped: later feeds return that value again.
int worker_sse_feed(worker_sse_t *self, const char *data, size_t len, worker_sse_cb *cb, void *arg);
//  Bytes of an event begun but not dispatched yet; 0 at an event boundary. Non-zero at EOF
//  means the stream was cut inside an event (the spec drops such an event).
size_t worker_sse_pending(const worker_sse_t *self);

#endif
