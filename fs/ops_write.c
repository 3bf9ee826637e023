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
#include "ctx.h"
#include "fh.h"
#include "jobs.h"
#include "ops_int.h"

/* Runs a whole command written to a ctl, exec or cmd file. */
static void dispatch(struct daemon *d, fuse_req_t req, struct node *n, const char *data,
		     size_t len, size_t reply)
{
	switch (n->kind) {
	case N_CTL:
		ctl_write(d, req, n->ctx, NULL, data, len, reply);
		break;
	case N_JOB_CTL:
		ctl_write(d, req, NULL, n->job, data, len, reply);
		break;
	case N_EXEC:
		job_exec(n->ctx, req, data, len, reply);
		break;
	case N_JOB_CMD:
		job_cmd(n->job, req, data, len, reply);
		break;
	default:
		fuse_reply_err(req, EBADF);
	}
}

static bool takes_commands(enum node_kind k)
{
	return k == N_CTL || k == N_JOB_CTL || k == N_EXEC || k == N_JOB_CMD;
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
	struct daemon *d = D(req);
	struct fh *f = (struct fh *)(uintptr_t)fi->fh;
	struct node *n = live_node(req, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (n->kind == N_JOB_STDIN) {
		if (!f->job) {
			fuse_reply_err(req, EPIPE);
			return;
		}
		f->wrote_stdin = true;
		job_stdin(f->job, req, buf, size);
		return;
	}
	if (!takes_commands(n->kind)) {
		fuse_reply_err(req, EBADF);
		return;
	}
	int rc;
	if (n->kind == N_EXEC || n->kind == N_JOB_CMD) {
		struct ctx *c = n->ctx;
		if (n->kind == N_JOB_CMD && n->job && n->job->state != JOB_NEW) {
			snprintf(n->job->lasterr, sizeof(n->job->lasterr),
				 "cmd: job was started already\n");
			fuse_reply_err(req, EBUSY);
			return;
		}
		if (memchr(buf, 0, size)) {
			free(f->wbuf); /* nothing of this script runs */
			f->wbuf = NULL;
			f->wlen = 0;
			ctl_set_error(c, "exec", -EINVAL, "command has a NUL byte");
			fuse_reply_err(req, EINVAL);
			return;
		}
		if (c->state != CTX_CONNECTED) {
			ctl_set_error(c, "exec", -EIO, "context is not connected");
			fuse_reply_err(req, EIO);
			return;
		}
		rc = keep(f, buf, size, PROTO_MAX_CMD);
		if (rc) { /* a failed write takes the whole script with it */
			free(f->wbuf);
			f->wbuf = NULL;
			f->wlen = 0;
		}
		if (rc == -E2BIG)
			ctl_set_error(c, "exec", rc, "a script is at most 128 KiB: feed longer ones "
				      "to `sh -s` through jobs/N/stdin");
		if (rc)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_write(req, size);
		return;
	}
	bool more = size && size % 4096 == 0;
	if (!more && !f->wlen) {
		dispatch(d, req, n, buf, size, size);
		return;
	}
	if ((rc = keep(f, buf, size, CTL_MAX_LINE * 16))) {
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
	dispatch(d, req, n, cmd, len, size);
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
	/* The script written to exec or cmd, or a ctl line that ended on a
	 * page boundary: run it now; close returns when it has started. */
	char *cmd = f->wbuf;
	size_t len = f->wlen;
	f->wbuf = NULL;
	f->wlen = 0;
	dispatch(D(req), req, n, cmd, len, WREPLY_FLUSH);
	free(cmd);
}
