//  tg_service.h - the start every service shares: config, directories, log, libsodium, czmq.
#ifndef TG_SERVICE_H
#define TG_SERVICE_H

#include <stdbool.h>

#include "tg_config.h"

//  Loads the config named by -c/--config (or $TOLLGATE_CONFIG), creates run_dir and data_dir,
//  starts logging as `proc`, initialises libsodium and czmq. An ingest or a worker removes
//  the stale inbox sockets of dead peers of its kind from run_dir (nothing listens on them). With
//  `czmq_signals` false, czmq's SIGINT/SIGTERM handler is not installed (the service handles
//  signals in its libevent loop). Starts CURVE (tg_curve_start) when curve.dir is set. NULL
//  (reason printed) when the service must exit with status 2.
tg_config_t *tg_service_start(int argc, char **argv, const char *proc, bool czmq_signals);
//  Lifts the soft limit of open descriptors to the hard one (for thousands of connections).
void tg_service_raise_nofile(void);

#endif
