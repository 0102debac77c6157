//  worker_join.c - coalesced calls (spec C3): identical cacheable calls in flight at once
//  make one upstream call. The router sends a JOB whose `join` names the call already in
//  flight here (the leader); the joiner gets what the leader's client gets, in its own form:
//  a stream joiner gets the leader's chunks so far at once, then the live ones; a whole-answer
//  joiner gets the completion when the leader's answer is complete (a stream assembled into
//  one). A leader that fails gives every joiner its error. A joiner's usage event says
//  cache "coalesced" (no upstream cost of its own).
#include "worker_int.h"
#include "tg_cache_form.h"
#include "tg_error.h"
#include "tg_log.h"
#include "tg_trace.h"

#include <stdlib.h>
#include <string.h>

struct worker_joiner {
    tg_frame_t *job;        //  the joiner's JOB (owned)
    worker_call_t *leader;  //  the call whose answer it shares
    worker_joiner_t *next;  //  next joiner of the same leader
    bool head_sent;         //  a stream joiner's HEAD went out
    int64_t ttft_us;        //  t0 -> first bytes sent (streams)
};

static int
s_send(worker_t *w, worker_joiner_t *j, tg_frame_t **f_p)
{
    int rc = tg_peers_send(w->peers, j->job->job.reply_to, f_p);
    if (rc != TG_OK)
        tg_log_debug("joined answer not delivered id=%s", j->job->job.id);
    return rc;
}

static void
s_head(worker_t *w, worker_joiner_t *j)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_HEAD);
    f->head.id = tg_strdup(j->job->job.id);
    f->head.status = 200;
    f->head.provider = tg_strdup(j->leader->job->job.provider);
    f->head.model = tg_strdup(j->leader->job->job.model);
    f->head.cache = tg_strdup("coalesced");
    f->head.rl = tg_strdup(j->job->job.rl);
    s_send(w, j, &f);
    j->head_sent = true;
}

static void
s_chunk(worker_t *w, worker_joiner_t *j, const char *data, size_t len)
{
    if (!len)
        return;
    if (!j->ttft_us) {
        int64_t t0 = j->job->job.t0;
        j->ttft_us = t0 > 0 ? tg_now_us() - t0 : 1;
    }
    tg_frame_t *f = tg_frame_new(TG_FRAME_CHUNK);
    f->chunk.id = tg_strdup(j->job->job.id);
    char *copy = tg_strndup(data, len);
    tg_frame_give_body(f, &copy, len);
    s_send(w, j, &f);
}

static void
s_end(worker_t *w, worker_joiner_t *j, int status)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_END);
    f->end.id = tg_strdup(j->job->job.id);
    f->end.status = (uint64_t)status;
    s_send(w, j, &f);
}

static void
s_reply(worker_t *w, worker_joiner_t *j, int status, char **body_p, size_t len, uint64_t retry)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_REPLY);
    f->reply.id = tg_strdup(j->job->job.id);
    f->reply.status = (uint64_t)status;
    f->reply.cache = tg_strdup("coalesced");
    f->reply.provider = tg_strdup(j->leader->job->job.provider);
    f->reply.model = tg_strdup(j->leader->job->job.model);
    f->reply.retry_after = retry;
    f->reply.rl = tg_strdup(j->job->job.rl);
    tg_frame_give_body(f, body_p, len);
    s_send(w, j, &f);
}

//  The joiner's usage event, its id reported done to the router, and the joiner freed.
static void
s_finish(worker_t *w, worker_joiner_t **j_p, int status, const char *error)
{
    worker_joiner_t *j = *j_p;
    const worker_call_t *leader = j->leader;
    tg_fr_job_t *jb = &j->job->job;
    tg_frame_t *f = tg_frame_new(TG_FRAME_USAGE);
    tg_fr_usage_t *u = &f->usage;
    int64_t now = tg_now_us();
    u->id = tg_strdup(jb->id);
    u->ts = jb->t0 > 0 ? jb->t0 : now;
    u->route = tg_strdup(jb->route);
    u->key = tg_strdup(jb->key);
    u->agent = tg_strdup(jb->agent);
    u->provider = tg_strdup(jb->provider);
    u->model = tg_strdup(jb->model);
    u->status = (uint64_t)status;
    u->cache = tg_strdup("coalesced");
    u->stream = jb->stream;
    if (status == 200 && leader->pc.usage.seen) {
        u->tok_in = leader->pc.usage.in;
        u->tok_out = leader->pc.usage.out;
        u->tok_cached = leader->pc.usage.cached;
        u->tok_cwrite = leader->pc.usage.cwrite;
    }
    u->latency_us = (uint64_t)(now > u->ts ? now - u->ts : 0);
    u->ttft_us = (uint64_t)(j->ttft_us > 0 ? j->ttft_us : 0);
    u->error = tg_strdup(error);
    tg_trace_stamp_usage(u, jb->org, jb->user, jb->env, jb->trace, jb->parent);
    tg_outbox_send(w->outbox, &f, tg_mono_us());
    zhashx_delete(w->joined, jb->id);
    worker_done_add(w, jb->id);
    tg_frame_destroy(&j->job);
    free(j);
    *j_p = NULL;
}

bool
worker_join_attach(worker_t *w, tg_frame_t **job_p)
{
    tg_fr_job_t *jb = &(*job_p)->job;
    worker_call_t *leader = jb->join ? zhashx_lookup(w->calls, jb->join) : NULL;
    //  The leader may be gone (done before the router heard), or not shareable: a plain job.
    if (!leader || !jb->ckey || !leader->job->job.ckey || strcmp(jb->ckey, leader->job->job.ckey)
        || leader->fill_off || zhashx_lookup(w->joined, jb->id))
        return false;
    worker_joiner_t *j = tg_zalloc(sizeof *j);
    j->job = *job_p;
    *job_p = NULL;
    j->leader = leader;
    j->next = leader->joiners;
    leader->joiners = j;
    zhashx_insert(w->joined, jb->id, j);
    tg_log_debug("call joined id=%s leader=%s", jb->id, leader->job->job.id);
    if (jb->stream && leader->state == WORKER_CALL_STREAMING && leader->pc.stream) {
        s_head(w, j);
        s_chunk(w, j, leader->fill.data, leader->fill.len);  //  what the leader's client has
    }
    return true;
}

void
worker_join_head(worker_call_t *c)
{
    for (worker_joiner_t *j = c->joiners; j; j = j->next)
        if (j->job->job.stream && !j->head_sent)
            s_head(c->w, j);
}

void
worker_join_chunk(worker_call_t *c, const char *data, size_t len)
{
    for (worker_joiner_t *j = c->joiners; j; j = j->next)
        if (j->head_sent)
            s_chunk(c->w, j, data, len);
}

//  A whole answer (the leader asked without streaming), success or error.
void
worker_join_reply(worker_call_t *c, int status, const char *body, size_t len, uint64_t retry)
{
    worker_t *w = c->w;
    while (c->joiners) {
        worker_joiner_t *j = c->joiners;
        c->joiners = j->next;
        char *out = NULL;
        size_t n = 0;
        if (status == 200 && j->job->job.stream
            && tg_cache_form_json_to_sse(body, len, j->job->job.usage, &out, &n) == TG_OK) {
            s_head(w, j);
            s_chunk(w, j, out, n);
            s_end(w, j, 0);
            free(out);
        } else {
            out = tg_strndup(body, len);
            s_reply(w, j, status, &out, len, retry);
        }
        s_finish(w, &j, status, status == 200 ? NULL : "upstream_error");
    }
}

//  The leader's stream ended: cleanly (status 0), or with `status` after the SSE error line
//  `err` (NUL-terminated, NULL when none) went to its client.
void
worker_join_end(worker_call_t *c, int status, const char *err)
{
    worker_t *w = c->w;
    while (c->joiners) {
        worker_joiner_t *j = c->joiners;
        c->joiners = j->next;
        int final = status ? status : 200;
        if (j->head_sent) {
            if (status && err)
                s_chunk(w, j, err, strlen(err));
            s_end(w, j, status);
        } else if (status == 0) {
            char *json = NULL;
            size_t n = 0;
            if (!c->fill_off
                && tg_cache_form_sse_to_json(c->fill.data, c->fill.len, c->pc.usage.in,
                                             c->pc.usage.out, &json, &n)
                       == TG_OK)
                s_reply(w, j, 200, &json, n, 0);
            else {
                final = 502;
                char *e = tg_error_body(502, "The shared upstream answer could not be read.", NULL,
                                        NULL, "bad_stream");
                s_reply(w, j, 502, &e, strlen(e), 0);
            }
        } else {
            char *e = tg_error_body(status, "The upstream call failed mid-stream.", NULL, NULL,
                                    "upstream_error");
            s_reply(w, j, status, &e, strlen(e), 0);
        }
        s_finish(w, &j, final, final == 200 ? NULL : "upstream_error");
    }
}

//  The leader finished without answering through the functions above (its ingest could not
//  be reached, or it was cut at shutdown): its joiners get 502.
void
worker_join_finish(worker_call_t *c)
{
    worker_t *w = c->w;
    while (c->joiners) {
        worker_joiner_t *j = c->joiners;
        c->joiners = j->next;
        char *e = tg_error_body(502,
                                "The shared upstream call ended without an answer; it is "
                                "safe to retry.",
                                NULL, NULL, "upstream_error");
        if (j->head_sent) {
            char *line = tg_strfmt("data: %s\n\n", e);
            s_chunk(w, j, line, strlen(line));
            free(line);
            free(e);
            s_end(w, j, 502);
        } else
            s_reply(w, j, 502, &e, strlen(e), 0);
        s_finish(w, &j, 502, "upstream_error");
    }
}

bool
worker_join_cancel(worker_t *w, const char *id)
{
    worker_joiner_t *j = zhashx_lookup(w->joined, id);
    if (!j)
        return false;
    worker_joiner_t **pp = &j->leader->joiners;
    while (*pp && *pp != j)
        pp = &(*pp)->next;
    if (*pp)
        *pp = j->next;
    s_finish(w, &j, 499, "client_closed");
    return true;
}
