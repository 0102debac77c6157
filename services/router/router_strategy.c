//  router_strategy.c - round-robin, weighted (smooth, as nginx), least-busy, lowest-latency
//  (EWMA), cheapest.
#include "router_strategy.h"

#include <string.h>

static const char *const s_names[] = {"round-robin", "weighted", "least-busy", "lowest-latency",
                                      "cheapest"};

int
router_strategy_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof s_names / sizeof s_names[0]; i++)
        if (strcmp(name, s_names[i]) == 0)
            return (int)i;
    return -1;
}

//  Smooth weighted round-robin: every allowed candidate gains its weight, the one with the
//  most is picked and loses the total. Over any run of sum(weights) picks each gets exactly
//  its weight, spread out rather than in bursts.
static int
s_weighted(router_cand_t *c, size_t n)
{
    int64_t total = 0;
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        if (!c[i].allowed)
            continue;
        c[i].current += c[i].weight;
        total += c[i].weight;
        if (best < 0 || c[i].current > c[best].current)
            best = (int)i;
    }
    if (best >= 0)
        c[best].current -= total;
    return best;
}

//  The allowed candidate with the lowest key; ties: the first at or after `start` in turn.
static int
s_lowest(const router_cand_t *c, size_t n, size_t start, double (*key)(const router_cand_t *))
{
    int best = -1;
    double best_key = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (!c[i].allowed)
            continue;
        double v = key(&c[i]);
        if (best < 0 || v < best_key) {
            best = (int)i;
            best_key = v;
        }
    }
    return best;
}

static double
s_key_inflight(const router_cand_t *c)
{
    return (double)c->inflight;
}

//  An unmeasured target with nothing in flight first (one call measures it), then the
//  fastest; an unmeasured one already being measured comes last, so a burst does not pile
//  onto a target nobody has timed (among those, the fewest in flight).
static double
s_key_latency(const router_cand_t *c)
{
    if (c->ewma_us)
        return 1e6 + (double)c->ewma_us;
    return c->inflight ? 1e15 + (double)c->inflight : 0;
}

static double
s_key_price(const router_cand_t *c)
{
    return c->price;
}

int
router_strategy_pick(router_strategy_t s, router_cand_t *cands, size_t n, uint64_t *rr)
{
    if (!n)
        return -1;
    size_t start = (size_t)(*rr % n);
    int pick = -1;
    switch (s) {
    case ROUTER_STRATEGY_WEIGHTED:
        pick = s_weighted(cands, n);
        break;
    case ROUTER_STRATEGY_LEAST_BUSY:
        pick = s_lowest(cands, n, start, s_key_inflight);
        break;
    case ROUTER_STRATEGY_LOWEST_LATENCY:
        pick = s_lowest(cands, n, 0, s_key_latency);
        break;
    case ROUTER_STRATEGY_CHEAPEST:
        pick = s_lowest(cands, n, 0, s_key_price);
        break;
    case ROUTER_STRATEGY_ROUND_ROBIN:
    default:
        for (size_t k = 0; k < n && pick < 0; k++)
            if (cands[(start + k) % n].allowed)
                pick = (int)((start + k) % n);
        break;
    }
    (*rr)++;
    return pick;
}
