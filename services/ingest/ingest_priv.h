//  ingest_priv.h - the ingest core's state and the functions its files share.
#ifndef INGEST_PRIV_H
#define INGEST_PRIV_H

#include <czmq.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdbool.h>

#include "ingest.h"
#include "tg_cache.h"
#include "tg_cache_key.h"
#include "tg_evzmq.h"
#include "tg_frame.h"
#include "tg_keystore.h"
#include "tg_metrics.h"
#include "tg_metrics_agg.h"
#include "tg_outbox.h"
#include "tg_stats.h"
#include "tg_trace.h"
#include "tg_util.h"

#define INGEST_RID_MAX 128              //  longest x-request-id echoed back
#define INGEST_AGENT_MAX 128            //  longest x-agent-id accepted
#define INGEST_IDLE_TIMEOUT_S 60        //  keep-alive idle / read / write timeout of a connection
#define INGEST_WATCH_READ_CAP 65536     //  bytes buffered from a client while its answer is due
#define INGEST_TICK_MS 100              //  deadline check period
#define INGEST_READY_WINDOW_US 3000000  //  a peer counts as ready this long after its STATS

typedef enum {
    INGEST_CHAT,        //  POST /v1/chat/completions -> router
    INGEST_EMBEDDINGS,  //  POST /v1/embeddings -> router
    INGEST_MESSAGES,    //  POST /v1/messages (Anthropic format) -> router
    INGEST_QUERY,       //  GET API answered by router, analytics or alert
} ingest_kind_t;

typedef enum {
    INGEST_WAITING,    //  sent; nothing came back yet
    INGEST_STREAMING,  //  HEAD came: SSE chunks are being relayed
} ingest_state_t;

//  Peers whose ready STATS /readyz requires.
enum {
    INGEST_PEER_ROUTER,
    INGEST_PEER_WORKER,
    INGEST_PEER_ANALYTICS,
    INGEST_PEER_ALERT,
    INGEST_PEERS
};
//  Their process kinds, as STATS frames name them ("router", ...).
extern const char *const ingest_peer_names[INGEST_PEERS];

//  The router as this ingest sees it: which of our calls it has taken, whether it lives.
typedef struct {
    char inst[64];         //  router instance last heard from ("" = none yet)
    int64_t heard_us;      //  monotonic µs of its last STATS or MARK
    uint64_t seq;          //  last seq given to a frame sent to the router
    uint64_t mark;         //  every call with seq <= mark is out of the router's hands
    bool lost;             //  silent too long: router calls are refused until it is back
    bool changing;         //  a new instance appeared; waiting for its first MARK
    int64_t changed_us;    //  monotonic µs it appeared
    uint64_t seq_changed;  //  our seq then: calls up to it went to the old instance
    int64_t timeout_us;    //  ingest.router_timeout_ms in µs
} ingest_router_t;

//  The response cache as ingest reads it (ingest_cache.c).
typedef struct {
    bool enabled;           //  cache.enabled
    double min_quality;     //  cache.min_quality
    char *dir;              //  the map's directory (owned)
    tg_cache_t *store;      //  read-only; NULL until the router has created it
    int64_t retry_us;       //  monotonic µs of the next open attempt
    tg_outbox_t *outbox;    //  usage events of hits, to analytics
    tg_buf_t hits;          //  hit notices for the router, "<key> <agent>" lines
    size_t nhits;           //  lines in hits
    struct event *hits_ev;  //  sends them S_HITS_DELAY_US after the first
} ingest_cache_t;

//  Virtual keys as ingest reads them (ingest_auth.c).
typedef struct {
    char *dir;                         //  the key store's directory (owned)
    tg_keystore_t *store;              //  read-only; NULL until the router created it
    int64_t retry_us;                  //  monotonic µs of the next open attempt
    uint8_t secret[TG_KEYREC_SECRET];  //  the hash key (wiped on fini)
    tg_tiers_t tiers;                  //  the tiers' limits from the config
} ingest_auth_t;

//  Who made the current request.
typedef struct {
    bool master;                    //  the master key
    char id[TG_KEYREC_ID_LEN + 8];  //  "master" or the virtual key's id
    const tg_keyrec_t *rec;         //  the virtual key's record (NULL for master); borrowed
                                    //  from the key store until the next check
    uint64_t limits[TG_LIM_N];      //  its effective limits (0 = none; all 0 for master)
} ingest_who_t;

#define INGEST_USER_MAX 128  //  longest end-user id kept (x-tollgate-user-id, body "user")
#define INGEST_ENV_MAX 64    //  longest x-tollgate-environment accepted

//  A call's context for its usage event (spec A2, A4): end user, environment, trace.
typedef struct {
    char user[INGEST_USER_MAX + 1];    //  x-tollgate-user-id, else the body's "user" ("" = none)
    char env[INGEST_ENV_MAX + 1];      //  x-tollgate-environment, else the configured default
    char trace[TG_TRACE_ID_MAX + 1];   //  trace id ("" = the call is not part of a trace)
    char parent[TG_TRACE_ID_MAX + 1];  //  parent span id ("" = a root)
} ingest_ctx_t;

//  What a hit needs to know of its request.
typedef struct {
    const char *id;     //  call id (the usage event's request id)
    const char *rid;    //  x-request-id
    const char *route;  //  "chat" | "embeddings"
    const char *key;    //  API key id
    const char *agent;  //  agent label ("none")
    const char *cls;    //  model "auto": the prompt's class, else NULL
    bool stream;        //  SSE wanted
    bool usage;         //  stream_options.include_usage

    const char *org;          //  the key's organization (NULL: master key)
    const ingest_ctx_t *ctx;  //  user, environment, trace
} ingest_cache_hit_t;

//  Clients of GET /v1/alerts/stream (ingest_sse.c), fed from the alert PUB stream.
typedef struct ingest_sse_client ingest_sse_client_t;
typedef struct {
    zsock_t *sub;                  //  SUB on endpoints.alert_stream, "alert."
    tg_evzmq_t *reader;            //  sub on the loop
    struct event *ping;            //  1 s check: slow clients dropped, a ping every 15 s
    uint64_t ticks;                //  checks made
    ingest_sse_client_t *clients;  //  open streams
    size_t n;                      //  entries in clients
    size_t cap;                    //  ingest.sse_buffer_bytes: unsent bytes a client may owe
} ingest_sse_t;

//  One client call waiting for its answer.
typedef struct ingest_call {
    ingest_t *owner;                   //  the ingest it belongs to
    char id[48];                       //  internal frame id (unique per call)
    char rid[INGEST_RID_MAX + 1];      //  x-request-id sent back to the client
    struct evhttp_request *req;        //  the client's request, owned by libevent while attached
    struct evhttp_connection *evcon;   //  its connection, watched for close
    ingest_kind_t kind;                //  what was asked
    ingest_state_t state;              //  where the answer is
    char agent[INGEST_AGENT_MAX + 1];  //  agent label ("none" if no x-agent-id)
    char *provider;                    //  from HEAD (streams); owned, NULL until then
    char *model;                       //  from HEAD (streams); owned, NULL until then
    int64_t t0_us;                     //  monotonic µs when the request was complete
    int64_t deadline_us;               //  monotonic µs when the call times out
    uint64_t seq;                      //  its seq toward the router (0 = not a router call)
    const char *cls;                   //  model "auto": prompt class (static name), else NULL
    struct ingest_call *prev, *next;   //  deadline list, earliest first
} ingest_call_t;

struct ingest {
    const tg_config_t *cfg;             //  borrowed
    struct event_base *base;            //  borrowed
    struct evhttp *http;                //  the HTTP server
    struct evhttp_bound_socket *bound;  //  its listener (NULL once draining)
    struct evconnlistener *listener;    //  the same, as libevent's listener (owned by bound)
    char http_addr[80];                 //  "host:port" bound
    char *master_key;                   //  accepted bearer key; owned, wiped on destroy
    char *inbox_ep;                     //  the inbox's address as others reach it (reply_to)
    int64_t timeout_us;                 //  http.timeout_ms in µs
    size_t max_body;                    //  http.max_body_bytes
    zsock_t *inbox;                     //  PULL: REPLY, HEAD, CHUNK, END
    zsock_t *router;                    //  PUSH: REQUEST, QUERY
    zsock_t *analytics;                 //  PUSH: QUERY
    zsock_t *alert;                     //  PUSH: QUERY
    zsock_t *bus;                       //  SUB "sta" on bus_out
    tg_stats_t *stats;                  //  PUB on bus_in: STATS and CANCEL
    tg_evzmq_t *inbox_reader;           //  inbox on the loop
    tg_evzmq_t *bus_reader;             //  bus on the loop
    struct event *tick;                 //  deadlines, drain check
    struct event *stats_tick;           //  STATS every stats.interval_ms
    struct event *reaper;               //  frees detached requests after their callback
    tg_metrics_t *metrics;              //  this process's series
    tg_metrics_agg_t *agg;              //  every process's series, for GET /metrics
    int64_t ready_us[INGEST_PEERS];     //  epoch µs of the last ready STATS of each peer
    zhashx_t *calls;                    //  id -> ingest_call_t (owned)
    ingest_router_t router_state;       //  what we know of the router (ingest_router.c)
    ingest_cache_t cache;               //  the response cache, read-only (ingest_cache.c)
    char *dashboard_dir;                //  the dashboard's files (owned; NULL: not installed)
    ingest_auth_t auth;                 //  virtual keys, read-only (ingest_auth.c)
    const ingest_who_t *who;            //  caller of the route handler running now, else NULL
    ingest_call_t *first, *last;        //  deadline list
    struct evbuffer *chunk;             //  reused to hand SSE chunks to libevent
    struct evhttp_request **dead;       //  detached requests to free from the reaper
    size_t ndead, dead_cap;             //  entries used / allocated in dead
    char id_prefix[16];                 //  random per process: call ids are prefix + counter
    uint64_t seq;                       //  call counter
    size_t writing;                     //  final answers handed to libevent, not yet written
    bool draining;                      //  SIGTERM seen: refuse new work
    struct event *drain_timer;          //  grace period end
    void (*drain_done)(void *);         //  called once drained
    void *drain_arg;                    //  its argument
    ingest_sse_t sse;                   //  alert stream clients (ingest_sse.c)
};

//  ingest_http.c
//  Creates the evhttp server on the listener bound to http.host:http.port. TG_OK or TG_ERR.
int ingest_http_start(ingest_t *self);
//  Stops accepting new connections.
void ingest_http_stop_accepting(ingest_t *self);
//  Accepts again if running out of descriptors paused the listener (called every tick).
void ingest_http_resume_accepting(ingest_t *self);
//  Sends a complete answer (body taken: *body_p = NULL) with the usual headers and counts
//  it. ctype NULL = application/json. An error (status >= 400) to POST /v1/messages is sent
//  as an Anthropic error object (tg_error_anthropic), whoever made it.
void ingest_http_send(ingest_t *self,
                      struct evhttp_request *req,
                      const char *rid,
                      int status,
                      const char *ctype,
                      char **body_p,
                      size_t len);
//  Sends an OpenAI error object with `status`; param and code may be NULL. (Every error
//  answer on /v1/messages leaves in Anthropic's form: see ingest_http_send.)
void ingest_http_error(ingest_t *self,
                       struct evhttp_request *req,
                       const char *rid,
                       int status,
                       const char *message,
                       const char *param,
                       const char *code);
//  Starts an SSE answer (text/event-stream, chunked) with the usual headers.
void ingest_http_stream_start(
    ingest_t *self, struct evhttp_request *req, const char *rid, int status, const char *provider);
//  The SSE line that ends a stream with an error of this kind (body: an OpenAI error
//  object): `data: <body>`, or on /v1/messages an Anthropic `error` event. Caller frees.
char *ingest_http_error_line(ingest_kind_t kind, int status, const char *body);
//  Ends an SSE answer; the request goes back to libevent.
void ingest_http_stream_end(ingest_t *self, struct evhttp_request *req);
//  Copies at most n bytes of a client string into out[n + 1], non-printable bytes as '?'.
void ingest_http_printable(const char *s, char *out, size_t n);
//  True if s is 1..max bytes, each between lo and '~'.
bool ingest_http_token_valid(const char *s, size_t max, char lo);
//  Copies the client's x-request-id into out[INGEST_RID_MAX + 1] if it is one we echo
//  (1..128 printable ASCII characters). False (out untouched) otherwise.
bool ingest_http_client_rid(struct evhttp_request *req, char *out);
//  Adds the headers every answer carries (x-request-id; Connection: close while draining).
void ingest_http_common_headers(ingest_t *self, struct evhttp_request *req, const char *rid);

//  ingest_routes.c
//  evhttp's handler for every request: route, auth, then the route's work.
void ingest_routes_dispatch(struct evhttp_request *req, void *arg);

//  ingest_call.c
//  Registers a call sent under `id` for req (its connection is watched from now on); `seq`
//  is its seq toward the router (0 = sent elsewhere).
ingest_call_t *ingest_call_add(ingest_t *self,
                               struct evhttp_request *req,
                               ingest_kind_t kind,
                               const char *id,
                               const char *rid,
                               const char *agent,
                               int64_t t0_us,
                               uint64_t seq);
//  Handles one frame from the inbox (REPLY, HEAD, CHUNK, END).
void ingest_call_on_frame(tg_frame_t **frame_p, void *arg);
//  Answers 503 to every router call still waiting for its first byte whose seq is in
//  (lo, hi]: the router that had it is gone.
void ingest_call_fail_router(ingest_t *self, uint64_t lo, uint64_t hi);
//  Sends CANCEL for call `id` to the router, which passes it to the worker holding it.
void ingest_call_cancel(ingest_t *self, const char *id);
//  Times out calls whose deadline passed at `now_us` (monotonic).
void ingest_call_expire(ingest_t *self, int64_t now_us);
//  Frees requests left by clients that went away.
void ingest_call_reap(ingest_t *self);
//  Forgets every call (destroy): their requests belong to libevent or the reaper.
void ingest_call_forget_all(ingest_t *self);
//  Counts a finished LLM call in llm_requests_total (and duration/overhead when it reached
//  a provider). provider/model/cache NULL = "none"; up_us < 0 = not forwarded.
void ingest_count_llm(ingest_t *self,
                      const char *agent,
                      const char *provider,
                      const char *model,
                      const char *cache,
                      int64_t t0_us,
                      int64_t up_us);
//  ingest_router.c
//  Starts the router state (no router heard yet).
void ingest_router_init(ingest_t *self);
//  True while the router is lost: new router calls are answered 503 at once.
bool ingest_router_down(const ingest_t *self);
//  The seq for the next frame sent to the router.
uint64_t ingest_router_next_seq(ingest_t *self);
//  The router `inst` is alive (a STATS heartbeat: mark NULL, or a MARK to us).
void ingest_router_heard(ingest_t *self, const char *inst, const tg_fr_mark_t *mark);
//  Declares the router lost after ingest.router_timeout_ms of silence, and settles a router
//  change whose new instance never marked our calls. `now_us` is monotonic.
void ingest_router_check(ingest_t *self, int64_t now_us);

//  ingest_cache.c
//  Sets up the cache reader (the map is opened when the router has created it) and the
//  outbox of hit usage events. TG_OK or TG_ERR.
int ingest_cache_init(ingest_t *self);
//  Flushes hit notices and frees the cache state. Safe after a failed init.
void ingest_cache_fini(ingest_t *self);
//  Every tick: opens the map once it exists; resends unacknowledged usage events.
void ingest_cache_tick(ingest_t *self, int64_t now_us);
//  An ACK from analytics for hit usage events.
void ingest_cache_on_ack(ingest_t *self, const tg_frame_t *ack);
//  Answers the request from the cache if the plan allows it and a servable entry is there:
//  true when answered (headers, body, metrics, usage event, hit notice all done).
bool ingest_cache_serve(ingest_t *self,
                        struct evhttp_request *req,
                        const ingest_cache_hit_t *hit,
                        const tg_cache_plan_t *plan,
                        int64_t t0_us);

//  ingest_dashboard.c
//  Where the dashboard's files are (owned), or NULL when they are not installed.
char *ingest_dashboard_dir(void);
//  Answers GET /dashboard... with a file of the dashboard (or 301 / 404).
void ingest_dashboard_serve(ingest_t *self,
                            struct evhttp_request *req,
                            const char *rid,
                            const char *path);
//  ingest_sse.c
//  Subscribes to the alert stream. TG_OK or TG_ERR.
int ingest_sse_init(ingest_t *self);
//  Frees the SSE state (connections belong to evhttp). Safe after a failed init.
void ingest_sse_fini(ingest_t *self);
//  GET /v1/alerts/stream: starts an SSE answer and adds the client.
void ingest_sse_open(ingest_t *self, struct evhttp_request *req, const char *rid);
//  Ends every stream (drain).
void ingest_sse_close_all(ingest_t *self);
//  ingest_auth.c
//  Reads the key secret; the key store is opened when the router has created it.
int ingest_auth_init(ingest_t *self);
//  Closes the store and wipes the secret. Safe after a failed init.
void ingest_auth_fini(ingest_t *self);
//  Authenticates the request's Bearer key: true and *who (valid until the next check) for the
//  master key or a live virtual key; else false after answering 401 (missing, wrong, revoked,
//  expired) or 403 (a virtual key on an `admin` route). The key is never logged or echoed.
bool ingest_auth_check(
    ingest_t *self, struct evhttp_request *req, const char *rid, bool admin, ingest_who_t *who);
//  Adds the x-ratelimit-* headers from a REPLY/HEAD `rl` field (NULL: none).
void ingest_auth_rl_headers(struct evkeyvalq *h, const char *rl);

//  Called when no call is in flight: finishes a drain if one is under way.
void ingest_drain_check(ingest_t *self);

#endif
