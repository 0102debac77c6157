//  cli_certs.c - `tollgate certs`: the CURVE certificates of a deployment, with zcert.
//
//  <dir>/server/<role>.cert (+ _secret)   one per server role: inbox, router, analytics, alert
//  <dir>/clients/<name>.cert (+ _secret)  one per client: router, ingest, worker, analytics,
//                                         alert, cli, and every --client NAME
//  <dir>/allowed/<name>.cert              the public half of each client zauth admits
//  Existing files are kept, so a second run only adds what is missing.
#include "cli.h"
#include "tg_util.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const s_roles[] = {"inbox", "router", "analytics", "alert"};
static const char *const s_clients[] = {"router", "ingest", "worker", "analytics", "alert", "cli"};

//  A certificate name: letters, digits, '-', '_', '.', not starting with '.', < 64 bytes.
static bool
s_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= 64 || name[0] == '.')
        return false;
    for (const char *c = name; *c; c++)
        if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') && !(*c >= '0' && *c <= '9')
            && *c != '-' && *c != '_' && *c != '.')
            return false;
    return true;
}

static bool
s_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

//  Makes <sub>/<name>.cert (+ _secret) unless it exists; with `allowed`, also writes the public
//  half to <dir>/allowed/<name>.cert. TG_OK or TG_ERR (printed).
static int
s_make(const char *dir, const char *sub, const char *name, const char *what, bool allowed)
{
    char *path = tg_strfmt("%s/%s/%s.cert", dir, sub, name);
    int rc = TG_OK;
    zcert_t *cert = NULL;
    if (s_exists(path)) {
        cert = zcert_load(path);
        printf("kept    %s\n", path);
    } else {
        cert = zcert_new();
        if (cert) {
            zcert_set_meta(cert, "name", "%s", name);
            zcert_set_meta(cert, "role", "%s", what);
            if (zcert_save(cert, path) != 0) {
                fprintf(stderr, "tollgate: cannot write %s: %s\n", path, strerror(errno));
                rc = TG_ERR;
            } else
                printf("made    %s (+ _secret)\n", path);
        }
    }
    if (!cert) {
        fprintf(stderr, "tollgate: cannot read %s\n", path);
        rc = TG_ERR;
    }
    if (rc == TG_OK && allowed) {
        char *pub = tg_strfmt("%s/allowed/%s.cert", dir, name);
        if (!s_exists(pub)) {
            if (zcert_save_public(cert, pub) != 0) {
                fprintf(stderr, "tollgate: cannot write %s: %s\n", pub, strerror(errno));
                rc = TG_ERR;
            } else
                printf("allowed %s\n", pub);
        }
        free(pub);
    }
    zcert_destroy(&cert);
    free(path);
    return rc;
}

int
cli_certs(int argc, char **argv)
{
    const char *dir = NULL, *config = NULL;
    const char *clients[64];
    const char *revoke[64];
    size_t nclients = 0, nrevoke = 0;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = !strcmp(arg, "--dir") || !strcmp(arg, "--client") || !strcmp(arg, "-c")
                     || !strcmp(arg, "--config") || !strcmp(arg, "--revoke");
        if (!takes) {
            fprintf(stderr, "tollgate: unknown option '%s' for certs\n", arg);
            return 2;
        }
        if (!val) {
            fprintf(stderr, "tollgate: %s needs a value\n", arg);
            return 2;
        }
        i++;
        if (!strcmp(arg, "--dir"))
            dir = val;
        else if (!strcmp(arg, "-c") || !strcmp(arg, "--config"))
            config = val;
        else {
            bool is_client = !strcmp(arg, "--client");
            if (!s_name_ok(val) || (is_client ? nclients : nrevoke) >= 64) {
                fprintf(stderr,
                        "tollgate: '%s' is not a certificate name (letters, digits, "
                        "'-', '_', '.')\n",
                        val);
                return 2;
            }
            if (is_client)
                clients[nclients++] = val;
            else
                revoke[nrevoke++] = val;
        }
    }
    tg_config_t *cfg = NULL;
    if (!dir) {
        cfg = tg_config_load(config);
        if (!cfg)
            return 2;
        dir = *tg_config_str(cfg, "curve.dir") ? tg_config_str(cfg, "curve.dir") : "certs";
    }
    mode_t old = umask(077);  //  secrets readable by their owner only
    int rc = TG_OK;
    char *subs[3] = {tg_strfmt("%s/server", dir), tg_strfmt("%s/clients", dir),
                     tg_strfmt("%s/allowed", dir)};
    for (int i = 0; i < 3 && rc == TG_OK; i++)
        rc = cli_mkdirs(subs[i]);
    for (size_t i = 0; rc == TG_OK && i < sizeof s_roles / sizeof s_roles[0]; i++)
        rc = s_make(dir, "server", s_roles[i], "server", false);
    for (size_t i = 0; rc == TG_OK && i < sizeof s_clients / sizeof s_clients[0]; i++)
        rc = s_make(dir, "clients", s_clients[i], "client", true);
    for (size_t i = 0; rc == TG_OK && i < nclients; i++)
        rc = s_make(dir, "clients", clients[i], "client", true);
    for (size_t i = 0; rc == TG_OK && i < nrevoke; i++) {
        char *pub = tg_strfmt("%s/allowed/%s.cert", dir, revoke[i]);
        if (unlink(pub) == 0)
            printf("revoked %s\n", pub);
        else if (errno == ENOENT)
            printf("absent  %s\n", pub);
        else {
            fprintf(stderr, "tollgate: cannot remove %s: %s\n", pub, strerror(errno));
            rc = TG_ERR;
        }
        free(pub);
    }
    umask(old);
    for (int i = 0; i < 3; i++)
        free(subs[i]);
    if (rc == TG_OK)
        printf("set curve.dir: %s (TOLLGATE_CURVE_DIR); a remote worker needs server/*.cert, "
               "server/inbox.cert_secret, its clients/<name>.cert + _secret and allowed/\n",
               dir);
    tg_config_destroy(&cfg);
    return rc == TG_OK ? 0 : 1;
}
