//  worker_provider.c - provider kind -> table of operations, the per-call state's lifecycle,
//  and the helpers the kinds share.
#include "worker_provider.h"

#include "tg_error.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const worker_provider_ops_t *
worker_provider_ops(tg_provider_kind_t kind)
{
    static const worker_provider_ops_t *const table[] = {
        [TG_PROVIDER_OPENAI] = &worker_openai_ops,
        [TG_PROVIDER_ANTHROPIC] = &worker_anthropic_ops,
    };
    assert((size_t)kind < sizeof table / sizeof table[0] && table[kind]);  //  tg_config checked
    return table[kind];
}

void
worker_pcall_init(worker_pcall_t *p, const worker_provider_ops_t *ops, const tg_frame_t *job)
{
    assert(p);
    assert(ops);
    assert(job);
    memset(p, 0, sizeof *p);
    const char *route = job->job.route ? job->job.route : "";
    bool messages = strcmp(route, "messages") == 0;
    p->ops = messages && ops->messages ? ops->messages : ops;
    p->job = job;
    p->stream = (messages || strcmp(route, "chat") == 0) && job->job.stream;
}

char *
worker_pcall_error_line(const worker_pcall_t *p, int status, const char *body)
{
    assert(p);
    assert(body);
    if (!p->job || !p->job->job.route || strcmp(p->job->job.route, "messages") != 0)
        return tg_strfmt("data: %s\n\n", body);
    char *a = tg_error_anthropic(status, body, strlen(body));
    char *line = tg_strfmt("event: error\ndata: %s\n\n", a);
    free(a);
    return line;
}

void
worker_pcall_fini(worker_pcall_t *p)
{
    assert(p);
    if (p->body_owned)
        free(p->body);
    p->body = NULL;
    p->body_owned = false;
    if (p->ops)
        p->ops->fini(p);
}

bool
worker_provider_retryable(int status)
{
    return status == 408 || status == 409 || status == 429 || status >= 500;
}

void
worker_provider_error(int status, const char *body, size_t len, worker_upstream_error_t *e)
{
    assert(e);
    json_t *doc = worker_messages_error_to_openai(status, body, len);
    const char *type = json_string_value(json_object_get(json_object_get(doc, "error"), "type"));
    snprintf(e->type, sizeof e->type, "%s", type && *type ? type : "upstream_error");
    e->body = json_dumps(doc, JSON_COMPACT);
    if (!e->body)
        e->body = tg_error_body(status, NULL, NULL, NULL, NULL);
    e->retryable = worker_provider_retryable(status);
    json_decref(doc);
}

int
worker_pcall_take_body(worker_pcall_t *p, json_t *doc, char **err_p)
{
    p->body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!p->body) {
        *err_p = tg_strdup("the request cannot be encoded for the upstream");
        return TG_INVALID;
    }
    p->body_len = strlen(p->body);
    p->body_owned = true;
    return TG_OK;
}

int
worker_pcall_translated(worker_pcall_t *p, int rc)
{
    if (rc == TG_OK)
        return TG_OK;
    if (rc == TG_ERR) {
        p->fail_line = true;
        p->fail_code = "upstream_error";
        p->fail_msg = "upstream stream reported an error";
    } else {
        p->fail_code = "bad_response";
        p->fail_msg = "upstream sent a stream event that cannot be translated";
    }
    return TG_ERR;
}
