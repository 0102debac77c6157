//  worker_sse.c - incremental Server-Sent-Events parser (WHATWG event stream); no I/O.
#include "worker_sse.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tg_util.h"

struct worker_sse {
    size_t cap;      //  max bytes buffered for one event (line + data + event name)
    tg_buf_t line;   //  the line being read, without its end of line
    tg_buf_t data;   //  data buffer: every data value followed by \n
    tg_buf_t event;  //  event name of the event being built ("" = default)
    bool skip_lf;    //  the last byte was CR: an LF right after it ends the same line
    bool started;    //  past the optional UTF-8 BOM at the start of the stream
    size_t bom;      //  bytes of a leading BOM matched so far (while !started)
    int rc;          //  sticky result once not TG_OK
};

static const char s_bom[3] = {'\xEF', '\xBB', '\xBF'};

worker_sse_t *
worker_sse_new(size_t max_event_bytes)
{
    assert(max_event_bytes > 0);
    worker_sse_t *self = tg_zalloc(sizeof *self);
    self->cap = max_event_bytes;
    tg_buf_init(&self->line, max_event_bytes);
    tg_buf_init(&self->data, max_event_bytes);
    tg_buf_init(&self->event, max_event_bytes);
    return self;
}

void
worker_sse_destroy(worker_sse_t **self_p)
{
    assert(self_p);
    worker_sse_t *self = *self_p;
    if (!self)
        return;
    tg_buf_fini(&self->event);
    tg_buf_fini(&self->data);
    tg_buf_fini(&self->line);
    free(self);
    *self_p = NULL;
}

size_t
worker_sse_pending(const worker_sse_t *self)
{
    assert(self);
    return self->line.len + self->data.len + self->event.len + (self->started ? 0 : self->bom);
}

//  Blank line: hands the event to cb (if it has data) and starts a new one.
static int
s_dispatch(worker_sse_t *self, worker_sse_cb *cb, void *arg)
{
    int rc = 0;
    if (self->data.len > 0) {
        size_t n = self->data.len - 1;  //  drop the \n after the last data value
        self->data.data[n] = 0;
        const char *name = self->event.len ? self->event.data : "message";
        rc = cb(arg, name, self->data.data, n);
    }
    tg_buf_reset(&self->data);
    tg_buf_reset(&self->event);
    return rc;
}

//  One complete line (in self->line): a field, a comment or the blank line that ends an event.
static int
s_line(worker_sse_t *self, worker_sse_cb *cb, void *arg)
{
    const char *l = self->line.data;
    size_t n = self->line.len;
    if (n == 0)
        return s_dispatch(self, cb, arg);
    int rc = TG_OK;
    if (l[0] != ':') {
        const char *colon = memchr(l, ':', n);
        size_t flen = colon ? (size_t)(colon - l) : n;
        const char *v = colon ? colon + 1 : l + n;
        size_t vlen = (size_t)(l + n - v);
        if (vlen && *v == ' ') {
            v++;
            vlen--;
        }
        if (flen == 4 && memcmp(l, "data", 4) == 0) {
            if (self->data.len + self->event.len + vlen + 1 > self->cap)
                rc = TG_INVALID;
            else {
                tg_buf_append(&self->data, v, vlen);
                tg_buf_append(&self->data, "\n", 1);
            }
        } else if (flen == 5 && memcmp(l, "event", 5) == 0) {
            tg_buf_reset(&self->event);
            if (self->data.len + vlen > self->cap)
                rc = TG_INVALID;
            else
                tg_buf_append(&self->event, v, vlen);
        }
        //  id, retry and unknown fields are ignored: nothing downstream uses them.
    }
    tg_buf_reset(&self->line);
    return rc;
}

static int
s_parse(worker_sse_t *self, const char *data, size_t len, worker_sse_cb *cb, void *arg)
{
    size_t i = 0;
    while (i < len) {
        if (self->skip_lf) {
            self->skip_lf = false;
            if (data[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < len && data[j] != '\r' && data[j] != '\n')
            j++;
        if (j > i) {
            size_t held = self->line.len + self->data.len + self->event.len;
            if (j - i > self->cap - held)
                return TG_INVALID;
            tg_buf_append(&self->line, data + i, j - i);
        }
        if (j == len)
            break;
        self->skip_lf = data[j] == '\r';
        i = j + 1;
        int rc = s_line(self, cb, arg);
        if (rc)
            return rc;
    }
    return TG_OK;
}

int
worker_sse_feed(worker_sse_t *self, const char *data, size_t len, worker_sse_cb *cb, void *arg)
{
    assert(self);
    assert(cb);
    assert(data || len == 0);
    if (self->rc)
        return self->rc;
    size_t i = 0;
    while (!self->started && i < len) {
        if (data[i] == s_bom[self->bom]) {
            i++;
            if (++self->bom == sizeof s_bom)
                self->started = true;
            continue;
        }
        self->started = true;
        if (self->bom) {  //  a partial BOM was ordinary bytes after all
            self->rc = s_parse(self, s_bom, self->bom, cb, arg);
            if (self->rc)
                return self->rc;
        }
    }
    self->rc = s_parse(self, data + i, len - i, cb, arg);
    return self->rc;
}
