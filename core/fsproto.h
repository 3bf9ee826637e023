/*
 * fsproto — the fs service's calls and the file attributes they carry
 * (docs/protocol.md, "fs service"). Paths are absolute on the target;
 * open files are stub-side handles (u32). Errors come back in the reply
 * envelope as Linux errno numbers, whatever the target (proto_errno,
 * proto.h, maps them on the way in).
 * Not for: the daemon's inode table or caches (fs/remotefs.c), nor the
 * stub's service (stub/svc_fs.c).
 */
#ifndef MITOFS_FSPROTO_H
#define MITOFS_FSPROTO_H

#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"

/* Ops of SVC_FS; arguments -> reply body (after the envelope).
 *   str = u32 length + bytes; attr = struct fs_attr, 100 bytes. */
enum proto_fs_op {
	FS_LSTAT = 1,   /* str path -> attr */
	FS_READDIR,     /* str path -> u32 n, n x (str name, attr) */
	FS_OPEN,        /* str path, u32 flags, u32 mode -> u32 fh, attr (O_CREAT, O_EXCL... honoured) */
	FS_READ,        /* u32 fh, u64 off, u32 size -> blob (short at EOF) */
	FS_WRITE,       /* u32 fh, u64 off, blob -> u32 written */
	FS_CLOSE,       /* u32 fh -> (error of close) */
	FS_FSYNC,       /* u32 fh, u8 datasync -> */
	FS_FTRUNCATE,   /* u32 fh, u64 size -> */
	FS_TRUNCATE,    /* str path, u64 size -> */
	FS_MKDIR,       /* str path, u32 mode -> attr */
	FS_RMDIR,       /* str path -> */
	FS_UNLINK,      /* str path -> */
	FS_RENAME,      /* str from, str to, u32 flags (RENAME_NOREPLACE 1, RENAME_EXCHANGE 2) -> */
	FS_SYMLINK,     /* str target, str path -> attr */
	FS_READLINK,    /* str path -> str target */
	FS_LINK,        /* str from, str to -> attr */
	FS_CHMOD,       /* str path, u32 mode -> attr */
	FS_CHOWN,       /* str path, u32 uid, u32 gid (0xffffffff: unchanged) -> attr */
	FS_UTIMENS,     /* str path, s64 a_sec, u32 a_nsec, s64 m_sec, u32 m_nsec -> attr
			 * (nsec UTIME_NOW / UTIME_OMIT as on Linux) */
	FS_STATFS,      /* str path -> u64 bsize, frsize, blocks, bfree, bavail, files,
			 * ffree, favail, fsid, flag, namemax */
	FS_ACCESS,      /* str path, u32 mask (R_OK 4, W_OK 2, X_OK 1, F_OK 0) -> */
	FS_MKNOD,       /* str path, u32 mode, u64 rdev -> attr */
	FS_GETXATTR,    /* str path, str name, u32 size -> u32 length, blob (empty when size is 0) */
	FS_SETXATTR,    /* str path, str name, blob value, u32 flags -> */
	FS_LISTXATTR,   /* str path, u32 size -> u32 length, blob (names, NUL-separated) */
	FS_REMOVEXATTR, /* str path, str name -> */
	FS_READFILE,    /* str path, u32 max -> attr, blob: a small file in one call */
	FS_FSTAT,       /* u32 fh -> attr */
	FS_GETLK,       /* u32 fh, u8 type, u64 start, u64 len -> u8 type, u64 start, u64 len,
			 * u32 pid (the holder as the target sees it; 0xffffffff: none, an OFD lock) */
	FS_SETLK,       /* u32 fh, u8 type, u64 start, u64 len, u8 flags (FS_LK_*) -> ;
			 * with FS_LK_WAIT answered once the lock is taken (or cancelled) */
	FS_LKCANCEL,    /* u32 fh, u32 call (the reply handle of a waiting SETLK) -> ;
			 * that SETLK is answered EINTR; ENOENT when it is not waiting */
	FS_FSYNCDIR,    /* str path, u32 datasync (0 or 1) -> : fsync of a directory */
	FS_SETCRED,     /* cred (struct fs_cred) -> : this caller's later calls act with
			 * these fsuid, fsgid and groups (sent with reply_to 0) */
};

/* Lock types on the wire (not the local F_RDLCK numbers). A len of 0
 * runs to the end of the file, as in struct flock. */
#define FS_LK_UNLCK 0
#define FS_LK_RDLCK 1
#define FS_LK_WRLCK 2
/* SETLK flags. */
#define FS_LK_WAIT  0x01 /* wait for the lock (F_SETLKW, flock without LOCK_NB) */
#define FS_LK_FLOCK 0x02 /* flock(2) on the handle (start and len are ignored) */

#define FS_ATTR_LEN 100
#define FS_MAX_IO   (1u << 20)   /* largest read or write in one call */
/* Longest path on the wire. Longer than PATH_MAX: a path that long is
 * reached on the target from its directory, opened step by step
 * (stub/svc_fs.c, path_at), as a program in a deep directory reaches it
 * by relative lookups. */
#define FS_MAX_PATH 32768

struct fs_attr {
	uint64_t ino;
	uint32_t mode, nlink, uid, gid;
	uint64_t rdev, size, blocks;
	uint32_t blksize;
	int64_t atime, mtime, ctime;
	uint32_t atime_ns, mtime_ns, ctime_ns;
	uint64_t dev;           /* the target's st_dev: (dev, ino) names the file */
	uint32_t flags;         /* FS_ATTR_* */
};

/* What the stub learnt of the file's xattrs along with its attributes
 * (one listxattr): the daemon answers the kernel's getxattr of
 * security.capability on every write, and ls's of security.selinux and
 * the ACL names, without a round trip. */
enum {
	FS_ATTR_XATTR_KNOWN = 1, /* the next two bits say something */
	FS_ATTR_NO_XATTR = 2,    /* listxattr was empty */
	FS_ATTR_XATTR_UNSUP = 4, /* the file system has no xattrs (ENOTSUP) */
};

/* The credentials a caller's fs calls act with on a stub running as
 * root (docs/security.md, "Credentials"): on the wire u32 uid, u32 gid,
 * u32 n, n x u32 group. */
#define FS_CRED_MAX_GROUPS 65536 /* NGROUPS_MAX of Linux */
struct fs_cred {
	uint32_t uid, gid;
	uint32_t n;
	uint32_t *groups;       /* n entries, owned (NULL when n is 0) */
};

int fs_cred_put(struct buf *b, const struct fs_cred *c);
/* Fills c (its groups newly allocated: fs_cred_free). 0, -EBADMSG (short,
 * or more than FS_CRED_MAX_GROUPS), -ENOMEM. */
int fs_cred_get(struct rd *r, struct fs_cred *c);
/* Frees c's groups and zeroes it; NULL does nothing. */
void fs_cred_free(struct fs_cred *c);
/* A deep copy into dst (dst's old groups are not freed). 0 or -ENOMEM. */
int fs_cred_copy(struct fs_cred *dst, const struct fs_cred *src);
/* Same uid, gid and groups in the same order. */
int fs_cred_eq(const struct fs_cred *a, const struct fs_cred *b);

/* flags are 0 (nothing known of xattrs). */
void fs_attr_from_stat(struct fs_attr *a, const struct stat *st);
void fs_attr_to_stat(const struct fs_attr *a, struct stat *st);
int fs_attr_put(struct buf *b, const struct fs_attr *a);
/* 0 or -EBADMSG. */
int fs_attr_get(struct rd *r, struct fs_attr *a);

/* A path argument: absolute, no NUL, at most FS_MAX_PATH. Returns a new
 * string (caller frees) or NULL with *err set (-EBADMSG, -ENAMETOOLONG,
 * -EINVAL for a relative path, -ENOMEM). */
char *fs_path_get(struct rd *r, int *err);

#endif
