//  router_strategy.h - load-balancing strategies over the targets of one model (spec P4).
//  Pure functions over a candidate array: a unit test drives them with made-up numbers.
#ifndef ROUTER_STRATEGY_H
#define ROUTER_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ROUTER_STRATEGY_ROUND_ROBIN,
    ROUTER_STRATEGY_WEIGHTED,
    ROUTER_STRATEGY_LEAST_BUSY,
    ROUTER_STRATEGY_LOWEST_LATENCY,
    ROUTER_STRATEGY_CHEAPEST,
} router_strategy_t;

//  What a strategy looks at for one target.
typedef struct {
    bool allowed;       //  may be called now (breaker closed or probe due, provider enabled)
    int weight;         //  weighted: its share (>= 1)
    int64_t current;    //  weighted: smooth weighted round-robin state (kept by the caller)
    uint64_t inflight;  //  least-busy: calls sent to it and not finished
    uint64_t ewma_us;   //  lowest-latency: EWMA of its successful call times (0 = unmeasured)
    double price;       //  cheapest: USD per 1M tokens of a typical call
} router_cand_t;

//  The strategy named `name`; -1 when unknown.
int router_strategy_parse(const char *name);
//  Index of the target to call first among the allowed ones, or -1 when none is. `rr` is
//  the model's turn counter (advanced here); weighted updates each candidate's `current`.
//  Ties go in turn (round-robin, least-busy) or to the one declared first.
int router_strategy_pick(router_strategy_t s, router_cand_t *cands, size_t n, uint64_t *rr);

#endif
