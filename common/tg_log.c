//  tg_log.c - level-gated, one-line logging to stderr.
#include "tg_log.h"
#include "tg_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tg_log_level = TG_LOG_INFO;
static char s_proc[32] = "tollgate";
static FILE *s_out;  //  where lines go (NULL: stderr)

void
tg_log_init(const char *proc, const char *level)
{
    if (proc)
        snprintf(s_proc, sizeof s_proc, "%s", proc);
    if (level) {
        if (strcmp(level, "debug") == 0)
            tg_log_level = TG_LOG_DEBUG;
        else if (strcmp(level, "info") == 0)
            tg_log_level = TG_LOG_INFO;
        else if (strcmp(level, "warn") == 0)
            tg_log_level = TG_LOG_WARN;
        else if (strcmp(level, "error") == 0)
            tg_log_level = TG_LOG_ERROR;
    }
}

void
tg_log_emit(int level, const char *file, int line, const char *fmt, ...)
{
    static const char marks[] = "DIWE";
    char when[40], msg[2048];
    tg_time_rfc3339(tg_now_us(), when, sizeof when);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    //  One line per event: fold any newline a caller passed through.
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (level >= TG_LOG_WARN) {
        const char *base = strrchr(file, '/');
        fprintf(s_out ? s_out : stderr, "%s %s %c %s (%s:%d)\n", when, s_proc, marks[level & 3],
                msg, base ? base + 1 : file, line);
    } else
        fprintf(s_out ? s_out : stderr, "%s %s %c %s\n", when, s_proc, marks[level & 3], msg);
    if (s_out)
        fflush(s_out);
}

void
tg_log_to(FILE *out)
{
    s_out = out;
}
