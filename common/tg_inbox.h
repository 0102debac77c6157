//  tg_inbox.h - a ZeroMQ socket drained frame by frame from a zloop reader, in bursts.
#ifndef TG_INBOX_H
#define TG_INBOX_H

#include "tg_frame.h"

//  Called once per good frame; may keep the frame (*frame_p = NULL), else tg_inbox_drain
//  destroys it after the call.
typedef void(tg_inbox_fn)(tg_frame_t **frame_p, void *arg);

//  Receives up to `burst` frames from sock (zsock_t *, borrowed) without blocking and hands
//  each good one to fn; malformed ones are dropped (logged by the codec). TG_OK when the
//  socket is empty or the burst is used up, TG_ERR at once when the socket failed (context
//  terminated, interrupted: a zloop reader then returns -1 if zsys_interrupted).
int tg_inbox_drain(void *sock, int burst, tg_inbox_fn *fn, void *arg);

#endif
