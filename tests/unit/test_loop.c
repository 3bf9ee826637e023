/*
 * test_loop — the epoll loop: timer order and cancel, fd callbacks, stale
 * events after a delete in the same round, signals through signalfd.
 *
 *   make build/tests/test_loop && build/tests/test_loop --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"

struct rec {
	int order[16];
	int n;
};

struct targ {
	struct rec *r;
	int id;
};

static void on_timer(struct loop *l, void *arg)
{
	(void)l;
	struct targ *t = arg;
	t->r->order[t->r->n++] = t->id;
}

static void run_for(struct loop *l, int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;
	while (loop_now_ms() < end)
		loop_once(l, 5);
}

Test(loop, timers_fire_in_deadline_order_then_fifo)
{
	struct loop *l = loop_new();
	cr_assert_not_null(l);
	struct rec r = { 0 };
	struct targ t[5] = { { &r, 0 }, { &r, 1 }, { &r, 2 }, { &r, 3 }, { &r, 4 } };
	cr_assert_not_null(loop_timer_add(l, 40, on_timer, &t[0]));
	cr_assert_not_null(loop_timer_add(l, 10, on_timer, &t[1]));
	cr_assert_not_null(loop_timer_add(l, 25, on_timer, &t[2]));
	cr_assert_not_null(loop_timer_add(l, 0, on_timer, &t[3]));
	cr_assert_not_null(loop_timer_add(l, 0, on_timer, &t[4]));
	run_for(l, 80);
	cr_assert_eq(r.n, 5);
	int want[5] = { 3, 4, 1, 2, 0 };
	for (int i = 0; i < 5; i++)
		cr_assert_eq(r.order[i], want[i], "position %d: %d", i, r.order[i]);
	loop_free(l);
}

Test(loop, timer_does_not_fire_early)
{
	struct loop *l = loop_new();
	struct rec r = { 0 };
	struct targ t = { &r, 7 };
	uint64_t start = loop_now_us();
	loop_timer_add(l, 30, on_timer, &t);
	while (!r.n)
		loop_once(l, -1);
	cr_assert_geq(loop_now_us() - start, 30000);
	loop_free(l);
}

Test(loop, cancelled_timer_never_fires)
{
	struct loop *l = loop_new();
	struct rec r = { 0 };
	struct targ t[3] = { { &r, 0 }, { &r, 1 }, { &r, 2 } };
	struct loop_timer *a = loop_timer_add(l, 5, on_timer, &t[0]);
	loop_timer_add(l, 10, on_timer, &t[1]);
	struct loop_timer *c = loop_timer_add(l, 15, on_timer, &t[2]);
	loop_timer_cancel(l, a);
	loop_timer_cancel(l, c);
	loop_timer_cancel(l, NULL);
	run_for(l, 40);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.order[0], 1);
	loop_free(l);
}

struct tarr {
	int fired[200];
	int n;
	int ms[200];
};

struct tone {
	struct tarr *a;
	int id;
};

static void on_tone(struct loop *l, void *arg)
{
	(void)l;
	struct tone *t = arg;
	t->a->fired[t->a->n++] = t->id;
}

Test(loop, many_timers_with_cancels_fire_in_deadline_order)
{
	struct loop *l = loop_new();
	static struct tarr a;
	static struct tone t[200];
	struct loop_timer *h[200];
	for (int i = 0; i < 200; i++) {
		t[i].a = &a;
		t[i].id = i;
		a.ms[i] = (i * 37) % 50;
		h[i] = loop_timer_add(l, (uint64_t)a.ms[i], on_tone, &t[i]);
		cr_assert_not_null(h[i]);
	}
	/* Cancel every third one: removals from the middle of the heap. */
	for (int i = 0; i < 200; i += 3)
		loop_timer_cancel(l, h[i]);
	run_for(l, 100);
	cr_assert_eq(a.n, 200 - 67);
	for (int i = 0; i < a.n; i++) {
		cr_assert_neq(a.fired[i] % 3, 0);
		if (i)
			cr_assert_leq(a.ms[a.fired[i - 1]], a.ms[a.fired[i]]);
	}
	/* Pending timers are freed by loop_free (ASan checks). */
	loop_timer_add(l, 100000, on_tone, &t[0]);
	loop_free(l);
}

static void add_self_again(struct loop *l, void *arg)
{
	int *n = arg;
	if (++*n < 3)
		loop_timer_add(l, 0, add_self_again, n);
}

Test(loop, zero_timer_added_from_a_timer_runs_next_round)
{
	struct loop *l = loop_new();
	int n = 0;
	loop_timer_add(l, 0, add_self_again, &n);
	cr_assert_eq(loop_once(l, 0), 1);
	cr_assert_eq(n, 1);
	cr_assert_eq(loop_once(l, 0), 1);
	cr_assert_eq(n, 2);
	loop_once(l, 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(loop_once(l, 0), 0);
	loop_free(l);
}

struct fdrec {
	int calls;
	uint32_t events;
	int other; /* fd to delete from inside the callback, or -1 */
	int drain;
};

static void on_fd(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct fdrec *r = arg;
	r->calls++;
	r->events = events;
	if (r->drain) {
		char b[64];
		while (read(fd, b, sizeof(b)) > 0)
			;
	}
	if (r->other >= 0)
		loop_del(l, r->other);
}

Test(loop, fd_callback_fires_on_readable_and_writable)
{
	struct loop *l = loop_new();
	int p[2];
	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	struct fdrec rr = { .other = -1, .drain = 1 }, wr = { .other = -1 };
	cr_assert_eq(loop_add(l, p[0], EPOLLIN, on_fd, &rr), 0);
	cr_assert_eq(loop_add(l, p[0], EPOLLIN, on_fd, &rr), -EEXIST);
	cr_assert_eq(loop_add(l, p[1], EPOLLOUT, on_fd, &wr), 0);
	loop_once(l, 0);
	cr_assert_eq(rr.calls, 0);
	cr_assert_eq(wr.calls, 1);
	cr_assert(wr.events & EPOLLOUT);
	cr_assert_eq(loop_mod(l, p[1], 0), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	loop_once(l, 100);
	cr_assert_eq(rr.calls, 1);
	cr_assert(rr.events & EPOLLIN);
	cr_assert_eq(wr.calls, 1);
	cr_assert_eq(loop_del(l, p[0]), 0);
	cr_assert_eq(loop_del(l, p[0]), -ENOENT);
	cr_assert_eq(loop_mod(l, p[0], EPOLLIN), -ENOENT);
	cr_assert_eq(write(p[1], "x", 1), 1);
	loop_once(l, 10);
	cr_assert_eq(rr.calls, 1);
	loop_del(l, p[1]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

Test(loop, deleting_another_fd_in_a_round_suppresses_its_pending_event)
{
	struct loop *l = loop_new();
	int a[2], b[2];
	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	/* Both readable before the round: each one deletes the other. The
	 * first to run wins; the second's event is already fetched and
	 * must not be delivered. */
	struct fdrec ra = { .other = b[0] }, rb = { .other = a[0] };
	loop_add(l, a[0], EPOLLIN, on_fd, &ra);
	loop_add(l, b[0], EPOLLIN, on_fd, &rb);
	cr_assert_eq(write(a[1], "x", 1), 1);
	cr_assert_eq(write(b[1], "x", 1), 1);
	cr_assert_eq(loop_once(l, 100), 1);
	cr_assert_eq(ra.calls + rb.calls, 1);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	loop_free(l);
}

struct readd {
	int victim;
	struct fdrec *vrec;
	int calls;
};

static void del_and_readd(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	struct readd *r = arg;
	if (++r->calls > 1)
		return; /* level-triggered: it fires again; act only once */
	loop_del(l, r->victim);
	loop_add(l, r->victim, EPOLLIN, on_fd, r->vrec);
}

Test(loop, deleted_and_readded_fd_skips_the_stale_event)
{
	struct loop *l = loop_new();
	int a[2], b[2];
	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	struct fdrec vb = { .other = -1 };
	struct readd ra = { .victim = b[0], .vrec = &vb };
	struct readd rb = { .victim = a[0], .vrec = &vb };
	loop_add(l, a[0], EPOLLIN, del_and_readd, &ra);
	loop_add(l, b[0], EPOLLIN, del_and_readd, &rb);
	cr_assert_eq(write(a[1], "x", 1), 1);
	cr_assert_eq(write(b[1], "x", 1), 1);
	/* One of the two runs; the other was re-registered under a new
	 * generation with a new callback, so the old event is dropped. */
	cr_assert_eq(loop_once(l, 100), 1);
	cr_assert_eq(ra.calls + rb.calls, 1);
	cr_assert_eq(vb.calls, 0);
	/* The next round delivers to the new registration. */
	loop_once(l, 100);
	cr_assert_geq(vb.calls, 1);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	loop_free(l);
}

struct sigs {
	int usr1, usr2;
};

static void on_sig(struct loop *l, int signo, void *arg)
{
	struct sigs *s = arg;
	if (signo == SIGUSR1)
		s->usr1++;
	if (signo == SIGUSR2) {
		s->usr2++;
		loop_stop(l);
	}
}

Test(loop, signals_arrive_through_loop_signal)
{
	struct loop *l = loop_new();
	struct sigs s = { 0 };
	cr_assert_eq(loop_signal(l, SIGUSR1, on_sig, &s), 0);
	cr_assert_eq(loop_signal(l, SIGUSR2, on_sig, &s), 0);
	cr_assert_eq(loop_signal(l, 0, on_sig, &s), -EINVAL);
	kill(getpid(), SIGUSR1);
	loop_once(l, 100);
	cr_assert_eq(s.usr1, 1);
	kill(getpid(), SIGUSR2);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(s.usr2, 1);
	loop_free(l);
}

static void stopper(struct loop *l, void *arg)
{
	(*(int *)arg)++;
	loop_stop(l);
}

Test(loop, loop_stop_makes_loop_run_return)
{
	struct loop *l = loop_new();
	int n = 0;
	loop_timer_add(l, 5, stopper, &n);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(n, 1);
	loop_timer_add(l, 5, stopper, &n);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(n, 2);
	loop_free(l);
}

Test(loop, clocks_are_monotonic_and_consistent)
{
	uint64_t a = loop_now_us(), m = loop_now_ms();
	usleep(2000);
	uint64_t b = loop_now_us();
	cr_assert_gt(b, a);
	cr_assert_geq(b - a, 2000);
	cr_assert_leq(m, b / 1000);
	loop_free(NULL);
}
