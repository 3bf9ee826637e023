/*
 * fh — open control-tree files: serving reads, parking the ones that must
 * wait, waking them, poll and interrupt (fh.h). Every parked read ends:
 * with data, with EOF when its job exited or its context's log ends, with
 * EIO when a job's output was cut or its status is lost, or with EINTR
 * when the reader is interrupted.
 * Which read a file gets is its kind's row (kinds.c); the reads of a
 * context's files are here, a group's in group_job.c, on the same helpers.
 */
#include "fh.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "jobs.h"
#include "kinds.h"
#include "ring.h"

#define MAX_IOV 64

static const char LOG_GAP[] = "[mitofs: older lines were dropped here]\n";

struct fh *fh_new(struct daemon *d, enum node_kind kind)
{
	struct fh *f = calloc(1, sizeof(*f));
	if (f) {
		f->d = d;
		f->kind = kind;
		f->anext = d->open_files;
		if (f->anext)
			f->anext->aprev = &f->anext;
		f->aprev = &d->open_files;
		d->open_files = f;
	}
	return f;
}

void fh_free_all(struct daemon *d)
{
	while (d->open_files)
		fh_free(d->open_files);
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

void fh_attach_gjob(struct fh *f, struct gjob *gj, struct fh **list)
{
	f->gj = gj;
	if (gj)
		link_into(f, list);
}

void fh_attach_ctx(struct fh *f, struct ctx *c)
{
	f->ctx = c;
	if (c)
		link_into(f, &c->fhs);
}

/* --- helpers of every read --- */

/* Bytes of r from real (the reader's offset off): straight from the
 * ring's memory when they are there, else copied out of the spool. */
static void reply_ring(struct fh *f, fuse_req_t req, struct ring *r, uint64_t real,
		       off_t off, size_t size)
{
	struct iovec iov[MAX_IOV];
	size_t got;
	int n = ring_iov(r, real, size, iov, MAX_IOV, &got);
	if (got) {
		f->next_off = (uint64_t)off + got;
		fuse_reply_iov(req, iov, n);
		return;
	}
	uint64_t left = ring_end(r) - real;
	size_t want = left < size ? (size_t)left : size;
	void *buf = malloc(want ? want : 1);
	ssize_t k = buf ? ring_read(r, real, buf, want) : -ENOMEM;
	if (k < 0) {
		fuse_reply_err(req, (int)-k);
	} else {
		f->next_off = (uint64_t)off + (uint64_t)k;
		fuse_reply_buf(req, buf, (size_t)k);
	}
	free(buf);
}

void fh_reply_text(fuse_req_t req, const char *text, size_t len, off_t off, size_t size)
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

void fh_park(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	if (f->oflags & O_NONBLOCK) {
		/* What a regular file that still grows answers: EOF for now
		 * (poll says when there is more). grep -r opens what it finds
		 * so, and must not print EAGAIN for every log. */
		fuse_reply_buf(req, NULL, 0);
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

void fh_reply_not_yet(struct fh *f, fuse_req_t req, int err)
{
	if (f->oflags & O_NONBLOCK)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_err(req, err);
}

void fh_read_snap(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	fh_reply_text(req, f->snap, f->snaplen, off, size);
}

void fh_stream_read(struct fh *f, fuse_req_t req, struct ring *r, int end, size_t size,
		    off_t off)
{
	if (r && (uint64_t)off < ring_end(r))
		reply_ring(f, req, r, (uint64_t)off, off, size);
	else if (end < 0)
		fuse_reply_err(req, -end);
	else if (end)
		fuse_reply_buf(req, NULL, 0);
	else
		fh_park(f, req, size, off);
}

bool fh_stream_ready(const struct fh *f, const struct ring *r, int end)
{
	return end || (r && f->next_off < ring_end(r));
}

/* --- a context's job: stdout, stderr, status --- */

static struct ring *job_ring(const struct fh *f)
{
	if (!f->job)
		return NULL;
	return f->kind == N_STDERR ? f->job->err : f->job->out;
}

/* No job (none was started here): EOF at once. A job whose start
 * failed ends with EIO (job_output_end), so that no reader takes its
 * empty output for a result. */
static int job_end(const struct fh *f)
{
	return f->job ? job_output_end(f->job) : 1;
}

void fh_job_out_read(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	fh_stream_read(f, req, job_ring(f), job_end(f), size, off);
}

bool fh_job_out_ready(struct fh *f)
{
	return fh_stream_ready(f, job_ring(f), job_end(f));
}

void fh_job_status_read(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	struct job *j = f->job;
	char text[64];
	if (!j || j->state == JOB_NEW) {
		/* No job, or one never started: nothing to wait for. */
		fh_reply_not_yet(f, req, ENODATA);
	} else if (j->state == JOB_DONE) {
		int n = job_status_text(j, text, sizeof(text));
		if (n < 0)
			fuse_reply_err(req, EIO);
		else
			fh_reply_text(req, text, (size_t)n, off, size);
	} else {
		fh_park(f, req, size, off);
	}
}

bool fh_job_status_ready(struct fh *f)
{
	return !f->job || f->job->state == JOB_DONE || f->job->state == JOB_NEW;
}

/* --- logs --- */

static struct ring *log_ring(const struct fh *f)
{
	return f->ctx ? f->ctx->log : NULL;
}

void fh_log_read(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	struct ring *r = log_ring(f);
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
		fh_park(f, req, size, off);
	}
}

bool fh_log_ready(struct fh *f)
{
	struct ring *r = log_ring(f);
	return !r || (uint64_t)((int64_t)f->next_off + f->delta) < ring_end(r) ||
	       (f->ctx != &f->d->root && f->ctx->state == CTX_DISCONNECTED);
}

/* --- any kind --- */

void fh_read(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	const struct kind *k = kind_of(f->kind);
	if (k->read)
		k->read(f, req, size, off);
	else
		fh_read_snap(f, req, size, off);
}

static bool readable(struct fh *f)
{
	const struct kind *k = kind_of(f->kind);
	return !k->readable || k->readable(f);
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
	bool w = kind_of(f->kind)->write != KW_NONE;
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
		if (kind_of(f->kind)->gone_is_eio)
			fuse_reply_err(req, EIO);
		else
			fuse_reply_buf(req, NULL, 0);
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
		f->gj = NULL;
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
	*f->aprev = f->anext;
	if (f->anext)
		f->anext->aprev = f->aprev;
	struct job *j = f->job;
	struct gjob *gj = f->gj;
	free(f->snap);
	free(f->wbuf);
	free(f->held_data);
	if (f->owed)
		f->owed->f = NULL; /* its answer may come later: not to us */
	free(f);
	if (j)
		job_maybe_free(j);
	if (gj)
		gjob_maybe_free(gj);
}
