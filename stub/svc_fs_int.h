/*
 * svc_fs_int — what svc_fs.c (paths, the op table), svc_fs_io.c (open
 * files: open, read, write, close...), svc_fs_xattr.c and svc_fs_lock.c
 * share. Not a public API.
 */
#ifndef MITOFS_SVC_FS_INT_H
#define MITOFS_SVC_FS_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "buf.h"
#include "fsproto.h"
#include "map.h"

struct router;
struct rd;
struct lkwait;
struct fscred;

#define FS_XATTR_NAME_MAX 255      /* XATTR_NAME_MAX */
#define FS_XATTR_SIZE_MAX (1u << 16) /* XATTR_SIZE_MAX and XATTR_LIST_MAX */
#define FS_READFILE_FIRST (1u << 16) /* first buffer when the size is unknown */
#define FS_RENAME_FLAGS   3u         /* RENAME_NOREPLACE | RENAME_EXCHANGE */
#define FS_MODE_MAX       0177777u   /* S_IFMT and the permission bits */
#define FS_ST_VALID       0x20       /* statfs f_flags: the flags are meaningful */

struct fh {
	int fd;
	uint32_t owner; /* context that opened it */
	bool regular;   /* a regular file: reads may be spliced */
};

struct svc_fs {
	struct router *r;
	struct map fhs;   /* handle -> struct fh */
	uint32_t next_fh; /* monotonic; 0 once exhausted (never reused) */
	struct buf out;   /* reply buffer kept between calls (see svc_fs_call) */
	struct lkwait *waits; /* SETLKs waiting for their lock (svc_fs_lock.c) */
	struct fscred *cred;  /* the callers' credentials (fscred.h) */
};

/* The reply buffer is kept while at most this big: what a 1 MiB read
 * grows it to (buf_reserve doubles). Untouched pages cost no memory. */
#define FS_OUT_KEEP (2 * FS_MAX_IO)

/* One call being answered. */
struct call {
	struct svc_fs *f;
	uint32_t caller;
	uint32_t reply_to; /* the request's reply handle (0: no reply wanted) */
	struct rd *a;
	const char *op;  /* name for error texts */
	char *p1, *p2;   /* owned: path (or name) arguments, shown in error texts */
	/* Where the syscalls find p1 and p2: (AT_FDCWD, the path) or, for a
	 * path of PATH_MAX or more, (its directory opened step by step, the
	 * last name); d1 and d2 are closed after the call (arg_path). */
	int d1, d2;
	const char *n1, *n2;
	uint32_t fh;     /* handle argument, shown when has_fh */
	bool has_fh;
	bool parsed;     /* every argument read: errors now come from syscalls */
	const char *why; /* static reason for an argument refused, or NULL */
	uint32_t opened; /* handle opened by this call, closed if undeliverable */
	bool deferred;   /* answered later (a waiting SETLK): no reply now */
	bool replied;    /* the op sent its reply itself (a spliced read) */
	struct buf out;  /* the reply: envelope, then the body */
};

int open_flags_local(uint32_t w, int *out);
int fd_settle(int fd, const struct stat *st, bool want_nonblock);
void fh_close(struct svc_fs *f, uint32_t id);
uint32_t fh_add(struct call *c, int fd, int *err);
int arg_path(struct call *c, char **slot);
int arg_str(struct call *c, char **slot, size_t max, int tl_err);
int arg_fh(struct call *c);
int args_end(struct call *c);
int bad(struct call *c, int err, const char *why);
int args_path(struct call *c);
int args_path_u32(struct call *c, uint32_t *v);
int fh_find(const struct call *c, struct fh **h);
/* st as an attr; its xattr flags from fd when >= 0, else from path (not
 * following a symlink), else none. */
int put_stat(struct buf *b, const struct stat *st, int fd, const char *path);
/* The attributes of (dir, name) itself, not a symlink's target. */
int put_lstat(struct call *c, int dir, const char *name);
/* A name for the l*xattr calls, which have no *at form: the path, or
 * /proc/self/fd/DIR/NAME in buf (FS_PROC_PATH bytes) for one reached
 * from a directory. */
#define FS_PROC_PATH (64 + NAME_MAX)
const char *xattr_path(int dir, const char *name, char *buf, size_t cap);

/* svc_fs_io.c */
int op_readfile(struct call *c);
int op_open(struct call *c);
int op_read(struct call *c);
int op_write(struct call *c);
int op_close(struct call *c);
int op_fsync(struct call *c);
int op_ftruncate(struct call *c);
int op_fstat(struct call *c);
ssize_t read_at(int fd, uint8_t *p, size_t n, uint64_t off);
ssize_t write_at(int fd, const uint8_t *p, size_t n, uint64_t off);

/* svc_fs_xattr.c */
int op_getxattr(struct call *c);
int op_listxattr(struct call *c);
int op_setxattr(struct call *c);
int op_removexattr(struct call *c);

/* svc_fs_lock.c */
int op_getlk(struct call *c);
int op_setlk(struct call *c);
int op_lkcancel(struct call *c);
/* Handle fh is closing: its waiting SETLKs stop, answered err (0: not
 * answered, the caller is gone). */
void lock_waits_drop(struct svc_fs *f, uint32_t fh, int err);

#endif
