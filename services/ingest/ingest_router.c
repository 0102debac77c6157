//  ingest_router.c - which of our calls the router holds, and what happens when it dies.
//
//  Every frame ingest sends to the router carries a seq (1, 2, 3 ...). The router answers
//  with MARKs: "every call of yours up to seq N is dispatched or answered". A call above the
//  mark is still in the router's hands, so when the router dies (silent for
//  ingest.router_timeout_ms, or replaced by a new instance) those calls can get no answer:
//  they are answered 503 with Retry-After at once. Calls at or below the mark are at a worker,
//  which answers them directly whatever became of the router.
#include "ingest_priv.h"
#include "tg_log.h"
#include "tg_util.h"

#include <stdio.h>
#include <string.h>

#define S_CHANGE_WAIT_US 300000  //  how long a new router gets to send its first MARK

void
ingest_router_init(ingest_t *self)
{
    ingest_router_t *r = &self->router_state;
    memset(r, 0, sizeof *r);
    r->timeout_us = tg_config_int(self->cfg, "ingest.router_timeout_ms") * 1000;
}

bool
ingest_router_down(const ingest_t *self)
{
    return self->router_state.lost;
}

uint64_t
ingest_router_next_seq(ingest_t *self)
{
    return ++self->router_state.seq;
}

void
ingest_router_heard(ingest_t *self, const char *inst, const tg_fr_mark_t *mark)
{
    ingest_router_t *r = &self->router_state;
    r->heard_us = tg_mono_us();
    if (r->lost) {
        tg_log_info("router is back router=%s", inst);
        r->lost = false;
    }
    if (!r->inst[0])
        snprintf(r->inst, sizeof r->inst, "%s", inst);
    else if (strcmp(r->inst, inst) != 0) {
        tg_log_warn("router changed from=%s to=%s: calls it had not dispatched are answered 503",
                    r->inst, inst);
        snprintf(r->inst, sizeof r->inst, "%s", inst);
        r->changing = true;
        r->changed_us = r->heard_us;
        r->seq_changed = r->seq;
    }
    if (!mark)
        return;
    if (r->changing) {
        //  The new router took our calls from mark->first on: those between the old mark and
        //  it were in the old router's hands.
        uint64_t hi = mark->first ? mark->first - 1 : r->seq_changed;
        ingest_call_fail_router(self, r->mark, hi);
        r->changing = false;
    }
    if (mark->seq > r->mark)
        r->mark = mark->seq;
}

void
ingest_router_check(ingest_t *self, int64_t now_us)
{
    ingest_router_t *r = &self->router_state;
    if (r->changing && now_us - r->changed_us > S_CHANGE_WAIT_US) {
        //  The new router marked nothing of ours: it got none of the calls sent before it came.
        ingest_call_fail_router(self, r->mark, r->seq_changed);
        r->changing = false;
    }
    if (!r->lost && r->inst[0] && now_us - r->heard_us > r->timeout_us) {
        tg_log_warn("router silent for %lld ms router=%s: its calls are answered 503",
                    (long long)((now_us - r->heard_us) / 1000), r->inst);
        r->lost = true;
        ingest_call_fail_router(self, r->mark, UINT64_MAX);
        r->mark = r->seq;  //  those are answered; what comes later is the next router's
    }
}
