/*
 * remotefs_ops — the FUSE operations of the fs/ subtree: each one turns
 * into one call (or, for setattr, a short chain) to the stub's fs
 * service; remotefs.c answers when the reply comes. Writes are pipelined:
 * answered at once while less than WRITE_WINDOW bytes are unacknowledged,
 * their errors kept for the next write, flush, fsync or close.
 * Not for: the control tree (ops.c), xattrs (remotefs_xattr.c).
 */
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "log.h"
#include "loop.h"
#include "remotefs_int.h"
#include "worker.h"


/* --- the tree --- */

void remotefs_lookup_root(struct remotefs *rf, fuse_req_t req, struct ctx *c, uint64_t ino)
{
	struct rnode *n = node_get(rf, ino);
	if (!n && !(n = node_new(rf, c, NULL, "", ino))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n->c = c;
	struct buf b;
	struct rcall *k = call_begin(rf, req, FS_LSTAT, n, NULL, &b, true);
	if (k) {
		k->entry = true;
		call_send(k, &b, 0);
	}
}

static void rfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rnode *p = rfs_want(req, parent);
	if (!p)
		return;
	if (strlen(name) > 255) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	RFS_BEGIN(FS_LSTAT, p, name);
	k->parent = p;
	k->entry = true;
	call_send(k, &b, 0);
}

void remotefs_forget(struct remotefs *rf, fuse_ino_t ino, uint64_t count)
{
	struct rnode *n = node_get(rf, ino);
	if (!n)
		return;
	n->nlookup = count > n->nlookup ? 0 : n->nlookup - count;
	if (n->nlookup == 0 && !n->children)
		node_free(rf, n);
}

static void rfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	remotefs_forget(rfs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void rfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *fd)
{
	for (size_t i = 0; i < count; i++)
		remotefs_forget(rfs_of(req), fd[i].ino, fd[i].nlookup);
	fuse_reply_none(req);
}

static void rfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	struct rfile *f = fi && fi->fh ? (struct rfile *)(uintptr_t)fi->fh : NULL;
	char path[FS_MAX_PATH + 1];
	if (!f && n->open && node_path(n, path, sizeof(path)) == -ENOENT)
		f = n->open; /* its name is gone, an open file of it is not */
	if (f && f->remote && f->cid && n->c && n->c->id == f->cid) {
		/* Through the handle: right even once the name is gone. */
		struct buf b;
		struct rcall *k = call_begin(rfs_of(req), req, FS_FSTAT, n, NULL, &b, false);
		if (!k)
			return;
		if (buf_put_u32(&b, f->fh)) {
			buf_free(&b);
			fuse_reply_err(req, ENOMEM);
			call_free(k);
			return;
		}
		call_send(k, &b, 0);
		return;
	}
	RFS_BEGIN(FS_LSTAT, n, NULL);
	k->file = f; /* an fstat: no path walk to do again (see on_reply) */
	call_send(k, &b, 0);
}

enum { SET_SIZE = 1, SET_MODE = 2, SET_OWNER = 4, SET_TIMES = 8 };

/* Sends the next step of a setattr; the last step's reply answers. */
void setattr_next(struct rcall *k)
{
	struct buf b;
	int step = k->pending_set & SET_SIZE ? SET_SIZE : k->pending_set & SET_MODE ? SET_MODE
		   : k->pending_set & SET_OWNER ? SET_OWNER : SET_TIMES;
	k->pending_set &= ~step;
	struct rfile *f = k->file;
	int op = step == SET_SIZE ? (f ? FS_FTRUNCATE : FS_TRUNCATE)
		 : step == SET_MODE ? FS_CHMOD : step == SET_OWNER ? FS_CHOWN : FS_UTIMENS;
	buf_init(&b);
	int rc = proto_call_begin(&b, SVC_FS, (uint16_t)op);
	if (op == FS_FTRUNCATE) {
		rc = rc ? rc : buf_put_u32(&b, f->fh);
	} else {
		char p[FS_MAX_PATH + 1];
		rc = rc ? rc : node_path(k->node, p, sizeof(p));
		rc = rc ? rc : buf_put_str(&b, p);
	}
	const struct stat *s = &k->set;
	switch (step) {
	case SET_SIZE:
		rc = rc ? rc : buf_put_u64(&b, (uint64_t)s->st_size);
		break;
	case SET_MODE:
		rc = rc ? rc : buf_put_u32(&b, s->st_mode & 07777);
		break;
	case SET_OWNER:
		rc = rc ? rc : buf_put_u32(&b, k->to_set & FUSE_SET_ATTR_UID ? s->st_uid : 0xffffffffu);
		rc = rc ? rc : buf_put_u32(&b, k->to_set & FUSE_SET_ATTR_GID ? s->st_gid : 0xffffffffu);
		break;
	default: {
		long an = k->to_set & FUSE_SET_ATTR_ATIME_NOW ? UTIME_NOW
			  : k->to_set & FUSE_SET_ATTR_ATIME ? s->st_atim.tv_nsec : UTIME_OMIT;
		long mn = k->to_set & FUSE_SET_ATTR_MTIME_NOW ? UTIME_NOW
			  : k->to_set & FUSE_SET_ATTR_MTIME ? s->st_mtim.tv_nsec : UTIME_OMIT;
		rc = rc ? rc : buf_put_u64(&b, (uint64_t)s->st_atim.tv_sec);
		rc = rc ? rc : buf_put_u32(&b, (uint32_t)an);
		rc = rc ? rc : buf_put_u64(&b, (uint64_t)s->st_mtim.tv_sec);
		rc = rc ? rc : buf_put_u32(&b, (uint32_t)mn);
	}
	}
	if (rc) {
		buf_free(&b);
		if (k->req)
			fuse_reply_err(k->req, -rc);
		call_free(k);
		return;
	}
	k->op = op;
	call_send(k, &b, 0);
}

static void rfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	struct rcall *k = calloc(1, sizeof(*k));
	if (!k) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	k->rf = rfs_of(req);
	k->req = req;
	k->node = n;
	int rc = remotefs_cred_take(k->rf, req, n->c, &k->cred);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		free(k);
		return;
	}
	k->has_cred = rc > 0;
	k->set = *attr;
	k->to_set = to_set;
	k->file = fi && fi->fh ? (struct rfile *)(uintptr_t)fi->fh : NULL;
	if (to_set & FUSE_SET_ATTR_SIZE)
		k->pending_set |= SET_SIZE;
	if (to_set & FUSE_SET_ATTR_MODE)
		k->pending_set |= SET_MODE;
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		k->pending_set |= SET_OWNER;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		      FUSE_SET_ATTR_MTIME_NOW))
		k->pending_set |= SET_TIMES;
	if (!k->pending_set) { /* ctime alone: nothing to change, say how it is */
		call_free(k);
		rfs_getattr(req, ino, fi);
		return;
	}
	setattr_next(k);
}

/* --- directories --- */

static void rfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	RFS_BEGIN(FS_READDIR, n, NULL);
	k->fi = *fi;
	call_send(k, &b, 0);
}

static void rfs_readdir_any(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi, bool plus)
{
	struct remotefs *rf = rfs_of(req);
	struct rnode *dir = node_get(rf, ino);
	struct rdir *rd = (struct rdir *)(uintptr_t)fi->fh;
	if (!dir || !rd) {
		fuse_reply_err(req, EBADF);
		return;
	}
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	struct rd r;
	rd_init(&r, rd->entries.data, rd->entries.len);
	/* Entry i: 0 ".", 1 "..", then the stub's entries in order. */
	for (uint32_t i = 0; i < rd->count + 2; i++) {
		char *name = NULL;
		struct fs_attr a;
		struct fuse_entry_param e;
		memset(&e, 0, sizeof(e));
		if (i >= 2) {
			if (rd_str(&r, &name, 255) || fs_attr_get(&r, &a)) {
				free(name);
				break;
			}
		}
		if ((off_t)i < off) {
			free(name);
			continue;
		}
		struct rnode *n = NULL;
		if (i < 2) {
			const struct rnode *d = i == 0 || !dir->parent ? dir : dir->parent;
			e.ino = d->ino;
			e.attr.st_ino = d->sid ? d->sid : d->ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			n = plus ? child_get(rf, dir, name) : NULL;
			if (n) {
				fill_entry(rf, &e, n, &a);
			} else { /* plain readdir: a name and a type, no node */
				fs_attr_to_stat(&a, &e.attr);
				e.attr.st_ino = ino_shown(dir->root, &a);
			}
		}
		size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used,
							    i == 0 ? "." : i == 1 ? ".." : name, &e, i + 1)
				   : fuse_add_direntry(req, buf + used, size - used,
						       i == 0 ? "." : i == 1 ? ".." : name, &e.attr, i + 1);
		free(name);
		if (need > size - used)
			break;
		used += need;
		if (plus && n) {
			n->nlookup++;
			node_saw(rf, n, &a); /* sent: the kernel has these now */
		}
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void rfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	rfs_readdir_any(req, ino, size, off, fi, false);
}

static void rfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	rfs_readdir_any(req, ino, size, off, fi, true);
}

static void rfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct rdir *rd = (struct rdir *)(uintptr_t)fi->fh;
	if (rd) {
		buf_free(&rd->entries);
		free(rd);
	}
	fuse_reply_err(req, 0);
}

static void new_entry(fuse_req_t req, int op, fuse_ino_t parent, const char *name,
		      uint32_t mode, uint64_t rdev)
{
	struct rnode *p = rfs_want(req, parent);
	if (!p)
		return;
	RFS_BEGIN(op, p, name);
	k->parent = p;
	int rc = buf_put_u32(&b, mode);
	if (op == FS_MKNOD)
		rc = rc ? rc : buf_put_u64(&b, rdev);
	call_send(k, &b, rc ? -ENOMEM : 0);
}

static void rfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	new_entry(req, FS_MKDIR, parent, name, mode, 0);
}

static void rfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev)
{
	new_entry(req, FS_MKNOD, parent, name, mode, rdev);
}

static void remove_entry(fuse_req_t req, int op, fuse_ino_t parent, const char *name)
{
	struct rnode *p = rfs_want(req, parent);
	if (!p)
		return;
	RFS_BEGIN(op, p, name);
	call_send(k, &b, 0); /* on success remotefs.c drops p/name from the table */
}

static void rfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, FS_UNLINK, parent, name);
}

static void rfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, FS_RMDIR, parent, name);
}

static void rfs_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	struct rnode *p = rfs_want(req, parent);
	if (!p)
		return;
	struct buf b;
	struct rcall *k = call_begin(rfs_of(req), req, FS_SYMLINK, p, name, &b, false);
	if (!k)
		return;
	char path[FS_MAX_PATH + 1];
	int rc = node_path(p, path, sizeof(path));
	size_t l = strlen(path);
	if (!rc && l + 1 + strlen(name) > FS_MAX_PATH)
		rc = -ENAMETOOLONG;
	if (!rc)
		snprintf(path + l, sizeof(path) - l, "%s%s", l > 1 ? "/" : "", name);
	rc = rc ? rc : buf_put_str(&b, target);
	rc = rc ? rc : buf_put_str(&b, path);
	k->parent = p;
	call_send(k, &b, rc);
}

/* "/dir/name" of dir p. */
static int child_path(struct rnode *p, const char *name, char *out, size_t cap)
{
	int rc = node_path(p, out, cap);
	if (rc)
		return rc;
	size_t l = strlen(out);
	if (l + 1 + strlen(name) >= cap)
		return -ENAMETOOLONG;
	snprintf(out + l, cap - l, "%s%s", l > 1 ? "/" : "", name);
	return 0;
}

static void rfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	struct remotefs *rf = rfs_of(req);
	struct rnode *p = rfs_want(req, parent), *np = p ? rfs_want(req, newparent) : NULL;
	if (!np)
		return;
	if (p->c != np->c) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	struct rnode *from = child_get(rf, p, name);
	struct buf b;
	struct rcall *k = from ? call_begin(rf, req, FS_RENAME, from, newname, &b, false) : NULL;
	if (!from) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!k)
		return;
	char a[FS_MAX_PATH + 1], z[FS_MAX_PATH + 1];
	int rc = child_path(p, name, a, sizeof(a));
	rc = rc ? rc : child_path(np, newname, z, sizeof(z));
	rc = rc ? rc : buf_put_str(&b, a);
	rc = rc ? rc : buf_put_str(&b, z);
	rc = rc ? rc : buf_put_u32(&b, flags);
	if (rc) {
		buf_free(&b);
		fuse_reply_err(req, -rc);
		call_free(k);
		return;
	}
	k->parent = np;
	k->to_set = (int)flags;
	call_send(k, &b, 0);
}

static void rfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct rnode *n = rfs_want(req, ino), *np = n ? rfs_want(req, newparent) : NULL;
	if (!np)
		return;
	if (n->c != np->c) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	struct buf b;
	struct rcall *k = call_begin(rfs_of(req), req, FS_LINK, n, newname, &b, false);
	if (!k)
		return;
	char a[FS_MAX_PATH + 1], z[FS_MAX_PATH + 1];
	int rc = node_path(n, a, sizeof(a));
	rc = rc ? rc : child_path(np, newname, z, sizeof(z));
	rc = rc ? rc : buf_put_str(&b, a);
	rc = rc ? rc : buf_put_str(&b, z);
	k->parent = np;
	call_send(k, &b, rc);
}

static void rfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	RFS_BEGIN(FS_READLINK, n, NULL);
	call_send(k, &b, 0);
}

static void rfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	RFS_BEGIN(FS_STATFS, n, NULL);
	call_send(k, &b, 0);
}

static void rfs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	RFS_BEGIN(FS_ACCESS, n, NULL);
	bool bad = buf_put_u32(&b, (uint32_t)mask);
	call_send(k, &b, bad ? -ENOMEM : 0);
}

/* fsync(2) of a directory in fs/: the target syncs it by name (libfuse
 * would answer ENOSYS, and the kernel then answers every later one 0
 * without asking: names made on the target would not be made durable). */
static void rfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)fi;
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	RFS_BEGIN(FS_FSYNCDIR, n, NULL);
	bool bad = buf_put_u32(&b, datasync ? 1 : 0);
	call_send(k, &b, bad ? -ENOMEM : 0);
}

/* --- the module --- */

struct remotefs *remotefs_new(struct daemon *d)
{
	struct remotefs *rf = calloc(1, sizeof(*rf));
	if (!rf)
		return NULL;
	rf->d = d;
	rf->timeout = d->attr_timeout;
	map_init(&rf->nodes);
	map_init(&rf->sids);
	map_init(&rf->ctxcred);
	return rf;
}

void remotefs_free(struct remotefs *rf)
{
	if (!rf)
		return;
	size_t pos = 0;
	void *v;
	while (map_next(&rf->nodes, &pos, NULL, &v)) {
		struct rnode *n = v;
		free(n->name);
		free(n);
	}
	map_free(&rf->nodes);
	map_free(&rf->sids);
	remotefs_cred_free(rf);
	free(rf);
}

int remotefs_owns(const struct remotefs *rf, fuse_ino_t ino)
{
	return rf && map_get(&rf->nodes, ino) != NULL;
}

void remotefs_ctx_gone(struct remotefs *rf, struct ctx *c)
{
	size_t pos = 0;
	void *v;
	while (map_next(&rf->nodes, &pos, NULL, &v)) {
		struct rnode *n = v;
		if (n->c == c)
			n->c = NULL;
	}
	remotefs_cred_ctx_gone(rf, c->id);
}

const struct fuse_lowlevel_ops remotefs_ops = {
	.lookup = rfs_lookup,
	.forget = rfs_forget,
	.forget_multi = rfs_forget_multi,
	.getattr = rfs_getattr,
	.setattr = rfs_setattr,
	.readlink = rfs_readlink,
	.mknod = rfs_mknod,
	.mkdir = rfs_mkdir,
	.unlink = rfs_unlink,
	.rmdir = rfs_rmdir,
	.symlink = rfs_symlink,
	.rename = rfs_rename,
	.link = rfs_link,
	.open = rfs_open,
	.read = rfs_read,
	.write = rfs_write,
	.flush = rfs_flush,
	.release = rfs_release,
	.fsync = rfs_fsync,
	.opendir = rfs_opendir,
	.readdir = rfs_readdir,
	.readdirplus = rfs_readdirplus,
	.releasedir = rfs_releasedir,
	.statfs = rfs_statfs,
	.setxattr = rfs_setxattr,
	.getxattr = rfs_getxattr,
	.listxattr = rfs_listxattr,
	.removexattr = rfs_removexattr,
	.access = rfs_access,
	.fsyncdir = rfs_fsyncdir,
	.create = rfs_create,
	.getlk = rfs_getlk,
	.setlk = rfs_setlk,
	.flock = rfs_flock,
};

/* --- flush: drop what the kernel cached of one context's files --- */

struct flush_job {
	struct fuse_session *se;
	size_t n;
	uint64_t *inos;      /* every node: attributes and data */
	uint64_t *parents;   /* and every named one's entry */
	char **names;
	struct ctx *c;
	struct ctl_batch *b;
};

/* On a worker: the kernel may need our answer to a request on the same
 * inode before it can drop its pages (worker.h). */
static void flush_work(void *arg)
{
	struct flush_job *j = arg;
	for (size_t i = 0; i < j->n; i++) {
		if (j->names[i])
			fuse_lowlevel_notify_inval_entry(j->se, j->parents[i], j->names[i],
							 strlen(j->names[i]));
		fuse_lowlevel_notify_inval_inode(j->se, j->inos[i], 0, 0);
	}
}

static void flush_free(struct flush_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->names[i]);
	free(j->names);
	free(j->inos);
	free(j->parents);
	free(j);
}

static void flush_done(void *arg)
{
	struct flush_job *j = arg;
	struct ctl_batch *b = j->b;
	struct ctx *c = j->c;
	flush_free(j);
	ctx_log(c, LOG_INFO, "fs caches dropped");
	ctl_batch_done(b, 0, NULL);
	ctx_unbusy(c);
}

int remotefs_flush(struct remotefs *rf, struct ctx *c, struct ctl_batch *b)
{
	struct daemon *d = rf->d;
	struct flush_job *j = calloc(1, sizeof(*j));
	size_t cap = rf->nodes.used ? rf->nodes.used : 1;
	if (!j)
		return -ENOMEM;
	j->inos = calloc(cap, sizeof(*j->inos));
	j->parents = calloc(cap, sizeof(*j->parents));
	j->names = calloc(cap, sizeof(*j->names));
	if (!j->inos || !j->parents || !j->names) {
		flush_free(j);
		return -ENOMEM;
	}
	size_t pos = 0;
	void *v;
	while (map_next(&rf->nodes, &pos, NULL, &v) && j->n < cap) {
		struct rnode *n = v;
		if (n->c != c)
			continue;
		n->xattr_until = 0; /* what the stub said of its xattrs, too */
		j->inos[j->n] = n->ino;
		if (n->parent) {
			j->parents[j->n] = n->parent->ino;
			j->names[j->n] = strdup(n->name);
		}
		j->n++;
	}
	j->se = d->se;
	j->c = c;
	j->b = b;
	int rc = worker_run(&d->workers, flush_work, flush_done, j);
	if (rc) {
		flush_free(j);
		return rc;
	}
	c->busy++;
	return 1;
}
