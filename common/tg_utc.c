//  tg_utc.c - UTC days and months; strict parsing of RFC 3339 and epoch times.
#include "tg_utc.h"
#include "tg_util.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

//  Floor division, so that times before 1970 fall in the right day.
static int64_t
s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void
s_tm(int64_t t_us, struct tm *tm)
{
    time_t secs = (time_t)s_floor_div(t_us, 1000000);
    gmtime_r(&secs, tm);
}

void
tg_utc_day(int64_t t_us, char *out)
{
    struct tm tm;
    s_tm(t_us, &tm);
    char buf[48];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1,
             tm.tm_mday);
    memcpy(out, buf, TG_UTC_DAY_LEN - 1);  //  always 10 characters for years 0..9999
    out[TG_UTC_DAY_LEN - 1] = 0;
}

void
tg_utc_month(int64_t t_us, char *out)
{
    struct tm tm;
    s_tm(t_us, &tm);
    char buf[32];
    snprintf(buf, sizeof buf, "%04d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1);
    memcpy(out, buf, TG_UTC_MONTH_LEN - 1);
    out[TG_UTC_MONTH_LEN - 1] = 0;
}

int64_t
tg_utc_day_start(int64_t t_us)
{
    return s_floor_div(t_us, TG_UTC_DAY_US) * TG_UTC_DAY_US;
}

int64_t
tg_utc_month_start(int64_t t_us)
{
    struct tm tm;
    s_tm(t_us, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (int64_t)timegm(&tm) * 1000000;
}

static int
s_days_in(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int
tg_utc_days_in_month(int64_t t_us)
{
    struct tm tm;
    s_tm(t_us, &tm);
    return s_days_in(tm.tm_year + 1900, tm.tm_mon + 1);
}

//  Reads exactly n decimal digits at *s; advances *s. False if any is not a digit.
static bool
s_digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *s += n;
    *out = v;
    return true;
}

//  Reads ".ddd" (1..9 digits) as µs, if present.
static bool
s_fraction(const char **s, int64_t *us)
{
    *us = 0;
    if (**s != '.')
        return true;
    (*s)++;
    int n = 0;
    int64_t scale = 100000;
    while (**s >= '0' && **s <= '9') {
        if (n < 6) {
            *us += (**s - '0') * scale;
            scale /= 10;
        }
        (*s)++;
        n++;
    }
    return n >= 1 && n <= 9;
}

static int
s_ymd(const char **s, struct tm *tm)
{
    int y, mo, d;
    if (!s_digits(s, 4, &y) || *(*s)++ != '-' || !s_digits(s, 2, &mo) || *(*s)++ != '-'
        || !s_digits(s, 2, &d))
        return TG_INVALID;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > s_days_in(y, mo))
        return TG_INVALID;
    memset(tm, 0, sizeof *tm);
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    return TG_OK;
}

int
tg_utc_parse_month(const char *s, int64_t *t_us_p)
{
    if (!s || strlen(s) != 7)
        return TG_INVALID;
    int y, mo;
    if (!s_digits(&s, 4, &y) || *s++ != '-' || !s_digits(&s, 2, &mo))
        return TG_INVALID;
    if (y < 1970 || mo < 1 || mo > 12)
        return TG_INVALID;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = 1};
    *t_us_p = (int64_t)timegm(&tm) * 1000000;
    return TG_OK;
}

static int
s_parse_epoch(const char *s, int64_t *t_us_p)
{
    int64_t secs = 0;
    int n = 0;
    while (*s >= '0' && *s <= '9') {
        secs = secs * 10 + (*s - '0');
        if (++n > 12)
            return TG_INVALID;  //  beyond year 9999
        s++;
    }
    int64_t frac;
    if (n == 0 || !s_fraction(&s, &frac) || *s)
        return TG_INVALID;
    *t_us_p = secs * 1000000 + frac;
    return TG_OK;
}

int
tg_utc_parse(const char *s, int64_t *t_us_p)
{
    if (!s || !*s || strlen(s) > 64)
        return TG_INVALID;
    if (!strchr(s, '-'))
        return s_parse_epoch(s, t_us_p);
    struct tm tm;
    if (s_ymd(&s, &tm) != TG_OK)
        return TG_INVALID;
    if (!*s) {
        *t_us_p = (int64_t)timegm(&tm) * 1000000;
        return TG_OK;
    }
    if (*s != 'T' && *s != 't' && *s != ' ')
        return TG_INVALID;
    s++;
    int h, mi, sec;
    int64_t frac;
    if (!s_digits(&s, 2, &h) || *s++ != ':' || !s_digits(&s, 2, &mi) || *s++ != ':'
        || !s_digits(&s, 2, &sec) || !s_fraction(&s, &frac))
        return TG_INVALID;
    if (h > 23 || mi > 59 || sec > 60)
        return TG_INVALID;
    if (sec == 60)
        sec = 59;  //  a leap second: count it as the last second of the minute
    int64_t offset = 0;
    if (*s == 'Z' || *s == 'z')
        s++;
    else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1;
        int oh, om;
        if (!s_digits(&s, 2, &oh) || *s++ != ':' || !s_digits(&s, 2, &om) || oh > 23 || om > 59)
            return TG_INVALID;
        offset = sign * (int64_t)(oh * 3600 + om * 60);
    } else
        return TG_INVALID;
    if (*s)
        return TG_INVALID;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *t_us_p = ((int64_t)timegm(&tm) - offset) * 1000000 + frac;
    return TG_OK;
}
