//  tg_jsonw.c - streaming JSON writer over a capped buffer.
#include "tg_jsonw.h"
#include "tg_util.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_DEPTH 32  //  deepest nesting written

struct tg_jsonw {
    tg_buf_t buf;           //  the text so far
    char stack[S_DEPTH];    //  open containers: '{' or '['
    size_t count[S_DEPTH];  //  values written in each open container
    int depth;              //  open containers
    int top;                //  values written at the top level (0 or 1)
    bool failed;            //  misuse or cap reached
};

tg_jsonw_t *
tg_jsonw_new(size_t limit)
{
    tg_jsonw_t *self = tg_zalloc(sizeof *self);
    tg_buf_init(&self->buf, limit);
    return self;
}

void
tg_jsonw_destroy(tg_jsonw_t **self_p)
{
    assert(self_p);
    tg_jsonw_t *self = *self_p;
    if (!self)
        return;
    tg_buf_fini(&self->buf);
    free(self);
    *self_p = NULL;
}

static void
s_put(tg_jsonw_t *self, const char *s, size_t n)
{
    if (!self->failed && tg_buf_append(&self->buf, s, n) != TG_OK)
        self->failed = true;
}

//  Writes s as a JSON string, escaped by jansson; bytes that are not UTF-8 become '?'.
static void
s_string(tg_jsonw_t *self, const char *s)
{
    json_t *j = json_string(s);
    if (!j) {
        char *copy = tg_strdup(s);
        for (char *p = copy; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        j = json_string(copy);
        free(copy);
    }
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!text) {
        self->failed = true;
        return;
    }
    s_put(self, text, strlen(text));
    free(text);
}

//  Writes the key (if any) and separator before a value; false (and failed) on misuse.
static bool
s_before(tg_jsonw_t *self, const char *key)
{
    if (self->failed)
        return false;
    bool in_obj = self->depth > 0 && self->stack[self->depth - 1] == '{';
    if ((key != NULL) != in_obj || (self->depth == 0 && self->top > 0)) {
        self->failed = true;
        return false;
    }
    if (self->depth == 0) {
        self->top++;
        return true;
    }
    if (self->count[self->depth - 1]++ > 0)
        s_put(self, ",", 1);
    if (key) {
        s_string(self, key);
        s_put(self, ":", 1);
    }
    return !self->failed;
}

static void
s_open(tg_jsonw_t *self, const char *key, char c)
{
    if (!s_before(self, key))
        return;
    if (self->depth == S_DEPTH) {
        self->failed = true;
        return;
    }
    self->stack[self->depth] = c;
    self->count[self->depth] = 0;
    self->depth++;
    s_put(self, &c, 1);
}

void
tg_jsonw_object(tg_jsonw_t *self, const char *key)
{
    s_open(self, key, '{');
}

void
tg_jsonw_array(tg_jsonw_t *self, const char *key)
{
    s_open(self, key, '[');
}

void
tg_jsonw_end(tg_jsonw_t *self)
{
    if (self->failed)
        return;
    if (self->depth == 0) {
        self->failed = true;
        return;
    }
    char c = self->stack[--self->depth] == '{' ? '}' : ']';
    s_put(self, &c, 1);
}

void
tg_jsonw_str(tg_jsonw_t *self, const char *key, const char *value)
{
    if (!s_before(self, key))
        return;
    if (!value) {
        s_put(self, "null", 4);
        return;
    }
    s_string(self, value);
}

void
tg_jsonw_int(tg_jsonw_t *self, const char *key, int64_t value)
{
    if (!s_before(self, key))
        return;
    char num[32];
    int n = snprintf(num, sizeof num, "%" PRId64, value);
    s_put(self, num, (size_t)n);
}

void
tg_jsonw_uint(tg_jsonw_t *self, const char *key, uint64_t value)
{
    if (!s_before(self, key))
        return;
    char num[32];
    int n = snprintf(num, sizeof num, "%" PRIu64, value);
    s_put(self, num, (size_t)n);
}

void
tg_jsonw_fixed(tg_jsonw_t *self, const char *key, double value, int decimals)
{
    if (!s_before(self, key))
        return;
    if (!isfinite(value) || fabs(value) >= 1e18) {
        s_put(self, "null", 4);
        return;
    }
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    char num[64];
    int n = snprintf(num, sizeof num, "%.*f", decimals, value);
    //  "-0.000000" is valid JSON but reads oddly for money: print it unsigned.
    if (num[0] == '-' && strspn(num + 1, "0.") == (size_t)(n - 1))
        s_put(self, num + 1, (size_t)(n - 1));
    else
        s_put(self, num, (size_t)n);
}

void
tg_jsonw_bool(tg_jsonw_t *self, const char *key, bool value)
{
    if (!s_before(self, key))
        return;
    s_put(self, value ? "true" : "false", value ? 4 : 5);
}

void
tg_jsonw_raw(tg_jsonw_t *self, const char *key, const char *json)
{
    if (!s_before(self, key))
        return;
    if (!json || !*json)
        s_put(self, "null", 4);
    else
        s_put(self, json, strlen(json));
}

char *
tg_jsonw_take(tg_jsonw_t *self, size_t *len_p)
{
    bool ok = !self->failed && self->depth == 0 && self->top == 1;
    size_t len = 0;
    char *text = tg_buf_take(&self->buf, &len);
    self->failed = false;
    self->depth = 0;
    self->top = 0;
    if (!ok) {
        free(text);
        return NULL;
    }
    if (len_p)
        *len_p = len;
    return text;
}
