//  tg_metrics_render.c - Prometheus text exposition of a metrics set.
#include "tg_metrics_render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_util.h"

//  Shortest text that reads back as v; "+Inf", "-Inf", "NaN" as Prometheus writes them.
static void
s_fmt_double(double v, char *out, size_t size)
{
    if (isnan(v))
        snprintf(out, size, "NaN");
    else if (isinf(v))
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    else
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, size, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
}

static void
s_sample(tg_buf_t *buf,
         const char *name,
         const char *suffix,
         const char *labels,
         const char *le,
         double value)
{
    char num[40];
    tg_buf_puts(buf, name);
    tg_buf_puts(buf, suffix);
    if (*labels || le) {
        tg_buf_append(buf, "{", 1);
        tg_buf_puts(buf, labels);
        if (le) {
            tg_buf_puts(buf, *labels ? ",le=\"" : "le=\"");
            tg_buf_puts(buf, le);
            tg_buf_append(buf, "\"", 1);
        }
        tg_buf_append(buf, "}", 1);
    }
    s_fmt_double(value, num, sizeof num);
    tg_buf_append(buf, " ", 1);
    tg_buf_puts(buf, num);
    tg_buf_append(buf, "\n", 1);
}

//  Help text escaped as the format wants it (\\ and \n).
static void
s_help(tg_buf_t *buf, const char *help)
{
    for (const char *p = help; *p; p++)
        if (*p == '\\')
            tg_buf_append(buf, "\\\\", 2);
        else if (*p == '\n')
            tg_buf_append(buf, "\\n", 2);
        else
            tg_buf_append(buf, p, 1);
}

static const char *
s_type_name(tg_metric_type_t type)
{
    return type == TG_METRIC_COUNTER ? "counter" : type == TG_METRIC_GAUGE ? "gauge" : "histogram";
}

char *
tg_metrics_render(const tg_mset_t *set)
{
    tg_buf_t buf;
    tg_buf_init(&buf, SIZE_MAX / 2);
    size_t nfam;
    tg_mfamily_t **fams = (tg_mfamily_t **)tg_mset_sorted(set->families, tg_mfamily_cmp, &nfam);
    for (size_t f = 0; f < nfam; f++) {
        tg_mfamily_t *fam = fams[f];
        if (*fam->help) {
            tg_buf_printf(&buf, "# HELP %s ", fam->name);
            s_help(&buf, fam->help);
            tg_buf_append(&buf, "\n", 1);
        }
        tg_buf_printf(&buf, "# TYPE %s %s\n", fam->name, s_type_name(fam->type));
        size_t ns;
        tg_mseries_t **series = (tg_mseries_t **)tg_mset_sorted(fam->series, tg_mseries_cmp, &ns);
        for (size_t i = 0; i < ns; i++) {
            tg_mseries_t *s = series[i];
            if (fam->type != TG_METRIC_HISTOGRAM) {
                s_sample(&buf, fam->name, "", s->labels, NULL, s->value);
                continue;
            }
            for (size_t b = 0; b < s->nb; b++) {
                char le[40];
                s_fmt_double(s->le[b], le, sizeof le);
                s_sample(&buf, fam->name, "_bucket", s->labels, le, s->cum[b]);
            }
            s_sample(&buf, fam->name, "_sum", s->labels, NULL, s->sum);
            s_sample(&buf, fam->name, "_count", s->labels, NULL, s->count);
        }
        free(series);
    }
    free(fams);
    return tg_buf_take(&buf, NULL);
}
