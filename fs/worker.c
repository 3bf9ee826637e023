/*
 * worker — work on a thread, completion on the loop (worker.h): a pipe
 * carries "finished" back to the loop.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

struct worker {
	struct loop *l;
	int pipe[2];
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	w->work(w->arg);
	char one = 1;
	if (write(w->pipe[1], &one, 1) != 1)
		log_warn("worker: cannot signal the end"); /* cannot happen: one byte, our pipe */
	return NULL;
}

static void on_finished(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)events;
	struct worker *w = arg;
	loop_del(l, fd);
	close(w->pipe[0]);
	close(w->pipe[1]);
	w->done(w->arg);
	free(w);
}

int worker_run(struct loop *l, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct worker){ .l = l, .work = work, .done = done, .arg = arg };
	if (pipe2(w->pipe, O_CLOEXEC) < 0) {
		int rc = -errno;
		free(w);
		return rc;
	}
	int rc = loop_add(l, w->pipe[0], EPOLLIN, on_finished, w);
	if (!rc) {
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &at, worker_main, w) != 0) {
			loop_del(l, w->pipe[0]);
			rc = -EAGAIN;
		}
		pthread_attr_destroy(&at);
	}
	if (rc) {
		close(w->pipe[0]);
		close(w->pipe[1]);
		free(w);
	}
	return rc;
}
