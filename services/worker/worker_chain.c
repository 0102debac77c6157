//  worker_chain.c - fallbacks and outcomes (spec P3, P4). A JOB may carry, in `alts`, the
//  targets to try after its own: when an attempt fails in a way another target may not
//  (408/409/429, 5xx, network, timeouts) and nothing has reached the client yet, the call
//  moves to the next one here, in the worker that already holds the request; the router
//  chose the order. Each attempt's outcome goes to the router with the next LOAD (`outs`),
//  which keeps the breakers.
#include "worker_int.h"
#include "tg_log.h"

#include <stdlib.h>
#include <string.h>

#define S_OUTS_MAX (1u << 20)  //  outcome text waiting for a LOAD (beyond: dropped)
#define S_OUTS_FLUSH_US 10000  //  outcomes wait at most this long for a LOAD

//  Outcome kinds: 'o' success, 'f' the target failed, 'n' the request failed (not the
//  target's fault), 'c' no attempt ended (the call was cut): only the router's count moves.

char
worker_outcome_kind(long status, bool aborted)
{
    if (!aborted && status >= 400 && status < 500 && status != 408 && status != 409
        && status != 429)
        return 'n';
    return 'f';
}

bool
worker_chain_fails_over(int status, const char *code)
{
    if (!(status == 408 || status == 409 || status == 429 || status >= 500))
        return false;
    return !code
           || (strcmp(code, "deadline_exceeded") != 0 && strcmp(code, "worker_shutdown") != 0);
}

void
worker_outcome_add(worker_call_t *c, char kind)
{
    worker_t *w = c->w;
    if (kind == 'f')
        kind = worker_outcome_kind(c->status, c->abort_status != 0);
    //  The call's own deadline cut it (x-tollgate-deadline-ms): a client asking for 50 ms must
    //  not open the breaker of a target that answers in 500.
    if (kind == 'f' && c->deadline_mono && tg_mono_us() >= c->deadline_mono)
        kind = 'n';
    int64_t us = c->attempt_mono ? tg_mono_us() - c->attempt_mono : 0;
    uint64_t tokens = kind == 'o' && c->pc.usage.seen ? c->pc.usage.in + c->pc.usage.out : 0;
    unsigned flags =
        (c->noutcomes == 0 ? 1u : 0u) | (c->retries > 0 ? 2u : 0u) | (c->hops > 0 ? 4u : 0u);
    char line[640];
    bool gz = c->gz && kind != 'c';  //  this attempt's body went gzipped
    int n =
        snprintf(line, sizeof line, "%s\t%s\t%c\t%lld\t%llu\t%u\t%zu\t%zu\n", c->job->job.provider,
                 c->job->job.model, kind, (long long)(us > 0 ? us : 0), (unsigned long long)tokens,
                 flags, gz ? c->pc.body_len : 0, gz ? c->gz_len : 0);
    c->noutcomes++;
    if (n <= 0 || (size_t)n >= sizeof line || tg_buf_append(&w->outs, line, (size_t)n) != TG_OK) {
        tg_log_debug("outcome not kept id=%s (list full or names too long)", c->job->job.id);
        return;
    }
    if (w->done_ev && !evtimer_pending(w->done_ev, NULL)) {
        struct timeval tv = {0, S_OUTS_FLUSH_US};
        evtimer_add(w->done_ev, &tv);
    }
}

void
worker_outcome_init(worker_t *w)
{
    tg_buf_init(&w->outs, S_OUTS_MAX);
}

void
worker_outcome_fini(worker_t *w)
{
    tg_buf_fini(&w->outs);
}

char *
worker_outcome_take(worker_t *w)
{
    if (!w->outs.len)
        return NULL;
    char *text = tg_strndup(w->outs.data, w->outs.len);
    tg_buf_reset(&w->outs);
    return text;
}

bool
worker_chain_next(worker_call_t *c, int status, const char *code)
{
    tg_fr_job_t *j = &c->job->job;
    if (!j->alts || !*j->alts || c->state == WORKER_CALL_STREAMING || c->w->draining)
        return false;
    if (!worker_chain_fails_over(status, code))
        return false;
    if (c->deadline_mono && tg_mono_us() + WORKER_ATTEMPT_MIN_US >= c->deadline_mono)
        return false;
    //  The next "<provider>\t<model>\n" line.
    char *line = j->alts, *nl = strchr(line, '\n'), *tab = strchr(line, '\t');
    if (!tab || (nl && tab > nl)) {
        tg_log_warn("bad fallback list id=%s: dropped", j->id);
        tg_freep(&j->alts);
        return false;
    }
    char *provider = tg_strndup(line, (size_t)(tab - line));
    char *model = tg_strndup(tab + 1, nl ? (size_t)(nl - tab - 1) : strlen(tab + 1));
    char *rest = nl && nl[1] ? tg_strdup(nl + 1) : NULL;
    free(j->alts);
    j->alts = rest;
    tg_log_info("fallback id=%s from=%s/%s to=%s/%s status=%d", j->id, j->provider, j->model,
                provider, model, status);
    //  Back to the state before the first attempt; the call keeps its slot and its clock.
    worker_curl_release(c);
    tg_buf_fini(&c->resp);
    tg_buf_fini(&c->out);
    worker_sse_destroy(&c->parser);
    worker_pcall_fini(&c->pc);
    memset(&c->pc, 0, sizeof c->pc);
    tg_freep(&c->abort_msg);
    c->abort_status = 0;
    c->abort_code = NULL;
    c->retries_prev += c->retries;
    c->retries = 0;
    c->hops++;
    free(j->provider);
    free(j->model);
    j->provider = provider;
    j->model = model;
    int64_t start = c->start_mono;
    worker_call_start(c);
    if (start)
        c->start_mono = start;
    return true;
}
