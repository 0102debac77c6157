//  alert_book.c - budget thresholds fired once per period, stored in LMDB, listed newest first.
#include "alert_book.h"
#include "tg_budget.h"
#include "tg_jsonw.h"
#include "tg_lmdb.h"
#include "tg_log.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DB_ALERTS, DB_FIRED, DB_RULES, DB_DEAD, DB_OUTBOX };
static const char *const s_dbs[] = {"alerts", "fired", "rules", "dead", "outbox"};

#define S_MAX_CANDIDATES 8       //  3 daily + 4 monthly levels + the forecast
#define S_LIST_LIMIT (8u << 20)  //  largest list answer in bytes
#define S_SCOPE "global"         //  budgets from the config apply to all traffic

struct alert_book {
    tg_lmdb_t *db;  //  the environment
};

//  An alert that a SPEND calls for, before the dedupe check.
typedef struct {
    char fired_key[128];   //  dedupe key
    const char *severity;  //  "info" | "warning" | "critical"
    const char *kind;      //  "budget" | "budget_forecast"
    const char *period;    //  day or month string (borrowed from the SPEND)
    double threshold;      //  fraction of the budget
    double value;          //  spend (or forecast) that crossed it
    double limit;          //  the budget
    char *message;         //  human text (owned)
} s_candidate_t;

alert_book_t *
alert_book_new(const char *dir, size_t map_size)
{
    tg_lmdb_opts_t opts = {
        .dir = dir,
        .map_size = map_size,
        .dbs = s_dbs,
        .ndbs = sizeof s_dbs / sizeof s_dbs[0],
        .schema_version = ALERT_SCHEMA_VERSION,
        .migrate = NULL,  //  version 1 is the first: nothing older to migrate from
    };
    tg_lmdb_t *db = tg_lmdb_new(&opts);
    if (!db)
        return NULL;
    alert_book_t *self = tg_zalloc(sizeof *self);
    self->db = db;
    return self;
}

void
alert_book_destroy(alert_book_t **self_p)
{
    assert(self_p);
    alert_book_t *self = *self_p;
    if (!self)
        return;
    tg_lmdb_destroy(&self->db);
    free(self);
    *self_p = NULL;
}

//  Threshold candidates of one budget.
static size_t
s_thresholds(
    tg_budget_period_t period, const char *when, double spend, double limit, s_candidate_t *out)
{
    size_t nlev;
    const tg_budget_level_t *lev = tg_budget_levels(period, &nlev);
    unsigned mask = tg_budget_crossed(period, spend, limit);
    const char *pname = period == TG_BUDGET_DAILY ? "daily" : "monthly";
    size_t n = 0;
    for (size_t i = 0; i < nlev; i++) {
        if (!(mask & (1u << i)))
            continue;
        s_candidate_t *c = &out[n++];
        int pct = (int)lround(lev[i].fraction * 100);
        snprintf(c->fired_key, sizeof c->fired_key, "%s/%s/%s/%d@%.6f", S_SCOPE, pname, when, pct,
                 limit);
        c->severity = lev[i].severity;
        c->kind = "budget";
        c->period = when;
        c->threshold = lev[i].fraction;
        c->value = spend;
        c->limit = limit;
        c->message = tg_strfmt("%s budget %d%% reached: $%.6f of $%.6f spent (%s)", pname, pct,
                               spend, limit, when);
    }
    return n;
}

//  Every alert the SPEND calls for; 0 when none. TG_INVALID for a malformed SPEND.
static int
s_candidates(const tg_fr_spend_t *s, double daily, double monthly, s_candidate_t *out, size_t *n_p)
{
    *n_p = 0;
    int64_t day0, month0;
    if (!s->day || strlen(s->day) != TG_UTC_DAY_LEN - 1 || s->day[4] != '-'
        || tg_utc_parse(s->day, &day0) != TG_OK || !s->month
        || tg_utc_parse_month(s->month, &month0) != TG_OK || !isfinite(s->day_usd) || s->day_usd < 0
        || !isfinite(s->month_usd) || s->month_usd < 0)
        return TG_INVALID;
    size_t n = 0;
    n += s_thresholds(TG_BUDGET_DAILY, s->day, s->day_usd, daily, out + n);
    n += s_thresholds(TG_BUDGET_MONTHLY, s->month, s->month_usd, monthly, out + n);
    //  The forecast speaks only for the month the SPEND was taken in.
    double predicted;
    if (monthly > 0 && tg_utc_month_start(s->ts) == month0
        && tg_budget_overage(s->month_usd, monthly, s->ts, &predicted)) {
        s_candidate_t *c = &out[n++];
        snprintf(c->fired_key, sizeof c->fired_key, "%s/monthly/%s/forecast@%.6f", S_SCOPE,
                 s->month, monthly);
        c->severity = "warning";
        c->kind = "budget_forecast";
        c->period = s->month;
        c->threshold = 1.0;
        c->value = predicted;
        c->limit = monthly;
        c->message = tg_strfmt("predicted overage: month-end spend forecast $%.6f exceeds the "
                               "monthly budget $%.6f ($%.6f spent so far, %s)",
                               predicted, monthly, s->month_usd, s->month);
    }
    *n_p = n;
    return TG_OK;
}

static char *
s_alert_json(const char *id, int64_t ts, const s_candidate_t *c)
{
    tg_jsonw_t *w = tg_jsonw_new(16384);
    char when[40];
    tg_time_rfc3339(ts, when, sizeof when);
    tg_jsonw_object(w, NULL);
    tg_jsonw_str(w, "id", id);
    tg_jsonw_str(w, "object", "alert");
    tg_jsonw_str(w, "ts", when);
    tg_jsonw_int(w, "created", ts / 1000000);
    tg_jsonw_str(w, "severity", c->severity);
    tg_jsonw_str(w, "kind", c->kind);
    tg_jsonw_str(w, "scope", S_SCOPE);
    tg_jsonw_str(w, "period", c->period);
    tg_jsonw_fixed(w, "threshold", c->threshold, 2);
    tg_jsonw_fixed(w, "value", c->value, 6);
    tg_jsonw_fixed(w, "limit", c->limit, 6);
    tg_jsonw_str(w, "message", c->message);
    tg_jsonw_end(w);
    char *text = tg_jsonw_take(w, NULL);
    tg_jsonw_destroy(&w);
    return text;
}

static tg_frame_t *
s_alert_frame(const char *id, int64_t ts, const s_candidate_t *c)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_ALERT);
    f->topic = tg_strdup(c->severity);  //  tag "alert.<severity>"
    f->alert.id = tg_strdup(id);
    f->alert.ts = ts;
    f->alert.severity = tg_strdup(c->severity);
    f->alert.kind = tg_strdup(c->kind);
    f->alert.scope = tg_strdup(S_SCOPE);
    f->alert.period = tg_strdup(c->period);
    f->alert.threshold = c->threshold;
    f->alert.value = c->value;
    f->alert.limit = c->limit;
    f->alert.message = tg_strdup(c->message);
    return f;
}

//  One txn: stores the candidates not fired before; the new ones become frames.
static int
s_store(alert_book_t *self,
        const s_candidate_t *cand,
        size_t n,
        int64_t ts,
        tg_frame_t **out,
        size_t *nout)
{
    *nout = 0;
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, true, &txn) != TG_OK)
        return TG_ERR;
    int rc = TG_OK;
    for (size_t i = 0; i < n && rc == TG_OK; i++) {
        const s_candidate_t *c = &cand[i];
        size_t klen = strlen(c->fired_key);
        rc = tg_lmdb_get(txn, DB_FIRED, c->fired_key, klen, NULL, NULL);
        if (rc == TG_OK)
            continue;  //  fired earlier in this period
        if (rc != TG_NOTFOUND)
            break;
        char id[32];
        tg_id_fill(id, "alrt_", 12);
        char *json = s_alert_json(id, ts, c);
        if (!json) {
            rc = TG_ERR;
            break;
        }
        size_t jlen = strlen(json);
        uint8_t *val = tg_zalloc(jlen + 1);
        val[0] = (uint8_t)c->severity[0];
        memcpy(val + 1, json, jlen);
        free(json);
        uint8_t key[8 + sizeof id];
        tg_lmdb_be64_put(key, (uint64_t)ts);
        memcpy(key + 8, id, strlen(id));
        rc = tg_lmdb_put(txn, DB_ALERTS, key, 8 + strlen(id), val, jlen + 1);
        free(val);
        if (rc == TG_OK)
            rc = tg_lmdb_put(txn, DB_FIRED, c->fired_key, klen, id, strlen(id));
        if (rc == TG_OK)
            out[(*nout)++] = s_alert_frame(id, ts, c);
    }
    if (rc == TG_OK)
        rc = tg_lmdb_commit(&txn);
    else
        tg_lmdb_abort(&txn);
    if (rc != TG_OK)
        for (size_t i = 0; i < *nout; i++)
            tg_frame_destroy(&out[i]);
    if (rc != TG_OK)
        *nout = 0;
    return rc;
}

int
alert_book_on_spend(alert_book_t *self,
                    const tg_fr_spend_t *spend,
                    double daily_usd,
                    double monthly_usd,
                    tg_frame_t ***alerts_p,
                    size_t *n_p)
{
    *alerts_p = NULL;
    *n_p = 0;
    s_candidate_t cand[S_MAX_CANDIDATES] = {0};
    size_t n;
    if (s_candidates(spend, daily_usd, monthly_usd, cand, &n) != TG_OK)
        return TG_INVALID;
    if (n == 0)
        return TG_OK;
    tg_frame_t **out = tg_zalloc(n * sizeof *out);
    size_t nout = 0;
    int64_t ts = tg_now_us();
    int rc = s_store(self, cand, n, ts, out, &nout);
    while (rc == TG_AGAIN) {
        //  Map full: grow and try again; the txn was aborted, nothing was half-written.
        size_t now = tg_lmdb_map_size(self->db);
        if (tg_lmdb_grow_double(self->db, TG_LMDB_MAX_MAP) != TG_OK) {
            tg_log_error("alert map full and cannot grow bytes=%zu", now);
            break;
        }
        tg_log_warn("alert map was full: grown to %zu bytes", tg_lmdb_map_size(self->db));
        rc = s_store(self, cand, n, ts, out, &nout);
    }
    for (size_t i = 0; i < n; i++)
        free(cand[i].message);
    if (rc != TG_OK || nout == 0) {
        free(out);
        return rc == TG_OK ? TG_OK : TG_ERR;
    }
    *alerts_p = out;
    *n_p = nout;
    return TG_OK;
}

typedef struct {
    tg_jsonw_t *w;         //  the list being written
    size_t left;           //  alerts still wanted
    const char *severity;  //  filter, or NULL
} s_list_t;

static int
s_on_alert(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key;
    (void)klen;
    s_list_t *l = arg;
    const char *v = val;
    if (vlen < 3 || v[1] != '{')
        return 0;  //  not a record of ours
    if (l->severity && v[0] != l->severity[0])
        return 0;
    char *json = tg_strndup(v + 1, vlen - 1);
    tg_jsonw_raw(l->w, NULL, json);  //  written by s_alert_json
    free(json);
    return --l->left == 0;
}

char *
alert_book_list(alert_book_t *self, int64_t since_us, size_t limit, const char *severity)
{
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return NULL;
    tg_jsonw_t *w = tg_jsonw_new(S_LIST_LIMIT);
    tg_jsonw_object(w, NULL);
    tg_jsonw_str(w, "object", "list");
    tg_jsonw_array(w, "data");
    s_list_t l = {.w = w, .left = limit, .severity = severity};
    uint8_t from[8];
    tg_lmdb_be64_put(from, (uint64_t)(since_us < 0 ? 0 : since_us));
    int rc =
        limit == 0 ? TG_OK : tg_lmdb_each(txn, DB_ALERTS, from, 8, NULL, 0, true, s_on_alert, &l);
    tg_lmdb_abort(&txn);
    tg_jsonw_end(w);
    tg_jsonw_end(w);
    char *body = rc == TG_OK ? tg_jsonw_take(w, NULL) : NULL;
    tg_jsonw_destroy(&w);
    return body;
}

char *
alert_book_json(const tg_fr_alert_t *a)
{
    tg_jsonw_t *w = tg_jsonw_new(16384);
    char when[40];
    tg_time_rfc3339(a->ts, when, sizeof when);
    tg_jsonw_object(w, NULL);
    tg_jsonw_str(w, "id", a->id);
    tg_jsonw_str(w, "object", "alert");
    tg_jsonw_str(w, "ts", when);
    tg_jsonw_int(w, "created", a->ts / 1000000);
    tg_jsonw_str(w, "severity", a->severity);
    tg_jsonw_str(w, "kind", a->kind);
    tg_jsonw_str(w, "scope", a->scope ? a->scope : S_SCOPE);
    if (a->rule)
        tg_jsonw_str(w, "rule", a->rule);
    if (a->period)
        tg_jsonw_str(w, "period", a->period);
    tg_jsonw_fixed(w, "threshold", a->threshold, 6);
    tg_jsonw_fixed(w, "value", a->value, 6);
    tg_jsonw_fixed(w, "limit", a->limit, 6);
    tg_jsonw_str(w, "message", a->message);
    tg_jsonw_end(w);
    char *text = tg_jsonw_take(w, NULL);
    tg_jsonw_destroy(&w);
    return text;
}

//  Runs one write txn doing `nput` puts (db, key, value), growing the map when full.
typedef struct {
    int db;           //  db index
    const void *key;  //  key bytes
    size_t klen;      //  key length
    const void *val;  //  value bytes (NULL = delete)
    size_t vlen;      //  value length
} s_op_t;

static int
s_write(alert_book_t *self, const s_op_t *ops, size_t nops)
{
    for (;;) {
        tg_lmdb_txn_t *txn;
        if (tg_lmdb_begin(self->db, true, &txn) != TG_OK)
            return TG_ERR;
        int rc = TG_OK;
        for (size_t i = 0; i < nops && rc == TG_OK; i++)
            rc = ops[i].val
                     ? tg_lmdb_put(txn, ops[i].db, ops[i].key, ops[i].klen, ops[i].val, ops[i].vlen)
                     : tg_lmdb_del(txn, ops[i].db, ops[i].key, ops[i].klen);
        if (rc == TG_OK)
            rc = tg_lmdb_commit(&txn);
        else
            tg_lmdb_abort(&txn);
        if (rc != TG_AGAIN)
            return rc;
        if (tg_lmdb_grow_double(self->db, TG_LMDB_MAX_MAP) != TG_OK) {
            tg_log_error("alert map full and cannot grow bytes=%zu", tg_lmdb_map_size(self->db));
            return TG_ERR;
        }
    }
}

int
alert_book_add_rule_alerts(alert_book_t *self,
                           tg_frame_t *const *alerts,
                           const char *const *rule_ids,
                           char *const *rule_jsons,
                           size_t n)
{
    s_op_t *ops = tg_zalloc(2 * n * sizeof *ops);
    void **owned = tg_zalloc(2 * n * sizeof *owned);  //  keys and values to free
    int rc = TG_OK;
    for (size_t i = 0; i < n && rc == TG_OK; i++) {
        const tg_fr_alert_t *a = &alerts[i]->alert;
        char *json = alert_book_json(a);
        if (!json) {
            rc = TG_ERR;
            break;
        }
        size_t jlen = strlen(json);
        uint8_t *val = tg_zalloc(jlen + 1);
        val[0] = (uint8_t)a->severity[0];
        memcpy(val + 1, json, jlen);
        free(json);
        size_t idlen = strlen(a->id);
        uint8_t *key = tg_zalloc(8 + idlen);
        tg_lmdb_be64_put(key, (uint64_t)a->ts);
        memcpy(key + 8, a->id, idlen);
        owned[2 * i] = key;
        owned[2 * i + 1] = val;
        ops[2 * i] = (s_op_t){DB_ALERTS, key, 8 + idlen, val, jlen + 1};
        ops[2 * i + 1] = (s_op_t){DB_RULES, rule_ids[i], strlen(rule_ids[i]), rule_jsons[i],
                                  strlen(rule_jsons[i])};
    }
    if (rc == TG_OK)
        rc = s_write(self, ops, 2 * n);
    for (size_t i = 0; i < 2 * n; i++)
        free(owned[i]);
    free(owned);
    free(ops);
    return rc == TG_OK ? TG_OK : TG_ERR;
}

static int
s_db(alert_book_kind_t kind)
{
    return kind == ALERT_BOOK_RULES ? DB_RULES : kind == ALERT_BOOK_DEAD ? DB_DEAD : DB_OUTBOX;
}

int
alert_book_put(alert_book_t *self, alert_book_kind_t kind, const char *key, const char *json)
{
    s_op_t op = {s_db(kind), key, strlen(key), json, strlen(json)};
    return s_write(self, &op, 1) == TG_OK ? TG_OK : TG_ERR;
}

int
alert_book_get(alert_book_t *self, alert_book_kind_t kind, const char *key, char **json_p)
{
    *json_p = NULL;
    if (!*key)
        return TG_NOTFOUND;
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    void *v = NULL;
    size_t vlen = 0;
    int rc = tg_lmdb_get(txn, s_db(kind), key, strlen(key), &v, &vlen);
    tg_lmdb_abort(&txn);
    if (rc == TG_OK) {
        *json_p = tg_strndup(v, vlen);
        free(v);
    }
    return rc;
}

int
alert_book_take(alert_book_t *self, alert_book_kind_t kind, const char *key, char **json_p)
{
    char *json = NULL;
    int rc = alert_book_get(self, kind, key, &json);
    if (rc == TG_OK) {
        s_op_t op = {s_db(kind), key, strlen(key), NULL, 0};
        rc = s_write(self, &op, 1);
    }
    if (rc == TG_OK && json_p)
        *json_p = json;
    else
        free(json);
    return rc;
}

typedef struct {
    void (*fn)(const char *json, void *arg);  //  the caller's visitor
    void *arg;                                //  its argument
} s_each_t;

static int
s_on_record(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key;
    (void)klen;
    s_each_t *e = arg;
    char *json = tg_strndup(val, vlen);
    e->fn(json, e->arg);
    free(json);
    return 0;
}

int
alert_book_each(alert_book_t *self,
                alert_book_kind_t kind,
                void (*fn)(const char *json, void *arg),
                void *arg)
{
    tg_lmdb_txn_t *txn;
    if (tg_lmdb_begin(self->db, false, &txn) != TG_OK)
        return TG_ERR;
    s_each_t e = {fn, arg};
    int rc = tg_lmdb_each(txn, s_db(kind), NULL, 0, NULL, 0, false, s_on_record, &e);
    tg_lmdb_abort(&txn);
    return rc;
}
