//  ingest_dashboard.c - GET /dashboard/: the dashboard's static files (spec O6). They ship in
//  <bin>/../share/tollgate/dashboard (or the source tree, for a build run in place) and are
//  served as they are, with no auth: the page asks for the admin key and calls the JSON APIs
//  with it. Names are checked against a strict pattern: no "..", no hidden files.
#include "ingest_priv.h"
#include "tg_log.h"
#include "tg_util.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_FILE_MAX (4u << 20)  //  largest file served

static const struct {
    const char *ext;
    const char *type;
} s_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".md", "text/plain; charset=utf-8"},
};

char *
ingest_dashboard_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char *dir = tg_strfmt("%s/../share/tollgate/dashboard", exe);
            char real[PATH_MAX];
            if (realpath(dir, real) && access(real, R_OK) == 0) {
                free(dir);
                return tg_strdup(real);
            }
            free(dir);
        }
    }
#ifdef TG_SOURCE_DIR
    if (access(TG_SOURCE_DIR "/services/ingest/dashboard", R_OK) == 0)
        return tg_strdup(TG_SOURCE_DIR "/services/ingest/dashboard");
#endif
    return NULL;
}

//  A file name below the dashboard dir: [A-Za-z0-9_-] segments with dots inside, '/'
//  between, no segment starting with '.'.
static bool
s_name_ok(const char *name)
{
    if (!*name || strlen(name) > 200)
        return false;
    bool seg_start = true;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (c == '/') {
            if (seg_start)
                return false;
            seg_start = true;
            continue;
        }
        if (seg_start && c == '.')
            return false;
        seg_start = false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
              || c == '_' || c == '-'))
            return false;
    }
    return !seg_start;
}

static const char *
s_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof s_types / sizeof s_types[0]; i++)
        if (strcmp(dot, s_types[i].ext) == 0)
            return s_types[i].type;
    return NULL;
}

void
ingest_dashboard_serve(ingest_t *self,
                       struct evhttp_request *req,
                       const char *rid,
                       const char *path)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (strcmp(path, "/dashboard") == 0) {  //  relative asset paths need the trailing slash
        evhttp_add_header(h, "Location", "/dashboard/");
        char *body = tg_strdup("");
        ingest_http_send(self, req, rid, 301, "text/plain", &body, 0);
        return;
    }
    const char *name = strncmp(path, "/dashboard/", 11) == 0 ? path + 11 : NULL;
    if (name && !*name)
        name = "index.html";
    const char *type = name && s_name_ok(name) ? s_type(name) : NULL;
    if (!self->dashboard_dir || !type) {
        ingest_http_error(self, req, rid, 404,
                          self->dashboard_dir ? "No such dashboard file."
                                              : "The dashboard is not installed with this build.",
                          NULL, "unknown_url");
        return;
    }
    char *file = tg_strfmt("%s/%s", self->dashboard_dir, name);
    FILE *f = fopen(file, "rb");
    char *body = NULL;
    size_t len = 0;
    if (f) {
        body = tg_zalloc(S_FILE_MAX + 1);
        len = fread(body, 1, S_FILE_MAX + 1, f);
        fclose(f);
    }
    free(file);
    if (!f || len > S_FILE_MAX) {
        free(body);
        ingest_http_error(self, req, rid, 404, "No such dashboard file.", NULL, "unknown_url");
        return;
    }
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                      "frame-ancestors 'none'");
    ingest_http_send(self, req, rid, 200, type, &body, len);
}
