//  tg_addr.c - endpoint string helpers.
#include "tg_addr.h"
#include "tg_util.h"

#include <stdio.h>
#include <string.h>

bool
tg_addr_is_tcp(const char *endpoint)
{
    return endpoint && strncmp(endpoint, "tcp://", 6) == 0;
}

//  The "HOST:PORT" part of a tcp endpoint (after an optional "SOURCE;" prefix), or NULL.
static const char *
s_hostport(const char *endpoint)
{
    if (!tg_addr_is_tcp(endpoint))
        return NULL;
    const char *p = endpoint + 6;
    const char *semi = strchr(p, ';');
    return semi ? semi + 1 : p;
}

bool
tg_addr_host(const char *endpoint, char *host, size_t size)
{
    const char *p = s_hostport(endpoint);
    if (!p || size == 0)
        return false;
    const char *start = p, *end;
    if (*p == '[') {
        start = p + 1;
        end = strchr(start, ']');
        if (!end || end[1] != ':')
            return false;
    } else {
        end = strrchr(p, ':');
        if (!end)
            return false;
    }
    size_t n = (size_t)(end - start);
    if (n == 0 || n >= size)
        return false;
    memcpy(host, start, n);
    host[n] = 0;
    return true;
}

bool
tg_addr_host_is_loopback(const char *host)
{
    return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

bool
tg_addr_host_is_wildcard(const char *host)
{
    return !strcmp(host, "*") || !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
}

char *
tg_addr_connectable(const char *endpoint)
{
    char host[256];
    if (!tg_addr_host(endpoint, host, sizeof host) || !tg_addr_host_is_wildcard(host))
        return tg_strdup(endpoint);
    const char *hp = s_hostport(endpoint);
    const char *port = hp[0] == '[' ? strchr(hp, ']') + 1 : strrchr(hp, ':');
    return tg_strfmt("tcp://%s%s", strcmp(host, "::") ? "127.0.0.1" : "[::1]", port);
}

char *
tg_addr_advertise(const char *bound, const char *public_host, char *why, size_t why_size)
{
    if (!tg_addr_is_tcp(bound))
        return tg_strdup(bound);
    char host[256];
    if (!tg_addr_host(bound, host, sizeof host)) {
        snprintf(why, why_size, "cannot read the host of %s", bound);
        return NULL;
    }
    const char *hp = s_hostport(bound);
    const char *port = hp[0] == '[' ? strchr(hp, ']') + 1 : strrchr(hp, ':');
    if (public_host && *public_host) {
        bool v6 = strchr(public_host, ':') != NULL;
        return tg_strfmt("tcp://%s%s%s%s", v6 ? "[" : "", public_host, v6 ? "]" : "", port);
    }
    if (tg_addr_host_is_wildcard(host)) {
        snprintf(why, why_size,
                 "%s is a wildcard address others cannot send to: set endpoints.public_host "
                 "(TOLLGATE_PUBLIC_HOST) to this host's name or address, or bind a concrete one",
                 bound);
        return NULL;
    }
    return tg_strdup(bound);
}
