//  bench/auto_score.c - speed and accuracy of the `auto` complexity scorer (tg_complexity).
//
//  auto_score [corpus.jsonl] [-v]: scores every prompt of the labelled corpus, prints the
//  confusion matrix and accuracy, then ns per prompt over the corpus (bytes and jansson
//  messages arrays) and for a 1 KB prompt, min and median of 21 trials. -v lists the
//  prompts scored wrong.
#include "tg_complexity.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_MAX 1000

static double
s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile int s_sink;  //  keeps the scored results alive

#define S_TRIALS 21  //  timed trials: min and median are reported (the host may be busy)

static int
s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
s_report(const char *what, double *ns)
{
    qsort(ns, S_TRIALS, sizeof *ns, s_cmp);
    printf("  %-52s min %6.0f ns  median %6.0f ns\n", what, ns[0], ns[S_TRIALS / 2]);
}

int
main(int argc, char **argv)
{
    const char *path = TG_SOURCE_DIR "/tests/data/complexity_corpus.jsonl";
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else
            path = argv[i];
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    static char *text[S_MAX];
    static size_t len[S_MAX];
    static int label[S_MAX];
    static json_t *msgs[S_MAX];
    int n = 0, confusion[3][3] = {{0}};
    size_t total_bytes = 0;
    char line[65536];
    while (n < S_MAX && fgets(line, sizeof line, f)) {
        json_t *doc = json_loads(line, 0, NULL);
        const char *p = json_string_value(json_object_get(doc, "prompt"));
        int l = tg_complexity_parse(json_string_value(json_object_get(doc, "label")));
        if (p && l >= 0) {
            text[n] = strdup(p);
            len[n] = strlen(p);
            label[n] = l;
            msgs[n] = json_pack("[{ss ss}{ss ss}]", "role", "system", "content",
                                "You are a helpful assistant.", "role", "user", "content", p);
            total_bytes += len[n];
            n++;
        }
        json_decref(doc);
    }
    fclose(f);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        tg_complexity_t st;
        tg_complexity_init(&st);
        tg_complexity_feed(&st, text[i], len[i]);
        int got = (int)tg_complexity_class(&st);
        confusion[label[i]][got]++;
        ok += got == label[i];
        if (verbose && got != label[i])
            printf("want=%-7s got=%-7s pts=%2d  %.100s\n",
                   tg_complexity_name((tg_complexity_class_t)label[i]),
                   tg_complexity_name((tg_complexity_class_t)got), tg_complexity_points(&st),
                   text[i]);
    }
    printf("corpus %s: %d prompts, %zu bytes (mean %zu)\n", path, n, total_bytes,
           n ? total_bytes / (size_t)n : 0);
    printf("confusion (rows = label, columns = scored simple/medium/complex):\n");
    for (int r = 0; r < 3; r++)
        printf("  %-7s %4d %4d %4d\n", tg_complexity_name((tg_complexity_class_t)r),
               confusion[r][0], confusion[r][1], confusion[r][2]);
    printf("accuracy %.1f%% (%d/%d)\n", n ? 100.0 * ok / n : 0.0, ok, n);

    double bytes_ns[S_TRIALS], msgs_ns[S_TRIALS];
    for (int t = 0; t < S_TRIALS; t++) {
        double t0 = s_now_ns();
        for (int r = 0; r < 100; r++)
            for (int i = 0; i < n; i++)
                s_sink += (int)tg_complexity_of(text[i], len[i]);
        bytes_ns[t] = (s_now_ns() - t0) / (100.0 * n);
        t0 = s_now_ns();
        for (int r = 0; r < 100; r++)
            for (int i = 0; i < n; i++)
                s_sink += (int)tg_complexity_of_messages(msgs[i]);
        msgs_ns[t] = (s_now_ns() - t0) / (100.0 * n);
    }
    s_report("corpus, per prompt, over bytes", bytes_ns);
    s_report("corpus, per prompt, over a jansson messages array", msgs_ns);

    //  A 1 KB prompt: corpus prose repeated to exactly 1024 bytes.
    char kb[1025];
    size_t at = 0;
    for (int i = 0; at < 1024; i = (i + 1) % n) {
        size_t take = len[i] + 1 < 1024 - at ? len[i] + 1 : 1024 - at;
        memcpy(kb + at, text[i], take - (take > len[i] ? 1 : 0));
        if (take > len[i])
            kb[at + len[i]] = '\n';
        at += take;
    }
    kb[1024] = 0;
    json_t *kbm = json_pack("[{ss ss}]", "role", "user", "content", kb);
    for (int t = 0; t < S_TRIALS; t++) {
        double t0 = s_now_ns();
        for (int r = 0; r < 10000; r++)
            s_sink += (int)tg_complexity_of(kb, 1024);
        bytes_ns[t] = (s_now_ns() - t0) / 10000;
        t0 = s_now_ns();
        for (int r = 0; r < 10000; r++)
            s_sink += (int)tg_complexity_of_messages(kbm);
        msgs_ns[t] = (s_now_ns() - t0) / 10000;
    }
    printf("1 KB prompt (class %s):\n", tg_complexity_name(tg_complexity_of(kb, 1024)));
    s_report("1 KB prompt over bytes", bytes_ns);
    s_report("1 KB prompt over a messages array", msgs_ns);
    json_decref(kbm);
    for (int i = 0; i < n; i++) {
        free(text[i]);
        json_decref(msgs[i]);
    }
    return 0;
}
