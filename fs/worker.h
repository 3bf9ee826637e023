/*
 * worker — runs a piece of work on a thread of its own, then a
 * completion on the loop.
 *
 * For the kernel cache invalidations (fuse_lowlevel_notify_inval_*): the
 * kernel may need our answer to a request it holds a lock for (a lookup
 * in the same directory, a read of the same pages) before it can carry
 * out the invalidation, so calling it from the loop, which is the only
 * one to answer, can deadlock.
 * Not for: anything that touches daemon state from the thread (work sees
 * only what arg gives it).
 */
#ifndef MITOFS_WORKER_H
#define MITOFS_WORKER_H

#include "loop.h"

/* work(arg) on a new detached thread, then done(arg) on l's loop thread.
 * 0, or -errno when nothing was started (neither is called). */
int worker_run(struct loop *l, void (*work)(void *arg), void (*done)(void *arg), void *arg);

#endif
