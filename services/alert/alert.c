//  alert.c - SPEND in from the bus, budget alerts out on the alert stream, GET /v1/costs/alerts.
#include "alert.h"
#include "alert_book.h"
#include "tg_frame.h"
#include "tg_inbox.h"
#include "tg_log.h"
#include "tg_metrics.h"
#include "tg_peers.h"
#include "tg_reply.h"
#include "tg_stats.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#define S_RECV_BURST 1000   //  frames read per wake-up
#define S_LIST_DEFAULT 100  //  alerts listed when no limit is given
#define S_LIST_MAX 1000     //  largest limit accepted

struct alert {
    const tg_config_t *cfg;  //  borrowed configuration
    alert_book_t *book;      //  alerts and dedupe records in LMDB
    zsock_t *inbox;          //  PULL bound at endpoints.alert (QUERY)
    zsock_t *stream;         //  PUB bound at endpoints.alert_stream (ALERT)
    zsock_t *bus;            //  SUB on endpoints.bus_out, "spd"
    tg_peers_t *peers;       //  PUSH sockets to reply_to endpoints
    tg_stats_t *stats;       //  heartbeat
    tg_metrics_t *metrics;   //  this process's counters
    double daily_usd;        //  budget.daily_usd (0 = none)
    double monthly_usd;      //  budget.monthly_usd (0 = none)
};

alert_t *
alert_new(const tg_config_t *cfg)
{
    alert_t *self = tg_zalloc(sizeof *self);
    self->cfg = cfg;
    self->daily_usd = tg_config_dbl(cfg, "budget.daily_usd");
    self->monthly_usd = tg_config_dbl(cfg, "budget.monthly_usd");
    char *dir = tg_strfmt("%s/alert", tg_config_str(cfg, "data_dir"));
    self->book = alert_book_new(dir, (size_t)tg_config_int(cfg, "alert.map_size_mb") << 20);
    free(dir);
    if (!self->book)
        goto fail;
    self->inbox = tg_socket_open(ZMQ_PULL, tg_config_str(cfg, "endpoints.alert"), true, 0);
    self->stream =
        tg_socket_open(ZMQ_PUB, tg_config_str(cfg, "endpoints.alert_stream"), true, 100000);
    self->bus = tg_socket_open(ZMQ_SUB, tg_config_str(cfg, "endpoints.bus_out"), false, 0);
    if (!self->inbox || !self->stream || !self->bus)
        goto fail;
    zsock_set_subscribe(self->bus, "spd");
    if (!(self->stats = tg_stats_new(cfg, "alert")))
        goto fail;
    self->peers = tg_peers_new();
    self->metrics = tg_metrics_new();
    tg_metrics_declare(self->metrics, "tollgate_alerts_fired_total", TG_METRIC_COUNTER,
                       "Alerts fired, by severity and kind (budget, budget_forecast).", NULL, 0);
    tg_log_info("alert budgets daily_usd=%.6f monthly_usd=%.6f", self->daily_usd,
                self->monthly_usd);
    return self;
fail:
    alert_destroy(&self);
    return NULL;
}

static void
s_on_spend(alert_t *self, const tg_fr_spend_t *spend)
{
    if (self->daily_usd <= 0 && self->monthly_usd <= 0)
        return;  //  no budgets configured
    tg_frame_t **alerts = NULL;
    size_t n = 0;
    int rc =
        alert_book_on_spend(self->book, spend, self->daily_usd, self->monthly_usd, &alerts, &n);
    if (rc == TG_INVALID)
        tg_log_warn("dropped malformed spend frame");
    for (size_t i = 0; i < n; i++) {
        tg_frame_t *f = alerts[i];
        tg_log_info("alert fired id=%s severity=%s kind=%s period=%s message=\"%s\"", f->alert.id,
                    f->alert.severity, f->alert.kind, f->alert.period, f->alert.message);
        char labels[128];
        if (tg_metrics_labels_buf(labels, sizeof labels, "severity", f->alert.severity, "kind",
                                  f->alert.kind, NULL)
            >= 0)
            tg_metrics_add(self->metrics, "tollgate_alerts_fired_total", labels, 1);
        tg_frame_send(&alerts[i], self->stream);  //  PUB never blocks
    }
    free(alerts);
}

//  GET /v1/costs/alerts?limit=&since=&severity=
static tg_frame_t *
s_list(alert_t *self, const tg_fr_query_t *q)
{
    int64_t since = 0;
    long limit = S_LIST_DEFAULT;
    const char *severity = NULL;
    struct evkeyvalq args;
    TAILQ_INIT(&args);
    if (q->args && *q->args && evhttp_parse_query_str(q->args, &args) != 0) {
        evhttp_clear_headers(&args);
        return tg_reply_error(q->id, 400, "malformed query string", NULL);
    }
    const char *v;
    const char *bad = NULL, *why = NULL;
    if ((v = evhttp_find_header(&args, "limit"))) {
        char *end;
        errno = 0;
        limit = strtol(v, &end, 10);
        if (!*v || *end || errno || limit < 1 || limit > S_LIST_MAX) {
            bad = "limit";
            why = "limit must be an integer from 1 to 1000";
        }
    }
    if (!bad && (v = evhttp_find_header(&args, "since")) && tg_utc_parse(v, &since) != TG_OK) {
        bad = "since";
        why = "since must be an RFC 3339 time (2026-11-25T10:00:00Z), a date or epoch seconds";
    }
    if (!bad && (v = evhttp_find_header(&args, "severity"))) {
        if (strcmp(v, "info") == 0 || strcmp(v, "warning") == 0 || strcmp(v, "critical") == 0)
            severity = v[0] == 'i' ? "info" : v[0] == 'w' ? "warning" : "critical";
        else {
            bad = "severity";
            why = "severity must be info, warning or critical";
        }
    }
    evhttp_clear_headers(&args);
    if (bad)
        return tg_reply_error(q->id, 400, why, bad);
    char *body = alert_book_list(self->book, since, (size_t)limit, severity);
    if (!body)
        return tg_reply_error(q->id, 500, "alerts could not be read", NULL);
    return tg_reply_new(q->id, 200, &body);
}

static void
s_on_query(alert_t *self, const tg_fr_query_t *q)
{
    if (!tg_peers_endpoint_ok(q->reply_to)) {
        tg_log_warn("dropped query frame with a bad reply_to id=%.64s", q->id);
        return;
    }
    tg_frame_t *reply;
    if (strcmp(q->path, "/v1/costs/alerts") != 0) {
        char *msg = tg_strfmt("unknown alert route %.200s", q->path);
        reply = tg_reply_error(q->id, 404, msg, NULL);
        free(msg);
    } else if (strcmp(q->method, "GET") != 0)
        reply = tg_reply_error(q->id, 405, "method not allowed: use GET", NULL);
    else
        reply = s_list(self, q);
    tg_reply_send(self->peers, q, &reply);
}

static void
s_on_inbox_frame(tg_frame_t **frame_p, void *arg)
{
    tg_frame_t *f = *frame_p;
    if (f->type == TG_FRAME_QUERY)
        s_on_query(arg, &f->query);
    else
        tg_log_warn("alert ignored a %s frame", tg_frame_name(f->type));
}

static int
s_on_inbox(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    int rc = tg_inbox_drain(sock, S_RECV_BURST, s_on_inbox_frame, arg);
    return rc == TG_ERR && zsys_interrupted ? -1 : 0;
}

//  Keeps the newest SPEND in *arg (a tg_frame_t *), dropping the one before.
static void
s_keep_spend(tg_frame_t **frame_p, void *arg)
{
    tg_frame_t **last_p = arg;
    if ((*frame_p)->type != TG_FRAME_SPEND)
        return;
    tg_frame_destroy(last_p);
    *last_p = *frame_p;
    *frame_p = NULL;
}

static int
s_on_bus(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    alert_t *self = arg;
    //  SPEND comes every second and after each commit: only the newest one matters.
    tg_frame_t *last = NULL;
    int rc = tg_inbox_drain(sock, S_RECV_BURST, s_keep_spend, &last);
    if (rc == TG_OK && last)
        s_on_spend(self, &last->spend);
    tg_frame_destroy(&last);
    return rc == TG_ERR && zsys_interrupted ? -1 : 0;
}

static int
s_on_stats_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    alert_t *self = arg;
    tg_stats_publish(self->stats, self->metrics, true);
    return 0;
}

int
alert_attach(alert_t *self, zloop_t *loop)
{
    assert(self && loop);
    if (zloop_reader(loop, self->inbox, s_on_inbox, self) != 0
        || zloop_reader(loop, self->bus, s_on_bus, self) != 0)
        return TG_ERR;
    zloop_timer(loop, (size_t)tg_config_int(self->cfg, "stats.interval_ms"), 0, s_on_stats_timer,
                self);
    tg_stats_publish(self->stats, self->metrics, true);
    return TG_OK;
}

void
alert_destroy(alert_t **self_p)
{
    assert(self_p);
    alert_t *self = *self_p;
    if (!self)
        return;
    tg_peers_destroy(&self->peers);
    tg_stats_destroy(&self->stats);
    if (self->stream)
        zsock_set_linger(self->stream, 500);  //  alerts just published still leave
    zsock_destroy(&self->stream);
    zsock_destroy(&self->bus);
    zsock_destroy(&self->inbox);
    tg_metrics_destroy(&self->metrics);
    alert_book_destroy(&self->book);
    free(self);
    *self_p = NULL;
}
