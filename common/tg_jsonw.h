//  tg_jsonw.h - a small streaming JSON writer with fixed-decimal numbers (USD to 6 places).
//
//  jansson prints reals with %.17g; API money fields must read "0.002500", so responses
//  that carry costs are written with this writer. Strings are escaped by jansson.
#ifndef TG_JSONW_H
#define TG_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_jsonw tg_jsonw_t;

//  A writer whose output may grow to `limit` bytes. Caller destroys.
tg_jsonw_t *tg_jsonw_new(size_t limit);
//  Frees the writer and its text; *self_p = NULL. NULL-safe.
void tg_jsonw_destroy(tg_jsonw_t **self_p);

//  Every call below writes one value. `key` names it inside an object and must be NULL at
//  the top level and inside arrays. Misuse or passing the cap marks the writer failed.
void tg_jsonw_object(tg_jsonw_t *self, const char *key);  //  opens {
void tg_jsonw_array(tg_jsonw_t *self, const char *key);   //  opens [
void tg_jsonw_end(tg_jsonw_t *self);                      //  closes the innermost { or [
//  A string (NULL writes null); invalid UTF-8 bytes are written as '?'.
void tg_jsonw_str(tg_jsonw_t *self, const char *key, const char *value);
void tg_jsonw_int(tg_jsonw_t *self, const char *key, int64_t value);
void tg_jsonw_uint(tg_jsonw_t *self, const char *key, uint64_t value);
//  A number with exactly `decimals` (0..9) digits after the point; NaN/Inf write null.
void tg_jsonw_fixed(tg_jsonw_t *self, const char *key, double value, int decimals);
void tg_jsonw_bool(tg_jsonw_t *self, const char *key, bool value);
//  A value that is already JSON text (trusted: our own output), written as is.
void tg_jsonw_raw(tg_jsonw_t *self, const char *key, const char *json);

//  The finished text (every container closed) handed to the caller, who frees; length in
//  *len_p (may be NULL). NULL if the writer failed or is unfinished. The writer is emptied.
char *tg_jsonw_take(tg_jsonw_t *self, size_t *len_p);

#endif
