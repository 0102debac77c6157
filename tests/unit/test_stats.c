//  test_stats.c - tg_stats: a heartbeat with the metrics snapshot, on the bus.
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tg_frame.h"
#include "tg_metrics_agg.h"
#include "tg_stats.h"
#include "tg_util.h"

static void
test_publish(void)
{
    zsock_t *bus = zsock_new(ZMQ_SUB);  //  stands for the router's XSUB on bus_in
    zsock_set_subscribe(bus, "sta");
    CU_ASSERT_EQUAL_FATAL(zsock_bind(bus, "inproc://stats-bus"), 0);
    tg_config_t *cfg = tg_config_load_string("endpoints:\n  bus_in: inproc://stats-bus\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    tg_stats_t *st = tg_stats_new(cfg, "worker");
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_NSTRING_EQUAL(tg_stats_instance(st), "worker-", 7);
    //  worker-<host name>-<pid>-<random>: what `tollgate health` matches a container's process by
    char host[64] = "";
    CU_ASSERT_EQUAL(gethostname(host, sizeof host - 1), 0);
    char *prefix = tg_strfmt("worker-%s-%d-", host, (int)getpid());
    CU_ASSERT_NSTRING_EQUAL(tg_stats_instance(st), prefix, strlen(prefix));
    free(prefix);
    tg_metrics_t *m = tg_metrics_new();
    tg_metrics_declare(m, "tollgate_test_total", TG_METRIC_COUNTER, "A test counter.", NULL, 0);
    tg_metrics_add(m, "tollgate_test_total", NULL, 3);
    //  PUB drops until the subscription has travelled: publish until one arrives.
    zpoller_t *p = zpoller_new(bus, NULL);
    tg_frame_t *f = NULL;
    for (int i = 0; i < 100 && !f; i++) {
        tg_stats_publish(st, m, true);
        if (zpoller_wait(p, 20) && tg_frame_recv(bus, &f) != TG_OK)
            f = NULL;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(f->type, TG_FRAME_STATS);
    CU_ASSERT_STRING_EQUAL(f->stats.proc, "worker");
    CU_ASSERT_STRING_EQUAL(f->stats.inst, tg_stats_instance(st));
    CU_ASSERT_TRUE(f->stats.ready);
    CU_ASSERT_TRUE(f->stats.ts > 0);
    //  The body is the msgpack snapshot the aggregator takes (tg_metrics_wire.h).
    tg_metrics_agg_t *agg = tg_metrics_agg_new();
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "worker-1", f->body, f->body_len, 1), TG_OK);
    char *text = tg_metrics_agg_render(agg);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "tollgate_test_total 3"));
    free(text);
    tg_frame_destroy(&f);
    //  The next heartbeat counts the STATS frames sent and received so far, in one snapshot
    //  with the process's own metrics.
    tg_stats_publish(st, m, true);
    if (zpoller_wait(p, 1000) && tg_frame_recv(bus, &f) != TG_OK)
        f = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->body);
    CU_ASSERT_EQUAL(tg_metrics_agg_put(agg, "worker-1", f->body, f->body_len, 2), TG_OK);
    text = tg_metrics_agg_render(agg);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "tollgate_test_total 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "# TYPE tollgate_frames_sent_total counter\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "tollgate_frames_sent_total{type=\"sta\"} "));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "tollgate_frames_received_total{type=\"sta\"} "));
    free(text);
    tg_metrics_agg_destroy(&agg);
    tg_frame_destroy(&f);
    zpoller_destroy(&p);
    tg_metrics_destroy(&m);
    tg_stats_destroy(&st);
    CU_ASSERT_PTR_NULL(st);
    tg_config_destroy(&cfg);
    zsock_destroy(&bus);
}

void
test_stats_register(void)
{
    CU_pSuite s = CU_add_suite("stats", NULL, NULL);
    CU_add_test(s, "publish", test_publish);
}
