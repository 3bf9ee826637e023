/*
 * test_worker — work on a thread, completion on the loop (core/worker.h):
 * the completion runs on the loop thread after the work, and a drain at
 * exit waits for work still running and runs what is left.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "loop.h"
#include "worker.h"

struct job {
	struct loop *l;
	pthread_t loop_thread;
	atomic_int worked;
	int done;
	bool done_on_loop;
	bool done_after_work;
	int sleep_ms;
};

static void work(void *arg)
{
	struct job *j = arg;
	usleep((useconds_t)j->sleep_ms * 1000);
	atomic_store(&j->worked, 1);
}

static void done(void *arg)
{
	struct job *j = arg;
	j->done++;
	j->done_on_loop = pthread_equal(pthread_self(), j->loop_thread);
	j->done_after_work = atomic_load(&j->worked) == 1;
	if (j->l)
		loop_stop(j->l);
}

Test(worker, completion_runs_on_the_loop_after_the_work)
{
	struct loop *l = loop_new();
	struct workers w;
	workers_init(&w, l);
	struct job j = { .l = l, .loop_thread = pthread_self(), .sleep_ms = 20 };
	cr_assert_eq(worker_run(&w, work, done, &j), 0);
	cr_expect_eq(j.done, 0, "done must wait for the loop");
	loop_run(l);
	cr_expect_eq(j.done, 1);
	cr_expect(j.done_on_loop);
	cr_expect(j.done_after_work);
	cr_expect_null(w.list);
	cr_expect_eq(workers_drain(&w, 100), 0);
	loop_free(l);
}

Test(worker, drain_waits_for_running_work_then_completes_it)
{
	struct loop *l = loop_new();
	struct workers w;
	workers_init(&w, l);
	struct job a = { .loop_thread = pthread_self(), .sleep_ms = 150 };
	struct job b = { .loop_thread = pthread_self(), .sleep_ms = 0 };
	cr_assert_eq(worker_run(&w, work, done, &a), 0);
	cr_assert_eq(worker_run(&w, work, done, &b), 0);
	/* The loop never runs again (exit): drain does its part. */
	cr_expect_eq(workers_drain(&w, 3000), 0);
	cr_expect_eq(a.done, 1);
	cr_expect_eq(b.done, 1);
	cr_expect(a.done_after_work);
	cr_expect_null(w.list);
	loop_free(l);
}

Test(worker, drain_gives_up_after_its_time_and_leaves_the_running_alone)
{
	struct loop *l = loop_new();
	struct workers w;
	workers_init(&w, l);
	struct job a = { .loop_thread = pthread_self(), .sleep_ms = 400 };
	cr_assert_eq(worker_run(&w, work, done, &a), 0);
	cr_expect_eq(workers_drain(&w, 50), -ETIMEDOUT);
	cr_expect_eq(a.done, 0, "not completed while its thread runs");
	cr_expect_eq(workers_drain(&w, 3000), 0);
	cr_expect_eq(a.done, 1);
	loop_free(l);
}
