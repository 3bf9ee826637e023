/*
 * worker — runs a piece of work on a thread of its own, then a
 * completion on the loop.
 *
 * For calls that may wait for the loop itself: the daemon's kernel cache
 * invalidations (fuse_lowlevel_notify_inval_*) may need our answer to a
 * request the kernel holds a lock for (a lookup in the same directory, a
 * read of the same pages) before they return, so calling them from the
 * loop, which is the only one to answer, can deadlock.
 * Not for: anything that touches loop-side state from the thread (work
 * sees only what arg gives it; done runs on the loop).
 */
#ifndef MITOFS_WORKER_H
#define MITOFS_WORKER_H

#include <pthread.h>

#include "loop.h"

struct worker;

/* The daemon's work in progress, so that exit can wait for it. */
struct workers {
	struct loop *l;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int running;          /* threads not finished (under mu) */
	struct worker *list;  /* records whose completion has not run */
};

void workers_init(struct workers *w, struct loop *l);
/* work(arg) on a new detached thread, then done(arg) on the loop thread.
 * 0, or -errno when nothing was started (neither is called). */
int worker_run(struct workers *w, void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* At exit, once the loop no longer runs: waits up to ms for the threads
 * (they may use the FUSE session, which must outlive them), then runs
 * the completions that are left. 0, or -ETIMEDOUT when a thread is still
 * running (its record is left alone). */
int workers_drain(struct workers *w, int ms);

#endif
