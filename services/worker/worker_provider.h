//  worker_provider.h - what differs between upstream APIs, as one table of operations per
//  provider kind (like curl's struct Curl_handler). The transfer engine (worker_curl.c) moves
//  bytes and calls through the table without knowing which kind it drives; each kind is one
//  small file (worker_openai.c, worker_anthropic.c) of pure functions over one call's
//  provider state. No I/O and no clock here: the time is passed in.
#ifndef WORKER_PROVIDER_H
#define WORKER_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_config.h"
#include "tg_frame.h"
#include "tg_util.h"
#include "worker_ingress.h"
#include "worker_messages.h"
#include "worker_usage.h"

typedef struct worker_provider_ops worker_provider_ops_t;

//  One call as its provider kind sees it, embedded in the call. worker_pcall_init sets the
//  first three members; the ops own the rest.
typedef struct {
    const worker_provider_ops_t *ops;  //  the call's provider kind (NULL: never prepared)
    const tg_frame_t *job;             //  the JOB: id, model, asked, route, body (borrowed)
    bool stream;                       //  the client asked for SSE (chat and messages)
    char *body;                        //  upstream request body: the job's, or ours (body_owned)
    size_t body_len;                   //  bytes in body
    bool body_owned;                   //  body is ours to free
    worker_usage_t usage;              //  tokens as the upstream reported them
    const char *fail_code;             //  why on_event or finish refused: static code ...
    const char *fail_msg;              //  ... and static text (see those ops)
    bool fail_line;                    //  on_event left the client's SSE error line in out
    union {
        struct {
            bool strip_usage;  //  we added include_usage: hide its traces from the client
            bool done;         //  `data: [DONE]` seen
        } openai;
        struct {
            worker_messages_stream_t *stream;  //  Messages events -> chunks (stream calls)
        } anthropic;
        struct {
            worker_ingress_stream_t *stream;  //  chunks -> Messages events (stream calls)
        } openai_msg;
        struct {
            bool done;             //  message_stop seen
            bool seen;             //  a usage object was read
            uint64_t in;           //  input_tokens (not cached)
            uint64_t out;          //  output_tokens, cumulative
            uint64_t cache_read;   //  cache_read_input_tokens
            uint64_t cache_write;  //  cache_creation_input_tokens
        } anthropic_msg;
    } u;  //  the kind's own state, freed by its fini
} worker_pcall_t;

//  An upstream error answer (status >= 400) as the client gets it.
typedef struct {
    char *body;      //  OpenAI error JSON for the client (owned by whoever holds the struct)
    char type[64];   //  its error.type ("rate_limit_error" ...), also the usage event's error
    bool retryable;  //  another attempt may succeed (408, 409, 429, 5xx)
} worker_upstream_error_t;

struct worker_provider_ops {
    const char *name;          //  kind name, for logs and tests
    const char *chat_path;     //  appended to the provider's base_url: the chat endpoint
    const char *embed_path;    //  the embeddings endpoint; NULL when the kind has none
    const char *auth_prefix;   //  header line the API key completes ("x-api-key: ")
    const char *fixed_header;  //  one more header line sent on every call, or NULL
    //  The same kind for calls that came in as Anthropic Messages (route "messages"): same
    //  endpoint and headers, the client's format on the other side. NULL in those tables.
    const worker_provider_ops_t *messages;

    //  Builds the upstream request body from p->job into p->body / body_len / body_owned
    //  (the job's bytes themselves when nothing has to change). TG_OK, or TG_INVALID with
    //  *err_p (caller frees): the client's request cannot be sent (answered 400).
    int (*prepare)(worker_pcall_t *p, char **err_p);
    //  The first bytes of a 2xx event stream arrived; now_s is the chunks' `created`.
    void (*stream_begin)(worker_pcall_t *p, int64_t now_s);
    //  One upstream SSE event (as worker_sse gives it): appends the client's SSE text to out
    //  (all of an event or none). TG_OK, or TG_ERR with p->fail_code / fail_msg set: the
    //  stream must stop (502), and when p->fail_line, out ends with the client's error line.
    int (*on_event)(
        worker_pcall_t *p, const char *event, const char *data, size_t len, tg_buf_t *out);
    //  The upstream stream ended (EOF). Settles p->usage; true when the stream carried its
    //  end marker ([DONE], message_stop), false when it was cut.
    bool (*stream_end)(worker_pcall_t *p);
    //  A whole 2xx body in resp: the client's JSON answer in *body_p / *len_p (caller frees;
    //  resp's own buffer, taken, when it passes unchanged) and p->usage. TG_OK, or
    //  TG_INVALID with p->fail_code / fail_msg ("a body that is not ...") and resp untouched.
    int (*finish)(worker_pcall_t *p, tg_buf_t *resp, int64_t now_s, char **body_p, size_t *len_p);
    //  An upstream error answer (status >= 400, body as received, possibly empty or cut)
    //  into *e. Never fails.
    void (*map_error)(const worker_pcall_t *p,
                      int status,
                      const char *body,
                      size_t len,
                      worker_upstream_error_t *e);
    //  Frees what the kind keeps in p->u. NULL-safe members, idempotent.
    void (*fini)(worker_pcall_t *p);
};

extern const worker_provider_ops_t worker_openai_ops;     //  OpenAI-compatible pass-through
extern const worker_provider_ops_t worker_anthropic_ops;  //  Anthropic Messages translation
//  Route "messages" (worker_pcall_init picks them through .messages):
extern const worker_provider_ops_t worker_openai_msg_ops;     //  Messages <-> chat translation
extern const worker_provider_ops_t worker_anthropic_msg_ops;  //  Messages pass-through

//  The table of a configured provider kind (never NULL for a kind tg_config accepts).
const worker_provider_ops_t *worker_provider_ops(tg_provider_kind_t kind);

//  Zeroes *p and binds it to ops (ops->messages for a "messages" job) and the job (borrowed;
//  must outlive p). The call streams when the job is a chat or messages call with stream set.
void worker_pcall_init(worker_pcall_t *p, const worker_provider_ops_t *ops, const tg_frame_t *job);
//  Frees what p holds (its own body, the kind's state). NULL-safe, idempotent.
void worker_pcall_fini(worker_pcall_t *p);

//  The SSE error line that ends the client's stream, in the client's format: `data: <body>`
//  (chat), or `event: error` with the Anthropic error object (messages). body is an error
//  object in either form. Caller frees.
char *worker_pcall_error_line(const worker_pcall_t *p, int status, const char *body);

//  Helpers the kinds share -------------------------------------------------------------
//  True when an upstream status is worth another attempt (408, 409, 429, 5xx).
bool worker_provider_retryable(int status);
//  Any error body (Anthropic's, OpenAI's, other, empty) through worker_messages' mapping into
//  *e: an OpenAI envelope, its type, retryable by status.
void worker_provider_error(int status, const char *body, size_t len, worker_upstream_error_t *e);
//  Makes `doc` (taken: decref'd) the call's upstream body, compact JSON. TG_OK, or
//  TG_INVALID with *err_p (owned) when it cannot be encoded.
int worker_pcall_take_body(worker_pcall_t *p, json_t *doc, char **err_p);
//  A stream translator's result for one event: TG_OK passes; TG_ERR (the upstream reported
//  an error, whose error line ends out) and anything else (not translatable) set p's fail
//  fields and give TG_ERR.
int worker_pcall_translated(worker_pcall_t *p, int rc);

#endif
