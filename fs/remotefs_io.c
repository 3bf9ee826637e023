/*
 * remotefs_io — open files of the fs/ subtree: open and create, reads,
 * pipelined writes whose errors come back at the next write, flush,
 * fsync or close, and release. Not for: names and attributes
 * (remotefs_ops.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "remotefs_int.h"


/* Appends FS_OPEN's flags and mode; 0 or -ENOMEM. */
static int open_args(struct buf *b, const struct fuse_file_info *fi, mode_t mode, bool create)
{
	int flags = fi->flags & ~(O_NOCTTY);
	if (create)
		flags |= O_CREAT;
	return buf_put_u32(b, (uint32_t)flags) || buf_put_u32(b, mode) ? -ENOMEM : 0;
}

static void open_any(fuse_req_t req, fuse_ino_t ino, const char *name, mode_t mode,
		     struct fuse_file_info *fi, bool create)
{
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	struct rfile *f = calloc(1, sizeof(*f));
	if (!f) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	bool whole = !create && (fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & O_TRUNC);
	RFS_BEGIN(whole ? FS_READFILE : FS_OPEN, n, create ? name : NULL);
	f->rf = rfs_of(req);
	f->n = n;
	f->cid = n->c ? n->c->id : 0;
	k->file = f;
	k->fi = *fi;
	if (create)
		k->parent = n;
	int rc = whole ? buf_put_u32(&b, READFILE_MAX) : open_args(&b, fi, mode, create);
	if (rc) {
		buf_free(&b);
		free(f);
		fuse_reply_err(req, ENOMEM);
		call_free(k);
		return;
	}
	call_send(k, &b, 0);
}

void open_for_real(struct rcall *k)
{
	struct buf b;
	struct rcall *k2 = call_begin(k->rf, k->req, FS_OPEN, k->node, NULL, &b, true);
	if (!k2) {
		free(k->file);
		k->file = NULL;
		return;
	}
	k2->file = k->file;
	k2->fi = k->fi;
	k->file = NULL;
	if (open_args(&b, &k2->fi, 0, false)) {
		buf_free(&b);
		free(k2->file);
		fuse_reply_err(k2->req, ENOMEM);
		call_free(k2);
		return;
	}
	call_send(k2, &b, 0);
}

void rfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	open_any(req, ino, NULL, 0, fi, false);
}

void rfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	open_any(req, parent, name, mode, fi, true);
}

static struct rcall *file_call(fuse_req_t req, struct rfile *f, int op, struct buf *b)
{
	struct rcall *k = calloc(1, sizeof(*k));
	if (!k) {
		if (req)
			fuse_reply_err(req, ENOMEM);
		return NULL;
	}
	k->rf = f->rf;
	k->req = req;
	k->op = op;
	k->node = f->n;
	k->file = f;
	buf_init(b);
	if (proto_call_begin(b, SVC_FS, (uint16_t)op) || buf_put_u32(b, f->fh)) {
		buf_free(b);
		if (req)
			fuse_reply_err(req, ENOMEM);
		free(k);
		return NULL;
	}
	return k;
}

void rfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)ino;
	struct rfile *f = (struct rfile *)(uintptr_t)fi->fh;
	if (!f->remote) { /* read whole at open */
		size_t at = (uint64_t)off < f->datalen ? (size_t)off : f->datalen;
		size_t n = f->datalen - at < size ? f->datalen - at : size;
		fuse_reply_buf(req, (const char *)f->data + at, n);
		return;
	}
	struct buf b;
	struct rcall *k = file_call(req, f, FS_READ, &b);
	if (!k)
		return;
	k->size = size > FS_MAX_IO ? FS_MAX_IO : size;
	bool bad = buf_put_u64(&b, (uint64_t)off) ||
		      buf_put_u32(&b, (uint32_t)k->size);
	call_send(k, &b, bad ? -ENOMEM : 0);
}

void file_maybe_free(struct rfile *f)
{
	if (f->releasing && f->inflight == 0 && f->lkcalls == 0) {
		free(f->data);
		free(f);
	}
}

static void fsync_send(fuse_req_t req, struct rfile *f, bool datasync);

/*
 * A write error (ENOSPC, EDQUOT, EIO...) is reported twice, once each:
 * to the first write(2) after the target answered it (err), and to the
 * next fsync or close (serr), as a failed write-back is on NFS. The
 * first error counts until it is reported.
 */
static int take_err(struct rfile *f, bool sync)
{
	int e = sync ? f->serr : f->err;
	if (sync)
		f->serr = 0;
	else
		f->err = 0;
	return e;
}

/* Answers what waited for the window or for all acks. */
static void file_wake(struct rfile *f)
{
	if (f->syncer && f->inflight == 0) {
		fuse_req_t req = f->syncer;
		f->syncer = NULL;
		int e = take_err(f, true);
		if (e)
			fuse_reply_err(req, e);
		else
			fsync_send(req, f, f->syncer_data);
	}
	if (!f->waiter)
		return;
	bool flush = f->waiter_size == WREPLY_FLUSH;
	if (flush ? f->inflight != 0 : f->inflight > WRITE_WINDOW)
		return;
	fuse_req_t req = f->waiter;
	f->waiter = NULL;
	int e = take_err(f, flush);
	if (e)
		fuse_reply_err(req, e);
	else
		wreply_ok(req, f->waiter_size);
}

void file_write_acked(struct rcall *k, int err)
{
	struct rfile *f = k->file;
	f->inflight -= k->size;
	if (err && !f->err)
		f->err = err;
	if (err && !f->serr)
		f->serr = err;
	call_free(k);
	file_wake(f);
	file_maybe_free(f);
}

void rfs_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)ino;
	struct rfile *f = (struct rfile *)(uintptr_t)fi->fh;
	if (f->err) { /* an earlier write failed: say it now */
		fuse_reply_err(req, take_err(f, false));
		return;
	}
	if (size > FS_MAX_IO)
		size = FS_MAX_IO;
	struct buf b;
	struct rcall *k = file_call(NULL, f, FS_WRITE, &b);
	if (!k || buf_put_u64(&b, (uint64_t)off) || buf_put_blob(&b, data, size)) {
		if (k) {
			buf_free(&b);
			call_free(k);
		}
		fuse_reply_err(req, ENOMEM);
		return;
	}
	k->size = size;
	f->inflight += size;
	struct rnode *n = f->n;
	if (!n->c || n->c->state != CTX_CONNECTED || n->c->id != f->cid) {
		buf_free(&b);
		f->inflight -= size;
		call_free(k);
		fuse_reply_err(req, EIO);
		return;
	}
	if (call_send(k, &b, 0)) { /* not sent: nothing will acknowledge it */
		f->inflight -= size;
		fuse_reply_err(req, EIO);
		return;
	}
	/* The kernel grows its size of the file itself as it writes. */
	if ((uint64_t)off + size > n->size)
		n->size = (uint64_t)off + size;
	siblings_stale(f->rf, n); /* other names of it: sizes and times changed */
	/* Answered now while the window has room: many writes in flight. */
	if (f->inflight <= WRITE_WINDOW || f->waiter) {
		fuse_reply_write(req, size);
	} else {
		f->waiter = req;
		f->waiter_size = size;
	}
}

void rfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct rfile *f = (struct rfile *)(uintptr_t)fi->fh;
	/* close(2) of any descriptor ends its process's POSIX locks. */
	lock_flush(f, fi->lock_owner);
	if (f->waiter) { /* cannot happen: the kernel waits for the write */
		fuse_reply_err(req, EBUSY);
		return;
	}
	f->waiter = req;
	f->waiter_size = WREPLY_FLUSH;
	file_wake(f);
}

/* The fsync itself, once every write was answered without an error
 * left to report. Ordered after the writes on the same stream: the stub
 * has done them when it syncs. */
static void fsync_send(fuse_req_t req, struct rfile *f, bool datasync)
{
	struct buf b;
	struct rcall *k = file_call(req, f, FS_FSYNC, &b);
	if (!k)
		return;
	bool bad = buf_put_u8(&b, datasync ? 1 : 0);
	call_send(k, &b, bad ? -ENOMEM : 0);
}

void rfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	struct rfile *f = (struct rfile *)(uintptr_t)fi->fh;
	if (!f->remote) { /* nothing was written through it */
		fuse_reply_err(req, 0);
		return;
	}
	if (f->syncer) { /* cannot happen: the kernel holds the inode */
		fuse_reply_err(req, EBUSY);
		return;
	}
	/* The answers of the writes in flight first: an error among them
	 * is this fsync's. */
	f->syncer = req;
	f->syncer_data = datasync != 0;
	file_wake(f);
}

void rfile_drop(struct rfile *f)
{
	struct rnode *n = f->n;
	if (f->remote && n->c && n->c->state == CTX_CONNECTED && n->c->id == f->cid) {
		struct buf b;
		struct rcall *k = file_call(NULL, f, FS_CLOSE, &b);
		if (k) {
			k->file = NULL;
			call_send(k, &b, 0);
		}
	}
	if (n->open == f)
		n->open = NULL;
	f->releasing = true;
	file_maybe_free(f);
}

void rfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct rfile *f = (struct rfile *)(uintptr_t)fi->fh;
	if (f->n->nopen)
		f->n->nopen--;
	rfile_drop(f);
	fuse_reply_err(req, 0);
}

