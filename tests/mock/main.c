//  main.c - tg-mock: wiring only (arguments, signals, port file, ready line); see mock_provider.c.
#include "mock.h"
#include "tg_log.h"
#include "tg_service.h"
#include "tg_util.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: tg-mock [--host 127.0.0.1] [--port 9000] [--port-file FILE]"
                 " [--log-level info]\n"
                 "  --port 0 binds an ephemeral port; the bound port is printed as\n"
                 "  'ready port=N' and written to --port-file.\n"
                 "  Log level also from TOLLGATE_LOG_LEVEL (debug, info, warn, error).\n");
}

//  Writes "<port>\n" to path through a temporary file, so readers never see it half-written.
static int
s_write_port_file(const char *path, int port)
{
    char *tmp = tg_strfmt("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = f && fprintf(f, "%d\n", port) > 0 ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0) {
        tg_log_error("cannot write port file=%s: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return rc;
}

static void
s_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    tg_log_info("signal=%d stopping", (int)sig);
    event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port_file = NULL, *level = getenv("TOLLGATE_LOG_LEVEL");
    long port = 9000;
    static const struct option options[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, 'f'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'h':
            host = optarg;
            break;
        case 'p':
            errno = 0;
            port = strtol(optarg, &end, 10);
            if (errno || !*optarg || *end || port < 0 || port > 65535) {
                fprintf(stderr, "tg-mock: --port needs 0..65535\n");
                return 2;
            }
            break;
        case 'f':
            port_file = optarg;
            break;
        case 'l':
            level = optarg;
            break;
        case 'H':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        s_usage(stderr);
        return 2;
    }
    tg_log_init("mock", level);
    if (sodium_init() < 0) {
        tg_log_error("sodium_init failed");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);   //  a client that vanishes mid-write must not kill the mock
    tg_service_raise_nofile();  //  thousands of connections

    struct event_base *base = event_base_new();
    if (!base) {
        tg_log_error("event_base_new failed");
        return 1;
    }
    mock_t *mock = mock_new(base, host, (int)port);
    if (!mock) {
        event_base_free(base);
        return 1;  //  mock_new logged why
    }
    if (port_file && s_write_port_file(port_file, mock_port(mock)) != 0) {
        mock_destroy(&mock);
        event_base_free(base);
        return 1;
    }
    struct event *sigint = evsignal_new(base, SIGINT, s_on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, s_on_signal, base);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);

    printf("ready port=%d\n", mock_port(mock));
    fflush(stdout);
    tg_log_info("ready host=%s port=%d backend=%s", host, mock_port(mock),
                event_base_get_method(base));
    event_base_dispatch(base);

    mock_destroy(&mock);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(base);
    libevent_global_shutdown();
    return 0;
}
