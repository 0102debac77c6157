//  tg_keys.c - master key resolution, the virtual keys' secret, constant-time comparison.
#include "tg_keys.h"
#include "tg_log.h"
#include "tg_util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
tg_master_key_path(const tg_config_t *cfg)
{
    return tg_strfmt("%s/master.key", tg_config_str(cfg, "data_dir"));
}

//  A key read from a file is one line of printable ASCII, no spaces.
static bool
s_key_valid(const char *key, size_t len)
{
    if (len == 0 || len > TG_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (key[i] <= 0x20 || key[i] >= 0x7f)
            return false;
    return true;
}

//  Reads the key file. TG_OK and *key_p; TG_NOTFOUND when absent; TG_ERR (logged) otherwise.
static int
s_read_key(const char *path, char **key_p)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return TG_NOTFOUND;
        tg_log_error("cannot open key file path=%s err=%s", path, strerror(errno));
        return TG_ERR;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        tg_log_warn("key file is readable by others path=%s mode=%03o", path,
                    (unsigned)(st.st_mode & 0777));
    char buf[TG_KEY_MAX + 2];
    size_t len = 0;
    while (len < sizeof buf) {
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    if (!s_key_valid(buf, len)) {
        tg_log_error("key file holds no valid key (one line, printable, at most %d "
                     "bytes) path=%s",
                     TG_KEY_MAX, path);
        sodium_memzero(buf, sizeof buf);
        return TG_ERR;
    }
    *key_p = tg_strndup(buf, len);
    sodium_memzero(buf, sizeof buf);
    return TG_OK;
}

//  Writes `key` to a private temp file, then links it into place: link() fails with EEXIST
//  if another process published first, so readers never see a half-written key.
static int
s_publish_key(const char *path, const char *key)
{
    char *tmp = tg_strfmt("%s.%d.tmp", path, (int)getpid());
    int rc = TG_ERR;
    unlink(tmp);  //  left over by a crashed run with our pid
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        tg_log_error("cannot create key file path=%s err=%s", tmp, strerror(errno));
        free(tmp);
        return TG_ERR;
    }
    char *line = tg_strfmt("%s\n", key);
    size_t len = strlen(line), off = 0;
    while (off < len) {
        ssize_t n = write(fd, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    sodium_memzero(line, len);
    free(line);
    if (off != len || fsync(fd) != 0)
        tg_log_error("cannot write key file path=%s err=%s", tmp, strerror(errno));
    else if (link(tmp, path) == 0)
        rc = TG_OK;
    else if (errno == EEXIST)
        rc = TG_AGAIN;  //  lost the race: the caller reads the winner's key
    else
        tg_log_error("cannot publish key file path=%s err=%s", path, strerror(errno));
    close(fd);
    unlink(tmp);
    free(tmp);
    return rc;
}

char *
tg_master_key_resolve(const tg_config_t *cfg, bool *generated_p)
{
    assert(cfg);
    if (generated_p)
        *generated_p = false;
    const char *configured = tg_config_str(cfg, "master_key");
    if (configured && *configured)
        return tg_strdup(configured);
    if (tg_config_ensure_dirs(cfg) != TG_OK)
        return NULL;
    char *path = tg_master_key_path(cfg);
    char *key = NULL;
    int rc = s_read_key(path, &key);
    if (rc == TG_NOTFOUND) {
        char fresh[3 + 48 + 1];
        tg_id_fill(fresh, "tg-", 24);
        rc = s_publish_key(path, fresh);
        if (rc == TG_OK) {
            key = tg_strdup(fresh);
            if (generated_p)
                *generated_p = true;
        } else if (rc == TG_AGAIN)
            rc = s_read_key(path, &key);
        sodium_memzero(fresh, sizeof fresh);
    }
    free(path);
    return rc == TG_OK ? key : NULL;
}

//  The secret from the config (64 hex) or the file at `path`, generated there once.
int
tg_keys_secret(const tg_config_t *cfg, uint8_t out[32])
{
    assert(cfg);
    const char *configured = tg_config_str(cfg, "keys.secret");
    char *hex = configured && *configured ? tg_strdup(configured) : NULL;
    int rc = TG_OK;
    if (!hex) {
        if (tg_config_ensure_dirs(cfg) != TG_OK)
            return TG_ERR;
        char *path = tg_strfmt("%s/keys.secret", tg_config_str(cfg, "data_dir"));
        rc = s_read_key(path, &hex);
        if (rc == TG_NOTFOUND) {
            uint8_t raw[32];
            char fresh[65];
            randombytes_buf(raw, sizeof raw);
            sodium_bin2hex(fresh, sizeof fresh, raw, sizeof raw);
            sodium_memzero(raw, sizeof raw);
            rc = s_publish_key(path, fresh);
            if (rc == TG_OK)
                hex = tg_strdup(fresh);
            else if (rc == TG_AGAIN)
                rc = s_read_key(path, &hex);
            sodium_memzero(fresh, sizeof fresh);
        }
        free(path);
    }
    if (rc == TG_OK
        && (strlen(hex) != 64 || sodium_hex2bin(out, 32, hex, 64, NULL, NULL, NULL) != 0)) {
        tg_log_error("the key secret (keys.secret or <data_dir>/keys.secret) must be 64 hex "
                     "characters");
        rc = TG_ERR;
    }
    if (hex) {
        sodium_memzero(hex, strlen(hex));
        free(hex);
    }
    return rc;
}

bool
tg_key_equal(const char *expected, const char *given)
{
    if (!expected || !given)
        return false;
    size_t n = strlen(expected);
    if (n == 0 || strlen(given) != n)
        return false;
    return sodium_memcmp(expected, given, n) == 0;
}
