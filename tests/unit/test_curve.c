//  test_curve.c - tg_curve: start checks, and a CURVE PUSH/PULL pair over loopback tcp made by
//  tg_socket_open with certificates in a scratch directory; ipc sockets are left alone.
#include <CUnit/CUnit.h>
#include <czmq.h>
#include <string.h>
#include <sys/stat.h>

#include "test_tmpdir.h"
#include "tg_curve.h"
#include "tg_peers.h"

//  Writes <dir>/<sub>/<name>.cert (+ _secret); with `allow`, also <dir>/allowed/<name>.cert.
static void
s_cert(const char *dir, const char *sub, const char *name, bool allow)
{
    zcert_t *c = zcert_new();
    char *path = tg_strfmt("%s/%s/%s.cert", dir, sub, name);
    CU_ASSERT_EQUAL(zcert_save(c, path), 0);
    free(path);
    if (allow) {
        path = tg_strfmt("%s/allowed/%s.cert", dir, name);
        CU_ASSERT_EQUAL(zcert_save_public(c, path), 0);
        free(path);
    }
    zcert_destroy(&c);
}

static tg_config_t *
s_config(const char *dir, const char *client)
{
    char *yaml = tg_strfmt("curve:\n  dir: %s\n  client: %s\nrun_dir: %s/run\n", dir, client, dir);
    tg_config_t *cfg = tg_config_load_string(yaml);
    free(yaml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    return cfg;
}

static void
test_start_checks(void)
{
    char *dir = test_tmpdir("curve");
    tg_config_t *cfg = s_config(dir, "worker");
    //  No allowed/ directory yet.
    CU_ASSERT_EQUAL(tg_curve_start(cfg, "worker"), TG_ERR);
    CU_ASSERT_FALSE(tg_curve_enabled());
    const char *subs[] = {"server", "clients", "allowed"};
    for (int i = 0; i < 3; i++) {
        char *p = tg_strfmt("%s/%s", dir, subs[i]);
        CU_ASSERT_EQUAL(mkdir(p, 0700), 0);
        free(p);
    }
    //  No server certificates.
    CU_ASSERT_EQUAL(tg_curve_start(cfg, "worker"), TG_ERR);
    const char *roles[] = {"inbox", "router", "analytics", "alert"};
    for (int i = 0; i < 4; i++)
        s_cert(dir, "server", roles[i], false);
    //  No client certificate for "worker".
    CU_ASSERT_EQUAL(tg_curve_start(cfg, "worker"), TG_ERR);
    s_cert(dir, "clients", "worker", true);
    CU_ASSERT_EQUAL(tg_curve_start(cfg, "worker"), TG_OK);
    CU_ASSERT_TRUE(tg_curve_enabled());
    CU_ASSERT_PTR_NOT_NULL(tg_curve_server_key("router", false));
    tg_curve_stop();
    CU_ASSERT_FALSE(tg_curve_enabled());
    //  Without curve.dir: nothing to do, CURVE stays off.
    tg_config_t *plain = tg_config_load_string("log:\n  level: info\n");
    CU_ASSERT_EQUAL(tg_curve_start(plain, "worker"), TG_OK);
    CU_ASSERT_FALSE(tg_curve_enabled());
    tg_config_destroy(&plain);
    tg_config_destroy(&cfg);
    test_rmdir(&dir);
}

static void
test_pair(void)
{
    char *dir = test_tmpdir("curve");
    const char *subs[] = {"server", "clients", "allowed"};
    for (int i = 0; i < 3; i++) {
        char *p = tg_strfmt("%s/%s", dir, subs[i]);
        CU_ASSERT_EQUAL(mkdir(p, 0700), 0);
        free(p);
    }
    const char *roles[] = {"inbox", "router", "analytics", "alert"};
    for (int i = 0; i < 4; i++)
        s_cert(dir, "server", roles[i], false);
    s_cert(dir, "clients", "worker", true);
    tg_config_t *cfg = s_config(dir, "worker");
    CU_ASSERT_EQUAL_FATAL(tg_curve_start(cfg, "worker"), TG_OK);

    zsock_t *pull = tg_socket_open(ZMQ_PULL, "tcp://127.0.0.1:*", true, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pull);
    CU_ASSERT_EQUAL(zsock_mechanism(pull), ZMQ_CURVE);
    CU_ASSERT_EQUAL(zsock_curve_server(pull), 1);
    char *ep = tg_socket_advertised(pull, cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ep);
    CU_ASSERT_EQUAL(strncmp(ep, "tcp://127.0.0.1:", 16), 0);
    zsock_t *push = tg_socket_open(ZMQ_PUSH, ep, false, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(push);
    CU_ASSERT_EQUAL(zsock_mechanism(push), ZMQ_CURVE);
    CU_ASSERT_EQUAL(zsock_curve_server(push), 0);
    zsock_set_rcvtimeo(pull, 10000);  //  a bound on a broken handshake, not a timing check
    CU_ASSERT_EQUAL(zstr_send(push, "over curve"), 0);
    char *got = zstr_recv(pull);
    CU_ASSERT_PTR_NOT_NULL(got);
    if (got)
        CU_ASSERT_STRING_EQUAL(got, "over curve");
    zstr_free(&got);

    //  ipc:// sockets get no CURVE, even with curve.dir set.
    char *ipc = tg_strfmt("ipc://%s/t.ipc", dir);
    zsock_t *local = tg_socket_open(ZMQ_PULL, ipc, true, 0);
    CU_ASSERT_PTR_NOT_NULL(local);
    if (local)
        CU_ASSERT_EQUAL(zsock_mechanism(local), ZMQ_NULL);
    zsock_destroy(&local);
    free(ipc);

    zsock_destroy(&push);
    zsock_destroy(&pull);
    free(ep);
    tg_curve_stop();
    tg_config_destroy(&cfg);
    test_rmdir(&dir);
}

void
test_curve_register(void)
{
    CU_pSuite s = CU_add_suite("curve", NULL, NULL);
    CU_add_test(s, "start_checks", test_start_checks);
    CU_add_test(s, "pair", test_pair);
}
