//  alert_rule.c - alert rules: JSON in and out, event matching, sliding-window evaluation.
#include "alert_rule.h"
#include "tg_util.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_conds[] = {"count", "sum", "avg", "rate", "percentile"};
static const char *const s_cmps[] = {">", ">=", "<", "<=", "==", "!="};
static const char *const s_events[] = {"request", "error", "cache_hit", "cache_miss", "spend"};
static const char *const s_spend_metrics[] = {"day_usd", "month_usd"};
static const char *const s_metrics[] = {"latency_ms", "ttft_ms", "tokens_in",
                                        "tokens_out", "tokens",  "cost_usd"};
static const char *const s_severities[] = {"info", "warning", "critical"};
static const char *const s_chans[] = {"stream", "webhook", "email"};

#define S_NB(a) (sizeof(a) / sizeof((a)[0]))
#define S_TEXT_MAX 256  //  longest name, filter or channel target accepted

struct alert_window {
    int64_t width_us;  //  bucket width
    size_t nb;         //  buckets
    int64_t *bk;       //  bucket number (ts / width) each slot holds, -1 = empty
    uint64_t *bcount;  //  samples per bucket
    double *bsum;      //  sum of the values per bucket
    int64_t *ts;       //  percentile samples: times (ring), NULL when not kept
    double *val;       //  percentile samples: values (ring)
    size_t head;       //  index of the oldest sample
    size_t n;          //  samples held
    int64_t since_us;  //  watched since
    uint64_t count;    //  samples in the window at the last evaluation
};

const char *
alert_cmp_name(alert_cmp_t cmp)
{
    return (size_t)cmp < S_NB(s_cmps) ? s_cmps[cmp] : "?";
}

const char *
alert_cond_name(alert_cond_t cond)
{
    return (size_t)cond < S_NB(s_conds) ? s_conds[cond] : "?";
}

static int
s_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

void
alert_rule_destroy(alert_rule_t **self_p)
{
    assert(self_p);
    alert_rule_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nchan; i++) {
        free(self->chan[i].target);
        free(self->chan[i].secret);
    }
    free(self->name);
    free(self->event);
    free(self->metric);
    free(self->severity);
    free(self->org);
    free(self->model);
    free(self->provider);
    free(self->agent);
    free(self->key);
    free(self);
    *self_p = NULL;
}

//  A printable string of 1..S_TEXT_MAX bytes, or NULL/absent when optional.
static bool
s_text(json_t *v, bool required, char **out)
{
    if (!v || json_is_null(v))
        return !required;
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    if (!s || n == 0 || n > S_TEXT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return false;
    *out = tg_strdup(s);
    return true;
}

static bool
s_url_ok(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

//  Parses "channels": [{"type": "webhook", "url": ...}, {"type": "email", "to": ...}, ...].
static int
s_channels(json_t *arr, alert_rule_t *r, char **msg_p)
{
    if (!arr)
        return TG_OK;
    if (!json_is_array(arr) || json_array_size(arr) > ALERT_RULE_CHANNELS_MAX) {
        *msg_p = tg_strfmt("channels must be an array of at most %d channel objects",
                           ALERT_RULE_CHANNELS_MAX);
        return TG_INVALID;
    }
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        int kind = s_index(s_chans, S_NB(s_chans), json_string_value(json_object_get(c, "type")));
        if (!json_is_object(c) || kind < 0) {
            *msg_p = tg_strfmt("channels[%zu].type must be stream, webhook or email", i);
            return TG_INVALID;
        }
        alert_chan_t *ch = &r->chan[r->nchan++];
        ch->kind = (alert_chan_kind_t)kind;
        if (kind == ALERT_CHAN_WEBHOOK) {
            if (!s_text(json_object_get(c, "url"), true, &ch->target) || !s_url_ok(ch->target)) {
                *msg_p = tg_strfmt("channels[%zu].url must be an http:// or https:// URL", i);
                return TG_INVALID;
            }
            if (!s_text(json_object_get(c, "secret"), false, &ch->secret)) {
                *msg_p = tg_strfmt("channels[%zu].secret must be a string of 1 to %d bytes", i,
                                   S_TEXT_MAX);
                return TG_INVALID;
            }
        } else if (kind == ALERT_CHAN_EMAIL) {
            if (!s_text(json_object_get(c, "to"), true, &ch->target) || !strchr(ch->target, '@')) {
                *msg_p = tg_strfmt("channels[%zu].to must be an email address", i);
                return TG_INVALID;
            }
        }
    }
    return TG_OK;
}

#define S_BAD(field, ...)                \
    do {                                 \
        *param_p = tg_strdup(field);     \
        *msg_p = tg_strfmt(__VA_ARGS__); \
        goto bad;                        \
    } while (0)

int
alert_rule_parse(
    const char *json, size_t len, bool stored, alert_rule_t **rule_p, char **msg_p, char **param_p)
{
    *rule_p = NULL;
    *msg_p = NULL;
    *param_p = NULL;
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, 0, &jerr);
    alert_rule_t *r = tg_zalloc(sizeof *r);
    if (!doc || !json_is_object(doc)) {
        *msg_p = tg_strfmt("the body must be a JSON object describing the rule");
        goto bad;
    }
    static const char *const known[] = {
        "id",         "object",    "name",     "event",      "metric",    "condition", "percentile",
        "comparator", "threshold", "window_s", "cooldown_s", "severity",  "org",       "filter",
        "channels",   "enabled",   "created",  "fired_us",   "last_fired"};
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        if (s_index(known, S_NB(known), k) < 0) {
            *param_p = tg_strndup(k, strnlen(k, 64));
            *msg_p = tg_strfmt("unknown field '%.64s' in the rule", k);
            goto bad;
        }
    }
    if (!s_text(json_object_get(doc, "name"), false, &r->name))
        S_BAD("name", "name must be a string of 1 to %d characters", S_TEXT_MAX);
    v = json_object_get(doc, "event");
    if (v && s_index(s_events, S_NB(s_events), json_string_value(v)) < 0)
        S_BAD("event", "event must be request, error, cache_hit, cache_miss or spend");
    r->event = tg_strdup(v ? json_string_value(v) : "request");
    bool spend = strcmp(r->event, "spend") == 0;
    int cond =
        s_index(s_conds, S_NB(s_conds), json_string_value(json_object_get(doc, "condition")));
    if (cond < 0)
        S_BAD("condition", "condition must be count, sum, avg, rate or percentile");
    r->cond = (alert_cond_t)cond;
    v = json_object_get(doc, "metric");
    bool needs_metric =
        cond == ALERT_COND_SUM || cond == ALERT_COND_AVG || cond == ALERT_COND_PERCENTILE;
    if (spend) {
        //  Spend is a running total sampled from SPEND: only its level over the window means
        //  something.
        if (cond != ALERT_COND_AVG && cond != ALERT_COND_PERCENTILE)
            S_BAD("condition", "a spend rule takes condition avg or percentile (100 = max)");
        if (s_index(s_spend_metrics, S_NB(s_spend_metrics), json_string_value(v)) < 0)
            S_BAD("metric", "a spend rule takes metric day_usd or month_usd");
        r->metric = tg_strdup(json_string_value(v));
    } else if (v && !json_is_null(v)) {
        if (s_index(s_metrics, S_NB(s_metrics), json_string_value(v)) < 0)
            S_BAD("metric", "metric must be latency_ms, ttft_ms, tokens_in, tokens_out, tokens "
                            "or cost_usd");
        if (needs_metric)
            r->metric = tg_strdup(json_string_value(v));
    } else if (needs_metric)
        S_BAD("metric", "metric is required for condition %s", s_conds[cond]);
    if (cond == ALERT_COND_PERCENTILE) {
        v = json_object_get(doc, "percentile");
        r->percentile = json_number_value(v);
        if (!json_is_number(v) || !(r->percentile > 0 && r->percentile <= 100))
            S_BAD("percentile", "percentile must be a number above 0 and at most 100");
    }
    int cmp = s_index(s_cmps, S_NB(s_cmps), json_string_value(json_object_get(doc, "comparator")));
    if (cmp < 0)
        S_BAD("comparator", "comparator must be one of >, >=, <, <=, ==, !=");
    r->cmp = (alert_cmp_t)cmp;
    v = json_object_get(doc, "threshold");
    r->threshold = json_number_value(v);
    if (!json_is_number(v) || !isfinite(r->threshold))
        S_BAD("threshold", "threshold must be a number");
    v = json_object_get(doc, "window_s");
    r->window_s = json_integer_value(v);
    if (!json_is_integer(v) || r->window_s < 1 || r->window_s > ALERT_RULE_WINDOW_MAX)
        S_BAD("window_s", "window_s must be an integer number of seconds from 1 to %d",
              ALERT_RULE_WINDOW_MAX);
    v = json_object_get(doc, "cooldown_s");
    r->cooldown_s = v ? json_integer_value(v) : 0;
    if (v && (!json_is_integer(v) || r->cooldown_s < 0 || r->cooldown_s > ALERT_RULE_WINDOW_MAX))
        S_BAD("cooldown_s", "cooldown_s must be an integer number of seconds from 0 to %d",
              ALERT_RULE_WINDOW_MAX);
    v = json_object_get(doc, "severity");
    if (s_index(s_severities, S_NB(s_severities), json_string_value(v)) < 0)
        S_BAD("severity", "severity must be info, warning or critical");
    r->severity = tg_strdup(json_string_value(v));
    v = json_object_get(doc, "org");
    if (!s_text(v, false, &r->org) || (r->org && strpbrk(r->org, ". ")))
        S_BAD("org", "org must be a string of 1 to %d characters without dots or spaces",
              S_TEXT_MAX);
    if (!r->org)
        r->org = tg_strdup("global");
    json_t *f = json_object_get(doc, "filter");
    if (f && !json_is_null(f)) {
        if (!json_is_object(f))
            S_BAD("filter", "filter must be an object with model, provider, agent or key");
        json_object_foreach(f, k, v)
        {
            char **slot = strcmp(k, "model") == 0      ? &r->model
                          : strcmp(k, "provider") == 0 ? &r->provider
                          : strcmp(k, "agent") == 0    ? &r->agent
                          : strcmp(k, "key") == 0      ? &r->key
                                                       : NULL;
            if (!slot || !s_text(v, true, slot))
                S_BAD("filter",
                      "filter.%.64s: the filter keys are model, provider, agent and "
                      "key, each a string",
                      k);
        }
    }
    if (s_channels(json_object_get(doc, "channels"), r, msg_p) != TG_OK) {
        *param_p = tg_strdup("channels");
        goto bad;
    }
    v = json_object_get(doc, "enabled");
    if (v && !json_is_boolean(v))
        S_BAD("enabled", "enabled must be true or false");
    r->enabled = v ? json_is_true(v) : true;
    if (stored) {
        const char *id = json_string_value(json_object_get(doc, "id"));
        snprintf(r->id, sizeof r->id, "%s", id ? id : "");
        r->created_us = json_integer_value(json_object_get(doc, "created")) * 1000000;
        r->fired_us = json_integer_value(json_object_get(doc, "fired_us"));
    }
    json_decref(doc);
    *rule_p = r;
    return TG_OK;
bad:
    json_decref(doc);
    alert_rule_destroy(&r);
    if (!*msg_p)
        *msg_p = tg_strdup("invalid rule");
    return TG_INVALID;
}

char *
alert_rule_json(const alert_rule_t *r, bool secrets)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "object", json_string("alert_rule"));
    if (r->name)
        json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "event", json_string(r->event));
    if (r->metric)
        json_object_set_new(o, "metric", json_string(r->metric));
    json_object_set_new(o, "condition", json_string(s_conds[r->cond]));
    if (r->cond == ALERT_COND_PERCENTILE)
        json_object_set_new(o, "percentile", json_real(r->percentile));
    json_object_set_new(o, "comparator", json_string(s_cmps[r->cmp]));
    json_object_set_new(o, "threshold", json_real(r->threshold));
    json_object_set_new(o, "window_s", json_integer(r->window_s));
    json_object_set_new(o, "cooldown_s", json_integer(r->cooldown_s));
    json_object_set_new(o, "severity", json_string(r->severity));
    json_object_set_new(o, "org", json_string(r->org));
    json_t *f = json_object();
    const char *fk[] = {"model", "provider", "agent", "key"};
    const char *fv[] = {r->model, r->provider, r->agent, r->key};
    for (size_t i = 0; i < 4; i++)
        if (fv[i])
            json_object_set_new(f, fk[i], json_string(fv[i]));
    json_object_set_new(o, "filter", f);
    json_t *chans = json_array();
    for (size_t i = 0; i < r->nchan; i++) {
        const alert_chan_t *c = &r->chan[i];
        json_t *co = json_pack("{ss}", "type", s_chans[c->kind]);
        if (c->kind == ALERT_CHAN_WEBHOOK)
            json_object_set_new(co, "url", json_string(c->target));
        if (c->kind == ALERT_CHAN_EMAIL)
            json_object_set_new(co, "to", json_string(c->target));
        if (c->secret && secrets)
            json_object_set_new(co, "secret", json_string(c->secret));
        else if (c->secret)
            json_object_set_new(co, "secret_set", json_true());
        json_array_append_new(chans, co);
    }
    json_object_set_new(o, "channels", chans);
    json_object_set_new(o, "enabled", json_boolean(r->enabled));
    json_object_set_new(o, "created", json_integer(r->created_us / 1000000));
    json_object_set_new(o, "fired_us", json_integer(r->fired_us));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static bool
s_eq(const char *want, const char *have)
{
    return !want || (have && strcmp(want, have) == 0);
}

bool
alert_rule_spend_value(const alert_rule_t *r, const tg_fr_spend_t *sp, double *value_p)
{
    if (strcmp(r->event, "spend") != 0 || !isfinite(sp->day_usd) || !isfinite(sp->month_usd))
        return false;
    *value_p = strcmp(r->metric, "day_usd") == 0 ? sp->day_usd : sp->month_usd;
    return true;
}

bool
alert_rule_match(const alert_rule_t *r, const tg_fr_usage_t *u)
{
    if (strcmp(r->event, "spend") == 0)
        return false;
    if (!s_eq(r->model, u->model) || !s_eq(r->provider, u->provider) || !s_eq(r->agent, u->agent)
        || !s_eq(r->key, u->key))
        return false;
    bool error = u->status >= 400 || (u->error && *u->error);
    bool hit = u->cache && strcmp(u->cache, "hit") == 0;
    switch (r->event[0] == 'e'                    ? 1
            : strcmp(r->event, "cache_hit") == 0  ? 2
            : strcmp(r->event, "cache_miss") == 0 ? 3
                                                  : 0) {
    case 1:
        return error;
    case 2:
        return hit;
    case 3:
        return !hit && !error;
    default:
        return true;
    }
}

double
alert_rule_value(const alert_rule_t *r, const tg_fr_usage_t *u)
{
    if (!r->metric)
        return 1;
    switch (s_index(s_metrics, S_NB(s_metrics), r->metric)) {
    case 0:
        return (double)u->latency_us / 1000.0;
    case 1:
        return (double)u->ttft_us / 1000.0;
    case 2:
        return (double)u->tok_in;
    case 3:
        return (double)u->tok_out;
    case 4:
        return (double)(u->tok_in + u->tok_out);
    case 5:
        return isfinite(u->cost_usd) ? u->cost_usd : 0;
    default:
        return 0;
    }
}

bool
alert_rule_compare(alert_cmp_t cmp, double v, double t)
{
    switch (cmp) {
    case ALERT_CMP_GT:
        return v > t;
    case ALERT_CMP_GE:
        return v >= t;
    case ALERT_CMP_LT:
        return v < t;
    case ALERT_CMP_LE:
        return v <= t;
    case ALERT_CMP_EQ:
        return v == t;
    case ALERT_CMP_NE:
        return v != t;
    }
    return false;
}

alert_window_t *
alert_window_new(int64_t window_s, bool samples, int64_t since_us)
{
    alert_window_t *w = tg_zalloc(sizeof *w);
    int64_t nb = window_s * 10;  //  100 ms buckets for short windows
    w->nb = (size_t)(nb < 10 ? 10 : nb > 1024 ? 1024 : nb);
    w->width_us = (window_s * 1000000 + (int64_t)w->nb - 1) / (int64_t)w->nb;
    w->bk = tg_zalloc(w->nb * sizeof *w->bk);
    w->bcount = tg_zalloc(w->nb * sizeof *w->bcount);
    w->bsum = tg_zalloc(w->nb * sizeof *w->bsum);
    for (size_t i = 0; i < w->nb; i++)
        w->bk[i] = -1;
    if (samples) {
        w->ts = tg_zalloc(ALERT_WINDOW_SAMPLES_MAX * sizeof *w->ts);
        w->val = tg_zalloc(ALERT_WINDOW_SAMPLES_MAX * sizeof *w->val);
    }
    w->since_us = since_us;
    return w;
}

void
alert_window_destroy(alert_window_t **self_p)
{
    assert(self_p);
    alert_window_t *w = *self_p;
    if (!w)
        return;
    free(w->bk);
    free(w->bcount);
    free(w->bsum);
    free(w->ts);
    free(w->val);
    free(w);
    *self_p = NULL;
}

void
alert_window_add(alert_window_t *w, int64_t ts_us, double value)
{
    if (ts_us < 0)
        return;
    int64_t k = ts_us / w->width_us;
    size_t i = (size_t)(k % (int64_t)w->nb);
    if (w->bk[i] > k)
        return;  //  older than every bucket kept
    if (w->bk[i] < k) {
        w->bk[i] = k;
        w->bcount[i] = 0;
        w->bsum[i] = 0;
    }
    w->bcount[i]++;
    w->bsum[i] += value;
    if (!w->ts)
        return;
    if (w->n == ALERT_WINDOW_SAMPLES_MAX) {
        w->head = (w->head + 1) % ALERT_WINDOW_SAMPLES_MAX;  //  full: the oldest goes
        w->n--;
    }
    size_t at = (w->head + w->n) % ALERT_WINDOW_SAMPLES_MAX;
    w->ts[at] = ts_us;
    w->val[at] = value;
    w->n++;
}

uint64_t
alert_window_size(const alert_window_t *w)
{
    return w->count;
}

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

bool
alert_rule_eval(const alert_rule_t *r, alert_window_t *w, int64_t now_us, double *value_p)
{
    int64_t from = now_us - r->window_s * 1000000;
    //  Buckets that start after `from` and not after now are in the window.
    int64_t kmin = from >= 0 ? from / w->width_us : -1, kmax = now_us / w->width_us;
    uint64_t count = 0;
    double sum = 0;
    for (size_t i = 0; i < w->nb; i++)
        if (w->bk[i] > kmin && w->bk[i] <= kmax) {
            count += w->bcount[i];
            sum += w->bsum[i];
        }
    w->count = count;
    while (w->n && w->ts[w->head] <= from) {
        w->head = (w->head + 1) % ALERT_WINDOW_SAMPLES_MAX;
        w->n--;
    }
    double value = NAN;
    switch (r->cond) {
    case ALERT_COND_COUNT:
        value = (double)count;
        break;
    case ALERT_COND_SUM:
        value = sum;
        break;
    case ALERT_COND_AVG:
        value = count ? sum / (double)count : NAN;
        break;
    case ALERT_COND_RATE:
        value = (double)count / (double)r->window_s;
        break;
    case ALERT_COND_PERCENTILE:
        if (w->n) {
            double *v = tg_zalloc(w->n * sizeof *v);
            for (size_t i = 0; i < w->n; i++)
                v[i] = w->val[(w->head + i) % ALERT_WINDOW_SAMPLES_MAX];
            qsort(v, w->n, sizeof *v, s_cmp_double);
            //  Nearest rank: the smallest value with at least p % of the samples at or below.
            size_t rank = (size_t)ceil(r->percentile / 100.0 * (double)w->n);
            value = v[rank ? rank - 1 : 0];
            free(v);
        }
        break;
    }
    *value_p = value;
    if (!r->enabled || isnan(value))
        return false;
    //  A rule that fires on a low value needs one whole window watched first: a gateway
    //  just started has seen no traffic, which is not "traffic dropped".
    if ((r->cmp == ALERT_CMP_LT || r->cmp == ALERT_CMP_LE || r->cmp == ALERT_CMP_EQ)
        && now_us - w->since_us < r->window_s * 1000000)
        return false;
    int64_t quiet = r->cooldown_s > r->window_s ? r->cooldown_s : r->window_s;
    if (r->fired_us && now_us < r->fired_us + quiet * 1000000)
        return false;
    return alert_rule_compare(r->cmp, value, r->threshold);
}
