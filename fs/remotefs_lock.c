/*
 * remotefs_lock — file locks in the fs/ subtree, forwarded to the target
 * (docs/filesystem.md, "File locks"): FUSE's getlk, setlk and flock
 * become GETLK and SETLK on the file's stub handle, where they are OFD
 * and flock(2) locks of that handle (stub/svc_fs_lock.c).
 *
 * For: a file read whole at open (READFILE, no stub handle) opened again
 * for real before its first lock; a waiting lock cancelled on the target
 * (LKCANCEL) when FUSE interrupts it, and a lock that was taken anyway
 * (the reply crossed the cancel) released; a close by the POSIX owner
 * that took a file's locks releasing them, as close(2) does locally.
 * Not for: the control tree's answer (ops.c), the call machinery
 * (remotefs.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "ctx.h"
#include "log.h"
#include "remotefs_int.h"
#include "router.h"

static uint8_t wire_type(short t)
{
	return t == F_RDLCK ? FS_LK_RDLCK : t == F_WRLCK ? FS_LK_WRLCK : FS_LK_UNLCK;
}

/* A call on f's handle that nobody answers (reply handle 0), sent to the
 * context the handle belongs to: ordered after every call sent before
 * it, and needing neither a FUSE request nor f->n (which may be gone
 * once the file is released). args: what follows the handle. */
static void lock_fire(struct rfile *f, int op, uint32_t fh, const struct buf *args)
{
	struct router *r = f->rf->d->router;
	struct buf b;
	buf_init(&b);
	int rc = proto_call_begin(&b, SVC_FS, (uint16_t)op);
	if (!rc)
		rc = buf_put_u32(&b, fh);
	if (!rc && args && args->len)
		rc = buf_put_bytes(&b, args->data, args->len);
	if (!rc)
		rc = router_send_to(r, f->cid, HANDLE_CALL_SERVICE, 0, b.data, b.len);
	if (rc)
		log_warn("fs: lock op %d on handle %u not sent: %s", op, fh, strerror(-rc));
	buf_free(&b);
}

/* Appends SETLK's arguments after the handle. 0 or -ENOMEM. */
static int setlk_args(struct buf *b, const struct rlkargs *a)
{
	return buf_put_u8(b, wire_type(a->fl.l_type)) || buf_put_u64(b, (uint64_t)a->fl.l_start) ||
	       buf_put_u64(b, (uint64_t)a->fl.l_len) || buf_put_u8(b, a->flags) ? -ENOMEM : 0;
}

/* Releases what a SETLK took (its type made F_UNLCK), unanswered. */
static void lock_undo(struct rfile *f, const struct rlkargs *a)
{
	struct rlkargs un = *a;
	un.fl.l_type = F_UNLCK;
	un.flags &= (uint8_t)~FS_LK_WAIT;
	struct buf args;
	buf_init(&args);
	if (setlk_args(&args, &un) == 0)
		lock_fire(f, FS_SETLK, f->fh, &args);
	buf_free(&args);
}

/* A lock call on f for req: the rcall, counted in f->lkcalls while sent. */
static struct rcall *lock_call(fuse_req_t req, struct rfile *f, const struct rlkargs *a)
{
	struct rcall *k = calloc(1, sizeof(*k));
	if (!k) {
		fuse_reply_err(req, ENOMEM);
		return NULL;
	}
	k->rf = f->rf;
	k->req = req;
	k->op = a->op;
	k->node = f->n;
	k->file = f;
	k->lock = true;
	k->lk = *a;
	return k;
}

static void lock_send(struct rcall *k, struct buf *b, int rc)
{
	struct rfile *f = k->file;
	if (call_send(k, b, rc) == 0)
		f->lkcalls++;
}

/* Sends a->op for req on f, opening the file on the target first when
 * it was read whole at open and has no handle there. */
static void lock_start(fuse_req_t req, struct rfile *f, struct rlkargs *a)
{
	struct rnode *n = f->n;
	if (!n->c || n->c->state != CTX_CONNECTED || n->c->id != f->cid) {
		fuse_reply_err(req, EIO);
		return;
	}
	struct buf b;
	struct rcall *k;
	if (!f->remote) {
		/* Opened again by name, read-only as the file was. */
		k = call_begin(f->rf, req, FS_OPEN, n, NULL, &b, true);
		if (!k)
			return;
		k->file = f;
		k->lock = true;
		k->lk = *a;
		lock_send(k, &b, buf_put_u32(&b, O_RDONLY) || buf_put_u32(&b, 0) ? -ENOMEM : 0);
		return;
	}
	if (!(k = lock_call(req, f, a)))
		return;
	buf_init(&b);
	int rc = proto_call_begin(&b, SVC_FS, (uint16_t)a->op);
	if (!rc)
		rc = buf_put_u32(&b, f->fh);
	if (!rc && a->op == FS_SETLK) {
		k->lk.seq = ++f->lkseq;
		rc = setlk_args(&b, a);
	} else if (!rc) {
		rc = buf_put_u8(&b, wire_type(a->fl.l_type)) ||
		     buf_put_u64(&b, (uint64_t)a->fl.l_start) ||
		     buf_put_u64(&b, (uint64_t)a->fl.l_len) ? -ENOMEM : 0;
	}
	lock_send(k, &b, rc);
}

void rfs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock)
{
	(void)ino;
	struct rlkargs a = { .op = FS_GETLK, .fl = *lock, .owner = fi->lock_owner };
	lock_start(req, (struct rfile *)(uintptr_t)fi->fh, &a);
}

void rfs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
	       int sleep)
{
	(void)ino;
	struct rlkargs a = { .op = FS_SETLK, .fl = *lock, .owner = fi->lock_owner,
			     .flags = sleep ? FS_LK_WAIT : 0 };
	lock_start(req, (struct rfile *)(uintptr_t)fi->fh, &a);
}

void rfs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	(void)ino;
	struct rlkargs a = { .op = FS_SETLK, .owner = fi->lock_owner,
			     .flags = FS_LK_FLOCK | (op & LOCK_NB ? 0 : FS_LK_WAIT) };
	int what = op & (LOCK_SH | LOCK_EX | LOCK_UN);
	if (what != LOCK_SH && what != LOCK_EX && what != LOCK_UN) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	a.fl.l_type = what == LOCK_SH ? F_RDLCK : what == LOCK_EX ? F_WRLCK : F_UNLCK;
	lock_start(req, (struct rfile *)(uintptr_t)fi->fh, &a);
}

void lock_interrupted(struct rcall *k)
{
	/* Only a wait can last: other lock calls are answered at once.
	 * LKCANCEL makes the target answer it EINTR (we drop that). */
	if (k->op != FS_SETLK || !(k->lk.flags & FS_LK_WAIT) || !k->h)
		return;
	struct buf args;
	buf_init(&args);
	if (buf_put_u32(&args, k->h) == 0)
		lock_fire(k->file, FS_LKCANCEL, k->file->fh, &args);
	buf_free(&args);
}

void lock_flush(struct rfile *f, uint64_t owner)
{
	if (!f->remote || f->lkowners != 1 || f->lkowner != owner)
		return;
	struct rlkargs all = { .fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET } };
	lock_undo(f, &all);
	f->lkowners = 0;
}

/* The target opened a READFILE copy for its lock: the handle is f's
 * from now on (reads go to it too), unless one came first. */
static void promoted(struct rcall *k, int e, struct rd *rd)
{
	struct rfile *f = k->file;
	uint32_t fh;
	struct fs_attr a;
	if (!e && (rd_u32(rd, &fh) || fs_attr_get(rd, &a) || rd_end(rd))) {
		rcall_malformed(k);
		e = EIO;
	}
	if (!e && !f->remote && (a.dev != f->dev || a.ino != f->ino)) {
		/* The name is another file's now (renamed or replaced on the
		 * target since this one was read): no lock on the wrong file. */
		lock_fire(f, FS_CLOSE, fh, NULL);
		e = ENOLCK;
	} else if (!e) {
		if (f->remote || f->releasing) {
			lock_fire(f, FS_CLOSE, fh, NULL); /* not needed, or too late */
		} else {
			f->fh = fh;
			f->remote = true;
		}
	}
	if (!k->req)
		return;
	if (e || f->releasing)
		fuse_reply_err(k->req, e ? e : EBADF);
	else
		lock_start(k->req, f, &k->lk);
}

void lock_reply(struct rcall *k, int e, struct rd *rd)
{
	struct rfile *f = k->file;
	f->lkcalls--;
	if (!e && k->op == FS_SETLK && rd_end(rd)) { /* it answers nothing more */
		rcall_malformed(k);
		e = EIO;
	}
	if (k->op == FS_OPEN) {
		promoted(k, e, rd);
	} else if (k->op == FS_GETLK && k->req && !e) {
		uint8_t t;
		uint64_t start, len;
		uint32_t pid;
		if (rd_u8(rd, &t) || rd_u64(rd, &start) || rd_u64(rd, &len) || rd_u32(rd, &pid) ||
		    rd_end(rd) || t > FS_LK_WRLCK || start > INT64_MAX || len > INT64_MAX) {
			rcall_malformed(k);
			fuse_reply_err(k->req, EIO);
		} else {
			struct flock fl = {
				.l_type = t == FS_LK_RDLCK ? F_RDLCK : t == FS_LK_WRLCK ? F_WRLCK : F_UNLCK,
				.l_whence = SEEK_SET, .l_start = (off_t)start, .l_len = (off_t)len,
				.l_pid = (pid_t)(int32_t)pid,
			};
			fuse_reply_lock(k->req, &fl);
		}
	} else if (k->op == FS_SETLK && !k->req) {
		/* Interrupted (answered EINTR), yet the target took it: give
		 * it back, unless a later SETLK on the file may rely on it. */
		if (!e && k->lk.fl.l_type != F_UNLCK && !f->releasing && f->lkseq == k->lk.seq)
			lock_undo(f, &k->lk);
	} else if (k->req) {
		if (!e && k->op == FS_SETLK && !(k->lk.flags & FS_LK_FLOCK) &&
		    k->lk.fl.l_type != F_UNLCK) {
			if (f->lkowners == 0) {
				f->lkowner = k->lk.owner;
				f->lkowners = 1;
			} else if (f->lkowner != k->lk.owner) {
				f->lkowners = 2;
			}
		}
		fuse_reply_err(k->req, e);
	}
	call_free(k);
	file_maybe_free(f);
}
