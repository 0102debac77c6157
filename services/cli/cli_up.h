//  cli_up.h - state of `tollgate up` shared by cli_up.c and cli_env.c.
#ifndef CLI_UP_H
#define CLI_UP_H

#include "cli.h"
#include "supervise.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    CLI_UP_MOCK,      //  waiting for the built-in mock provider's port
    CLI_UP_STARTING,  //  services started, polling /readyz
    CLI_UP_READY,     //  /readyz answered 200 once
} cli_up_phase_t;

#include <stdio.h>

typedef struct {
    const cli_opts_t *opts;   //  command line, borrowed
    tg_config_t *cfg;         //  tollgate's own view of the config
    char *bin_dir;            //  directory of the tollgate binary and the services
    char *pid_path;           //  run_dir/tollgate.pid
    int pid_fd;               //  open, flock()ed pid file; -1 when not held
    int listen_fd;            //  the HTTP listener every ingest accepts on; -1 until bound
    FILE *log;                //  <run_dir>/tollgate.log unless -v (children's stderr, our log)
    char *log_path;           //  its path
    char gateway_id[40];      //  this run's id: /readyz must name it (TOLLGATE_GATEWAY_ID)
    char *key_note;           //  where the admin key is, for the ready line
    bool use_mock;            //  no provider configured: the built-in mock serves
    char *mock_port_path;     //  run_dir/mock.port, written by tg-mock
    char *ready_url;          //  http://127.0.0.1:PORT/readyz
    struct event_base *base;  //  the loop: signals, restarts, phase timer
    struct event *tick;       //  phase timer
    supervisor_t *sup;        //  the children
    cli_up_phase_t phase;     //  where the start is
    int64_t deadline_us;      //  monotonic deadline of the current phase
    int64_t next_probe_us;    //  next /readyz poll
    int rc;                   //  exit code
} cli_up_t;

//  Resolves the admin key (environment, config, data_dir/master.key, or a new one that is
//  printed once) and exports it as TOLLGATE_MASTER_KEY for the children. TG_OK or TG_ERR.
int cli_master_key(cli_up_t *up);
//  True when no provider is enabled: no provider key in the environment, none in the config.
bool cli_mock_needed(const tg_config_t *cfg);
//  Starts tg-mock on an ephemeral port that it writes to run_dir/mock.port. TG_OK or TG_ERR.
int cli_mock_start(cli_up_t *up, int rank);
//  The mock's port once its port file is complete, else 0.
int cli_mock_port(cli_up_t *up);
//  Points the providers at the mock on `port` (environment of the children), pins the port
//  for the mock's restarts, and tells the user.
void cli_mock_use(cli_up_t *up, int port);

#endif
