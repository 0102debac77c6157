//  tg_frame.h - the frames of proto/frames.def as C structs, and their msgpack codec.
//
//  A frame on the wire is [tag][msgpack map][body?]; see proto/README.md.
#ifndef TG_FRAME_H
#define TG_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frames.def"

typedef enum {
#define TG_X(E, n, t) TG_FRAME_##E,
    TG_FRAMES(TG_X)
#undef TG_X
        TG_FRAME_COUNT
} tg_frame_type_t;

#define TG_CTYPE_STR char *
#define TG_CTYPE_I64 int64_t
#define TG_CTYPE_U64 uint64_t
#define TG_CTYPE_DBL double
#define TG_CTYPE_BOOL bool
#define TG_F(f, T, k, r) TG_CTYPE_##T k;
#define TG_X(E, n, t)          \
    typedef struct {           \
        TG_FIELDS_##n(TG_F, _) \
    } tg_fr_##n##_t;
TG_FRAMES(TG_X)
#undef TG_X
#undef TG_F

typedef struct {
    tg_frame_type_t type;  //  which member of the union is live
    char *topic;           //  PUB topic suffix after "<tag>." (NULL = none); owned
    union {
#define TG_X(E, n, t) tg_fr_##n##_t n;
        TG_FRAMES(TG_X)
#undef TG_X
    };
    char *body;       //  opaque bytes of the third part, NUL-terminated (NULL = none); owned
    size_t body_len;  //  length of body without the NUL
} tg_frame_t;

//  Largest frame part accepted from a socket; bigger ones are rejected as TG_INVALID.
#define TG_FRAME_MAX_PART (64u << 20)

//  Returns a zeroed frame of `type`. Caller owns it.
tg_frame_t *tg_frame_new(tg_frame_type_t type);
//  Frees the frame, its strings and body; sets *self_p to NULL. NULL-safe.
void tg_frame_destroy(tg_frame_t **self_p);
//  Returns the frame type's name ("request", ...), or "?" when out of range.
const char *tg_frame_name(tg_frame_type_t type);
//  Replaces the body with a copy of `len` bytes at `data`.
void tg_frame_set_body(tg_frame_t *self, const void *data, size_t len);
//  Replaces the body with *body_p (heap, NUL-terminated at len), taking ownership; *body_p = NULL.
void tg_frame_give_body(tg_frame_t *self, char **body_p, size_t len);
//  Replaces string field storage: frees *field and stores a copy of value (NULL allowed).
void tg_frame_set_str(char **field, const char *value);

//  Sends the frame on a zmq socket (zsock_t * or raw libzmq socket) without blocking and
//  without consuming it. TG_AGAIN if the socket would block (HWM, no peer), TG_ERR otherwise.
int tg_frame_write(const tg_frame_t *self, void *sock);
//  As tg_frame_write on a ROUTER socket: the routing id `rid` goes first. TG_NOTFOUND when no
//  peer has that id (the socket must have ZMQ_ROUTER_MANDATORY set).
int tg_frame_write_to(const tg_frame_t *self, void *sock, const void *rid, size_t rid_len);
//  As tg_frame_write, then destroys the frame (*self_p = NULL) whatever the outcome.
int tg_frame_send(tg_frame_t **self_p, void *sock);
//  Receives one frame without blocking. TG_OK and *out_p set; TG_AGAIN when nothing is
//  waiting; TG_INVALID when a malformed message was read and dropped (logged once here);
//  TG_ERR when the socket failed (context terminated, interrupted).
int tg_frame_recv(void *sock, tg_frame_t **out_p);
//  Frames of `type` this process has sent (tg_frame_write returned TG_OK) and received
//  (tg_frame_recv returned TG_OK) since it started; 0 when type is out of range.
uint64_t tg_frame_sent_count(tg_frame_type_t type);
uint64_t tg_frame_recv_count(tg_frame_type_t type);

//  As tg_frame_recv on a ROUTER socket: the sender's routing id is copied into rid (NUL-
//  terminated, at most rid_cap - 1 bytes, length in *rid_len_p); a longer or empty one makes
//  the message TG_INVALID.
int
tg_frame_recv_from(void *sock, tg_frame_t **out_p, char *rid, size_t rid_cap, size_t *rid_len_p);
//  Decodes one message from its parts (body may be NULL). TG_OK and *out_p, or TG_INVALID
//  with the reason in err (never logged here).
int tg_frame_decode(const void *tag,
                    size_t tag_len,
                    const void *map,
                    size_t map_len,
                    const void *body,
                    size_t body_len,
                    tg_frame_t **out_p,
                    char *err,
                    size_t err_size);
//  Decodes the element at *off_p of `data`, a sequence of msgpack maps back to back (the
//  body of a batch frame such as USAGES), as a frame of `type` without tag or body, and
//  moves *off_p past it. TG_OK and *out_p; TG_INVALID (reason in err) when that element is
//  not a valid `type` map: *off_p is then past it, or at len if the rest is not msgpack.
int tg_frame_decode_next(tg_frame_type_t type,
                         const void *data,
                         size_t len,
                         size_t *off_p,
                         tg_frame_t **out_p,
                         char *err,
                         size_t err_size);
//  Encodes the msgpack map part; returns a heap buffer the caller frees, length in *len_p.
char *tg_frame_encode_map(const tg_frame_t *self, size_t *len_p);
//  Field types of frames.def, for tg_frame_field.
typedef enum {
    TG_FIELD_STR,
    TG_FIELD_I64,
    TG_FIELD_U64,
    TG_FIELD_DBL,
    TG_FIELD_BOOL
} tg_field_type_t;
//  Number of fields (besides "v") of frame `type`.
size_t tg_frame_field_count(tg_frame_type_t type);
//  The index-th field of frame `type`: its wire key (static), type and whether it is
//  required. TG_NOTFOUND past the last one.
int tg_frame_field(tg_frame_type_t type,
                   size_t index,
                   const char **key_p,
                   tg_field_type_t *type_p,
                   bool *required_p);
//  Writes the tag part ("<tag>" or "<tag>.<topic>") into out; returns its length.
size_t tg_frame_tag(const tg_frame_t *self, char *out, size_t size);

//  True if data[len] is exactly one msgpack object whose containers claim no more entries than
//  there are bytes left (check bytes from the network with it before msgpack_unpack_next,
//  which allocates a container's declared size first).
bool tg_frame_msgpack_whole(const void *data, size_t len);

#endif
