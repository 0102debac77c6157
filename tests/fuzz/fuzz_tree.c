//  fuzz_tree.c - a trace's span tree (analytics_tree) from any parent links: every 3 bytes
//  are one span (start time, span id, parent id; ids from a small set, so duplicates, orphans,
//  extra roots and cycles are common). Checks what the header promises: every node once in
//  the order, parents before children, depths one more than the parent's, child counts true.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "analytics_tree.h"

static const char *s_ids[] = {NULL, "",  "a", "b", "c", "d", "e", "f", "g",
                              "h",  "i", "j", "k", "l", "m", "n", "o", "p"};
#define S_NIDS (sizeof s_ids / sizeof s_ids[0])

static void
s_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_tree: broken: %s\n", what);
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = size / 3;
    if (n > 4096)
        n = 4096;
    analytics_tree_in_t *in = calloc(n ? n : 1, sizeof *in);
    for (size_t i = 0; i < n; i++) {
        in[i].ts = data[3 * i] % 8;  //  many ties
        in[i].span = s_ids[data[3 * i + 1] % S_NIDS];
        in[i].parent = s_ids[data[3 * i + 2] % S_NIDS];
    }
    analytics_tree_t *t = analytics_tree_build(in, n);
    size_t m = n + (size_t)t->virtual_root, root = t->root;
    s_check(t->n == n && (t->virtual_root ? root == n : root < n), "root");
    s_check(t->parent[root] == root && t->depth[root] == 0, "root's parent or depth");
    size_t *pos = malloc((n + 1) * sizeof *pos), *kids = calloc(n + 1, sizeof *kids);
    for (size_t i = 0; i <= n; i++)
        pos[i] = SIZE_MAX;
    for (size_t k = 0; k < m; k++) {
        size_t v = t->order[k];
        s_check(v < m && pos[v] == SIZE_MAX, "a node twice or out of range in the order");
        pos[v] = k;
    }
    s_check(t->order[0] == root, "the order starts elsewhere than the root");
    for (size_t v = 0; v < m; v++) {
        if (v == root)
            continue;
        size_t p = t->parent[v];
        s_check(p < m && p != v, "a parent out of range");
        s_check(pos[p] < pos[v], "a child before its parent");
        s_check(t->depth[v] == t->depth[p] + 1, "a depth");
        kids[p]++;
    }
    for (size_t v = 0; v < m; v++)
        s_check(kids[v] == t->nchildren[v], "a child count");
    free(kids);
    free(pos);
    analytics_tree_destroy(&t);
    free(in);
    return 0;
}
