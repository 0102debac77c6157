//  worker_policy.c - Retry-After parsing, retry budgets, deadlines (pure arithmetic).
#include "worker_policy.h"

#include "tg_util.h"

#include <assert.h>
#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct worker_budget {
    int percent;                             //  retries allowed as % of the window's calls
    int min_per_s;                           //  retries always allowed per second
    int64_t sec[WORKER_BUDGET_WINDOW_S];     //  the second each slot counts (-1 = unused)
    uint64_t calls[WORKER_BUDGET_WINDOW_S];  //  first attempts started in that second
    uint64_t tries[WORKER_BUDGET_WINDOW_S];  //  retries started in that second
};

int64_t
worker_policy_retry_after_us(const char *value, int64_t now_s)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0
           && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r'
               || value[n - 1] == '\n'))
        n--;
    if (n == 0 || n > 64)
        return -1;
    char text[65];
    memcpy(text, value, n);
    text[n] = 0;
    if (isdigit((unsigned char)text[0])) {
        int64_t s = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)text[i]))
                return -1;                 //  "1.5", "10s": not delta-seconds
            if (s < INT64_MAX / 10000000)  //  saturate far beyond any cap
                s = s * 10 + (text[i] - '0');
        }
        return s * 1000000;
    }
    //  An HTTP-date starts with a day name; curl_getdate parses all three RFC 7231 forms
    //  without reading the clock (the second argument is unused for absolute dates).
    if (!isalpha((unsigned char)text[0]))
        return -1;
    time_t t = curl_getdate(text, NULL);
    if (t == (time_t)-1)
        return -1;
    int64_t wait = (int64_t)t - now_s;
    return wait > 0 ? wait * 1000000 : 0;
}

worker_budget_t *
worker_budget_new(int percent, int min_per_s)
{
    worker_budget_t *self = tg_zalloc(sizeof *self);
    self->percent = percent < 0 ? 0 : percent;
    self->min_per_s = min_per_s < 0 ? 0 : min_per_s;
    for (int i = 0; i < WORKER_BUDGET_WINDOW_S; i++)
        self->sec[i] = -1;
    return self;
}

void
worker_budget_destroy(worker_budget_t **self_p)
{
    assert(self_p);
    free(*self_p);
    *self_p = NULL;
}

//  The slot of second `s`, emptied when it last counted an older second.
static int
s_slot(worker_budget_t *self, int64_t s)
{
    int i = (int)(s % WORKER_BUDGET_WINDOW_S);
    if (self->sec[i] != s) {
        self->sec[i] = s;
        self->calls[i] = self->tries[i] = 0;
    }
    return i;
}

static void
s_sums(const worker_budget_t *self, int64_t s, uint64_t *calls, uint64_t *tries)
{
    *calls = *tries = 0;
    for (int i = 0; i < WORKER_BUDGET_WINDOW_S; i++)
        if (self->sec[i] >= 0 && self->sec[i] > s - WORKER_BUDGET_WINDOW_S && self->sec[i] <= s) {
            *calls += self->calls[i];
            *tries += self->tries[i];
        }
}

void
worker_budget_call(worker_budget_t *self, int64_t now_us)
{
    assert(self);
    int64_t s = now_us / 1000000;
    self->calls[s_slot(self, s)]++;
}

uint64_t
worker_budget_allowed(const worker_budget_t *self, int64_t now_us)
{
    assert(self);
    uint64_t calls, tries;
    s_sums(self, now_us / 1000000, &calls, &tries);
    uint64_t floor = (uint64_t)self->min_per_s * WORKER_BUDGET_WINDOW_S;
    uint64_t share = calls * (uint64_t)self->percent / 100;
    return share > floor ? share : floor;
}

bool
worker_budget_take(worker_budget_t *self, int64_t now_us)
{
    assert(self);
    int64_t s = now_us / 1000000;
    uint64_t calls, tries;
    s_sums(self, s, &calls, &tries);
    if (tries >= worker_budget_allowed(self, now_us))
        return false;
    self->tries[s_slot(self, s)]++;
    return true;
}

int64_t
worker_policy_deadline_mono(int64_t t0_us,
                            uint64_t deadline_ms,
                            int64_t now_epoch_us,
                            int64_t now_mono_us)
{
    if (deadline_ms == 0)
        return 0;
    int64_t at = t0_us + (int64_t)deadline_ms * 1000;  //  epoch µs
    int64_t v = now_mono_us + (at - now_epoch_us);
    return v > 0 ? v : 1;  //  0 means "none"
}

//  Length of the JSON string whose body starts at p (after its opening quote).
static uint64_t
s_string_chars(const char *p, const char *end)
{
    uint64_t n = 0;
    while (p < end && *p != '"') {
        if (*p == '\\') {
            p++;
            if (p < end && *p == 'u')
                p += 4;
        } else if (((unsigned char)*p & 0xC0) == 0x80) {
            p++;  //  UTF-8 continuation byte: part of the character already counted
            continue;
        }
        p++;
        n++;
    }
    return n;
}

uint64_t
worker_policy_content_chars(const char *data, size_t len)
{
    static const char *const keys[] = {"\"content\"", "\"text\""};
    const char *end = data + len;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        size_t kl = strlen(keys[k]);
        const char *at = memmem(data, len, keys[k], kl);
        if (!at)
            continue;
        const char *p = at + kl;
        while (p < end && (*p == ' ' || *p == ':'))
            p++;
        if (p < end && *p == '"')
            return s_string_chars(p + 1, end);
    }
    return 0;
}
