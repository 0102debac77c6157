//  tg_frame.c - msgpack codec driven by the field tables of proto/frames.def.
#include "tg_frame.h"
#include "tg_log.h"
#include "tg_util.h"

#include <czmq.h>
#include <msgpack.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_STR, T_I64, T_U64, T_DBL, T_BOOL } s_type_t;

typedef struct {
    const char *key;  //  short wire key
    s_type_t type;    //  value type
    size_t offset;    //  offset of the member inside tg_frame_t
    bool required;    //  decoding fails without it
} s_field_t;

typedef struct {
    const char *tag;          //  wire tag
    const char *name;         //  C name
    const s_field_t *fields;  //  field table
    size_t nfields;           //  rows in fields
} s_frame_def_t;

#define TG_F(n, T, k, r) {#k, T_##T, offsetof(tg_frame_t, n.k), r},
#define TG_X(E, n, t) static const s_field_t s_fields_##n[] = {TG_FIELDS_##n(TG_F, n)};
TG_FRAMES(TG_X)
#undef TG_X
#undef TG_F

static const s_frame_def_t s_defs[] = {
#define TG_X(E, n, t) {t, #n, s_fields_##n, sizeof s_fields_##n / sizeof s_fields_##n[0]},
    TG_FRAMES(TG_X)
#undef TG_X
};

//  Frames sent and received by this process, by type (tg_frame_sent_count). Relaxed atomics:
//  the services send from one thread, but a test or a tool may not, and a count needs no order.
static atomic_uint_fast64_t s_sent[TG_FRAME_COUNT];
static atomic_uint_fast64_t s_recvd[TG_FRAME_COUNT];

uint64_t
tg_frame_sent_count(tg_frame_type_t type)
{
    return type < TG_FRAME_COUNT ? atomic_load_explicit(&s_sent[type], memory_order_relaxed) : 0;
}

uint64_t
tg_frame_recv_count(tg_frame_type_t type)
{
    return type < TG_FRAME_COUNT ? atomic_load_explicit(&s_recvd[type], memory_order_relaxed) : 0;
}

tg_frame_t *
tg_frame_new(tg_frame_type_t type)
{
    assert(type < TG_FRAME_COUNT);
    tg_frame_t *self = tg_zalloc(sizeof *self);
    self->type = type;
    return self;
}

void
tg_frame_destroy(tg_frame_t **self_p)
{
    assert(self_p);
    tg_frame_t *self = *self_p;
    if (!self)
        return;
    const s_frame_def_t *def = &s_defs[self->type];
    for (size_t i = 0; i < def->nfields; i++)
        if (def->fields[i].type == T_STR)
            free(*(char **)((char *)self + def->fields[i].offset));
    free(self->topic);
    free(self->body);
    free(self);
    *self_p = NULL;
}

const char *
tg_frame_name(tg_frame_type_t type)
{
    return type < TG_FRAME_COUNT ? s_defs[type].name : "?";
}

size_t
tg_frame_field_count(tg_frame_type_t type)
{
    return type < TG_FRAME_COUNT ? s_defs[type].nfields : 0;
}

int
tg_frame_field(tg_frame_type_t type,
               size_t index,
               const char **key_p,
               tg_field_type_t *type_p,
               bool *required_p)
{
    if (type >= TG_FRAME_COUNT || index >= s_defs[type].nfields)
        return TG_NOTFOUND;
    const s_field_t *fd = &s_defs[type].fields[index];
    *key_p = fd->key;
    *type_p = (tg_field_type_t)fd->type;  //  same order as s_type_t
    *required_p = fd->required;
    return TG_OK;
}

void
tg_frame_set_body(tg_frame_t *self, const void *data, size_t len)
{
    free(self->body);
    self->body = tg_strndup(data ? data : "", data ? len : 0);
    self->body_len = data ? len : 0;
}

void
tg_frame_give_body(tg_frame_t *self, char **body_p, size_t len)
{
    free(self->body);
    self->body = *body_p;
    self->body_len = len;
    *body_p = NULL;
}

void
tg_frame_set_str(char **field, const char *value)
{
    free(*field);
    *field = tg_strdup(value);
}

size_t
tg_frame_tag(const tg_frame_t *self, char *out, size_t size)
{
    int n = self->topic ? snprintf(out, size, "%s.%s", s_defs[self->type].tag, self->topic)
                        : snprintf(out, size, "%s", s_defs[self->type].tag);
    return n < 0 ? 0 : ((size_t)n < size ? (size_t)n : size - 1);
}

char *
tg_frame_encode_map(const tg_frame_t *self, size_t *len_p)
{
    const s_frame_def_t *def = &s_defs[self->type];
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);

    size_t present = 1;  //  "v"
    for (size_t i = 0; i < def->nfields; i++) {
        const char *p = (const char *)self + def->fields[i].offset;
        if (def->fields[i].type != T_STR || *(char *const *)p)
            present++;
    }
    msgpack_pack_map(&pk, present);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "v", 1);
    msgpack_pack_uint32(&pk, TG_PROTO_VERSION);
    for (size_t i = 0; i < def->nfields; i++) {
        const s_field_t *fd = &def->fields[i];
        const char *p = (const char *)self + fd->offset;
        if (fd->type == T_STR && !*(char *const *)p)
            continue;
        size_t klen = strlen(fd->key);
        msgpack_pack_str(&pk, klen);
        msgpack_pack_str_body(&pk, fd->key, klen);
        switch (fd->type) {
        case T_STR: {
            const char *s = *(char *const *)p;
            size_t slen = strlen(s);
            msgpack_pack_str(&pk, slen);
            msgpack_pack_str_body(&pk, s, slen);
            break;
        }
        case T_I64:
            msgpack_pack_int64(&pk, *(const int64_t *)p);
            break;
        case T_U64:
            msgpack_pack_uint64(&pk, *(const uint64_t *)p);
            break;
        case T_DBL:
            msgpack_pack_double(&pk, *(const double *)p);
            break;
        case T_BOOL:
            if (*(const bool *)p)
                msgpack_pack_true(&pk);
            else
                msgpack_pack_false(&pk);
            break;
        }
    }
    *len_p = sbuf.size;
    return sbuf.data;  //  allocated with malloc by msgpack_sbuffer
}

//  Sends [rid?][tag][map][body?]; rid NULL = no routing-id part.
static int
s_write(const tg_frame_t *self, void *sock, const void *rid, size_t rid_len)
{
    void *handle = zsock_resolve(sock);
    char tag[128];
    size_t tag_len = tg_frame_tag(self, tag, sizeof tag);
    size_t map_len;
    char *map = tg_frame_encode_map(self, &map_len);
    int more = self->body ? ZMQ_SNDMORE : 0;
    int rc = 0;
    if (rid)
        rc = zmq_send(handle, rid, rid_len, ZMQ_DONTWAIT | ZMQ_SNDMORE);
    if (rc >= 0)
        rc = zmq_send(handle, tag, tag_len, ZMQ_DONTWAIT | ZMQ_SNDMORE);
    //  Once the first part is queued, zmq guarantees the rest of the message goes too.
    if (rc >= 0)
        rc = zmq_send(handle, map, map_len, more);
    if (rc >= 0 && self->body)
        rc = zmq_send(handle, self->body, self->body_len, 0);
    free(map);
    if (rc >= 0) {
        atomic_fetch_add_explicit(&s_sent[self->type], 1, memory_order_relaxed);
        return TG_OK;
    }
    if (errno == EAGAIN)
        return TG_AGAIN;
    if (errno == EHOSTUNREACH)
        return TG_NOTFOUND;
    tg_log_warn("frame send failed type=%s err=%s", tg_frame_name(self->type), zmq_strerror(errno));
    return TG_ERR;
}

int
tg_frame_write(const tg_frame_t *self, void *sock)
{
    return s_write(self, sock, NULL, 0);
}

int
tg_frame_write_to(const tg_frame_t *self, void *sock, const void *rid, size_t rid_len)
{
    assert(rid && rid_len > 0);
    return s_write(self, sock, rid, rid_len);
}

int
tg_frame_send(tg_frame_t **self_p, void *sock)
{
    assert(self_p && *self_p);
    int rc = tg_frame_write(*self_p, sock);
    tg_frame_destroy(self_p);
    return rc;
}

static int
s_find_type(const char *tag,
            size_t tag_len,
            tg_frame_type_t *type_p,
            const char **topic_p,
            size_t *topic_len_p)
{
    const char *dot = memchr(tag, '.', tag_len);
    size_t base = dot ? (size_t)(dot - tag) : tag_len;
    for (int i = 0; i < TG_FRAME_COUNT; i++)
        if (strlen(s_defs[i].tag) == base && memcmp(s_defs[i].tag, tag, base) == 0) {
            *type_p = (tg_frame_type_t)i;
            *topic_p = dot ? dot + 1 : NULL;
            *topic_len_p = dot ? tag_len - base - 1 : 0;
            return TG_OK;
        }
    return TG_INVALID;
}

static int
s_decode_value(const s_field_t *fd, const msgpack_object *o, tg_frame_t *self)
{
    char *p = (char *)self + fd->offset;
    switch (fd->type) {
    case T_STR:
        if (o->type != MSGPACK_OBJECT_STR)
            return TG_INVALID;
        if (memchr(o->via.str.ptr, 0, o->via.str.size))
            return TG_INVALID;  //  embedded NUL: not a string we can hand out
        free(*(char **)p);
        *(char **)p = tg_strndup(o->via.str.ptr, o->via.str.size);
        return TG_OK;
    case T_I64:
        if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
            *(int64_t *)p = (int64_t)o->via.u64;
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            *(int64_t *)p = o->via.i64;
        else
            return TG_INVALID;
        return TG_OK;
    case T_U64:
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return TG_INVALID;
        *(uint64_t *)p = o->via.u64;
        return TG_OK;
    case T_DBL:
        if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
            *(double *)p = o->via.f64;
        else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            *(double *)p = (double)o->via.u64;
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            *(double *)p = (double)o->via.i64;
        else
            return TG_INVALID;
        return TG_OK;
    case T_BOOL:
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return TG_INVALID;
        *(bool *)p = o->via.boolean;
        return TG_OK;
    }
    return TG_INVALID;
}

//  msgpack-c allocates a container's declared size before reading it, so a 5-byte map
//  header claiming 2^32 entries would make it allocate gigabytes. Walk the bytes first and
//  refuse any container that claims more entries than there are bytes left.
static const uint8_t *
s_msgpack_skip(const uint8_t *p, const uint8_t *end, int depth)
{
    if (p >= end || depth > 16)
        return NULL;
    uint8_t b = *p++;
    uint64_t len = 0, count = 0;
    size_t lw = 0;  //  width of a length/count field that follows
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return p;
    if (b >= 0xa0 && b <= 0xbf)
        len = b & 0x1f;
    else if (b >= 0x80 && b <= 0x8f)
        count = 2 * (uint64_t)(b & 0x0f);
    else if (b >= 0x90 && b <= 0x9f)
        count = b & 0x0f;
    else
        switch (b) {
        case 0xcc:
        case 0xd0:
            len = 1;
            break;
        case 0xcd:
        case 0xd1:
            len = 2;
            break;
        case 0xca:
        case 0xce:
        case 0xd2:
            len = 4;
            break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
            len = 8;
            break;
        case 0xd4:
            len = 2;
            break;
        case 0xd5:
            len = 3;
            break;
        case 0xd6:
            len = 5;
            break;
        case 0xd7:
            len = 9;
            break;
        case 0xd8:
            len = 17;
            break;
        case 0xc4:
        case 0xd9:
            lw = 1;
            break;
        case 0xc5:
        case 0xda:
            lw = 2;
            break;
        case 0xc6:
        case 0xdb:
            lw = 4;
            break;
        case 0xc7:
            lw = 1;
            len = 1;
            break;  //  ext: + type byte
        case 0xc8:
            lw = 2;
            len = 1;
            break;
        case 0xc9:
            lw = 4;
            len = 1;
            break;
        case 0xdc:
            lw = 2;
            count = 1;
            break;
        case 0xdd:
            lw = 4;
            count = 1;
            break;
        case 0xde:
            lw = 2;
            count = 2;
            break;
        case 0xdf:
            lw = 4;
            count = 2;
            break;
        default:
            return NULL;  //  0xc1: never used
        }
    if (lw) {
        if ((size_t)(end - p) < lw)
            return NULL;
        uint64_t n = 0;
        for (size_t i = 0; i < lw; i++)
            n = (n << 8) | p[i];
        p += lw;
        if (count)
            count *= n;  //  1 per array entry, 2 per map entry
        else
            len += n;
    }
    if (count) {
        if (count > (uint64_t)(end - p))
            return NULL;
        for (uint64_t i = 0; i < count && p; i++)
            p = s_msgpack_skip(p, end, depth + 1);
        return p;
    }
    if (len > (uint64_t)(end - p))
        return NULL;
    return p + len;
}

bool
tg_frame_msgpack_whole(const void *data, size_t len)
{
    const uint8_t *end = (const uint8_t *)data + len;
    return data && len && s_msgpack_skip(data, end, 0) == end;
}

//  Decodes one msgpack map (exactly map_len bytes) as a frame of `type`; the tag and body
//  parts are the caller's. TG_OK and *out_p, or TG_INVALID with the reason in err.
static int
s_decode_map(tg_frame_type_t type,
             const void *map,
             size_t map_len,
             tg_frame_t **out_p,
             char *err,
             size_t err_size)
{
    const s_frame_def_t *def = &s_defs[type];
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = TG_INVALID;
    tg_frame_t *self = NULL;
    if (s_msgpack_skip(map, (const uint8_t *)map + map_len, 0) != (const uint8_t *)map + map_len
        || msgpack_unpack_next(&up, map, map_len, &off) != MSGPACK_UNPACK_SUCCESS
        || up.data.type != MSGPACK_OBJECT_MAP || off != map_len) {
        snprintf(err, err_size, "%s frame: body is not one msgpack map", def->name);
        goto cleanup;
    }
    self = tg_frame_new(type);
    bool seen[64] = {false};
    assert(def->nfields <= sizeof seen / sizeof seen[0]);  //  frames.def rows per frame
    bool version_ok = false;
    const msgpack_object_map *m = &up.data.via.map;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        const msgpack_object *v = &m->ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;  //  unknown keys are ignored
        if (k->via.str.size == 1 && k->via.str.ptr[0] == 'v') {
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 < 1
                || v->via.u64 > TG_PROTO_VERSION) {
                snprintf(err, err_size, "%s frame: unsupported version", def->name);
                goto cleanup;
            }
            version_ok = true;
            continue;
        }
        for (size_t j = 0; j < def->nfields; j++) {
            const s_field_t *fd = &def->fields[j];
            if (strlen(fd->key) == k->via.str.size
                && memcmp(fd->key, k->via.str.ptr, k->via.str.size) == 0) {
                if (s_decode_value(fd, v, self) != TG_OK) {
                    snprintf(err, err_size, "%s frame: field '%s' has the wrong type", def->name,
                             fd->key);
                    goto cleanup;
                }
                seen[j] = true;
                break;
            }
        }
    }
    if (!version_ok) {
        snprintf(err, err_size, "%s frame: no version", def->name);
        goto cleanup;
    }
    for (size_t j = 0; j < def->nfields; j++)
        if (def->fields[j].required && !seen[j]) {
            snprintf(err, err_size, "%s frame: required field '%s' missing", def->name,
                     def->fields[j].key);
            goto cleanup;
        }
    *out_p = self;
    self = NULL;
    rc = TG_OK;
cleanup:
    tg_frame_destroy(&self);
    msgpack_unpacked_destroy(&up);
    return rc;
}

int
tg_frame_decode(const void *tag,
                size_t tag_len,
                const void *map,
                size_t map_len,
                const void *body,
                size_t body_len,
                tg_frame_t **out_p,
                char *err,
                size_t err_size)
{
    assert(out_p);
    *out_p = NULL;
    tg_frame_type_t type;
    const char *topic;
    size_t topic_len;
    if (s_find_type(tag, tag_len, &type, &topic, &topic_len) != TG_OK) {
        snprintf(err, err_size, "unknown frame tag '%.*s'", (int)(tag_len > 32 ? 32 : tag_len),
                 (const char *)tag);
        return TG_INVALID;
    }
    tg_frame_t *self;
    if (s_decode_map(type, map, map_len, &self, err, err_size) != TG_OK)
        return TG_INVALID;
    if (topic)
        self->topic = tg_strndup(topic, topic_len);
    if (body)
        tg_frame_set_body(self, body, body_len);
    *out_p = self;
    return TG_OK;
}

int
tg_frame_decode_next(tg_frame_type_t type,
                     const void *data,
                     size_t len,
                     size_t *off_p,
                     tg_frame_t **out_p,
                     char *err,
                     size_t err_size)
{
    assert(type < TG_FRAME_COUNT && off_p && out_p && *off_p <= len);
    *out_p = NULL;
    const uint8_t *start = (const uint8_t *)data + *off_p, *end = (const uint8_t *)data + len;
    const uint8_t *next = s_msgpack_skip(start, end, 0);
    if (!next) {
        *off_p = len;  //  not msgpack from here on: the rest cannot be split
        snprintf(err, err_size, "%s frame: %zu bytes that are not msgpack", s_defs[type].name,
                 (size_t)(end - start));
        return TG_INVALID;
    }
    *off_p += (size_t)(next - start);
    return s_decode_map(type, start, (size_t)(next - start), out_p, err, err_size);
}

//  Receives [rid?][tag][map][body?]; with rid_out the first part is the routing id.
static int
s_recv(void *sock, tg_frame_t **out_p, char *rid_out, size_t rid_cap, size_t *rid_len_p)
{
    void *handle = zsock_resolve(sock);
    zmq_msg_t parts[4];
    size_t max = rid_out ? 4 : 3;
    size_t nparts = 0;
    bool oversize = false;
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, handle, nparts == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            for (size_t i = 0; i < nparts && i < max; i++)
                zmq_msg_close(&parts[i]);
            if (e == EAGAIN && nparts == 0)
                return TG_AGAIN;
            return TG_ERR;
        }
        more = zmq_msg_more(&part);
        if (zmq_msg_size(&part) > TG_FRAME_MAX_PART)
            oversize = true;
        if (nparts < max)
            parts[nparts] = part;
        else
            zmq_msg_close(&part);
        nparts++;
    }
    int rc;
    char err[160];
    size_t skip = 0;
    if (rid_out) {
        //  The routing id the ROUTER socket prepended: ours to check, it came from a peer.
        size_t n = nparts > 0 ? zmq_msg_size(&parts[0]) : 0;
        if (n == 0 || n >= rid_cap)
            oversize = true;
        else {
            memcpy(rid_out, zmq_msg_data(&parts[0]), n);
            rid_out[n] = 0;
            *rid_len_p = n;
        }
        skip = 1;
    }
    size_t own = nparts - skip;
    if (nparts <= skip || own < 2 || own > 3 || oversize) {
        snprintf(err, sizeof err, "message with %zu parts%s", nparts,
                 oversize ? " and an oversized part" : "");
        rc = TG_INVALID;
    } else {
        zmq_msg_t *p = parts + skip;
        rc = tg_frame_decode(zmq_msg_data(&p[0]), zmq_msg_size(&p[0]), zmq_msg_data(&p[1]),
                             zmq_msg_size(&p[1]), own == 3 ? zmq_msg_data(&p[2]) : NULL,
                             own == 3 ? zmq_msg_size(&p[2]) : 0, out_p, err, sizeof err);
    }
    for (size_t i = 0; i < nparts && i < max; i++)
        zmq_msg_close(&parts[i]);
    if (rc == TG_OK)
        atomic_fetch_add_explicit(&s_recvd[(*out_p)->type], 1, memory_order_relaxed);
    else if (rc == TG_INVALID)
        tg_log_warn("dropped bad frame: %s", err);
    return rc;
}

int
tg_frame_recv(void *sock, tg_frame_t **out_p)
{
    return s_recv(sock, out_p, NULL, 0, NULL);
}

int
tg_frame_recv_from(void *sock, tg_frame_t **out_p, char *rid, size_t rid_cap, size_t *rid_len_p)
{
    assert(rid && rid_cap > 1 && rid_len_p);
    return s_recv(sock, out_p, rid, rid_cap, rid_len_p);
}
