/*
 * svc_fs_lock — file locks on open handles: GETLK, SETLK and LKCANCEL of
 * core/fsproto.h.
 *
 * Byte-range locks are Linux OFD locks (F_OFD_SETLK) on the handle's fd,
 * so that each handle (each open on the daemon's side) owns its locks:
 * with classic POSIX locks every handle of this one stub process would
 * be the same owner, and two openers through the mount would never
 * exclude each other. flock-style locks are flock(2) on the fd, which is
 * per open file already. Both conflict with what other programs on the
 * target take, as they would between local processes.
 *
 * The stub never blocks: a SETLK that must wait tries again on a loop
 * timer (LK_FIRST_MS doubling to LK_MAX_MS) and is answered when it has
 * the lock, when LKCANCEL names it (EINTR), or when its handle closes
 * (EBADF; unanswered when the caller is gone).
 * Not for: who asks (the daemon maps FUSE's getlk, setlk and flock).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "fsproto.h"
#include "log.h"
#include "loop.h"
#include "router.h"
#include "svc.h"
#include "svc_fs.h"
#include "svc_fs_int.h"

#define LK_FIRST_MS 5u   /* first retry of a waiting lock */
#define LK_MAX_MS   50u  /* the retry interval grows to this */
#define LK_MAX_WAITS 4096u /* waiting SETLKs per stub; more is ENOLCK */

struct lkwait {
	struct svc_fs *f;
	struct svc_req q;       /* where the answer goes */
	uint32_t fh;
	bool flock;
	int op;                 /* flock: LOCK_SH or LOCK_EX */
	struct flock fl;        /* otherwise: the OFD lock */
	uint32_t delay;         /* ms until the next try */
	struct loop_timer *t;
	struct lkwait *next;
};

/* The arguments every lock op starts with: fh, type, start, len. */
static int args_lock(struct call *c, uint8_t *type, uint64_t *start, uint64_t *len)
{
	if (arg_fh(c) || rd_u8(c->a, type) || rd_u64(c->a, start) || rd_u64(c->a, len))
		return -EBADMSG;
	return 0;
}

static int flock_type(uint8_t wire, short *out)
{
	switch (wire) {
	case FS_LK_UNLCK: *out = F_UNLCK; return 0;
	case FS_LK_RDLCK: *out = F_RDLCK; return 0;
	case FS_LK_WRLCK: *out = F_WRLCK; return 0;
	}
	return -EINVAL;
}

/* A struct flock for the range; -EINVAL for a type or range out of
 * bounds (the kernel says EOVERFLOW for start + len past the end). */
static int range_lock(struct call *c, uint8_t type, uint64_t start, uint64_t len,
		      struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	if (flock_type(type, &fl->l_type))
		return bad(c, -EINVAL, "unknown lock type");
	if (start > INT64_MAX || len > INT64_MAX)
		return bad(c, -EINVAL, "lock range out of range");
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)start;
	fl->l_len = (off_t)len;
	fl->l_pid = 0; /* F_OFD_*: must be 0 */
	return 0;
}

/* F_OFD_* is EINVAL only on kernels without OFD locks (before 3.15):
 * the arguments were checked here. That one case is ENOSYS. */
static int ofd_errno(struct call *c, int err)
{
	if (err == EINVAL)
		return bad(c, -ENOSYS, "the target's kernel has no OFD locks (Linux 3.15 or later)");
	return -err;
}

int op_getlk(struct call *c)
{
	uint8_t type;
	uint64_t start, len;
	struct flock fl;
	struct fh *h;
	int rc;
	if ((rc = args_lock(c, &type, &start, &len)) || (rc = args_end(c)))
		return rc;
	if ((rc = fh_find(c, &h)) || (rc = range_lock(c, type, start, len, &fl)))
		return rc;
	if (fl.l_type == F_UNLCK)
		return bad(c, -EINVAL, "GETLK asks about a read or write lock");
	if (fcntl(h->fd, F_OFD_GETLK, &fl) < 0)
		return ofd_errno(c, errno);
	uint8_t wt = fl.l_type == F_RDLCK ? FS_LK_RDLCK : fl.l_type == F_WRLCK ? FS_LK_WRLCK
									    : FS_LK_UNLCK;
	if (wt == FS_LK_UNLCK) { /* nothing in the way: the range as asked */
		fl.l_start = (off_t)start;
		fl.l_len = (off_t)len;
		fl.l_pid = 0;
	}
	if ((rc = buf_put_u8(&c->out, wt)) || (rc = buf_put_u64(&c->out, (uint64_t)fl.l_start)) ||
	    (rc = buf_put_u64(&c->out, (uint64_t)fl.l_len)) ||
	    (rc = buf_put_u32(&c->out, (uint32_t)(int32_t)fl.l_pid)))
		return rc;
	return 0;
}

/* One non-blocking try: 0 (taken, or released), -EAGAIN when someone
 * holds it, else -errno. */
static int lock_try(int fd, bool is_flock, int op, struct flock *fl)
{
	if (is_flock)
		return flock(fd, op | LOCK_NB) < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : 0;
	if (fcntl(fd, F_OFD_SETLK, fl) == 0)
		return 0;
	return errno == EACCES ? -EAGAIN : -errno;
}

static void wait_unlink(struct lkwait *w)
{
	for (struct lkwait **pp = &w->f->waits; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			return;
		}
}

/* Answers w (err 0: the lock is taken; -1: nobody is told) and frees it.
 * Its timer must not be pending. */
static void wait_end(struct lkwait *w, int err)
{
	wait_unlink(w);
	struct router *r = w->f->r;
	int rc = 0;
	if (err == 0)
		rc = svc_reply(r, w->q, 0, NULL, NULL, 0);
	else if (err > 0)
		rc = svc_reply_errf(r, w->q, err, "fs setlk(fh %u): %s", w->fh,
				    err == EINTR ? "wait cancelled"
				    : err == EBADF ? "handle closed while waiting" : strerror(err));
	if (rc < 0)
		log_warn("fs setlk: reply to %u lost: %s", w->q.src, strerror(-rc));
	free(w);
}

static void wait_cb(struct loop *l, void *arg)
{
	struct lkwait *w = arg;
	w->t = NULL;
	struct fh *h = map_get(&w->f->fhs, w->fh);
	if (!h) { /* cannot happen: closing the handle ends its waits */
		wait_end(w, EBADF);
		return;
	}
	int rc = lock_try(h->fd, w->flock, w->op, &w->fl);
	if (rc == -EAGAIN || rc == -EINTR) {
		w->delay = w->delay * 2 > LK_MAX_MS ? LK_MAX_MS : w->delay * 2;
		if ((w->t = loop_timer_add(l, w->delay, wait_cb, w)))
			return;
		rc = -ENOLCK;
	}
	wait_end(w, rc == -EINVAL && !w->flock ? ENOSYS : -rc);
}

static size_t waits_count(const struct svc_fs *f)
{
	size_t n = 0;
	for (const struct lkwait *w = f->waits; w; w = w->next)
		n++;
	return n;
}

int op_setlk(struct call *c)
{
	uint8_t type, flags;
	uint64_t start, len;
	struct flock fl;
	struct fh *h;
	int rc, op = 0;
	if ((rc = args_lock(c, &type, &start, &len)))
		return rc;
	if (rd_u8(c->a, &flags))
		return -EBADMSG;
	if ((rc = args_end(c)) || (rc = fh_find(c, &h)))
		return rc;
	if (flags & ~(FS_LK_WAIT | FS_LK_FLOCK))
		return bad(c, -EINVAL, "unknown lock flags");
	bool is_flock = flags & FS_LK_FLOCK;
	if (is_flock) {
		short t;
		if (flock_type(type, &t))
			return bad(c, -EINVAL, "unknown lock type");
		op = t == F_UNLCK ? LOCK_UN : t == F_RDLCK ? LOCK_SH : LOCK_EX;
		memset(&fl, 0, sizeof(fl));
	} else if ((rc = range_lock(c, type, start, len, &fl))) {
		return rc;
	}
	rc = lock_try(h->fd, is_flock, op, &fl);
	if (rc == -EINVAL && !is_flock)
		return ofd_errno(c, EINVAL);
	bool unlock = is_flock ? op == LOCK_UN : fl.l_type == F_UNLCK;
	/* A wait needs someone to tell: without a reply handle, one try. */
	if ((rc != -EAGAIN && rc != -EINTR) || unlock || !(flags & FS_LK_WAIT) || !c->reply_to)
		return rc == -EINTR ? -EAGAIN : rc;
	if (waits_count(c->f) >= LK_MAX_WAITS)
		return bad(c, -ENOLCK, "too many waiting locks in this context");
	struct lkwait *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct lkwait){ .f = c->f, .q = { c->caller, c->reply_to }, .fh = c->fh,
			      .flock = is_flock, .op = op, .fl = fl, .delay = LK_FIRST_MS };
	w->t = loop_timer_add(router_loop(c->f->r), w->delay, wait_cb, w);
	if (!w->t) {
		free(w);
		return -ENOMEM;
	}
	w->next = c->f->waits;
	c->f->waits = w;
	c->deferred = true;
	return 0;
}

int op_lkcancel(struct call *c)
{
	uint32_t call;
	int rc;
	if (arg_fh(c) || rd_u32(c->a, &call))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	for (struct lkwait *w = c->f->waits; w; w = w->next)
		if (w->fh == c->fh && w->q.src == c->caller && w->q.reply_to == call) {
			loop_timer_cancel(router_loop(c->f->r), w->t);
			w->t = NULL;
			wait_end(w, EINTR);
			return 0;
		}
	return bad(c, -ENOENT, "no such waiting lock (taken already?)");
}

void lock_waits_drop(struct svc_fs *f, uint32_t fh, int err)
{
	struct lkwait **pp = &f->waits;
	while (*pp) {
		struct lkwait *w = *pp;
		if (w->fh != fh) {
			pp = &w->next;
			continue;
		}
		loop_timer_cancel(router_loop(f->r), w->t);
		w->t = NULL;
		wait_end(w, err ? err : -1); /* unlinks w: *pp is the next one */
	}
}
