//  cli_env.c - what `tollgate up` hands its children: the admin key and, with no provider
//  configured, the built-in mock provider.
#include "cli_up.h"
#include "tg_keys.h"
#include "tg_log.h"
#include "tg_util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
cli_master_key(cli_up_t *up)
{
    bool generated = false;
    char *key = tg_master_key_resolve(up->cfg, &generated);
    if (!key) {
        fprintf(stderr, "tollgate: no admin key (see the log line above)\n");
        return TG_ERR;
    }
    char *path = tg_master_key_path(up->cfg);
    const char *env = getenv("TOLLGATE_MASTER_KEY");
    if (env && *env)
        up->key_note = tg_strdup("from TOLLGATE_MASTER_KEY");
    else if (*tg_config_str(up->cfg, "master_key"))
        up->key_note = tg_strfmt("from master_key in %s",
                                 up->opts->config_path ? up->opts->config_path : "the config file");
    else
        up->key_note = tg_strfmt("in %s", path);
    if (generated)
        printf("generated admin key %s (stored in %s)\n", key, path);
    //  The children read it from the environment: one key for the whole set.
    int rc = setenv("TOLLGATE_MASTER_KEY", key, 1) == 0 ? TG_OK : TG_ERR;
    sodium_memzero(key, strlen(key));
    free(key);
    free(path);
    return rc;
}

bool
cli_mock_needed(const tg_config_t *cfg)
{
    for (size_t i = 0; i < tg_config_provider_count(cfg); i++)
        if (tg_config_provider(cfg, i)->enabled)
            return false;
    return true;
}

int
cli_mock_start(cli_up_t *up, int rank)
{
    up->mock_port_path = tg_strfmt("%s/mock.port", tg_config_str(up->cfg, "run_dir"));
    unlink(up->mock_port_path);  //  a file left by an earlier run names a dead port
    char *exe = tg_strfmt("%s/tg-mock", up->bin_dir);
    char *argv[] = {exe, "--host",      "127.0.0.1",        "--port",
                    "0", "--port-file", up->mock_port_path, NULL};
    int rc = supervisor_start(up->sup, "mock", argv, rank);
    free(exe);
    return rc;
}

int
cli_mock_port(cli_up_t *up)
{
    FILE *f = fopen(up->mock_port_path, "r");
    if (!f)
        return 0;
    char text[16] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *end = NULL;
    long port = strtol(text, &end, 10);
    if (end == text || port <= 0 || port > 65535)
        return 0;
    //  The file may be caught half written: the port counts once an HTTP server answers there.
    char *url = tg_strfmt("http://127.0.0.1:%ld/", port);
    long status = 0;
    char *body = NULL;
    cli_http_get(url, 1000, &status, &body);
    free(body);
    free(url);
    return status > 0 ? (int)port : 0;
}

void
cli_mock_use(cli_up_t *up, int port)
{
    char openai[64], anthropic[64], portnum[16];
    snprintf(openai, sizeof openai, "http://127.0.0.1:%d/v1", port);
    snprintf(anthropic, sizeof anthropic, "http://127.0.0.1:%d", port);
    snprintf(portnum, sizeof portnum, "%d", port);
    setenv("OPENAI_API_KEY", "mock", 1);
    setenv("OPENAI_BASE_URL", openai, 1);
    setenv("ANTHROPIC_API_KEY", "mock", 1);
    setenv("ANTHROPIC_BASE_URL", anthropic, 1);
    //  A restarted mock must come back on the same port: the services know this one.
    char *exe = tg_strfmt("%s/tg-mock", up->bin_dir);
    char *argv[] = {exe,     "--host",      "127.0.0.1",        "--port",
                    portnum, "--port-file", up->mock_port_path, NULL};
    supervisor_set_argv(up->sup, "mock", argv);
    free(exe);
    printf("no provider key set: using the built-in mock provider at %s \u2014 set OPENAI_API_KEY/"
           "ANTHROPIC_API_KEY/OPENROUTER_API_KEY for real providers\n",
           anthropic);
    fflush(stdout);
    tg_log_info("mock provider port=%d", port);
}
