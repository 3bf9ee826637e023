/*
 * fh — open control-tree files: serving reads, parking the ones that must
 * wait, waking them, poll and interrupt (fh.h). Every parked read ends:
 * with data, with EOF when its job ends or its context goes, with EIO for
 * the status of a lost job, or with EINTR when the reader is interrupted.
 */
#include "fh.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "ring.h"

#define MAX_IOV 64

static const char LOG_GAP[] = "[mitofs: older lines were dropped here]\n";

struct fh *fh_new(struct daemon *d, enum node_kind kind)
{
	struct fh *f = calloc(1, sizeof(*f));
	if (f) {
		f->d = d;
		f->kind = kind;
	}
	return f;
}

static void link_into(struct fh *f, struct fh **list)
{
	f->onext = *list;
	if (*list)
		(*list)->oprev = &f->onext;
	f->oprev = list;
	*list = f;
}

static void unlink_fh(struct fh *f)
{
	if (!f->oprev)
		return;
	*f->oprev = f->onext;
	if (f->onext)
		f->onext->oprev = f->oprev;
	f->onext = NULL;
	f->oprev = NULL;
}

void fh_attach_job(struct fh *f, struct job *j)
{
	f->job = j;
	if (j)
		link_into(f, &j->fhs);
}

void fh_attach_ctx(struct fh *f, struct ctx *c)
{
	f->ctx = c;
	if (c)
		link_into(f, &c->fhs);
}

static bool is_stream(enum node_kind k) { return k == N_STDOUT || k == N_STDERR; }

static struct ring *ring_of(struct fh *f)
{
	if (f->kind == N_LOG)
		return f->ctx ? f->ctx->log : NULL;
	if (!f->job)
		return NULL;
	return f->kind == N_STDERR ? f->job->err : f->job->out;
}

static void reply_ring(struct fh *f, fuse_req_t req, struct ring *r, uint64_t real,
		       off_t off, size_t size)
{
	struct iovec iov[MAX_IOV];
	size_t got;
	int n = ring_iov(r, real, size, iov, MAX_IOV, &got);
	f->next_off = (uint64_t)off + got;
	fuse_reply_iov(req, iov, n);
}

static void reply_text(fuse_req_t req, const char *text, size_t len, off_t off, size_t size)
{
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, text + off, len - (size_t)off < size ? len - (size_t)off : size);
}

static void on_interrupt(fuse_req_t req, void *arg)
{
	struct fh *f = arg;
	if (f->pending == req) {
		f->pending = NULL;
		fuse_reply_err(req, EINTR);
	}
}

static void park(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	if (f->oflags & O_NONBLOCK) {
		fuse_reply_err(req, EAGAIN);
		return;
	}
	if (f->pending) {
		/* One waiting read per open file; a second one at once is a
		 * caller sharing the descriptor between threads. */
		fuse_reply_err(req, EBUSY);
		return;
	}
	f->pending = req;
	f->pend_size = size;
	f->pend_off = off;
	fuse_req_interrupt_func(req, on_interrupt, f);
}

void fh_read(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	struct job *j = f->job;
	if (f->snap || f->kind == N_README || f->kind == N_STATS || f->kind == N_INFO ||
	    f->kind == N_JOBS_NEW || f->kind == N_CTL || f->kind == N_JOB_CTL) {
		reply_text(req, f->snap, f->snaplen, off, size);
		return;
	}
	if (is_stream(f->kind)) {
		struct ring *r = ring_of(f);
		if (r && (uint64_t)off < ring_end(r))
			reply_ring(f, req, r, (uint64_t)off, off, size);
		else if (!j || j->state == JOB_DONE)
			fuse_reply_buf(req, NULL, 0);
		else
			park(f, req, size, off);
		return;
	}
	if (f->kind == N_STATUS) {
		char text[64];
		if (!j) {
			fuse_reply_err(req, ENODATA);
		} else if (j->state == JOB_DONE) {
			int n = job_status_text(j, text, sizeof(text));
			if (n < 0)
				fuse_reply_err(req, EIO);
			else
				reply_text(req, text, (size_t)n, off, size);
		} else {
			park(f, req, size, off);
		}
		return;
	}
	if (f->kind == N_LOG) {
		struct ring *r = ring_of(f);
		if (!r) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		uint64_t real = (uint64_t)((int64_t)off + f->delta);
		if (real < ring_start(r)) {
			/* The ring wrapped past this reader: say so once, then
			 * go on from the first whole line kept. */
			size_t n = sizeof(LOG_GAP) - 1 < size ? sizeof(LOG_GAP) - 1 : size;
			uint64_t from = ring_start(r);
			struct iovec iov[MAX_IOV];
			size_t got;
			int cnt = ring_iov(r, from, 64 << 10, iov, MAX_IOV, &got);
			for (int i = 0, done = 0; i < cnt && !done; i++) {
				const char *nl = memchr(iov[i].iov_base, '\n', iov[i].iov_len);
				if (nl) {
					from += (uint64_t)(nl - (const char *)iov[i].iov_base) + 1;
					done = 1;
				} else {
					from += iov[i].iov_len;
				}
			}
			f->delta = (int64_t)from - ((int64_t)off + (int64_t)n);
			f->next_off = (uint64_t)off + n;
			fuse_reply_buf(req, LOG_GAP, n);
		} else if (real < ring_end(r)) {
			reply_ring(f, req, r, real, off, size);
		} else if (f->ctx != &f->d->root && f->ctx->state == CTX_DISCONNECTED) {
			fuse_reply_buf(req, NULL, 0);
		} else {
			park(f, req, size, off);
		}
		return;
	}
	fuse_reply_err(req, EBADF);
}

static bool readable(struct fh *f)
{
	struct job *j = f->job;
	if (is_stream(f->kind)) {
		struct ring *r = ring_of(f);
		return !j || j->state == JOB_DONE || (r && f->next_off < ring_end(r));
	}
	if (f->kind == N_STATUS)
		return !j || j->state == JOB_DONE;
	if (f->kind == N_LOG) {
		struct ring *r = ring_of(f);
		return !r || (uint64_t)((int64_t)f->next_off + f->delta) < ring_end(r) ||
		       (f->ctx != &f->d->root && f->ctx->state == CTX_DISCONNECTED);
	}
	return true;
}

void fh_wake(struct fh *list)
{
	for (struct fh *f = list, *next; f; f = next) {
		next = f->onext;
		if (f->pending) {
			fuse_req_t req = f->pending;
			f->pending = NULL;
			fh_read(f, req, f->pend_size, f->pend_off);
		}
		if (f->ph && readable(f)) {
			fuse_lowlevel_notify_poll(f->ph);
			fuse_pollhandle_destroy(f->ph);
			f->ph = NULL;
		}
	}
}

void fh_poll(struct fh *f, fuse_req_t req, struct fuse_pollhandle *ph)
{
	bool w = f->kind == N_CTL || f->kind == N_EXEC || f->kind == N_JOB_CMD ||
		 f->kind == N_JOB_STDIN || f->kind == N_JOB_CTL;
	bool r = readable(f);
	if (!r && ph) {
		if (f->ph)
			fuse_pollhandle_destroy(f->ph);
		f->ph = ph;
	} else if (ph) {
		fuse_pollhandle_destroy(ph);
	}
	fuse_reply_poll(req, (r ? POLLIN | POLLRDNORM : 0) | (w ? POLLOUT | POLLWRNORM : 0));
}

/* Ends whatever f waits for, as if its object were gone. */
static void end_waits(struct fh *f)
{
	if (f->pending) {
		fuse_req_t req = f->pending;
		f->pending = NULL;
		fuse_reply_err(req, f->kind == N_STATUS ? EIO : 0);
	}
	if (f->ph) {
		fuse_lowlevel_notify_poll(f->ph);
		fuse_pollhandle_destroy(f->ph);
		f->ph = NULL;
	}
}

void fh_detach_all(struct fh **list)
{
	while (*list) {
		struct fh *f = *list;
		unlink_fh(f);
		f->job = NULL;
		f->ctx = NULL;
		end_waits(f);
	}
}

void fh_free(struct fh *f)
{
	if (!f)
		return;
	end_waits(f);
	unlink_fh(f);
	struct job *j = f->job;
	free(f->snap);
	free(f->wbuf);
	free(f);
	if (j)
		job_maybe_free(j);
}
