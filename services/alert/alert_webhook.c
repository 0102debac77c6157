//  alert_webhook.c - signed webhook POSTs on a curl multi handle driven by the alert's
//  libevent loop, as the worker drives its upstream calls: curl's socket and timer callbacks
//  become events (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION -> curl_multi_socket_action).
//  Retries wait on one one-shot timer set to the earliest due time, none when nothing waits;
//  so an idle or backing-off engine does not wake up.
#include "alert_webhook.h"
#include "tg_log.h"
#include "tg_util.h"

#include <assert.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BACKOFF_CAP_US 60000000LL  //  longest wait between tries
#define S_ERR_MAX 160                //  last error kept for the dead letter

typedef struct s_delivery {
    char id[32];              //  delivery id, "dlv_..."
    char kind[12];            //  "webhook" | "email"
    char alert_id[48];        //  the alert delivered
    char *url;                //  target (owned)
    char *secret;             //  HMAC key (owned; NULL = unsigned)
    char *body;               //  JSON text (owned)
    int tries;                //  tries made
    int64_t due_us;           //  monotonic µs of the next try
    CURL *easy;               //  transfer in flight, else NULL
    struct curl_slist *hdrs;  //  its headers
    char err[S_ERR_MAX];      //  why the last try failed
    struct s_delivery *next;  //  queue
} s_delivery_t;

struct alert_webhook {
    alert_webhook_opts_t opts;  //  copied; secret borrowed from the config
    alert_book_t *book;         //  dead letters (borrowed)
    tg_metrics_t *metrics;      //  counters (borrowed)
    CURLM *multi;               //  the transfers
    struct event_base *base;    //  driving loop (borrowed)
    struct event *curl_timer;   //  curl's timeout (CURLMOPT_TIMERFUNCTION)
    struct event *retry_timer;  //  the earliest retry due, one-shot
    int64_t retry_due_us;       //  monotonic µs it fires at, 0 = not armed
    s_delivery_t *queue;        //  every delivery not yet done
    size_t n;                   //  deliveries in queue
    int in_flight;              //  transfers running
};

void
alert_webhook_sign(
    const char *secret, int64_t ts_s, const char *body, size_t len, char *out, size_t size)
{
    char ts[24];
    int tn = snprintf(ts, sizeof ts, "%" PRId64, ts_s);
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (unsigned long long)tn);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[2 * sizeof mac + 1];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(out, size, "t=%s,v1=%s", ts, hex);
}

alert_webhook_t *
alert_webhook_new(const alert_webhook_opts_t *opts, alert_book_t *book, tg_metrics_t *metrics)
{
    alert_webhook_t *self = tg_zalloc(sizeof *self);
    self->opts = *opts;
    if (self->opts.max_tries < 1)
        self->opts.max_tries = 1;
    if (self->opts.max_in_flight < 1)
        self->opts.max_in_flight = 1;
    self->book = book;
    self->metrics = metrics;
    self->multi = curl_multi_init();
    tg_metrics_declare(metrics, "tollgate_alert_deliveries_total", TG_METRIC_COUNTER,
                       "Webhook and email deliveries of alerts, by outcome (delivered, retried, "
                       "dead_lettered).",
                       NULL, 0);
    return self;
}

static void
s_free(s_delivery_t *d)
{
    free(d->url);
    free(d->secret);
    free(d->body);
    free(d);
}

static void
s_end_transfer(alert_webhook_t *self, s_delivery_t *d)
{
    if (!d->easy)
        return;
    curl_multi_remove_handle(self->multi, d->easy);
    curl_easy_cleanup(d->easy);
    curl_slist_free_all(d->hdrs);
    d->easy = NULL;
    d->hdrs = NULL;
    self->in_flight--;
}

void
alert_webhook_destroy(alert_webhook_t **self_p)
{
    assert(self_p);
    alert_webhook_t *self = *self_p;
    if (!self)
        return;
    while (self->queue) {
        s_delivery_t *d = self->queue;
        self->queue = d->next;
        s_end_transfer(self, d);  //  curl removes the transfer's sockets (and their events)
        s_free(d);
    }
    curl_multi_cleanup(self->multi);
    if (self->curl_timer)
        event_free(self->curl_timer);
    if (self->retry_timer)
        event_free(self->retry_timer);
    free(self);
    *self_p = NULL;
}

size_t
alert_webhook_pending(const alert_webhook_t *self)
{
    return self->n;
}

static size_t
s_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

static void
s_start(alert_webhook_t *self, s_delivery_t *d)
{
    CURL *e = curl_easy_init();
    char hdr[ALERT_SIG_MAX + 64];
    d->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    d->hdrs = curl_slist_append(d->hdrs, "User-Agent: tollgate-alert/1");
    snprintf(hdr, sizeof hdr, "X-Tollgate-Delivery: %s", d->id);
    d->hdrs = curl_slist_append(d->hdrs, hdr);
    snprintf(hdr, sizeof hdr, "X-Tollgate-Attempt: %d", d->tries + 1);
    d->hdrs = curl_slist_append(d->hdrs, hdr);
    if (d->secret && *d->secret) {
        char sig[ALERT_SIG_MAX];
        alert_webhook_sign(d->secret, tg_now_us() / 1000000, d->body, strlen(d->body), sig,
                           sizeof sig);
        snprintf(hdr, sizeof hdr, "%s: %s", ALERT_SIG_HEADER, sig);
        d->hdrs = curl_slist_append(d->hdrs, hdr);
    }
    curl_easy_setopt(e, CURLOPT_URL, d->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)self->opts.timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, d);
    d->easy = e;
    self->in_flight++;
    curl_multi_add_handle(self->multi, e);
}

static char *
s_dead_json(const alert_webhook_t *self, const s_delivery_t *d)
{
    json_t *o = json_pack("{ss ss ss ss si ss sI}", "id", d->id, "object", "dead_letter", "kind",
                          d->kind, "alert_id", d->alert_id, "tries", d->tries, "last_error", d->err,
                          "created", (json_int_t)(tg_now_us() / 1000000));
    json_object_set_new(o, "url", json_string(d->url));
    //  A channel's own key is kept so that a re-send signs as the first try did; the
    //  configured default is never written to the disk.
    if (d->secret && (!self->opts.secret || strcmp(d->secret, self->opts.secret) != 0))
        json_object_set_new(o, "secret", json_string(d->secret));
    json_t *body = json_loads(d->body, 0, NULL);
    json_object_set_new(o, "body", body ? body : json_string(d->body));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void
s_unlink(alert_webhook_t *self, s_delivery_t *d)
{
    for (s_delivery_t **p = &self->queue; *p; p = &(*p)->next)
        if (*p == d) {
            *p = d->next;
            self->n--;
            return;
        }
}

//  A try ended: done, retry later, or dead letter.
static void
s_finish(alert_webhook_t *self, s_delivery_t *d, CURLcode res, int64_t now)
{
    long status = 0;
    curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
    s_end_transfer(self, d);
    d->tries++;
    if (res == CURLE_OK && status >= 200 && status < 300) {
        tg_log_info("alert delivered id=%s kind=%s alert=%s tries=%d status=%ld", d->id, d->kind,
                    d->alert_id, d->tries, status);
        tg_metrics_add(self->metrics, "tollgate_alert_deliveries_total", "outcome=\"delivered\"",
                       1);
        alert_book_take(self->book, ALERT_BOOK_OUTBOX, d->id, NULL);
        s_unlink(self, d);
        s_free(d);
        return;
    }
    if (res != CURLE_OK)
        snprintf(d->err, sizeof d->err, "%s", curl_easy_strerror(res));
    else
        snprintf(d->err, sizeof d->err, "HTTP %ld", status);
    if (d->tries < self->opts.max_tries) {
        int64_t wait = self->opts.backoff_ms * 1000;
        for (int i = 1; i < d->tries && wait < S_BACKOFF_CAP_US; i++)
            wait *= 2;
        if (wait > S_BACKOFF_CAP_US)
            wait = S_BACKOFF_CAP_US;
        d->due_us = now + wait;
        tg_log_warn("alert delivery failed id=%s kind=%s try=%d error=\"%s\" retry_ms=%" PRId64,
                    d->id, d->kind, d->tries, d->err, wait / 1000);
        tg_metrics_add(self->metrics, "tollgate_alert_deliveries_total", "outcome=\"retried\"", 1);
        return;
    }
    char *json = s_dead_json(self, d);
    int rc = json ? alert_book_put(self->book, ALERT_BOOK_DEAD, d->id, json) : TG_ERR;
    free(json);
    if (rc == TG_OK)
        alert_book_take(self->book, ALERT_BOOK_OUTBOX, d->id, NULL);
    tg_log_warn("alert delivery dead-lettered id=%s kind=%s alert=%s tries=%d error=\"%s\"%s",
                d->id, d->kind, d->alert_id, d->tries, d->err, rc == TG_OK ? "" : " (not stored)");
    tg_metrics_add(self->metrics, "tollgate_alert_deliveries_total", "outcome=\"dead_lettered\"",
                   1);
    s_unlink(self, d);
    s_free(d);
}

//  Starts what is due (up to max_in_flight transfers) and sets the retry timer to the
//  earliest delivery that is not due yet; an armed timer that fires later is moved up.
static void
s_arm(alert_webhook_t *self, int64_t now)
{
    if (!self->base)
        return;
    int64_t due = INT64_MAX;
    for (s_delivery_t *d = self->queue; d; d = d->next) {
        if (d->easy)
            continue;
        if (d->due_us <= now && self->in_flight < self->opts.max_in_flight)
            s_start(self, d);
        else if (d->due_us > now && d->due_us < due)
            due = d->due_us;
    }
    if (due == INT64_MAX || (self->retry_due_us && self->retry_due_us <= due))
        return;
    int64_t us = due - now;
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    evtimer_add(self->retry_timer, &tv);  //  re-adding moves it
    self->retry_due_us = due;
}

//  Transfers curl reports done: delivered, retried later or dead-lettered; then what is due.
static void
s_check_done(alert_webhook_t *self)
{
    int64_t now = tg_mono_us();
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(self->multi, &left)))
        if (m->msg == CURLMSG_DONE) {
            s_delivery_t *d = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&d);
            s_finish(self, d, m->data.result, now);
        }
    s_arm(self, tg_mono_us());
}

static void
s_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    alert_webhook_t *self = arg;
    self->retry_due_us = 0;  //  one-shot: gone once fired
    s_arm(self, tg_mono_us());
}

static void
s_on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    alert_webhook_t *self = arg;
    int action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(self->multi, fd, action, &running);
    s_check_done(self);
}

//  CURLMOPT_SOCKETFUNCTION: one persistent event per socket curl uses (socketp).
static int
s_on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    alert_webhook_t *self = userp;
    struct event *ev = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ev) {
            curl_multi_assign(self->multi, s, NULL);
            event_free(ev);
        }
        return 0;
    }
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0)
                         | EV_PERSIST);
    if (!ev) {
        ev = event_new(self->base, s, kind, s_on_sock_event, self);
        curl_multi_assign(self->multi, s, ev);
    } else {
        event_del(ev);
        event_assign(ev, self->base, s, kind, s_on_sock_event, self);
    }
    event_add(ev, NULL);
    return 0;
}

static void
s_on_curl_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    alert_webhook_t *self = arg;
    int running = 0;
    curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    s_check_done(self);
}

//  CURLMOPT_TIMERFUNCTION: curl wants to be called in timeout_ms (-1: no timer).
static int
s_on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    alert_webhook_t *self = userp;
    if (timeout_ms < 0) {
        evtimer_del(self->curl_timer);
        return 0;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    evtimer_add(self->curl_timer, &tv);
    return 0;
}

static void
s_queue(alert_webhook_t *self, s_delivery_t *d)
{
    d->due_us = tg_mono_us();
    s_delivery_t **p = &self->queue;
    while (*p)
        p = &(*p)->next;
    *p = d;
    self->n++;
    s_arm(self, d->due_us);
}

//  Keeps the delivery in the outbox db until it is done, so a restart re-queues it.
static void
s_keep(alert_webhook_t *self, const s_delivery_t *d)
{
    char *json = s_dead_json(self, d);
    if (!json || alert_book_put(self->book, ALERT_BOOK_OUTBOX, d->id, json) != TG_OK)
        tg_log_warn("delivery id=%s not kept: a restart before it is done loses it", d->id);
    free(json);
}

void
alert_webhook_send(alert_webhook_t *self,
                   const char *kind,
                   const char *url,
                   const char *secret,
                   const char *alert_id,
                   const char *body)
{
    s_delivery_t *d = tg_zalloc(sizeof *d);
    tg_id_fill(d->id, "dlv_", 12);
    snprintf(d->kind, sizeof d->kind, "%s", kind);
    snprintf(d->alert_id, sizeof d->alert_id, "%s", alert_id ? alert_id : "");
    d->url = tg_strdup(url);
    const char *key = secret ? secret : self->opts.secret;
    d->secret = key && *key ? tg_strdup(key) : NULL;
    d->body = tg_strdup(body);
    s_keep(self, d);
    s_queue(self, d);
}

//  A delivery from its stored JSON (dead letter or outbox record); NULL if unreadable.
static s_delivery_t *
s_from_json(alert_webhook_t *self, const char *id, const char *json)
{
    json_t *o = json_loads(json, 0, NULL);
    const char *url = json_string_value(json_object_get(o, "url"));
    json_t *body = json_object_get(o, "body");
    if (!url || !body) {
        json_decref(o);
        tg_log_warn("stored delivery id=%s unreadable: left in place", id);
        return NULL;
    }
    s_delivery_t *d = tg_zalloc(sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", id);
    snprintf(d->kind, sizeof d->kind, "%s", json_string_value(json_object_get(o, "kind")));
    snprintf(d->alert_id, sizeof d->alert_id, "%s",
             json_string_value(json_object_get(o, "alert_id")));
    d->url = tg_strdup(url);
    const char *secret = json_string_value(json_object_get(o, "secret"));
    if (!secret)
        secret = self->opts.secret;
    d->secret = secret && *secret ? tg_strdup(secret) : NULL;
    d->body =
        json_is_string(body) ? tg_strdup(json_string_value(body)) : json_dumps(body, JSON_COMPACT);
    json_decref(o);
    return d;
}

int
alert_webhook_resend(alert_webhook_t *self, const char *id)
{
    char *json = NULL;
    int rc = alert_book_get(self->book, ALERT_BOOK_DEAD, id, &json);
    if (rc != TG_OK)
        return rc;
    s_delivery_t *d = s_from_json(self, id, json);
    free(json);
    if (!d)
        return TG_ERR;
    s_keep(self, d);
    if (alert_book_take(self->book, ALERT_BOOK_DEAD, id, NULL) != TG_OK) {
        alert_book_take(self->book, ALERT_BOOK_OUTBOX, id, NULL);
        s_free(d);
        return TG_ERR;
    }
    tg_log_info("dead letter re-sent id=%s", id);
    s_queue(self, d);
    return TG_OK;
}

static void
s_on_kept(const char *json, void *arg)
{
    alert_webhook_t *self = arg;
    json_t *o = json_loads(json, 0, NULL);
    const char *id = json_string_value(json_object_get(o, "id"));
    s_delivery_t *d = id ? s_from_json(self, id, json) : NULL;
    json_decref(o);
    if (d)
        s_queue(self, d);
}

void
alert_webhook_attach(alert_webhook_t *self, struct event_base *base)
{
    self->base = base;
    self->curl_timer = evtimer_new(base, s_on_curl_timeout, self);
    self->retry_timer = evtimer_new(base, s_on_retry, self);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, s_on_curl_timer);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
    //  Deliveries a previous run had not finished go out again (their tries start anew).
    alert_book_each(self->book, ALERT_BOOK_OUTBOX, s_on_kept, self);
    if (self->n)
        tg_log_info("deliveries re-queued from the last run n=%zu", self->n);
    s_arm(self, tg_mono_us());
}
