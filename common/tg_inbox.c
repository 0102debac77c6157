//  tg_inbox.c - drain a zmq socket in bursts.
#include "tg_inbox.h"
#include "tg_util.h"

#include <assert.h>

int
tg_inbox_drain(void *sock, int burst, tg_inbox_fn *fn, void *arg)
{
    assert(sock && fn);
    for (int i = 0; i < burst; i++) {
        tg_frame_t *f = NULL;
        int rc = tg_frame_recv(sock, &f);
        if (rc == TG_AGAIN)
            break;
        if (rc == TG_ERR)
            return TG_ERR;
        if (rc == TG_INVALID)
            continue;  //  logged by the codec
        fn(&f, arg);
        tg_frame_destroy(&f);
    }
    return TG_OK;
}
