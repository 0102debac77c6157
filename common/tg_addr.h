//  tg_addr.h - ZeroMQ endpoint strings: tcp host, loopback, the address a bound inbox
//  advertises as its reply_to. Pure functions (no sockets, no config).
#ifndef TG_ADDR_H
#define TG_ADDR_H

#include <stdbool.h>
#include <stddef.h>

//  True for a "tcp://..." endpoint.
bool tg_addr_is_tcp(const char *endpoint);
//  Copies the host of a tcp:// endpoint ("tcp://HOST:PORT", "tcp://[V6]:PORT", an optional
//  "IFACE;" source prefix skipped) into host (size bytes, brackets removed). False when
//  endpoint is not tcp:// or has no ":PORT" or the host does not fit.
bool tg_addr_host(const char *endpoint, char *host, size_t size);
//  True for a host only this machine can reach: "localhost", 127.0.0.0/8, "::1".
bool tg_addr_host_is_loopback(const char *host);
//  True for a wildcard host: "*", "0.0.0.0", "::".
bool tg_addr_host_is_wildcard(const char *host);
//  What a process connects to for `endpoint`: a tcp wildcard host (a bind address such as
//  tcp://*:5552, which the binding process itself may also connect to) becomes loopback
//  (127.0.0.1, or ::1 for "::"); anything else is returned as it is. Caller frees.
char *tg_addr_connectable(const char *endpoint);
//  The address a socket bound at `bound` (its ZMQ_LAST_ENDPOINT, port resolved) tells others
//  to send to: with `public_host` (not NULL or ""), tcp://PUBLIC_HOST:PORT; else `bound`
//  itself when its host is concrete. Non-tcp endpoints are returned unchanged. NULL, with
//  a reason in why (size why_size), for a wildcard host without public_host. Caller frees.
char *tg_addr_advertise(const char *bound, const char *public_host, char *why, size_t why_size);

#endif
