/*
 * svc_fs_xattr — the fs service's extended attribute ops (getxattr,
 * listxattr, setxattr, removexattr) on a path, not following a final
 * symlink, as l*xattr(2) do.
 * Not for: the xattr flags sent along with attributes (put_stat in
 * svc_fs.c), nor caching (the daemon's, fs/remotefs_xattr.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/xattr.h>

#include "svc_fs_int.h"

/* --- ops: extended attributes --- */

/* GETXATTR and LISTXATTR reply u32 length, blob: with size 0 the length
 * the value would need and an empty blob; else the value (ERANGE when
 * it does not fit in size). */
static int put_xattr(struct call *c, uint32_t size, bool list)
{
	if (size > FS_XATTR_SIZE_MAX)
		size = FS_XATTR_SIZE_MAX; /* no value is larger */
	char *v = size ? malloc(size) : NULL;
	if (size && !v)
		return -ENOMEM;
	char px[FS_PROC_PATH];
	const char *p = xattr_path(c->d1, c->n1, px, sizeof(px));
	ssize_t n = list ? llistxattr(p, v, size) : lgetxattr(p, c->p2, v, size);
	int rc = n < 0 ? -errno : buf_put_u32(&c->out, (uint32_t)n);
	if (!rc)
		rc = buf_put_blob(&c->out, v, size ? (size_t)n : 0);
	free(v);
	return rc;
}

int op_getxattr(struct call *c)
{
	uint32_t size;
	int rc;
	if ((rc = arg_path(c, &c->p1)) ||
	    (rc = arg_str(c, &c->p2, FS_XATTR_NAME_MAX, -ERANGE)))
		return rc;
	if (rd_u32(c->a, &size))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	return put_xattr(c, size, false);
}

int op_listxattr(struct call *c)
{
	uint32_t size;
	int rc = args_path_u32(c, &size);
	return rc ? rc : put_xattr(c, size, true);
}

int op_setxattr(struct call *c)
{
	const uint8_t *v;
	size_t n;
	uint32_t flags;
	int rc;
	if ((rc = arg_path(c, &c->p1)) ||
	    (rc = arg_str(c, &c->p2, FS_XATTR_NAME_MAX, -ERANGE)))
		return rc;
	if (rd_blob(c->a, &v, &n) || rd_u32(c->a, &flags))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	if (flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE))
		return bad(c, -EINVAL, "unknown xattr flags");
	if (n > FS_XATTR_SIZE_MAX)
		return -E2BIG;
	char px[FS_PROC_PATH];
	const char *p = xattr_path(c->d1, c->n1, px, sizeof(px));
	return lsetxattr(p, c->p2, v, n, (int)flags) < 0 ? -errno : 0;
}

int op_removexattr(struct call *c)
{
	int rc;
	if ((rc = arg_path(c, &c->p1)) ||
	    (rc = arg_str(c, &c->p2, FS_XATTR_NAME_MAX, -ERANGE)) || (rc = args_end(c)))
		return rc;
	char px[FS_PROC_PATH];
	const char *p = xattr_path(c->d1, c->n1, px, sizeof(px));
	return lremovexattr(p, c->p2) < 0 ? -errno : 0;
}
