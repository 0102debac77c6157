//  mock_plan.h - tg-mock fault plan: [[mock:...]] directives and /_mock/script steps.
#ifndef MOCK_PLAN_H
#define MOCK_PLAN_H

#include <jansson.h>
#include <stdbool.h>

#define MOCK_KEY_MAX 64  //  bytes for a fail_times key, NUL included

typedef struct {
    long status;             //  HTTP status to answer with; 0 = the normal answer
    long latency_ms;         //  delay before the response headers
    long chunk_delay_ms;     //  delay between stream chunks
    long reset_after;        //  reset the TCP connection after this many content chunks; -1 = never
    long words;              //  reply with exactly this many words; -1 = natural length
    long retry_after;        //  Retry-After header in seconds; -1 = none
    long fail_times;         //  only the first N requests carrying `key` fail; -1 = all
    bool garbage;            //  answer 200 with a body that is neither JSON nor SSE
    bool hang;               //  never answer; wait for the client to go away
    char key[MOCK_KEY_MAX];  //  fail_times counter key; "" = derived from the message text
    json_t *step;            //  script step the fields below borrow from (owned reference)
    const char *body;        //  raw body to send instead of a generated one; NULL = none
    json_t *chunks;          //  raw stream chunks, array of strings (borrowed from step)
    json_t *headers;         //  extra response headers, object of strings (borrowed from step)
    const char *content_type;  //  Content-Type for body or chunks; NULL = chosen by the mock
} mock_plan_t;

//  Sets every field to "no fault".
void mock_plan_init(mock_plan_t *self);
//  Drops the step reference; the plan may be reused after mock_plan_init.
void mock_plan_fini(mock_plan_t *self);
//  Adds every [[mock:name=value,...]] directive found in text (NULL = none). Returns TG_OK, or
//  TG_INVALID with a message in err for an unknown name, a bad value or an unterminated directive.
int mock_plan_parse(mock_plan_t *self, const char *text, char *err, size_t errlen);
//  Returns a copy of text with every directive removed. Caller frees.
char *mock_plan_strip(const char *text);
//  Checks one /_mock/script step: TG_OK, or TG_INVALID with a message in err.
int mock_plan_check_step(json_t *step, char *err, size_t errlen);
//  Overlays a checked step on the plan (its fields win); takes ownership of the reference.
void mock_plan_apply_step(mock_plan_t *self, json_t **step_p);
//  Resolves fail_times: counts this request under its key in counters (text is what the key
//  defaults to) and clears the failure modes once the key has failed fail_times times.
//  TG_INVALID with a message in err if counters already holds max_keys keys.
int mock_plan_settle(mock_plan_t *self,
                     json_t *counters,
                     size_t max_keys,
                     const char *text,
                     char *err,
                     size_t errlen);

#endif
