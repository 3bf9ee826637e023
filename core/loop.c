/*
 * loop — the epoll event loop (see loop.h for the contract).
 *
 * For: fd readiness (level-triggered), one-shot timers in a min-heap, and
 * signals through one signalfd. Not for: buffering or framing (stream.c),
 * threads (there are none), or any global state (everything hangs off
 * struct loop).
 *
 * Stale events: epoll_wait hands back a batch, and a callback early in
 * the batch may delete (or delete and re-add) an fd whose event is later
 * in the same batch. Every registration therefore gets a generation
 * number packed next to the fd in epoll's data.u64; an event whose
 * generation no longer matches the table is dropped.
 */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_EVENTS 256 /* events fetched per epoll_wait */
#define LOOP_NSIG 65    /* signal numbers 1..64 */

struct fdrec {
	loop_fd_cb *cb;
	void *arg;
	uint32_t events; /* what the owner asked for */
	uint32_t gen;    /* bumped on every add and delete */
	bool used;
};

struct loop_timer {
	uint64_t when_us;
	uint64_t seq; /* ties broken by creation order: equal deadlines fire FIFO */
	size_t idx;   /* position in the heap, kept current for O(log n) cancel */
	loop_timer_cb *cb;
	void *arg;
};

struct sigrec {
	loop_signal_cb *cb;
	void *arg;
};

struct loop {
	int epfd;
	bool stop;

	struct fdrec *fds; /* indexed by fd */
	size_t nfds;       /* entries allocated in fds */

	struct loop_timer **heap; /* min-heap on (when_us, seq) */
	size_t nheap, capheap;
	uint64_t seq;

	int sfd;           /* signalfd, -1 until the first loop_signal */
	sigset_t sigmask;  /* signals routed to sfd */
	sigset_t sigadded; /* signals we blocked that were not blocked before */
	struct sigrec sigs[LOOP_NSIG];

	struct epoll_event ev[LOOP_EVENTS];
};

/* ---- clock ---- */

uint64_t loop_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t loop_now_ms(void)
{
	return loop_now_us() / 1000u;
}

/* ---- lifecycle ---- */

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->sfd = -1;
	sigemptyset(&l->sigmask);
	sigemptyset(&l->sigadded);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = errno;
		free(l);
		errno = e;
		return NULL;
	}
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nheap; i++)
		free(l->heap[i]);
	free(l->heap);
	if (l->sfd >= 0) {
		close(l->sfd);
		/* Give back only what we took: signals the caller had blocked
		 * before loop_signal stay blocked. */
		sigprocmask(SIG_UNBLOCK, &l->sigadded, NULL);
	}
	close(l->epfd);
	free(l->fds);
	free(l);
}

/* ---- fds ---- */

static uint64_t pack(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

static int grow_fds(struct loop *l, int fd)
{
	if ((size_t)fd < l->nfds)
		return 0;
	size_t n = l->nfds ? l->nfds : 64;
	while (n <= (size_t)fd)
		n *= 2;
	struct fdrec *p = realloc(l->fds, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + l->nfds, 0, (n - l->nfds) * sizeof(*p));
	l->fds = p;
	l->nfds = n;
	return 0;
}

int loop_add(struct loop *l, int fd, uint32_t events, loop_fd_cb *cb, void *arg)
{
	if (fd < 0 || !cb)
		return -EINVAL;
	int rc = grow_fds(l, fd);
	if (rc)
		return rc;
	struct fdrec *r = &l->fds[fd];
	if (r->used)
		return -EEXIST;
	uint32_t gen = r->gen + 1;
	struct epoll_event ev = { .events = events, .data.u64 = pack(fd, gen) };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	r->gen = gen;
	r->cb = cb;
	r->arg = arg;
	r->events = events;
	r->used = true;
	return 0;
}

int loop_mod(struct loop *l, int fd, uint32_t events)
{
	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used)
		return -ENOENT;
	struct fdrec *r = &l->fds[fd];
	if (r->events == events)
		return 0; /* saves a syscall on the hot write path */
	struct epoll_event ev = { .events = events, .data.u64 = pack(fd, r->gen) };
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	r->events = events;
	return 0;
}

int loop_del(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used)
		return -ENOENT;
	struct fdrec *r = &l->fds[fd];
	/* The fd may already be closed by a careless owner (EBADF) — the
	 * kernel has dropped it then, and our record must go regardless. */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	r->used = false;
	r->gen++;
	r->cb = NULL;
	r->arg = NULL;
	r->events = 0;
	return 0;
}

/* ---- timers: a binary min-heap ---- */

static bool t_less(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->when_us < b->when_us || (a->when_us == b->when_us && a->seq < b->seq);
}

static void h_set(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->idx = i;
}

static void h_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!t_less(t, l->heap[p]))
			break;
		h_set(l, i, l->heap[p]);
		i = p;
	}
	h_set(l, i, t);
}

static void h_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && t_less(l->heap[c + 1], l->heap[c]))
			c++;
		if (!t_less(l->heap[c], t))
			break;
		h_set(l, i, l->heap[c]);
		i = c;
	}
	h_set(l, i, t);
}

static void h_remove(struct loop *l, size_t i)
{
	struct loop_timer *last = l->heap[--l->nheap];
	if (i == l->nheap)
		return;
	h_set(l, i, last);
	h_down(l, i);
	h_up(l, last->idx);
}

struct loop_timer *loop_timer_add(struct loop *l, uint64_t ms, loop_timer_cb *cb, void *arg)
{
	if (l->nheap == l->capheap) {
		size_t n = l->capheap ? l->capheap * 2 : 16;
		struct loop_timer **p = realloc(l->heap, n * sizeof(*p));
		if (!p) {
			errno = ENOMEM;
			return NULL;
		}
		l->heap = p;
		l->capheap = n;
	}
	struct loop_timer *t = malloc(sizeof(*t));
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	if (ms > UINT64_MAX / 2000)
		ms = UINT64_MAX / 2000; /* "never", without overflowing */
	t->when_us = loop_now_us() + ms * 1000u;
	t->seq = l->seq++;
	t->cb = cb;
	t->arg = arg;
	h_set(l, l->nheap++, t);
	h_up(l, t->idx);
	return t;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t)
		return;
	h_remove(l, t->idx);
	free(t);
}

/* Milliseconds epoll_wait may sleep given the caller's limit and the
 * nearest timer; rounded up so a timer is never woken for too early. */
static int wait_ms(struct loop *l, int timeout_ms)
{
	if (!l->nheap)
		return timeout_ms;
	uint64_t now = loop_now_us();
	uint64_t when = l->heap[0]->when_us;
	uint64_t ms = when <= now ? 0 : (when - now + 999) / 1000;
	if (ms > INT32_MAX)
		ms = INT32_MAX;
	if (timeout_ms < 0 || (uint64_t)timeout_ms > ms)
		return (int)ms;
	return timeout_ms;
}

/* Runs the timers due now. Timers added by these callbacks (even with 0
 * ms) wait for the next round, so a timer re-arming itself cannot starve
 * the fds. */
static int run_timers(struct loop *l)
{
	int n = 0;
	uint64_t now = loop_now_us();
	uint64_t seq_limit = l->seq;
	while (l->nheap && !l->stop) {
		struct loop_timer *t = l->heap[0];
		if (t->when_us > now || t->seq >= seq_limit)
			break;
		h_remove(l, 0);
		loop_timer_cb *cb = t->cb;
		void *arg = t->arg;
		/* Freed before the call: the handle is dead once the callback
		 * starts (loop.h), and the callback may re-arm with the memory. */
		free(t);
		cb(l, arg);
		n++;
	}
	return n;
}

/* ---- signals ---- */

static void on_signalfd(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)events;
	(void)arg;
	struct signalfd_siginfo si[16];
	for (;;) {
		ssize_t n = read(fd, si, sizeof(si));
		if (n <= 0)
			return; /* EAGAIN: drained */
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
			uint32_t signo = si[i].ssi_signo;
			if (signo < LOOP_NSIG && l->sigs[signo].cb)
				l->sigs[signo].cb(l, (int)signo, l->sigs[signo].arg);
		}
	}
}

int loop_signal(struct loop *l, int signo, loop_signal_cb *cb, void *arg)
{
	if (signo <= 0 || signo >= LOOP_NSIG || !cb)
		return -EINVAL;
	sigset_t one, old;
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, &old) < 0)
		return -errno;
	bool was_blocked = sigismember(&old, signo) == 1;

	sigset_t mask = l->sigmask;
	sigaddset(&mask, signo);
	int rc = 0;
	if (l->sfd < 0) {
		int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			goto fail;
		}
		rc = loop_add(l, fd, EPOLLIN, on_signalfd, NULL);
		if (rc) {
			close(fd);
			goto fail;
		}
		l->sfd = fd;
	} else if (signalfd(l->sfd, &mask, 0) < 0) {
		rc = -errno;
		goto fail;
	}
	l->sigmask = mask;
	if (!was_blocked)
		sigaddset(&l->sigadded, signo);
	l->sigs[signo].cb = cb;
	l->sigs[signo].arg = arg;
	return 0;
fail:
	if (!was_blocked)
		sigprocmask(SIG_UNBLOCK, &one, NULL);
	return rc;
}

/* ---- running ---- */

int loop_once(struct loop *l, int timeout_ms)
{
	l->stop = false; /* a stop meant for an earlier loop_run is spent */
	int n = epoll_wait(l->epfd, l->ev, LOOP_EVENTS, wait_ms(l, timeout_ms));
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	int ran = 0;
	for (int i = 0; i < n && !l->stop; i++) {
		uint64_t d = l->ev[i].data.u64;
		int fd = (int)(uint32_t)d;
		uint32_t gen = (uint32_t)(d >> 32);
		if ((size_t)fd >= l->nfds)
			continue;
		struct fdrec *r = &l->fds[fd];
		if (!r->used || r->gen != gen)
			continue; /* deleted, or deleted and re-added, this round */
		/* An earlier callback may have narrowed the interest set since
		 * the batch was fetched; errors and hangups always pass. */
		uint32_t ev = l->ev[i].events & (r->events | EPOLLERR | EPOLLHUP);
		if (!ev)
			continue;
		r->cb(l, fd, ev, r->arg);
		ran++;
	}
	if (!l->stop)
		ran += run_timers(l);
	return ran;
}

int loop_run(struct loop *l)
{
	do {
		int rc = loop_once(l, -1);
		if (rc < 0)
			return rc;
	} while (!l->stop);
	l->stop = false;
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
