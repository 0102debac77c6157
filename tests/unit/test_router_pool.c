//  test_router_pool.c - the router's view of the worker fleet: joins, least-busy picks with
//  latency tie-breaks, finished ids, draining, lost workers and their calls.
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router_pool.h"
#include "tg_util.h"

#define S_QUIET 1500000  //  µs

static tg_fr_load_t
s_load(uint64_t cap, uint64_t lat_us)
{
    tg_fr_load_t l;
    memset(&l, 0, sizeof l);
    l.inst = "w";
    l.cap = cap;
    l.lat_us = lat_us;
    return l;
}

typedef struct {
    int n;            //  lost calls seen
    char ids[8][16];  //  their ids
} s_lost_t;

static void
s_on_lost(const char *id, const char *reply_to, const char *route, void *arg)
{
    s_lost_t *l = arg;
    CU_ASSERT_STRING_EQUAL(reply_to, "ipc://ingest");
    CU_ASSERT_STRING_EQUAL(route, "chat");
    if (l->n < 8)
        snprintf(l->ids[l->n], sizeof l->ids[0], "%s", id);
    l->n++;
}

static void
test_pick_least_busy(void)
{
    router_pool_t *p = router_pool_new(S_QUIET);
    CU_ASSERT_PTR_NULL(router_pool_pick(p));  //  nobody yet
    tg_fr_load_t a = s_load(2, 900), b = s_load(2, 100);
    router_pool_load(p, "A", &a, NULL, 0, 1000);
    router_pool_load(p, "B", &b, NULL, 0, 1000);
    CU_ASSERT_EQUAL(router_pool_workers(p), 2);
    //  Equal load: the faster one first, then the other (fewer calls), then the faster.
    CU_ASSERT_STRING_EQUAL(router_pool_pick(p), "B");
    router_pool_assign(p, "B", "c1", "ipc://ingest", "chat");
    CU_ASSERT_STRING_EQUAL(router_pool_pick(p), "A");
    router_pool_assign(p, "A", "c2", "ipc://ingest", "chat");
    CU_ASSERT_STRING_EQUAL(router_pool_pick(p), "B");
    router_pool_assign(p, "B", "c3", "ipc://ingest", "chat");
    router_pool_assign(p, "A", "c4", "ipc://ingest", "chat");
    CU_ASSERT_PTR_NULL(router_pool_pick(p));  //  both at capacity
    CU_ASSERT_EQUAL(router_pool_calls(p), 4);
    CU_ASSERT_STRING_EQUAL(router_pool_holder(p, "c2"), "A");
    CU_ASSERT_PTR_NULL(router_pool_holder(p, "nope"));
    //  A reports two finished calls, one of them not its own: only its own is released.
    const char done[] = "c2\nc3\nunknown";
    CU_ASSERT_EQUAL(router_pool_load(p, "A", &a, done, sizeof done - 1, 2000), 1);
    CU_ASSERT_STRING_EQUAL(router_pool_pick(p), "A");
    CU_ASSERT_EQUAL(router_pool_calls(p), 3);
    char *json = router_pool_json(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"id\":\"A\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"dispatched\":2"));
    free(json);
    router_pool_destroy(&p);
    CU_ASSERT_PTR_NULL(p);
}

static void
test_draining_and_bye(void)
{
    router_pool_t *p = router_pool_new(S_QUIET);
    tg_fr_load_t a = s_load(10, 0);
    router_pool_load(p, "A", &a, NULL, 0, 1000);
    router_pool_assign(p, "A", "c1", "ipc://ingest", "chat");
    a.draining = true;
    router_pool_load(p, "A", &a, NULL, 0, 1100);
    CU_ASSERT_PTR_NULL(router_pool_pick(p));  //  draining: no new calls
    CU_ASSERT_EQUAL(router_pool_workers(p), 1);
    a.bye = true;
    router_pool_load(p, "A", &a, "c1", 2, 1200);
    CU_ASSERT_EQUAL(router_pool_workers(p), 0);
    CU_ASSERT_EQUAL(router_pool_calls(p), 0);
    //  A bye from a worker we never knew adds nothing.
    router_pool_load(p, "Z", &a, NULL, 0, 1300);
    CU_ASSERT_EQUAL(router_pool_workers(p), 0);
    router_pool_destroy(&p);
}

static void
test_lost_workers(void)
{
    router_pool_t *p = router_pool_new(S_QUIET);
    tg_fr_load_t a = s_load(10, 0);
    router_pool_load(p, "A", &a, NULL, 0, 0);
    router_pool_load(p, "B", &a, NULL, 0, 0);
    router_pool_assign(p, "A", "a1", "ipc://ingest", "chat");
    router_pool_assign(p, "A", "a2", "ipc://ingest", "chat");
    router_pool_assign(p, "B", "b1", "ipc://ingest", "chat");
    s_lost_t lost = {0};
    //  B keeps reporting, A goes quiet.
    router_pool_load(p, "B", &a, NULL, 0, 1000000);
    CU_ASSERT_EQUAL(router_pool_expire(p, 1400000, s_on_lost, &lost), 0);
    CU_ASSERT_EQUAL(router_pool_expire(p, 1600000, s_on_lost, &lost), 1);
    CU_ASSERT_EQUAL(lost.n, 2);
    CU_ASSERT_TRUE((strcmp(lost.ids[0], "a1") == 0 && strcmp(lost.ids[1], "a2") == 0)
                   || (strcmp(lost.ids[0], "a2") == 0 && strcmp(lost.ids[1], "a1") == 0));
    CU_ASSERT_EQUAL(router_pool_workers(p), 1);
    CU_ASSERT_EQUAL(router_pool_calls(p), 1);
    CU_ASSERT_STRING_EQUAL(router_pool_pick(p), "B");
    //  A full pipe: skipped until the worker reports again, its calls kept.
    router_pool_full(p, "B");
    CU_ASSERT_PTR_NULL(router_pool_pick(p));
    CU_ASSERT_EQUAL(router_pool_expire(p, 1600000, s_on_lost, &lost), 0);
    router_pool_load(p, "B", &a, NULL, 0, 1600000);
    CU_ASSERT_STRING_EQUAL(router_pool_pick(p), "B");
    CU_ASSERT_EQUAL(router_pool_calls(p), 1);
    //  A send that finds no such peer: lost at once, skipped by picks, expired next.
    router_pool_unreachable(p, "B");
    CU_ASSERT_PTR_NULL(router_pool_pick(p));
    CU_ASSERT_EQUAL(router_pool_expire(p, 1600001, s_on_lost, &lost), 1);
    CU_ASSERT_EQUAL(lost.n, 3);
    CU_ASSERT_STRING_EQUAL(lost.ids[2], "b1");
    //  A worker that comes back is a new member with no calls.
    router_pool_load(p, "A", &a, "a1", 2, 2000000);
    CU_ASSERT_EQUAL(router_pool_workers(p), 1);
    CU_ASSERT_EQUAL(router_pool_calls(p), 0);
    router_pool_destroy(&p);
}

void
test_router_pool_register(void)
{
    CU_pSuite s = CU_add_suite("router_pool", NULL, NULL);
    CU_add_test(s, "least busy, latency breaks ties, finished ids", test_pick_least_busy);
    CU_add_test(s, "draining and leaving", test_draining_and_bye);
    CU_add_test(s, "lost workers answer for their calls", test_lost_workers);
}
