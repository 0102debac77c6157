//  tg_util.h - return codes, allocation that aborts on OOM, time, ids, capped buffers.
#ifndef TG_UTIL_H
#define TG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TG_OK = 0,
    TG_ERR = -1,       //  failed; already logged where it happened
    TG_AGAIN = -2,     //  try later: queue full, HWM reached, breaker open
    TG_NOTFOUND = -3,  //  absent: cache miss, unknown model; not a failure
    TG_INVALID = -4,   //  bad outside input: frame, HTTP, config
} tg_rc_t;

//  Returns a static name for a tg_rc_t value ("ok", "error", ...).
const char *tg_rc_str(int rc);

//  Zeroed allocation; aborts the process on OOM, so callers never test for NULL.
void *tg_zalloc(size_t size);
//  realloc that aborts on OOM.
void *tg_realloc(void *ptr, size_t size);
//  strdup/strndup that abort on OOM; NULL in gives NULL out. Caller frees.
char *tg_strdup(const char *s);
char *tg_strndup(const char *s, size_t n);
//  printf into a fresh heap string. Caller frees.
char *tg_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
//  Frees *p and sets it to NULL. NULL-safe.
void tg_freep(void *p);

//  Frees *item and sets it to NULL: the destructor for plain heap items in czmq containers.
void tg_free_item(void **item);

//  Wall clock in microseconds since the epoch.
int64_t tg_now_us(void);
//  Monotonic clock in microseconds (for durations).
int64_t tg_mono_us(void);
//  Writes `t_us` (epoch µs) as RFC 3339 UTC with milliseconds into out (>= 25 bytes).
void tg_time_rfc3339(int64_t t_us, char *out, size_t size);

//  Fills out with `prefix` followed by 2*nbytes random hex digits and a NUL.
//  out must hold strlen(prefix) + 2*nbytes + 1 bytes.
void tg_id_fill(char *out, const char *prefix, size_t nbytes);
//  Returns a fresh heap id "<prefix><24 hex>". Caller frees.
char *tg_id_new(const char *prefix);

//  Returns a fresh heap id "<prefix><12 hex per-process random><12 hex counter>": unique
//  across processes without a syscall per id (for event ids, not for secrets). Caller frees.
char *tg_id_seq(const char *prefix);

//  A byte buffer filled from outside, with a hard cap fixed at init (curl dynbuf style).
typedef struct {
    char *data;    //  NUL-terminated contents (NULL until first append)
    size_t len;    //  bytes used, not counting the NUL
    size_t alloc;  //  bytes allocated
    size_t limit;  //  appends beyond this fail with TG_INVALID
} tg_buf_t;

//  Initialises an empty buffer that may grow to `limit` bytes.
void tg_buf_init(tg_buf_t *self, size_t limit);
//  Releases the contents; the buffer may be reused after tg_buf_init.
void tg_buf_fini(tg_buf_t *self);
//  Appends n bytes; TG_INVALID (and nothing appended) if the cap would be passed.
int tg_buf_append(tg_buf_t *self, const void *data, size_t n);
//  Appends a string; same contract as tg_buf_append.
int tg_buf_puts(tg_buf_t *self, const char *s);
//  Appends formatted text; same contract as tg_buf_append.
int tg_buf_printf(tg_buf_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
//  Drops the first n bytes (n <= len), keeping the rest.
void tg_buf_consume(tg_buf_t *self, size_t n);
//  Empties the buffer, keeping its memory.
void tg_buf_reset(tg_buf_t *self);
//  Hands the contents to the caller (who frees) and empties the buffer; never NULL.
char *tg_buf_take(tg_buf_t *self, size_t *len_p);

#endif
