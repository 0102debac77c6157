//  analytics_events.c - the events API: one event or a batch of up to 100, checked as a
//  whole (every bad item and field named), turned into USAGE frames stored like the
//  gateway's own events, answered once their commit is known.
#include "analytics_events.h"
#include "analytics_store.h"
#include "tg_error.h"
#include "tg_jsonw.h"
#include "tg_keyrec.h"
#include "tg_reply.h"
#include "tg_trace.h"
#include "tg_utc.h"
#include "tg_util.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_PATH_ONE "/api/v1/events"
#define S_PATH_BATCH "/api/v1/events/batch"
#define S_FUTURE_US (86400LL * 1000000)  //  a timestamp may be at most a day ahead
#define S_MAX_TOKENS 1000000000000LL     //  per field
#define S_MAX_COST_USD 1e6               //  per event
#define S_MAX_MS 86400000.0              //  latency, TTFT: one day
#define S_ERRORS_MAX 200                 //  item errors listed, at most

struct analytics_post {
    tg_frame_t *query;    //  the QUERY answered (owned)
    bool batch;           //  /batch: answer with a list
    size_t n;             //  events
    tg_frame_t **frames;  //  their USAGE frames until taken
    char **ids;           //  their client ids (given or generated)
    uint8_t *state;       //  0 = waiting, 1 = stored, 2 = duplicate, 3 = not stored
    size_t waiting;       //  events without an outcome yet
    tg_frame_t *answer;   //  the answer when it was known at parse time (errors)
};

bool
analytics_events_route(const char *path)
{
    return path && (strcmp(path, S_PATH_ONE) == 0 || strcmp(path, S_PATH_BATCH) == 0);
}

//  ---- validation -------------------------------------------------------------------------

typedef struct {
    json_t *errors;  //  [{index, field, message}]
    size_t index;    //  the item being checked
    bool batch;      //  name fields "events[i].x" in messages
} s_check_t;

static void
s_bad(s_check_t *c, const char *field, const char *message)
{
    if (json_array_size(c->errors) >= S_ERRORS_MAX)
        return;
    json_array_append_new(c->errors, json_pack("{sI ss ss}", "index", (json_int_t)c->index, "field",
                                               field, "message", message));
}

//  The event fields, in the order of s_fields.
typedef enum {
    F_ID,
    F_TYPE,
    F_TIMESTAMP,
    F_END_TIMESTAMP,
    F_MODEL,
    F_PROVIDER,
    F_INPUT_TOKENS,
    F_OUTPUT_TOKENS,
    F_CACHED_TOKENS,
    F_TOTAL_TOKENS,
    F_COST_USD,
    F_LATENCY_MS,
    F_TTFT_MS,
    F_STATUS,
    F_ERROR,
    F_USER_ID,
    F_ENVIRONMENT,
    F_TRACE_ID,
    F_SPAN_ID,
    F_PARENT_EVENT_ID,
    F_PROPERTIES,
    F_AGENT,
    F_ORG,
    F_COUNT
} s_field_t;

static const char *const s_fields[F_COUNT] = {
    "id",         "type",         "timestamp",     "end_timestamp", "model",
    "provider",   "input_tokens", "output_tokens", "cached_tokens", "total_tokens",
    "cost_usd",   "latency_ms",   "ttft_ms",       "status",        "error",
    "user_id",    "environment",  "trace_id",      "span_id",       "parent_event_id",
    "properties", "agent",        "org",
};

//  One pass over the event's members: each known field's value in slots (null values are
//  left out: absent), each unknown one named in the errors.
static void
s_slots(s_check_t *c, json_t *ev, json_t *slots[F_COUNT])
{
    memset(slots, 0, F_COUNT * sizeof *slots);
    const char *key;
    json_t *v;
    json_object_foreach(ev, key, v)
    {
        int f = 0;
        while (f < F_COUNT && strcmp(key, s_fields[f]) != 0)
            f++;
        if (f < F_COUNT) {
            slots[f] = json_is_null(v) ? NULL : v;
            continue;
        }
        char field[72];
        snprintf(field, sizeof field, "%.64s", key);
        s_bad(c, field, "unknown field (see docs/api.md for the event fields)");
    }
}

//  A string field of at most max bytes (NULL when absent); false after s_bad when it is not
//  one. `id`: must also be an id ([A-Za-z0-9._:/-]).
static bool
s_str(s_check_t *c, json_t *const *slots, s_field_t f, size_t max, bool id, const char **out)
{
    json_t *v = slots[f];
    const char *field = s_fields[f];
    *out = NULL;
    if (!v)
        return true;
    char msg[160];
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max
        || strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(msg, sizeof msg, "expected a string of 1 to %zu bytes", max);
        s_bad(c, field, msg);
        return false;
    }
    if (id && !tg_trace_id_ok(json_string_value(v), max)) {
        s_bad(c, field, "expected an id: letters, digits and . _ : / -");
        return false;
    }
    *out = json_string_value(v);
    return true;
}

//  A non-negative number of at most max (absent: *out untouched, *given false).
static bool
s_num(s_check_t *c,
      json_t *const *slots,
      s_field_t f,
      double max,
      bool integer,
      double *out,
      bool *given)
{
    json_t *v = slots[f];
    const char *field = s_fields[f];
    *given = false;
    if (!v)
        return true;
    double d = json_is_integer(v) ? (double)json_integer_value(v)
               : json_is_real(v)  ? json_real_value(v)
                                  : -1;
    char msg[160];
    if (!json_is_number(v) || !isfinite(d) || d < 0 || d > max
        || (integer && !json_is_integer(v))) {
        snprintf(msg, sizeof msg, "expected %s from 0 to %.0f", integer ? "an integer" : "a number",
                 max);
        s_bad(c, field, msg);
        return false;
    }
    *out = d;
    *given = true;
    return true;
}

//  A time: RFC 3339 text or epoch seconds (number). Absent: *given false.
static bool
s_time(s_check_t *c, json_t *const *slots, s_field_t f, int64_t now, int64_t *out, bool *given)
{
    json_t *v = slots[f];
    const char *field = s_fields[f];
    *given = false;
    if (!v)
        return true;
    int64_t t = -1;
    if (json_is_string(v) && tg_utc_parse(json_string_value(v), &t) != TG_OK)
        t = -1;
    else if (json_is_number(v)) {
        double s = json_number_value(v);
        t = isfinite(s) && s > 0 && s < 253402300799.0 ? (int64_t)llround(s * 1e6) : -1;
    }
    if (t < 946684800000000LL) {  //  2000-01-01
        s_bad(c, field, "expected an RFC 3339 time or epoch seconds, after 2000-01-01");
        return false;
    }
    if (t > now + S_FUTURE_US) {
        s_bad(c, field, "is more than a day in the future");
        return false;
    }
    *out = t;
    *given = true;
    return true;
}

//  Checks one event and builds its USAGE frame (NULL when it is invalid: errors added).
static tg_frame_t *
s_event(s_check_t *c,
        json_t *ev,
        const tg_fr_query_t *q,
        int64_t now,
        const char *default_env,
        char **id_p)
{
    *id_p = NULL;
    if (!json_is_object(ev)) {
        s_bad(c, "", "expected an event object");
        return NULL;
    }
    size_t before = json_array_size(c->errors);
    json_t *slots[F_COUNT];
    s_slots(c, ev, slots);
    const char *id, *type, *model, *provider, *error, *user, *env, *trace, *span, *parent, *agent,
        *org;
    s_str(c, slots, F_ID, ANALYTICS_EVENTS_ID_MAX, true, &id);
    s_str(c, slots, F_TYPE, 64, false, &type);
    s_str(c, slots, F_MODEL, ANALYTICS_MAX_DIM, false, &model);
    s_str(c, slots, F_PROVIDER, ANALYTICS_MAX_DIM, false, &provider);
    s_str(c, slots, F_ERROR, 256, false, &error);
    s_str(c, slots, F_USER_ID, 128, false, &user);
    s_str(c, slots, F_ENVIRONMENT, 64, false, &env);
    s_str(c, slots, F_TRACE_ID, TG_TRACE_ID_MAX, true, &trace);
    s_str(c, slots, F_SPAN_ID, TG_TRACE_ID_MAX, true, &span);
    s_str(c, slots, F_PARENT_EVENT_ID, TG_TRACE_ID_MAX, true, &parent);
    s_str(c, slots, F_AGENT, 128, false, &agent);
    s_str(c, slots, F_ORG, 128, false, &org);
    if (org && q->org && strcmp(org, q->org) != 0)
        s_bad(c, "org", "only the master key may post events for another organization");
    int64_t ts = now, end = 0;
    bool has_ts, has_end;
    s_time(c, slots, F_TIMESTAMP, now, &ts, &has_ts);
    if (s_time(c, slots, F_END_TIMESTAMP, now, &end, &has_end) && has_end && end < ts)
        s_bad(c, "end_timestamp", "is before timestamp");
    double tin = 0, tout = 0, tcached = 0, ttotal = 0, cost = 0, lat = 0, ttft = 0;
    bool g_in, g_out, g_cached, g_total, g_cost, g_lat, g_ttft;
    s_num(c, slots, F_INPUT_TOKENS, (double)S_MAX_TOKENS, true, &tin, &g_in);
    s_num(c, slots, F_OUTPUT_TOKENS, (double)S_MAX_TOKENS, true, &tout, &g_out);
    s_num(c, slots, F_CACHED_TOKENS, (double)S_MAX_TOKENS, true, &tcached, &g_cached);
    s_num(c, slots, F_TOTAL_TOKENS, (double)S_MAX_TOKENS, true, &ttotal, &g_total);
    s_num(c, slots, F_COST_USD, S_MAX_COST_USD, false, &cost, &g_cost);
    s_num(c, slots, F_LATENCY_MS, S_MAX_MS, false, &lat, &g_lat);
    s_num(c, slots, F_TTFT_MS, S_MAX_MS, false, &ttft, &g_ttft);
    if (g_cached && tcached > tin)
        s_bad(c, "cached_tokens", "is more than input_tokens (cached tokens are part of them)");
    if (g_total && (g_in || g_out) && (uint64_t)ttotal != (uint64_t)tin + (uint64_t)tout)
        s_bad(c, "total_tokens", "differs from input_tokens + output_tokens");
    //  status: "success" | "ok" | "error", or an HTTP status
    uint64_t status = error ? 500 : 200;
    json_t *st = slots[F_STATUS];
    if (st) {
        const char *s = json_string_value(st);
        if (s && (strcmp(s, "success") == 0 || strcmp(s, "ok") == 0))
            status = 200;
        else if (s && strcmp(s, "error") == 0)
            status = 500;
        else if (json_is_integer(st) && json_integer_value(st) >= 100
                 && json_integer_value(st) <= 599)
            status = (uint64_t)json_integer_value(st);
        else
            s_bad(c, "status", "expected \"success\", \"error\" or an HTTP status (100 to 599)");
    }
    json_t *props = slots[F_PROPERTIES];
    char *props_text = NULL;
    if (props) {
        if (!json_is_object(props))
            s_bad(c, "properties", "expected a JSON object");
        else {
            props_text = json_dumps(props, JSON_COMPACT);
            if (!props_text || strlen(props_text) > ANALYTICS_EVENTS_PROPS_MAX) {
                char msg[96];
                snprintf(msg, sizeof msg, "is larger than %d bytes as compact JSON",
                         ANALYTICS_EVENTS_PROPS_MAX);
                s_bad(c, "properties", msg);
            }
        }
    }
    const char *org_used = q->org ? q->org : (org ? org : TG_ORG_DEFAULT);
    char *cid = id ? tg_strdup(id) : tg_id_new("evt_");
    //  e/<org length>:<org>/<id>: unambiguous whatever the org and id hold
    char *eid = tg_strfmt("e/%zu:%s/%s", strlen(org_used), org_used, cid);
    if (strlen(eid) > ANALYTICS_MAX_EID)
        s_bad(c, "org", "organization name too long for event ids");
    if (json_array_size(c->errors) != before) {
        free(props_text);
        free(eid);
        free(cid);
        return NULL;
    }
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    tg_fr_usage_t *u = &f->usage;
    u->eid = eid;
    u->reply_to = tg_strdup(q->reply_to);
    u->id = tg_strdup(cid);
    u->ts = ts;
    u->route = tg_strdup("events");
    u->key = tg_strdup(q->key);
    u->agent = tg_strdup(agent);
    u->provider = tg_strdup(provider);
    u->model = tg_strdup(model);
    u->status = status;
    u->cache = tg_strdup("none");
    if (g_total && !g_in && !g_out) {  //  only the total: split 70/30 (spec A1)
        uint64_t total = (uint64_t)ttotal;
        u->tok_in = (total * 7 + 5) / 10;
        u->tok_out = total - u->tok_in;
    } else {
        u->tok_in = (uint64_t)tin;
        u->tok_out = (uint64_t)tout;
    }
    u->tok_cached = (uint64_t)tcached;
    u->latency_us = g_lat ? (uint64_t)llround(lat * 1000) : has_end ? (uint64_t)(end - ts) : 0;
    u->ttft_us = g_ttft ? (uint64_t)llround(ttft * 1000) : 0;
    u->error = error ? tg_strdup(error) : (status >= 400 ? tg_strdup("error") : NULL);
    u->org = tg_strdup(org_used);
    u->user = tg_strdup(user);
    u->env = tg_strdup(env ? env : default_env);
    u->trace = tg_strdup(trace);
    u->span = tg_strdup(span ? span : cid);
    u->parent = tg_strdup(parent);
    u->etype = tg_strdup(type ? type : "llm_call");
    u->props = props_text;
    u->priced = g_cost;
    u->cost_usd = g_cost ? cost : 0;
    *id_p = cid;
    return f;
}

//  ---- the post ---------------------------------------------------------------------------

static analytics_post_t *
s_post_answered(analytics_post_t *p, int status, const char *message, const char *code)
{
    char *body = tg_error_body(status, message, NULL, NULL, code);
    p->answer = tg_reply_new(p->query->query.id, status, &body);
    return p;
}

analytics_post_t *
analytics_events_parse(tg_frame_t **query_p, int64_t now_us, const char *default_env)
{
    analytics_post_t *p = tg_zalloc(sizeof *p);
    p->query = *query_p;
    *query_p = NULL;
    const tg_fr_query_t *q = &p->query->query;
    p->batch = strcmp(q->path, S_PATH_BATCH) == 0;
    if (!analytics_events_route(q->path))
        return s_post_answered(p, 404, "Unknown events route.", "unknown_url");
    if (strcmp(q->method, "POST") != 0)
        return s_post_answered(p, 405, "Use POST to send events.", "method_not_allowed");
    if (!(q->roles & (TG_ROLE_EVENTS_WRITE | TG_ROLE_ADMIN)))
        return s_post_answered(p, 403, "This API key may not write events (role events:write).",
                               "forbidden");
    json_error_t jerr;
    json_t *doc = p->query->body ? json_loadb(p->query->body, p->query->body_len, 0, &jerr) : NULL;
    if (!doc) {
        char msg[300];
        snprintf(msg, sizeof msg, "We could not parse the JSON body of your request: %s.",
                 p->query->body_len ? jerr.text : "the body is empty");
        return s_post_answered(p, 400, msg, "invalid_json");
    }
    json_t *list = doc;
    if (p->batch && json_is_object(doc))
        list = json_object_get(doc, "events");
    if (p->batch
        && (!json_is_array(list) || json_array_size(list) == 0
            || json_array_size(list) > ANALYTICS_EVENTS_BATCH_MAX)) {
        json_decref(doc);
        return s_post_answered(p, 400,
                               "A batch is {\"events\": [...]} (or a bare array) of 1 to 100 "
                               "events.",
                               "invalid_batch");
    }
    size_t n = p->batch ? json_array_size(list) : 1;
    s_check_t c = {.errors = json_array(), .batch = p->batch};
    p->frames = tg_zalloc(n * sizeof *p->frames);
    p->ids = tg_zalloc(n * sizeof *p->ids);
    p->state = tg_zalloc(n);
    for (size_t i = 0; i < n; i++) {
        c.index = i;
        p->frames[i] = s_event(&c, p->batch ? json_array_get(list, i) : doc, q, now_us, default_env,
                               &p->ids[i]);
    }
    json_decref(doc);
    size_t nerr = json_array_size(c.errors);
    if (nerr) {
        for (size_t i = 0; i < n; i++) {
            tg_frame_destroy(&p->frames[i]);
            free(p->ids[i]);
            p->ids[i] = NULL;
        }
        json_t *first = json_array_get(c.errors, 0);
        char param[96], msg[400];
        const char *field = json_string_value(json_object_get(first, "field"));
        if (p->batch)
            snprintf(param, sizeof param, "events[%d]%s%s",
                     (int)json_integer_value(json_object_get(first, "index")), *field ? "." : "",
                     field);
        else
            snprintf(param, sizeof param, "%s", field);
        snprintf(msg, sizeof msg, "%zu invalid field%s; no event was stored. First: %s %s.", nerr,
                 nerr == 1 ? "" : "s", param, json_string_value(json_object_get(first, "message")));
        json_t *body = json_pack("{s{ss ss ss ss so}}", "error", "message", msg, "type",
                                 "invalid_request_error", "param", param, "code", "invalid_events",
                                 "errors", c.errors);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        p->answer = tg_reply_new(q->id, 400, &text);
        return p;
    }
    json_decref(c.errors);
    p->n = n;
    p->waiting = n;
    return p;
}

size_t
analytics_post_count(const analytics_post_t *self)
{
    return self->n;
}

tg_frame_t *
analytics_post_take(analytics_post_t *self, size_t i)
{
    tg_frame_t *f = self->frames[i];
    self->frames[i] = NULL;
    return f;
}

bool
analytics_post_settle(analytics_post_t *self, size_t i, bool committed, bool duplicate)
{
    if (i < self->n && self->state[i] == 0) {
        self->state[i] = !committed ? 3 : duplicate ? 2 : 1;
        self->waiting--;
    }
    return self->waiting == 0;
}

tg_frame_t *
analytics_post_reply(analytics_post_t *self)
{
    const tg_fr_query_t *q = &self->query->query;
    if (self->answer) {
        tg_frame_t *r = self->answer;
        self->answer = NULL;
        return r;
    }
    size_t stored = 0, dups = 0, lost = 0;
    for (size_t i = 0; i < self->n; i++) {
        stored += self->state[i] == 1;
        dups += self->state[i] == 2;
        lost += self->state[i] != 1 && self->state[i] != 2;
    }
    if (lost) {
        tg_frame_t *r = tg_reply_error(q->id, 503,
                                       "The events could not be stored now; retry with the same "
                                       "ids (each event is stored once).",
                                       NULL);
        r->reply.retry_after = 1;
        return r;
    }
    tg_jsonw_t *w = tg_jsonw_new(1u << 20);
    if (!self->batch) {
        tg_jsonw_object(w, NULL);
        tg_jsonw_str(w, "id", self->ids[0]);
        tg_jsonw_str(w, "status", self->state[0] == 2 ? "duplicate" : "stored");
        tg_jsonw_end(w);
    } else {
        tg_jsonw_object(w, NULL);
        tg_jsonw_str(w, "object", "list");
        tg_jsonw_uint(w, "stored", stored);
        tg_jsonw_uint(w, "duplicates", dups);
        tg_jsonw_array(w, "data");
        for (size_t i = 0; i < self->n; i++) {
            tg_jsonw_object(w, NULL);
            tg_jsonw_uint(w, "index", i);
            tg_jsonw_str(w, "id", self->ids[i]);
            tg_jsonw_str(w, "status", self->state[i] == 2 ? "duplicate" : "stored");
            tg_jsonw_end(w);
        }
        tg_jsonw_end(w);
        tg_jsonw_end(w);
    }
    char *body = tg_jsonw_take(w, NULL);
    tg_jsonw_destroy(&w);
    return tg_reply_new(q->id, 200, &body);
}

const tg_fr_query_t *
analytics_post_query(const analytics_post_t *self)
{
    return &self->query->query;
}

void
analytics_post_destroy(analytics_post_t **self_p)
{
    analytics_post_t *p = *self_p;
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        tg_frame_destroy(&p->frames[i]);
        free(p->ids[i]);
    }
    free(p->frames);
    free(p->ids);
    free(p->state);
    tg_frame_destroy(&p->answer);
    tg_frame_destroy(&p->query);
    free(p);
    *self_p = NULL;
}
