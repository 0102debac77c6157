//  alert.c - SPEND in from the bus, budget alerts out on the alert stream, GET /v1/costs/alerts.
#include "alert.h"
#include "alert_book.h"
#include "alert_rules.h"
#include "alert_webhook.h"
#include "tg_frame.h"
#include "tg_evzmq.h"
#include "tg_log.h"
#include "tg_metrics.h"
#include "tg_peers.h"
#include "tg_reply.h"
#include "tg_stats.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define S_LIST_DEFAULT 100  //  alerts listed when no limit is given
#define S_LIST_MAX 1000     //  largest limit accepted
#define S_EVAL_MS 1000      //  rules are evaluated this often, and after each EVENTS

struct alert {
    const tg_config_t *cfg;  //  borrowed configuration
    alert_book_t *book;      //  alerts and dedupe records in LMDB
    zsock_t *inbox;          //  PULL bound at endpoints.alert (QUERY)
    zsock_t *stream;         //  PUB bound at endpoints.alert_stream (ALERT)
    zsock_t *bus;            //  SUB on endpoints.bus_out, "spd", and "evs" while rules read it
    bool events;             //  subscribed to "evs"
    alert_rules_t *rules;    //  alert rules and their windows
    alert_webhook_t *hooks;  //  webhook and email deliveries
    const char *hook_url;    //  alert.webhook_url: every alert goes there ("" = none)
    const char *relay_url;   //  alert.email_relay_url ("" = email channels are skipped)
    tg_peers_t *peers;       //  PUSH sockets to reply_to endpoints
    tg_stats_t *stats;       //  heartbeat
    tg_metrics_t *metrics;   //  this process's counters
    double daily_usd;        //  budget.daily_usd (0 = none)
    double monthly_usd;      //  budget.monthly_usd (0 = none)
    tg_evzmq_t *inbox_rd;    //  reads inbox on the loop
    tg_evzmq_t *bus_rd;      //  reads bus on the loop
    struct event *settle;    //  runs once the frames read in one turn are handled
    struct event *stats_ev;  //  timer: STATS heartbeat
    struct event *eval_ev;   //  timer: rule evaluation
    tg_frame_t *last_spend;  //  newest SPEND read since the last settle
    size_t fed;              //  usage events fed to the rules since the last settle
};

static void s_sync_events(alert_t *self);

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
                       "Alerts fired, by severity and kind (budget, budget_forecast, rule).", NULL,
                       0);
    self->rules = alert_rules_new(self->book, tg_now_us());
    s_sync_events(self);
    alert_webhook_opts_t wo = {
        .timeout_ms = tg_config_int(cfg, "alert.webhook_timeout_ms"),
        .backoff_ms = tg_config_int(cfg, "alert.webhook_backoff_ms"),
        .max_tries = (int)tg_config_int(cfg, "alert.webhook_max_tries"),
        .max_in_flight = (int)tg_config_int(cfg, "alert.webhook_max_in_flight"),
        .secret = tg_config_str(cfg, "alert.webhook_secret"),
    };
    self->hooks = alert_webhook_new(&wo, self->book, self->metrics);
    self->hook_url = tg_config_str(cfg, "alert.webhook_url");
    self->relay_url = tg_config_str(cfg, "alert.email_relay_url");
    if (!*wo.secret && *self->hook_url)
        tg_log_warn("alert.webhook_secret is empty: webhooks go out unsigned");
    tg_log_info("alert budgets daily_usd=%.6f monthly_usd=%.6f", self->daily_usd,
                self->monthly_usd);
    return self;
fail:
    alert_destroy(&self);
    return NULL;
}

//  Subscribes to EVENTS while an enabled rule reads usage events, and only then: with no
//  subscriber the bus proxy stops forwarding them, and alert decodes nothing.
static void
s_sync_events(alert_t *self)
{
    bool want = alert_rules_count_usage(self->rules) > 0;
    if (want == self->events)
        return;
    if (want)
        zsock_set_subscribe(self->bus, "evs");
    else
        zsock_set_unsubscribe(self->bus, "evs");
    self->events = want;
    if (self->bus_rd)
        tg_evzmq_kick(self->bus_rd);  //  ZMQ_FD is edge-triggered: look again after the change
    tg_log_info("usage events %s", want ? "subscribed: a rule reads them" : "unsubscribed");
}

//  An email channel: a POST to the relay with the address, a subject and the alert.
static char *
s_email_body(const char *to, const tg_fr_alert_t *a, const char *alert_json)
{
    json_t *alert = json_loads(alert_json, 0, NULL);
    char *subject = tg_strfmt("[tollgate %s] %s alert", a->severity, a->kind);
    json_t *o = json_pack("{ss ss ss so*}", "to", to, "subject", subject, "text", a->message,
                          "alert", alert);
    free(subject);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

//  Publishes a stored alert on the stream (topic alert.<severity>.<org>), counts it, and
//  queues its webhook and email deliveries (rule may be NULL: a budget alert).
static void
s_deliver(alert_t *self, const alert_rule_t *rule, tg_frame_t **alert_p)
{
    tg_frame_t *f = *alert_p;
    tg_log_info("alert fired id=%s severity=%s kind=%s scope=%s message=\"%s\"", f->alert.id,
                f->alert.severity, f->alert.kind, f->alert.scope, f->alert.message);
    char labels[128];
    if (tg_metrics_labels_buf(labels, sizeof labels, "severity", f->alert.severity, "kind",
                              f->alert.kind, NULL)
        >= 0)
        tg_metrics_add(self->metrics, "tollgate_alerts_fired_total", labels, 1);
    char *json = alert_book_json(&f->alert);
    if (json && *self->hook_url)
        alert_webhook_send(self->hooks, "webhook", self->hook_url, NULL, f->alert.id, json);
    for (size_t i = 0; json && rule && i < rule->nchan; i++) {
        const alert_chan_t *c = &rule->chan[i];
        if (c->kind == ALERT_CHAN_WEBHOOK)
            alert_webhook_send(self->hooks, "webhook", c->target, c->secret, f->alert.id, json);
        else if (c->kind == ALERT_CHAN_EMAIL && *self->relay_url) {
            char *mail = s_email_body(c->target, &f->alert, json);
            alert_webhook_send(self->hooks, "email", self->relay_url, NULL, f->alert.id, mail);
            free(mail);
        } else if (c->kind == ALERT_CHAN_EMAIL)
            tg_log_warn("alert id=%s: email channel skipped, alert.email_relay_url is not set",
                        f->alert.id);
    }
    free(json);
    tg_frame_send(alert_p, self->stream);  //  PUB never blocks
}

static void
s_on_fire(const alert_rule_t *rule, tg_frame_t **alert_p, void *arg)
{
    s_deliver(arg, rule, alert_p);
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
        tg_frame_set_str(&alerts[i]->topic, NULL);
        alerts[i]->topic = tg_strfmt("%s.%s", alerts[i]->alert.severity, alerts[i]->alert.scope);
        s_deliver(self, NULL, &alerts[i]);
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
s_dead_entry(const char *json, void *arg)
{
    json_t *o = json_loads(json, 0, NULL);
    if (!o)
        return;
    json_object_del(o, "secret");  //  a channel's key is never shown
    json_array_append_new(arg, o);
}

//  GET /v1/alerts/dead_letters, POST /v1/alerts/dead_letters/<id>/resend
static tg_frame_t *
s_dead_letters(alert_t *self, const tg_fr_query_t *q)
{
    const char *rest = q->path + strlen("/v1/alerts/dead_letters");
    if (!*rest) {
        if (strcmp(q->method, "GET") != 0)
            return tg_reply_error(q->id, 405, "method not allowed: use GET", NULL);
        json_t *data = json_array();
        if (alert_book_each(self->book, ALERT_BOOK_DEAD, s_dead_entry, data) != TG_OK) {
            json_decref(data);
            return tg_reply_error(q->id, 500, "dead letters could not be read", NULL);
        }
        json_t *o = json_pack("{ss so}", "object", "list", "data", data);
        char *body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return tg_reply_new(q->id, 200, &body);
    }
    char id[64];
    size_t n = strlen(rest);
    const char *tail = "/resend";
    if (rest[0] != '/' || n <= strlen(tail) + 1 || strcmp(rest + n - strlen(tail), tail) != 0
        || n - strlen(tail) - 1 >= sizeof id)
        return tg_reply_error(q->id, 404, "unknown route: use /v1/alerts/dead_letters/<id>/resend",
                              NULL);
    memcpy(id, rest + 1, n - strlen(tail) - 1);
    id[n - strlen(tail) - 1] = 0;
    if (strcmp(q->method, "POST") != 0)
        return tg_reply_error(q->id, 405, "method not allowed: use POST", NULL);
    int rc = alert_webhook_resend(self->hooks, id);
    if (rc == TG_NOTFOUND)
        return tg_reply_error(q->id, 404, "no dead letter with that id", NULL);
    if (rc != TG_OK)
        return tg_reply_error(q->id, 500, "the dead letter could not be re-sent", NULL);
    char *body = tg_strfmt("{\"id\":\"%s\",\"object\":\"dead_letter\",\"resent\":true}", id);
    return tg_reply_new(q->id, 202, &body);
}

static bool
s_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static void
s_on_query(alert_t *self, const tg_frame_t *frame)
{
    const tg_fr_query_t *q = &frame->query;
    if (!tg_peers_endpoint_ok(q->reply_to)) {
        tg_log_warn("dropped query frame with a bad reply_to id=%.64s", q->id);
        return;
    }
    tg_frame_t *reply;
    if (s_under(q->path, "/v1/alerts/rules")) {
        reply = alert_rules_query(self->rules, q, frame->body, frame->body_len, tg_now_us());
        s_sync_events(self);
    } else if (s_under(q->path, "/v1/alerts/dead_letters"))
        reply = s_dead_letters(self, q);
    else if (strcmp(q->path, "/v1/costs/alerts") != 0) {
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
        s_on_query(arg, f);
    else
        tg_log_warn("alert ignored a %s frame", tg_frame_name(f->type));
}

//  Keeps the newest SPEND, dropping the one before; feeds EVENTS to the rules. The rest is
//  done in s_on_settle, once per turn of the loop (SPEND comes every second and after each
//  commit: only the newest one matters).
static void
s_on_bus_frame(tg_frame_t **frame_p, void *arg)
{
    alert_t *self = arg;
    tg_frame_t *f = *frame_p;
    if (f->type == TG_FRAME_EVENTS) {
        int64_t now = tg_now_us();
        size_t off = 0;
        char err[128];
        while (f->body && off < f->body_len) {
            tg_frame_t *u = NULL;
            if (tg_frame_decode_next(TG_FRAME_USAGE, f->body, f->body_len, &off, &u, err,
                                     sizeof err)
                == TG_OK) {
                alert_rules_on_event(self->rules, &u->usage, now);
                self->fed++;
            }
            tg_frame_destroy(&u);
        }
    } else if (f->type == TG_FRAME_SPEND) {
        tg_frame_destroy(&self->last_spend);
        self->last_spend = f;
        *frame_p = NULL;
    } else
        return;
    event_active(self->settle, EV_TIMEOUT, 0);  //  once, whatever the number of frames
}

static void
s_on_settle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    alert_t *self = arg;
    if (self->last_spend) {
        s_on_spend(self, &self->last_spend->spend);
        alert_rules_on_spend(self->rules, &self->last_spend->spend, tg_now_us());
    }
    if (self->fed || self->last_spend)
        alert_rules_eval(self->rules, tg_now_us(), s_on_fire, self);
    tg_frame_destroy(&self->last_spend);
    self->fed = 0;
}

static void
s_on_stats_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    alert_t *self = arg;
    tg_stats_publish(self->stats, self->metrics, true);
}

static void
s_on_eval_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    alert_t *self = arg;
    alert_rules_eval(self->rules, tg_now_us(), s_on_fire, self);
}

int
alert_attach(alert_t *self, struct event_base *base)
{
    assert(self && base);
    self->settle = event_new(base, -1, 0, s_on_settle, self);
    self->inbox_rd = tg_evzmq_new(base, self->inbox, s_on_inbox_frame, self);
    self->bus_rd = tg_evzmq_new(base, self->bus, s_on_bus_frame, self);
    if (!self->settle || !self->inbox_rd || !self->bus_rd)
        return TG_ERR;
    self->stats_ev =
        tg_evzmq_timer(base, tg_config_int(self->cfg, "stats.interval_ms"), s_on_stats_timer, self);
    self->eval_ev = tg_evzmq_timer(base, S_EVAL_MS, s_on_eval_timer, self);
    alert_webhook_attach(self->hooks, base);
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
    struct event **evs[] = {&self->settle, &self->stats_ev, &self->eval_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    tg_evzmq_destroy(&self->inbox_rd);
    tg_evzmq_destroy(&self->bus_rd);
    tg_frame_destroy(&self->last_spend);
    alert_webhook_destroy(&self->hooks);
    alert_rules_destroy(&self->rules);
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
