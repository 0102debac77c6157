//  worker_int.h - the provider-worker's internals, shared by its files only.
//
//  worker.c        sockets, jobs, cancels, LOAD reports, answers to ingest, usage, drain
//  worker_curl.c   libcurl multi on the libevent loop, attempts, timeouts, retries
//
//  worker_openai.c, worker_anthropic.c  one table of operations per provider kind
//                  (worker_provider.h): pure functions over the call's worker_pcall_t
//  worker_messages.c  OpenAI <-> Anthropic Messages translation (JSON in, JSON out)
//  worker_sse.c    SSE parser              worker_usage.c  usage objects read
//
//  Layers: worker.c -> worker_curl.c -> provider tables -> messages, sse, usage. Calls go
//  down only. worker_curl.c moves bytes, knows no provider kind, and reaches up only
//  through the worker_curl_hooks_t that worker.c hands to worker_curl_start; a table
//  answers through return values and pc.fail_*. worker.c also uses a table directly: it
//  builds URLs and headers from its data (s_provs_build) and runs prepare (s_start).
#ifndef WORKER_INT_H
#define WORKER_INT_H

#include "worker.h"

#include <curl/curl.h>
#include <czmq.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "tg_config.h"
#include "tg_evzmq.h"
#include "tg_frame.h"
#include "tg_metrics.h"
#include "tg_outbox.h"
#include "tg_peers.h"
#include "tg_stats.h"
#include "tg_util.h"
#include "worker_policy.h"
#include "worker_provider.h"
#include "worker_sse.h"

#define WORKER_SSE_EVENT_MAX (1u << 20)    //  one upstream SSE event, bytes
#define WORKER_ERROR_BODY_MAX (64u << 10)  //  upstream error body kept (rest dropped)
#define WORKER_ATTEMPT_MIN_US 50000        //  an attempt needs this long before the deadline
#define WORKER_BACKOFF_CAP_US 30000000     //  exponential backoff never waits longer
#define WORKER_POOL_MAX 1024               //  idle easy handles kept for reuse

//  One provider as the worker calls it: URLs and headers built once from its kind's table.
typedef struct {
    const tg_provider_t *cfg;          //  borrowed from the config
    const worker_provider_ops_t *ops;  //  its kind's table of operations
    char *url_chat;                    //  base_url + ops->chat_path
    char *url_embed;                   //  base_url + ops->embed_path (NULL: none)
    struct curl_slist *headers;        //  auth + content type; holds the API key, never logged
    struct curl_slist *headers_gz;     //  the same + Content-Encoding: gzip
    int64_t connect_ms;                //  connect timeout (provider block, else upstream.*)
    int64_t first_byte_us;             //  request sent -> first byte
    int64_t idle_us;                   //  longest gap between upstream bytes
    int64_t total_us;                  //  one attempt, start to end (0 = none)
    int max_retries;                   //  retries per call
    bool gzip;                         //  gzip request bodies of upstream.gzip_min_bytes or more
    worker_budget_t *budget;           //  retries this provider may still get (owned)
} worker_prov_t;

//  Where a call stands. Retries are possible only before STREAMING.
typedef enum {
    WORKER_CALL_WAIT,       //  backing off before the next attempt
    WORKER_CALL_ACTIVE,     //  attempt in flight, nothing sent to the client yet
    WORKER_CALL_STREAMING,  //  HEAD sent: no retry, failures go in-band (CHUNK + END)
} worker_call_state_t;

typedef struct worker_call worker_call_t;
typedef struct worker_sock worker_sock_t;
typedef struct worker_joiner worker_joiner_t;

//  What a transfer tells the call's owner (worker.c), the only way worker_curl.c reaches up.
//  Called from libcurl callbacks or the loop; the last five end the call (each frees c).
typedef struct {
    //  The first bytes of a 2xx event stream came; c->state is STREAMING: send HEAD.
    void (*head)(worker_call_t *c);
    //  Sends c->out as one CHUNK if it holds anything. TG_OK, or TG_ERR when the client's
    //  ingest cannot take it (the transfer then stops).
    int (*flush)(worker_call_t *c);
    //  One upstream attempt failed (llm_provider_errors_total).
    void (*count_error)(worker_call_t *c);
    //  Another attempt is scheduled (tollgate_provider_retries_total).
    void (*count_retry)(worker_call_t *c);
    //  A whole answer: REPLY with `status` and the JSON in *body_p (taken).
    void (*reply)(worker_call_t *c, int status, char **body_p, size_t len);
    //  A stream ended cleanly: the last CHUNK, END{0}.
    void (*end)(worker_call_t *c);
    //  A failure the transfer describes (as worker_call_fail, message made).
    void (*fail)(worker_call_t *c, int status, const char *type, const char *code, const char *msg);
    //  A failure with the client's OpenAI error body (*body_p taken, from the provider's
    //  map_error); `code` is the usage event's error, retry_after_s goes to the REPLY.
    void (*fail_body)(
        worker_call_t *c, int status, const char *code, char **body_p, uint64_t retry_after_s);
    //  Nothing more can be sent (the client's ingest is unreachable): usage and metrics only.
    void (*finish)(worker_call_t *c, int status, const char *error);
} worker_curl_hooks_t;

//  A socket libcurl asked us to watch.
struct worker_sock {
    struct event *ev;     //  persistent read/write event on the fd
    worker_t *w;          //  owning worker
    worker_sock_t *prev;  //  list of live sockets (freed at shutdown if curl forgets)
    worker_sock_t *next;  //  next in that list
};

//  One JOB from its arrival to its usage event.
struct worker_call {
    worker_t *w;                     //  owning worker
    worker_call_t *prev;             //  older call in w's list
    worker_call_t *next;             //  newer call in w's list
    tg_frame_t *job;                 //  the JOB frame (id, reply_to, body ...), owned
    const worker_prov_t *prov;       //  provider called
    worker_call_state_t state;       //  see above
    bool indexed;                    //  registered under job id in w->calls
    bool started;                    //  holds one of the max_in_flight upstream slots
    void *queued;                    //  handle in w->backlog while waiting for a slot (else NULL)
    const worker_curl_hooks_t *cbs;  //  where the transfer reports (set by worker_curl_start)
    CURL *easy;                      //  from the pool while the call lives (NULL before)
    bool attached;                   //  easy is in the multi handle
    struct event *timer;             //  backoff wait, or first-byte / idle deadline
    const char *url;                 //  upstream URL (borrowed from prov)
    int retries;                     //  retries made so far
    long status;                     //  upstream HTTP status of this attempt (0 = unknown)
    bool got_bytes;                  //  body bytes arrived in this attempt
    bool sse;                        //  this attempt is passed on as an event stream
    uint64_t rx_bytes;               //  body bytes of this attempt
    tg_buf_t resp;                   //  buffered body (non-stream answer or error body)
    worker_sse_t *parser;            //  upstream event parser (stream attempts)
    tg_buf_t out;                    //  SSE text waiting to go to the client as one CHUNK
    tg_buf_t fill;                   //  a cacheable stream's bytes so far, for the FILL
    bool fill_off;                   //  the answer outgrew cache.max_entry_bytes
    worker_joiner_t *joiners;        //  coalesced calls sharing this answer (worker_join.c)
    uint64_t seq;                    //  next CHUNK sequence number
    bool err_line_sent;              //  an SSE error line already went to the client
    int64_t t0_us;                   //  epoch µs the request entered the gateway
    int64_t arrived_mono;            //  monotonic µs the JOB reached this worker
    int64_t start_mono;              //  monotonic µs of the first attempt
    int64_t attempt_mono;            //  monotonic µs this attempt started
    int64_t last_rx_mono;            //  monotonic µs of the last upstream bytes
    int64_t ttft_us;                 //  t0 -> first CHUNK forwarded (0 = none yet)
    int abort_status;                //  set inside a curl callback: fail with this status
    const char *abort_code;          //  static error code of that failure
    char *abort_msg;                 //  its message (owned)
    char errbuf[CURL_ERROR_SIZE];    //  libcurl's text for the last error
    char retry_after[72];            //  Retry-After header of this attempt ("" = none)
    int64_t deadline_mono;           //  monotonic µs the call must be over by (0 = none)
    char *gz;                        //  gzip of pc.body when sent compressed (owned), else NULL
    size_t gz_len;                   //  bytes in gz
    uint64_t content_chars;          //  streamed content characters (usage estimate)
    int retries_prev;                //  retries made at targets tried before this one
    int hops;                        //  fallback targets moved to so far (worker_chain.c)
    int noutcomes;                   //  attempt outcomes reported so far
    worker_pcall_t pc;               //  provider side: ops, request body, stream, usage
};

//  The worker (opaque in worker.h).
struct worker {
    const tg_config_t *cfg;    //  borrowed
    struct event_base *base;   //  loop, borrowed (set by attach)
    zsock_t *jobs;             //  DEALER to endpoints.jobs: JOB, CANCEL in; LOAD out
    zsock_t *inbox;            //  PULL bound at endpoints.worker (ACKs)
    char *inbox_ep;            //  the inbox's address as others reach it (reply_to)
    tg_evzmq_t *jobs_rd;       //  jobs reader
    tg_evzmq_t *inbox_rd;      //  inbox reader
    tg_buf_t done;             //  ids of finished calls not yet reported, one a line
    size_t ndone;              //  ids in done
    tg_buf_t outs;             //  attempt outcomes not yet reported (worker_chain.c)
    struct event *done_ev;     //  flushes done soon after its first id
    uint64_t lat_us;           //  EWMA of call time in the worker, µs
    int64_t drain_said_mono;   //  monotonic µs the router was told we drain (0 = not yet)
    tg_peers_t *peers;         //  PUSH sockets to reply_to endpoints
    tg_outbox_t *outbox;       //  USAGE, at least once
    tg_stats_t *stats;         //  STATS publisher
    tg_metrics_t *metrics;     //  our counters
    char *jobs_labels;         //  worker="<instance id>" of tollgate_worker_jobs_total; owned
    struct event *tick;        //  200 ms: outbox resend, stats, drain check
    int64_t last_stats_mono;   //  monotonic µs of the last STATS frame
    CURLM *multi;              //  the one multi handle (connection pool)
    struct event *curl_timer;  //  libcurl's requested timeout
    worker_sock_t *socks;      //  sockets being watched for libcurl
    CURL **pool;               //  idle easy handles
    size_t npool;              //  entries in pool
    zhashx_t *calls;           //  job id -> worker_call_t (borrowed)
    zhashx_t *joined;          //  joiner job id -> worker_joiner_t (owned by its leader)
    worker_call_t *head;       //  oldest live call (the list owns the calls)
    worker_call_t *tail;       //  newest live call
    size_t in_flight;          //  live calls, waiting ones included
    size_t active;             //  calls holding an upstream slot
    size_t max_in_flight;      //  upstream.max_in_flight: slots
    size_t max_entry;          //  cache.max_entry_bytes: larger answers are not cached
    zlistx_t *backlog;         //  calls read from the socket while every slot was taken
    struct event *kick_ev;     //  deferred start of backlog calls
    worker_prov_t *provs;      //  one per configured provider
    size_t nprovs;             //  entries in provs
    int64_t retry_base_us;     //  upstream.retry_base_ms in µs
    int64_t ra_max_us;         //  upstream.retry_after_max_ms in µs
    uint64_t deadline_ms;      //  upstream.deadline_ms (0 = none)
    size_t gzip_min;           //  upstream.gzip_min_bytes
    size_t max_response;       //  upstream.max_response_bytes
    bool draining;             //  SIGTERM seen: no new jobs
    int64_t drain_deadline;    //  monotonic µs when remaining calls are cut
};

//  worker.c ------------------------------------------------------------------------------
//  For worker.c's own handlers (jobs, cancels, drain); worker_curl.c uses its hooks instead.
//  Fails the call: before HEAD a REPLY with an OpenAI error, after it an SSE error line and
//  END{status}. `code` is static ("upstream_timeout" ...), also the usage error. Finishes it.
void worker_call_fail(
    worker_call_t *c, int status, const char *type, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
//  Records usage and metrics and frees the call, sending nothing to the client (it left,
//  or cannot be reached). The transfer must be stopped already.
void worker_call_finish(worker_call_t *c, int status, const char *error);

//  Reports call `id` finished to the router with the next LOAD.
void worker_done_add(worker_t *self, const char *id);

//  Starts (or, after a fallback, restarts) the call's upstream transfer at its JOB's provider.
void worker_call_start(worker_call_t *c);

//  worker_chain.c ------------------------------------------------------------------------
//  Fallbacks and outcomes (spec P3, P4).
//  Before the client hears of a failure: true if the call moved to the next target of its
//  JOB's `alts` (the failure is absorbed; the caller sends nothing), false to fail it.
bool worker_chain_next(worker_call_t *c, int status, const char *code);
//  Whether a call failed with `status` and error `code` may go to its next target: 408, 409,
//  429, 5xx, but not deadline_exceeded or worker_shutdown.
bool worker_chain_fails_over(int status, const char *code);
//  The outcome kind of a failed attempt: 'n' for the request's fault (a 4xx other than
//  408/409/429 from the upstream), else 'f' (the target's: counts against its breaker).
char worker_outcome_kind(long status, bool aborted);
//  Notes the outcome of the attempt that just ended ('o' success, 'f' failure; a failure
//  that is the request's fault becomes 'n') for the next LOAD.
void worker_outcome_add(worker_call_t *c, char kind);
//  The outcome list's buffer: set up, freed, and taken for a LOAD (NULL when empty; caller
//  frees).
void worker_outcome_init(worker_t *w);
void worker_outcome_fini(worker_t *w);
char *worker_outcome_take(worker_t *w);

//  worker_join.c -------------------------------------------------------------------------
//  Coalesced calls (spec C3). worker.c calls these at each step of a leader's answer.
//  Takes a JOB whose `join` names a shareable call in flight here: true (the JOB is taken,
//  *job_p = NULL; a stream joiner gets the chunks so far at once), or false (run it alone).
bool worker_join_attach(worker_t *w, tg_frame_t **job_p);
//  The leader's HEAD went out: stream joiners get theirs.
void worker_join_head(worker_call_t *c);
//  The leader's client got `len` bytes of SSE: stream joiners get them too.
void worker_join_chunk(worker_call_t *c, const char *data, size_t len);
//  The leader's whole answer (any status): each joiner gets it in its form and is finished.
void worker_join_reply(worker_call_t *c, int status, const char *body, size_t len, uint64_t retry);
//  The leader's stream ended: 0 = clean, else `status` after the SSE error line `err`.
void worker_join_end(worker_call_t *c, int status, const char *err);
//  The leader is finishing: joiners still attached get 502.
void worker_join_finish(worker_call_t *c);
//  CANCEL for a joiner: detached and finished (499). False when `id` is no joiner.
bool worker_join_cancel(worker_t *w, const char *id);

//  worker_curl.c -------------------------------------------------------------------------
//  Creates the multi handle and its timer on w->base. TG_ERR if libcurl refuses.
int worker_curl_init(worker_t *w);
//  Removes what is left and frees the multi handle and pooled easy handles.
void worker_curl_fini(worker_t *w);
//  Starts the call's first attempt (c->pc prepared, c->url set); from then on the transfer
//  reports through hooks (static, outlives the call).
void worker_curl_start(worker_call_t *c, const worker_curl_hooks_t *hooks);
//  Stops the call's transfer or pending retry (no callback follows); keeps the easy handle.
void worker_curl_stop(worker_call_t *c);
//  Returns the call's easy handle to the pool and frees its timer and gzip body.
void worker_curl_release(worker_call_t *c);
//  Sets p's call policy (timeouts, retries, gzip, budget) from its config block over the
//  upstream.* defaults, and its gzip headers (after p->headers is built).
void worker_curl_prov_init(worker_t *w, worker_prov_t *p);
//  Frees what worker_curl_prov_init made. Idempotent.
void worker_curl_prov_fini(worker_prov_t *p);

#endif
