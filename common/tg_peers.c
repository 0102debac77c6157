//  tg_peers.c - lazily connected PUSH sockets, one per reply endpoint.
#include "tg_peers.h"
#include "tg_addr.h"
#include "tg_curve.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <string.h>

#define S_MAX_PEERS 4096  //  beyond this the least recently added socket is closed

struct tg_peers {
    zhashx_t *socks;  //  endpoint -> zsock_t (owned)
};

static void
s_sock_destroy(void **item)
{
    zsock_t *s = *item;
    zsock_destroy(&s);
    *item = NULL;
}

zsock_t *
tg_socket_open(int type, const char *endpoint, bool bind, int hwm)
{
    zsock_t *s = zsock_new(type);
    if (!s) {
        tg_log_error("cannot create a socket for endpoint=%s", endpoint);
        return NULL;
    }
    if (hwm > 0) {
        zsock_set_sndhwm(s, hwm);
        zsock_set_rcvhwm(s, hwm);
    }
    if (tg_curve_secure(s, endpoint, bind) != TG_OK) {
        zsock_destroy(&s);
        return NULL;
    }
    char *target = bind ? tg_strdup(endpoint) : tg_addr_connectable(endpoint);
    int rc = bind ? zsock_bind(s, "%s", target) : zsock_connect(s, "%s", target);
    free(target);
    if (rc < 0) {
        tg_log_error("cannot %s endpoint=%s err=%s", bind ? "bind" : "connect", endpoint,
                     zmq_strerror(zmq_errno()));
        zsock_destroy(&s);
    }
    return s;
}

char *
tg_socket_advertised(zsock_t *sock, const tg_config_t *cfg)
{
    char *bound = zsock_last_endpoint(sock);
    if (!bound) {
        tg_log_error("cannot read the bound endpoint of a socket");
        return NULL;
    }
    const char *public_host = tg_config_str(cfg, "endpoints.public_host");
    char host[256] = "";
    if (!strcmp(public_host, "@hostname")) {
        if (gethostname(host, sizeof host - 1) != 0 || !*host) {
            tg_log_error("endpoints.public_host=@hostname but the host has no name");
            zstr_free(&bound);
            return NULL;
        }
        public_host = host;
    }
    char why[512];
    char *ep = tg_addr_advertise(bound, public_host, why, sizeof why);
    if (!ep)
        tg_log_error("%s", why);
    else if (tg_addr_is_tcp(ep))
        tg_log_info("inbox bound=%s advertised=%s", bound, ep);
    zstr_free(&bound);
    return ep;
}

tg_peers_t *
tg_peers_new(void)
{
    tg_peers_t *self = tg_zalloc(sizeof *self);
    self->socks = zhashx_new();
    zhashx_set_destructor(self->socks, s_sock_destroy);
    return self;
}

void
tg_peers_destroy(tg_peers_t **self_p)
{
    assert(self_p);
    tg_peers_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->socks);
    free(self);
    *self_p = NULL;
}

int
tg_peers_send(tg_peers_t *self, const char *endpoint, tg_frame_t **frame_p)
{
    assert(frame_p && *frame_p);
    zsock_t *sock = endpoint ? zhashx_lookup(self->socks, endpoint) : NULL;
    if (!sock && endpoint) {
        if (zhashx_size(self->socks) >= S_MAX_PEERS)
            zhashx_purge(self->socks);  //  peers reconnect on their next reply
        sock = zsock_new(ZMQ_PUSH);
        zsock_set_sndhwm(sock, 100000);
        zsock_set_linger(sock, 1000);
        if (tg_curve_secure(sock, endpoint, false) != TG_OK
            || zsock_connect(sock, "%s", endpoint) != 0) {
            tg_log_warn("cannot connect reply endpoint=%s", endpoint);
            zsock_destroy(&sock);
        } else
            zhashx_insert(self->socks, endpoint, sock);
    }
    if (!sock) {
        tg_frame_destroy(frame_p);
        return TG_INVALID;
    }
    return tg_frame_send(frame_p, sock);
}

bool
tg_peers_endpoint_ok(const char *endpoint)
{
    return endpoint && strlen(endpoint) <= TG_PEERS_MAX_ENDPOINT
           && (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "tcp://", 6) == 0
               || strncmp(endpoint, "inproc://", 9) == 0);
}
