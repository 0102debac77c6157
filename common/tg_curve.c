//  tg_curve.c - certificates, zauth and a handshake monitor for one process.
#include "tg_curve.h"
#include "tg_addr.h"
#include "tg_log.h"
#include "tg_util.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define S_LOG_EVERY_US (10 * 1000000LL)  //  one refusal line per socket per 10 s
#define S_WATCHED                                                          \
    (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL \
     | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

static struct {
    bool enabled;       //  curve.dir was set at tg_curve_start
    char *dir;          //  curve.dir
    char *allowed;      //  <dir>/allowed
    zcert_t *client;    //  this process's client certificate (with its secret)
    zhashx_t *servers;  //  role -> zcert_t, loaded on first use (owned)
    zactor_t *auth;     //  zauth: CURVE <dir>/allowed
    zactor_t *monitor;  //  logs refused handshakes
    unsigned watches;   //  sockets watched so far (names their monitor endpoints)
} s_curve;

//  --- the handshake monitor (an actor: its own thread, its own sockets) ---

typedef struct {
    zsock_t *pair;        //  connected to the monitored socket's monitor endpoint
    char *endpoint;       //  what the socket binds or connects
    bool bind;            //  server side
    int64_t last_us;      //  last line logged
    unsigned suppressed;  //  refusals not logged since
} s_watch_t;

static void
s_watch_destroy(void **item)
{
    s_watch_t *w = *item;
    if (w) {
        zsock_destroy(&w->pair);
        free(w->endpoint);
        free(w);
        *item = NULL;
    }
}

static void
s_watch_log(s_watch_t *w, unsigned event, unsigned value)
{
    int64_t now = tg_mono_us();
    if (w->last_us && now - w->last_us < S_LOG_EVERY_US) {
        w->suppressed++;
        return;
    }
    char more[48] = "";
    if (w->suppressed)
        snprintf(more, sizeof more, " (and %u more since)", w->suppressed);
    w->last_us = now;
    w->suppressed = 0;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && w->bind)
        tg_log_warn("curve: refused a client on %s: its certificate is not in %s (ZAP status "
                    "%u)%s",
                    w->endpoint, s_curve.allowed, value, more);
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        tg_log_error("curve: %s refused this process's certificate (ZAP status %u): add its "
                     "public certificate to that host's allowed directory%s",
                     w->endpoint, value, more);
    else
        tg_log_error("curve: handshake failed %s %s: %s 0x%x (a wrong server certificate, or "
                     "a peer without CURVE)%s",
                     w->bind ? "on" : "to", w->endpoint,
                     event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error" : "error",
                     value, more);
}

//  One monitor message: [u16 event, u32 value] then the endpoint. False once the watched
//  socket is gone (its monitor stopped).
static bool
s_watch_read(s_watch_t *w)
{
    zmsg_t *msg = zmsg_recv(w->pair);
    if (!msg)
        return false;
    zframe_t *head = zmsg_first(msg);
    bool alive = true;
    if (head && zframe_size(head) == 6) {
        uint16_t event;
        uint32_t value;
        memcpy(&event, zframe_data(head), 2);
        memcpy(&value, zframe_data(head) + 2, 4);
        if (event == ZMQ_EVENT_MONITOR_STOPPED)
            alive = false;
        else if (event & S_WATCHED)
            s_watch_log(w, event, value);
    }
    zmsg_destroy(&msg);
    return alive;
}

static void
s_monitor_actor(zsock_t *pipe, void *args)
{
    (void)args;
    zpoller_t *poller = zpoller_new(pipe, NULL);
    zlistx_t *watches = zlistx_new();  //  of s_watch_t
    zlistx_set_destructor(watches, s_watch_destroy);
    zsock_signal(pipe, 0);
    while (true) {
        void *which = zpoller_wait(poller, -1);
        if (!which)
            break;  //  context terminated
        if (which == pipe) {
            char *cmd = NULL, *mon = NULL, *ep = NULL;
            int bind = 0;
            if (zsock_recv(pipe, "sssi", &cmd, &mon, &ep, &bind) != 0 || !cmd
                || !strcmp(cmd, "$TERM")) {
                zstr_free(&cmd);
                zstr_free(&mon);
                zstr_free(&ep);
                break;
            }
            s_watch_t *w = tg_zalloc(sizeof *w);
            w->pair = zsock_new(ZMQ_PAIR);
            w->endpoint = tg_strdup(ep);
            w->bind = bind != 0;
            if (w->pair && zsock_connect(w->pair, "%s", mon) == 0) {
                zpoller_add(poller, w->pair);
                zlistx_add_end(watches, w);
            } else {
                void *item = w;
                s_watch_destroy(&item);
            }
            zstr_free(&cmd);
            zstr_free(&mon);
            zstr_free(&ep);
            zsock_signal(pipe, 0);
            continue;
        }
        s_watch_t *w = zlistx_first(watches);
        while (w && w->pair != which)
            w = zlistx_next(watches);
        if (w && !s_watch_read(w)) {
            zpoller_remove(poller, which);
            zlistx_delete(watches, zlistx_cursor(watches));
        }
    }
    zpoller_destroy(&poller);
    zlistx_destroy(&watches);
}

//  --- certificates ---

static bool
s_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool
s_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

//  Loads <path> (and, with `secret`, requires <path>_secret). NULL when missing.
static zcert_t *
s_cert_load(const char *path, bool secret)
{
    char *sec = tg_strfmt("%s_secret", path);
    bool ok = s_is_file(path) && (!secret || s_is_file(sec));
    free(sec);
    return ok ? zcert_load(path) : NULL;
}

static void
s_cert_destroy(void **item)
{
    zcert_t *c = *item;
    zcert_destroy(&c);
    *item = NULL;
}

static zcert_t *
s_server(const char *role, bool secret)
{
    zcert_t *c = zhashx_lookup(s_curve.servers, role);
    char *path = tg_strfmt("%s/server/%s.cert", s_curve.dir, role);
    if (!c) {
        c = s_cert_load(path, false);
        if (c)
            zhashx_insert(s_curve.servers, role, c);
    }
    char *sec = tg_strfmt("%s_secret", path);
    if (!c || (secret && !s_is_file(sec))) {
        tg_log_error("curve: missing server certificate %s: run `tollgate certs --dir %s` "
                     "and copy the files to this host",
                     c ? sec : path, s_curve.dir);
        c = NULL;
    }
    free(sec);
    free(path);
    return c;
}

const char *
tg_curve_server_key(const char *role, bool secret)
{
    if (!s_curve.enabled)
        return NULL;
    zcert_t *c = s_server(role, secret);
    return c ? (secret ? zcert_secret_txt(c) : zcert_public_txt(c)) : NULL;
}

//  The server role of an endpoint (see the header).
static const char *
s_role(const char *endpoint, const tg_config_t *cfg)
{
    static const struct {
        const char *key;
        const char *role;
    } roles[] = {
        {"endpoints.jobs", "router"},    {"endpoints.bus_in", "router"},
        {"endpoints.bus_out", "router"}, {"endpoints.analytics", "analytics"},
        {"endpoints.alert", "alert"},    {"endpoints.alert_stream", "alert"},
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (!strcmp(endpoint, tg_config_str(cfg, roles[i].key)))
            return roles[i].role;
    return "inbox";
}

//  Starts zauth and the monitor on first use: a process may still set zsys options (which
//  need no socket open) between tg_curve_start and its first socket.
static int
s_actors(void)
{
    if (s_curve.auth)
        return TG_OK;
    s_curve.auth = zactor_new(zauth, NULL);
    s_curve.monitor = zactor_new(s_monitor_actor, NULL);
    if (!s_curve.auth || !s_curve.monitor) {
        tg_log_error("curve: cannot start zauth");
        zactor_destroy(&s_curve.auth);
        zactor_destroy(&s_curve.monitor);
        return TG_ERR;
    }
    zstr_sendx(s_curve.auth, "CURVE", s_curve.allowed, NULL);
    zsock_wait(s_curve.auth);
    return TG_OK;
}

static const tg_config_t *s_cfg;  //  borrowed: the process's config, alive until exit

static void
s_atexit(void)
{
    tg_curve_stop();
}

int
tg_curve_start(const tg_config_t *cfg, const char *proc)
{
    const char *dir = tg_config_str(cfg, "curve.dir");
    if (!*dir)
        return TG_OK;
    tg_curve_stop();
    s_cfg = cfg;
    s_curve.dir = tg_strdup(dir);
    s_curve.allowed = tg_strfmt("%s/allowed", dir);
    s_curve.servers = zhashx_new();
    zhashx_set_destructor(s_curve.servers, s_cert_destroy);
    if (!s_is_dir(s_curve.allowed)) {
        fprintf(stderr,
                "tollgate: %s: curve.dir %s has no allowed/ directory: run `tollgate certs "
                "--dir %s`\n",
                proc, dir, dir);
        tg_curve_stop();
        return TG_ERR;
    }
    static const char *const roles[] = {"inbox", "router", "analytics", "alert"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        char *pub = tg_strfmt("%s/server/%s.cert", dir, roles[i]);
        bool ok = s_is_file(pub);
        if (!ok)
            fprintf(stderr,
                    "tollgate: %s: missing server certificate %s: run `tollgate certs --dir %s` "
                    "and copy server/*.cert to this host\n",
                    proc, pub, dir);
        free(pub);
        if (!ok) {
            tg_curve_stop();
            return TG_ERR;
        }
    }
    const char *name =
        *tg_config_str(cfg, "curve.client") ? tg_config_str(cfg, "curve.client") : proc;
    char *path = tg_strfmt("%s/clients/%s.cert", dir, name);
    s_curve.client = s_cert_load(path, true);
    if (!s_curve.client) {
        fprintf(stderr,
                "tollgate: %s: missing client certificate %s (and its _secret): run `tollgate "
                "certs --dir %s --client %s`\n",
                proc, path, dir, name);
        free(path);
        tg_curve_stop();
        return TG_ERR;
    }
    free(path);
    s_curve.enabled = true;
    static bool registered;
    if (!registered) {
        registered = true;
        atexit(s_atexit);  //  after zsys_init: runs before czmq's own shutdown
    }
    return TG_OK;
}

void
tg_curve_stop(void)
{
    zactor_destroy(&s_curve.monitor);
    zactor_destroy(&s_curve.auth);
    zcert_destroy(&s_curve.client);
    zhashx_destroy(&s_curve.servers);
    free(s_curve.dir);
    free(s_curve.allowed);
    s_curve.dir = s_curve.allowed = NULL;
    s_curve.enabled = false;
}

bool
tg_curve_enabled(void)
{
    return s_curve.enabled;
}

int
tg_curve_proxy(zactor_t *proxy, const char *frontend, const char *backend)
{
    const char *eps[2] = {frontend, backend};
    const char *names[2] = {"FRONTEND", "BACKEND"};
    for (int i = 0; i < 2; i++) {
        if (!s_curve.enabled || !tg_addr_is_tcp(eps[i]))
            continue;
        zcert_t *c = s_server("router", true);
        if (!c || s_actors() != TG_OK)
            return TG_ERR;
        //  zproxy keeps these and applies them when the socket is made, before its bind.
        zstr_sendx(proxy, "CURVE", names[i], zcert_public_txt(c), zcert_secret_txt(c), NULL);
        zsock_wait(proxy);
    }
    return TG_OK;
}

int
tg_curve_secure(zsock_t *sock, const char *endpoint, bool bind)
{
    return tg_curve_secure_as(sock, endpoint, bind, NULL);
}

int
tg_curve_secure_as(zsock_t *sock, const char *endpoint, bool bind, const char *role)
{
    if (!s_curve.enabled || !tg_addr_is_tcp(endpoint))
        return TG_OK;
    if (!role)
        role = s_role(endpoint, s_cfg);
    zcert_t *server = s_server(role, bind);
    if (!server || s_actors() != TG_OK)
        return TG_ERR;
    if (bind) {
        zcert_apply(server, sock);
        zsock_set_curve_server(sock, 1);
        zsock_set_zap_domain(sock, "tollgate");
    } else {
        zcert_apply(s_curve.client, sock);
        zsock_set_curve_serverkey(sock, zcert_public_txt(server));
    }
    char *mon = tg_strfmt("inproc://tg-curve-monitor-%u", ++s_curve.watches);
    if (zmq_socket_monitor(zsock_resolve(sock), mon, S_WATCHED | ZMQ_EVENT_MONITOR_STOPPED) == 0) {
        zsock_send(s_curve.monitor, "sssi", "WATCH", mon, endpoint, bind ? 1 : 0);
        zsock_wait(s_curve.monitor);
    }
    free(mon);
    return TG_OK;
}
