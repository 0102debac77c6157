//  test_alert.c - alert core: thresholds fire once per period (across reopen), budgets,
//  the forecast, malformed SPEND, the history list; the service on inproc://.
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "tg_evzmq.h"
#include "alert_book.h"
#include "tg_config.h"
#include "tg_utc.h"
#include "tg_util.h"
#include "test_tmpdir.h"

//  Fires a SPEND; returns how many alerts came out, their severities/kinds joined in out.
static int
s_spend(alert_book_t *b,
        const char *day,
        const char *month,
        double du,
        double mu,
        int64_t ts,
        double daily,
        double monthly,
        char *out,
        size_t size)
{
    tg_fr_spend_t s = {
        .ts = ts, .day = (char *)day, .month = (char *)month, .day_usd = du, .month_usd = mu};
    tg_frame_t **alerts = NULL;
    size_t n = 0;
    int rc = alert_book_on_spend(b, &s, daily, monthly, &alerts, &n);
    if (out)
        out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        tg_frame_t *f = alerts[i];
        CU_ASSERT_EQUAL(f->type, TG_FRAME_ALERT);
        CU_ASSERT_STRING_EQUAL(f->topic, f->alert.severity);  //  tag "alert.<severity>"
        CU_ASSERT_STRING_EQUAL(f->alert.scope, "global");
        if (out) {
            char item[64];
            snprintf(item, sizeof item, "%s%s:%s:%.2f", i ? " " : "", f->alert.kind,
                     f->alert.severity, f->alert.threshold);
            strncat(out, item, size - strlen(out) - 1);
        }
        tg_frame_destroy(&alerts[i]);
    }
    free(alerts);
    return rc == TG_OK ? (int)n : -1;
}

static void
test_thresholds_once(void)
{
    char *dir = test_tmpdir("alert");
    alert_book_t *b = alert_book_new(dir, 1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    int64_t ts;
    //  Late in the month, so that the forecast stays quiet until the budget is reached.
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-30T12:00:00Z", &ts), TG_OK);
    char got[512];
    //  No budget crossed: daily has no 50 % level.
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-03", "2026-11", 1.0, 2.4, ts, 2, 5, got, sizeof got), 0);
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-03", "2026-11", 1.6, 2.6, ts, 2, 5, got, sizeof got), 2);
    CU_ASSERT_STRING_EQUAL(got, "budget:info:0.75 budget:info:0.50");
    //  Same again: nothing new.
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-03", "2026-11", 1.7, 2.7, ts, 2, 5, got, sizeof got), 0);
    //  Several levels at once, each once.
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-03", "2026-11", 2.0, 4.6, ts, 2, 5, got, sizeof got), 4);
    CU_ASSERT_STRING_EQUAL(
        got, "budget:warning:0.90 budget:critical:1.00 budget:info:0.75 budget:warning:0.90");
    alert_book_destroy(&b);

    //  A restart does not fire them again.
    b = alert_book_new(dir, 1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-03", "2026-11", 2.0, 4.6, ts, 2, 5, got, sizeof got), 0);
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-03", "2026-11", 2.0, 5.0, ts, 2, 5, got, sizeof got), 2);
    CU_ASSERT_STRING_EQUAL(got, "budget:critical:1.00 budget_forecast:warning:1.00");
    //  A new day fires the daily levels again, not the monthly ones.
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-04", "2026-11", 1.5, 5.1, ts, 2, 5, got, sizeof got), 1);
    CU_ASSERT_STRING_EQUAL(got, "budget:info:0.75");
    //  A changed budget is a new threshold.
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-04", "2026-11", 1.5, 5.1, ts, 2, 10, got, sizeof got), 1);
    CU_ASSERT_STRING_EQUAL(got, "budget:info:0.50");
    //  No budgets: nothing.
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-05", "2026-11", 100, 100, ts, 0, 0, got, sizeof got), 0);
    //  Malformed SPEND frames.
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-5", "2026-11", 1, 1, ts, 2, 5, NULL, 0), -1);
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-05", "11-2026", 1, 1, ts, 2, 5, NULL, 0), -1);
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-05", "2026-11", -1, 1, ts, 2, 5, NULL, 0), -1);
    CU_ASSERT_EQUAL(s_spend(b, NULL, "2026-11", 1, 1, ts, 2, 5, NULL, 0), -1);
    CU_ASSERT_EQUAL(s_spend(b, "1795617000", "2026-11", 1, 1, ts, 2, 5, NULL, 0), -1);
    alert_book_destroy(&b);
    test_rmdir(&dir);
}

static void
test_forecast(void)
{
    char *dir = test_tmpdir("alert");
    alert_book_t *b = alert_book_new(dir, 1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    int64_t ts;
    char got[256];
    //  Half a day into the month: too early to forecast, whatever the pace.
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-01T12:00:00Z", &ts), TG_OK);
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-01", "2026-11", 0, 1.0, ts, 0, 5, got, sizeof got), 0);
    //  Ten days in, $2 spent of $5: forecast $6 > $5.
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-11T00:00:00Z", &ts), TG_OK);
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-11", "2026-11", 0, 2.0, ts, 0, 5, got, sizeof got), 1);
    CU_ASSERT_STRING_EQUAL(got, "budget_forecast:warning:1.00");
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-11", "2026-11", 0, 2.1, ts, 0, 5, got, sizeof got), 0);
    //  A SPEND whose month is not the month of its time does not forecast.
    CU_ASSERT_EQUAL(s_spend(b, "2026-10-31", "2026-10", 0, 2.4, ts, 0, 5, got, sizeof got), 0);
    alert_book_destroy(&b);
    test_rmdir(&dir);
}

static void
test_list(void)
{
    char *dir = test_tmpdir("alert");
    alert_book_t *b = alert_book_new(dir, 1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    int64_t ts;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-30T12:00:00Z", &ts), TG_OK);
    int64_t before = tg_now_us();
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-03", "2026-11", 0, 2.5, ts, 0, 5, NULL, 0), 1);
    CU_ASSERT_EQUAL(s_spend(b, "2026-11-03", "2026-11", 0, 4.5, ts, 0, 5, NULL, 0), 2);
    char *body = alert_book_list(b, 0, 100, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"limit\":5.000000"));
    json_error_t err;
    json_t *j = json_loads(body, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "object")), "list");
    json_t *data = json_object_get(j, "data");
    CU_ASSERT_EQUAL(json_array_size(data), 3);
    //  Newest first: the 50 % alert came first, so it is last.
    json_t *last = json_array_get(data, 2);
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(last, "threshold")), 0.5, 1e-9);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(last, "period")), "2026-11");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(last, "kind")), "budget");
    CU_ASSERT_PTR_NOT_NULL(json_object_get(last, "message"));
    CU_ASSERT_PTR_NOT_NULL(json_object_get(last, "id"));
    json_decref(j);
    free(body);

    body = alert_book_list(b, 0, 1, NULL);
    j = json_loads(body, 0, &err);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "data")), 1);
    json_decref(j);
    free(body);
    body = alert_book_list(b, 0, 100, "warning");
    j = json_loads(body, 0, &err);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "data")), 1);
    json_decref(j);
    free(body);
    body = alert_book_list(b, before + 3600000000LL, 100, NULL);
    CU_ASSERT_STRING_EQUAL(body, "{\"object\":\"list\",\"data\":[]}");
    free(body);
    alert_book_destroy(&b);
    test_rmdir(&dir);
}

//  ---- the service on inproc:// ---------------------------------------------------------

typedef struct {
    zsock_t *bus;             //  PUB standing for the router's XPUB on bus_out
    zsock_t *stream;          //  SUB on the alert stream
    zsock_t *inbox;           //  PULL for the query REPLY
    zsock_t *push;            //  PUSH to the alert inbox
    int alerts;               //  ALERT frames received
    char *reply;              //  REPLY body
    bool timeout;             //  the deadline fired
    struct event_base *base;  //  the loop, broken when done
} s_core_t;

static void
s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_core_t *c = arg;
    //  SPEND on the bus until the subscription has joined and the alerts came out.
    tg_frame_t *f = tg_frame_new(TG_FRAME_SPEND);
    f->spend.ts = tg_now_us();
    f->spend.day = tg_strdup("2026-11-03");
    f->spend.month = tg_strdup("2026-11");
    f->spend.day_usd = 10;
    f->spend.month_usd = 1;
    tg_frame_send(&f, c->bus);
}

static void
s_on_stream(tg_frame_t **frame_p, void *arg)
{
    s_core_t *c = arg;
    tg_frame_t *f = *frame_p;
    if (f->type == TG_FRAME_ALERT && ++c->alerts == 3) {  //  daily 75, 90, 100 %
        tg_frame_t *q = tg_frame_new(TG_FRAME_QUERY);
        q->query.id = tg_strdup("req_alerts");
        q->query.reply_to = tg_strdup("inproc://test-alert-me");
        q->query.method = tg_strdup("GET");
        q->query.path = tg_strdup("/v1/costs/alerts");
        q->query.args = tg_strdup("severity=critical");
        CU_ASSERT_EQUAL(tg_frame_send(&q, c->push), TG_OK);
    }
}

static void
s_on_reply(tg_frame_t **frame_p, void *arg)
{
    s_core_t *c = arg;
    tg_frame_t *f = *frame_p;
    if (f->type == TG_FRAME_REPLY) {
        c->reply = tg_strdup(f->body);
        event_base_loopbreak(c->base);
    }
}

static void
s_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_core_t *c = arg;
    c->timeout = true;
    event_base_loopbreak(c->base);
}

static void
test_core_inproc(void)
{
    char *dir = test_tmpdir("alert");
    char *yaml = tg_strfmt("run_dir: %s\ndata_dir: %s\n"
                           "endpoints:\n  alert: inproc://test-alert\n"
                           "  alert_stream: inproc://test-alert-stream\n"
                           "  bus_out: inproc://test-alert-bus\n"
                           "  bus_in: inproc://test-alert-bus-in\n"
                           "budget:\n  daily_usd: 2\n",
                           dir, dir);
    tg_config_t *cfg = tg_config_load_string(yaml);
    free(yaml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    s_core_t c = {0};
    c.bus = zsock_new(ZMQ_PUB);
    CU_ASSERT_EQUAL_FATAL(zsock_bind(c.bus, "inproc://test-alert-bus"), 0);
    alert_t *a = alert_new(cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    c.stream = zsock_new(ZMQ_SUB);
    zsock_set_subscribe(c.stream, "alert.");
    CU_ASSERT_EQUAL_FATAL(zsock_connect(c.stream, "inproc://test-alert-stream"), 0);
    c.inbox = zsock_new(ZMQ_PULL);
    CU_ASSERT_EQUAL_FATAL(zsock_bind(c.inbox, "inproc://test-alert-me"), 0);
    c.push = zsock_new(ZMQ_PUSH);
    CU_ASSERT_EQUAL_FATAL(zsock_connect(c.push, "inproc://test-alert"), 0);

    c.base = tg_evzmq_base_new();
    CU_ASSERT_EQUAL(alert_attach(a, c.base), TG_OK);
    tg_evzmq_t *stream = tg_evzmq_new(c.base, c.stream, s_on_stream, &c);
    tg_evzmq_t *replies = tg_evzmq_new(c.base, c.inbox, s_on_reply, &c);
    struct event *tick = event_new(c.base, -1, EV_PERSIST, s_on_tick, &c);
    struct timeval every = {0, 20000};
    event_add(tick, &every);
    struct event *deadline = evtimer_new(c.base, s_on_deadline, &c);
    struct timeval tv = {10, 0};
    evtimer_add(deadline, &tv);
    event_base_dispatch(c.base);
    event_free(tick);
    event_free(deadline);
    tg_evzmq_destroy(&stream);
    tg_evzmq_destroy(&replies);
    CU_ASSERT_FALSE(c.timeout);
    CU_ASSERT_EQUAL(c.alerts, 3);  //  repeated SPEND frames fired each level once
    json_error_t err;
    json_t *j = c.reply ? json_loads(c.reply, 0, &err) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    json_t *data = json_object_get(j, "data");
    CU_ASSERT_EQUAL(json_array_size(data), 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(data, 0), "severity")),
                           "critical");
    json_decref(j);
    alert_destroy(&a);  //  before the loop it is attached to
    event_base_free(c.base);
    CU_ASSERT_PTR_NULL(a);
    free(c.reply);
    zsock_destroy(&c.push);
    zsock_destroy(&c.inbox);
    zsock_destroy(&c.stream);
    zsock_destroy(&c.bus);
    tg_config_destroy(&cfg);
    test_rmdir(&dir);
}

void
test_alert_register(void)
{
    CU_pSuite s = CU_add_suite("alert", NULL, NULL);
    CU_add_test(s, "thresholds_once", test_thresholds_once);
    CU_add_test(s, "forecast", test_forecast);
    CU_add_test(s, "list", test_list);
    CU_add_test(s, "core_inproc", test_core_inproc);
}
