//  mock_plan.c - tg-mock fault plan: [[mock:...]] directives and /_mock/script steps.
#include "mock_plan.h"
#include "tg_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define MOCK_DIRECTIVE_OPEN "[[mock:"
#define MOCK_DIRECTIVE_CLOSE "]]"

typedef enum {
    F_INT,      //  long within [min, max]
    F_BOOL,     //  bool; a directive without "=value" means true
    F_KEY,      //  fail_times key: [A-Za-z0-9_.:-], 1..MOCK_KEY_MAX-1 bytes
    F_STR,      //  const char * borrowed from the step (script only)
    F_CHUNKS,   //  array of strings (script only)
    F_HEADERS,  //  object of strings (script only)
} s_kind_t;

typedef struct {
    const char *name;  //  directive and step field name
    s_kind_t kind;     //  value type
    long min, max;     //  bounds for F_INT
    size_t offset;     //  member of mock_plan_t
    bool step_only;    //  only in /_mock/script steps, not in directives
} s_field_t;

#define S_INT(name, lo, hi)                                      \
    {                                                            \
#name, F_INT, lo, hi, offsetof(mock_plan_t, name), false \
    }
#define S_BOOL(name)                                            \
    {                                                           \
#name, F_BOOL, 0, 1, offsetof(mock_plan_t, name), false \
    }
#define S_STEP(name, kind)                                   \
    {                                                        \
#name, kind, 0, 0, offsetof(mock_plan_t, name), true \
    }

static const s_field_t s_fields[] = {
    S_INT(status, 100, 599),
    S_INT(latency_ms, 0, 600000),
    S_INT(chunk_delay_ms, 0, 60000),
    S_INT(reset_after, 0, 1000000),
    S_INT(words, 0, 200000),
    S_INT(retry_after, 0, 86400),
    S_INT(fail_times, 0, 1000000),
    S_BOOL(garbage),
    S_BOOL(hang),
    {"key", F_KEY, 0, 0, offsetof(mock_plan_t, key), false},
    S_STEP(body, F_STR),
    S_STEP(content_type, F_STR),
    S_STEP(chunks, F_CHUNKS),
    S_STEP(headers, F_HEADERS),
};
#define S_NFIELDS (sizeof s_fields / sizeof s_fields[0])

static const s_field_t *
s_field(const char *name, size_t len)
{
    for (size_t i = 0; i < S_NFIELDS; i++)
        if (strlen(s_fields[i].name) == len && memcmp(s_fields[i].name, name, len) == 0)
            return &s_fields[i];
    return NULL;
}

static bool
s_key_ok(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n >= MOCK_KEY_MAX)
        return false;
    for (const char *p = key; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
              || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

void
mock_plan_init(mock_plan_t *self)
{
    memset(self, 0, sizeof *self);
    self->reset_after = -1;
    self->words = -1;
    self->retry_after = -1;
    self->fail_times = -1;
}

void
mock_plan_fini(mock_plan_t *self)
{
    json_decref(self->step);
    self->step = NULL;
}

//  Sets one directive item "name" or "name=value" (not NUL-terminated).
static int
s_set_directive(mock_plan_t *self, const char *item, size_t len, char *err, size_t errlen)
{
    const char *eq = memchr(item, '=', len);
    size_t name_len = eq ? (size_t)(eq - item) : len;
    const s_field_t *f = s_field(item, name_len);
    if (!f || f->step_only) {
        snprintf(err, errlen, "unknown mock directive '%.*s'", (int)(name_len > 40 ? 40 : name_len),
                 item);
        return TG_INVALID;
    }
    char value[MOCK_KEY_MAX] = "";
    if (eq) {
        size_t vlen = len - name_len - 1;
        if (vlen >= sizeof value) {
            snprintf(err, errlen, "mock directive '%s': value too long", f->name);
            return TG_INVALID;
        }
        memcpy(value, eq + 1, vlen);
        value[vlen] = '\0';
    }
    char *member = (char *)self + f->offset;
    switch (f->kind) {
    case F_INT: {
        char *end = NULL;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (!eq || !*value || *end || errno || v < f->min || v > f->max) {
            snprintf(err, errlen, "mock directive '%s' needs an integer in [%ld, %ld]", f->name,
                     f->min, f->max);
            return TG_INVALID;
        }
        *(long *)member = v;
        return TG_OK;
    }
    case F_BOOL:
        if (!eq || strcmp(value, "1") == 0 || strcmp(value, "true") == 0)
            *(bool *)member = true;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0)
            *(bool *)member = false;
        else {
            snprintf(err, errlen, "mock directive '%s' takes no value, 1/true or 0/false", f->name);
            return TG_INVALID;
        }
        return TG_OK;
    case F_KEY:
        if (!s_key_ok(value)) {
            snprintf(err, errlen, "mock directive 'key' needs 1-%d characters of [A-Za-z0-9_.:-]",
                     MOCK_KEY_MAX - 1);
            return TG_INVALID;
        }
        memcpy(member, value, strlen(value) + 1);
        return TG_OK;
    default:
        break;
    }
    return TG_INVALID;  //  step-only kinds were rejected above
}

int
mock_plan_parse(mock_plan_t *self, const char *text, char *err, size_t errlen)
{
    const size_t open_len = strlen(MOCK_DIRECTIVE_OPEN);
    const char *p = text;
    while (p && (p = strstr(p, MOCK_DIRECTIVE_OPEN)) != NULL) {
        const char *start = p + open_len;
        const char *end = strstr(start, MOCK_DIRECTIVE_CLOSE);
        if (!end) {
            snprintf(err, errlen, "unterminated [[mock:...]] directive");
            return TG_INVALID;
        }
        //  Items are separated by commas, semicolons or blanks: [[mock:status=503,retry_after=2]]
        const char *q = start;
        while (q < end) {
            while (q < end && strchr(",; \t\r\n", *q))
                q++;
            const char *item_end = q;
            while (item_end < end && !strchr(",; \t\r\n", *item_end))
                item_end++;
            if (item_end > q && s_set_directive(self, q, item_end - q, err, errlen) != TG_OK)
                return TG_INVALID;
            q = item_end;
        }
        p = end + strlen(MOCK_DIRECTIVE_CLOSE);
    }
    return TG_OK;
}

char *
mock_plan_strip(const char *text)
{
    if (!text)
        return tg_strdup("");
    size_t len = strlen(text);
    tg_buf_t out;
    tg_buf_init(&out, len + 1);
    const char *p = text;
    const char *d;
    while ((d = strstr(p, MOCK_DIRECTIVE_OPEN)) != NULL) {
        const char *end = strstr(d, MOCK_DIRECTIVE_CLOSE);
        if (!end)
            break;
        tg_buf_append(&out, p, d - p);
        p = end + strlen(MOCK_DIRECTIVE_CLOSE);
    }
    tg_buf_puts(&out, p);
    return tg_buf_take(&out, NULL);
}

int
mock_plan_check_step(json_t *step, char *err, size_t errlen)
{
    if (!json_is_object(step)) {
        snprintf(err, errlen, "each script step must be a JSON object");
        return TG_INVALID;
    }
    const char *name;
    json_t *value;
    json_object_foreach(step, name, value)
    {
        const s_field_t *f = s_field(name, strlen(name));
        if (!f) {
            snprintf(err, errlen, "unknown script step field '%.40s'", name);
            return TG_INVALID;
        }
        if (json_is_null(value))
            continue;
        bool ok = false;
        switch (f->kind) {
        case F_INT:
            ok = json_is_integer(value) && json_integer_value(value) >= f->min
                 && json_integer_value(value) <= f->max;
            break;
        case F_BOOL:
            ok = json_is_boolean(value);
            break;
        case F_KEY:
            ok = json_is_string(value) && s_key_ok(json_string_value(value));
            break;
        case F_STR:
            ok = json_is_string(value);
            break;
        case F_CHUNKS: {
            ok = json_is_array(value) && json_array_size(value) > 0;
            size_t i;
            json_t *chunk;
            json_array_foreach(value, i, chunk) ok = ok && json_is_string(chunk);
            break;
        }
        case F_HEADERS: {
            ok = json_is_object(value);
            const char *hname;
            json_t *hvalue;
            json_object_foreach(value, hname, hvalue)
            {
                ok = ok && *hname && json_is_string(hvalue) && !strpbrk(hname, "\r\n:")
                     && !strpbrk(json_string_value(hvalue), "\r\n");
            }
            break;
        }
        }
        if (!ok) {
            if (f->kind == F_INT)
                snprintf(err, errlen, "script step field '%s' needs an integer in [%ld, %ld]",
                         f->name, f->min, f->max);
            else
                snprintf(err, errlen, "script step field '%s' has the wrong type", f->name);
            return TG_INVALID;
        }
    }
    return TG_OK;
}

void
mock_plan_apply_step(mock_plan_t *self, json_t **step_p)
{
    json_t *step = *step_p;
    *step_p = NULL;
    json_decref(self->step);
    self->step = step;
    const char *name;
    json_t *value;
    json_object_foreach(step, name, value)
    {
        const s_field_t *f = s_field(name, strlen(name));
        if (!f || json_is_null(value))
            continue;
        char *member = (char *)self + f->offset;
        switch (f->kind) {
        case F_INT:
            *(long *)member = (long)json_integer_value(value);
            break;
        case F_BOOL:
            *(bool *)member = json_is_true(value);
            break;
        case F_KEY:
            snprintf(member, MOCK_KEY_MAX, "%s", json_string_value(value));
            break;
        case F_STR:
            *(const char **)member = json_string_value(value);
            break;
        case F_CHUNKS:
        case F_HEADERS:
            *(json_t **)member = value;
            break;
        }
    }
}

int
mock_plan_settle(mock_plan_t *self,
                 json_t *counters,
                 size_t max_keys,
                 const char *text,
                 char *err,
                 size_t errlen)
{
    if (self->fail_times < 0)
        return TG_OK;
    if (!self->key[0]) {
        const char *t = text ? text : "";
        snprintf(self->key, sizeof self->key, "text-%016" PRIx64, (uint64_t)XXH64(t, strlen(t), 0));
    }
    json_t *count = json_object_get(counters, self->key);
    if (!count) {
        if (json_object_size(counters) >= max_keys) {
            snprintf(err, errlen, "too many fail_times keys (%zu); POST /_mock/reset", max_keys);
            return TG_INVALID;
        }
        count = json_integer(0);
        json_object_set_new(counters, self->key, count);
    }
    json_int_t seen = json_integer_value(count) + 1;
    json_integer_set(count, seen);
    if (seen > self->fail_times) {
        //  This key has failed often enough: answer normally (delays and length still apply).
        self->status = 0;
        self->retry_after = -1;
        self->reset_after = -1;
        self->garbage = false;
        self->hang = false;
        self->body = NULL;
        self->chunks = NULL;
    } else if (!self->status && !self->garbage && !self->hang && self->reset_after < 0
               && !self->body && !self->chunks)
        self->status = 500;
    return TG_OK;
}
