//  tg_curve.h - CURVE on the tcp:// sockets of one process.
//
//  With curve.dir set, every tcp:// socket is a CURVE server (bind) or client (connect):
//  servers use <dir>/server/<role>.cert (+ _secret), clients use
//  <dir>/clients/<curve.client or the process name>.cert (+ _secret) and trust
//  <dir>/server/<role>.cert for the address they connect to. A zauth actor admits the
//  clients whose public certificate is in <dir>/allowed/ (read again when it changes).
//  Roles, by endpoint: endpoints.jobs, bus_in, bus_out -> "router"; endpoints.analytics ->
//  "analytics"; endpoints.alert, alert_stream -> "alert"; any other (the router, ingest and
//  worker inboxes, every reply_to) -> "inbox". ipc:// and inproc:// sockets are left alone.
//  A refused handshake (unknown client key, wrong server key) is logged once per socket and
//  10 s, on whichever side sees it. Sockets are made in many modules, so the state is one
//  per process, set by tg_curve_start (like czmq's zsys); tg_curve_secure is for the thread
//  that called it.
#ifndef TG_CURVE_H
#define TG_CURVE_H

#include <czmq.h>
#include <stdbool.h>

#include "tg_config.h"

//  Starts CURVE for process `proc` when curve.dir is set (else does nothing): checks the
//  directory, the public server certificates and the client certificate; zauth starts with
//  the first secured socket.
//  TG_OK, or TG_ERR after printing one line to stderr.
int tg_curve_start(const tg_config_t *cfg, const char *proc);
//  Stops zauth and the handshake monitor; forgets the certificates. Idempotent.
void tg_curve_stop(void);
//  True between a tg_curve_start that found curve.dir and tg_curve_stop.
bool tg_curve_enabled(void);
//  Makes sock (borrowed) a CURVE server (bind) or client for `endpoint`, before the caller
//  binds or connects it, and watches its handshakes. TG_OK also when there is nothing to do
//  (not tcp://, CURVE off); TG_ERR, logged, when a certificate is missing.
int tg_curve_secure(zsock_t *sock, const char *endpoint, bool bind);
//  tg_curve_secure for a socket whose server role is known (`role`: "inbox", "router",
//  "analytics", "alert"; NULL: from the endpoint, as tg_curve_secure does).
int tg_curve_secure_as(zsock_t *sock, const char *endpoint, bool bind, const char *role);
//  Before a zproxy actor (borrowed) is given its FRONTEND and BACKEND: makes each of the two
//  a CURVE server (role "router") when its endpoint is tcp:// and CURVE is on. TG_OK, or
//  TG_ERR (logged) when the router certificate is missing.
int tg_curve_proxy(zactor_t *proxy, const char *frontend, const char *backend);
//  The server certificate of `role` as Z85 text, borrowed until tg_curve_stop; NULL
//  (logged) when missing or, with `secret`, without its _secret file.
const char *tg_curve_server_key(const char *role, bool secret);

#endif
