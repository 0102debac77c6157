//  services/cli/main.c - `tollgate`: parses the command line and runs one command.
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TOLLGATE_VERSION
#define TOLLGATE_VERSION "0.0.0"
#endif

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: tollgate <command> [options]\n"
            "\n"
            "commands:\n"
            "  up [-c FILE] [--workers N] [--ingest N] [-v]\n"
            "                 start ingest, router, workers, analytics and alert in the\n"
            "                 foreground; Ctrl-C or SIGTERM stops them all. Their logs go\n"
            "                 to <run_dir>/tollgate.log; -v shows them on the terminal\n"
            "  down [-c FILE] stop the `tollgate up` running for this run dir\n"
            "  status [-c FILE]\n"
            "                 print /readyz (exit 0 ready, 1 not ready, 3 not reachable)\n"
            "  alerts [-c FILE] [--severity info|warning|critical] [--endpoint URL]\n"
            "                 subscribe to the alert stream and print each alert as a JSON\n"
            "                 line until Ctrl-C; --endpoint follows another gateway's stream\n"
            "                 (tcp://host:port, its endpoints.alert_stream)\n"
            "  health KIND [-c FILE]\n"
            "                 healthcheck of this host's KIND process (router, analytics,\n"
            "                 alert, worker, ingest): exit 0 when its bus heartbeat says\n"
            "                 ready, 1 when none is heard within 3 stats intervals\n"
            "  breakers [-c FILE]\n"
            "                 print each circuit breaker transition as a JSON line until Ctrl-C\n"
            "  certs [--dir DIR] [--client NAME]... [--revoke NAME]... [-c FILE]\n"
            "                 make the CURVE certificates for tcp:// endpoints (server/,\n"
            "                 clients/, allowed/ under DIR, default curve.dir or ./certs);\n"
            "                 existing ones are kept; --revoke takes a client off allowed/\n"
            "  version        print the version\n"
            "  help           print this help\n"
            "\n"
            "environment: TOLLGATE_CONFIG, TOLLGATE_HTTP_PORT (8080), TOLLGATE_RUN_DIR (./run),\n"
            "TOLLGATE_DATA_DIR (./data), TOLLGATE_MASTER_KEY, TOLLGATE_LOG_LEVEL,\n"
            "OPENAI_API_KEY / OPENAI_BASE_URL, ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL,\n"
            "OPENROUTER_API_KEY / OPENROUTER_BASE_URL. With no provider key, `up` starts the\n"
            "built-in mock provider.\n");
}

//  Parses a count in 1..64; -1 when it is not one.
static int
s_count(const char *text)
{
    char *end = NULL;
    errno = 0;
    long n = text ? strtol(text, &end, 10) : 0;
    if (!text || errno || end == text || *end || n < 1 || n > 64)
        return -1;
    return (int)n;
}

//  Fills opts (and *severity_p, when not NULL) from argv[2..]; which options a command
//  takes is checked by the caller.
static int
s_parse(int argc, char **argv, cli_opts_t *opts, bool counts_allowed, const char **severity_p)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool is_count = !strcmp(arg, "--workers") || !strcmp(arg, "--ingest");
        if (!strcmp(arg, "-c") || !strcmp(arg, "--config")) {
            if (!val) {
                fprintf(stderr, "tollgate: %s needs a file name\n", arg);
                return -1;
            }
            opts->config_path = val;
            i++;
        } else if (!strcmp(arg, "--severity") && severity_p) {
            if (!val
                || (strcmp(val, "info") && strcmp(val, "warning") && strcmp(val, "critical"))) {
                fprintf(stderr, "tollgate: --severity takes info, warning or critical\n");
                return -1;
            }
            *severity_p = val;
            i++;
        } else if ((!strcmp(arg, "-v") || !strcmp(arg, "--verbose")) && counts_allowed) {
            opts->verbose = true;
        } else if (!strcmp(arg, "--endpoint") && severity_p) {
            if (!val || !strstr(val, "://")) {
                fprintf(stderr, "tollgate: --endpoint takes a ZeroMQ endpoint (tcp://host:port)\n");
                return -1;
            }
            opts->endpoint = val;
            i++;
        } else if (is_count && counts_allowed) {
            int n = s_count(val);
            if (n < 0) {
                fprintf(stderr, "tollgate: %s needs a number from 1 to 64\n", arg);
                return -1;
            }
            *(!strcmp(arg, "--workers") ? &opts->workers : &opts->ingest) = n;
            i++;
        } else {
            fprintf(stderr, "tollgate: unknown option '%s' for %s\n", arg, argv[1]);
            return -1;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        s_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("tollgate %s\n", TOLLGATE_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "certs"))
        return cli_certs(argc, argv);
    cli_opts_t opts = {.config_path = NULL, .workers = 1, .ingest = 1};
    bool is_up = !strcmp(cmd, "up");
    bool is_alerts = !strcmp(cmd, "alerts");
    bool is_breakers = !strcmp(cmd, "breakers");
    bool is_health = !strcmp(cmd, "health");
    const char *severity = NULL;
    const char *kind = NULL;
    if (is_health) {
        //  `health KIND [options]`: the kind is taken out before the options are parsed.
        static const char *const kinds[] = {"router", "analytics", "alert", "worker", "ingest"};
        for (size_t i = 0; argc > 2 && i < sizeof kinds / sizeof kinds[0]; i++)
            if (!strcmp(argv[2], kinds[i]))
                kind = kinds[i];
        if (!kind) {
            fprintf(stderr, "tollgate: health takes router, analytics, alert, worker or ingest\n");
            return 2;
        }
        for (int i = 2; i + 1 < argc; i++)
            argv[i] = argv[i + 1];
        argc--;
    }
    if (!is_up && !is_alerts && !is_breakers && !is_health && strcmp(cmd, "down")
        && strcmp(cmd, "status")) {
        fprintf(stderr, "tollgate: unknown command '%s'\n", cmd);
        s_usage(stderr);
        return 2;
    }
    if (s_parse(argc, argv, &opts, is_up, is_alerts ? &severity : NULL) != 0) {
        s_usage(stderr);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (is_up)
        rc = cli_up(&opts);
    else if (is_alerts)
        rc = cli_alerts(&opts, severity);
    else if (is_breakers)
        rc = cli_breakers(&opts);
    else if (is_health)
        rc = cli_health(&opts, kind);
    else
        rc = !strcmp(cmd, "down") ? cli_down(&opts) : cli_status(&opts);
    curl_global_cleanup();
    return rc;
}
