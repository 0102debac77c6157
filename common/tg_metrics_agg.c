//  tg_metrics_agg.c - every process's metrics snapshot, merged for GET /metrics.
#include "tg_metrics_agg.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "tg_log.h"
#include "tg_metrics_render.h"
#include "tg_metrics_set.h"
#include "tg_metrics_wire.h"
#include "tg_util.h"

//  One source's last snapshot.
typedef struct {
    tg_mset_t set;   //  decoded snapshot
    int64_t put_us;  //  when it was put
} s_source_t;

struct tg_metrics_agg {
    zhashx_t *sources;  //  source name -> s_source_t, owned
    tg_mset_t retired;  //  counters and histograms of restarted or expired sources
};

static void
s_source_destroy(void **item)
{
    s_source_t *self = *item;
    if (!self)
        return;
    tg_mset_fini(&self->set);
    free(self);
    *item = NULL;
}

tg_metrics_agg_t *
tg_metrics_agg_new(void)
{
    tg_metrics_agg_t *self = tg_zalloc(sizeof(tg_metrics_agg_t));
    self->sources = zhashx_new();
    zhashx_set_destructor(self->sources, s_source_destroy);
    tg_mset_init(&self->retired);
    return self;
}

void
tg_metrics_agg_destroy(tg_metrics_agg_t **self_p)
{
    assert(self_p);
    tg_metrics_agg_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->sources);
    tg_mset_fini(&self->retired);
    free(self);
    *self_p = NULL;
}

int
tg_metrics_agg_put(
    tg_metrics_agg_t *self, const char *source, const void *body, size_t len, int64_t now_us)
{
    assert(self && source);
    s_source_t *fresh = tg_zalloc(sizeof(s_source_t));
    tg_mset_init(&fresh->set);
    fresh->put_us = now_us;
    if (tg_metrics_wire_decode(&fresh->set, body, len) != TG_OK) {
        tg_log_warn("metrics: undecodable snapshot from source=%.64s (%zu bytes), keeping the "
                    "previous one",
                    source, len);
        void *item = fresh;
        s_source_destroy(&item);
        return TG_INVALID;
    }
    s_source_t *old = zhashx_lookup(self->sources, source);
    if (!old && zhashx_size(self->sources) >= TG_METRICS_MAX_SOURCES) {
        tg_log_warn("metrics: %d sources reached, ignoring source=%.64s", TG_METRICS_MAX_SOURCES,
                    source);
        void *item = fresh;
        s_source_destroy(&item);
        return TG_AGAIN;
    }
    if (old && tg_mset_restarted(&old->set, &fresh->set)) {
        tg_log_info("metrics: source=%.64s restarted, keeping its previous counters", source);
        tg_mset_merge(&self->retired, &old->set, false);
    }
    zhashx_update(self->sources, source, fresh);  //  destroys old
    return TG_OK;
}

void
tg_metrics_agg_expire(tg_metrics_agg_t *self, int64_t older_than_us)
{
    assert(self);
    zlistx_t *keys = zhashx_keys(self->sources);
    for (const char *key = zlistx_first(keys); key; key = zlistx_next(keys)) {
        s_source_t *src = zhashx_lookup(self->sources, key);
        if (src->put_us < older_than_us) {
            tg_mset_merge(&self->retired, &src->set, false);
            zhashx_delete(self->sources, key);
        }
    }
    zlistx_destroy(&keys);
}

static int
s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *
tg_metrics_agg_render(tg_metrics_agg_t *self)
{
    assert(self);
    tg_mset_t acc;
    tg_mset_init(&acc);
    tg_mset_merge(&acc, &self->retired, false);
    //  Sources in name order, so that a family two sources type differently resolves the
    //  same way every time.
    size_t n = zhashx_size(self->sources), i = 0;
    const char **names = tg_zalloc((n ? n : 1) * sizeof(char *));
    for (void *src = zhashx_first(self->sources); src; src = zhashx_next(self->sources))
        names[i++] = zhashx_cursor(self->sources);
    qsort(names, n, sizeof(char *), s_cmp_str);
    for (i = 0; i < n; i++) {
        s_source_t *src = zhashx_lookup(self->sources, names[i]);
        tg_mset_merge(&acc, &src->set, true);
    }
    free(names);
    char *text = tg_metrics_render(&acc);
    tg_mset_fini(&acc);
    return text;
}
