//  worker_curl.c - libcurl's multi interface on the libevent loop (the "hiperfifo" shape:
//  CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION -> events -> curl_multi_socket_action), one
//  attempt at a time per call, connect / first-byte / idle / total timeouts and the call's
//  deadline, retries (backoff, Retry-After, the provider's retry budget), gzip request
//  bodies. It moves bytes: what they mean is the call's provider table (c->pc.ops), and what
//  becomes of the call is told to its owner through c->cbs (worker_curl_hooks_t). The
//  policy's own counters (timeouts, budget, gzip) are kept here.
#include "worker_int.h"

#include "tg_backoff.h"
#include "tg_log.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define S_OUT_MAX (4u << 20)  //  SSE text produced from one read of upstream bytes

#define M_TIMEOUTS "tollgate_provider_timeouts_total"
#define M_BUDGET "tollgate_provider_retry_budget_exhausted_total"
#define M_GZ_IN "tollgate_provider_gzip_bytes_in_total"
#define M_GZ_OUT "tollgate_provider_gzip_bytes_out_total"
#define M_GZ_CALLS "tollgate_provider_gzip_requests_total"

//  Adds v to counter `name` of the call's provider, with label kind=`kind` if not NULL.
static void
s_count(worker_call_t *c, const char *name, const char *kind, double v)
{
    char labels[TG_METRICS_MAX_VALUE * 2 + 32];
    tg_metrics_labels_buf(labels, sizeof labels, "provider", c->job->job.provider,
                          kind ? "kind" : NULL, kind, NULL);
    tg_metrics_add(c->w->metrics, name, labels, v);
}

static void s_check_done(worker_t *w);

//  Fails the call (type upstream_error) through its owner, which answers the client and
//  frees it.
static void s_fail(worker_call_t *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_fail(worker_call_t *c, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->cbs->fail(c, status, "upstream_error", code, msg);
}

//  Records a failure seen inside a libcurl callback (the first reason wins): the callback
//  then returns an error to libcurl, and s_on_done fails the call when libcurl reports it.
static void s_abort(worker_call_t *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_abort(worker_call_t *c, int status, const char *code, const char *fmt, ...)
{
    if (c->abort_status)
        return;
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->abort_status = status;
    c->abort_code = code;
    c->abort_msg = tg_strdup(msg);
}

//  ---------------------------------------------------------------------------------------
//  Sockets and libcurl's timer

static void
s_on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    int action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(w->multi, fd, action, &running);
    s_check_done(w);
}

static void
s_sock_free(worker_t *w, worker_sock_t *sk)
{
    if (sk->prev)
        sk->prev->next = sk->next;
    else
        w->socks = sk->next;
    if (sk->next)
        sk->next->prev = sk->prev;
    event_free(sk->ev);
    free(sk);
}

static int
s_on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    worker_t *w = userp;
    worker_sock_t *sk = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            curl_multi_assign(w->multi, s, NULL);
            s_sock_free(w, sk);
        }
        return 0;
    }
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0)
                         | EV_PERSIST);
    if (!sk) {
        sk = tg_zalloc(sizeof *sk);
        sk->w = w;
        sk->ev = event_new(w->base, s, kind, s_on_sock_event, w);
        sk->next = w->socks;
        if (w->socks)
            w->socks->prev = sk;
        w->socks = sk;
        curl_multi_assign(w->multi, s, sk);
    } else {
        event_del(sk->ev);
        event_assign(sk->ev, w->base, s, kind, s_on_sock_event, w);
    }
    event_add(sk->ev, NULL);
    return 0;
}

static void
s_on_curl_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    int running = 0;
    curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    s_check_done(w);
}

static int
s_on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    worker_t *w = userp;
    if (timeout_ms < 0) {
        evtimer_del(w->curl_timer);
        return 0;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    evtimer_add(w->curl_timer, &tv);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  Easy handles: a free list keeps them (and libcurl's per-handle state) warm

static CURL *
s_easy_get(worker_t *w)
{
    if (w->npool > 0)
        return w->pool[--w->npool];
    CURL *e = curl_easy_init();
    if (!e) {
        tg_log_error("curl_easy_init failed (out of memory)");
        abort();
    }
    return e;
}

static void
s_easy_put(worker_t *w, CURL *e)
{
    curl_easy_reset(e);
    if (w->npool < WORKER_POOL_MAX)
        w->pool[w->npool++] = e;
    else
        curl_easy_cleanup(e);
}

int
worker_curl_init(worker_t *w)
{
    w->multi = curl_multi_init();
    if (!w->multi) {
        tg_log_error("curl_multi_init failed");
        return TG_ERR;
    }
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, s_on_timer_set);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);  //  unlimited
    curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    //  Keep as many idle connections as there may be calls, so a burst finds them warm.
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)w->max_in_flight);
    w->curl_timer = evtimer_new(w->base, s_on_curl_timeout, w);
    w->pool = tg_zalloc(WORKER_POOL_MAX * sizeof *w->pool);
    w->ra_max_us = tg_config_int(w->cfg, "upstream.retry_after_max_ms") * 1000;
    w->deadline_ms = (uint64_t)tg_config_int(w->cfg, "upstream.deadline_ms");
    w->gzip_min = (size_t)tg_config_int(w->cfg, "upstream.gzip_min_bytes");
    tg_metrics_declare(w->metrics, M_TIMEOUTS, TG_METRIC_COUNTER,
                       "Upstream timeouts by provider and kind (connect, first_byte, idle, "
                       "total, deadline).",
                       NULL, 0);
    tg_metrics_declare(w->metrics, M_BUDGET, TG_METRIC_COUNTER,
                       "Retries not made because the provider's retry budget was spent.", NULL, 0);
    tg_metrics_declare(w->metrics, M_GZ_IN, TG_METRIC_COUNTER,
                       "Request body bytes before gzip, by provider.", NULL, 0);
    tg_metrics_declare(w->metrics, M_GZ_OUT, TG_METRIC_COUNTER,
                       "Request body bytes after gzip (as sent), by provider.", NULL, 0);
    tg_metrics_declare(w->metrics, M_GZ_CALLS, TG_METRIC_COUNTER,
                       "Upstream calls sent with a gzip request body, by provider.", NULL, 0);
    return TG_OK;
}

void
worker_curl_fini(worker_t *w)
{
    for (size_t i = 0; i < w->npool; i++)
        curl_easy_cleanup(w->pool[i]);
    free(w->pool);
    w->pool = NULL;
    w->npool = 0;
    curl_multi_cleanup(w->multi);  //  closes the idle connections
    w->multi = NULL;
    while (w->socks)  //  sockets libcurl closed without telling us
        s_sock_free(w, w->socks);
    if (w->curl_timer)
        event_free(w->curl_timer);
    w->curl_timer = NULL;
}

void
worker_curl_prov_init(worker_t *w, worker_prov_t *p)
{
    const tg_config_t *cfg = w->cfg;
    const tg_provider_t *pc = p->cfg;
    p->connect_ms = pc->connect_timeout_ms ? pc->connect_timeout_ms
                                           : tg_config_int(cfg, "upstream.connect_timeout_ms");
    p->first_byte_us =
        (pc->first_byte_timeout_ms ? pc->first_byte_timeout_ms
                                   : tg_config_int(cfg, "upstream.first_byte_timeout_ms"))
        * 1000;
    p->idle_us =
        (pc->idle_timeout_ms ? pc->idle_timeout_ms : tg_config_int(cfg, "upstream.idle_timeout_ms"))
        * 1000;
    p->total_us = (pc->total_timeout_ms ? pc->total_timeout_ms
                                        : tg_config_int(cfg, "upstream.total_timeout_ms"))
                  * 1000;
    p->max_retries =
        pc->max_retries >= 0 ? pc->max_retries : (int)tg_config_int(cfg, "upstream.max_retries");
    p->gzip = pc->gzip;
    p->budget = worker_budget_new((int)tg_config_int(cfg, "upstream.retry_budget_percent"),
                                  (int)tg_config_int(cfg, "upstream.retry_budget_min_per_s"));
    struct curl_slist *h = NULL;
    for (struct curl_slist *i = p->headers; i; i = i->next)
        h = curl_slist_append(h, i->data);
    h = curl_slist_append(h, "Content-Encoding: gzip");
    if (!h) {
        tg_log_error("out of memory building headers");
        abort();
    }
    p->headers_gz = h;
}

void
worker_curl_prov_fini(worker_prov_t *p)
{
    curl_slist_free_all(p->headers_gz);
    p->headers_gz = NULL;
    worker_budget_destroy(&p->budget);
}

//  ---------------------------------------------------------------------------------------
//  Attempts

//  (Re)arms the call's single timer to fire after `us` microseconds.
static void
s_arm(worker_call_t *c, int64_t us)
{
    if (us < 0)
        us = 0;
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
    evtimer_add(c->timer, &tv);
}

//  When the attempt in flight is next due: the first-byte or idle deadline of its phase, its
//  total timeout, or the call's deadline, whichever is first (monotonic µs).
static int64_t
s_due(const worker_call_t *c)
{
    const worker_prov_t *p = c->prov;
    int64_t due = c->got_bytes ? c->last_rx_mono + p->idle_us : c->attempt_mono + p->first_byte_us;
    if (p->total_us && c->attempt_mono + p->total_us < due)
        due = c->attempt_mono + p->total_us;
    if (c->deadline_mono && c->deadline_mono < due)
        due = c->deadline_mono;
    return due;
}

static void
s_arm_active(worker_call_t *c)
{
    s_arm(c, s_due(c) - tg_mono_us());
}

static bool
s_is_event_stream(CURL *easy)
{
    char *ct = NULL;
    curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct);
    return !ct || strncasecmp(ct, "text/event-stream", 17) == 0;
}

static bool
s_ok(long status)
{
    return status >= 200 && status < 300;
}

//  One complete upstream event, through the provider's table into c->out.
static int
s_on_event(void *arg, const char *event, const char *data, size_t len)
{
    worker_call_t *c = arg;
    worker_pcall_t *p = &c->pc;
    c->content_chars += worker_policy_content_chars(data, len);
    if (p->ops->on_event(p, event, data, len, &c->out) == TG_OK)
        return 0;
    assert(p->fail_code && p->fail_msg);
    if (p->fail_line)
        c->err_line_sent = true;  //  flushed to the client by the caller
    s_abort(c, 502, p->fail_code, "%s", p->fail_msg);
    return -1;
}

static size_t
s_on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    worker_call_t *c = userdata;
    worker_t *w = c->w;
    size_t n = size * nmemb;
    c->last_rx_mono = tg_mono_us();
    if (!c->got_bytes) {
        c->got_bytes = true;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
        if (!s_ok(c->status))
            c->resp.limit = WORKER_ERROR_BODY_MAX;
        else if (c->pc.stream && s_is_event_stream(c->easy)) {
            c->sse = true;
            c->parser = worker_sse_new(WORKER_SSE_EVENT_MAX);
            c->pc.ops->stream_begin(&c->pc, tg_now_us() / 1000000);
            c->state = WORKER_CALL_STREAMING;
            c->cbs->head(c);
        }
        s_arm_active(c);  //  from now on the phase deadline is the idle one
    }
    c->rx_bytes += n;
    if (!s_ok(c->status)) {  //  error body: keep what fits, the rest is of no use
        size_t room = c->resp.limit - c->resp.len;
        tg_buf_append(&c->resp, ptr, n < room ? n : room);
        return n;
    }
    if (c->rx_bytes > w->max_response) {
        s_abort(c, 502, "response_too_large",
                "upstream response larger than %zu bytes (upstream.max_response_bytes)",
                w->max_response);
        return 0;
    }
    if (!c->sse) {
        if (tg_buf_append(&c->resp, ptr, n) != TG_OK) {
            s_abort(c, 502, "response_too_large", "upstream response too large");
            return 0;
        }
        return n;
    }
    int rc = worker_sse_feed(c->parser, ptr, n, s_on_event, c);
    if (c->cbs->flush(c) != TG_OK) {
        s_abort(c, 499, "client_unreachable", "the client's ingest is unreachable");
        return 0;
    }
    if (rc != TG_OK) {
        s_abort(c, 502, "response_too_large", "upstream stream event larger than %u bytes",
                WORKER_SSE_EVENT_MAX);
        return 0;  //  no-op when a callback already recorded its own reason
    }
    return n;
}

static void s_on_call_timer(evutil_socket_t fd, short what, void *arg);

//  Keeps the Retry-After header of the attempt's final response.
static size_t
s_on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    worker_call_t *c = userdata;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0)
        c->retry_after[0] = 0;  //  a new response (after a 100 Continue, say)
    else if (n > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
        size_t v = n - 12 < sizeof c->retry_after - 1 ? n - 12 : sizeof c->retry_after - 1;
        memcpy(c->retry_after, buf + 12, v);
        c->retry_after[v] = 0;
    }
    return n;
}

static void
s_setopt(worker_call_t *c)
{
    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->gz ? c->prov->headers_gz : c->prov->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->gz ? c->gz : c->pc.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(c->gz ? c->gz_len : c->pc.body_len));
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    //  HTTP/2 (https, ALPN): share a multiplexed connection rather than open new ones. Not for
    //  plain http, where libcurl would hold every transfer until a first answer showed the
    //  server cannot multiplex.
    if (strncmp(c->url, "https://", 8) == 0)
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->prov->connect_ms);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "tollgate");
}

//  The call's deadline passed: 504 deadline_exceeded (in-band once streaming).
static void
s_fail_deadline(worker_call_t *c)
{
    s_fail(c, 504, "deadline_exceeded",
           "the request's deadline passed before the upstream answered "
           "(x-tollgate-deadline-ms or upstream.deadline_ms)");
}

//  Compresses the request body for a provider marked gzip once it reaches
//  upstream.gzip_min_bytes; kept only when it is smaller. Counted either way it is sent.
static void
s_gzip(worker_call_t *c)
{
    worker_t *w = c->w;
    if (!c->prov->gzip || c->pc.body_len < w->gzip_min || c->pc.body_len == 0)
        return;
    z_stream z = {0};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return;  //  out of memory in zlib: send it plain
    uLong cap = deflateBound(&z, (uLong)c->pc.body_len);
    char *out = tg_zalloc(cap);
    z.next_in = (Bytef *)c->pc.body;
    z.avail_in = (uInt)c->pc.body_len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    size_t n = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END || n >= c->pc.body_len) {
        free(out);
        return;
    }
    c->gz = out;
    c->gz_len = n;
    s_count(c, M_GZ_IN, NULL, (double)c->pc.body_len);
    s_count(c, M_GZ_OUT, NULL, (double)n);
    s_count(c, M_GZ_CALLS, NULL, 1);
}

static void
s_attempt(worker_call_t *c)
{
    worker_t *w = c->w;
    c->status = 0;
    c->got_bytes = false;
    c->sse = false;
    c->rx_bytes = 0;
    c->errbuf[0] = 0;
    c->retry_after[0] = 0;
    tg_buf_reset(&c->resp);
    c->resp.limit = w->max_response;
    if (!c->easy) {
        c->easy = s_easy_get(w);
        s_setopt(c);
    }
    c->attempt_mono = c->last_rx_mono = tg_mono_us();
    c->state = WORKER_CALL_ACTIVE;
    if (c->deadline_mono && c->attempt_mono >= c->deadline_mono) {  //  waited in queues
        s_count(c, M_TIMEOUTS, "deadline", 1);
        s_fail_deadline(c);
        return;
    }
    if (c->retries == 0)
        worker_budget_call(c->prov->budget, c->attempt_mono);
    CURLMcode mc = curl_multi_add_handle(w->multi, c->easy);
    if (mc != CURLM_OK) {
        s_fail(c, 502, "internal", "cannot start the upstream call: %s", curl_multi_strerror(mc));
        return;
    }
    c->attached = true;
    s_arm_active(c);
}

void
worker_curl_start(worker_call_t *c, const worker_curl_hooks_t *hooks)
{
    worker_t *w = c->w;
    c->cbs = hooks;
    tg_buf_init(&c->resp, w->max_response);
    tg_buf_init(&c->out, S_OUT_MAX);
    c->timer = evtimer_new(w->base, s_on_call_timer, c);
    c->start_mono = tg_mono_us();
    uint64_t ms = c->job->job.deadline_ms ? c->job->job.deadline_ms : w->deadline_ms;
    c->deadline_mono = worker_policy_deadline_mono(c->t0_us, ms, tg_now_us(), c->start_mono);
    s_gzip(c);
    s_attempt(c);
}

void
worker_curl_stop(worker_call_t *c)
{
    if (c->attached) {
        curl_multi_remove_handle(c->w->multi, c->easy);
        c->attached = false;
    }
    if (c->timer)
        evtimer_del(c->timer);
}

void
worker_curl_release(worker_call_t *c)
{
    worker_curl_stop(c);
    if (c->easy)
        s_easy_put(c->w, c->easy);
    c->easy = NULL;
    if (c->timer)
        event_free(c->timer);
    c->timer = NULL;
    free(c->gz);
    c->gz = NULL;
}

//  Schedules another attempt if the policy allows one: the provider's max_retries, the
//  call's deadline (the next attempt must start WORKER_ATTEMPT_MIN_US before it), and the
//  provider's retry budget. `retry_after_us` (< 0 = none) replaces the backoff; beyond
//  upstream.retry_after_max_ms there is no retry (the client gets the error and the header).
static bool
s_retry(worker_call_t *c, int64_t retry_after_us)
{
    worker_t *w = c->w;
    const worker_prov_t *p = c->prov;
    if (c->retries >= p->max_retries || c->state != WORKER_CALL_ACTIVE)
        return false;
    int64_t delay = tg_backoff_delay_us(c->retries, w->retry_base_us, WORKER_BACKOFF_CAP_US,
                                        randombytes_random());
    if (retry_after_us >= 0) {
        if (retry_after_us > w->ra_max_us) {
            tg_log_info("no retry id=%s provider=%s: Retry-After %lld ms is over the cap",
                        c->job->job.id, c->job->job.provider, (long long)(retry_after_us / 1000));
            return false;
        }
        delay = retry_after_us;
    }
    int64_t now = tg_mono_us();
    if (c->deadline_mono && now + delay + WORKER_ATTEMPT_MIN_US >= c->deadline_mono) {
        tg_log_info("no retry id=%s provider=%s: it would not finish before the deadline",
                    c->job->job.id, c->job->job.provider);
        return false;
    }
    if (!worker_budget_take(p->budget, now)) {
        s_count(c, M_BUDGET, NULL, 1);
        tg_log_info("no retry id=%s provider=%s: retry budget spent (%llu in %d s)", c->job->job.id,
                    c->job->job.provider, (unsigned long long)worker_budget_allowed(p->budget, now),
                    WORKER_BUDGET_WINDOW_S);
        return false;
    }
    c->retries++;
    c->cbs->count_retry(c);
    tg_log_info("retrying id=%s provider=%s retry=%d status=%ld err=\"%s\" delay_ms=%lld",
                c->job->job.id, c->job->job.provider, c->retries, c->status, c->errbuf,
                (long long)(delay / 1000));
    c->state = WORKER_CALL_WAIT;
    s_arm(c, delay);
    return true;
}

//  A non-2xx answer held in c->resp: retried, or turned into the client's error by the
//  provider's table (map_error).
static void
s_on_http_error(worker_call_t *c)
{
    c->cbs->count_error(c);
    if (c->status < 400) {
        s_fail(c, 502, "bad_response", "upstream answered HTTP %ld", c->status);
        return;
    }
    int64_t ra = worker_policy_retry_after_us(c->retry_after, tg_now_us() / 1000000);
    worker_upstream_error_t e = {0};
    c->pc.ops->map_error(&c->pc, (int)c->status, c->resp.data, c->resp.len, &e);
    if (e.retryable && s_retry(c, ra)) {
        free(e.body);
        return;
    }
    tg_log_warn("upstream error id=%s provider=%s model=%s status=%ld type=%s retries=%d",
                c->job->job.id, c->job->job.provider, c->job->job.model, c->status, e.type,
                c->retries);
    uint64_t ra_s = ra > 0 ? (uint64_t)((ra + 999999) / 1000000) : 0;
    c->cbs->fail_body(c, (int)c->status, e.type, &e.body, ra_s);
}

static void
s_on_net_error(worker_call_t *c, CURLcode res)
{
    c->cbs->count_error(c);
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(res);
    if (c->state == WORKER_CALL_STREAMING) {
        s_fail(c, 502, "upstream_reset", "upstream connection lost mid-stream: %s", why);
        return;
    }
    bool connect_timeout = res == CURLE_OPERATION_TIMEDOUT;  //  the only libcurl timeout set
    if (connect_timeout)
        s_count(c, M_TIMEOUTS, "connect", 1);
    if (s_retry(c, -1))
        return;
    if (connect_timeout)
        s_fail(c, 504, "upstream_connect_timeout", "upstream connect timeout after %lld ms: %s",
               (long long)c->prov->connect_ms, why);
    else if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST
             || res == CURLE_COULDNT_RESOLVE_PROXY)
        s_fail(c, 502, "connect_failed", "upstream connect failed: %s", why);
    else
        s_fail(c, 502, "upstream_reset", "upstream connection failed: %s", why);
}

static void
s_on_done(worker_call_t *c, CURLcode res)
{
    worker_curl_stop(c);
    if (c->abort_status) {
        if (c->abort_status == 499) {
            c->cbs->finish(c, 499, c->abort_code);
            return;
        }
        c->cbs->count_error(c);
        s_fail(c, c->abort_status, c->abort_code, "%s", c->abort_msg);
        return;
    }
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
    if (res != CURLE_OK) {
        s_on_net_error(c, res);
        return;
    }
    if (!s_ok(c->status)) {
        s_on_http_error(c);
        return;
    }
    if (c->sse) {
        if (!c->pc.ops->stream_end(&c->pc)) {
            c->cbs->count_error(c);
            s_fail(c, 502, "upstream_incomplete", "upstream stream ended before its end marker%s",
                   worker_sse_pending(c->parser) ? " (cut inside an event)" : "");
            return;
        }
        c->cbs->end(c);
        return;
    }
    if (c->pc.stream) {
        c->cbs->count_error(c);
        s_fail(c, 502, "bad_response",
               "upstream answered a stream request without an event stream");
        return;
    }
    char *body;
    size_t len;
    if (c->pc.ops->finish(&c->pc, &c->resp, tg_now_us() / 1000000, &body, &len) != TG_OK) {
        c->cbs->count_error(c);
        s_fail(c, 502, c->pc.fail_code, "upstream answered HTTP %ld with %s", c->status,
               c->pc.fail_msg);
        return;
    }
    c->cbs->reply(c, (int)c->status, &body, len);
}

static void
s_check_done(worker_t *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode res = m->data.result;
        worker_call_t *c = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        if (c)
            s_on_done(c, res);
    }
}

static void
s_on_call_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_call_t *c = arg;
    const worker_prov_t *p = c->prov;
    if (c->state == WORKER_CALL_WAIT) {
        s_attempt(c);
        return;
    }
    int64_t now = tg_mono_us();
    int64_t due = s_due(c);
    if (now < due) {
        s_arm(c, due - now);
        return;
    }
    worker_curl_stop(c);
    c->cbs->count_error(c);
    if (c->deadline_mono && now >= c->deadline_mono) {
        s_count(c, M_TIMEOUTS, "deadline", 1);
        s_fail_deadline(c);
    } else if (p->total_us && now >= c->attempt_mono + p->total_us) {
        s_count(c, M_TIMEOUTS, "total", 1);
        s_fail(c, 504, "upstream_timeout", "upstream timeout: the call took over %lld ms",
               (long long)(p->total_us / 1000));
    } else if (c->got_bytes) {
        s_count(c, M_TIMEOUTS, "idle", 1);
        s_fail(c, 504, "upstream_idle_timeout", "upstream idle timeout: no data for %lld ms",
               (long long)(p->idle_us / 1000));
    } else {
        s_count(c, M_TIMEOUTS, "first_byte", 1);
        s_fail(c, 504, "upstream_first_byte_timeout",
               "upstream first byte timeout: no answer within %lld ms",
               (long long)(p->first_byte_us / 1000));
    }
}
