/*
 * ops — the fuse_lowlevel_ops table of the control tree. Each op replies
 * exactly once, now or (reads that wait, writes that start something
 * remote) when the answer arrives on the loop. Contexts and jobs come and
 * go under the kernel, so their directory entries are never cached; the
 * fixed files inside are, and so are attributes that cannot change.
 * Every file uses direct_io: data is never cached.
 * Not for: what a write does (ctl.c, jobs.c) or how reads wait (fh.c).
 */
#include "ops.h"
#include "ops_int.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/statvfs.h>

#include "fh.h"
#include "kinds.h"
#include "remotefs.h"

static mode_t mode_of(enum node_kind k)
{
	return kind_of(k)->mode;
}

static void fill_attr(struct daemon *d, struct node *n, struct stat *st)
{
	const struct kind *k = kind_of(n->kind);
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = k->mode;
	st->st_nlink = kind_is_dir(n->kind) ? 2 : 1;
	/* allow_other: others may walk to NAME/fs/ (the kernel checks these
	 * modes then: default_permissions), never open a control file. */
	if (d->allow_other && kind_is_dir(n->kind))
		st->st_mode |= 0055;
	st->st_uid = d->uid;
	st->st_gid = d->gid;
	st->st_blksize = 4096;
	st->st_mtim = st->st_ctim = st->st_atim = n->mtime;
	if (k->link)
		st->st_size = (off_t)strlen(k->link);
	else if (k->size)
		st->st_size = k->size(n);
	else if (k->write == KW_LINES || k->write == KW_SCRIPT || k->write == KW_STREAM)
		st->st_size = 4096; /* see kinds.h: parallel direct writes */
}

static double attr_timeout(enum node_kind k)
{
	return kind_of(k)->attr_timeout;
}

static double entry_timeout(const struct node *n)
{
	return kind_of(n->kind)->entry_timeout;
}

static void reply_entry(fuse_req_t req, struct node *n)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.ino = n->ino;
	fill_attr(D(req), n, &e.attr);
	e.entry_timeout = entry_timeout(n);
	e.attr_timeout = attr_timeout(n->kind);
	if (fuse_reply_entry(req, &e) == 0)
		n->nlookup++;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	TO_REMOTE(lookup, parent, req, parent, name);
	struct node *p = live_node(req, parent);
	struct node *n = p ? tree_find(p, name) : NULL;
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	const struct kind *k = kind_of(n->kind);
	if (k->lookup)
		k->lookup(req, n);
	else
		reply_entry(req, n);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	TO_REMOTE(forget, ino, req, ino, nlookup);
	struct daemon *d = D(req);
	struct node *n = tree_get(&d->tree, ino);
	if (n)
		tree_forget(&d->tree, n, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *fd)
{
	struct daemon *d = D(req);
	for (size_t i = 0; i < count; i++) {
		if (REMOTE(fd[i].ino)) {
			remotefs_forget(d->rfs, fd[i].ino, fd[i].nlookup);
			continue;
		}
		struct node *n = tree_get(&d->tree, fd[i].ino);
		if (n)
			tree_forget(&d->tree, n, fd[i].nlookup);
	}
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	TO_REMOTE(getattr, ino, req, ino, fi);
	(void)fi;
	struct node *n = tree_get(&D(req)->tree, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct stat st;
	fill_attr(D(req), n, &st);
	fuse_reply_attr(req, &st, n->removed ? 0 : attr_timeout(n->kind));
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	TO_REMOTE(setattr, ino, req, ino, attr, to_set, fi);
	struct node *n = live_node(req, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* O_TRUNC on a control file and touch(1) are harmless; ownership and
	 * mode belong to the daemon. */
	if (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && !(mode_of(n->kind) & 0200)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	const struct kind *k = kind_of(n->kind);
	if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size == 0 && k->truncate)
		k->truncate(n);
	fs_getattr(req, ino, fi);
}

static void readdir_any(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct daemon *d = D(req);
	struct node *dir = live_node(req, ino);
	if (!dir || !kind_is_dir(dir->kind)) {
		fuse_reply_err(req, dir ? ENOTDIR : ENOENT);
		return;
	}
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	off_t i = 0;
	struct node *c = dir->children;
	/* Entry i: 0 ".", 1 "..", then the children in order. */
	for (;; i++) {
		const char *name;
		struct fuse_entry_param e;
		memset(&e, 0, sizeof(e));
		struct node *counted = NULL;
		if (i == 0) {
			name = ".";
			e.attr.st_ino = dir->ino;
			e.attr.st_mode = S_IFDIR;
		} else if (i == 1) {
			name = "..";
			e.attr.st_ino = dir->parent ? dir->parent->ino : dir->ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			if (i > 2)
				c = c ? c->next : NULL;
			/* NAME/.fs is reached by name only, never listed
			 * (NAME/fs, a symlink to it, is): a recursive rm,
			 * chmod, find or grep over the mount must not walk
			 * into every context's whole filesystem. */
			while (c && kind_of(c->kind)->hidden)
				c = c->next;
			if (!c)
				break;
			name = c->name;
			fill_attr(d, c, &e.attr);
			if (plus) {
				e.ino = c->ino;
				e.attr_timeout = attr_timeout(c->kind);
				e.entry_timeout = entry_timeout(c);
				counted = c;
			}
		}
		if (i < off)
			continue;
		size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, i + 1)
				   : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, i + 1);
		if (need > size - used)
			break;
		used += need;
		if (counted)
			counted->nlookup++;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	TO_REMOTE(readdir, ino, req, ino, size, off, fi);
	readdir_any(req, ino, size, off, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	TO_REMOTE(readdirplus, ino, req, ino, size, off, fi);
	readdir_any(req, ino, size, off, true);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	TO_REMOTE(opendir, ino, req, ino, fi);
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	TO_REMOTE(releasedir, ino, req, ino, fi);
	fuse_reply_err(req, 0);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	TO_REMOTE(readlink, ino, req, ino);
	struct node *n = live_node(req, ino);
	const char *link = n ? kind_of(n->kind)->link : NULL;
	if (link)
		fuse_reply_readlink(req, link);
	else
		fuse_reply_err(req, n ? EINVAL : ENOENT);
}

/* Operations only fs/ has: the control tree refuses them plainly. */

static void fs_symlink(fuse_req_t req, const char *target, fuse_ino_t p, const char *name)
{
	TO_REMOTE(symlink, p, req, target, p, name);
	fuse_reply_err(req, EPERM);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np, const char *name)
{
	if (REMOTE(ino) != REMOTE(np)) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	TO_REMOTE(link, ino, req, ino, np, name);
	fuse_reply_err(req, EPERM);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	TO_REMOTE(fsync, ino, req, ino, datasync, fi);
	fuse_reply_err(req, 0);
}

static void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	TO_REMOTE(fsyncdir, ino, req, ino, datasync, fi);
	fuse_reply_err(req, 0); /* the control tree keeps nothing on disk */
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	TO_REMOTE(statfs, ino, req, ino);
	struct statvfs st = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = 255 };
	fuse_reply_statfs(req, &st);
}

static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	TO_REMOTE(access, ino, req, ino, mask);
	/* The mount has no default_permissions (see main.c): the modes are
	 * the daemon's to enforce, here as in fs_open, for root too. */
	struct node *n = live_node(req, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	mode_t m = mode_of(n->kind);
	bool ok = (!(mask & R_OK) || (m & 0400)) && (!(mask & W_OK) || (m & 0200)) &&
		  (!(mask & X_OK) || (m & 0100));
	fuse_reply_err(req, ok ? 0 : EACCES);
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	TO_REMOTE(getxattr, ino, req, ino, name, size);
	fuse_reply_err(req, ENODATA);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	TO_REMOTE(listxattr, ino, req, ino, size);
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	TO_REMOTE(setxattr, ino, req, ino, name, value, size, flags);
	fuse_reply_err(req, ENOTSUP);
}

static void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	TO_REMOTE(removexattr, ino, req, ino, name);
	fuse_reply_err(req, ENODATA);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct daemon *d = userdata;
	/* fs/ reads stream: let the kernel read ahead in large requests (it
	 * keeps the smaller of this and the mount's window, readahead.h). */
	size_t want = d->readahead > (1u << 20) ? d->readahead : (1u << 20);
	if (conn->max_readahead < want)
		conn->max_readahead = (unsigned)want;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO; /* always plus: ls -l in one trip */
	/* O_TRUNC as a setattr of its own: an atomic one would set a command
	 * file's size to 0 in the kernel, and writes past the size are run
	 * one at a time (see fill_attr). */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* Locks in fs/ are the target's (remotefs_lock.c). The kernel asks
	 * for the whole mount then: control files answer below. */
	conn->want |= conn->capable & (FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
}

/* Replies to open with direct_io, and parallel direct writes on files
 * that take commands: libfuse 3.14 has no field for that flag, so the
 * kernel's open reply is built here. Without it the kernel serialises
 * writes to one inode, and 50 `echo connect ... > ctl` would run one by one. */
static void reply_open(fuse_req_t req, struct fuse_file_info *fi, bool writes)
{
	struct fuse_open_out out;
	memset(&out, 0, sizeof(out));
	out.fh = fi->fh;
	/* A reader has nothing to flush at close: no FLUSH request for it. */
	out.open_flags = FOPEN_DIRECT_IO |
			 (writes ? FOPEN_PARALLEL_DIRECT_WRITES : FOPEN_NOFLUSH);
	struct iovec iov = { &out, sizeof(out) };
	if (fuse_reply_iov(req, &iov, 1) != 0)
		fh_free((struct fh *)(uintptr_t)fi->fh);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	TO_REMOTE(open, ino, req, ino, fi);
	struct daemon *d = D(req);
	struct node *n = live_node(req, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	const struct kind *k = kind_of(n->kind);
	if (kind_is_dir(n->kind)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	int acc = fi->flags & O_ACCMODE;
	mode_t m = mode_of(n->kind);
	if ((acc != O_WRONLY && !(m & 0400)) || (acc != O_RDONLY && !(m & 0200))) {
		fuse_reply_err(req, EACCES);
		return;
	}
	struct fh *f = fh_new(d, n->kind);
	if (!f) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	f->oflags = fi->flags;
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	f->who = (struct caller){ fc->uid, fc->gid, fc->pid };
	int rc = k->open ? k->open(f, n) : 0;
	if (rc) {
		fh_free(f);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)f;
	reply_open(req, fi, acc != O_RDONLY);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	TO_REMOTE(read, ino, req, ino, size, off, fi);
	(void)ino;
	fh_read((struct fh *)(uintptr_t)fi->fh, req, size, off);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	TO_REMOTE(release, ino, req, ino, fi);
	(void)ino;
	struct fh *f = (struct fh *)(uintptr_t)fi->fh;
	const struct kind *k = kind_of(f->kind);
	ops_write_release(f);
	if (k->close)
		k->close(f);
	fh_free(f);
	fuse_reply_err(req, 0);
}

static void fs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	/* A file under NAME/fs/ is ready both ways at once, as a file on a
	 * disk is (its fh is remotefs's, not an fh). Not ENOSYS: the kernel
	 * would stop polling the control files too. */
	if (REMOTE(ino)) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
		return;
	}
	fh_poll((struct fh *)(uintptr_t)fi->fh, req, ph);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	TO_REMOTE(rmdir, parent, req, parent, name);
	struct node *p = live_node(req, parent);
	struct node *n = p ? tree_find(p, name) : NULL;
	if (!n)
		fuse_reply_err(req, ENOENT);
	else if (!kind_is_dir(n->kind))
		fuse_reply_err(req, ENOTDIR);
	else if (!kind_of(p->kind)->rmdir)
		fuse_reply_err(req, EPERM); /* contexts go with `disconnect` */
	else
		fuse_reply_err(req, -kind_of(p->kind)->rmdir(p, n));
}

/* A mkdir under way: its kind's mkdir may take a while (a connect), and
 * the caller may be interrupted meanwhile. The kernel holds the parent
 * directory's lock until we answer. */
struct mkdir_req {
	fuse_req_t req;
	struct daemon *d;
	uint64_t dir;          /* the parent's inode */
	bool answered;         /* interrupted: EINTR went out already */
	char name[];
};

static void mkdir_done(void *arg, int rc)
{
	struct mkdir_req *m = arg;
	struct node *dir = tree_get(&m->d->tree, m->dir);
	struct node *n = !rc && dir && !dir->removed ? tree_find(dir, m->name) : NULL;
	if (m->answered)
		; /* EINTR was the answer */
	else if (n)
		reply_entry(m->req, n);
	else
		fuse_reply_err(m->req, rc ? -rc : EIO);
	free(m);
}

/* Ctrl-C on a mkdir that waits: EINTR at once (the kernel would wait
 * for us in D state otherwise), and what it started is undone. */
static void mkdir_interrupted(fuse_req_t req, void *arg)
{
	struct mkdir_req *m = arg;
	if (m->answered)
		return;
	m->answered = true;
	fuse_reply_err(req, EINTR);
	struct node *dir = tree_get(&m->d->tree, m->dir);
	if (dir && !dir->removed && kind_of(dir->kind)->mkdir_cancel)
		kind_of(dir->kind)->mkdir_cancel(dir, m->name);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode)
{
	TO_REMOTE(mkdir, p, req, p, name, mode);
	(void)mode;
	struct node *dir = live_node(req, p);
	const struct kind *k = dir ? kind_of(dir->kind) : NULL;
	if (!dir || !k->mkdir) {
		fuse_reply_err(req, dir ? EPERM : ENOENT);
		return;
	}
	struct mkdir_req *m = calloc(1, sizeof(*m) + strlen(name) + 1);
	if (!m) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	m->req = req;
	m->d = D(req);
	m->dir = dir->ino;
	strcpy(m->name, name);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct caller who = { fc->uid, fc->gid, fc->pid };
	/* Registered first: done may come at once, and after it m is gone. */
	fuse_req_interrupt_func(req, mkdir_interrupted, m);
	if (!m->answered)
		k->mkdir(dir, name, &who, mkdir_done, m);
	else
		mkdir_done(m, -EINTR);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode, dev_t rdev)
{
	TO_REMOTE(mknod, p, req, p, name, mode, rdev);
	(void)p; (void)name; (void)mode; (void)rdev;
	fuse_reply_err(req, EPERM);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t p, const char *name)
{
	TO_REMOTE(unlink, p, req, p, name);
	(void)p; (void)name;
	fuse_reply_err(req, EPERM);
}

static void fs_create(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	TO_REMOTE(create, p, req, p, name, mode, fi);
	(void)p; (void)name; (void)mode; (void)fi;
	fuse_reply_err(req, EPERM);
}

static void fs_rename(fuse_req_t req, fuse_ino_t p, const char *name, fuse_ino_t np,
		      const char *nname, unsigned int flags)
{
	if (REMOTE(p) != REMOTE(np)) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	TO_REMOTE(rename, p, req, p, name, np, nname, flags);
	(void)p; (void)name; (void)np; (void)nname; (void)flags;
	fuse_reply_err(req, EPERM);
}

/* Locks on control files: none can be taken (ENOLCK), so there is
 * never one in the way (F_UNLCK) and releasing one does nothing. With
 * locks forwarded the kernel no longer keeps them for us, and a lock
 * here that excluded nobody on the target would be a lie about fs/'s
 * neighbours; directories keep the kernel's own (FUSE never asks). */
static void fs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock)
{
	TO_REMOTE(getlk, ino, req, ino, fi, lock);
	struct flock none = *lock;
	none.l_type = F_UNLCK;
	fuse_reply_lock(req, &none);
}

static void fs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock, int sleep)
{
	TO_REMOTE(setlk, ino, req, ino, fi, lock, sleep);
	fuse_reply_err(req, lock->l_type == F_UNLCK ? 0 : ENOLCK);
}

static void fs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	TO_REMOTE(flock, ino, req, ino, fi, op);
	fuse_reply_err(req, op & LOCK_UN ? 0 : ENOLCK);
}

const struct fuse_lowlevel_ops mitofs_ops = {
	.init = fs_init,
	.readdirplus = fs_readdirplus,
	.opendir = fs_opendir,
	.releasedir = fs_releasedir,
	.readlink = fs_readlink,
	.symlink = fs_symlink,
	.link = fs_link,
	.fsync = fs_fsync,
	.fsyncdir = fs_fsyncdir,
	.statfs = fs_statfs,
	.access = fs_access,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.setxattr = fs_setxattr,
	.removexattr = fs_removexattr,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
	.write = ops_write,
	.flush = ops_flush,
	.release = fs_release,
	.poll = fs_poll,
	.rmdir = fs_rmdir,
	.mkdir = fs_mkdir,
	.mknod = fs_mknod,
	.unlink = fs_unlink,
	.create = fs_create,
	.rename = fs_rename,
	.getlk = fs_getlk,
	.setlk = fs_setlk,
	.flock = fs_flock,
};
