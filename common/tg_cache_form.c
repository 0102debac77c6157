//  tg_cache_form.c - a cached chat answer in the form the client asks for: chat.completion
//  JSON <-> chat.completion.chunk SSE, and a stored stream with or without its usage chunk.
#include "tg_cache_form.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tg_util.h"

//  Reals with 15 significant digits (DBL_DIG): any number a provider wrote with at most 15
//  digits (logprobs) comes out as it went in; jansson's default 17 turns -0.1 into
//  -0.10000000000000001.
#define S_DUMP (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
#define S_LOAD JSON_ALLOW_NUL  //  content may hold \u0000; lengths are used throughout
#define S_MAX_CHOICES 128      //  distinct choice indexes in one stream (OpenAI caps n at 128)
#define S_MAX_TOOLS 1024       //  distinct tool call indexes in one choice

//  ---------------------------------------------------------------------------------------
//  Reading a stored stream, one event at a time

//  One event of a stream: where its bytes are and what its data says. Lines may end in
//  \n, \r\n or \r; comment lines and fields other than data are skipped (an event: name
//  does not change how the data is read, as in the worker).
typedef struct {
    size_t start;      //  offset of the event's first line in the stream
    size_t end;        //  offset past the blank line that ends it, or the stream's length
    bool ended;        //  a blank line ended it (false: the stream stops inside it)
    size_t lines;      //  data lines in it (0: comments or a stray blank line only)
    const char *data;  //  its data: in the stream for one line, else joined.data
    size_t data_len;   //  bytes of data
    tg_buf_t joined;   //  several data lines joined by \n
} s_event_t;

static void
s_event_init(s_event_t *ev, size_t len)
{
    memset(ev, 0, sizeof *ev);
    tg_buf_init(&ev->joined, len);  //  data never exceeds the stream it comes from
}

static void
s_event_fini(s_event_t *ev)
{
    tg_buf_fini(&ev->joined);
}

//  Length of the line at pos; *next_p is set past its end of line.
static size_t
s_line(const char *s, size_t len, size_t pos, size_t *next_p)
{
    const char *p = s + pos;
    size_t left = len - pos;
    const char *nl = memchr(p, '\n', left);
    size_t n = nl ? (size_t)(nl - p) : left;
    const char *cr = memchr(p, '\r', n);
    if (cr) {
        n = (size_t)(cr - p);
        *next_p = pos + n + (n + 1 < left && cr[1] == '\n' ? 2 : 1);
    } else
        *next_p = nl ? pos + n + 1 : len;
    return n;
}

//  Reads the event at *pos_p (a UTF-8 BOM at offset 0 is skipped) into ev and moves *pos_p
//  past it. False at the end of the stream.
static bool
s_next_event(const char *s, size_t len, size_t *pos_p, s_event_t *ev)
{
    size_t pos = *pos_p;
    if (pos >= len)
        return false;
    ev->start = pos;
    ev->ended = false;
    ev->lines = 0;
    ev->data = NULL;
    ev->data_len = 0;
    tg_buf_reset(&ev->joined);
    if (pos == 0 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    while (pos < len) {
        size_t next;
        size_t n = s_line(s, len, pos, &next);
        const char *l = s + pos;
        pos = next;
        if (n == 0) {
            ev->ended = true;
            break;
        }
        if (n < 4 || memcmp(l, "data", 4) != 0 || (n > 4 && l[4] != ':'))
            continue;  //  a comment, or a field nothing here uses
        const char *v = l + (n > 4 ? 5 : 4);
        size_t vlen = n - (size_t)(v - l);
        if (vlen && *v == ' ') {
            v++;
            vlen--;
        }
        if (ev->lines == 0) {
            ev->data = v;
            ev->data_len = vlen;
        } else {
            if (ev->lines == 1)
                tg_buf_append(&ev->joined, ev->data, ev->data_len);
            tg_buf_append(&ev->joined, "\n", 1);
            tg_buf_append(&ev->joined, v, vlen);
            ev->data = ev->joined.data;
            ev->data_len = ev->joined.len;
        }
        ev->lines++;
    }
    ev->end = pos;
    *pos_p = pos;
    return true;
}

static bool
s_is_done(const s_event_t *ev)
{
    return ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0;
}

static bool
s_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

//  True when data looks like one JSON object (a cheap check, no parse).
static bool
s_looks_like_object(const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && s_space(data[i]))
        i++;
    while (len > i && s_space(data[len - 1]))
        len--;
    return len - i >= 2 && data[i] == '{' && data[len - 1] == '}';
}

//  ---------------------------------------------------------------------------------------
//  Shared JSON helpers

//  A token count as JSON (clamped to what JSON integers hold here).
static json_t *
s_count(uint64_t n)
{
    return json_integer(n > INT64_MAX ? INT64_MAX : (json_int_t)n);
}

static json_t *
s_usage_from_tokens(uint64_t tok_in, uint64_t tok_out)
{
    uint64_t total = tok_in + tok_out < tok_in ? UINT64_MAX : tok_in + tok_out;
    json_t *u = json_object();
    json_object_set_new(u, "prompt_tokens", s_count(tok_in));
    json_object_set_new(u, "completion_tokens", s_count(tok_out));
    json_object_set_new(u, "total_tokens", s_count(total));
    return u;
}

//  Copies key from src to dst when src has it.
static void
s_copy_key(json_t *dst, const json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (v)
        json_object_set(dst, key, v);
}

//  A new chunk with the top-level members of `from` (a completion or a chunk), in the order
//  OpenAI writes them.
static json_t *
s_chunk_head(const json_t *from)
{
    json_t *c = json_object();
    s_copy_key(c, from, "id");
    json_object_set_new(c, "object", json_string("chat.completion.chunk"));
    s_copy_key(c, from, "created");
    s_copy_key(c, from, "model");
    s_copy_key(c, from, "service_tier");
    s_copy_key(c, from, "system_fingerprint");
    return c;
}

//  Appends "data: <compact json>\n\n" to out. Takes obj.
static int
s_emit(json_t *obj, tg_buf_t *out)
{
    char *s = json_dumps(obj, S_DUMP);
    json_decref(obj);
    if (!s)
        return TG_INVALID;
    int rc = tg_buf_append(out, "data: ", 6);
    if (rc == TG_OK)
        rc = tg_buf_puts(out, s);
    if (rc == TG_OK)
        rc = tg_buf_append(out, "\n\n", 2);
    free(s);
    return rc;
}

//  ---------------------------------------------------------------------------------------
//  SSE -> chat.completion

//  One tool call being assembled from its deltas.
typedef struct {
    json_int_t index;  //  tool call index in the deltas
    json_t *id;        //  first id seen (a reference), or NULL
    json_t *type;      //  first type seen, or NULL ("function")
    json_t *name;      //  first non-empty function name seen, or NULL
    tg_buf_t args;     //  function.arguments pieces, concatenated
} s_tool_t;

//  One choice being assembled from its deltas.
typedef struct {
    json_int_t index;    //  choice index
    json_t *role;        //  first role seen, or NULL ("assistant")
    tg_buf_t content;    //  delta.content pieces, concatenated
    bool content_seen;   //  some delta had a string content
    tg_buf_t refusal;    //  delta.refusal pieces, concatenated
    bool refusal_seen;   //  some delta had a refusal member (even null)
    json_t *finish;      //  last finish_reason string seen, or NULL
    bool logprobs_seen;  //  some chunk had a logprobs object
    json_t *lp_content;  //  logprobs.content arrays concatenated, or NULL
    json_t *lp_refusal;  //  logprobs.refusal arrays concatenated, or NULL
    s_tool_t *tools;     //  tool calls, in order of first appearance
    size_t ntools;       //  used entries of tools
    size_t last_tool;    //  entry of the last tool call touched (most deltas repeat it)
} s_choice_t;

//  The completion being assembled.
typedef struct {
    size_t limit;         //  cap of every text buffer (the stream's length)
    size_t chunks;        //  chunks read
    json_t *id;           //  top-level members from the first chunk that has them
    json_t *created;      //  "
    json_t *model;        //  "
    json_t *tier;         //  service_tier: first non-null, else null if present
    json_t *fingerprint;  //  system_fingerprint: first non-null, else null if present
    json_t *usage;        //  the last usage object seen
    s_choice_t *choices;  //  choices, in order of first appearance
    size_t nchoices;      //  used entries of choices
    size_t last_choice;   //  entry of the last choice touched
} s_asm_t;

static void
s_asm_fini(s_asm_t *a)
{
    for (size_t i = 0; i < a->nchoices; i++) {
        s_choice_t *c = &a->choices[i];
        for (size_t k = 0; k < c->ntools; k++) {
            json_decref(c->tools[k].id);
            json_decref(c->tools[k].type);
            json_decref(c->tools[k].name);
            tg_buf_fini(&c->tools[k].args);
        }
        free(c->tools);
        json_decref(c->role);
        tg_buf_fini(&c->content);
        tg_buf_fini(&c->refusal);
        json_decref(c->finish);
        json_decref(c->lp_content);
        json_decref(c->lp_refusal);
    }
    free(a->choices);
    json_decref(a->id);
    json_decref(a->created);
    json_decref(a->model);
    json_decref(a->tier);
    json_decref(a->fingerprint);
    json_decref(a->usage);
}

//  Keeps a reference to v in *slot unless *slot is set already or v is not `ok`.
static void
s_keep_first(json_t **slot, json_t *v, bool ok)
{
    if (!*slot && v && ok)
        *slot = json_incref(v);
}

//  Like s_keep_first for members that may be null: a later non-null value replaces a null.
static void
s_keep_first_non_null(json_t **slot, json_t *v)
{
    if (!v || (*slot && !json_is_null(*slot)))
        return;
    if (!*slot || !json_is_null(v)) {
        json_decref(*slot);
        *slot = json_incref(v);
    }
}

static s_choice_t *
s_choice(s_asm_t *a, json_int_t index)
{
    if (a->nchoices && a->choices[a->last_choice].index == index)
        return &a->choices[a->last_choice];
    for (size_t i = 0; i < a->nchoices; i++)
        if (a->choices[i].index == index) {
            a->last_choice = i;
            return &a->choices[i];
        }
    if (a->nchoices == S_MAX_CHOICES)
        return NULL;
    a->choices = tg_realloc(a->choices, (a->nchoices + 1) * sizeof *a->choices);
    s_choice_t *c = &a->choices[a->nchoices];
    memset(c, 0, sizeof *c);
    c->index = index;
    tg_buf_init(&c->content, a->limit);
    tg_buf_init(&c->refusal, a->limit);
    a->last_choice = a->nchoices++;
    return c;
}

static s_tool_t *
s_tool(s_asm_t *a, s_choice_t *c, json_int_t index)
{
    if (c->ntools && c->tools[c->last_tool].index == index)
        return &c->tools[c->last_tool];
    for (size_t i = 0; i < c->ntools; i++)
        if (c->tools[i].index == index) {
            c->last_tool = i;
            return &c->tools[i];
        }
    if (c->ntools == S_MAX_TOOLS)
        return NULL;
    c->tools = tg_realloc(c->tools, (c->ntools + 1) * sizeof *c->tools);
    s_tool_t *t = &c->tools[c->ntools];
    memset(t, 0, sizeof *t);
    t->index = index;
    tg_buf_init(&t->args, a->limit);
    c->last_tool = c->ntools++;
    return t;
}

//  Appends a string member (if present) to buf; false when present and neither string nor null.
static bool
s_take_text(const json_t *obj, const char *key, tg_buf_t *buf, bool *seen_p)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    if (seen_p)
        *seen_p = true;
    return tg_buf_append(buf, json_string_value(v), json_string_length(v)) == TG_OK;
}

//  Appends the elements of obj[key] (an array, or null) to *arr_p.
static bool
s_take_array(const json_t *obj, const char *key, json_t **arr_p)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_array(v))
        return false;
    if (!*arr_p)
        *arr_p = json_array();
    return json_array_extend(*arr_p, v) == 0;
}

static bool
s_take_tool_calls(s_asm_t *a, s_choice_t *c, const json_t *calls)
{
    if (!calls || json_is_null(calls))
        return true;
    if (!json_is_array(calls))
        return false;
    size_t k;
    json_t *tc;
    json_array_foreach(calls, k, tc)
    {
        if (!json_is_object(tc))
            return false;
        json_t *ix = json_object_get(tc, "index");
        if (ix && (!json_is_integer(ix) || json_integer_value(ix) < 0))
            return false;
        s_tool_t *t = s_tool(a, c, ix ? json_integer_value(ix) : (json_int_t)k);
        if (!t)
            return false;
        json_t *id = json_object_get(tc, "id");
        json_t *type = json_object_get(tc, "type");
        s_keep_first(&t->id, id, json_is_string(id));
        s_keep_first(&t->type, type, json_is_string(type));
        json_t *fn = json_object_get(tc, "function");
        if (!fn || json_is_null(fn))
            continue;
        if (!json_is_object(fn))
            return false;
        json_t *name = json_object_get(fn, "name");
        s_keep_first(&t->name, name, json_is_string(name) && json_string_length(name));
        if (!s_take_text(fn, "arguments", &t->args, NULL))
            return false;
    }
    return true;
}

static bool
s_take_choice(s_asm_t *a, const json_t *ch)
{
    json_t *ix = json_object_get(ch, "index");
    if (!json_is_object(ch) || !json_is_integer(ix) || json_integer_value(ix) < 0)
        return false;
    s_choice_t *c = s_choice(a, json_integer_value(ix));
    if (!c)
        return false;
    json_t *delta = json_object_get(ch, "delta");
    if (delta && !json_is_null(delta)) {
        if (!json_is_object(delta))
            return false;
        json_t *role = json_object_get(delta, "role");
        s_keep_first(&c->role, role, json_is_string(role));
        if (json_object_get(delta, "refusal"))
            c->refusal_seen = true;
        if (!s_take_text(delta, "content", &c->content, &c->content_seen)
            || !s_take_text(delta, "refusal", &c->refusal, NULL)
            || !s_take_tool_calls(a, c, json_object_get(delta, "tool_calls")))
            return false;
    }
    json_t *lp = json_object_get(ch, "logprobs");
    if (json_is_object(lp)) {
        c->logprobs_seen = true;
        if (!s_take_array(lp, "content", &c->lp_content)
            || !s_take_array(lp, "refusal", &c->lp_refusal))
            return false;
    } else if (lp && !json_is_null(lp))
        return false;
    json_t *finish = json_object_get(ch, "finish_reason");
    if (json_is_string(finish)) {
        json_decref(c->finish);
        c->finish = json_incref(finish);
    } else if (finish && !json_is_null(finish))
        return false;
    return true;
}

//  Folds one chunk into the completion; false when it is not a chat.completion.chunk.
static bool
s_take_chunk(s_asm_t *a, const json_t *doc)
{
    json_t *choices = json_object_get(doc, "choices");
    if (!json_is_object(doc) || !json_is_array(choices))
        return false;
    json_t *id = json_object_get(doc, "id");
    json_t *created = json_object_get(doc, "created");
    json_t *model = json_object_get(doc, "model");
    s_keep_first(&a->id, id, json_is_string(id));
    s_keep_first(&a->created, created, json_is_integer(created));
    s_keep_first(&a->model, model, json_is_string(model));
    s_keep_first_non_null(&a->tier, json_object_get(doc, "service_tier"));
    s_keep_first_non_null(&a->fingerprint, json_object_get(doc, "system_fingerprint"));
    json_t *usage = json_object_get(doc, "usage");
    if (json_is_object(usage)) {
        json_decref(a->usage);
        a->usage = json_incref(usage);
    }
    size_t k;
    json_t *ch;
    json_array_foreach(choices, k, ch)
    {
        if (!s_take_choice(a, ch))
            return false;
    }
    a->chunks++;
    return true;
}

static int
s_by_choice_index(const void *x, const void *y)
{
    json_int_t a = ((const s_choice_t *)x)->index, b = ((const s_choice_t *)y)->index;
    return (a > b) - (a < b);
}

static int
s_by_tool_index(const void *x, const void *y)
{
    json_int_t a = ((const s_tool_t *)x)->index, b = ((const s_tool_t *)y)->index;
    return (a > b) - (a < b);
}

//  Text as a JSON string; NULL only if it is not UTF-8 (pieces of valid strings always are).
static json_t *
s_text(const tg_buf_t *buf)
{
    return json_stringn(buf->data ? buf->data : "", buf->len);
}

//  Sets key to v; takes v even when it fails (jansson's _set_new does). False when v is NULL.
static bool
s_set(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

static json_t *
s_message(s_choice_t *c)
{
    json_t *m = json_object();
    bool ok = s_set(m, "role", c->role ? json_incref(c->role) : json_string("assistant"));
    //  No text: null when the answer is tool calls or a refusal, "" when a delta said "".
    bool text = c->content.len > 0 || (c->content_seen && c->ntools == 0 && c->refusal.len == 0);
    ok = s_set(m, "content", text ? s_text(&c->content) : json_null()) && ok;
    if (c->refusal_seen)
        ok = s_set(m, "refusal", c->refusal.len ? s_text(&c->refusal) : json_null()) && ok;
    if (c->ntools) {
        qsort(c->tools, c->ntools, sizeof *c->tools, s_by_tool_index);
        json_t *calls = json_array();
        for (size_t k = 0; k < c->ntools; k++) {
            s_tool_t *t = &c->tools[k];
            json_t *tc = json_object();
            json_t *fn = json_object();
            ok = s_set(tc, "id", t->id ? json_incref(t->id) : json_string("")) && ok;
            ok = s_set(tc, "type", t->type ? json_incref(t->type) : json_string("function")) && ok;
            ok = s_set(fn, "name", t->name ? json_incref(t->name) : json_string("")) && ok;
            ok = s_set(fn, "arguments", s_text(&t->args)) && ok;
            ok = s_set(tc, "function", fn) && ok;
            ok = json_array_append_new(calls, tc) == 0 && ok;
        }
        ok = s_set(m, "tool_calls", calls) && ok;
    }
    if (!ok)
        json_decref(m);
    return ok ? m : NULL;
}

static json_t *
s_completion(s_asm_t *a, uint64_t tok_in, uint64_t tok_out)
{
    json_t *out = json_object();
    if (a->id)
        json_object_set(out, "id", a->id);
    json_object_set_new(out, "object", json_string("chat.completion"));
    if (a->created)
        json_object_set(out, "created", a->created);
    if (a->model)
        json_object_set(out, "model", a->model);
    if (a->tier)
        json_object_set(out, "service_tier", a->tier);
    if (a->fingerprint)
        json_object_set(out, "system_fingerprint", a->fingerprint);
    json_t *choices = json_array();
    json_object_set_new(out, "choices", choices);
    if (a->nchoices)
        qsort(a->choices, a->nchoices, sizeof *a->choices, s_by_choice_index);
    bool ok = true;
    for (size_t i = 0; ok && i < a->nchoices; i++) {
        s_choice_t *c = &a->choices[i];
        json_t *ch = json_object();
        ok = s_set(ch, "index", json_integer(c->index)) && ok;
        ok = s_set(ch, "message", s_message(c)) && ok;
        json_t *lp = json_null();
        if (c->logprobs_seen) {
            json_decref(lp);
            lp = json_object();
            json_object_set(lp, "content", c->lp_content ? c->lp_content : json_null());
            json_object_set(lp, "refusal", c->lp_refusal ? c->lp_refusal : json_null());
        }
        ok = s_set(ch, "logprobs", lp) && ok;
        ok = s_set(ch, "finish_reason", c->finish ? json_incref(c->finish) : json_null()) && ok;
        ok = json_array_append_new(choices, ch) == 0 && ok;
    }
    json_object_set_new(out, "usage",
                        a->usage ? json_incref(a->usage) : s_usage_from_tokens(tok_in, tok_out));
    if (!ok)
        json_decref(out);
    return ok ? out : NULL;
}

int
tg_cache_form_sse_to_json(
    const char *sse, size_t len, uint64_t tok_in, uint64_t tok_out, char **json_p, size_t *len_p)
{
    *json_p = NULL;
    *len_p = 0;
    if (!sse)
        return TG_INVALID;
    s_asm_t a = {.limit = len};
    s_event_t ev;
    s_event_init(&ev, len);
    int rc = TG_OK;
    size_t pos = 0;
    while (rc == TG_OK && s_next_event(sse, len, &pos, &ev)) {
        if (ev.lines == 0)
            continue;
        if (s_is_done(&ev))
            break;  //  nothing follows [DONE]
        json_t *doc = json_loadb(ev.data, ev.data_len, S_LOAD, NULL);
        if (!s_take_chunk(&a, doc))
            rc = TG_INVALID;
        json_decref(doc);
    }
    s_event_fini(&ev);
    json_t *out = rc == TG_OK && a.chunks ? s_completion(&a, tok_in, tok_out) : NULL;
    s_asm_fini(&a);
    char *text = out ? json_dumps(out, S_DUMP) : NULL;
    json_decref(out);
    if (!text)
        return TG_INVALID;
    *json_p = text;
    *len_p = strlen(text);
    return TG_OK;
}

//  ---------------------------------------------------------------------------------------
//  chat.completion -> SSE

//  Writes one chunk for choice `index` with this delta (taken), logprobs and finish_reason
//  (borrowed; NULL: null).
static int
s_choice_chunk(const json_t *doc,
               bool include_usage,
               json_t *index,
               json_t *delta,
               json_t *logprobs,
               json_t *finish,
               tg_buf_t *out)
{
    json_t *c = s_chunk_head(doc);
    json_t *ch = json_object();
    json_object_set(ch, "index", index);
    json_object_set_new(ch, "delta", delta);
    json_object_set(ch, "logprobs", logprobs ? logprobs : json_null());
    json_object_set(ch, "finish_reason", finish ? finish : json_null());
    json_t *choices = json_array();
    json_array_append_new(choices, ch);
    json_object_set_new(c, "choices", choices);
    if (include_usage)
        json_object_set_new(c, "usage", json_null());  //  as OpenAI does on every chunk
    return s_emit(c, out);
}

//  A tool call delta as OpenAI streams it: index, id, type, function {name, arguments}.
static json_t *
s_tool_delta(size_t k, const json_t *tc)
{
    json_t *fn = json_object_get(tc, "function");
    json_t *name = json_object_get(fn, "name");
    json_t *args = json_object_get(fn, "arguments");
    json_t *type = json_object_get(tc, "type");
    if (!json_is_object(tc) || !json_is_object(fn) || !json_is_string(name)
        || (args && !json_is_string(args)))
        return NULL;
    json_t *d = json_object();
    json_object_set_new(d, "index", json_integer((json_int_t)k));
    s_copy_key(d, tc, "id");
    json_object_set_new(d, "type",
                        json_is_string(type) ? json_incref(type) : json_string("function"));
    json_t *f = json_object();
    json_object_set(f, "name", name);
    json_object_set_new(f, "arguments", args ? json_incref(args) : json_string(""));
    json_object_set_new(d, "function", f);
    json_t *calls = json_array();
    json_array_append_new(calls, d);
    json_t *delta = json_object();
    json_object_set_new(delta, "tool_calls", calls);
    return delta;
}

//  The chunks of one choice: role, content, refusal, one per tool call, finish.
static int
s_choice_chunks(const json_t *doc, bool include_usage, size_t pos, const json_t *ch, tg_buf_t *out)
{
    json_t *msg = json_object_get(ch, "message");
    json_t *ix = json_object_get(ch, "index");
    if (!json_is_object(ch) || !json_is_object(msg) || (ix && !json_is_integer(ix)))
        return TG_INVALID;
    json_t *role = json_object_get(msg, "role");
    json_t *content = json_object_get(msg, "content");
    json_t *refusal = json_object_get(msg, "refusal");
    json_t *calls = json_object_get(msg, "tool_calls");
    json_t *finish = json_object_get(ch, "finish_reason");
    json_t *lp = json_object_get(ch, "logprobs");
    if ((content && !json_is_string(content) && !json_is_null(content))
        || (refusal && !json_is_string(refusal) && !json_is_null(refusal))
        || (calls && !json_is_array(calls) && !json_is_null(calls))
        || (finish && !json_is_string(finish) && !json_is_null(finish))
        || (lp && !json_is_object(lp) && !json_is_null(lp)))
        return TG_INVALID;
    if (json_is_null(lp))
        lp = NULL;
    json_t *index = ix ? json_incref(ix) : json_integer((json_int_t)pos);
    //  The first delta: the role, and content "" (null when the message has none).
    json_t *delta = json_object();
    json_object_set_new(delta, "role",
                        json_is_string(role) ? json_incref(role) : json_string("assistant"));
    json_object_set_new(delta, "content", json_is_string(content) ? json_string("") : json_null());
    if (refusal)
        json_object_set_new(delta, "refusal", json_null());
    int rc = s_choice_chunk(doc, include_usage, index, delta, NULL, NULL, out);
    if (rc == TG_OK && json_is_string(content) && json_string_length(content)) {
        delta = json_object();
        json_object_set(delta, "content", content);
        rc = s_choice_chunk(doc, include_usage, index, delta, lp, NULL, out);
        lp = NULL;  //  logprobs go with the first text
    }
    if (rc == TG_OK && json_is_string(refusal) && json_string_length(refusal)) {
        delta = json_object();
        json_object_set(delta, "refusal", refusal);
        rc = s_choice_chunk(doc, include_usage, index, delta, lp, NULL, out);
        lp = NULL;
    }
    size_t k;
    json_t *tc;
    json_array_foreach(calls, k, tc)
    {
        if (rc != TG_OK)
            break;
        delta = s_tool_delta(k, tc);
        rc = delta ? s_choice_chunk(doc, include_usage, index, delta, NULL, NULL, out) : TG_INVALID;
    }
    if (rc == TG_OK)
        rc = s_choice_chunk(doc, include_usage, index, json_object(), lp, finish, out);
    json_decref(index);
    return rc;
}

int
tg_cache_form_json_to_sse(
    const char *json, size_t len, bool include_usage, char **sse_p, size_t *len_p)
{
    *sse_p = NULL;
    *len_p = 0;
    json_t *doc = json ? json_loadb(json, len, S_LOAD, NULL) : NULL;
    json_t *object = json_object_get(doc, "object");
    json_t *choices = json_object_get(doc, "choices");
    json_t *usage = json_object_get(doc, "usage");
    if (!json_is_object(doc) || !json_is_array(choices)
        || (object
            && !(json_is_string(object)
                 && strcmp(json_string_value(object), "chat.completion") == 0))) {
        json_decref(doc);
        return TG_INVALID;
    }
    tg_buf_t out;
    tg_buf_init(&out, SIZE_MAX);  //  our own output, a few times the completion's size
    int rc = TG_OK;
    size_t k;
    json_t *ch;
    json_array_foreach(choices, k, ch)
    {
        rc = s_choice_chunks(doc, include_usage, k, ch, &out);
        if (rc != TG_OK)
            break;
    }
    if (rc == TG_OK && include_usage && json_is_object(usage)) {
        json_t *c = s_chunk_head(doc);
        json_object_set_new(c, "choices", json_array());
        json_object_set(c, "usage", usage);
        rc = s_emit(c, &out);
    }
    if (rc == TG_OK)
        rc = tg_buf_puts(&out, "data: [DONE]\n\n");
    json_decref(doc);
    if (rc != TG_OK) {
        tg_buf_fini(&out);
        return TG_INVALID;
    }
    *sse_p = tg_buf_take(&out, len_p);
    return TG_OK;
}

//  ---------------------------------------------------------------------------------------
//  Replay of a stored stream

//  True when a top-level "usage" member of this chunk text holds an object (not null). The
//  worker's reasoning holds: quotes inside JSON strings are escaped, so `"usage"` is a key.
static bool
s_has_usage_object(const char *data, size_t len)
{
    const char *key = memmem(data, len, "\"usage\"", 7);
    if (!key)
        return false;
    const char *q = key + 7, *end = data + len;
    while (q < end && (s_space(*q) || *q == ':'))
        q++;
    return q < end && *q == '{';
}

//  Writes the usage chunk a stream without one would have had, from its first chunk.
static int
s_add_usage(const char *data, size_t len, uint64_t tok_in, uint64_t tok_out, tg_buf_t *out)
{
    json_t *first = json_loadb(data, len, S_LOAD, NULL);
    if (!json_is_object(first)) {
        json_decref(first);
        return TG_INVALID;
    }
    json_t *c = s_chunk_head(first);
    json_decref(first);
    json_object_set_new(c, "choices", json_array());
    json_object_set_new(c, "usage", s_usage_from_tokens(tok_in, tok_out));
    return s_emit(c, out);
}

int
tg_cache_form_sse_replay(const char *sse,
                         size_t len,
                         bool include_usage,
                         uint64_t tok_in,
                         uint64_t tok_out,
                         char **out_p,
                         size_t *len_p)
{
    *out_p = NULL;
    *len_p = 0;
    if (!sse)
        return TG_INVALID;
    tg_buf_t out;
    tg_buf_init(&out, SIZE_MAX);  //  at most the stream plus one usage chunk
    s_event_t ev;
    s_event_init(&ev, len);
    size_t first_start = 0, chunks = 0, pos = 0;
    bool have_usage = false, done = false, ended = true;
    int rc = TG_OK;
    while (rc == TG_OK && s_next_event(sse, len, &pos, &ev)) {
        const char *bytes = sse + ev.start;
        size_t n = ev.end - ev.start;
        ended = ev.ended;
        if (ev.lines == 0 || done) {  //  comments, blank lines, whatever follows [DONE]
            rc = tg_buf_append(&out, bytes, n);
            continue;
        }
        if (s_is_done(&ev)) {
            done = true;
            if (include_usage && !have_usage && chunks) {
                s_event_t first;
                s_event_init(&first, len);
                size_t at = first_start;
                s_next_event(sse, len, &at, &first);
                rc = s_add_usage(first.data, first.data_len, tok_in, tok_out, &out);
                s_event_fini(&first);
            }
            if (rc == TG_OK)
                rc = tg_buf_append(&out, bytes, n);
            continue;
        }
        if (!s_looks_like_object(ev.data, ev.data_len)) {
            rc = TG_INVALID;
            break;
        }
        if (chunks++ == 0)
            first_start = ev.start;
        bool drop = false;
        if (s_has_usage_object(ev.data, ev.data_len)) {
            //  The one chunk parsed: is it the usage chunk (empty choices)?
            json_t *doc = json_loadb(ev.data, ev.data_len, S_LOAD, NULL);
            json_t *choices = json_object_get(doc, "choices");
            if (!json_is_object(doc))
                rc = TG_INVALID;
            else if (json_is_array(choices) && json_array_size(choices) == 0) {
                have_usage = true;
                drop = !include_usage;
            }
            json_decref(doc);
        }
        if (rc == TG_OK && !drop)
            rc = tg_buf_append(&out, bytes, n);
    }
    if (rc == TG_OK && !chunks)
        rc = TG_INVALID;  //  not a stream of chunks at all
    if (rc == TG_OK && include_usage && !have_usage && !done) {
        //  No [DONE] to put it before: at the end, after closing a cut last event.
        if (!ended)
            rc = tg_buf_append(&out, "\n\n", 2);
        s_event_t first;
        s_event_init(&first, len);
        size_t at = first_start;
        s_next_event(sse, len, &at, &first);
        if (rc == TG_OK)
            rc = s_add_usage(first.data, first.data_len, tok_in, tok_out, &out);
        s_event_fini(&first);
    }
    s_event_fini(&ev);
    if (rc != TG_OK) {
        tg_buf_fini(&out);
        return TG_INVALID;
    }
    *out_p = tg_buf_take(&out, len_p);
    return TG_OK;
}

int
tg_cache_form_answer(
    const tg_cache_entry_t *e, bool stream, bool include_usage, char **out_p, size_t *len_p)
{
    if (e->form == TG_CACHE_JSON && !stream) {
        *out_p = tg_strndup(e->body, e->body_len);
        *len_p = e->body_len;
        return TG_OK;
    }
    if (e->form == TG_CACHE_JSON)
        return tg_cache_form_json_to_sse(e->body, e->body_len, include_usage, out_p, len_p);
    if (stream)
        return tg_cache_form_sse_replay(e->body, e->body_len, include_usage, e->tok_in, e->tok_out,
                                        out_p, len_p);
    return tg_cache_form_sse_to_json(e->body, e->body_len, e->tok_in, e->tok_out, out_p, len_p);
}
