//  tg_keys.h - API keys: the master key (config, or <data_dir>/master.key, generated once).
#ifndef TG_KEYS_H
#define TG_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "tg_config.h"

//  Longest key accepted from a file or a client, in bytes.
#define TG_KEY_MAX 256

//  The master key: `master_key` from the config (env TOLLGATE_MASTER_KEY) if set, else the
//  contents of <data_dir>/master.key, else a fresh "tg-" + 48 hex written there (mode 0600,
//  published atomically; if another process wins the race, its key is returned). Sets
//  *generated_p (may be NULL) to true only when this call created the file. Creates the
//  data dir when missing. Caller frees; NULL (logged) when the file cannot be read or written.
char *tg_master_key_resolve(const tg_config_t *cfg, bool *generated_p);
//  Path of the master key file for `cfg`. Caller frees.
char *tg_master_key_path(const tg_config_t *cfg);
//  The server secret of the virtual keys' hashes (tg_keystore): `keys.secret` (env
//  TOLLGATE_KEYS_SECRET, 64 hex) if set, else <data_dir>/keys.secret, generated once like
//  master.key (mode 0600). Kept apart from the key store so that a copy of the store alone
//  cannot be used to test guesses. TG_OK and out, or TG_ERR (logged).
int tg_keys_secret(const tg_config_t *cfg, uint8_t out[32]);
//  True if `given` equals `expected`, compared in constant time for equal lengths. NULL or
//  empty strings never match.
bool tg_key_equal(const char *expected, const char *given);

#endif
