//  cli_util.c - paths, directories and a tiny HTTP GET for the tollgate command line.
#include "cli.h"

#include <czmq.h>
#include "tg_addr.h"
#include "tg_curve.h"
#include "tg_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_BODY_CAP (64 * 1024)

char *
cli_bin_dir(void)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
        return NULL;
    path[n] = 0;
    char *slash = strrchr(path, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    return tg_strdup(path[0] ? path : "/");
}

int
cli_mkdirs(const char *path)
{
    if (!*path) {
        fprintf(stderr, "tollgate: an empty directory name in the config\n");
        return TG_ERR;
    }
    char *copy = tg_strdup(path);
    int rc = TG_OK;
    for (char *p = copy + 1; rc == TG_OK; p++) {
        bool end = *p == 0;
        if (*p != '/' && !end)
            continue;
        *p = 0;
        if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "tollgate: cannot create %s: %s\n", copy, strerror(errno));
            rc = TG_ERR;
        }
        if (end)
            break;
        *p = '/';
    }
    free(copy);
    return rc;
}

static bool
s_wildcard(const char *host)
{
    return !*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "*");
}

char *
cli_http_base(const tg_config_t *cfg)
{
    const char *host = tg_config_str(cfg, "http.host");
    long port = (long)tg_config_int(cfg, "http.port");
    if (s_wildcard(host))
        return tg_strfmt("http://127.0.0.1:%ld", port);
    if (strchr(host, ':'))
        return tg_strfmt("http://[%s]:%ld", host, port);
    return tg_strfmt("http://%s:%ld", host, port);
}

const char *
cli_http_display_host(const tg_config_t *cfg)
{
    const char *host = tg_config_str(cfg, "http.host");
    return s_wildcard(host) ? "localhost" : host;
}

static size_t
s_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    tg_buf_t *buf = arg;
    size_t n = size * nmemb;
    //  Past the cap the rest is dropped: this client only shows short status bodies.
    if (buf->len < buf->limit)
        tg_buf_append(buf, data, n < buf->limit - buf->len ? n : buf->limit - buf->len);
    return n;
}

int
cli_http_get(const char *url, long timeout_ms, long *status_p, char **body_p)
{
    *status_p = 0;
    *body_p = NULL;
    CURL *curl = curl_easy_init();
    if (!curl)
        return TG_ERR;
    tg_buf_t buf;
    tg_buf_init(&buf, S_BODY_CAP);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");  //  the gateway is local: no proxy
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status_p);
        *body_p = tg_buf_take(&buf, NULL);
    }
    tg_buf_fini(&buf);
    curl_easy_cleanup(curl);
    return rc == CURLE_OK ? TG_OK : TG_ERR;
}

char *
cli_pidfile_path(const tg_config_t *cfg)
{
    return tg_strfmt("%s/tollgate.pid", tg_config_str(cfg, "run_dir"));
}

void
cli_print_json(json_t *obj)
{
    char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (line) {
        puts(line);
        fflush(stdout);
    }
    free(line);
    json_decref(obj);
}

int
cli_follow(const tg_config_t *cfg,
           const char *ep,
           const char *role,
           const char *what,
           const char *topic,
           tg_frame_type_t type,
           void (*print)(const tg_frame_t *f))
{
    if (tg_curve_start(cfg, "cli") != TG_OK)
        return 2;
    zsock_t *sub = zsock_new(ZMQ_SUB);
    char *target = tg_addr_connectable(ep);
    int rc = sub && tg_curve_secure_as(sub, ep, false, role) == TG_OK
                 ? zsock_connect(sub, "%s", target)
                 : -1;
    free(target);
    if (rc != 0) {
        fprintf(stderr, "tollgate: cannot connect to the %s %s\n", what, ep);
        zsock_destroy(&sub);
        return 1;
    }
    zsock_set_subscribe(sub, topic);
    fprintf(stderr, "tollgate: listening for %s* on %s (Ctrl-C to stop)\n", topic, ep);
    zpoller_t *poller = zpoller_new(sub, NULL);
    while (!zsys_interrupted) {
        if (!zpoller_wait(poller, 500))
            continue;
        tg_frame_t *f = NULL;
        while (tg_frame_recv(sub, &f) == TG_OK) {
            if (f->type == type)
                print(f);
            tg_frame_destroy(&f);
        }
    }
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    tg_curve_stop();
    return 0;
}

char *
cli_gateway_get(const tg_config_t *cfg, const char *name)
{
    char *path = tg_strfmt("%s/gateway", tg_config_str(cfg, "run_dir"));
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return NULL;
    size_t len = strlen(name);
    char line[1024];
    char *value = NULL;
    while (!value && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, name, len) && line[len] == '=' && line[len + 1])
            value = tg_strdup(line + len + 1);
    }
    fclose(f);
    return value;
}
