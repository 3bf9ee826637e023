/*
 * remotefs — the fs/ subtree of every context (remotefs.h): a table of
 * remote nodes (parent + name, so a rename moves one record), calls to
 * the stub's fs service, and the FUSE answers built from their replies.
 * Not for: the control tree (ops.c) or the stub's side (stub/svc_fs.c).
 */
#include "remotefs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "ctx.h"
#include "fsproto.h"
#include "log.h"
#include "loop.h"
#include "map.h"
#include "remotefs_int.h"
#include "router.h"

/* --- nodes --- */

struct rnode *node_get(struct remotefs *rf, fuse_ino_t ino)
{
	return map_get(&rf->nodes, ino);
}

struct rnode *node_new(struct remotefs *rf, struct ctx *c, struct rnode *parent,
			      const char *name, uint64_t ino)
{
	struct rnode *n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return NULL;
	}
	n->ino = ino ? ino : rf->d->tree.next_ino++;
	n->c = c;
	n->parent = parent;
	n->root = parent ? parent->root : n->ino;
	if (map_put(&rf->nodes, n->ino, n)) {
		free(n->name);
		free(n);
		return NULL;
	}
	if (parent) {
		n->next = parent->children;
		parent->children = n;
	}
	return n;
}

void node_unlink(struct rnode *n)
{
	if (!n->parent)
		return;
	for (struct rnode **pp = &n->parent->children; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	n->parent = NULL;
	n->next = NULL;
}

/* The index of the names of hard-linked files (rf->sids): siblings_stale
 * finds a file's other names without going through every node. */
static void same_unindex(struct remotefs *rf, struct rnode *n)
{
	if (!n->same_key)
		return;
	struct rnode *head = map_get(&rf->sids, n->same_key);
	if (head == n) {
		if (n->same)
			map_put(&rf->sids, n->same_key, n->same); /* replaces: no allocation */
		else
			map_del(&rf->sids, n->same_key);
	} else {
		for (struct rnode *p = head; p; p = p->same)
			if (p->same == n) {
				p->same = n->same;
				break;
			}
	}
	n->same = NULL;
	n->same_key = 0;
}

static void same_index(struct remotefs *rf, struct rnode *n, uint64_t key)
{
	if (n->same_key == key)
		return;
	same_unindex(rf, n);
	n->same = map_get(&rf->sids, key);
	if (map_put(&rf->sids, key, n)) {
		n->same = NULL; /* out of memory: its siblings are not found */
		return;
	}
	n->same_key = key;
}

void node_free(struct remotefs *rf, struct rnode *n)
{
	same_unindex(rf, n);
	node_unlink(n);
	/* Children the kernel still knows keep living, without a parent:
	 * their path is gone, so calls on them fail with ENOENT. */
	for (struct rnode *ch = n->children, *next; ch; ch = next) {
		next = ch->next;
		ch->parent = NULL;
		ch->next = NULL;
	}
	map_del(&rf->nodes, n->ino);
	free(n->name);
	free(n);
}

struct rnode *child_named(struct rnode *dir, const char *name)
{
	for (struct rnode *ch = dir->children; ch; ch = ch->next)
		if (!strcmp(ch->name, name))
			return ch;
	return NULL;
}

/* The node for dir/name, made if needed (its lookup count untouched). */
struct rnode *child_get(struct remotefs *rf, struct rnode *dir, const char *name)
{
	struct rnode *n = child_named(dir, name);
	return n ? n : node_new(rf, dir->c, dir, name, 0);
}

/* "/a/b" for a node; -ENOENT when it lost its place (removed above it),
 * -ENAMETOOLONG past cap. Filled from the end: no bound on the depth. */
int node_path(const struct rnode *n, char *out, size_t cap)
{
	size_t len = 0;
	for (const struct rnode *p = n; p->parent; p = p->parent) {
		len += 1 + strlen(p->name);
		if (!p->parent->parent && p->parent->name[0])
			return -ENOENT;
	}
	if (n->parent == NULL && n->name[0])
		return -ENOENT; /* detached */
	if (len == 0) {
		if (cap < 2)
			return -ENAMETOOLONG;
		strcpy(out, "/");
		return 0;
	}
	if (len + 1 > cap)
		return -ENAMETOOLONG;
	out[len] = 0;
	for (const struct rnode *p = n; p->parent; p = p->parent) {
		size_t l = strlen(p->name);
		len -= l;
		memcpy(out + len, p->name, l);
		out[--len] = '/';
	}
	return 0;
}

/* --- calls --- */

void call_free(struct rcall *k)
{
	fs_cred_free(&k->cred);
	free(k->name);
	free(k);
}

static void on_interrupt(fuse_req_t req, void *arg)
{
	struct rcall *k = arg;
	if (k->req == req) {
		k->req = NULL; /* the late reply is dropped */
		fuse_reply_err(req, EINTR);
		if (k->lock) /* a waiting lock: stop it on the target */
			lock_interrupted(k);
	}
}

static void on_reply(struct router *r, const struct msg *m, void *arg);

/* Sends b (a finished CALL_SERVICE payload) to the context of k->node. */
int call_send(struct rcall *k, struct buf *b, int rc)
{
	struct rnode *n = k->node;
	struct router *r = k->rf->d->router;
	int err = rc < 0 ? -rc : 0;
	if (err) {
		/* building the arguments failed: nothing is sent */
	} else if (!n->c || n->c->state != CTX_CONNECTED) {
		err = EIO;
	} else {
		uint32_t h = router_add_reply(r, n->c->id, on_reply, k, 0);
		k->h = h;
		if (!h)
			err = ENOMEM;
		else if (k->has_cred && remotefs_cred_send(k->rf, n->c, &k->cred)) {
			router_del_handler(r, h);
			err = EIO; /* never run as the stub's user instead */
		} else if (router_send_to(r, n->c->id, HANDLE_CALL_SERVICE, h, b->data, b->len)) {
			router_del_handler(r, h);
			err = EIO;
		}
	}
	buf_free(b);
	if (err) {
		if (k->req)
			fuse_reply_err(k->req, err);
		/* An open's file record is the call's until it is answered
		 * (on_reply frees it on an error); a lock's promoting open
		 * works on a file that is open already. */
		if (!k->lock && (k->op == FS_OPEN || k->op == FS_READFILE))
			free(k->file);
		call_free(k);
		return -err;
	}
	if (k->req)
		fuse_req_interrupt_func(k->req, on_interrupt, k);
	return 0;
}

/* Starts a call on node n: the payload begins with the op and, when
 * path is true, the node's path (or dir/name when name is given). */
struct rcall *call_begin(struct remotefs *rf, fuse_req_t req, int op, struct rnode *n,
				const char *name, struct buf *b, bool path)
{
	struct rcall *k = calloc(1, sizeof(*k));
	if (!k) {
		fuse_reply_err(req, ENOMEM);
		return NULL;
	}
	k->rf = rf;
	k->req = req;
	k->op = op;
	k->node = n;
	buf_init(b);
	/* Taken now: a later step (setattr's) acts for the same caller even
	 * when its request was interrupted meanwhile. */
	int rc = remotefs_cred_take(rf, req, n->c, &k->cred);
	k->has_cred = rc > 0;
	rc = rc < 0 ? rc : proto_call_begin(b, SVC_FS, (uint16_t)op);
	if (!rc && path) {
		char p[FS_MAX_PATH + 1];
		rc = node_path(n, p, sizeof(p));
		if (!rc && name) {
			size_t l = strlen(p);
			if (l + 1 + strlen(name) > FS_MAX_PATH)
				rc = -ENAMETOOLONG;
			else
				snprintf(p + l, sizeof(p) - l, "%s%s", l > 1 ? "/" : "", name);
		}
		rc = rc ? rc : buf_put_str(b, p);
	}
	if (rc) {
		buf_free(b);
		fuse_reply_err(req, -rc);
		call_free(k);
		return NULL;
	}
	if (name && !(k->name = strdup(name))) {
		buf_free(b);
		fuse_reply_err(req, ENOMEM);
		call_free(k);
		return NULL;
	}
	return k;
}

/* Under /proc or /sys: files that say size 0 and are not empty. (Only
 * those read past their size: direct I/O would cost others mmap.) */
static bool kernel_made(const struct rnode *n)
{
	const struct rnode *top = n;
	while (top->parent && top->parent->parent)
		top = top->parent;
	return top->parent && (!strcmp(top->name, "proc") || !strcmp(top->name, "sys"));
}

/* Inode numbers: each name is a node of its own (its nodeid), but stat
 * shows the target's file identity, so the names of a hard-linked file
 * are one file to find -samefile, du, tar and rsync -H. The target's
 * number alone would collide across its file systems (/ and /proc both
 * have small ones) and with the control tree's (a context's fs/ showing
 * the number of an ancestor directory is a "file system loop" to find
 * and du): (context, dev, ino) is hashed, with the top bit set, which
 * the control tree's counter never reaches. */
uint64_t ino_shown(uint64_t root, const struct fs_attr *a)
{
	return map_mix64(a->ino ^ map_mix64(a->dev ^ map_mix64(root))) | 1ull << 63;
}

void node_saw(struct remotefs *rf, struct rnode *n, const struct fs_attr *a)
{
	n->sid = ino_shown(n->root, a);
	n->size = a->size;
	n->nlink = a->nlink;
	n->isdir = S_ISDIR(a->mode);
	if (!n->isdir && n->nlink > 1)
		same_index(rf, n, n->sid);
	else
		same_unindex(rf, n);
	/* Caching off (attr_timeout=0) means asking every time. */
	if ((a->flags & FS_ATTR_XATTR_KNOWN) && rf->timeout > 0) {
		n->xattr = a->flags & (FS_ATTR_NO_XATTR | FS_ATTR_XATTR_UNSUP);
		n->xattr_until = loop_now_us() + (uint64_t)(rf->timeout * 1e6);
	} else {
		n->xattr_until = 0;
	}
}

void siblings_stale(struct remotefs *rf, const struct rnode *n)
{
	if (n->isdir || n->nlink < 2 || !n->sid || !rf->d->se)
		return;
	/* Attributes only: that takes no page lock, so it is safe from the
	 * loop while the kernel waits on us. */
	for (struct rnode *m = map_get(&rf->sids, n->sid); m; m = m->same)
		if (m != n)
			fuse_lowlevel_notify_inval_inode(rf->d->se, m->ino, -1, 0);
}

void fill_entry(struct remotefs *rf, struct fuse_entry_param *e, struct rnode *n,
		       const struct fs_attr *a)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	fs_attr_to_stat(a, &e->attr);
	e->attr.st_ino = ino_shown(n->root, a);
	e->attr_timeout = rf->timeout;
	e->entry_timeout = rf->timeout;
}

/* A small file read whole at open goes into the kernel's page cache
 * before the open is answered, so the read that follows costs no request.
 * Only when no other open file of the inode exists: then no read of it can
 * be waiting for our answer with a page locked, which the store would
 * wait for (from the loop: a deadlock); and only when the size the kernel
 * has is the one read, so that no page it kept lies past the end. True
 * when the pages are in. */
static bool store_whole(struct remotefs *rf, struct rnode *n, const uint8_t *data, size_t len)
{
	if (n->nopen || n->size != len || !rf->d->se)
		return false;
	if (len == 0)
		return true;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
	bv.buf[0].mem = (void *)data;
	return fuse_lowlevel_notify_store(rf->d->se, n->ino, 0, &bv, 0) == 0;
}

/* Answers k->req with an entry for k->parent/k->name (lookup, create...). */
static void reply_entry(struct rcall *k, const struct fs_attr *a)
{
	struct rnode *n = k->parent ? child_get(k->rf, k->parent, k->name) : k->node;
	if (!n) {
		fuse_reply_err(k->req, ENOMEM);
		return;
	}
	struct fuse_entry_param e;
	fill_entry(k->rf, &e, n, a);
	if (fuse_reply_entry(k->req, &e) == 0) {
		n->nlookup++;
		node_saw(k->rf, n, a); /* what the kernel now has */
	}
}

static void reply_attr(struct rcall *k, const struct fs_attr *a)
{
	struct stat st;
	node_saw(k->rf, k->node, a);
	fs_attr_to_stat(a, &st);
	st.st_ino = k->node->sid;
	fuse_reply_attr(k->req, &st, k->rf->timeout);
}


void rcall_malformed(const struct rcall *k)
{
	ctx_protocol_error(k->rf->d, k->src, "fs: malformed reply to op %d", k->op);
}

/* The entries of a READDIR reply, checked whole before any is used: n
 * names that a directory can hold (1-255 bytes, no '/' or NUL, not "."
 * or "..", which the daemon adds itself), each with its attr, and
 * nothing after them. 0 or -EBADMSG. */
static int readdir_check(struct rd *rd, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p;
		size_t len;
		struct fs_attr a;
		if (rd_blob(rd, &p, &len) || len == 0 || len > 255 || memchr(p, '/', len) ||
		    memchr(p, 0, len) || (p[0] == '.' && (len == 1 || (len == 2 && p[1] == '.'))) ||
		    fs_attr_get(rd, &a))
			return -EBADMSG;
	}
	return rd_end(rd);
}

static void on_reply(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct rcall *k = arg;
	struct rd rd;
	uint32_t err = 0;
	const char *text = "";
	size_t tlen = 0;
	int e = 0;
	rd_init(&rd, m->data, m->len);
	k->src = m->src_id;
	if (router_msg_is_dead(m)) {
		e = EIO;
	} else if (proto_reply_read(&rd, &err, &text, &tlen)) {
		rcall_malformed(k);
		e = EIO;
	} else if (err) {
		/* (A lock's refusal keeps ENOSYS: see remote_errno.) */
		e = k->lock ? proto_errno(err) : remote_errno(err);
	}
	if (k->lock) { /* getlk, setlk, flock: remotefs_lock.c */
		lock_reply(k, e, &rd);
		return;
	}
	if (k->op == FS_WRITE) {
		uint32_t n = 0;
		if (!e && (rd_u32(&rd, &n) || rd_end(&rd))) {
			rcall_malformed(k);
			e = EIO;
		} else if (!e && n != k->size) {
			e = EIO; /* a short write is an error (disk full) */
		}
		file_write_acked(k, e);
		return;
	}
	if (k->op == FS_CLOSE) { /* release: nobody to answer */
		call_free(k);
		return;
	}
	if (!k->req) { /* interrupted */
		/* (An error or not, the record is the call's.) */
		if ((k->op == FS_OPEN || k->op == FS_READFILE) && k->file)
			free(k->file); /* the stub's handle dies with its owner's calls */
		call_free(k);
		return;
	}
	fuse_req_t req = k->req;
	/* A name the kernel had cached, gone on the target: ESTALE makes the
	 * kernel walk the path again with a fresh lookup (as for NFS), so an
	 * open(O_CREAT) then creates the file and a stat says ENOENT. */
	if (e == ENOENT && !k->parent && !k->entry &&
	    (k->op == FS_OPEN || k->op == FS_READFILE || (k->op == FS_LSTAT && !k->file)))
		e = ESTALE;
	if (k->probe) {
		xattr_probe_reply(k, e, &rd);
		return;
	}
	if (e && k->op == FS_READFILE) {
		/* Let a real open say what is wrong (or succeed: a FIFO). */
		open_for_real(k);
		call_free(k);
		return;
	}
	if (e) {
		if (k->op == FS_OPEN)
			free(k->file);
		fuse_reply_err(req, e);
		call_free(k);
		return;
	}
	struct fs_attr a;
	switch (k->op) {
	case FS_FSTAT:
	case FS_LSTAT:
		if (fs_attr_get(&rd, &a) || rd_end(&rd))
			goto bad;
		if (k->entry)
			reply_entry(k, &a);
		else
			reply_attr(k, &a);
		break;
	case FS_MKDIR:
	case FS_SYMLINK:
	case FS_LINK:
	case FS_MKNOD:
		if (fs_attr_get(&rd, &a) || rd_end(&rd))
			goto bad;
		reply_entry(k, &a);
		/* The other names' link count changed: drop the kernel's copy
		 * of their attributes. */
		if (k->op == FS_LINK) {
			/* Same file, same size: what the kernel has of the old
			 * name but its link count, dropped just below. */
			node_saw(k->rf, k->node, &a);
			siblings_stale(k->rf, k->node);
			if (k->rf->d->se) /* the old name itself (attributes only) */
				fuse_lowlevel_notify_inval_inode(k->rf->d->se, k->node->ino, -1, 0);
		}
		break;
	case FS_CHMOD:
	case FS_CHOWN:
	case FS_UTIMENS:
	case FS_TRUNCATE:
	case FS_FTRUNCATE:
		if ((k->op == FS_TRUNCATE || k->op == FS_FTRUNCATE) && rd_end(&rd))
			goto bad; /* a truncate answers nothing more */
		if (k->pending_set) {
			setattr_next(k);
			return;
		}
		siblings_stale(k->rf, k->node);
		if (k->op != FS_TRUNCATE && k->op != FS_FTRUNCATE) {
			if (fs_attr_get(&rd, &a) || rd_end(&rd))
				goto bad;
			reply_attr(k, &a);
			break;
		}
		/* truncate answers no attributes: ask for them (through the
		 * handle when there is one: the name may be gone) */
		{
			struct buf b;
			bool byfh = k->op == FS_FTRUNCATE && k->file;
			struct rcall *k2 = call_begin(k->rf, req, byfh ? FS_FSTAT : FS_LSTAT, k->node,
						      NULL, &b, !byfh);
			if (k2 && byfh && buf_put_u32(&b, k->file->fh)) {
				buf_free(&b);
				fuse_reply_err(req, ENOMEM);
				call_free(k2);
				k2 = NULL;
			}
			if (k2)
				call_send(k2, &b, 0);
		}
		call_free(k);
		return;
	case FS_READFILE: {
		struct rfile *f = k->file;
		const uint8_t *p;
		size_t n;
		if (fs_attr_get(&rd, &a) || rd_blob(&rd, &p, &n) || rd_end(&rd) || n > READFILE_MAX) {
			free(f);
			goto bad;
		}
		/* Whole: a regular file no longer than what came, or a /proc
		 * file (size 0) shorter than the limit. Otherwise open it. */
		bool whole = S_ISREG(a.mode) && (a.size == n || (a.size == 0 && n < READFILE_MAX));
		if (!whole || (n && !(f->data = malloc(n)))) {
			open_for_real(k);
			call_free(k);
			return;
		}
		if (n) /* (an empty file has no buffer: memcpy of NULL is undefined) */
			memcpy(f->data, p, n);
		f->datalen = n;
		f->dev = a.dev; /* a lock opens it again by name: the same file? */
		f->ino = a.ino;
		k->fi.fh = (uintptr_t)f;
		if (a.size != n)
			k->fi.direct_io = 1; /* /proc: the size says 0 */
		else if (store_whole(k->rf, f->n, f->data, n))
			k->fi.keep_cache = 1; /* the pages are this very content */
		if (fuse_reply_open(req, &k->fi) == 0)
			f->n->nopen++;
		else
			rfile_drop(f); /* the opener is gone: no release will come */
		break;
	}
	case FS_OPEN: {
		struct rfile *f = k->file;
		if (rd_u32(&rd, &f->fh) || fs_attr_get(&rd, &a) || rd_end(&rd)) {
			free(f);
			goto bad;
		}
		f->remote = true;
		k->fi.fh = (uintptr_t)f;
		/* /proc and /sys files say size 0 and have content: read them
		 * past their size, without the page cache. */
		if (S_ISREG(a.mode) && a.size == 0 && a.blocks == 0 && !k->parent &&
		    kernel_made(k->node))
			k->fi.direct_io = 1;
		if (k->parent) { /* create */
			struct rnode *n = child_get(k->rf, k->parent, k->name);
			if (!n) {
				free(f);
				fuse_reply_err(req, ENOMEM);
				break;
			}
			f->n = n;
			if (!n->open)
				n->open = f;
			struct fuse_entry_param en;
			fill_entry(k->rf, &en, n, &a);
			if (fuse_reply_create(req, &en, &k->fi) == 0) {
				n->nlookup++;
				n->nopen++;
				node_saw(k->rf, n, &a);
			} else {
				rfile_drop(f);
			}
		} else {
			if (!f->n->open)
				f->n->open = f;
			if (fuse_reply_open(req, &k->fi) == 0)
				f->n->nopen++;
			else
				rfile_drop(f);
		}
		break;
	}
	case FS_READ: {
		const uint8_t *p;
		size_t n;
		if (rd_blob(&rd, &p, &n) || rd_end(&rd) || n > k->size)
			goto bad;
		fuse_reply_buf(req, (const char *)p, n);
		break;
	}
	case FS_READLINK: {
		char *t = NULL;
		if (rd_str(&rd, &t, FS_MAX_PATH) || rd_end(&rd)) {
			free(t);
			goto bad;
		}
		fuse_reply_readlink(req, t);
		free(t);
		break;
	}
	case FS_STATFS: {
		uint64_t v[11];
		for (int i = 0; i < 11; i++)
			if (rd_u64(&rd, &v[i]))
				goto bad;
		if (rd_end(&rd))
			goto bad;
		struct statvfs s = {
			.f_bsize = v[0], .f_frsize = v[1], .f_blocks = v[2], .f_bfree = v[3],
			.f_bavail = v[4], .f_files = v[5], .f_ffree = v[6], .f_favail = v[7],
			.f_fsid = v[8], .f_flag = v[9], .f_namemax = v[10],
		};
		fuse_reply_statfs(req, &s);
		break;
	}
	case FS_GETXATTR:
	case FS_LISTXATTR: {
		uint32_t len;
		const uint8_t *p;
		size_t n;
		if (rd_u32(&rd, &len) || rd_blob(&rd, &p, &n) || rd_end(&rd))
			goto bad;
		if (k->size == 0)
			fuse_reply_xattr(req, len);
		else if (n > k->size)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, (const char *)p, n);
		break;
	}
	case FS_READDIR: {
		struct rdir *dir = calloc(1, sizeof(*dir));
		const uint8_t *rest = m->data + rd.off;
		size_t left = rd_left(&rd);
		uint32_t count;
		if (!dir || rd_u32(&rd, &count) || readdir_check(&rd, count)) {
			free(dir);
			goto bad;
		}
		dir->count = count;
		buf_init(&dir->entries);
		if (buf_put_bytes(&dir->entries, rest + 4, left - 4)) {
			free(dir);
			fuse_reply_err(req, ENOMEM);
			break;
		}
		k->fi.fh = (uintptr_t)dir;
		fuse_reply_open(req, &k->fi);
		break;
	}
	default: /* rmdir, unlink, rename, fsync, access, setxattr, removexattr */
		if (rd_end(&rd))
			goto bad; /* these answer nothing but the envelope */
		if (k->op == FS_RENAME && k->name) {
			/* Move our record too, so the inode keeps its name. */
			struct rnode *from = k->node, *to = k->parent;
			char *newname = k->name;
			struct rnode *victim = child_named(to, newname);
			struct rnode *oldparent = from->parent;
			char *oldname = from->name;
			if (victim && victim != from)
				node_unlink(victim); /* replaced, or moving to from's place */
			node_unlink(from);
			from->name = newname;
			k->name = NULL;
			from->parent = to;
			from->next = to->children;
			to->children = from;
			if (victim && victim != from && (k->to_set & 2 /* RENAME_EXCHANGE */) && oldparent) {
				free(victim->name);
				victim->name = oldname;
				victim->parent = oldparent;
				victim->next = oldparent->children;
				oldparent->children = victim;
			} else {
				free(oldname);
			}
		} else if ((k->op == FS_UNLINK || k->op == FS_RMDIR) && k->name) {
			struct rnode *gone = child_named(k->node, k->name);
			if (gone) {
				siblings_stale(k->rf, gone); /* their nlink went down */
				node_unlink(gone);
			}
		}
		fuse_reply_err(req, 0);
	}
	call_free(k);
	return;
bad:
	rcall_malformed(k);
	fuse_reply_err(req, EIO);
	call_free(k);
}
