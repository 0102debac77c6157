//  analytics_tree.h - rebuilds a trace's span tree from parent ids (spec A4): orphans and
//  extra roots attach to the root, duplicate span ids are kept apart, cycles are broken.
//  Pure: no I/O, no clock; iterative, so a deep chain cannot overflow the stack.
#ifndef ANALYTICS_TREE_H
#define ANALYTICS_TREE_H

#include <stddef.h>
#include <stdint.h>

//  One span given to the builder (strings borrowed for the call).
typedef struct {
    const char *span;    //  its span id (NULL or "" = none: it cannot be a parent)
    const char *parent;  //  its parent's span id (NULL or "" = it claims to be a root)
    int64_t ts;          //  start, epoch µs: children and ties are ordered by it
} analytics_tree_in_t;

//  Why a span hangs where it does (bits of analytics_tree_t.flags).
enum {
    ANALYTICS_TREE_ORPHAN = 1,      //  its parent is not in the trace: attached to the root
    ANALYTICS_TREE_EXTRA_ROOT = 2,  //  another parentless span: attached to the root
    ANALYTICS_TREE_CYCLE = 4,       //  its parent link closed a cycle: attached to the root
    ANALYTICS_TREE_DUPLICATE = 8,   //  its span id was taken by an earlier span
};

//  The tree: nodes 0..n-1 are the spans given; node n is a virtual root when `virtual_root`
//  (no single span without a parent: several, or none). Heap arrays of n + 1 entries.
typedef struct {
    size_t n;           //  spans given
    size_t root;        //  index of the root (n when virtual)
    int virtual_root;   //  1 when the root is node n, which stands for no event
    size_t *parent;     //  parent of each node (root: itself)
    unsigned *flags;    //  ANALYTICS_TREE_* of each node
    size_t *order;      //  nodes in depth-first pre-order, children by time (n + virtual_root)
    size_t *depth;      //  depth of each node (root 0)
    size_t *nchildren;  //  children of each node
    size_t cycles;      //  cycles broken
    const char *virtual_span;  //  the span id a virtual root stands for: the parent that every
                               //  top-level span names and no span has (W3C: the caller's
                               //  span), borrowed from the input; else NULL. Those spans are
                               //  its children, not orphans.
} analytics_tree_t;

//  Builds the tree of n spans (n may be 0: a lone virtual root). Caller destroys.
analytics_tree_t *analytics_tree_build(const analytics_tree_in_t *spans, size_t n);
//  Frees the tree; *self_p = NULL. NULL-safe.
void analytics_tree_destroy(analytics_tree_t **self_p);

#endif
