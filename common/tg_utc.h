//  tg_utc.h - UTC calendar periods (day, month) of epoch-µs times, and parsing of API times.
#ifndef TG_UTC_H
#define TG_UTC_H

#include <stddef.h>
#include <stdint.h>

#define TG_UTC_DAY_LEN 11            //  bytes for "YYYY-MM-DD" and its NUL
#define TG_UTC_MONTH_LEN 8           //  bytes for "YYYY-MM" and its NUL
#define TG_UTC_DAY_US 86400000000LL  //  µs in a day

//  Writes the UTC day of `t_us` as "YYYY-MM-DD" into out (>= TG_UTC_DAY_LEN bytes).
void tg_utc_day(int64_t t_us, char *out);
//  Writes the UTC month of `t_us` as "YYYY-MM" into out (>= TG_UTC_MONTH_LEN bytes).
void tg_utc_month(int64_t t_us, char *out);
//  Epoch µs of 00:00:00 UTC of the day holding t_us.
int64_t tg_utc_day_start(int64_t t_us);
//  Epoch µs of 00:00:00 UTC on the 1st of the month holding t_us.
int64_t tg_utc_month_start(int64_t t_us);
//  Days in the UTC month holding t_us (28..31).
int tg_utc_days_in_month(int64_t t_us);
//  Epoch µs of 00:00:00 UTC on the 1st of a "YYYY-MM" month, or TG_INVALID if s is not one.
int tg_utc_parse_month(const char *s, int64_t *t_us_p);
//  Parses an API time: RFC 3339 ("2026-11-25T10:00:00Z", fraction and "+hh:mm" offsets
//  allowed), a date "2026-11-25" (00:00 UTC), or epoch seconds ("1764064800", fraction
//  allowed). TG_OK and *t_us_p, or TG_INVALID for anything else.
int tg_utc_parse(const char *s, int64_t *t_us_p);

#endif
