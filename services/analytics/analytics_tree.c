//  analytics_tree.c - a trace's span tree from parent ids (rules in the header).
#include "analytics_tree.h"
#include "tg_util.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

//  Orders node indices by start time, then by index (qsort_r's argument: the spans).
static int
s_by_time(const void *a, const void *b, void *arg)
{
    const analytics_tree_in_t *in = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (in[x].ts != in[y].ts)
        return in[x].ts < in[y].ts ? -1 : 1;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static bool
s_set(const char *s)
{
    return s && *s;
}

analytics_tree_t *
analytics_tree_build(const analytics_tree_in_t *spans, size_t n)
{
    analytics_tree_t *t = tg_zalloc(sizeof *t);
    size_t m = n + 1;  //  room for a virtual root
    t->n = n;
    t->parent = tg_zalloc(m * sizeof *t->parent);
    t->flags = tg_zalloc(m * sizeof *t->flags);
    t->order = tg_zalloc(m * sizeof *t->order);
    t->depth = tg_zalloc(m * sizeof *t->depth);
    t->nchildren = tg_zalloc(m * sizeof *t->nchildren);
    size_t *rank = tg_zalloc(m * sizeof *rank);      //  node -> position in time order
    size_t *bytime = tg_zalloc(m * sizeof *bytime);  //  position -> node
    for (size_t i = 0; i < n; i++)
        bytime[i] = i;
    qsort_r(bytime, n, sizeof *bytime, s_by_time, (void *)spans);
    for (size_t i = 0; i < n; i++)
        rank[bytime[i]] = i;
    rank[n] = SIZE_MAX;

    //  span id -> the earliest span that has it
    zhashx_t *ids = zhashx_new();
    for (size_t k = 0; k < n; k++) {
        size_t i = bytime[k];
        if (!s_set(spans[i].span))
            continue;
        if (zhashx_lookup(ids, spans[i].span))
            t->flags[i] |= ANALYTICS_TREE_DUPLICATE;
        else
            zhashx_insert(ids, spans[i].span, (void *)(uintptr_t)(i + 1));
    }
    //  the root: the one parentless span, else a virtual node
    size_t roots = 0, root = n;
    for (size_t k = 0; k < n; k++)
        if (!s_set(spans[bytime[k]].parent) && roots++ == 0)
            root = bytime[k];
    if (roots != 1)
        root = n;
    t->root = root;
    t->virtual_root = root == n;
    t->parent[n] = n;
    for (size_t i = 0; i < n; i++) {
        if (i == root) {
            t->parent[i] = i;
            continue;
        }
        if (!s_set(spans[i].parent)) {
            t->parent[i] = root;
            if (!t->virtual_root)
                t->flags[i] |= ANALYTICS_TREE_EXTRA_ROOT;
            continue;
        }
        uintptr_t p = (uintptr_t)zhashx_lookup(ids, spans[i].parent);
        if (p) {
            t->parent[i] = (size_t)(p - 1);
        } else {
            t->parent[i] = root;
            t->flags[i] |= ANALYTICS_TREE_ORPHAN;
        }
    }
    zhashx_destroy(&ids);
    //  a virtual root whose top-level spans all name one missing parent stands for it
    if (t->virtual_root && roots == 0) {
        const char *shared = NULL;
        bool same = true;
        for (size_t i = 0; i < n && same; i++)
            if (t->flags[i] & ANALYTICS_TREE_ORPHAN) {
                same = !shared || strcmp(shared, spans[i].parent) == 0;
                shared = spans[i].parent;
            }
        if (same && shared) {
            t->virtual_span = shared;
            for (size_t i = 0; i < n; i++)
                t->flags[i] &= ~(unsigned)ANALYTICS_TREE_ORPHAN;
        }
    }

    //  cycles: follow parent links from each node; meeting the current walk again closes a
    //  cycle, broken at its earliest span (attached to the root)
    size_t *mark = tg_zalloc(m * sizeof *mark);  //  0 = unseen, walk number + 1, SIZE_MAX = done
    size_t *path = tg_zalloc(m * sizeof *path);
    mark[root] = SIZE_MAX;
    for (size_t s = 0; s < n; s++) {
        size_t len = 0, v = s;
        while (mark[v] == 0) {
            mark[v] = s + 1;
            path[len++] = v;
            v = t->parent[v];
        }
        if (mark[v] == s + 1) {  //  v is on this walk: v .. end of path is a cycle
            size_t first = 0;
            while (path[first] != v)
                first++;
            size_t cut = v;
            for (size_t k = first; k < len; k++)
                if (rank[path[k]] < rank[cut])
                    cut = path[k];
            t->parent[cut] = root;
            t->flags[cut] |= ANALYTICS_TREE_CYCLE;
            t->cycles++;
        }
        for (size_t k = 0; k < len; k++)
            mark[path[k]] = SIZE_MAX;
    }
    free(path);

    //  children in time order, as ranges of one array (counting sort by parent)
    size_t *start = tg_zalloc((m + 1) * sizeof *start);
    size_t *kids = tg_zalloc(m * sizeof *kids);
    for (size_t i = 0; i < n; i++)
        if (i != root)
            t->nchildren[t->parent[i]]++;
    for (size_t i = 0; i < m; i++)
        start[i + 1] = start[i] + t->nchildren[i];
    size_t *fill = tg_zalloc(m * sizeof *fill);
    for (size_t k = 0; k < n; k++) {
        size_t i = bytime[k];
        if (i == root)
            continue;
        size_t p = t->parent[i];
        kids[start[p] + fill[p]++] = i;
    }
    free(fill);
    //  depth-first pre-order with an explicit stack (children pushed latest first)
    size_t *stack = tg_zalloc(m * sizeof *stack);
    size_t sp = 0, out = 0;
    stack[sp++] = root;
    t->depth[root] = 0;
    while (sp) {
        size_t v = stack[--sp];
        t->order[out++] = v;
        for (size_t k = t->nchildren[v]; k > 0; k--) {
            size_t c = kids[start[v] + k - 1];
            t->depth[c] = t->depth[v] + 1;
            stack[sp++] = c;
        }
    }
    assert(out == n + (size_t)t->virtual_root);  //  every span reached: no cycle is left
    free(stack);
    free(kids);
    free(start);
    free(mark);
    free(rank);
    free(bytime);
    return t;
}

void
analytics_tree_destroy(analytics_tree_t **self_p)
{
    assert(self_p);
    analytics_tree_t *t = *self_p;
    if (!t)
        return;
    free(t->parent);
    free(t->flags);
    free(t->order);
    free(t->depth);
    free(t->nchildren);
    free(t);
    *self_p = NULL;
}
