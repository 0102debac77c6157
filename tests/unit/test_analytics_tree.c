//  test_analytics_tree.c - trace tree building: orphans, extra roots, duplicates, cycles,
//  deep chains.
#include "analytics_tree.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The node with span id `id` (the first one), or SIZE_MAX.
static size_t
s_find(const analytics_tree_in_t *in, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (in[i].span && strcmp(in[i].span, id) == 0)
            return i;
    return SIZE_MAX;
}

static void
test_simple_tree(void)
{
    //  given out of time order: the tree orders children by time
    analytics_tree_in_t in[] = {
        {"c", "a", 30},
        {"a", NULL, 10},
        {"b", "a", 20},
        {"d", "b", 25},
    };
    analytics_tree_t *t = analytics_tree_build(in, 4);
    CU_ASSERT_EQUAL(t->root, 1);
    CU_ASSERT_EQUAL(t->virtual_root, 0);
    CU_ASSERT_EQUAL(t->parent[0], 1);
    CU_ASSERT_EQUAL(t->parent[2], 1);
    CU_ASSERT_EQUAL(t->parent[3], 2);
    //  a, b, d, c
    size_t want[] = {1, 2, 3, 0};
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(t->order[i], want[i]);
    CU_ASSERT_EQUAL(t->depth[3], 2);
    CU_ASSERT_EQUAL(t->nchildren[1], 2);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(t->flags[i], 0);
    CU_ASSERT_EQUAL(t->cycles, 0);
    analytics_tree_destroy(&t);
    CU_ASSERT_PTR_NULL(t);
}

static void
test_orphans_attach_to_root(void)
{
    analytics_tree_in_t in[] = {{"r", "", 1}, {"x", "missing", 2}, {"y", "x", 3}};
    analytics_tree_t *t = analytics_tree_build(in, 3);
    CU_ASSERT_EQUAL(t->root, 0);
    CU_ASSERT_EQUAL(t->parent[1], 0);
    CU_ASSERT(t->flags[1] & ANALYTICS_TREE_ORPHAN);
    CU_ASSERT_EQUAL(t->parent[2], 1);  //  the orphan keeps its own children
    CU_ASSERT_EQUAL(t->flags[2], 0);
    analytics_tree_destroy(&t);
}

static void
test_no_single_root_is_virtual(void)
{
    //  W3C: every gateway call names the application's span, which is not an event
    analytics_tree_in_t in[] = {{"s1", "app", 5}, {"s2", "app", 6}, {"s3", "s1", 7}};
    analytics_tree_t *t = analytics_tree_build(in, 3);
    CU_ASSERT_EQUAL(t->virtual_root, 1);
    CU_ASSERT_EQUAL(t->root, 3);
    CU_ASSERT_EQUAL(t->order[0], 3);
    CU_ASSERT_EQUAL(t->parent[0], 3);
    CU_ASSERT_EQUAL(t->parent[1], 3);
    CU_ASSERT_EQUAL(t->parent[2], 0);
    CU_ASSERT_EQUAL(t->nchildren[3], 2);
    CU_ASSERT_STRING_EQUAL(t->virtual_span, "app");  //  they all name it: not orphans
    CU_ASSERT_EQUAL(t->flags[0] | t->flags[1] | t->flags[2], 0);
    analytics_tree_destroy(&t);
    //  two different missing parents: orphans of a virtual root that stands for nothing
    analytics_tree_in_t apart[] = {{"s1", "p1", 5}, {"s2", "p2", 6}};
    t = analytics_tree_build(apart, 2);
    CU_ASSERT_EQUAL(t->virtual_root, 1);
    CU_ASSERT_PTR_NULL(t->virtual_span);
    CU_ASSERT(t->flags[0] & t->flags[1] & ANALYTICS_TREE_ORPHAN);
    analytics_tree_destroy(&t);
    //  two parentless spans: both under a virtual root, neither flagged an extra root
    analytics_tree_in_t two[] = {{"a", NULL, 1}, {"b", NULL, 2}};
    t = analytics_tree_build(two, 2);
    CU_ASSERT_EQUAL(t->virtual_root, 1);
    CU_ASSERT_EQUAL(t->flags[0] | t->flags[1], 0);
    analytics_tree_destroy(&t);
    //  nothing at all
    t = analytics_tree_build(NULL, 0);
    CU_ASSERT_EQUAL(t->virtual_root, 1);
    CU_ASSERT_EQUAL(t->order[0], 0);
    analytics_tree_destroy(&t);
}

static void
test_cycles_are_broken(void)
{
    //  a root, and a 3-cycle x -> y -> z -> x hanging nowhere, and a self-parent
    analytics_tree_in_t in[] = {
        {"root", NULL, 0}, {"x", "z", 20}, {"y", "x", 10}, {"z", "y", 30}, {"s", "s", 40},
    };
    analytics_tree_t *t = analytics_tree_build(in, 5);
    CU_ASSERT_EQUAL(t->root, 0);
    CU_ASSERT_EQUAL(t->cycles, 2);
    //  broken at the earliest span of the cycle (y, ts 10)
    CU_ASSERT_EQUAL(t->parent[2], 0);
    CU_ASSERT(t->flags[2] & ANALYTICS_TREE_CYCLE);
    CU_ASSERT_EQUAL(t->parent[3], 2);
    CU_ASSERT_EQUAL(t->parent[1], 3);
    CU_ASSERT_EQUAL(t->parent[4], 0);
    CU_ASSERT(t->flags[4] & ANALYTICS_TREE_CYCLE);
    CU_ASSERT_EQUAL(t->depth[1], 3);
    analytics_tree_destroy(&t);
    //  everything in one cycle: a virtual root holds it
    analytics_tree_in_t all[] = {{"a", "b", 1}, {"b", "a", 2}};
    t = analytics_tree_build(all, 2);
    CU_ASSERT_EQUAL(t->virtual_root, 1);
    CU_ASSERT_EQUAL(t->cycles, 1);
    CU_ASSERT_EQUAL(t->parent[0], 2);
    CU_ASSERT_EQUAL(t->parent[1], 0);
    analytics_tree_destroy(&t);
}

static void
test_duplicates(void)
{
    //  the same span id twice (a retried event stored under another id): the earlier one
    //  owns the id, so children attach to it; the later one is flagged and kept
    analytics_tree_in_t in[] = {{"r", NULL, 0}, {"a", "r", 2}, {"a", "r", 1}, {"k", "a", 3}};
    analytics_tree_t *t = analytics_tree_build(in, 4);
    CU_ASSERT(t->flags[1] & ANALYTICS_TREE_DUPLICATE);
    CU_ASSERT_EQUAL(t->flags[2], 0);
    CU_ASSERT_EQUAL(t->parent[3], 2);
    CU_ASSERT_EQUAL(t->parent[1], 0);
    analytics_tree_destroy(&t);
}

static void
test_deep_chain(void)
{
    //  200,000 levels, given newest first: no recursion, every node once
    size_t n = 200000;
    analytics_tree_in_t *in = calloc(n, sizeof *in);
    char(*ids)[16] = calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++)
        snprintf(ids[i], sizeof ids[i], "s%zu", i);
    for (size_t i = 0; i < n; i++) {
        size_t k = n - 1 - i;  //  slot k holds level i
        in[k].span = ids[i];
        in[k].parent = i ? ids[i - 1] : NULL;
        in[k].ts = (int64_t)i;
    }
    analytics_tree_t *t = analytics_tree_build(in, n);
    CU_ASSERT_EQUAL(t->root, n - 1);
    CU_ASSERT_EQUAL(t->depth[0], n - 1);
    CU_ASSERT_EQUAL(t->order[n - 1], 0);
    CU_ASSERT_EQUAL(s_find(in, n, "s7"), n - 8);
    analytics_tree_destroy(&t);
    free(ids);
    free(in);
}

void
test_analytics_tree_register(void)
{
    CU_pSuite s = CU_add_suite("analytics_tree", NULL, NULL);
    CU_add_test(s, "simple_tree", test_simple_tree);
    CU_add_test(s, "orphans_attach_to_root", test_orphans_attach_to_root);
    CU_add_test(s, "no_single_root_is_virtual", test_no_single_root_is_virtual);
    CU_add_test(s, "cycles_are_broken", test_cycles_are_broken);
    CU_add_test(s, "duplicates", test_duplicates);
    CU_add_test(s, "deep_chain", test_deep_chain);
}
