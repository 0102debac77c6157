//  mock.h - tg-mock core: an OpenAI/Anthropic-compatible HTTP mock provider on libevent.
#ifndef MOCK_H
#define MOCK_H

#include <event2/event.h>

typedef struct mock mock_t;

//  Binds host:port (port 0 = ephemeral) and serves on base. Returns NULL (logged) if the
//  address cannot be resolved or bound. base is borrowed and must outlive the mock.
mock_t *mock_new(struct event_base *base, const char *host, int port);
//  Ends requests still in progress, closes every connection, frees the mock and sets *self_p
//  to NULL. NULL-safe, idempotent.
void mock_destroy(mock_t **self_p);
//  The TCP port actually bound.
int mock_port(mock_t *self);

#endif
