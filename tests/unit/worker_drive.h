//  worker_drive.h - drives a provider table with canned upstream bytes the way worker_curl.c
//  does (JOB -> prepare; SSE bytes -> worker_sse -> on_event -> client text), for the
//  suites of worker_openai.c and worker_anthropic.c. Header-only: static helpers.
#ifndef WORKER_DRIVE_H
#define WORKER_DRIVE_H

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tg_frame.h"
#include "tg_util.h"
#include "worker_provider.h"
#include "worker_sse.h"

//  A JOB as the router sends it (asked NULL: not given). Caller destroys.
static inline tg_frame_t *
s_drive_job(const char *route,
            const char *model,
            const char *asked,
            bool stream,
            bool usage,
            const char *body)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_JOB);
    f->job.id = tg_strdup("req-1");
    f->job.reply_to = tg_strdup("inproc://ingest");
    f->job.route = tg_strdup(route);
    f->job.provider = tg_strdup("p");
    f->job.model = tg_strdup(model);
    f->job.asked = asked ? tg_strdup(asked) : NULL;
    f->job.stream = stream;
    f->job.usage = usage;
    if (body)
        tg_frame_set_body(f, body, strlen(body));
    return f;
}

//  One stream being driven: a fresh parser over p, the client's text in out.
typedef struct {
    worker_pcall_t *p;  //  prepared call state (borrowed)
    worker_sse_t *sse;  //  upstream event parser
    tg_buf_t out;       //  what the client would get
    int rc;             //  last on_event result
    int events;         //  events handed to on_event
} s_drive_t;

static inline int
s_drive_on_event(void *arg, const char *event, const char *data, size_t len)
{
    s_drive_t *d = arg;
    d->events++;
    d->rc = d->p->ops->on_event(d->p, event, data, len, &d->out);
    if (d->rc != TG_OK) {  //  a refusal always says why
        CU_ASSERT_PTR_NOT_NULL(d->p->fail_code);
        CU_ASSERT_PTR_NOT_NULL(d->p->fail_msg);
    }
    return d->rc == TG_OK ? 0 : -1;
}

static inline void
s_drive_init(s_drive_t *d, worker_pcall_t *p, size_t out_cap)
{
    memset(d, 0, sizeof *d);
    d->p = p;
    d->sse = worker_sse_new(1 << 16);
    tg_buf_init(&d->out, out_cap);
}

static inline void
s_drive_fini(s_drive_t *d)
{
    worker_sse_destroy(&d->sse);
    tg_buf_fini(&d->out);
}

//  Feeds n upstream bytes as one read; TG_OK or the feed's stop value.
static inline int
s_drive_feed(s_drive_t *d, const char *bytes, size_t n)
{
    return worker_sse_feed(d->sse, bytes, n, s_drive_on_event, d);
}

//  Feeds raw in pieces ending at each of cuts[0..ncuts) (ascending, <= len), then the rest:
//  libcurl hands over bytes wherever TCP split them.
static inline int
s_drive_split(s_drive_t *d, const char *raw, size_t len, const size_t *cuts, size_t ncuts)
{
    size_t at = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        int rc = s_drive_feed(d, raw + at, end - at);
        if (rc != TG_OK)
            return rc;
        at = end;
    }
    return TG_OK;
}

//  A small deterministic generator for garbage bytes (xorshift32).
static inline uint32_t
s_drive_rand(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

#endif
