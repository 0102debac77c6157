//  mock_provider.c - tg-mock core: evhttp server, routing, fault plans, streams, stats, control.
#include "mock.h"
#include "mock_plan.h"
#include "mock_wire.h"
#include "tg_log.h"
#include "tg_util.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <zlib.h>

#define MOCK_MAX_BODY (16 * 1024 * 1024)  //  largest request body accepted
#define MOCK_BACKLOG 4096                 //  listen(2) backlog: benchmarks open thousands at once
#define MOCK_TIMEOUT_S 300                //  idle keep-alive and stalled-write timeout
#define MOCK_MAX_PATHS 256                //  distinct paths counted in by_path
#define MOCK_MAX_SCRIPT 100000            //  pending script steps
#define MOCK_MAX_KEYS 65536               //  distinct fail_times keys
#define MOCK_RECORD_MAX 65536             //  bytes of path, headers or raw body kept in stats
#define MOCK_DRAIN_WAIT_US 2000000        //  longest wait for a stream to drain before a reset

typedef enum {
    REQ_SYNC,     //  answered inside the request callback
    REQ_LATENCY,  //  waiting latency_ms before answering
    REQ_HANG,     //  never answering; waiting for the client to go away
    REQ_STREAM,   //  streaming; the next frame is due on the timer
    REQ_RESET,    //  waiting for the output to drain, then resetting the connection
    REQ_DEAD,     //  libevent closed the connection; freed on the next timer tick
} req_state_t;

typedef enum {
    OUT_ANSWER,   //  generated answer (body or stream)
    OUT_ERROR,    //  provider error body for plan.status
    OUT_GARBAGE,  //  non-JSON body or broken stream
    OUT_RAW,      //  script step body or chunks
} out_kind_t;

typedef struct mock_req mock_req_t;

//  The last model request, kept in reused buffers; turned into JSON only for /_mock/stats.
typedef struct {
    bool valid;          //  a model request was recorded since start or the last reset
    const char *method;  //  static method name
    tg_buf_t path;       //  request path
    tg_buf_t headers;    //  "name\0value\0" pairs, names lowercased
    json_t *body;        //  parsed JSON body (owned reference), or NULL
    tg_buf_t raw;        //  the body as received when it was not JSON (capped)
} s_record_t;

struct mock {
    struct event_base *base;  //  borrowed loop
    struct evhttp *http;      //  server; owns the listener and every connection
    int port;                 //  bound TCP port
    struct evbuffer *frame;   //  scratch buffer for one stream frame
    json_t *script;           //  pending /_mock/script steps, consumed in order
    json_t *counters;         //  fail_times: key -> requests seen
    json_t *by_path;          //  stats: path -> model requests
    s_record_t last;          //  stats: the last model request
    uint64_t requests;        //  stats: model requests received
    uint64_t aborted;         //  stats: clients gone before their answer finished
    uint64_t resets;          //  stats: connections reset on purpose (reset_after)
    uint64_t gzip_requests;   //  stats: model requests with a Content-Encoding: gzip body
    uint64_t gzip_bytes_in;   //  stats: their bytes as received (compressed)
    uint64_t gzip_bytes_out;  //  stats: their bytes once inflated
    uint64_t seq;             //  request number for ids (never reset)
    int64_t in_flight;        //  model requests not yet answered completely
    mock_req_t *live;         //  requests answered asynchronously (list head)
};

struct mock_req {
    mock_t *mock;                //  owner
    struct evhttp_request *req;  //  libevent request; NULL once libevent owns or freed it
    bool detached;               //  libevent dropped req from its dead connection: we free it
    mock_api_t api;              //  endpoint
    json_t *body;                //  parsed request body (owned reference)
    bool stream;                 //  the client asked for SSE
    uint64_t seq;                //  request number
    mock_plan_t plan;            //  faults to inject
    mock_answer_t answer;        //  generated chat/messages answer
    out_kind_t out;              //  what the response carries
    size_t frame;                //  next stream frame
    long content_sent;           //  content frames sent
    int64_t drain_deadline;      //  REQ_RESET: reset even if not drained by then (mono µs)
    req_state_t state;           //  where the answer stands
    bool async;                  //  on the live list with closecb and watch armed
    struct event *timer;         //  latency, chunk pacing, drain polling, deferred free
    struct event *watch;         //  notices the client closing while we hold the answer
    mock_req_t *prev, *next;     //  live list
};

static void s_respond(mock_req_t *r);
static void s_pump(mock_req_t *r);

//  ---------------------------------------------------------------- request lifetime

static mock_req_t *
s_req_new(mock_t *self, struct evhttp_request *req, mock_api_t api, json_t **body_p)
{
    mock_req_t *r = tg_zalloc(sizeof *r);
    r->mock = self;
    r->req = req;
    r->api = api;
    r->body = *body_p;
    *body_p = NULL;
    r->stream = api != MOCK_API_EMBEDDINGS && json_is_true(json_object_get(r->body, "stream"));
    r->seq = ++self->seq;
    r->state = REQ_SYNC;
    mock_plan_init(&r->plan);
    self->in_flight++;
    return r;
}

//  Frees r. A request still attached to its connection is left to libevent, after its close
//  callback is cleared; a detached one is freed here.
static void
s_req_free(mock_req_t *r)
{
    mock_t *self = r->mock;
    if (r->req && r->detached)
        evhttp_request_free(r->req);
    else if (r->req && r->async) {
        struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
        if (evcon)
            evhttp_connection_set_closecb(evcon, NULL, NULL);
    }
    if (r->watch)
        event_free(r->watch);
    if (r->timer)
        event_free(r->timer);
    if (r->async) {
        if (r->prev)
            r->prev->next = r->next;
        else
            self->live = r->next;
        if (r->next)
            r->next->prev = r->prev;
    }
    mock_plan_fini(&r->plan);
    mock_answer_fini(&r->answer);
    json_decref(r->body);
    self->in_flight--;
    free(r);
}

static void s_on_timer(evutil_socket_t fd, short what, void *arg);

static void
s_arm(mock_req_t *r, long ms)
{
    if (!r->timer)
        r->timer = evtimer_new(r->mock->base, s_on_timer, r);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(r->timer, &tv);
}

//  libevent is closing the connection under a request we still hold (write error, timeout):
//  count the abort and free r on the next tick, outside libevent's call stack.
static void
s_on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    mock_req_t *r = arg;
    r->mock->aborted++;
    if (evhttp_request_get_connection(r->req) == NULL)
        r->detached = true;  //  libevent let go of it: ours to free
    else
        r->req = NULL;  //  freed with the connection right after this callback
    if (r->watch) {
        event_free(r->watch);
        r->watch = NULL;
    }
    r->state = REQ_DEAD;
    s_arm(r, 0);
}

//  Tears down the connection of r right now; libevent frees the request with it.
static void
s_drop_connection(mock_req_t *r, bool reset)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
    if (r->watch) {
        event_free(r->watch);
        r->watch = NULL;
    }
    if (evcon) {
        evhttp_connection_set_closecb(evcon, NULL, NULL);
        if (reset) {
            //  SO_LINGER 0 then an AF_UNSPEC connect: Linux aborts the connection with a RST
            //  while the descriptor stays valid for libevent to close.
            evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            struct sockaddr unspec = {.sa_family = AF_UNSPEC};
            connect(fd, &unspec, sizeof unspec);
        }
        r->req = NULL;
        evhttp_connection_free(evcon);
    }
    s_req_free(r);
}

//  Readable while we hold the answer: EOF or an error means the client went away.
static void
s_on_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    mock_req_t *r = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
        event_del(r->watch);  //  a pipelined request: stop watching rather than spin
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    tg_log_debug("req=%" PRIu64 " client went away", r->seq);
    r->mock->aborted++;
    s_drop_connection(r, false);
}

//  Moves r to asynchronous handling: on the live list, with close detection armed.
static void
s_go_async(mock_req_t *r, req_state_t state)
{
    mock_t *self = r->mock;
    r->state = state;
    if (r->async)
        return;
    r->async = true;
    r->next = self->live;
    if (self->live)
        self->live->prev = r;
    self->live = r;
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
    evhttp_connection_set_closecb(evcon, s_on_close, r);
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    r->watch = event_new(self->base, fd, EV_READ | EV_PERSIST, s_on_watch, r);
    event_add(r->watch, NULL);
}

//  Disarms close detection before the last bytes go out, so a close after the answer is not
//  counted as an abort.
static void
s_release(mock_req_t *r)
{
    if (!r->async)
        return;
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (r->watch) {
        event_free(r->watch);
        r->watch = NULL;
    }
}

static void
s_begin_reset(mock_req_t *r)
{
    s_go_async(r, REQ_RESET);
    r->drain_deadline = tg_mono_us() + MOCK_DRAIN_WAIT_US;
    s_arm(r, 0);
}

//  Resets the connection once what was sent has left the output buffer.
static void
s_reset_step(mock_req_t *r)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
    struct evbuffer *output = bufferevent_get_output(evhttp_connection_get_bufferevent(evcon));
    if (evbuffer_get_length(output) > 0 && tg_mono_us() < r->drain_deadline) {
        s_arm(r, 1);
        return;
    }
    tg_log_debug("req=%" PRIu64 " reset after=%ld", r->seq, r->content_sent);
    r->mock->resets++;
    s_drop_connection(r, true);
}

static void
s_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    mock_req_t *r = arg;
    switch (r->state) {
    case REQ_LATENCY:
        s_respond(r);
        break;
    case REQ_STREAM:
        s_pump(r);
        break;
    case REQ_RESET:
        s_reset_step(r);
        break;
    case REQ_DEAD:
        s_req_free(r);
        break;
    case REQ_SYNC:
    case REQ_HANG:
        break;
    }
}

//  ---------------------------------------------------------------- responses

static void
s_add_headers(mock_req_t *r, const char *content_type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    char value[48];
    snprintf(value, sizeof value, "req_mock_%" PRIu64, r->seq);
    evhttp_add_header(h, "x-request-id", value);
    if (content_type)
        evhttp_add_header(h, "Content-Type", content_type);
    if (r->plan.retry_after >= 0) {
        snprintf(value, sizeof value, "%ld", r->plan.retry_after);
        evhttp_add_header(h, "Retry-After", value);
    }
    const char *name;
    json_t *v;
    json_object_foreach(r->plan.headers, name, v)
    {
        evhttp_remove_header(h, name);
        evhttp_add_header(h, name, json_string_value(v));
    }
}

//  Reason phrases libevent 2.1 does not know.
static const char *
s_reason(int status)
{
    switch (status) {
    case 429:
        return "Too Many Requests";
    case 529:
        return "Overloaded";
    default:
        return NULL;  //  libevent's own phrase
    }
}

//  Sends what is in the output buffer as the complete answer and frees r.
static void
s_send(mock_req_t *r, int status)
{
    s_release(r);
    evhttp_send_reply(r->req, status, s_reason(status), NULL);
    r->req = NULL;
    s_req_free(r);
}

static mock_frame_t
s_frame(mock_req_t *r, size_t i, struct evbuffer *out)
{
    switch (r->out) {
    case OUT_ANSWER:
        return mock_answer_frame(&r->answer, i, out);
    case OUT_GARBAGE:
        return mock_wire_garbage_frame(r->api, i, out);
    case OUT_RAW: {
        json_t *chunk = json_array_get(r->plan.chunks, i);
        if (!chunk)
            return MOCK_FRAME_NONE;
        evbuffer_add(out, json_string_value(chunk), json_string_length(chunk));
        return MOCK_FRAME_CONTENT;
    }
    case OUT_ERROR:
        break;
    }
    return MOCK_FRAME_NONE;
}

static bool
s_reset_due(const mock_req_t *r)
{
    return r->plan.reset_after >= 0 && r->content_sent >= r->plan.reset_after;
}

//  Sends stream frames until the end, the next pause (chunk_delay_ms) or a due reset.
static void
s_pump(mock_req_t *r)
{
    struct evbuffer *frame = r->mock->frame;
    for (;;) {
        mock_frame_t kind = s_frame(r, r->frame++, frame);
        if (kind == MOCK_FRAME_NONE) {
            s_release(r);
            evhttp_send_reply_end(r->req);
            r->req = NULL;
            s_req_free(r);
            return;
        }
        evhttp_send_reply_chunk(r->req, frame);
        evbuffer_drain(frame, evbuffer_get_length(frame));  //  left over for a HEAD request
        if (kind == MOCK_FRAME_CONTENT)
            r->content_sent++;
        if (s_reset_due(r)) {
            s_begin_reset(r);
            return;
        }
        if (r->plan.chunk_delay_ms > 0) {
            s_go_async(r, REQ_STREAM);
            s_arm(r, r->plan.chunk_delay_ms);
            return;
        }
    }
}

static const char *
s_content_type(const mock_req_t *r, bool stream)
{
    if (r->out == OUT_RAW && r->plan.content_type)
        return r->plan.content_type;
    return stream ? "text/event-stream" : "application/json";
}

//  Answers r as its plan says: raw, error, garbage or the generated answer, whole or streamed.
static void
s_respond(mock_req_t *r)
{
    const mock_plan_t *plan = &r->plan;
    if (plan->body || plan->chunks)
        r->out = OUT_RAW;
    else if (plan->status && (plan->status < 200 || plan->status > 299))
        r->out = OUT_ERROR;
    else if (plan->garbage)
        r->out = OUT_GARBAGE;
    else
        r->out = OUT_ANSWER;
    bool stream = r->out == OUT_RAW ? plan->chunks != NULL : r->out != OUT_ERROR && r->stream;
    if (plan->reset_after >= 0 && !stream) {
        s_begin_reset(r);  //  a reset with nothing sent: the connection just drops
        return;
    }
    int status = plan->status ? (int)plan->status : 200;
    s_add_headers(r, s_content_type(r, stream));
    if (stream) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Cache-Control", "no-cache");
        evhttp_send_reply_start(r->req, status, s_reason(status));
        if (s_reset_due(r))
            s_begin_reset(r);
        else
            s_pump(r);
        return;
    }
    struct evbuffer *out = evhttp_request_get_output_buffer(r->req);
    switch (r->out) {
    case OUT_RAW:
        evbuffer_add(out, plan->body, strlen(plan->body));
        break;
    case OUT_ERROR: {
        char message[128];
        snprintf(message, sizeof message, "Mock provider: injected HTTP %d.", status);
        mock_wire_error(out, r->api, status, message, NULL, NULL);
        break;
    }
    case OUT_GARBAGE:
        mock_wire_garbage_body(out);
        break;
    case OUT_ANSWER: {
        char err[256];
        const char *param;
        int rc = r->api == MOCK_API_EMBEDDINGS
                     ? mock_wire_embeddings(r->body, out, err, sizeof err, &param)
                     : mock_answer_write(&r->answer, out);
        if (rc != TG_OK) {
            evbuffer_drain(out, evbuffer_get_length(out));
            status = 500;
            mock_wire_error(out, r->api, status, "Mock provider: could not build the answer.", NULL,
                            NULL);
        }
        break;
    }
    }
    s_send(r, status);
}

static void
s_start(mock_req_t *r)
{
    if (r->plan.hang) {
        tg_log_debug("req=%" PRIu64 " hang", r->seq);
        s_go_async(r, REQ_HANG);
    } else if (r->plan.latency_ms > 0) {
        s_go_async(r, REQ_LATENCY);
        s_arm(r, r->plan.latency_ms);
    } else
        s_respond(r);
}

//  ---------------------------------------------------------------- model requests

//  True if the request carries a non-empty key: "Authorization: Bearer <key>", or for the
//  Anthropic endpoint also "x-api-key: <key>" (current Anthropic SDKs send either).
//  Replaces a gzip request body in `in` by its inflated bytes (at most MOCK_MAX_BODY) and
//  counts it. TG_INVALID when it is not a whole gzip stream or inflates beyond the cap.
static int
s_gunzip(mock_t *self, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    z_stream z = {0};
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return TG_INVALID;
    z.next_in = evbuffer_pullup(in, -1);
    z.avail_in = (uInt)len;
    struct evbuffer *out = evbuffer_new();
    unsigned char chunk[16384];
    int rc = Z_OK;
    size_t total = 0;
    while (rc == Z_OK && total <= MOCK_MAX_BODY) {
        z.next_out = chunk;
        z.avail_out = sizeof chunk;
        rc = inflate(&z, Z_NO_FLUSH);
        size_t n = sizeof chunk - z.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END)
            break;
        evbuffer_add(out, chunk, n);
        total += n;
        if (rc == Z_OK && n == 0 && z.avail_in == 0)
            break;  //  input ended before the stream did
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END || total > MOCK_MAX_BODY) {
        evbuffer_free(out);
        return TG_INVALID;
    }
    evbuffer_drain(in, len);
    evbuffer_add_buffer(in, out);
    evbuffer_free(out);
    self->gzip_requests++;
    self->gzip_bytes_in += len;
    self->gzip_bytes_out += total;
    return TG_OK;
}

static bool
s_authorized(struct evhttp_request *req, mock_api_t api)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *key = api == MOCK_API_MESSAGES ? evhttp_find_header(h, "x-api-key") : NULL;
    if (!key || !*key) {
        key = evhttp_find_header(h, "Authorization");
        if (!key || strncasecmp(key, "Bearer ", 7) != 0)
            return false;
        key += 7;
    }
    while (*key == ' ' || *key == '\t')
        key++;
    return *key != '\0';
}

static void
s_count_path(mock_t *self, const char *path)
{
    json_t *count = json_object_get(self->by_path, path);
    if (!count && json_object_size(self->by_path) >= MOCK_MAX_PATHS)
        count = json_object_get(self->by_path, path = "(other)");
    if (!count) {
        count = json_integer(0);
        if (json_object_set_new(self->by_path, path, count) != 0)
            return;  //  path is not UTF-8: not counted
    }
    json_integer_set(count, json_integer_value(count) + 1);
}

static const char *
s_method(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

static void
s_record_init(s_record_t *self)
{
    tg_buf_init(&self->path, MOCK_RECORD_MAX);
    tg_buf_init(&self->headers, MOCK_RECORD_MAX);
    tg_buf_init(&self->raw, MOCK_RECORD_MAX);
}

static void
s_record_clear(s_record_t *self)
{
    self->valid = false;
    tg_buf_reset(&self->path);
    tg_buf_reset(&self->headers);
    tg_buf_reset(&self->raw);
    json_decref(self->body);
    self->body = NULL;
}

static void
s_record_fini(s_record_t *self)
{
    s_record_clear(self);
    tg_buf_fini(&self->path);
    tg_buf_fini(&self->headers);
    tg_buf_fini(&self->raw);
}

//  Keeps method, path, headers and body of the request, without building JSON.
static void
s_record(mock_t *self, struct evhttp_request *req, const char *path, json_t *body)
{
    s_record_t *rec = &self->last;
    s_record_clear(rec);
    rec->valid = true;
    rec->method = s_method(evhttp_request_get_command(req));
    tg_buf_puts(&rec->path, path);
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    for (struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
        size_t name_len = strlen(kv->key), value_len = strlen(kv->value);
        if (rec->headers.len + name_len + value_len + 2 > rec->headers.limit)
            continue;  //  too much to keep: this header is left out
        size_t at = rec->headers.len;
        tg_buf_append(&rec->headers, kv->key, name_len + 1);
        for (char *p = rec->headers.data + at; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        tg_buf_append(&rec->headers, kv->value, value_len + 1);
    }
    rec->body = json_incref(body);
    if (!body) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        if (len > MOCK_RECORD_MAX)
            len = MOCK_RECORD_MAX;
        if (len)
            tg_buf_append(&rec->raw, evbuffer_pullup(in, (ev_ssize_t)len), len);
    }
}

//  {method, path, headers {lowercased name: value}, body (JSON, or the raw text, or null)}
static json_t *
s_record_json(const s_record_t *rec)
{
    if (!rec->valid)
        return json_null();
    json_t *headers = json_object();
    for (size_t at = 0; at < rec->headers.len;) {
        const char *name = rec->headers.data + at;
        const char *value = name + strlen(name) + 1;
        json_object_set_new(headers, name, json_string(value));  //  skipped if not UTF-8
        at = (size_t)(value + strlen(value) + 1 - rec->headers.data);
    }
    json_t *body = rec->body      ? json_incref(rec->body)
                   : rec->raw.len ? json_stringn(rec->raw.data, rec->raw.len)
                                  : NULL;
    json_t *json =
        json_pack("{s:s, s:s?, s:o, s:o?}", "method", rec->method, "path",
                  rec->path.data ? rec->path.data : "", "headers", headers, "body", body);
    return json ? json : json_null();
}

//  Answers a request that never became a mock_req_t (bad route, auth, body).
static void
s_reply_error(struct evhttp_request *req,
              mock_api_t api,
              int status,
              const char *message,
              const char *param,
              const char *code)
{
    mock_wire_error(evhttp_request_get_output_buffer(req), api, status, message, param, code);
    evhttp_send_reply(req, status, s_reason(status), NULL);
}

//  Fills the plan (directives, then the next script step, then fail_times) and the answer.
static int
s_plan(mock_req_t *r, char *err, size_t errlen)
{
    mock_t *self = r->mock;
    char *text = r->api == MOCK_API_EMBEDDINGS ? mock_wire_last_input_text(r->body)
                                               : mock_wire_last_user_text(r->body);
    int rc = mock_plan_parse(&r->plan, text, err, errlen);
    if (rc == TG_OK && json_array_size(self->script) > 0) {
        json_t *step = json_incref(json_array_get(self->script, 0));
        json_array_remove(self->script, 0);
        mock_plan_apply_step(&r->plan, &step);
    }
    if (rc == TG_OK)
        rc = mock_plan_settle(&r->plan, self->counters, MOCK_MAX_KEYS, text, err, errlen);
    if (rc == TG_OK && r->plan.retry_after >= 0 && !r->plan.status && !r->plan.body
        && !r->plan.chunks)
        r->plan.status = 429;
    if (rc == TG_OK && r->api != MOCK_API_EMBEDDINGS) {
        char *user_text = mock_plan_strip(text);
        rc = mock_answer_init(&r->answer, r->api, r->body, r->seq, (int64_t)time(NULL), user_text,
                              r->plan.words);
        free(user_text);
        if (rc != TG_OK)
            snprintf(err, errlen, "Mock provider: could not build the answer.");
    }
    free(text);
    return rc;
}

static const struct {
    const char *path;          //  request path
    enum evhttp_cmd_type cmd;  //  method
    mock_api_t api;            //  endpoint
} s_routes[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, MOCK_API_CHAT},
    {"/v1/messages", EVHTTP_REQ_POST, MOCK_API_MESSAGES},
    {"/v1/embeddings", EVHTTP_REQ_POST, MOCK_API_EMBEDDINGS},
    {"/v1/models", EVHTTP_REQ_GET, MOCK_API_MODELS},
};

static void
s_on_model_request(mock_t *self, struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    self->requests++;
    s_count_path(self, path);
    size_t i = 0;
    while (i < sizeof s_routes / sizeof s_routes[0] && strcmp(path, s_routes[i].path) != 0)
        i++;
    if (i == sizeof s_routes / sizeof s_routes[0] || s_routes[i].cmd != cmd) {
        bool known = i < sizeof s_routes / sizeof s_routes[0];
        s_record(self, req, path, NULL);
        s_reply_error(req, known ? s_routes[i].api : MOCK_API_CHAT, known ? 405 : 404,
                      known ? "Method not allowed for this endpoint."
                            : "Unknown request URL. Please check the URL for typos.",
                      NULL, known ? "method_not_allowed" : "unknown_url");
        return;
    }
    mock_api_t api = s_routes[i].api;
    json_t *body = NULL;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *ce = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Encoding");
    if (ce && strcasecmp(ce, "identity") != 0) {
        if (strcasecmp(ce, "gzip") != 0 || s_gunzip(self, in) != TG_OK) {
            s_record(self, req, path, NULL);
            s_reply_error(req, api, 400,
                          strcasecmp(ce, "gzip") != 0
                              ? "Unsupported Content-Encoding (only gzip is accepted)."
                              : "The gzip request body could not be decompressed.",
                          NULL, "invalid_content_encoding");
            return;
        }
        len = evbuffer_get_length(in);
    }
    if (len > 0) {
        json_error_t jerr;
        body = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &jerr);
    }
    s_record(self, req, path, body);
    if (!s_authorized(req, api)) {
        s_reply_error(req, api, 401,
                      api == MOCK_API_MESSAGES
                          ? "x-api-key header is required"
                          : "You didn't provide an API key. You need to provide your API key in "
                            "an Authorization header using Bearer auth (i.e. Authorization: "
                            "Bearer YOUR_KEY).",
                      NULL, "invalid_api_key");
        json_decref(body);
        return;
    }
    if (api == MOCK_API_MODELS) {
        json_decref(body);
        mock_wire_models(evhttp_request_get_output_buffer(req));
        evhttp_send_reply(req, 200, NULL, NULL);
        return;
    }
    char err[256];
    const char *param = NULL;
    int rc = TG_INVALID;
    if (!body)
        snprintf(err, sizeof err,
                 "We could not parse the JSON body of your request. (HINT: This likely means "
                 "you aren't using your HTTP library correctly.)");
    else if (api == MOCK_API_EMBEDDINGS)
        rc = mock_wire_embeddings(body, NULL, err, sizeof err, &param);
    else
        rc = mock_wire_validate(api, body, err, sizeof err, &param);
    if (rc != TG_OK) {
        s_reply_error(req, api, 400, err, param, NULL);
        json_decref(body);
        return;
    }
    mock_req_t *r = s_req_new(self, req, api, &body);
    if (s_plan(r, err, sizeof err) != TG_OK) {
        s_reply_error(req, api, 400, err, NULL, NULL);
        r->req = NULL;
        s_req_free(r);
        return;
    }
    s_start(r);
}

//  ---------------------------------------------------------------- control API

static void
s_stats(mock_t *self, struct evbuffer *out)
{
    json_t *stats = json_pack(
        "{s:I, s:O, s:I, s:I, s:I, s:I, s:o, s:{s:I, s:I, s:I}}", "requests",
        (json_int_t)self->requests, "by_path", self->by_path, "aborted", (json_int_t)self->aborted,
        "in_flight", (json_int_t)self->in_flight, "resets", (json_int_t)self->resets,
        "script_pending", (json_int_t)json_array_size(self->script), "last_request",
        s_record_json(&self->last), "gzip", "requests", (json_int_t)self->gzip_requests, "bytes_in",
        (json_int_t)self->gzip_bytes_in, "bytes_out", (json_int_t)self->gzip_bytes_out);
    mock_wire_json(out, stats);
    json_decref(stats);
}

static int
s_script(mock_t *self, struct evhttp_request *req, struct evbuffer *out)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    json_error_t jerr;
    json_t *steps = len ? json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &jerr) : NULL;
    char err[256] = "";
    if (json_is_object(steps)) {  //  a single step is a script of one
        json_t *one = json_array();
        json_array_append_new(one, steps);
        steps = one;
    }
    if (!json_is_array(steps))
        snprintf(err, sizeof err, "the body must be a JSON array of steps (or one step object)");
    else if (json_array_size(self->script) + json_array_size(steps) > MOCK_MAX_SCRIPT)
        snprintf(err, sizeof err, "more than %d pending steps", MOCK_MAX_SCRIPT);
    size_t i;
    json_t *step;
    json_array_foreach(steps, i, step)
    {
        if (err[0] || mock_plan_check_step(step, err, sizeof err) == TG_OK)
            continue;
        size_t used = strlen(err);
        snprintf(err + used, sizeof err - used, " (step %zu)", i);
    }
    json_t *reply;
    if (err[0])
        reply = json_pack("{s:s}", "error", err);
    else {
        json_array_extend(self->script, steps);
        reply = json_pack("{s:I, s:I}", "queued", (json_int_t)json_array_size(steps), "pending",
                          (json_int_t)json_array_size(self->script));
    }
    json_decref(steps);
    mock_wire_json(out, reply);
    json_decref(reply);
    return err[0] ? 400 : 200;
}

static void
s_on_control(mock_t *self, struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    int status = 200;
    if (strcmp(path, "/_mock/stats") == 0 && cmd == EVHTTP_REQ_GET)
        s_stats(self, out);
    else if (strcmp(path, "/_mock/script") == 0 && cmd == EVHTTP_REQ_GET)
        mock_wire_json(out, self->script);
    else if (strcmp(path, "/_mock/script") == 0 && cmd == EVHTTP_REQ_POST)
        status = s_script(self, req, out);
    else if (strcmp(path, "/_mock/reset") == 0 && cmd == EVHTTP_REQ_POST) {
        json_array_clear(self->script);
        json_object_clear(self->counters);
        json_object_clear(self->by_path);
        s_record_clear(&self->last);
        self->requests = self->aborted = self->resets = 0;
        self->gzip_requests = self->gzip_bytes_in = self->gzip_bytes_out = 0;
        evbuffer_add_printf(out, "{\"ok\":true}");
    } else {
        status = 404;
        evbuffer_add_printf(out,
                            "{\"error\":\"unknown control endpoint; see tests/mock/README.md\"}");
    }
    evhttp_send_reply(req, status, NULL, NULL);
}

static void
s_on_request(struct evhttp_request *req, void *arg)
{
    mock_t *self = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    if (strncmp(path, "/_mock/", 7) == 0)
        s_on_control(self, req, path);
    else
        s_on_model_request(self, req, path);
}

//  ---------------------------------------------------------------- lifecycle

mock_t *
mock_new(struct event_base *base, const char *host, int port)
{
    assert(base && host && port >= 0 && port <= 65535);
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
                                    .ai_socktype = SOCK_STREAM,
                                    .ai_protocol = IPPROTO_TCP,
                                    .ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV};
    struct evutil_addrinfo *ai = NULL;
    int rc = evutil_getaddrinfo(host, service, &hints, &ai);
    if (rc != 0) {
        tg_log_error("cannot resolve host=%s: %s", host, evutil_gai_strerror(rc));
        return NULL;
    }
    struct evconnlistener *listener = evconnlistener_new_bind(
        base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        MOCK_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    if (!listener) {
        tg_log_error("cannot listen on host=%s port=%d: %s", host, port, strerror(errno));
        return NULL;
    }
    //  Like real providers, stream chunks without Nagle (accepted sockets inherit it).
    int one = 1;
    setsockopt(evconnlistener_get_fd(listener), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    if (getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&ss, &sslen) != 0) {
        tg_log_error("getsockname failed: %s", strerror(errno));
        evconnlistener_free(listener);
        return NULL;
    }
    mock_t *self = tg_zalloc(sizeof *self);
    self->base = base;
    self->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    self->http = evhttp_new(base);
    evhttp_bind_listener(self->http, listener);  //  the server owns the listener from here
    evhttp_set_max_body_size(self->http, MOCK_MAX_BODY);
    evhttp_set_timeout(self->http, MOCK_TIMEOUT_S);
    evhttp_set_default_content_type(self->http, "application/json");
    evhttp_set_allowed_methods(self->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD
                                               | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE
                                               | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(self->http, s_on_request, self);
    self->frame = evbuffer_new();
    self->script = json_array();
    self->counters = json_object();
    self->by_path = json_object();
    s_record_init(&self->last);
    return self;
}

void
mock_destroy(mock_t **self_p)
{
    assert(self_p);
    mock_t *self = *self_p;
    if (!self)
        return;
    while (self->live)
        s_req_free(self->live);  //  attached requests go with their connections below
    evhttp_free(self->http);
    evbuffer_free(self->frame);
    json_decref(self->script);
    json_decref(self->counters);
    json_decref(self->by_path);
    s_record_fini(&self->last);
    free(self);
    *self_p = NULL;
}

int
mock_port(mock_t *self)
{
    assert(self);
    return self->port;
}
