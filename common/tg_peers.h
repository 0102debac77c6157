//  tg_peers.h - PUSH sockets to reply_to endpoints, connected lazily and kept.
#ifndef TG_PEERS_H
#define TG_PEERS_H

#include <stdbool.h>

#include <czmq.h>
#include <stdbool.h>

#include "tg_config.h"
#include "tg_frame.h"

#define TG_PEERS_MAX_ENDPOINT 512  //  longest reply endpoint accepted from a frame

typedef struct tg_peers tg_peers_t;

//  A new socket of `type`, bound (`bind`) or connected to `endpoint`, with both high-water
//  marks set to `hwm` (0 = libzmq's default); CURVE on tcp when it is on (tg_curve_secure); a
//  connect to a wildcard host goes to loopback (tg_addr_connectable). NULL, logged with the
//  zmq error, on failure.
zsock_t *tg_socket_open(int type, const char *endpoint, bool bind, int hwm);

//  The address others send to for sock (borrowed, bound): its bound endpoint, with the host
//  replaced by endpoints.public_host when set ("@hostname": this host's name). NULL, logged,
//  for a wildcard bind (tcp://*:N) without public_host. Caller frees.
char *tg_socket_advertised(zsock_t *sock, const tg_config_t *cfg);

//  An empty set of peer sockets.
tg_peers_t *tg_peers_new(void);
//  Closes every socket (linger 1 s) and frees; *self_p = NULL. NULL-safe.
void tg_peers_destroy(tg_peers_t **self_p);
//  Sends the frame to `endpoint` (connecting on first use) and destroys it (*frame_p = NULL).
//  TG_OK, TG_AGAIN at HWM, TG_INVALID for an endpoint that cannot be connected (logged).
int tg_peers_send(tg_peers_t *self, const char *endpoint, tg_frame_t **frame_p);
//  True if `endpoint` (from a frame; may be NULL) is one a reply socket may connect to: an
//  ipc://, tcp:// or inproc:// address of at most TG_PEERS_MAX_ENDPOINT bytes.
bool tg_peers_endpoint_ok(const char *endpoint);

#endif
