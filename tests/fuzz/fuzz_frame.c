//  fuzz_frame.c - the frame decoder on any bytes: [u8 tag length][tag][u16 LE map length]
//  [map][body = the rest], and every frame type's batch decoder over the whole input.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tg_frame.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (size >= 3) {
        size_t tag_len = data[0];
        if (1 + tag_len + 2 <= size) {
            const uint8_t *tag = data + 1;
            const uint8_t *p = tag + tag_len;
            size_t map_len = (size_t)p[0] | (size_t)p[1] << 8;
            p += 2;
            size_t rest = size - (size_t)(p - data);
            if (map_len > rest)
                map_len = rest;
            tg_frame_t *f = NULL;
            if (tg_frame_decode(tag, tag_len, p, map_len, p + map_len, rest - map_len, &f, err,
                                sizeof err)
                == 0) {
                size_t len = 0;
                char *map = tg_frame_encode_map(f, &len);  //  what decodes re-encodes
                free(map);
                tg_frame_destroy(&f);
            }
        }
    }
    for (int t = 0; t < TG_FRAME_COUNT; t++) {
        size_t off = 0;
        for (int n = 0; off < size && n < 64; n++) {
            tg_frame_t *f = NULL;
            if (tg_frame_decode_next((tg_frame_type_t)t, data, size, &off, &f, err, sizeof err)
                == 0)
                tg_frame_destroy(&f);
        }
    }
    return 0;
}
