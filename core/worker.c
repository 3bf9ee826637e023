/*
 * worker — work on a thread, completion on the loop (worker.h): a pipe
 * carries "finished" back to the loop.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct worker {
	struct workers *set;
	struct worker *next;
	int pipe[2];
	bool finished;        /* the thread is through (under set->mu) */
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
};

void workers_init(struct workers *w, struct loop *l)
{
	w->l = l;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->running = 0;
	w->list = NULL;
}

static void *worker_main(void *p)
{
	struct worker *k = p;
	k->work(k->arg);
	char one = 1;
	if (write(k->pipe[1], &one, 1) != 1)
		log_warn("worker: cannot signal the end"); /* one byte into our own pipe */
	struct workers *w = k->set;
	pthread_mutex_lock(&w->mu);
	k->finished = true;
	w->running--;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Runs k's completion and frees it (loop thread, or drain). */
static void complete(struct worker *k)
{
	struct workers *w = k->set;
	for (struct worker **pp = &w->list; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	loop_del(w->l, k->pipe[0]);
	close(k->pipe[0]);
	close(k->pipe[1]);
	k->done(k->arg);
	free(k);
}

static void on_finished(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	struct worker *k = arg;
	/* The byte comes before the thread's last words: wait for those. */
	pthread_mutex_lock(&k->set->mu);
	while (!k->finished)
		pthread_cond_wait(&k->set->cv, &k->set->mu);
	pthread_mutex_unlock(&k->set->mu);
	complete(k);
}

int worker_run(struct workers *w, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	struct worker *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	*k = (struct worker){ .set = w, .work = work, .done = done, .arg = arg };
	if (pipe2(k->pipe, O_CLOEXEC) < 0) {
		int rc = -errno;
		free(k);
		return rc;
	}
	int rc = loop_add(w->l, k->pipe[0], EPOLLIN, on_finished, k);
	if (!rc) {
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_mutex_lock(&w->mu);
		w->running++;
		if (pthread_create(&th, &at, worker_main, k) != 0) {
			w->running--;
			rc = -EAGAIN;
		}
		pthread_mutex_unlock(&w->mu);
		pthread_attr_destroy(&at);
		if (rc)
			loop_del(w->l, k->pipe[0]);
	}
	if (rc) {
		close(k->pipe[0]);
		close(k->pipe[1]);
		free(k);
		return rc;
	}
	k->next = w->list;
	w->list = k;
	return 0;
}

int workers_drain(struct workers *w, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	/* A completion may start more work (the next line of a ctl write):
	 * wait for that too, within the same time. */
	int rc = 0;
	while (w->list && !rc) {
		pthread_mutex_lock(&w->mu);
		while (w->running > 0 && !rc)
			if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT)
				rc = -ETIMEDOUT;
		pthread_mutex_unlock(&w->mu);
		for (struct worker *k = w->list, *next; k; k = next) {
			next = k->next;
			pthread_mutex_lock(&w->mu);
			bool finished = k->finished;
			pthread_mutex_unlock(&w->mu);
			if (finished)
				complete(k);
		}
	}
	return rc;
}
