//  tg_log.h - level-gated, one-line key=value logging to stderr.
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stdio.h>

enum { TG_LOG_DEBUG = 0, TG_LOG_INFO = 1, TG_LOG_WARN = 2, TG_LOG_ERROR = 3 };

extern int tg_log_level;  //  messages below this level are not formatted

//  Sets the process name shown on every line and the level ("debug", "info", "warn", "error";
//  NULL or unknown keeps "info").
void tg_log_init(const char *proc, const char *level);
//  Sends log lines to `out` (borrowed; line-flushed) instead of stderr; NULL: stderr again.
void tg_log_to(FILE *out);
//  Writes one line: "<RFC3339> <proc> <L> <message>". Use the macros below.
void tg_log_emit(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define tg_log(level, ...)                                         \
    do {                                                           \
        if ((level) >= tg_log_level)                               \
            tg_log_emit((level), __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
#define tg_log_debug(...) tg_log(TG_LOG_DEBUG, __VA_ARGS__)
#define tg_log_info(...) tg_log(TG_LOG_INFO, __VA_ARGS__)
#define tg_log_warn(...) tg_log(TG_LOG_WARN, __VA_ARGS__)
#define tg_log_error(...) tg_log(TG_LOG_ERROR, __VA_ARGS__)

#endif
