//  alert_rule.h - one alert rule (spec L2): parsed from JSON, matched against usage events,
//  evaluated over a sliding window of samples. Pure: time is passed in.
#ifndef ALERT_RULE_H
#define ALERT_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_frame.h"

#define ALERT_RULE_ID_MAX 40           //  "rule_" + 24 hex digits, NUL included, with room
#define ALERT_RULE_CHANNELS_MAX 8      //  channels per rule
#define ALERT_RULE_WINDOW_MAX 2592000  //  window_s: 30 days at most
#define ALERT_WINDOW_SAMPLES_MAX 4096  //  percentile samples kept per rule: the most recent

typedef enum {
    ALERT_COND_COUNT,       //  matching events in the window
    ALERT_COND_SUM,         //  sum of the metric
    ALERT_COND_AVG,         //  mean of the metric (no event: no value)
    ALERT_COND_RATE,        //  matching events per second (count / window_s)
    ALERT_COND_PERCENTILE,  //  nearest-rank percentile of the metric (no event: no value)
} alert_cond_t;

typedef enum {
    ALERT_CMP_GT,
    ALERT_CMP_GE,
    ALERT_CMP_LT,
    ALERT_CMP_LE,
    ALERT_CMP_EQ,
    ALERT_CMP_NE
} alert_cmp_t;

typedef enum { ALERT_CHAN_STREAM, ALERT_CHAN_WEBHOOK, ALERT_CHAN_EMAIL } alert_chan_kind_t;

typedef struct {
    alert_chan_kind_t kind;  //  stream (always on), webhook or email
    char *target;            //  webhook URL, or the email address; owned (NULL for stream)
    char *secret;            //  webhook HMAC key overriding alert.webhook_secret; owned or NULL
} alert_chan_t;

typedef struct {
    char id[ALERT_RULE_ID_MAX];  //  rule id
    char *name;                  //  label (owned)
    char *event;                 //  "request" | "error" | "cache_hit" | "cache_miss" | "spend"
    char *metric;                //  "latency_ms" | "ttft_ms" | "tokens_in" | "tokens_out" |
                                 //  "tokens" | "cost_usd"; spend: "day_usd" | "month_usd";
                                 //  NULL for count and rate (owned)
    alert_cond_t cond;           //  condition
    double percentile;           //  0 < p <= 100, for ALERT_COND_PERCENTILE
    alert_cmp_t cmp;             //  comparator
    double threshold;            //  compared with the condition's value
    int64_t window_s;            //  sliding window, seconds
    int64_t cooldown_s;          //  silence after firing; at least window_s ("once per window")
    char *severity;              //  "info" | "warning" | "critical" (owned)
    char *org;                   //  organization the rule belongs to ("global"); topic suffix
    char *model, *provider, *agent, *key;        //  filters on the event, NULL = any (owned)
    alert_chan_t chan[ALERT_RULE_CHANNELS_MAX];  //  delivery channels
    size_t nchan;                                //  entries used in chan
    bool enabled;                                //  evaluated at all
    int64_t created_us;                          //  epoch µs
    int64_t fired_us;  //  epoch µs of the last firing (0 = never): the cool-down
} alert_rule_t;

//  Parses and validates a rule object. TG_OK and *rule_p (caller destroys); TG_INVALID with
//  *msg_p and *param_p (the first bad field's name, or NULL; caller frees both).
//  `id` (may be NULL: a "rule_..." id is drawn) and created_us are set by the caller's
//  store, never from the body; fired_us is read back from stored rules only when `stored`.
int alert_rule_parse(
    const char *json, size_t len, bool stored, alert_rule_t **rule_p, char **msg_p, char **param_p);
//  Frees the rule; *self_p = NULL. NULL-safe.
void alert_rule_destroy(alert_rule_t **self_p);
//  The rule as a JSON object. With secrets, as the store keeps it; without, as the API shows
//  it (a channel's secret becomes "secret_set": true). Caller frees.
char *alert_rule_json(const alert_rule_t *self, bool secrets);
//  True if the usage event counts for the rule (event type and filters).
bool alert_rule_match(const alert_rule_t *self, const tg_fr_usage_t *u);
//  A spend rule (event "spend"): true with its metric (day_usd or month_usd) of the SPEND
//  in *value_p. False for other rules or a SPEND with a non-finite total.
bool alert_rule_spend_value(const alert_rule_t *self, const tg_fr_spend_t *sp, double *value_p);
//  The rule's metric of the event (1 for count and rate).
double alert_rule_value(const alert_rule_t *self, const tg_fr_usage_t *u);
//  True if `value` passes the comparator against the threshold.
bool alert_rule_compare(alert_cmp_t cmp, double value, double threshold);
//  Comparator as written in rules (">", ">=", ...).
const char *alert_cmp_name(alert_cmp_t cmp);
//  Condition as written in rules ("count", ...).
const char *alert_cond_name(alert_cond_t cond);

//  One rule's window: count and sum per time bucket (window_s / 10 .. 1024 buckets of at
//  least 100 ms), exact at any rate in bounded memory; for percentile rules also the most
//  recent ALERT_WINDOW_SAMPLES_MAX values. A sample leaves the window when its bucket does
//  (up to one bucket width early).
typedef struct alert_window alert_window_t;

//  An empty window of window_s seconds (with samples kept when `samples`), watched since
//  `since_us` (a "<" rule on count cannot fire before one full window was watched).
alert_window_t *alert_window_new(int64_t window_s, bool samples, int64_t since_us);
//  Frees the window; *self_p = NULL. NULL-safe.
void alert_window_destroy(alert_window_t **self_p);
//  Adds a sample at ts_us (one older than the window's buckets is dropped).
void alert_window_add(alert_window_t *self, int64_t ts_us, double value);
//  Samples in the window at the last evaluation.
uint64_t alert_window_size(const alert_window_t *self);

//  Evaluates the rule over its window at now_us (samples older than window_s are pruned
//  first). True when the condition holds, the rule is enabled and out of its cool-down;
//  *value_p gets the condition's value (also when false; NAN when it has none).
bool alert_rule_eval(const alert_rule_t *self, alert_window_t *w, int64_t now_us, double *value_p);

#endif
