/*
 * ops_write — writes to the control tree's command files: a ctl's lines
 * run as their write arrives, an exec or cmd file's whole script starts
 * at close, a job's stdin goes to the job. Not for: reads and the rest of
 * the tree (ops.c), what a command does (ctl.c, jobs.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "fh.h"
#include "group.h"
#include "kinds.h"
#include "ops_int.h"

/*
 * A write to a job's stdin is answered when the stub says the job's pipe
 * took the bytes, so a job that does not read holds its writer. The
 * kernel cannot give up a request the daemon holds, not even for kill
 * -9: an interrupted writer is therefore answered at once, with the
 * whole size — its bytes already went to the stub and reach the job in
 * order, as bytes a pipe buffered do. The acknowledgement is then owed;
 * the file's next write waits here, unsent, until it comes (so signals
 * cannot pile data up in the stub), and fails with EINTR, nothing of it
 * sent, if interrupted in turn.
 */
static void send_stdin(struct fh *f, struct node *n, fuse_req_t req, const char *buf,
		       size_t size);

static void held_interrupted(fuse_req_t req, void *arg)
{
	struct fh *f = arg;
	if (f->held != req)
		return;
	f->held = NULL;
	free(f->held_data);
	f->held_data = NULL;
	fuse_reply_err(req, EINTR);
}

static void wreply_done(void *arg, int rc)
{
	struct wreply *w = arg;
	struct fh *f = w->f;
	if (!w->req)
		; /* answered when its writer was interrupted */
	else if (rc)
		fuse_reply_err(w->req, -rc);
	else
		wreply_ok(w->req, w->size);
	if (f && f->owed == w) {
		f->owed = NULL;
		if (f->held) { /* the next write may go now */
			fuse_req_t req = f->held;
			char *data = f->held_data;
			struct node *n = tree_get(&f->d->tree, f->held_ino);
			f->held = NULL;
			f->held_data = NULL;
			fuse_req_interrupt_func(req, NULL, NULL);
			if (n && !n->removed)
				send_stdin(f, n, req, data, f->held_size);
			else
				fuse_reply_err(req, EPIPE);
			free(data);
		}
	}
	free(w);
}

static void stdin_interrupted(fuse_req_t req, void *arg)
{
	struct wreply *w = arg;
	if (w->req != req)
		return;
	w->req = NULL;
	wreply_ok(req, w->size);
	if (w->f)
		w->f->owed = w;
}

static struct wreply *wreply_new(fuse_req_t req, size_t size)
{
	struct wreply *w = malloc(sizeof(*w));
	if (!w)
		fuse_reply_err(req, ENOMEM);
	else
		*w = (struct wreply){ req, size, NULL };
	return w;
}

static void send_stdin(struct fh *f, struct node *n, fuse_req_t req, const char *buf,
		       size_t size)
{
	struct wreply *w = wreply_new(req, size);
	if (!w)
		return;
	w->f = f;
	f->wrote_stdin = true;
	/* Before the command: an answer frees req and clears this, and an
	 * interrupt that came already is answered here, the bytes sent next. */
	fuse_req_interrupt_func(req, stdin_interrupted, w);
	kind_of(n->kind)->command(f, n, buf, size, wreply_done, w);
}

/* A closed file's owed acknowledgement and held write: nobody waits. */
void ops_write_release(struct fh *f)
{
	if (f->owed)
		f->owed->f = NULL;
	f->owed = NULL;
	if (f->held) {
		fuse_reply_err(f->held, EINTR);
		f->held = NULL;
	}
	free(f->held_data);
	f->held_data = NULL;
}

/* The first write of a script, waiting to learn whether its target
 * answers; the kernel keeps f open until the write is answered. */
struct script_wait {
	fuse_req_t req;   /* NULL once answered (its writer was interrupted) */
	size_t size;
	struct fh *f;     /* NULL once answered: f may be closed since */
};

/* The script so far is this first write alone: a write that fails takes
 * it along, nothing of it runs. */
static void script_drop(struct fh *f)
{
	free(f->wbuf);
	f->wbuf = NULL;
	f->wlen = 0;
}

static void script_ready_done(void *arg, int rc)
{
	struct script_wait *sw = arg;
	if (!sw->req)
		; /* EINTR was the answer */
	else if (rc) { /* nothing of it can run: the target is lost */
		script_drop(sw->f);
		fuse_reply_err(sw->req, -rc);
	} else {
		fuse_reply_write(sw->req, sw->size);
	}
	free(sw);
}

/* Ctrl-C while the target is asked (up to two keepalive intervals on a
 * link gone silent): EINTR at once, the write's text dropped. */
static void script_wait_interrupted(fuse_req_t req, void *arg)
{
	struct script_wait *sw = arg;
	if (sw->req != req)
		return;
	script_drop(sw->f);
	sw->req = NULL;
	sw->f = NULL;
	fuse_reply_err(req, EINTR);
}

/* Runs a whole command written to a file that takes commands. */
static void dispatch(fuse_req_t req, struct fh *f, struct node *n, const char *data,
		     size_t len, size_t reply)
{
	struct wreply *w = wreply_new(req, reply);
	if (w)
		kind_of(n->kind)->command(f, n, data, len, wreply_done, w);
}

/* Whose write (or close) this is: a push reads its source with the
 * rights of the process whose write carries the line. */
static void note_writer(struct fh *f, fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	f->who = (struct caller){ c->uid, c->gid, c->pid };
}

/* A refused write leaves its reason where the node's ctl shows it. */
static void note_error(struct node *n, const char *what, int rc, const char *why)
{
	if (n->ctx)
		ctl_set_error(n->ctx, what, rc, why);
	else if (n->grp)
		group_set_error(n->grp, what, rc, why);
}

/*
 * What a write means:
 *  - exec and jobs/N/cmd: everything one open file receives is one script
 *    (bash's echo and printf write a line, or 4 KiB, per write(2)); it
 *    starts when the file is closed, and close returns once it has
 *    started. A write to a context that cannot run it fails at once.
 *  - ctl: each complete line is a command, run as its write arrives so
 *    that its error reaches that write(2) (shells ignore errors of close);
 *    stdio writes long text in full 4 KiB buffers, so a write of a whole
 *    number of pages is kept until the rest of its line comes.
 */
static int keep(struct fh *f, const char *buf, size_t size, size_t cap)
{
	if (f->wlen + size > cap) {
		free(f->wbuf);
		f->wbuf = NULL;
		f->wlen = 0;
		return -E2BIG;
	}
	char *nb = realloc(f->wbuf, f->wlen + size + 1);
	if (!nb)
		return -ENOMEM;
	memcpy(nb + f->wlen, buf, size);
	f->wbuf = nb;
	f->wlen += size;
	return 0;
}

void ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	TO_REMOTE(write, ino, req, ino, buf, size, off, fi);
	(void)off;
	struct fh *f = (struct fh *)(uintptr_t)fi->fh;
	struct node *n = live_node(req, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	note_writer(f, req);
	const struct kind *k = kind_of(n->kind);
	if (k->write == KW_STREAM) {
		if (!f->owed) {
			send_stdin(f, n, req, buf, size);
			return;
		}
		char *copy = malloc(size ? size : 1);
		if (!copy) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(copy, buf, size);
		f->held = req;
		f->held_ino = ino;
		f->held_data = copy;
		f->held_size = size;
		fuse_req_interrupt_func(req, held_interrupted, f);
		return;
	}
	if (k->write == KW_NONE) {
		fuse_reply_err(req, EBADF);
		return;
	}
	int rc;
	if (k->write == KW_SCRIPT) {
		if (memchr(buf, 0, size)) {
			free(f->wbuf); /* nothing of this script runs */
			f->wbuf = NULL;
			f->wlen = 0;
			note_error(n, "exec", -EINVAL, "command has a NUL byte");
			fuse_reply_err(req, EINVAL);
			return;
		}
		if (k->script_check && (rc = k->script_check(n))) {
			fuse_reply_err(req, -rc);
			return;
		}
		bool first = f->wlen == 0;
		rc = keep(f, buf, size, PROTO_MAX_CMD);
		if (rc) { /* a failed write takes the whole script with it */
			free(f->wbuf);
			f->wbuf = NULL;
			f->wlen = 0;
		}
		if (rc == -E2BIG)
			note_error(n, "exec", rc, "a script is at most 128 KiB: feed longer ones "
				   "to `sh -s` through jobs/N/stdin");
		if (rc) {
			fuse_reply_err(req, -rc);
		} else if (first && k->script_ready) {
			/* shells ignore errors of close: an unreachable target
			 * must fail this write (kinds.h) */
			struct script_wait *sw = malloc(sizeof(*sw));
			if (!sw) {
				fuse_reply_err(req, ENOMEM);
				return;
			}
			*sw = (struct script_wait){ req, size, f };
			/* Before the call: an interrupt that came already is
			 * answered here, and the call's end then only frees sw. */
			fuse_req_interrupt_func(req, script_wait_interrupted, sw);
			k->script_ready(n, script_ready_done, sw);
		} else {
			fuse_reply_write(req, size);
		}
		return;
	}
	bool more = size && size % 4096 == 0;
	if (!more && !f->wlen) {
		dispatch(req, f, n, buf, size, size);
		return;
	}
	if ((rc = keep(f, buf, size, CTL_MAX_LINE * 16))) {
		if (rc == -E2BIG)
			note_error(n, "ctl", rc, "a line is at most 4096 bytes, and a write of "
				   "whole pages waits for the rest of its line up to 64 KiB");
		fuse_reply_err(req, -rc);
		return;
	}
	if (more) {
		fuse_reply_write(req, size);
		return;
	}
	char *cmd = f->wbuf;
	size_t len = f->wlen;
	f->wbuf = NULL;
	f->wlen = 0;
	dispatch(req, f, n, cmd, len, size);
	free(cmd);
}

void ops_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	TO_REMOTE(flush, ino, req, ino, fi);
	struct fh *f = (struct fh *)(uintptr_t)fi->fh;
	struct node *n = live_node(req, ino);
	if (!f->wlen || !n) {
		fuse_reply_err(req, 0);
		return;
	}
	note_writer(f, req);
	/* The script written to exec or cmd, or a ctl line that ended on a
	 * page boundary: run it now; close returns when it has started. */
	char *cmd = f->wbuf;
	size_t len = f->wlen;
	f->wbuf = NULL;
	f->wlen = 0;
	dispatch(req, f, n, cmd, len, WREPLY_FLUSH);
	free(cmd);
}
