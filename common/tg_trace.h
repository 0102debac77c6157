//  tg_trace.h - trace context of a call: W3C traceparent and x-tollgate-* ids, and the
//  trace/user/env/org fields a usage event carries.
#ifndef TG_TRACE_H
#define TG_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "tg_frame.h"

#define TG_TRACE_ID_MAX 128  //  longest trace or span id accepted (x-tollgate-*, events API)

//  Parses a W3C Trace Context `traceparent` value (version-traceid-parentid-flags, lower-case
//  hex; version ff and all-zero ids are invalid; a future version may carry more after the
//  flags). TG_OK with trace (33 bytes) and parent (17 bytes) filled, else TG_INVALID.
int tg_trace_parse_traceparent(const char *value, char trace[33], char parent[17]);
//  True if `id` is a usable trace or span id: 1..max bytes of [A-Za-z0-9._:/-].
bool tg_trace_id_ok(const char *id, size_t max);
//  Copies the call's context into a usage event (strings duplicated; NULL or "" leave the
//  field empty): org ("default" when none), user, env, trace, parent; span = the event's
//  request id (u->id), so a later call can name this one as its parent.
void tg_trace_stamp_usage(tg_fr_usage_t *u,
                          const char *org,
                          const char *user,
                          const char *env,
                          const char *trace,
                          const char *parent);

#endif
