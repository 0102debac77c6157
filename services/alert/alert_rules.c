//  alert_rules.c - rules CRUD (/v1/alerts/rules), their windows, and firing into the book.
#include "alert_rules.h"
#include "tg_log.h"
#include "tg_reply.h"
#include "tg_util.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PREFIX "/v1/alerts/rules"

typedef struct {
    alert_rule_t *rule;  //  owned
    alert_window_t *w;   //  owned
} s_entry_t;

struct alert_rules {
    alert_book_t *book;            //  borrowed
    s_entry_t e[ALERT_RULES_MAX];  //  rules, in creation order
    size_t n;                      //  entries used
};

static alert_window_t *
s_window(const alert_rule_t *r, int64_t now)
{
    return alert_window_new(r->window_s, r->cond == ALERT_COND_PERCENTILE, now);
}

static void
s_on_stored(const char *json, void *arg)
{
    alert_rules_t *self = arg;
    alert_rule_t *r;
    char *msg, *param;
    if (alert_rule_parse(json, strlen(json), true, &r, &msg, &param) != TG_OK || !r->id[0]) {
        tg_log_warn("stored alert rule unreadable (%s): skipped", msg ? msg : "no id");
        free(msg);
        free(param);
        alert_rule_destroy(&r);
        return;
    }
    if (self->n == ALERT_RULES_MAX) {
        alert_rule_destroy(&r);
        return;
    }
    self->e[self->n].rule = r;
    self->e[self->n].w = NULL;
    self->n++;
}

alert_rules_t *
alert_rules_new(alert_book_t *book, int64_t now_us)
{
    alert_rules_t *self = tg_zalloc(sizeof *self);
    self->book = book;
    if (alert_book_each(book, ALERT_BOOK_RULES, s_on_stored, self) != TG_OK)
        tg_log_error("alert rules could not be read: starting with none loaded");
    for (size_t i = 0; i < self->n; i++)
        self->e[i].w = s_window(self->e[i].rule, now_us);
    tg_log_info("alert rules loaded n=%zu", self->n);
    return self;
}

void
alert_rules_destroy(alert_rules_t **self_p)
{
    assert(self_p);
    alert_rules_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++) {
        alert_rule_destroy(&self->e[i].rule);
        alert_window_destroy(&self->e[i].w);
    }
    free(self);
    *self_p = NULL;
}

size_t
alert_rules_count(const alert_rules_t *self)
{
    return self->n;
}

size_t
alert_rules_count_usage(const alert_rules_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++)
        n += self->e[i].rule->enabled && strcmp(self->e[i].rule->event, "spend") != 0;
    return n;
}

static s_entry_t *
s_find(alert_rules_t *self, const char *id)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->e[i].rule->id, id) == 0)
            return &self->e[i];
    return NULL;
}

static tg_frame_t *
s_rule_reply(const char *qid, int status, const alert_rule_t *r)
{
    char *json = alert_rule_json(r, false);
    return tg_reply_new(qid, status, &json);
}

static tg_frame_t *
s_list(alert_rules_t *self, const char *qid)
{
    json_t *data = json_array();
    for (size_t i = 0; i < self->n; i++) {
        char *text = alert_rule_json(self->e[i].rule, false);
        json_array_append_new(data, json_loads(text, 0, NULL));
        free(text);
    }
    json_t *o = json_pack("{ss so}", "object", "list", "data", data);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return tg_reply_new(qid, 200, &body);
}

//  Stores r (borrowed) under its id. TG_OK or TG_ERR.
static int
s_store(alert_rules_t *self, const alert_rule_t *r)
{
    char *json = alert_rule_json(r, true);
    int rc = alert_book_put(self->book, ALERT_BOOK_RULES, r->id, json);
    free(json);
    return rc;
}

static tg_frame_t *
s_create(alert_rules_t *self, const char *qid, const char *body, size_t len, int64_t now)
{
    alert_rule_t *r;
    char *msg, *param;
    if (alert_rule_parse(body ? body : "", len, false, &r, &msg, &param) != TG_OK) {
        tg_frame_t *f = tg_reply_error(qid, 400, msg, param);
        free(msg);
        free(param);
        return f;
    }
    if (self->n == ALERT_RULES_MAX) {
        alert_rule_destroy(&r);
        return tg_reply_error(qid, 409, "too many alert rules: delete one first", NULL);
    }
    tg_id_fill(r->id, "rule_", 12);
    r->created_us = now;
    if (s_store(self, r) != TG_OK) {
        alert_rule_destroy(&r);
        return tg_reply_error(qid, 500, "the rule could not be stored", NULL);
    }
    self->e[self->n].rule = r;
    self->e[self->n].w = s_window(r, now);
    self->n++;
    tg_log_info("alert rule created id=%s", r->id);
    return s_rule_reply(qid, 201, r);
}

//  PUT: the body's fields replace the rule's (a partial update); the whole is validated.
static tg_frame_t *
s_update(
    alert_rules_t *self, const char *qid, s_entry_t *e, const char *body, size_t len, int64_t now)
{
    json_t *patch = json_loadb(body ? body : "", len, 0, NULL);
    if (!json_is_object(patch)) {
        json_decref(patch);
        return tg_reply_error(qid, 400, "the body must be a JSON object with the fields to change",
                              NULL);
    }
    json_object_del(patch, "id");
    json_object_del(patch, "created");
    json_object_del(patch, "fired_us");
    char *cur = alert_rule_json(e->rule, true);
    json_t *merged = json_loads(cur, 0, NULL);
    free(cur);
    json_object_update(merged, patch);
    json_decref(patch);
    char *text = json_dumps(merged, JSON_COMPACT);
    json_decref(merged);
    alert_rule_t *r;
    char *msg, *param;
    int rc = alert_rule_parse(text, strlen(text), true, &r, &msg, &param);
    free(text);
    if (rc != TG_OK) {
        tg_frame_t *f = tg_reply_error(qid, 400, msg, param);
        free(msg);
        free(param);
        return f;
    }
    if (s_store(self, r) != TG_OK) {
        alert_rule_destroy(&r);
        return tg_reply_error(qid, 500, "the rule could not be stored", NULL);
    }
    alert_rule_destroy(&e->rule);
    e->rule = r;
    alert_window_destroy(&e->w);  //  a changed rule watches anew
    e->w = s_window(r, now);
    tg_log_info("alert rule updated id=%s enabled=%d", r->id, r->enabled);
    return s_rule_reply(qid, 200, r);
}

static tg_frame_t *
s_delete(alert_rules_t *self, const char *qid, s_entry_t *e)
{
    char id[ALERT_RULE_ID_MAX];
    snprintf(id, sizeof id, "%s", e->rule->id);
    if (alert_book_take(self->book, ALERT_BOOK_RULES, id, NULL) == TG_ERR)
        return tg_reply_error(qid, 500, "the rule could not be deleted", NULL);
    alert_rule_destroy(&e->rule);
    alert_window_destroy(&e->w);
    size_t i = (size_t)(e - self->e);
    memmove(&self->e[i], &self->e[i + 1], (self->n - i - 1) * sizeof self->e[0]);
    self->n--;
    tg_log_info("alert rule deleted id=%s", id);
    char *body = tg_strfmt("{\"id\":\"%s\",\"object\":\"alert_rule\",\"deleted\":true}", id);
    return tg_reply_new(qid, 200, &body);
}

tg_frame_t *
alert_rules_query(
    alert_rules_t *self, const tg_fr_query_t *q, const char *body, size_t len, int64_t now)
{
    const char *rest = q->path + strlen(S_PREFIX);
    const char *m = q->method;
    if (!*rest || strcmp(rest, "/") == 0) {
        if (strcmp(m, "GET") == 0)
            return s_list(self, q->id);
        if (strcmp(m, "POST") == 0)
            return s_create(self, q->id, body, len, now);
        return tg_reply_error(q->id, 405, "method not allowed: use GET or POST", NULL);
    }
    if (rest[0] != '/')
        return tg_reply_error(q->id, 404, "unknown alert route", NULL);
    char id[ALERT_RULE_ID_MAX + 1];
    const char *slash = strchr(rest + 1, '/');
    size_t idlen = slash ? (size_t)(slash - rest - 1) : strlen(rest + 1);
    if (idlen == 0 || idlen >= sizeof id)
        return tg_reply_error(q->id, 404, "no such alert rule", NULL);
    memcpy(id, rest + 1, idlen);
    id[idlen] = 0;
    s_entry_t *e = s_find(self, id);
    if (!e) {
        char *msg = tg_strfmt("no alert rule with id '%.40s'", id);
        tg_frame_t *f = tg_reply_error(q->id, 404, msg, NULL);
        free(msg);
        return f;
    }
    if (slash) {
        bool on = strcmp(slash, "/enable") == 0;
        if (!on && strcmp(slash, "/disable") != 0)
            return tg_reply_error(q->id, 404, "unknown alert rule action: use enable or disable",
                                  NULL);
        if (strcmp(m, "POST") != 0)
            return tg_reply_error(q->id, 405, "method not allowed: use POST", NULL);
        return s_update(self, q->id, e, on ? "{\"enabled\":true}" : "{\"enabled\":false}",
                        on ? 16 : 17, now);
    }
    if (strcmp(m, "GET") == 0)
        return s_rule_reply(q->id, 200, e->rule);
    if (strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0)
        return s_update(self, q->id, e, body, len, now);
    if (strcmp(m, "DELETE") == 0)
        return s_delete(self, q->id, e);
    return tg_reply_error(q->id, 405, "method not allowed: use GET, PUT or DELETE", NULL);
}

void
alert_rules_on_event(alert_rules_t *self, const tg_fr_usage_t *u, int64_t now)
{
    for (size_t i = 0; i < self->n; i++) {
        const alert_rule_t *r = self->e[i].rule;
        if (r->enabled && alert_rule_match(r, u))
            alert_window_add(self->e[i].w, now, alert_rule_value(r, u));
    }
}

void
alert_rules_on_spend(alert_rules_t *self, const tg_fr_spend_t *sp, int64_t now)
{
    for (size_t i = 0; i < self->n; i++) {
        const alert_rule_t *r = self->e[i].rule;
        double v;
        if (r->enabled && alert_rule_spend_value(r, sp, &v))
            alert_window_add(self->e[i].w, now, v);
    }
}

static tg_frame_t *
s_alert(const alert_rule_t *r, double value, int64_t now)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_ALERT);
    char id[32];
    tg_id_fill(id, "alrt_", 12);
    f->topic = tg_strfmt("%s.%s", r->severity, r->org);
    f->alert.id = tg_strdup(id);
    f->alert.ts = now;
    f->alert.severity = tg_strdup(r->severity);
    f->alert.kind = tg_strdup("rule");
    f->alert.scope = tg_strdup(r->org);
    f->alert.period = tg_strfmt("%llds", (long long)r->window_s);
    f->alert.threshold = r->threshold;
    f->alert.value = value;
    f->alert.limit = r->threshold;
    f->alert.rule = tg_strdup(r->id);
    char what[64];
    if (r->cond == ALERT_COND_PERCENTILE)
        snprintf(what, sizeof what, "p%g(%s)", r->percentile, r->metric);
    else if (r->metric)
        snprintf(what, sizeof what, "%s(%s)", alert_cond_name(r->cond), r->metric);
    else
        snprintf(what, sizeof what, "%s", alert_cond_name(r->cond));
    f->alert.message =
        tg_strfmt("rule %s%s%s%s: %s of %s events over %llds is %g, %s %g", r->id,
                  r->name ? " (" : "", r->name ? r->name : "", r->name ? ")" : "", what, r->event,
                  (long long)r->window_s, value, alert_cmp_name(r->cmp), r->threshold);
    return f;
}

size_t
alert_rules_eval(alert_rules_t *self, int64_t now, alert_rules_fire_fn *fn, void *arg)
{
    //  Every rule that fires now is stored in one txn, then delivered.
    size_t n = 0;
    tg_frame_t **frames = NULL;
    alert_rule_t **rules = NULL;
    const char **ids = NULL;
    char **jsons = NULL;
    int64_t *before = NULL;
    for (size_t i = 0; i < self->n; i++) {
        alert_rule_t *r = self->e[i].rule;
        double value;
        if (!alert_rule_eval(r, self->e[i].w, now, &value))
            continue;
        if (!frames) {
            frames = tg_zalloc(self->n * sizeof *frames);
            rules = tg_zalloc(self->n * sizeof *rules);
            ids = tg_zalloc(self->n * sizeof *ids);
            jsons = tg_zalloc(self->n * sizeof *jsons);
            before = tg_zalloc(self->n * sizeof *before);
        }
        frames[n] = s_alert(r, value, now);
        rules[n] = r;
        ids[n] = r->id;
        before[n] = r->fired_us;
        r->fired_us = now;
        jsons[n] = alert_rule_json(r, true);
        n++;
    }
    if (n == 0)
        return 0;
    int rc = alert_book_add_rule_alerts(self->book, frames, ids, jsons, n);
    for (size_t i = 0; i < n; i++) {
        if (rc == TG_OK)
            fn(rules[i], &frames[i], arg);
        else
            rules[i]->fired_us = before[i];  //  not stored: the next evaluation tries again
        tg_frame_destroy(&frames[i]);
        free(jsons[i]);
    }
    free(frames);
    free(rules);
    free(ids);
    free(jsons);
    free(before);
    return rc == TG_OK ? n : 0;
}
