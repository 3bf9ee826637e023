/*
 * svc_fs — the fs service: each op of core/fsproto.h as the syscalls a
 * local program would make, answered at once (the stub blocks for the
 * length of one syscall, as a local program would); a lock that must
 * wait is the exception, answered later without blocking
 * (svc_fs_lock.c).
 *
 * For: paths (absolute, bounded, checked by fs_path_get), open-file
 * handles owned by the context that opened them (closed when its route is
 * lost, and when the stub ends), replies bounded by FS_MAX_IO and
 * FRAME_MAX_LEN. Files that could block the stub forever (FIFOs, sockets,
 * character devices) are opened non-blocking and stay so: a read with
 * nothing to read is EAGAIN, never a stub that stops answering.
 * Not for: caching, inode numbers or permissions policy (the daemon's),
 * nor deciding who may call (CALL_SERVICE is parent-only in the router).
 */
#include "svc_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fscred.h"
#include "fsproto.h"
#include "log.h"
#include "map.h"
#include "proto.h"
#include "router.h"
#include "svc.h"
#include "svc_fs_int.h"

/* --- open flags on the wire --- */

/* The wire carries the asm-generic (x86-64, arm64's differ) open flag
 * numbers; each is translated, so a stub built where they differ reads
 * them right. */
static const struct {
	uint32_t wire;
	int local;
} open_flag_map[] = {
	{ 00000100u, O_CREAT },     { 00000200u, O_EXCL },
	{ 00001000u, O_TRUNC },     { 00002000u, O_APPEND },
	{ 00004000u, O_NONBLOCK },  { 00010000u, O_DSYNC },
	{ 00040000u, O_DIRECT },    { 00200000u, O_DIRECTORY },
	{ 00400000u, O_NOFOLLOW },  { 01000000u, O_NOATIME },
	{ 04000000u, O_SYNC & ~O_DSYNC },
};
/* Bits a kernel or FUSE may pass along that mean nothing here: O_NOCTTY,
 * FASYNC, O_LARGEFILE, O_CLOEXEC (always set), __FMODE_EXEC. */
#define OPEN_WIRE_IGNORED (00000400u | 00020000u | 00100000u | 02000000u | 00000040u)

/* Local open flags for wire flags w. 0, or -EINVAL for O_PATH, O_TMPFILE,
 * an access mode of 3 or any unknown bit. */
int open_flags_local(uint32_t w, int *out)
{
	int fl = (int)(w & 3u);
	if (fl == 3)
		return -EINVAL;
	w &= ~3u & ~OPEN_WIRE_IGNORED;
	for (size_t i = 0; i < sizeof(open_flag_map) / sizeof(open_flag_map[0]); i++)
		if (w & open_flag_map[i].wire) {
			fl |= open_flag_map[i].local;
			w &= ~open_flag_map[i].wire;
		}
	*out = fl;
	return w ? -EINVAL : 0;
}

/* We open with O_NONBLOCK so that a FIFO cannot block the stub in
 * open(); files where it means nothing get the caller's choice back,
 * the others (FIFO, socket, char device) keep it. 0 or -errno. */
int fd_settle(int fd, const struct stat *st, bool want_nonblock)
{
	if (want_nonblock || !(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || S_ISBLK(st->st_mode)))
		return 0;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* --- handles --- */

void fh_close(struct svc_fs *f, uint32_t id)
{
	struct fh *h = map_del(&f->fhs, id);
	if (!h)
		return;
	lock_waits_drop(f, id, 0);
	close(h->fd);
	free(h);
}

/* Takes fd into the table for c's caller; on failure fd is closed.
 * The new handle number, or 0 with *err set. */
uint32_t fh_add(struct call *c, int fd, int *err)
{
	struct svc_fs *f = c->f;
	struct fh *h = malloc(sizeof(*h));
	uint32_t id = f->next_fh;
	if (!h || map_put(&f->fhs, id, h) < 0) {
		free(h);
		close(fd);
		*err = -ENOMEM;
		return 0;
	}
	h->fd = fd;
	h->owner = c->caller;
	f->next_fh++; /* wraps to 0: no more handles, never a reused one */
	return id;
}

/* --- argument readers --- */

/* For a path of PATH_MAX bytes or more, which no syscall takes whole:
 * its directory opened (O_PATH) by steps shorter than PATH_MAX, each from
 * the last, into *dir, and its last name into *name, so that the *at
 * syscalls reach it as a program inside the deep directory would. The
 * kernel makes the same checks (search permission on every directory)
 * and follows the same symlinks as in one walk. Shorter paths: AT_FDCWD
 * and the path itself, with no syscall. 0 or -errno. */
static int path_at(const char *path, int *dir, const char **name)
{
	size_t len = strlen(path);
	*dir = AT_FDCWD;
	*name = path;
	if (len < PATH_MAX)
		return 0;
	const char *last = strrchr(path, '/');
	*name = last[1] ? last + 1 : ".";
	char step[PATH_MAX];
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t pos = 1, end = (size_t)(last - path);
	while (pos < end) {
		size_t stop = end;
		if (stop - pos >= sizeof(step)) {
			/* the last '/' that keeps the step short enough */
			stop = pos + sizeof(step) - 1;
			while (stop > pos && path[stop] != '/')
				stop--;
			if (stop == pos) {
				close(fd);
				return -ENAMETOOLONG; /* a name of PATH_MAX bytes */
			}
		}
		memcpy(step, path + pos, stop - pos);
		step[stop - pos] = 0;
		int next = openat(fd, step, O_PATH | O_DIRECTORY | O_CLOEXEC);
		int e = errno;
		close(fd);
		if (next < 0)
			return -e;
		fd = next;
		pos = stop + 1;
	}
	*dir = fd;
	return 0;
}

/* A path argument into *slot; p1 and p2 also get their (dir, name). */
int arg_path(struct call *c, char **slot)
{
	int err = 0;
	*slot = fs_path_get(c->a, &err);
	if (*slot) {
		if (slot == &c->p1)
			return path_at(*slot, &c->d1, &c->n1);
		if (slot == &c->p2)
			return path_at(*slot, &c->d2, &c->n2);
		return 0;
	}
	if (err == -EINVAL)
		c->why = "path is not absolute";
	else if (err == -ENAMETOOLONG)
		c->why = "path longer than FS_MAX_PATH";
	return err;
}

const char *xattr_path(int dir, const char *name, char *buf, size_t cap)
{
	if (dir == AT_FDCWD)
		return name;
	snprintf(buf, cap, "/proc/self/fd/%d/%s", dir, name);
	return buf;
}

/* A string that is not a path (symlink target, xattr name): up to max
 * bytes, no NUL. Too long reads as tl_err. */
int arg_str(struct call *c, char **slot, size_t max, int tl_err)
{
	int rc = rd_str(c->a, slot, max);
	return rc == -ERANGE ? tl_err : rc;
}

int arg_fh(struct call *c)
{
	if (rd_u32(c->a, &c->fh))
		return -EBADMSG;
	c->has_fh = true;
	return 0;
}

int args_end(struct call *c)
{
	if (rd_end(c->a)) {
		c->why = "trailing bytes after the arguments";
		return -EBADMSG;
	}
	c->parsed = true;
	return 0;
}

int bad(struct call *c, int err, const char *why)
{
	c->why = why;
	return err;
}

/* The common shapes: a path alone; a path and a u32; a handle alone. */
int args_path(struct call *c)
{
	int rc = arg_path(c, &c->p1);
	return rc ? rc : args_end(c);
}

int args_path_u32(struct call *c, uint32_t *v)
{
	int rc = arg_path(c, &c->p1);
	if (!rc && rd_u32(c->a, v))
		rc = -EBADMSG;
	return rc ? rc : args_end(c);
}

/* After the arguments: the handle argument, if the caller owns it. */
int fh_find(const struct call *c, struct fh **h)
{
	*h = map_get(&c->f->fhs, c->fh);
	if (*h && (*h)->owner == c->caller)
		return 0;
	return -EBADF;
}

/* --- reply bodies --- */

/* FS_ATTR_* of a file from the size of its xattr list: one syscall here
 * saves the daemon a round trip per getxattr the kernel makes. */
static uint32_t xattr_flags(ssize_t listlen)
{
	if (listlen == 0)
		return FS_ATTR_XATTR_KNOWN | FS_ATTR_NO_XATTR;
	if (listlen > 0)
		return FS_ATTR_XATTR_KNOWN;
	if (errno == ENOTSUP)
		return FS_ATTR_XATTR_KNOWN | FS_ATTR_XATTR_UNSUP;
	return 0; /* unknown: the daemon asks */
}

int put_stat(struct buf *b, const struct stat *st, int fd, const char *path)
{
	struct fs_attr a;
	fs_attr_from_stat(&a, st);
	if (fd >= 0)
		a.flags = xattr_flags(flistxattr(fd, NULL, 0));
	else if (path)
		a.flags = xattr_flags(llistxattr(path, NULL, 0));
	return fs_attr_put(b, &a);
}

int put_lstat(struct call *c, int dir, const char *name)
{
	struct stat st;
	char px[FS_PROC_PATH];
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return put_stat(&c->out, &st, -1, xattr_path(dir, name, px, sizeof(px)));
}

/* Reads up to n bytes at off, looping over short reads until EOF; on a
 * pipe, socket or tty (ESPIPE) one read() where it stands. The count
 * (an error after some bytes waits for the next call) or -errno. */
static int op_lstat(struct call *c)
{
	int rc = args_path(c);
	return rc ? rc : put_lstat(c, c->d1, c->n1);
}

static int op_readdir(struct call *c)
{
	int rc;
	if ((rc = args_path(c)))
		return rc;
	int fd = openat(c->d1, c->n1, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	size_t at = c->out.len;
	uint32_t n = 0;
	char path[FS_MAX_PATH + 256 + 2];
	if ((rc = buf_put_u32(&c->out, 0)))
		goto out;
	for (;;) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (!e) {
			rc = -errno;
			break;
		}
		const char *nm = e->d_name;
		if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
			continue;
		/* Longer than NAME_MAX (exFAT, NTFS or CIFS names of 255 UTF-16
		 * units can take up to 765 bytes): the mount could not look
		 * it up (ENAMETOOLONG), and the daemon refuses a listing
		 * that carries one, so it is left out. */
		if (strlen(nm) > NAME_MAX) {
			log_warn("fs: %s: a name of %zu bytes left out of the listing",
				 c->p1, strlen(nm));
			continue;
		}
		struct stat st;
		bool known = true;
		if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* removed since readdir saw it */
			/* A directory we may read but not search: what readdir knows. */
			memset(&st, 0, sizeof(st));
			st.st_ino = e->d_ino;
			st.st_mode = DTTOIF(e->d_type);
			known = false;
		}
		/* dir/name for its xattrs (there is no llistxattrat) */
		int pl = snprintf(path, sizeof(path), "%s/%s", c->p1[1] ? c->p1 : "", nm);
		bool fits = pl > 0 && (size_t)pl < sizeof(path);
		if ((rc = buf_put_str(&c->out, nm)) ||
		    (rc = put_stat(&c->out, &st, -1, fits && known ? path : NULL)))
			break;
		n++;
		if (c->out.len > FRAME_MAX_LEN) {
			rc = bad(c, -EFBIG, "directory too large for one reply (over 32 MiB of entries)");
			break;
		}
	}
	if (!rc)
		be32_put(c->out.data + at, n);
out:
	closedir(d);
	return rc;
}

static int op_truncate(struct call *c)
{
	uint64_t size;
	int rc;
	if ((rc = arg_path(c, &c->p1)))
		return rc;
	if (rd_u64(c->a, &size))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	if (size > INT64_MAX)
		return bad(c, -EINVAL, "size out of range");
	if (c->d1 == AT_FDCWD)
		return truncate(c->p1, (off_t)size) < 0 ? -errno : 0;
	/* no truncateat: open for writing checks what truncate checks */
	int fd = openat(c->d1, c->n1, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	rc = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* MKDIR, CHMOD: path, u32 mode -> attr. */
static int op_path_mode(struct call *c, bool is_mkdir)
{
	uint32_t mode;
	int rc;
	if ((rc = args_path_u32(c, &mode)))
		return rc;
	if (mode > FS_MODE_MAX)
		return bad(c, -EINVAL, "mode out of range");
	mode &= 07777; /* a file type (as FUSE's setattr passes it) is ignored */
	if (is_mkdir) {
		/* The kernel already applied the caller's umask to mode; ours
		 * (which jobs inherit) must not apply a second time. */
		mode_t old = umask(0);
		rc = mkdirat(c->d1, c->n1, (mode_t)mode);
		umask(old);
	} else {
		rc = fchmodat(c->d1, c->n1, (mode_t)mode, 0);
	}
	return rc < 0 ? -errno : put_lstat(c, c->d1, c->n1);
}

static int op_mkdir(struct call *c) { return op_path_mode(c, true); }
static int op_chmod(struct call *c) { return op_path_mode(c, false); }

static int op_rmdir(struct call *c)
{
	int rc = args_path(c);
	return rc ? rc : unlinkat(c->d1, c->n1, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int op_unlink(struct call *c)
{
	int rc = args_path(c);
	return rc ? rc : unlinkat(c->d1, c->n1, 0) < 0 ? -errno : 0;
}

static int op_rename(struct call *c)
{
	uint32_t flags;
	int rc;
	if ((rc = arg_path(c, &c->p1)) || (rc = arg_path(c, &c->p2)))
		return rc;
	if (rd_u32(c->a, &flags))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	if (flags & ~FS_RENAME_FLAGS)
		return bad(c, -EINVAL, "unknown rename flags");
	if (!flags)
		rc = renameat(c->d1, c->n1, c->d2, c->n2);
	else
		rc = (int)syscall(SYS_renameat2, c->d1, c->n1, c->d2, c->n2, flags);
	return rc < 0 ? -errno : 0;
}

static int op_symlink(struct call *c)
{
	int rc;
	/* The target is stored as given: relative ones too. */
	if ((rc = arg_str(c, &c->p1, FS_MAX_PATH, -ENAMETOOLONG)) || (rc = arg_path(c, &c->p2)) ||
	    (rc = args_end(c)))
		return rc;
	return symlinkat(c->p1, c->d2, c->n2) < 0 ? -errno : put_lstat(c, c->d2, c->n2);
}

static int op_readlink(struct call *c)
{
	int rc;
	if ((rc = args_path(c)))
		return rc;
	char *t = malloc(FS_MAX_PATH);
	if (!t)
		return -ENOMEM;
	ssize_t n = readlinkat(c->d1, c->n1, t, FS_MAX_PATH);
	if (n < 0)
		rc = -errno;
	else if (n == FS_MAX_PATH)
		rc = -ENAMETOOLONG;
	else
		rc = buf_put_blob(&c->out, t, (size_t)n);
	free(t);
	return rc;
}

static int op_link(struct call *c)
{
	int rc;
	if ((rc = arg_path(c, &c->p1)) || (rc = arg_path(c, &c->p2)) || (rc = args_end(c)))
		return rc;
	return linkat(c->d1, c->n1, c->d2, c->n2, 0) < 0 ? -errno : put_lstat(c, c->d2, c->n2);
}

static int op_chown(struct call *c)
{
	uint32_t uid, gid;
	int rc;
	if ((rc = arg_path(c, &c->p1)))
		return rc;
	if (rd_u32(c->a, &uid) || rd_u32(c->a, &gid))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	/* 0xffffffff is (uid_t)-1: unchanged, as lchown takes it. */
	if (fchownat(c->d1, c->n1, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return put_lstat(c, c->d1, c->n1);
}

static bool nsec_ok(uint32_t ns)
{
	return ns < 1000000000u || ns == (uint32_t)UTIME_NOW || ns == (uint32_t)UTIME_OMIT;
}

static int op_utimens(struct call *c)
{
	uint64_t as, ms;
	uint32_t an, mn;
	int rc;
	if ((rc = arg_path(c, &c->p1)))
		return rc;
	if (rd_u64(c->a, &as) || rd_u32(c->a, &an) || rd_u64(c->a, &ms) || rd_u32(c->a, &mn))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	if (!nsec_ok(an) || !nsec_ok(mn))
		return bad(c, -EINVAL, "nanoseconds out of range");
	struct timespec ts[2] = {
		{ .tv_sec = (time_t)(int64_t)as, .tv_nsec = (long)an },
		{ .tv_sec = (time_t)(int64_t)ms, .tv_nsec = (long)mn },
	};
	if (utimensat(c->d1, c->n1, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return put_lstat(c, c->d1, c->n1);
}

/* statfs(2) rather than statvfs(3): musl's statvfs keeps half of f_fsid
 * and leaves ST_VALID in f_flag; the wire has what glibc's gives. */
static int op_statfs(struct call *c)
{
	int rc;
	if ((rc = args_path(c)))
		return rc;
	struct statfs s;
	char px[FS_PROC_PATH];
	if (statfs(xattr_path(c->d1, c->n1, px, sizeof(px)), &s) < 0)
		return -errno;
	uint64_t fsid = (uint32_t)s.f_fsid.__val[0] | (uint64_t)(uint32_t)s.f_fsid.__val[1] << 32;
	uint64_t flag = s.f_flags & FS_ST_VALID ? (uint64_t)s.f_flags & ~(uint64_t)FS_ST_VALID : 0;
	uint64_t v[] = { s.f_bsize, s.f_frsize ? s.f_frsize : s.f_bsize, s.f_blocks, s.f_bfree,
			 s.f_bavail, s.f_files, s.f_ffree, s.f_ffree, fsid, flag, s.f_namelen };
	for (size_t i = 0; !rc && i < sizeof(v) / sizeof(v[0]); i++)
		rc = buf_put_u64(&c->out, v[i]);
	return rc;
}

static int op_access(struct call *c)
{
	uint32_t mask;
	int rc;
	if ((rc = args_path_u32(c, &mask)))
		return rc;
	if (mask & ~7u)
		return bad(c, -EINVAL, "unknown access mask bits");
	return faccessat(c->d1, c->n1, (int)mask, 0) < 0 ? -errno : 0;
}

/* fsync(2) of a directory, which makes the names in it durable (after a
 * rename or a create, say): opened for it alone. */
static int op_fsyncdir(struct call *c)
{
	uint32_t datasync;
	int rc;
	if ((rc = args_path_u32(c, &datasync)))
		return rc;
	if (datasync > 1)
		return bad(c, -EINVAL, "datasync is not 0 or 1");
	int fd = openat(c->d1, c->n1, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int op_mknod(struct call *c)
{
	uint32_t mode;
	uint64_t rdev;
	int rc;
	if ((rc = arg_path(c, &c->p1)))
		return rc;
	if (rd_u32(c->a, &mode) || rd_u64(c->a, &rdev))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	if (mode > FS_MODE_MAX)
		return bad(c, -EINVAL, "mode out of range");
	mode_t old = umask(0); /* the caller's umask is applied already */
	rc = mknodat(c->d1, c->n1, (mode_t)mode, (dev_t)rdev);
	umask(old);
	return rc < 0 ? -errno : put_lstat(c, c->d1, c->n1);
}

/* --- ops: credentials --- */

/* The caller's later calls act with these credentials (fscred.h). Sent
 * without a reply handle: a failure is logged, and the caller's calls
 * are refused until a good one comes, never run as the stub's user. */
static int op_setcred(struct call *c)
{
	struct fs_cred cr;
	int rc = fs_cred_get(c->a, &cr);
	if (!rc && (rc = args_end(c)))
		fs_cred_free(&cr);
	if (rc) {
		fscred_set(c->f->cred, c->caller, NULL);
		log_warn("fs setcred from %u: %s; its fs calls are refused", c->caller,
			 strerror(-rc));
		return rc;
	}
	return fscred_set(c->f->cred, c->caller, &cr);
}

/* --- the op table (open files: svc_fs_io.c; xattrs: svc_fs_xattr.c) --- */

typedef int fs_op_fn(struct call *c);

static const struct {
	const char *name;
	fs_op_fn *fn;
} fs_ops[] = {
	[FS_LSTAT] = { "lstat", op_lstat },
	[FS_READDIR] = { "readdir", op_readdir },
	[FS_OPEN] = { "open", op_open },
	[FS_READ] = { "read", op_read },
	[FS_WRITE] = { "write", op_write },
	[FS_CLOSE] = { "close", op_close },
	[FS_FSYNC] = { "fsync", op_fsync },
	[FS_FTRUNCATE] = { "ftruncate", op_ftruncate },
	[FS_TRUNCATE] = { "truncate", op_truncate },
	[FS_MKDIR] = { "mkdir", op_mkdir },
	[FS_RMDIR] = { "rmdir", op_rmdir },
	[FS_UNLINK] = { "unlink", op_unlink },
	[FS_RENAME] = { "rename", op_rename },
	[FS_SYMLINK] = { "symlink", op_symlink },
	[FS_READLINK] = { "readlink", op_readlink },
	[FS_LINK] = { "link", op_link },
	[FS_CHMOD] = { "chmod", op_chmod },
	[FS_CHOWN] = { "chown", op_chown },
	[FS_UTIMENS] = { "utimens", op_utimens },
	[FS_STATFS] = { "statfs", op_statfs },
	[FS_ACCESS] = { "access", op_access },
	[FS_MKNOD] = { "mknod", op_mknod },
	[FS_GETXATTR] = { "getxattr", op_getxattr },
	[FS_SETXATTR] = { "setxattr", op_setxattr },
	[FS_LISTXATTR] = { "listxattr", op_listxattr },
	[FS_REMOVEXATTR] = { "removexattr", op_removexattr },
	[FS_READFILE] = { "readfile", op_readfile },
	[FS_FSTAT] = { "fstat", op_fstat },
	[FS_GETLK] = { "getlk", op_getlk },
	[FS_SETLK] = { "setlk", op_setlk },
	[FS_LKCANCEL] = { "lkcancel", op_lkcancel },
	[FS_FSYNCDIR] = { "fsyncdir", op_fsyncdir },
	[FS_SETCRED] = { "setcred", op_setcred },
};

/* A path for an error text: one past PATH_MAX would push the reason out
 * of the text (PROTO_MAX_TEXT), so its middle goes. */
static const char *path_shown(const char *p, char *buf, size_t cap)
{
	size_t n = strlen(p);
	if (n <= 400)
		return p;
	snprintf(buf, cap, "%.150s[...%zu bytes...]%s", p, n - 300, p + n - 150);
	return buf;
}

/* "fs OP(ARGS): reason", ARGS being the paths or the handle. */
static void reply_err(struct call *c, const struct msg *m, int err)
{
	struct router *r = c->f->r;
	struct svc_req q = svc_req_of(m);
	const char *why = c->why ? c->why : !c->parsed && err == EBADMSG ? "malformed arguments"
									  : strerror(err);
	if (!c->parsed && err == EBADMSG)
		log_warn("fs %s: malformed call from %u: %s", c->op, m->src_id, why);
	char b1[400], b2[400];
	const char *p1 = c->p1 ? path_shown(c->p1, b1, sizeof(b1)) : NULL;
	const char *p2 = c->p2 ? path_shown(c->p2, b2, sizeof(b2)) : NULL;
	if (p1 && p2)
		svc_reply_errf(r, q, err, "fs %s(%s, %s): %s", c->op, p1, p2, why);
	else if (p1)
		svc_reply_errf(r, q, err, "fs %s(%s): %s", c->op, p1, why);
	else if (c->has_fh)
		svc_reply_errf(r, q, err, "fs %s(fh %u): %s", c->op, c->fh, why);
	else
		svc_reply_errf(r, q, err, "fs %s: %s", c->op, why);
}

void svc_fs_call(struct svc_fs *f, const struct msg *m, uint16_t op, struct rd *args)
{
	if (op >= sizeof(fs_ops) / sizeof(fs_ops[0]) || !fs_ops[op].fn) {
		svc_reply_errf(f->r, svc_req_of(m), EINVAL, "fs: unknown op %u", op);
		return;
	}
	struct call c = { .f = f, .caller = m->src_id, .reply_to = m->reply_to, .a = args,
			  .op = fs_ops[op].name, .d1 = AT_FDCWD, .d2 = AT_FDCWD };
	/* The kept buffer: a fresh one per read was an mmap, page faults
	 * over 128 KiB and an munmap each time (musl maps big blocks). */
	c.out = f->out;
	c.out.len = 0;
	buf_init(&f->out);
	int rc = proto_reply_ok(&c.out);
	/* Every op but SETCRED itself acts with its caller's credentials. */
	if (!rc && op != FS_SETCRED && (rc = fscred_enter(f->cred, c.caller)))
		rc = bad(&c, -EPERM, "cannot act with the caller's credentials");
	if (!rc)
		rc = fs_ops[op].fn(&c);
	if (!rc && c.out.len > FRAME_MAX_LEN)
		rc = bad(&c, -EFBIG, "reply larger than one frame");
	if (rc) {
		reply_err(&c, m, -rc);
	} else if (c.deferred || c.replied) {
		/* a waiting lock: svc_fs_lock.c answers when it has it */
	} else if ((rc = router_reply(f->r, m, c.out.data, c.out.len)) < 0) {
		log_warn("fs %s: reply to %u lost: %s", c.op, m->src_id, strerror(-rc));
	}
	/* A handle nobody can learn of is closed now, not at route loss. */
	if (c.opened && (rc || !m->reply_to))
		fh_close(f, c.opened);
	if (c.out.cap <= FS_OUT_KEEP)
		f->out = c.out;
	else
		buf_free(&c.out);
	if (c.d1 != AT_FDCWD)
		close(c.d1);
	if (c.d2 != AT_FDCWD)
		close(c.d2);
	free(c.p1);
	free(c.p2);
}

/* --- lifetime --- */

struct svc_fs *svc_fs_new(struct router *r)
{
	struct svc_fs *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->r = r;
	f->next_fh = 1;
	map_init(&f->fhs);
	if (!(f->cred = fscred_new())) {
		free(f);
		return NULL;
	}
	return f;
}

void svc_fs_route_lost(struct svc_fs *f, uint32_t id)
{
	size_t pos = 0, n = 0;
	uint64_t key;
	void *v;
	while (map_next(&f->fhs, &pos, &key, &v))
		if (((struct fh *)v)->owner == id) {
			fh_close(f, (uint32_t)key); /* deleting the current entry is safe */
			n++;
		}
	if (n)
		log_info("fs: caller %u lost, closed its %zu open files", id, n);
	fscred_forget(f->cred, id);
}

int svc_fs_own_creds(struct svc_fs *f)
{
	return fscred_leave(f->cred);
}

size_t svc_fs_trim(struct svc_fs *f)
{
	if (!f)
		return 0;
	size_t n = f->out.cap;
	buf_free(&f->out);
	return n;
}

void svc_fs_free(struct svc_fs *f)
{
	if (!f)
		return;
	size_t pos = 0;
	uint64_t key;
	void *v;
	while (map_next(&f->fhs, &pos, &key, &v))
		fh_close(f, (uint32_t)key);
	map_free(&f->fhs);
	buf_free(&f->out);
	fscred_free(f->cred);
	free(f);
}
