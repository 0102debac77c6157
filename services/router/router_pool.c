//  router_pool.c - workers in an array (few: a linear pick is cheapest), calls in a hash by id.
#include "router_pool.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <jansson.h>
#include <string.h>

typedef struct {
    char rid[ROUTER_POOL_RID_MAX];  //  routing id = worker instance id
    uint64_t cap;                   //  calls it takes at once
    uint64_t busy;                  //  calls the router sent it that it has not reported done
    uint64_t reported;              //  calls it said it holds in its last LOAD
    uint64_t lat_us;                //  its recent call time (EWMA)
    uint64_t dispatched;            //  calls sent to it since it joined
    bool draining;                  //  stopping: no new calls
    bool lost;                      //  unreachable: forget at the next expire
    bool full;                      //  its pipe refused a send: skipped until its next LOAD
    int64_t seen_us;                //  monotonic µs of its last LOAD
} s_worker_t;

typedef struct {
    s_worker_t *worker;  //  holder (borrowed from the pool)
    char *reply_to;      //  the asking ingest's inbox, owned
    const char *route;   //  "chat" | "embeddings" (static)
} s_call_t;

struct router_pool {
    s_worker_t **workers;  //  owned
    size_t nworkers;       //  entries used
    size_t cap_workers;    //  entries allocated
    size_t turn;           //  where the next pick starts looking, for fair ties
    zhashx_t *calls;       //  id -> s_call_t (owned)
    int64_t quiet_us;      //  silence after which a worker is lost
};

static void
s_call_destroy(void **item)
{
    s_call_t *c = *item;
    if (c) {
        free(c->reply_to);
        free(c);
        *item = NULL;
    }
}

router_pool_t *
router_pool_new(int64_t quiet_us)
{
    router_pool_t *self = tg_zalloc(sizeof *self);
    self->quiet_us = quiet_us;
    self->calls = zhashx_new();
    zhashx_set_destructor(self->calls, s_call_destroy);
    return self;
}

void
router_pool_destroy(router_pool_t **self_p)
{
    assert(self_p);
    router_pool_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->calls);
    for (size_t i = 0; i < self->nworkers; i++)
        free(self->workers[i]);
    free(self->workers);
    free(self);
    *self_p = NULL;
}

static s_worker_t *
s_find(const router_pool_t *self, const char *rid)
{
    for (size_t i = 0; i < self->nworkers; i++)
        if (strcmp(self->workers[i]->rid, rid) == 0)
            return self->workers[i];
    return NULL;
}

//  Drops the worker at index i; its calls go to fn (NULL: forgotten silently).
static void
s_remove(router_pool_t *self, size_t i, router_pool_lost_fn *fn, void *arg)
{
    s_worker_t *w = self->workers[i];
    if (w->busy > 0) {
        zlist_t *ids = zlist_new();
        for (s_call_t *c = zhashx_first(self->calls); c; c = zhashx_next(self->calls))
            if (c->worker == w)
                zlist_append(ids, (void *)zhashx_cursor(self->calls));
        for (const char *id = zlist_first(ids); id; id = zlist_next(ids)) {
            s_call_t *c = zhashx_lookup(self->calls, id);
            if (fn)
                fn(id, c->reply_to, c->route, arg);
        }
        for (const char *id = zlist_first(ids); id; id = zlist_next(ids))
            zhashx_delete(self->calls, id);  //  frees the key last: ids are the hash's keys
        zlist_destroy(&ids);
    }
    free(w);
    self->workers[i] = self->workers[--self->nworkers];
}

static size_t
s_release(router_pool_t *self, s_worker_t *w, const char *body, size_t len)
{
    size_t released = 0;
    const char *p = body, *end = body + len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *sp = memchr(p, ' ', n);  //  "<id> <completion tokens>" (router_limits)
        size_t idn = sp ? (size_t)(sp - p) : n;
        char id[128];
        if (idn > 0 && idn < sizeof id) {
            memcpy(id, p, idn);
            id[idn] = 0;
            s_call_t *c = zhashx_lookup(self->calls, id);
            if (c && c->worker == w) {  //  a call another worker took over is not this one's
                zhashx_delete(self->calls, id);
                w->busy--;
                released++;
            }
        }
        p += n + 1;
    }
    return released;
}

size_t
router_pool_load(router_pool_t *self,
                 const char *rid,
                 const tg_fr_load_t *load,
                 const char *body,
                 size_t len,
                 int64_t now_us)
{
    assert(self && rid && load);
    s_worker_t *w = s_find(self, rid);
    if (!w) {
        if (load->bye)
            return 0;
        if (self->nworkers == self->cap_workers) {
            self->cap_workers = self->cap_workers ? 2 * self->cap_workers : 8;
            self->workers = tg_realloc(self->workers, self->cap_workers * sizeof *self->workers);
        }
        w = tg_zalloc(sizeof *w);
        snprintf(w->rid, sizeof w->rid, "%s", rid);
        self->workers[self->nworkers++] = w;
        tg_log_info("worker joined worker=%s cap=%llu busy=%llu", rid,
                    (unsigned long long)load->cap, (unsigned long long)load->busy);
    }
    w->cap = load->cap;
    w->reported = load->busy;
    w->lat_us = load->lat_us;
    if (load->draining && !w->draining)
        tg_log_info("worker draining worker=%s busy=%llu", rid, (unsigned long long)w->busy);
    w->draining = load->draining;
    w->seen_us = now_us;
    w->lost = false;
    w->full = false;
    size_t released = s_release(self, w, body, len);
    if (load->bye) {
        tg_log_info("worker left worker=%s", rid);
        for (size_t i = 0; i < self->nworkers; i++)
            if (self->workers[i] == w) {
                s_remove(self, i, NULL, NULL);
                break;
            }
    }
    return released;
}

const char *
router_pool_pick(router_pool_t *self)
{
    s_worker_t *best = NULL;
    size_t n = self->nworkers;
    for (size_t k = 0; k < n; k++) {
        s_worker_t *w = self->workers[(self->turn + k) % n];
        if (w->draining || w->lost || w->full || w->busy >= w->cap)
            continue;
        if (!best || w->busy < best->busy || (w->busy == best->busy && w->lat_us < best->lat_us))
            best = w;
    }
    if (n)
        self->turn = (self->turn + 1) % n;
    return best ? best->rid : NULL;
}

void
router_pool_assign(
    router_pool_t *self, const char *rid, const char *id, const char *reply_to, const char *route)
{
    s_worker_t *w = s_find(self, rid);
    assert(w);
    s_call_t *c = zhashx_lookup(self->calls, id);
    if (c) {  //  the same id again (a client reused it): the newest holder wins
        c->worker->busy--;
        zhashx_delete(self->calls, id);
    }
    c = tg_zalloc(sizeof *c);
    c->worker = w;
    c->reply_to = tg_strdup(reply_to);
    c->route = route;
    zhashx_insert(self->calls, id, c);
    w->busy++;
    w->dispatched++;
}

const char *
router_pool_holder(router_pool_t *self, const char *id)
{
    s_call_t *c = zhashx_lookup(self->calls, id);
    return c ? c->worker->rid : NULL;
}

void
router_pool_unreachable(router_pool_t *self, const char *rid)
{
    s_worker_t *w = s_find(self, rid);
    if (w && !w->lost) {
        tg_log_warn("worker unreachable worker=%s calls=%llu", rid, (unsigned long long)w->busy);
        w->lost = true;
    }
}

void
router_pool_full(router_pool_t *self, const char *rid)
{
    s_worker_t *w = s_find(self, rid);
    if (w && !w->full) {
        tg_log_warn("worker pipe full worker=%s calls=%llu", rid, (unsigned long long)w->busy);
        w->full = true;
    }
}

size_t
router_pool_expire(router_pool_t *self, int64_t now_us, router_pool_lost_fn *fn, void *arg)
{
    size_t gone = 0;
    for (size_t i = 0; i < self->nworkers;) {
        s_worker_t *w = self->workers[i];
        if (w->lost || now_us - w->seen_us > self->quiet_us) {
            tg_log_warn("worker lost worker=%s silent_ms=%lld calls=%llu", w->rid,
                        (long long)((now_us - w->seen_us) / 1000), (unsigned long long)w->busy);
            s_remove(self, i, fn, arg);  //  moves the last worker into slot i
            gone++;
        } else
            i++;
    }
    return gone;
}

size_t
router_pool_workers(const router_pool_t *self)
{
    return self->nworkers;
}

size_t
router_pool_calls(const router_pool_t *self)
{
    return zhashx_size(self->calls);
}

char *
router_pool_json(const router_pool_t *self)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < self->nworkers; i++) {
        const s_worker_t *w = self->workers[i];
        json_array_append_new(arr, json_pack("{ss sI sI sI sI sI sb}", "id", w->rid, "capacity",
                                             (json_int_t)w->cap, "busy", (json_int_t)w->busy,
                                             "reported_busy", (json_int_t)w->reported, "latency_us",
                                             (json_int_t)w->lat_us, "dispatched",
                                             (json_int_t)w->dispatched, "draining", w->draining));
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}
