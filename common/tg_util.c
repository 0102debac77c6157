//  tg_util.c - return codes, allocation, time, ids, capped buffers.
#include "tg_util.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *
tg_rc_str(int rc)
{
    switch (rc) {
    case TG_OK:
        return "ok";
    case TG_ERR:
        return "error";
    case TG_AGAIN:
        return "again";
    case TG_NOTFOUND:
        return "not found";
    case TG_INVALID:
        return "invalid";
    default:
        return "unknown";
    }
}

static void
s_oom(size_t size)
{
    fprintf(stderr, "tollgate: out of memory allocating %zu bytes\n", size);
    abort();
}

void *
tg_zalloc(size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (!p)
        s_oom(size);
    return p;
}

void *
tg_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        s_oom(size);
    return p;
}

char *
tg_strdup(const char *s)
{
    return s ? tg_strndup(s, strlen(s)) : NULL;
}

char *
tg_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = tg_zalloc(n + 1);
    memcpy(p, s, n);
    return p;
}

char *
tg_strfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0)
        s_oom(0);
    return out;
}

void
tg_freep(void *p)
{
    void **pp = (void **)p;
    free(*pp);
    *pp = NULL;
}

void
tg_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

int64_t
tg_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
tg_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
tg_time_rfc3339(int64_t t_us, char *out, size_t size)
{
    time_t secs = (time_t)(t_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03dZ", base, (int)((t_us / 1000) % 1000));
}

void
tg_id_fill(char *out, const char *prefix, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[64];
    if (nbytes > sizeof raw)
        nbytes = sizeof raw;
    randombytes_buf(raw, nbytes);
    size_t plen = strlen(prefix);
    memcpy(out, prefix, plen);
    for (size_t i = 0; i < nbytes; i++) {
        out[plen + 2 * i] = hex[raw[i] >> 4];
        out[plen + 2 * i + 1] = hex[raw[i] & 15];
    }
    out[plen + 2 * nbytes] = 0;
}

char *
tg_id_new(const char *prefix)
{
    char *out = tg_zalloc(strlen(prefix) + 2 * 12 + 1);
    tg_id_fill(out, prefix, 12);
    return out;
}

char *
tg_id_seq(const char *prefix)
{
    static char s_proc[16];
    static pid_t s_pid;
    static uint64_t s_counter;
    if (s_pid != getpid()) {  //  first use, or a forked child: new random part
        tg_id_fill(s_proc, "", 6);
        s_pid = getpid();
    }
    return tg_strfmt("%s%s%012llx", prefix, s_proc,
                     (unsigned long long)(++s_counter & 0xffffffffffffULL));
}

void
tg_buf_init(tg_buf_t *self, size_t limit)
{
    self->data = NULL;
    self->len = 0;
    self->alloc = 0;
    self->limit = limit;
}

void
tg_buf_fini(tg_buf_t *self)
{
    free(self->data);
    self->data = NULL;
    self->len = self->alloc = 0;
}

int
tg_buf_append(tg_buf_t *self, const void *data, size_t n)
{
    if (n > self->limit || self->len > self->limit - n || self->len + n == SIZE_MAX)
        return TG_INVALID;
    if (self->len + n + 1 > self->alloc) {
        size_t want = self->alloc ? self->alloc : 256;
        while (want < self->len + n + 1)
            want = want > SIZE_MAX / 2 ? self->len + n + 1 : want * 2;  //  no wrap to 0
        self->data = tg_realloc(self->data, want);
        self->alloc = want;
    }
    if (n)
        memcpy(self->data + self->len, data, n);
    self->len += n;
    self->data[self->len] = 0;
    return TG_OK;
}

int
tg_buf_puts(tg_buf_t *self, const char *s)
{
    return tg_buf_append(self, s, strlen(s));
}

int
tg_buf_printf(tg_buf_t *self, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TG_ERR;
    if ((size_t)n < sizeof small)
        return tg_buf_append(self, small, (size_t)n);
    char *big = tg_zalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = tg_buf_append(self, big, (size_t)n);
    free(big);
    return rc;
}

void
tg_buf_consume(tg_buf_t *self, size_t n)
{
    if (n >= self->len) {
        tg_buf_reset(self);
        return;
    }
    memmove(self->data, self->data + n, self->len - n);
    self->len -= n;
    self->data[self->len] = 0;
}

void
tg_buf_reset(tg_buf_t *self)
{
    self->len = 0;
    if (self->data)
        self->data[0] = 0;
}

char *
tg_buf_take(tg_buf_t *self, size_t *len_p)
{
    char *out = self->data ? self->data : tg_strdup("");
    if (len_p)
        *len_p = self->len;
    self->data = NULL;
    self->len = self->alloc = 0;
    return out;
}
