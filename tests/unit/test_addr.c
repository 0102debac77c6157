//  test_addr.c - tg_addr: tcp hosts, loopback, the advertised reply_to address; and the
//  config rule that a tcp:// endpoint outside loopback needs curve.dir.
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "tg_addr.h"
#include "tg_config.h"

static void
test_host(void)
{
    char h[64];
    CU_ASSERT_TRUE(tg_addr_host("tcp://127.0.0.1:5555", h, sizeof h));
    CU_ASSERT_STRING_EQUAL(h, "127.0.0.1");
    CU_ASSERT_TRUE(tg_addr_host("tcp://*:*", h, sizeof h));
    CU_ASSERT_STRING_EQUAL(h, "*");
    CU_ASSERT_TRUE(tg_addr_host("tcp://[::1]:7000", h, sizeof h));
    CU_ASSERT_STRING_EQUAL(h, "::1");
    CU_ASSERT_TRUE(tg_addr_host("tcp://eth0;10.0.0.2:7000", h, sizeof h));
    CU_ASSERT_STRING_EQUAL(h, "10.0.0.2");
    CU_ASSERT_TRUE(tg_addr_host("tcp://router.internal:5555", h, sizeof h));
    CU_ASSERT_STRING_EQUAL(h, "router.internal");
    CU_ASSERT_FALSE(tg_addr_host("ipc:///run/x.ipc", h, sizeof h));
    CU_ASSERT_FALSE(tg_addr_host("tcp://nohostport", h, sizeof h));
    CU_ASSERT_FALSE(tg_addr_host("tcp://:5555", h, sizeof h));
    CU_ASSERT_FALSE(tg_addr_host("tcp://[::1", h, sizeof h));
    CU_ASSERT_FALSE(tg_addr_host("tcp://averylonghostname:1", h, 4));
    CU_ASSERT_TRUE(tg_addr_host_is_loopback("127.0.0.1"));
    CU_ASSERT_TRUE(tg_addr_host_is_loopback("127.1.2.3"));
    CU_ASSERT_TRUE(tg_addr_host_is_loopback("localhost"));
    CU_ASSERT_TRUE(tg_addr_host_is_loopback("::1"));
    CU_ASSERT_FALSE(tg_addr_host_is_loopback("*"));
    CU_ASSERT_FALSE(tg_addr_host_is_loopback("0.0.0.0"));
    CU_ASSERT_FALSE(tg_addr_host_is_loopback("10.0.0.1"));
    CU_ASSERT_FALSE(tg_addr_host_is_loopback("127example.com"));
    CU_ASSERT_TRUE(tg_addr_host_is_wildcard("*"));
    CU_ASSERT_TRUE(tg_addr_host_is_wildcard("0.0.0.0"));
    CU_ASSERT_TRUE(tg_addr_host_is_wildcard("::"));
    CU_ASSERT_FALSE(tg_addr_host_is_wildcard("10.0.0.1"));
}

static void
test_advertise(void)
{
    char why[256] = "";
    //  A concrete bound address is advertised as it is.
    char *ep = tg_addr_advertise("tcp://10.0.0.5:41234", NULL, why, sizeof why);
    CU_ASSERT_STRING_EQUAL(ep, "tcp://10.0.0.5:41234");
    free(ep);
    //  A public host replaces the host and keeps the (ephemeral) port.
    ep = tg_addr_advertise("tcp://0.0.0.0:41234", "worker-3.example", why, sizeof why);
    CU_ASSERT_STRING_EQUAL(ep, "tcp://worker-3.example:41234");
    free(ep);
    ep = tg_addr_advertise("tcp://[::]:7000", "fd00::5", why, sizeof why);
    CU_ASSERT_STRING_EQUAL(ep, "tcp://[fd00::5]:7000");
    free(ep);
    ep = tg_addr_advertise("tcp://10.0.0.5:41234", "", why, sizeof why);
    CU_ASSERT_STRING_EQUAL(ep, "tcp://10.0.0.5:41234");
    free(ep);
    //  A wildcard is never advertised: NULL, and the reason names the fix.
    ep = tg_addr_advertise("tcp://0.0.0.0:41234", NULL, why, sizeof why);
    CU_ASSERT_PTR_NULL(ep);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "endpoints.public_host"));
    ep = tg_addr_advertise("tcp://[::]:41234", "", why, sizeof why);
    CU_ASSERT_PTR_NULL(ep);
    //  ipc:// stays as it is, public host or not.
    ep = tg_addr_advertise("ipc:///run/tollgate/worker-h-1.ipc", "h", why, sizeof why);
    CU_ASSERT_STRING_EQUAL(ep, "ipc:///run/tollgate/worker-h-1.ipc");
    free(ep);
}

static void
test_connectable(void)
{
    char *ep = tg_addr_connectable("tcp://*:5552");
    CU_ASSERT_STRING_EQUAL(ep, "tcp://127.0.0.1:5552");
    free(ep);
    ep = tg_addr_connectable("tcp://0.0.0.0:5552");
    CU_ASSERT_STRING_EQUAL(ep, "tcp://127.0.0.1:5552");
    free(ep);
    ep = tg_addr_connectable("tcp://[::]:5552");
    CU_ASSERT_STRING_EQUAL(ep, "tcp://[::1]:5552");
    free(ep);
    ep = tg_addr_connectable("tcp://router:5552");
    CU_ASSERT_STRING_EQUAL(ep, "tcp://router:5552");
    free(ep);
    ep = tg_addr_connectable("ipc:///run/tollgate/bus_in.ipc");
    CU_ASSERT_STRING_EQUAL(ep, "ipc:///run/tollgate/bus_in.ipc");
    free(ep);
}

static void
test_config_needs_curve(void)
{
    tg_config_t *c = tg_config_load_string("endpoints:\n  worker: 'tcp://*:7000'\n");
    CU_ASSERT_PTR_NULL(c);
    c = tg_config_load_string("endpoints:\n  jobs: tcp://10.0.0.2:7000\n");
    CU_ASSERT_PTR_NULL(c);
    c = tg_config_load_string("endpoints:\n  jobs: tcp://127.0.0.1:7000\n  worker: "
                              "'tcp://127.0.0.1:*'\n");
    CU_ASSERT_PTR_NOT_NULL(c);
    tg_config_destroy(&c);
    c = tg_config_load_string("curve:\n  dir: /etc/tollgate/certs\nendpoints:\n  worker: "
                              "'tcp://*:*'\n  public_host: w1.example\n");
    CU_ASSERT_PTR_NOT_NULL(c);
    if (c) {
        CU_ASSERT_STRING_EQUAL(tg_config_str(c, "curve.dir"), "/etc/tollgate/certs");
        CU_ASSERT_STRING_EQUAL(tg_config_str(c, "endpoints.public_host"), "w1.example");
    }
    tg_config_destroy(&c);
}

void
test_addr_register(void)
{
    CU_pSuite s = CU_add_suite("addr", NULL, NULL);
    CU_add_test(s, "host", test_host);
    CU_add_test(s, "advertise", test_advertise);
    CU_add_test(s, "connectable", test_connectable);
    CU_add_test(s, "config_needs_curve", test_config_needs_curve);
}
