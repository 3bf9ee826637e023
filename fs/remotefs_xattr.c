/*
 * remotefs_xattr — the xattr operations of the fs/ subtree. What the
 * stub said of a file's xattrs with its attributes (none at all, or not
 * supported) answers the names every `ls -l` asks without a round trip;
 * other names ask the target, a probe of the list first. `-o noxattr`
 * answers ENOSYS, as sshfs does. Not for: the other operations
 * (remotefs_ops.c, remotefs_io.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "remotefs_int.h"

/* Names whose presence listxattr shows on every file system: user.*,
 * security.* and the POSIX ACLs, the ones the kernel and ls ask. Others
 * (CephFS's ceph.*, CIFS's system.cifs_acl...) can be read without being
 * listed: those always ask the target. */
static bool listed_name(const char *name)
{
	return !strncmp(name, "user.", 5) || !strncmp(name, "security.", 9) ||
	       !strcmp(name, "system.posix_acl_access") || !strcmp(name, "system.posix_acl_default");
}

/* What the stub said of n's xattrs with its attributes, while that is
 * fresh: NO_XATTR (none at all), XATTR_UNSUP, or 0 (ask the target). */
static uint32_t xattr_known(const struct rnode *n)
{
	if (!n->xattr_until || loop_now_us() >= n->xattr_until)
		return 0;
	return n->xattr;
}

/* -o noxattr: ENOSYS, which the kernel remembers for the whole mount and
 * answers itself from then on (EOPNOTSUPP): `ls -l` then makes no xattr
 * request per entry, as over sshfs, which has no xattrs. True when req
 * was answered so. */
static bool no_xattrs(fuse_req_t req)
{
	if (!rfs_of(req)->d->noxattr)
		return false;
	fuse_reply_err(req, ENOSYS);
	return true;
}

/* A probe's list is read up to this size; longer lists (ERANGE) go
 * straight to the value. */
#define XATTR_LIST_PROBE 4096u

static void getxattr_send(fuse_req_t req, struct rnode *n, const char *name, size_t size)
{
	RFS_BEGIN(FS_GETXATTR, n, NULL);
	k->size = size;
	bool bad = buf_put_str(&b, name) ||
		      buf_put_u32(&b, (uint32_t)(size > FS_MAX_IO ? FS_MAX_IO : size));
	call_send(k, &b, bad ? -ENOMEM : 0);
}

void rfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	if (no_xattrs(req))
		return;
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	/* The kernel asks security.capability before every write, ls
	 * security.selinux and the ACLs of every entry: a file known to
	 * have no xattrs answers here. */
	if (!listed_name(name)) {
		getxattr_send(req, n, name, size);
		return;
	}
	uint32_t x = xattr_known(n);
	if (x) {
		fuse_reply_err(req, x & FS_ATTR_XATTR_UNSUP ? EOPNOTSUPP : ENODATA);
		return;
	}
	/* Not known: ask for the list first. The answer for a file without
	 * xattrs then holds for attr_timeout again (a long write would
	 * otherwise wait for a round trip before each write(2)); a name
	 * that is listed costs a second call for its value. */
	if (rfs_of(req)->timeout > 0) {
		RFS_BEGIN(FS_LISTXATTR, n, NULL);
		k->probe = true;
		k->size = size;
		k->name = strdup(name);
		call_send(k, &b, !k->name || buf_put_u32(&b, XATTR_LIST_PROBE) ? -ENOMEM : 0);
		return;
	}
	getxattr_send(req, n, name, size);
}

void xattr_probe_reply(struct rcall *k, int e, struct rd *r)
{
	struct rnode *n = k->node;
	uint32_t len;
	const uint8_t *p = NULL;
	size_t got = 0;
	if (!e && (rd_u32(r, &len) || rd_blob(r, &p, &got) || rd_end(r))) {
		rcall_malformed(k);
		e = EIO;
	}
	if (e == EOPNOTSUPP || (!e && got == 0)) {
		n->xattr = e ? FS_ATTR_XATTR_UNSUP : FS_ATTR_NO_XATTR;
		n->xattr_until = loop_now_us() + (uint64_t)(k->rf->timeout * 1e6);
		fuse_reply_err(k->req, e ? e : ENODATA);
	} else if (e == ERANGE) { /* a list over the probe's size */
		getxattr_send(k->req, n, k->name, k->size);
	} else if (e) {
		fuse_reply_err(k->req, e);
	} else {
		/* The names, each NUL-terminated: is ours there? */
		size_t want = strlen(k->name) + 1;
		bool listed = false;
		for (size_t at = 0; at < got && !listed;) {
			const uint8_t *z = memchr(p + at, 0, got - at);
			size_t l = z ? (size_t)(z - (p + at)) + 1 : got - at;
			listed = l == want && !memcmp(p + at, k->name, want);
			at += l;
		}
		if (listed)
			getxattr_send(k->req, n, k->name, k->size);
		else
			fuse_reply_err(k->req, ENODATA);
	}
	call_free(k);
}

void rfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (no_xattrs(req))
		return;
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	uint32_t x = xattr_known(n);
	if (x & FS_ATTR_XATTR_UNSUP) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (x & FS_ATTR_NO_XATTR) {
		if (size == 0)
			fuse_reply_xattr(req, 0);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
	RFS_BEGIN(FS_LISTXATTR, n, NULL);
	k->size = size;
	bool bad = buf_put_u32(&b, (uint32_t)(size > FS_MAX_IO ? FS_MAX_IO : size));
	call_send(k, &b, bad ? -ENOMEM : 0);
}

void rfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	if (no_xattrs(req))
		return;
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	n->xattr_until = 0; /* whatever happens, ask from now on */
	RFS_BEGIN(FS_SETXATTR, n, NULL);
	bool bad = buf_put_str(&b, name) ||
		      buf_put_blob(&b, value, size) ||
		      buf_put_u32(&b, (uint32_t)flags);
	call_send(k, &b, bad ? -ENOMEM : 0);
}

void rfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	if (no_xattrs(req))
		return;
	struct rnode *n = rfs_want(req, ino);
	if (!n)
		return;
	n->xattr_until = 0;
	RFS_BEGIN(FS_REMOVEXATTR, n, NULL);
	bool bad = buf_put_str(&b, name);
	call_send(k, &b, bad ? -ENOMEM : 0);
}
