//  tg_trace.c - trace context: traceparent parsing and the usage event's context fields.
#include "tg_trace.h"
#include "tg_keyrec.h"
#include "tg_util.h"

#include <string.h>

static bool
s_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

//  True if s[0..n) are lower-case hex digits; *nonzero_p tells if one is not '0'.
static bool
s_hex(const char *s, size_t n, bool *nonzero_p)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        if (!s_is_hex(s[i]))
            return false;
        nonzero |= s[i] != '0';
    }
    *nonzero_p = nonzero;
    return true;
}

int
tg_trace_parse_traceparent(const char *value, char trace[33], char parent[17])
{
    //  00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
    if (!value || strnlen(value, 56) < 55)
        return TG_INVALID;
    const char *v = value;
    bool nz_version, nz_trace, nz_parent, nz_flags;
    if (!s_hex(v, 2, &nz_version) || strncmp(v, "ff", 2) == 0 || v[2] != '-' || v[35] != '-'
        || v[52] != '-')
        return TG_INVALID;
    if (!s_hex(v + 3, 32, &nz_trace) || !s_hex(v + 36, 16, &nz_parent)
        || !s_hex(v + 53, 2, &nz_flags) || !nz_trace || !nz_parent)
        return TG_INVALID;
    //  Version 00 is exactly 55 bytes; a later version may append "-..." fields.
    if (v[55] && (!nz_version || v[55] != '-'))
        return TG_INVALID;
    memcpy(trace, v + 3, 32);
    trace[32] = 0;
    memcpy(parent, v + 36, 16);
    parent[16] = 0;
    return TG_OK;
}

bool
tg_trace_id_ok(const char *id, size_t max)
{
    if (!id)
        return false;
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
        if (n >= max || !ok)
            return false;
    }
    return n > 0;
}

static char *
s_dup(const char *s)
{
    return s && *s ? tg_strdup(s) : NULL;
}

void
tg_trace_stamp_usage(tg_fr_usage_t *u,
                     const char *org,
                     const char *user,
                     const char *env,
                     const char *trace,
                     const char *parent)
{
    u->org = tg_strdup(org && *org ? org : TG_ORG_DEFAULT);
    u->user = s_dup(user);
    u->env = s_dup(env);
    u->trace = s_dup(trace);
    u->parent = s_dup(parent);
    u->span = s_dup(u->id);
}
