//  analytics_traces.c - the traces API: a trace's events read from the "traces" index, its
//  tree rebuilt by analytics_tree, the list walked back through the time index.
#include "analytics_traces.h"
#include "analytics_query.h"
#include "analytics_tree.h"
#include "tg_jsonw.h"
#include "tg_keyrec.h"
#include "tg_log.h"
#include "tg_reply.h"
#include "tg_util.h"

#include <sys/queue.h>

#include <czmq.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#define S_PATH "/api/v1/traces"
#define S_DEFAULT_RANGE_US (7 * 86400000000LL)  //  list: the last 7 days unless told
#define S_BODY_LIMIT (32u << 20)

bool
analytics_traces_route(const char *path)
{
    size_t n = strlen(S_PATH);
    return path && strncmp(path, S_PATH, n) == 0 && (path[n] == 0 || path[n] == '/');
}

//  ---- one trace's spans ------------------------------------------------------------------

typedef struct {
    int64_t ts;          //  start, epoch µs
    int64_t cost_micro;  //  stored cost
    tg_frame_t *f;       //  the event's USAGE frame (owned)
    tg_fr_usage_t u;     //  a shallow copy of f->usage (strings owned by f)
} s_span_t;

typedef struct {
    const char *org;  //  only this organization's events (NULL: all)
    s_span_t *spans;  //  read so far
    size_t n;         //  entries used
    size_t cap;       //  entries allocated
} s_trace_t;

static int
s_on_span(int64_t ts, tg_frame_t **frame_p, int64_t cost_micro, void *arg)
{
    s_trace_t *t = arg;
    const tg_fr_usage_t *u = &(*frame_p)->usage;
    if (t->org && strcmp(u->org ? u->org : TG_ORG_DEFAULT, t->org) != 0)
        return 0;  //  another organization's event under the same trace id
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->spans = realloc(t->spans, t->cap * sizeof *t->spans);
        if (!t->spans)
            abort();
    }
    s_span_t *s = &t->spans[t->n++];
    s->ts = ts;
    s->cost_micro = cost_micro;
    s->f = *frame_p;
    s->u = s->f->usage;
    *frame_p = NULL;
    return 0;
}

static void
s_trace_fini(s_trace_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        tg_frame_destroy(&t->spans[i].f);
    free(t->spans);
    memset(t, 0, sizeof *t);
}

//  Reads the trace's events visible to `org`. TG_OK (n may be 0) or TG_ERR.
static int
s_trace_load(analytics_store_t *store, const char *trace, const char *org, s_trace_t *t, bool *more)
{
    memset(t, 0, sizeof *t);
    t->org = org;
    return analytics_store_trace(store, trace, ANALYTICS_TRACE_SPANS_MAX, s_on_span, t, more);
}

static bool
s_failed(const tg_fr_usage_t *u)
{
    return u->status >= 400 || (u->error && *u->error);
}

typedef struct {
    int64_t start, end;  //  first start, last end (µs)
    uint64_t tok_in, tok_out, tok_cached;
    int64_t cost_micro;
    size_t errors;
} s_sum_t;

static s_sum_t
s_sum(const s_trace_t *t)
{
    s_sum_t s = {.start = INT64_MAX, .end = INT64_MIN};
    for (size_t i = 0; i < t->n; i++) {
        const s_span_t *sp = &t->spans[i];
        int64_t end = sp->ts + (int64_t)sp->u.latency_us;
        s.start = sp->ts < s.start ? sp->ts : s.start;
        s.end = end > s.end ? end : s.end;
        analytics_add_u64(&s.tok_in, sp->u.tok_in);
        analytics_add_u64(&s.tok_out, sp->u.tok_out);
        analytics_add_u64(&s.tok_cached, sp->u.tok_cached);
        analytics_add_i64(&s.cost_micro, sp->cost_micro);
        s.errors += s_failed(&sp->u);
    }
    if (t->n == 0)
        s.start = s.end = 0;
    return s;
}

static analytics_tree_t *
s_tree(const s_trace_t *t)
{
    analytics_tree_in_t *in = tg_zalloc((t->n ? t->n : 1) * sizeof *in);
    for (size_t i = 0; i < t->n; i++) {
        in[i].span = t->spans[i].u.span;
        in[i].parent = t->spans[i].u.parent;
        in[i].ts = t->spans[i].ts;
    }
    analytics_tree_t *tree = analytics_tree_build(in, t->n);
    free(in);
    return tree;
}

static void
s_time(tg_jsonw_t *w, const char *key, int64_t t_us)
{
    char buf[40];
    tg_time_rfc3339(t_us, buf, sizeof buf);
    tg_jsonw_str(w, key, buf);
}

//  An event's type: the events API's, else "gateway_call".
static const char *
s_type(const tg_fr_usage_t *u)
{
    return u->etype && *u->etype ? u->etype : "gateway_call";
}

static void
s_summary(tg_jsonw_t *w, const char *trace, const s_trace_t *t, const analytics_tree_t *tree)
{
    s_sum_t s = s_sum(t);
    tg_jsonw_str(w, "trace_id", trace);
    const char *root = tree->virtual_root ? tree->virtual_span : t->spans[tree->root].u.span;
    tg_jsonw_str(w, "root_span_id", root);
    tg_jsonw_bool(w, "root_missing", tree->virtual_root != 0);
    const s_span_t *first = tree->virtual_root ? NULL : &t->spans[tree->root];
    if (!first && t->n)
        first = &t->spans[tree->order[1]];
    tg_jsonw_str(w, "root_type", first ? s_type(&first->u) : NULL);
    const char *user = NULL;
    for (size_t i = 0; i < t->n && !user; i++)
        user = t->spans[i].u.user;
    tg_jsonw_str(w, "user_id", user);
    tg_jsonw_uint(w, "span_count", t->n);
    tg_jsonw_uint(w, "error_count", s.errors);
    tg_jsonw_str(w, "status", s.errors ? "error" : "ok");
    s_time(w, "start", s.start);
    s_time(w, "end", s.end);
    tg_jsonw_fixed(w, "duration_ms", (double)(s.end - s.start) / 1e3, 3);
    tg_jsonw_uint(w, "tokens_in", s.tok_in);
    tg_jsonw_uint(w, "tokens_out", s.tok_out);
    tg_jsonw_uint(w, "tokens_cached", s.tok_cached);
    tg_jsonw_uint(w, "total_tokens", s.tok_in + s.tok_out);
    tg_jsonw_fixed(w, "cost_usd", (double)s.cost_micro / 1e6, 6);
}

//  ---- GET /api/v1/traces/{id} ------------------------------------------------------------

static void
s_span_json(tg_jsonw_t *w, const s_trace_t *t, const analytics_tree_t *tree, size_t i, int64_t t0)
{
    tg_jsonw_object(w, NULL);
    if (i == t->n) {  //  the virtual root
        tg_jsonw_str(w, "span_id", tree->virtual_span);
        tg_jsonw_bool(w, "virtual", true);
        tg_jsonw_uint(w, "depth", 0);
        tg_jsonw_uint(w, "children", tree->nchildren[i]);
        tg_jsonw_end(w);
        return;
    }
    const s_span_t *sp = &t->spans[i];
    const tg_fr_usage_t *u = &sp->u;
    size_t p = tree->parent[i];
    tg_jsonw_str(w, "span_id", u->span);
    tg_jsonw_str(w, "parent_event_id", u->parent);
    tg_jsonw_str(w, "tree_parent_span_id",
                 i == tree->root ? NULL
                 : p == t->n     ? tree->virtual_span
                                 : t->spans[p].u.span);
    tg_jsonw_uint(w, "depth", tree->depth[i]);
    tg_jsonw_uint(w, "children", tree->nchildren[i]);
    tg_jsonw_str(w, "event_id", u->id);
    tg_jsonw_str(w, "type", s_type(u));
    tg_jsonw_str(w, "route", u->route);
    tg_jsonw_str(w, "provider", u->provider);
    tg_jsonw_str(w, "model", u->model);
    tg_jsonw_str(w, "user_id", u->user);
    tg_jsonw_str(w, "environment", u->env);
    tg_jsonw_str(w, "agent", u->agent);
    tg_jsonw_uint(w, "status", u->status);
    tg_jsonw_str(w, "error", u->error && *u->error ? u->error : NULL);
    tg_jsonw_str(w, "cache", u->cache);
    s_time(w, "start", sp->ts);
    s_time(w, "end", sp->ts + (int64_t)u->latency_us);
    tg_jsonw_fixed(w, "offset_ms", (double)(sp->ts - t0) / 1e3, 3);
    tg_jsonw_fixed(w, "latency_ms", (double)u->latency_us / 1e3, 3);
    tg_jsonw_fixed(w, "ttft_ms", (double)u->ttft_us / 1e3, 3);
    tg_jsonw_uint(w, "tokens_in", u->tok_in);
    tg_jsonw_uint(w, "tokens_out", u->tok_out);
    tg_jsonw_uint(w, "tokens_cached", u->tok_cached);
    tg_jsonw_uint(w, "total_tokens", u->tok_in + u->tok_out);
    tg_jsonw_fixed(w, "cost_usd", (double)sp->cost_micro / 1e6, 6);
    if (u->props && *u->props == '{')
        tg_jsonw_raw(w, "properties", u->props);  //  our own compact dump (analytics_events)
    static const struct {
        unsigned bit;
        const char *name;
    } flags[] = {{ANALYTICS_TREE_ORPHAN, "orphan"},
                 {ANALYTICS_TREE_EXTRA_ROOT, "extra_root"},
                 {ANALYTICS_TREE_CYCLE, "cycle_broken"},
                 {ANALYTICS_TREE_DUPLICATE, "duplicate_span_id"}};
    if (tree->flags[i]) {
        tg_jsonw_array(w, "flags");
        for (size_t k = 0; k < 4; k++)
            if (tree->flags[i] & flags[k].bit)
                tg_jsonw_str(w, NULL, flags[k].name);
        tg_jsonw_end(w);
    }
    tg_jsonw_end(w);
}

//  The notes of a tree: why spans hang where they do.
static void
s_notes(tg_jsonw_t *w, const s_trace_t *t, const analytics_tree_t *tree, bool more)
{
    tg_jsonw_array(w, "notes");
    char buf[400];
    size_t listed = 0;
    if (more) {
        snprintf(buf, sizeof buf, "the trace has more than %d spans: the first %d are shown",
                 ANALYTICS_TRACE_SPANS_MAX, ANALYTICS_TRACE_SPANS_MAX);
        tg_jsonw_str(w, NULL, buf);
    }
    if (tree->virtual_root && t->n) {
        const char *id = tree->virtual_span;
        snprintf(buf, sizeof buf,
                 "no single root span among the events: a virtual root%s%.128s%s holds the "
                 "top-level spans",
                 id ? " (" : "", id ? id : "", id ? ", named by their parent ids)" : "");
        tg_jsonw_str(w, NULL, buf);
    }
    for (size_t i = 0; i < t->n && listed < 50; i++) {
        const tg_fr_usage_t *u = &t->spans[i].u;
        const char *span = u->span ? u->span : "(none)";
        if (tree->flags[i] & ANALYTICS_TREE_CYCLE)
            snprintf(buf, sizeof buf,
                     "span %.128s: its parent %.128s closes a cycle; the link was broken and the "
                     "span attached to the root",
                     span, u->parent);
        else if (tree->flags[i] & ANALYTICS_TREE_ORPHAN)
            snprintf(buf, sizeof buf,
                     "span %.128s: parent %.128s is not in the trace; attached to the root", span,
                     u->parent);
        else if (tree->flags[i] & ANALYTICS_TREE_EXTRA_ROOT)
            snprintf(buf, sizeof buf, "span %.128s has no parent either; attached to the root",
                     span);
        else if (tree->flags[i] & ANALYTICS_TREE_DUPLICATE)
            snprintf(buf, sizeof buf,
                     "span id %.128s is used by more than one event; children attach to the "
                     "earliest",
                     span);
        else
            continue;
        tg_jsonw_str(w, NULL, buf);
        listed++;
    }
    tg_jsonw_end(w);
}

static tg_frame_t *
s_one(analytics_store_t *store, const tg_fr_query_t *q, const char *trace)
{
    if (!*trace || strlen(trace) > ANALYTICS_MAX_TRACE)
        return tg_reply_error(q->id, 400, "invalid trace id", "trace_id");
    s_trace_t t;
    bool more;
    if (s_trace_load(store, trace, q->org, &t, &more) != TG_OK) {
        s_trace_fini(&t);
        return tg_reply_error(q->id, 500, "the analytics store could not be read", NULL);
    }
    if (t.n == 0) {
        s_trace_fini(&t);
        char *msg = tg_strfmt("No trace with id %.128s.", trace);
        tg_frame_t *r = tg_reply_error(q->id, 404, msg, "trace_id");
        free(msg);
        return r;
    }
    analytics_tree_t *tree = s_tree(&t);
    tg_jsonw_t *w = tg_jsonw_new(S_BODY_LIMIT);
    tg_jsonw_object(w, NULL);
    tg_jsonw_str(w, "object", "trace");
    s_summary(w, trace, &t, tree);
    tg_jsonw_uint(w, "cycles_broken", tree->cycles);
    s_notes(w, &t, tree, more);
    tg_jsonw_array(w, "spans");  //  depth-first, children by start time
    s_sum_t s = s_sum(&t);
    for (size_t k = 0; k < t.n + (size_t)tree->virtual_root; k++)
        s_span_json(w, &t, tree, tree->order[k], s.start);
    tg_jsonw_end(w);
    tg_jsonw_end(w);
    analytics_tree_destroy(&tree);
    s_trace_fini(&t);
    char *body = tg_jsonw_take(w, NULL);
    tg_jsonw_destroy(&w);
    if (!body)
        return tg_reply_error(q->id, 500, "trace answer too large", NULL);
    return tg_reply_new(q->id, 200, &body);
}

//  ---- GET /api/v1/traces -----------------------------------------------------------------

typedef struct {
    analytics_store_t *store;  //  the book
    const char *org;           //  the asker's organization (NULL: all)
    const char *user;          //  filters (NULL: any)
    const char *model;
    int status;      //  0 any, 1 ok, 2 error
    size_t limit;    //  traces wanted
    size_t found;    //  traces written
    zhashx_t *seen;  //  trace ids looked at
    tg_jsonw_t *w;   //  the answer
    int rc;          //  first failure
    bool capped;     //  stopped by the trace cap
} s_list_t;

static bool
s_matches(const s_list_t *l, const s_trace_t *t)
{
    bool user = !l->user, model = !l->model, err = false;
    for (size_t i = 0; i < t->n; i++) {
        const tg_fr_usage_t *u = &t->spans[i].u;
        user |= l->user && u->user && strcmp(u->user, l->user) == 0;
        model |= l->model && u->model && strcmp(u->model, l->model) == 0;
        err |= s_failed(u);
    }
    return user && model && (l->status == 0 || (l->status == 2) == err);
}

static int
s_on_trace_id(int64_t ts, const char *trace, void *arg)
{
    (void)ts;
    s_list_t *l = arg;
    if (zhashx_lookup(l->seen, trace))
        return 0;
    if (zhashx_size(l->seen) >= 20 * ANALYTICS_TRACES_LIMIT_MAX) {
        l->capped = true;
        return 1;
    }
    zhashx_insert(l->seen, trace, (void *)1);
    s_trace_t t;
    bool more;
    if (s_trace_load(l->store, trace, l->org, &t, &more) != TG_OK) {
        s_trace_fini(&t);
        l->rc = TG_ERR;
        return 1;
    }
    if (t.n && s_matches(l, &t)) {
        analytics_tree_t *tree = s_tree(&t);
        tg_jsonw_object(l->w, NULL);
        s_summary(l->w, trace, &t, tree);
        tg_jsonw_end(l->w);
        analytics_tree_destroy(&tree);
        l->found++;
    }
    s_trace_fini(&t);
    return l->found >= l->limit;
}

static tg_frame_t *
s_list(analytics_store_t *store, const tg_fr_query_t *q, int64_t now_us)
{
    struct evkeyvalq args;
    TAILQ_INIT(&args);
    if (q->args && *q->args && evhttp_parse_query_str(q->args, &args) != 0) {
        evhttp_clear_headers(&args);
        return tg_reply_error(q->id, 400, "malformed query string", NULL);
    }
    int64_t end = now_us, start = now_us - S_DEFAULT_RANGE_US;
    s_list_t l = {.store = store, .org = q->org, .limit = 50, .rc = TG_OK};
    const char *v, *bad = NULL;
    for (struct evkeyval *kv = TAILQ_FIRST(&args); kv && !bad; kv = TAILQ_NEXT(kv, next))
        if (strcmp(kv->key, "start") && strcmp(kv->key, "end") && strcmp(kv->key, "user")
            && strcmp(kv->key, "user_id") && strcmp(kv->key, "model") && strcmp(kv->key, "status")
            && strcmp(kv->key, "limit"))
            bad = "unknown parameter: use start, end, user, model, status, limit";
    if (!bad && (v = evhttp_find_header(&args, "start")) && analytics_query_time(v, &start))
        bad = "start: expected RFC 3339, a date or epoch seconds";
    if (!bad && (v = evhttp_find_header(&args, "end")) && analytics_query_time(v, &end))
        bad = "end: expected RFC 3339, a date or epoch seconds";
    if (!bad && start > end)
        bad = "start is after end";
    if (!bad && (v = evhttp_find_header(&args, "status"))) {
        l.status = strcmp(v, "ok") == 0 ? 1 : strcmp(v, "error") == 0 ? 2 : -1;
        if (l.status < 0)
            bad = "status: expected ok or error";
    }
    if (!bad && (v = evhttp_find_header(&args, "limit"))) {
        char *e;
        long n = strtol(v, &e, 10);
        if (*e || n < 1 || n > ANALYTICS_TRACES_LIMIT_MAX)
            bad = "limit: expected an integer from 1 to 500";
        l.limit = (size_t)n;
    }
    char *user = NULL, *model = NULL;
    if ((v = evhttp_find_header(&args, "user")) || (v = evhttp_find_header(&args, "user_id")))
        l.user = user = tg_strdup(v);
    if ((v = evhttp_find_header(&args, "model")))
        l.model = model = tg_strdup(v);
    evhttp_clear_headers(&args);
    if (bad) {
        free(user);
        free(model);
        return tg_reply_error(q->id, 400, bad, NULL);
    }
    l.seen = zhashx_new();
    l.w = tg_jsonw_new(S_BODY_LIMIT);
    tg_jsonw_object(l.w, NULL);
    tg_jsonw_str(l.w, "object", "list");
    tg_jsonw_array(l.w, "data");  //  most recent activity first
    bool more = false;
    int rc = analytics_store_traced(store, start, end, ANALYTICS_TRACES_SCAN_MAX, s_on_trace_id, &l,
                                    &more);
    tg_jsonw_end(l.w);
    tg_jsonw_uint(l.w, "count", l.found);
    s_time(l.w, "start", start);
    s_time(l.w, "end", end);
    //  true when the walk stopped at its caps: older matching traces may exist
    tg_jsonw_bool(l.w, "scan_truncated", more || l.capped);
    tg_jsonw_end(l.w);
    zhashx_destroy(&l.seen);
    free(user);
    free(model);
    char *body = rc == TG_OK && l.rc == TG_OK ? tg_jsonw_take(l.w, NULL) : NULL;
    tg_jsonw_destroy(&l.w);
    if (!body)
        return tg_reply_error(q->id, 500, "the analytics store could not be read", NULL);
    return tg_reply_new(q->id, 200, &body);
}

tg_frame_t *
analytics_traces_answer(analytics_store_t *store, const tg_fr_query_t *q, int64_t now_us)
{
    if (strcmp(q->method, "GET") != 0)
        return tg_reply_error(q->id, 405, "method not allowed: use GET", NULL);
    if (!(q->roles & (TG_ROLE_METRICS_READ | TG_ROLE_ADMIN)))
        return tg_reply_error(q->id, 403, "This API key may not read traces (role metrics:read).",
                              NULL);
    size_t n = strlen(S_PATH);
    if (q->path[n] == 0 || strcmp(q->path + n, "/") == 0)
        return s_list(store, q, now_us);
    char *id = evhttp_uridecode(q->path + n + 1, 0, NULL);
    tg_frame_t *r = id ? s_one(store, q, id) : tg_reply_error(q->id, 400, "invalid trace id", NULL);
    free(id);
    return r;
}
