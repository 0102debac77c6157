//  router_budget.c - USD budgets per key / project / org, per day and month: reserve, settle.
#include "router_budget.h"
#include "router_limits.h"
#include "tg_error.h"
#include "tg_log.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <czmq.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PENDING_MAX_US (15LL * 60 * 1000000)  //  a call's cost is awaited this long
#define S_SCOPES 3                              //  key, project, org
#define S_NAME_MAX 160                          //  "project:<name>"

//  Spend of one scope in the current day and month.
typedef struct {
    char day[11];       //  "2026-12-04" the day counts are for
    char month[8];      //  "2026-12"
    int64_t day_spent;  //  pico-USD settled today
    int64_t day_held;   //  pico-USD reserved today by calls in flight
    int64_t mon_spent;  //  pico-USD settled this month
    int64_t mon_held;   //  pico-USD reserved this month by calls in flight
    bool dirty;         //  changed since last written
} s_spend_t;

//  Budgets of an org or project, from /v1/budgets.
typedef struct {
    double daily;    //  USD per day; 0 = none
    double monthly;  //  USD per month; 0 = none
} s_limit_t;

//  A call's reservation.
typedef struct {
    char scopes[S_SCOPES][S_NAME_MAX];  //  scopes charged ("" = unused)
    char day[11];                       //  day and month it was reserved in
    char month[8];
    int64_t held;   //  pico-USD reserved
    uint64_t ptok;  //  prompt tokens estimated (used when the worker knows none)
    int64_t in_p;   //  price per input token, pico-USD
    int64_t out_p;  //  price per output token, pico-USD
    int64_t at_us;  //  when reserved
} s_pending_t;

struct router_budget {
    tg_keystore_t *store;  //  borrowed; NULL: nothing kept
    uint64_t max_tokens;   //  reserved when a call gives none
    zhashx_t *spend;       //  scope -> s_spend_t (owned)
    zhashx_t *limits;      //  "org:x" | "project:x" -> s_limit_t (owned)
    zhashx_t *pending;     //  call id -> s_pending_t (owned)
};

static int64_t
s_pusd(double usd)
{
    return (int64_t)llround(usd * ROUTER_BUDGET_PUSD);
}

static void
s_roll(s_spend_t *s, int64_t now)
{
    char day[11], month[8];
    tg_utc_day(now, day);
    tg_utc_month(now, month);
    if (strcmp(day, s->day) != 0) {
        memcpy(s->day, day, sizeof day);
        s->day_spent = s->day_held = 0;
        s->dirty = true;
    }
    if (strcmp(month, s->month) != 0) {
        memcpy(s->month, month, sizeof month);
        s->mon_spent = s->mon_held = 0;
        s->dirty = true;
    }
}

static s_spend_t *
s_spend(router_budget_t *self, const char *scope)
{
    s_spend_t *s = zhashx_lookup(self->spend, scope);
    if (!s) {
        s = tg_zalloc(sizeof *s);
        zhashx_insert(self->spend, scope, s);
    }
    return s;
}

static void
s_load_limit(const char *name, const char *text, size_t len, void *arg)
{
    router_budget_t *self = arg;
    json_t *o = json_loadb(text, len, 0, NULL);
    s_limit_t *l = tg_zalloc(sizeof *l);
    l->daily = json_number_value(json_object_get(o, "daily_usd"));
    l->monthly = json_number_value(json_object_get(o, "monthly_usd"));
    zhashx_update(self->limits, name, l);
    json_decref(o);
}

static void
s_load_spend(const char *name, const char *text, size_t len, void *arg)
{
    router_budget_t *self = arg;
    if (strncmp(name, "quota:", 6) == 0)
        return;  //  router_limits' monthly counts share the db
    json_t *o = json_loadb(text, len, 0, NULL);
    s_spend_t *s = s_spend(self, name);
    snprintf(s->day, sizeof s->day, "%s", json_string_value(json_object_get(o, "day")) ?: "");
    snprintf(s->month, sizeof s->month, "%s", json_string_value(json_object_get(o, "month")) ?: "");
    s->day_spent = json_integer_value(json_object_get(o, "day_pusd"));
    s->mon_spent = json_integer_value(json_object_get(o, "month_pusd"));
    json_decref(o);
}

router_budget_t *
router_budget_new(tg_keystore_t *store, uint64_t default_max_tokens)
{
    router_budget_t *self = tg_zalloc(sizeof *self);
    self->store = store;
    self->max_tokens = default_max_tokens;
    self->spend = zhashx_new();
    zhashx_set_destructor(self->spend, tg_free_item);
    self->limits = zhashx_new();
    zhashx_set_destructor(self->limits, tg_free_item);
    self->pending = zhashx_new();
    zhashx_set_destructor(self->pending, tg_free_item);
    if (store) {
        tg_keystore_kv_each(store, TG_KEYSTORE_BUDGETS, s_load_limit, self);
        tg_keystore_kv_each(store, TG_KEYSTORE_SPEND, s_load_spend, self);
    }
    return self;
}

//  Writes the spend that changed, in one txn.
static void
s_flush(router_budget_t *self)
{
    if (!self->store)
        return;
    size_t n = 0, cap = zhashx_size(self->spend);
    const char **names = tg_zalloc((cap + 1) * sizeof *names);
    char **texts = tg_zalloc((cap + 1) * sizeof *texts);
    s_spend_t **which = tg_zalloc((cap + 1) * sizeof *which);
    for (s_spend_t *s = zhashx_first(self->spend); s && n < cap; s = zhashx_next(self->spend)) {
        if (!s->dirty)
            continue;
        names[n] = zhashx_cursor(self->spend);
        texts[n] = tg_strfmt("{\"day\":\"%s\",\"month\":\"%s\",\"day_pusd\":%" PRId64
                             ",\"month_pusd\":%" PRId64 "}",
                             s->day, s->month, s->day_spent, s->mon_spent);
        which[n++] = s;
    }
    if (tg_keystore_kv_put_many(self->store, TG_KEYSTORE_SPEND, names, (const char *const *)texts,
                                n)
        == TG_OK)
        for (size_t i = 0; i < n; i++)
            which[i]->dirty = false;
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(which);
    free(texts);
    free(names);
}

void
router_budget_destroy(router_budget_t **self_p)
{
    assert(self_p);
    router_budget_t *self = *self_p;
    if (!self)
        return;
    s_flush(self);
    zhashx_destroy(&self->pending);
    zhashx_destroy(&self->limits);
    zhashx_destroy(&self->spend);
    free(self);
    *self_p = NULL;
}

int64_t
router_budget_estimate(const tg_price_t *price, uint64_t ptok, uint64_t out)
{
    if (!price)
        return 0;
    return (int64_t)ptok * (int64_t)llround(price->input * 1e6)
           + (int64_t)out * (int64_t)llround(price->output * 1e6);
}

//  The budgets that apply to a call: up to S_SCOPES names and their limits.
static size_t
s_scopes(router_budget_t *self,
         const tg_fr_request_t *rq,
         char names[S_SCOPES][S_NAME_MAX],
         s_limit_t lims[S_SCOPES])
{
    size_t n = 0;
    snprintf(names[n], S_NAME_MAX, "key:%s", rq->key);
    lims[n++] = (s_limit_t){rq->kbd, rq->kbm};
    if (rq->project && *rq->project) {
        snprintf(names[n], S_NAME_MAX, "project:%s", rq->project);
        s_limit_t *l = zhashx_lookup(self->limits, names[n]);
        lims[n++] = l ? *l : (s_limit_t){0, 0};
    }
    if (rq->org && *rq->org) {
        snprintf(names[n], S_NAME_MAX, "org:%s", rq->org);
        s_limit_t *l = zhashx_lookup(self->limits, names[n]);
        lims[n++] = l ? *l : (s_limit_t){0, 0};
    }
    return n;
}

static uint64_t
s_secs_to(int64_t end_us, int64_t now)
{
    int64_t us = end_us - now;
    return us > 0 ? (uint64_t)((us + 999999) / 1000000) : 1;
}

int
router_budget_admit(router_budget_t *self,
                    const tg_fr_request_t *rq,
                    const tg_price_t *price,
                    int64_t now,
                    char **msg_p,
                    uint64_t *retry_s_p)
{
    *msg_p = NULL;
    *retry_s_p = 0;
    if (!rq->key || strcmp(rq->key, "master") == 0 || !rq->id)
        return TG_OK;
    bool chat = rq->route && strcmp(rq->route, "chat") == 0;
    uint64_t out = chat ? (rq->mtok ? rq->mtok : self->max_tokens) : 0;
    int64_t est = router_budget_estimate(price, rq->ptok, out);
    char names[S_SCOPES][S_NAME_MAX];
    s_limit_t lims[S_SCOPES];
    size_t n = s_scopes(self, rq, names, lims);
    for (size_t i = 0; i < n; i++) {
        s_spend_t *s = s_spend(self, names[i]);
        s_roll(s, now);
        bool day = lims[i].daily > 0 && s->day_spent + s->day_held + est > s_pusd(lims[i].daily);
        bool mon = !day && lims[i].monthly > 0
                   && s->mon_spent + s->mon_held + est > s_pusd(lims[i].monthly);
        if (!day && !mon)
            continue;
        double limit = day ? lims[i].daily : lims[i].monthly;
        int64_t spent = day ? s->day_spent : s->mon_spent, held = day ? s->day_held : s->mon_held;
        const char *colon = strchr(names[i], ':');
        *msg_p =
            tg_strfmt("Budget exceeded: the %s budget of %.*s '%s' is $%.6f (spent $%.6f, "
                      "reserved by calls in flight $%.6f); this call may cost up to $%.6f. "
                      "It resets at the start of the next %s (UTC).",
                      day ? "daily" : "monthly", (int)(colon - names[i]), names[i], colon + 1,
                      limit, (double)spent / ROUTER_BUDGET_PUSD, (double)held / ROUTER_BUDGET_PUSD,
                      (double)est / ROUTER_BUDGET_PUSD, day ? "day" : "month");
        int64_t end =
            day ? tg_utc_day_start(now) + 86400LL * 1000000
                : tg_utc_month_start(now) + (int64_t)tg_utc_days_in_month(now) * 86400LL * 1000000;
        *retry_s_p = s_secs_to(end, now);
        return TG_AGAIN;
    }
    s_pending_t *p = tg_zalloc(sizeof *p);
    for (size_t i = 0; i < n; i++) {
        s_spend_t *s = s_spend(self, names[i]);
        s->day_held += est;
        s->mon_held += est;
        memcpy(p->scopes[i], names[i], S_NAME_MAX);
    }
    tg_utc_day(now, p->day);
    tg_utc_month(now, p->month);
    p->held = est;
    p->ptok = rq->ptok;
    p->in_p = price ? (int64_t)llround(price->input * 1e6) : 0;
    p->out_p = price ? (int64_t)llround(price->output * 1e6) : 0;
    p->at_us = now;
    zhashx_update(self->pending, rq->id, p);
    return TG_OK;
}

//  Replaces a reservation by `cost` (pico-USD) in every scope it was made in.
static void
s_settle(router_budget_t *self, const char *id, s_pending_t *p, int64_t cost, int64_t now)
{
    for (size_t i = 0; i < S_SCOPES && p->scopes[i][0]; i++) {
        s_spend_t *s = s_spend(self, p->scopes[i]);
        s_roll(s, now);
        if (strcmp(s->day, p->day) == 0)
            s->day_held = s->day_held > p->held ? s->day_held - p->held : 0;
        if (strcmp(s->month, p->month) == 0)
            s->mon_held = s->mon_held > p->held ? s->mon_held - p->held : 0;
        s->day_spent += cost;
        s->mon_spent += cost;
        if (cost)
            s->dirty = true;
    }
    zhashx_delete(self->pending, id);
}

void
router_budget_release(router_budget_t *self, const char *id, int64_t now)
{
    s_pending_t *p = zhashx_lookup(self->pending, id);
    if (p)
        s_settle(self, id, p, 0, now);
}

void
router_budget_settle(router_budget_t *self, const char *body, size_t len, int64_t now)
{
    if (!zhashx_size(self->pending))
        return;
    const char *p = body, *end = body + len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char id[128];
        uint64_t out, in;
        bool any;
        s_pending_t *pd = router_limits_done_line(p, n, id, sizeof id, &out, &in, &any)
                              ? zhashx_lookup(self->pending, id)
                              : NULL;
        if (pd) {
            //  A joined call (id only) made no upstream call; a worker that read no usage
            //  (a cut stream) knows no prompt tokens: the estimate is charged.
            if (any && !in)
                in = pd->ptok;
            s_settle(self, id, pd, (int64_t)in * pd->in_p + (int64_t)out * pd->out_p, now);
        }
        p += n + 1;
    }
}

void
router_budget_tick(router_budget_t *self, int64_t now)
{
    zlistx_t *gone = zlistx_new();
    zlistx_set_destructor(gone, tg_free_item);
    for (s_pending_t *p = zhashx_first(self->pending); p; p = zhashx_next(self->pending))
        if (now - p->at_us > S_PENDING_MAX_US)
            zlistx_add_end(gone, tg_strdup(zhashx_cursor(self->pending)));
    for (const char *id = zlistx_first(gone); id; id = zlistx_next(gone))
        router_budget_release(self, id, now);
    zlistx_destroy(&gone);
    s_flush(self);
}

//  ---------------------------------------------------------------------------------------
//  /v1/budgets: GET (all, with spend), GET|PUT|POST|DELETE /v1/budgets/{org|project}/{name}

static json_t *
s_view(router_budget_t *self, const char *scope, const s_limit_t *l, int64_t now)
{
    s_spend_t *s = s_spend(self, scope);
    s_roll(s, now);
    const char *colon = strchr(scope, ':');
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("budget"));
    json_object_set_new(o, "scope", json_stringn(scope, (size_t)(colon - scope)));
    json_object_set_new(o, "name", json_string(colon + 1));
    json_object_set_new(o, "daily_usd", l && l->daily > 0 ? json_real(l->daily) : json_null());
    json_object_set_new(o, "monthly_usd",
                        l && l->monthly > 0 ? json_real(l->monthly) : json_null());
    json_object_set_new(o, "day", json_string(s->day));
    json_object_set_new(o, "day_spent_usd", json_real((double)s->day_spent / ROUTER_BUDGET_PUSD));
    json_object_set_new(o, "day_reserved_usd", json_real((double)s->day_held / ROUTER_BUDGET_PUSD));
    json_object_set_new(o, "month", json_string(s->month));
    json_object_set_new(o, "month_spent_usd", json_real((double)s->mon_spent / ROUTER_BUDGET_PUSD));
    json_object_set_new(o, "month_reserved_usd",
                        json_real((double)s->mon_held / ROUTER_BUDGET_PUSD));
    return o;
}

static void
s_answer(json_t **o_p, int *status_p, char **body_p)
{
    *status_p = 200;
    *body_p = json_dumps(*o_p, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(*o_p);
    *o_p = NULL;
}

static bool
s_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == '/')
            return false;
    return true;
}

bool
router_budget_query(router_budget_t *self,
                    const tg_fr_query_t *q,
                    const char *body,
                    size_t len,
                    int64_t now,
                    int *status_p,
                    char **body_p)
{
    if (strcmp(q->path, "/v1/budgets") != 0 && strncmp(q->path, "/v1/budgets/", 12) != 0)
        return false;
    bool get = strcmp(q->method, "GET") == 0;
    if (strcmp(q->path, "/v1/budgets") == 0 || strcmp(q->path, "/v1/budgets/") == 0) {
        if (!get) {
            *status_p = 405;
            *body_p = tg_error_body(405, "Method not allowed.", NULL, NULL, NULL);
            return true;
        }
        json_t *data = json_array();
        for (s_limit_t *l = zhashx_first(self->limits); l; l = zhashx_next(self->limits)) {
            const char *scope = zhashx_cursor(self->limits);
            json_array_append_new(data, s_view(self, scope, l, now));
        }
        json_t *o = json_pack("{ss so}", "object", "list", "data", data);
        s_answer(&o, status_p, body_p);
        return true;
    }
    //  /v1/budgets/{org|project|key}/{name}
    const char *rest = q->path + 12, *slash = strchr(rest, '/');
    char scope[S_NAME_MAX];
    size_t kind = slash ? (size_t)(slash - rest) : 0;
    bool known = slash
                 && ((kind == 3 && strncmp(rest, "org", 3) == 0)
                     || (kind == 7 && strncmp(rest, "project", 7) == 0)
                     || (kind == 3 && strncmp(rest, "key", 3) == 0));
    if (!known || !s_name_valid(slash + 1)) {
        *status_p = 404;
        *body_p = tg_error_body(404,
                                "Budgets are at /v1/budgets/org/{name} and "
                                "/v1/budgets/project/{name} (key budgets: /v1/budgets/key/{id}, "
                                "read only; set them on the key).",
                                NULL, NULL, "unknown_url");
        return true;
    }
    snprintf(scope, sizeof scope, "%.*s:%s", (int)kind, rest, slash + 1);
    bool is_key = kind == 3 && strncmp(rest, "key", 3) == 0;
    bool put = strcmp(q->method, "PUT") == 0 || strcmp(q->method, "POST") == 0
               || strcmp(q->method, "PATCH") == 0;
    bool del = strcmp(q->method, "DELETE") == 0;
    s_limit_t *l = zhashx_lookup(self->limits, scope);
    if (get) {
        json_t *o = s_view(self, scope, l, now);
        s_answer(&o, status_p, body_p);
        return true;
    }
    if (is_key || (!put && !del)) {
        *status_p = 405;
        *body_p = tg_error_body(405,
                                is_key ? "A key's budgets are set on the key (PATCH /v1/keys/{id})."
                                       : "Method not allowed.",
                                NULL, NULL, NULL);
        return true;
    }
    if (del) {
        zhashx_delete(self->limits, scope);
        if (self->store)
            tg_keystore_kv_put(self->store, TG_KEYSTORE_BUDGETS, scope, NULL);
        json_t *o = s_view(self, scope, NULL, now);
        s_answer(&o, status_p, body_p);
        return true;
    }
    json_error_t jerr;
    json_t *doc = len ? json_loadb(body, len, 0, &jerr) : NULL;
    s_limit_t next = l ? *l : (s_limit_t){0, 0};
    const char *param = NULL;
    char *msg = NULL;
    if (!json_is_object(doc)) {
        *status_p = 400;
        *body_p = tg_error_body(400, "The body must be a JSON object of daily_usd and monthly_usd.",
                                NULL, NULL, NULL);
    } else {
        json_t *wrapped = json_pack("{sO}", "b", doc);
        if (tg_budget_fields_apply(json_object_get(wrapped, "b"), &next.daily, &next.monthly,
                                   &param, &msg)
            != TG_OK) {
            *status_p = 400;
            *body_p = tg_error_body(400, msg, NULL, param + 8 /* "budgets." */, "invalid_field");
            free(msg);
        } else {
            char *text =
                tg_strfmt("{\"daily_usd\":%.6f,\"monthly_usd\":%.6f}", next.daily, next.monthly);
            if (self->store
                && tg_keystore_kv_put(self->store, TG_KEYSTORE_BUDGETS, scope, text) != TG_OK) {
                *status_p = 500;
                *body_p = tg_error_body(500, "The budget could not be stored.", NULL, NULL, NULL);
            } else {
                s_limit_t *stored = tg_zalloc(sizeof *stored);
                *stored = next;
                zhashx_update(self->limits, scope, stored);
                tg_log_info("budget set scope=%s daily_usd=%.6f monthly_usd=%.6f", scope,
                            next.daily, next.monthly);
                json_t *o = s_view(self, scope, stored, now);
                s_answer(&o, status_p, body_p);
            }
            free(text);
        }
        json_decref(wrapped);
    }
    json_decref(doc);
    return true;
}
