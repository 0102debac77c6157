//  ingest_http.c - the HTTP server: listener, answers and their common headers.
#include "ingest_priv.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include "tg_error.h"
#include "tg_log.h"
#include "tg_util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void
s_free_ref(const void *data, size_t len, void *extra)
{
    (void)len;
    (void)extra;
    free((void *)data);
}

//  An answer handed to libevent ends one of two ways: written (on_complete, which then
//  clears the close callback), or its connection closes first (close callback; libevent
//  then frees the request without on_complete). So `writing` drops once per answer, and a
//  drain waits exactly for the bytes still on their way.
static void
s_on_written(struct evhttp_request *req, void *arg)
{
    ingest_t *self = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    assert(self->writing > 0);
    self->writing--;
    ingest_drain_check(self);
}

static void
s_on_write_lost(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    ingest_t *self = arg;
    assert(self->writing > 0);
    self->writing--;
    ingest_drain_check(self);
}

static void
s_track_write(ingest_t *self, struct evhttp_request *req)
{
    self->writing++;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), s_on_write_lost, self);
    evhttp_request_set_on_complete_cb(req, s_on_written, self);
}

//  Copies a client string for a message: printable ASCII only, at most n bytes.
void
ingest_http_printable(const char *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s && s[i] && i < n; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = 0;
}

bool
ingest_http_token_valid(const char *s, size_t max, char lo)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || s[n] < lo || s[n] > 0x7e)
            return false;
    return n > 0;
}

bool
ingest_http_client_rid(struct evhttp_request *req, char *out)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), "x-request-id");
    if (!v || !ingest_http_token_valid(v, INGEST_RID_MAX, 0x20))
        return false;
    memcpy(out, v, strlen(v) + 1);
    return true;
}

void
ingest_http_common_headers(ingest_t *self, struct evhttp_request *req, const char *rid)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "x-request-id", rid);
    if (self->draining)
        evhttp_add_header(h, "Connection", "close");
}

static void
s_count_status(ingest_t *self, int status)
{
    char labels[32];
    snprintf(labels, sizeof labels, "code=\"%d\"", status);
    tg_metrics_add(self->metrics, "tollgate_http_responses_total", labels, 1);
}

//  Errors on /v1/messages are Anthropic error objects (its SDK types them by status and
//  reads error.type), whichever process made them.
static bool
s_anthropic_errors(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    return path && strcmp(path, "/v1/messages") == 0;
}

char *
ingest_http_error_line(ingest_kind_t kind, int status, const char *body)
{
    if (kind != INGEST_MESSAGES)
        return tg_strfmt("data: %s\n\n", body);
    char *a = tg_error_anthropic(status, body, strlen(body));
    char *line = tg_strfmt("event: error\ndata: %s\n\n", a);
    free(a);
    return line;
}

void
ingest_http_send(ingest_t *self,
                 struct evhttp_request *req,
                 const char *rid,
                 int status,
                 const char *ctype,
                 char **body_p,
                 size_t len)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      ctype && *ctype ? ctype : "application/json");
    ingest_http_common_headers(self, req, rid);
    if (status >= 400 && s_anthropic_errors(req)) {
        char *a = tg_error_anthropic(status, *body_p, *body_p ? len : 0);
        free(*body_p);
        *body_p = a;
        len = strlen(a);
    }
    if (*body_p) {
        evbuffer_add_reference(evhttp_request_get_output_buffer(req), *body_p, len, s_free_ref,
                               NULL);
        *body_p = NULL;
    }
    s_count_status(self, status);
    s_track_write(self, req);
    evhttp_send_reply(req, status, NULL, NULL);
}

void
ingest_http_error(ingest_t *self,
                  struct evhttp_request *req,
                  const char *rid,
                  int status,
                  const char *message,
                  const char *param,
                  const char *code)
{
    //  Refusals are rare next to answers, and each gets its line (issue: bad input is logged).
    tg_log_info("refused status=%d code=%s param=%s rid=%s msg=%.160s", status, code ? code : "-",
                param ? param : "-", rid, message);
    char *body = tg_error_body(status, message, NULL, param, code);
    ingest_http_send(self, req, rid, status, NULL, &body, strlen(body));
}

void
ingest_http_stream_start(
    ingest_t *self, struct evhttp_request *req, const char *rid, int status, const char *provider)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    if (!self->draining)
        evhttp_add_header(h, "Connection", "keep-alive");
    if (provider && *provider)
        evhttp_add_header(h, "x-tollgate-provider", provider);
    ingest_http_common_headers(self, req, rid);
    s_count_status(self, status);
    evhttp_send_reply_start(req, status, NULL);
}

void
ingest_http_stream_end(ingest_t *self, struct evhttp_request *req)
{
    s_track_write(self, req);
    evhttp_send_reply_end(req);
}

//  The listener `tollgate up` bound for its ingest processes (http.listen_fd): every ingest of
//  one gateway accepts on that one socket, and no other gateway can bind the port. NULL
//  (logged) when the descriptor is not a listening socket.
static struct evconnlistener *
s_inherited(ingest_t *self, int fd)
{
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
        tg_log_error("http.listen_fd=%d is not a listening socket", fd);
        return NULL;
    }
    evutil_make_socket_nonblocking(fd);
    evutil_make_socket_closeonexec(fd);
    return evconnlistener_new(self->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
}

//  Out of descriptors, accept() fails while the connection stays queued, so the listener
//  would wake again at once, in a loop: it pauses instead, until ingest's next tick
//  (ingest_http_resume_accepting) tries again.
static void
s_on_accept_error(struct evconnlistener *listener, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        evconnlistener_disable(listener);
        tg_log_warn("accept failed: %s: not accepting for a moment",
                    evutil_socket_error_to_string(err));
    }
}

int
ingest_http_start(ingest_t *self)
{
    const char *host = tg_config_str(self->cfg, "http.host");
    char port[16];
    snprintf(port, sizeof port, "%lld", (long long)tg_config_int(self->cfg, "http.port"));
    int inherited = (int)tg_config_int(self->cfg, "http.listen_fd");
    struct evconnlistener *listener = NULL;
    if (inherited >= 0) {
        listener = s_inherited(self, inherited);
        if (!listener)
            return TG_ERR;
        goto serve;
    }
    struct evutil_addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
    int gai = evutil_getaddrinfo(*host ? host : NULL, port, &hints, &ai);
    if (gai != 0 || !ai) {
        tg_log_error("cannot resolve http.host=%s err=%s", host, evutil_gai_strerror(gai));
        return TG_ERR;
    }
    listener = evconnlistener_new_bind(self->base, NULL, NULL,
                                       LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT
                                           | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                       1024, ai->ai_addr, (int)ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    if (!listener) {
        tg_log_error("cannot listen on http=%s:%s err=%s", host, port,
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return TG_ERR;
    }
    //  Accepted sockets inherit TCP_NODELAY from the listener on Linux: SSE chunks are small
    //  writes, and Nagle plus the client's delayed ACK would hold each one back up to 40 ms.
serve:;
    int one = 1;
    setsockopt(evconnlistener_get_fd(listener), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    self->http = evhttp_new(self->base);
    evhttp_set_max_body_size(self->http, (ev_ssize_t)self->max_body);
    evhttp_set_max_headers_size(self->http, 65536);
    evhttp_set_timeout(self->http, INGEST_IDLE_TIMEOUT_S);
    evhttp_set_allowed_methods(self->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD
                                               | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE
                                               | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    //  Read and drop the rest of an oversized body before answering 413, so that the client
    //  reads the answer instead of a connection reset.
    evhttp_set_flags(self->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_default_content_type(self->http, "application/json");
    evhttp_set_gencb(self->http, ingest_routes_dispatch, self);
    self->bound = evhttp_bind_listener(self->http, listener);
    evconnlistener_set_error_cb(listener, s_on_accept_error);
    self->listener = listener;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&ss, &sl);
    char ip[INET6_ADDRSTRLEN] = "?";
    int bound_port = 0;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        bound_port = ntohs(a->sin6_port);
        snprintf(self->http_addr, sizeof self->http_addr, "[%s]:%d", ip, bound_port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        bound_port = ntohs(a->sin_port);
        snprintf(self->http_addr, sizeof self->http_addr, "%s:%d", ip, bound_port);
    }
    return TG_OK;
}

void
ingest_http_stop_accepting(ingest_t *self)
{
    if (self->bound) {
        evhttp_del_accept_socket(self->http, self->bound);  //  closes the listening socket
        self->bound = NULL;
        self->listener = NULL;
    }
}

void
ingest_http_resume_accepting(ingest_t *self)
{
    if (self->listener)
        evconnlistener_enable(self->listener);  //  a no-op unless an error paused it
}
