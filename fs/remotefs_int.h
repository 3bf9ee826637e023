/*
 * remotefs_int — what remotefs.c (nodes, calls, replies) and the files
 * of the FUSE operations (remotefs_ops.c, _io.c, _lock.c, _xattr.c)
 * share. Not a public API.
 */
#ifndef MITOFS_REMOTEFS_INT_H
#define MITOFS_REMOTEFS_INT_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "buf.h"
#include "fsproto.h"
#include "map.h"
#include "remotefs.h"

/* Unacknowledged write bytes per open file: how far writes run ahead of
 * the target's answers, and so how many bytes a failure (ENOSPC) can be
 * found out late by. 4 MiB keeps 4 full FUSE writes in flight (what a
 * fast link needs) while a dd into a full disk fails at a write, not
 * only at close (docs/filesystem.md). More only queued in the daemon's
 * stream: an OpenSSH session channel's window is 2 MiB, and 16 MiB made
 * the queue grow into fresh pages (500-1,300 faults in one write of
 * three). */
#define WRITE_WINDOW (4u << 20)

struct rnode {
	uint64_t ino;
	struct ctx *c;          /* NULL once the context is gone */
	struct rnode *parent;   /* NULL for a context's "/" */
	char *name;
	struct rnode *children, *next; /* known entries, for stable inodes */
	uint64_t nlookup;
	struct rfile *open;     /* one open file of it: fstat after unlink */
	uint32_t nopen;         /* open files of it the kernel holds (open to release) */
	uint64_t root;          /* ino of its context's fs/ node (mixed into sid) */
	/* From the last attributes seen (node_saw): */
	uint64_t sid;           /* the st_ino shown: the target's (dev, ino), mixed */
	struct rnode *same;     /* next name of the same file (hard links: rf->sids) */
	uint64_t same_key;      /* the sid it is indexed under, 0: not indexed */
	uint64_t size;          /* the size the kernel was last told */
	uint32_t nlink;
	bool isdir;
	uint32_t xattr;         /* FS_ATTR_NO_XATTR, FS_ATTR_XATTR_UNSUP... */
	uint64_t xattr_until;   /* ...true until then (loop_now_us); 0: ask */
};

/* A caller's groups as last read from /proc (remotefs_cred.c). */
struct rgroups {
	pid_t pid;              /* 0: empty */
	uint64_t at_us;         /* when read (loop_now_us) */
	struct fs_cred c;       /* uid, gid (the key, with pid) and groups */
};
#define RFS_GROUP_SLOTS 16

struct remotefs {
	struct daemon *d;
	struct map nodes;       /* ino -> rnode */
	struct map sids;        /* sid -> first node of a file with several names */
	double timeout;         /* entry and attribute cache, seconds */
	struct map ctxcred;     /* context id -> credentials last sent (remotefs_cred.c) */
	struct rgroups groups[RFS_GROUP_SLOTS]; /* by pid */
};

/* An open remote file. */
struct rfile {
	struct remotefs *rf;
	struct rnode *n;
	uint32_t fh;            /* the stub's handle */
	uint32_t cid;           /* context id the handle belongs to */
	uint64_t inflight;      /* write bytes sent, not yet acknowledged */
	int err;                /* a write error not yet reported to a write */
	int serr;               /* ...nor to an fsync or close (flush) */
	fuse_req_t waiter;      /* a write or flush waiting for the window */
	size_t waiter_size;     /* its size (WREPLY_FLUSH for a flush) */
	fuse_req_t syncer;      /* an fsync waiting for every write's answer */
	bool syncer_data;       /* ...fdatasync */
	bool releasing;
	bool remote;            /* fh is a live stub handle (not a READFILE copy) */
	uint8_t *data;          /* a small file read whole at open (READFILE) */
	size_t datalen;
	uint64_t dev, ino;      /* the target's identity of the file read whole */
	uint32_t lkcalls;       /* lock calls awaiting their reply (keep f alive) */
	uint32_t lkseq;         /* SETLKs sent on it (remotefs_lock.c) */
	uint64_t lkowner;       /* the POSIX lock owner that took locks on it... */
	uint8_t lkowners;       /* ...when this is 1 (0: none yet, 2: several) */
};

/* Files opened read-only are first read whole in one call (READFILE): a
 * small file then costs one round trip, open to close. */
#define READFILE_MAX (64u << 10)

/* A directory being listed: its entries fetched at opendir. */
struct rdir {
	struct buf entries;     /* n x (str name, attr) as the stub sent them */
	uint32_t count;
};

/* One call to the stub and the FUSE request it answers. */
struct rcall {
	struct remotefs *rf;
	fuse_req_t req;         /* NULL once answered (interrupt) */
	int op;
	struct rnode *node;     /* the node the call is about */
	struct rnode *parent;   /* lookup, create, mkdir...: where the new entry goes */
	bool entry;             /* answer with an entry (a lookup) */
	bool probe;             /* a LISTXATTR asked for a getxattr of name */
	char *name;
	struct rfile *file;     /* open, create, write */
	struct fuse_file_info fi;
	size_t size;            /* write: bytes of this call */
	int pending_set;        /* setattr: steps still to send */
	struct stat set;        /* setattr: the wanted values */
	int to_set;
	uint32_t h;             /* the reply handle it was sent with */
	bool has_cred;          /* acts with cred (the caller's, on a root stub) */
	struct fs_cred cred;
	uint32_t src;           /* the context that answered (set on the reply) */
	bool lock;              /* a lock call: remotefs_lock.c answers it */
	struct rlkargs {        /* lock calls: what was asked */
		int op;         /* FS_GETLK or FS_SETLK (a promoting FS_OPEN goes on to it) */
		struct flock fl;
		uint8_t flags;  /* FS_LK_WAIT, FS_LK_FLOCK */
		uint64_t owner;
		uint32_t seq;   /* f->lkseq when sent */
	} lk;
};

/* Credentials (remotefs_cred.c). The caller of req into out when the
 * mount forwards credentials to c (c runs as root): 1; 0 when it does
 * not (out zeroed); -ENOMEM. */
int remotefs_cred_take(struct remotefs *rf, fuse_req_t req, struct ctx *c, struct fs_cred *out);
/* cr in force for the next calls to c: a FS_SETCRED unless it is what c
 * was last sent. 0 or -errno (nothing sent). */
int remotefs_cred_send(struct remotefs *rf, struct ctx *c, const struct fs_cred *cr);
void remotefs_cred_ctx_gone(struct remotefs *rf, uint32_t id);
void remotefs_cred_free(struct remotefs *rf);

/* k's reply does not parse: its context is closed for it (rule of
 * docs/protocol.md; ctx_protocol_error). The caller answers EIO. */
void rcall_malformed(const struct rcall *k);

struct rnode *node_get(struct remotefs *rf, fuse_ino_t ino);
struct rnode *node_new(struct remotefs *rf, struct ctx *c, struct rnode *parent,
		       const char *name, uint64_t ino);
void node_free(struct remotefs *rf, struct rnode *n);
void node_unlink(struct rnode *n);
struct rnode *child_named(struct rnode *dir, const char *name);
struct rnode *child_get(struct remotefs *rf, struct rnode *dir, const char *name);
int node_path(const struct rnode *n, char *out, size_t cap);

/* A call: call_begin builds the payload head (op, path of n, or of n/name)
 * and the record; the caller appends arguments and call_send sends it,
 * unless rc (how appending went: 0 or -errno) says otherwise. On failure
 * both answer req themselves and return NULL / free (call_send: -errno,
 * 0 once sent). */
struct rcall *call_begin(struct remotefs *rf, fuse_req_t req, int op, struct rnode *n,
			 const char *name, struct buf *b, bool path);
int call_send(struct rcall *k, struct buf *b, int rc);
void call_free(struct rcall *k);
/* An entry for n from a; node_saw records it once the kernel has it. */
void fill_entry(struct remotefs *rf, struct fuse_entry_param *e, struct rnode *n,
		const struct fs_attr *a);
/* Records what a says of n (identity, size, link count, xattr flags):
 * only attributes the kernel was given, since n->size must be its size. */
void node_saw(struct remotefs *rf, struct rnode *n, const struct fs_attr *a);
/* The st_ino shown for the file a describes in the context of root. */
uint64_t ino_shown(uint64_t root, const struct fs_attr *a);
/* n changed (data, size, links...): the kernel's attributes of the
 * other names of the same file are dropped (hard links). */
void siblings_stale(struct remotefs *rf, const struct rnode *n);
/* setattr's next step (remotefs_ops.c), write acknowledgements. */
void setattr_next(struct rcall *k);
void file_write_acked(struct rcall *k, int err);
/* The reply to a probe (remotefs_xattr.c): answers the getxattr of k->name,
 * or asks for its value. e: the reply's errno (0: r holds the list). */
void xattr_probe_reply(struct rcall *k, int e, struct rd *r);
/* An open file the kernel will not release (its open reply failed), or
 * at release: the stub's handle closed, the record freed when its calls
 * are answered. */
void rfile_drop(struct rfile *f);
/* READFILE did not give the whole file: open it for real (same request). */
void open_for_real(struct rcall *k);
/* Frees a released file once no write or lock call needs it. */
void file_maybe_free(struct rfile *f);

/* The remotefs of a request, and the node of ino (or an answered ESTALE:
 * the kernel asked about a node we no longer know). */
static inline struct remotefs *rfs_of(fuse_req_t req)
{
	return ((struct daemon *)fuse_req_userdata(req))->rfs;
}

static inline struct rnode *rfs_want(fuse_req_t req, fuse_ino_t ino)
{
	struct rnode *n = node_get(rfs_of(req), ino);
	if (!n)
		fuse_reply_err(req, ESTALE);
	return n;
}

/* One-path calls in an op: op on n (or n/name) into k and b; returns
 * from the op when that failed (the request is answered). */
#define RFS_BEGIN(op, n, name)                                                         \
	struct buf b;                                                                  \
	struct rcall *k = call_begin(rfs_of(req), req, (op), (n), (name), &b, true); \
	if (!k)                                                                        \
		return

/* The file operations (remotefs_io.c), for the table in remotefs_ops.c. */
void rfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void rfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi);
void rfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void rfs_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
	       struct fuse_file_info *fi);
void rfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void rfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void rfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* The xattr operations (remotefs_xattr.c). */
void rfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void rfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void rfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags);
void rfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* Locks (remotefs_lock.c): the FUSE operations, the replies of lock
 * calls (k->lock) and their interruption, and a flush by owner. */
void rfs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock);
void rfs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
	       int sleep);
void rfs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
void lock_reply(struct rcall *k, int err, struct rd *rd);
void lock_interrupted(struct rcall *k);
void lock_flush(struct rfile *f, uint64_t owner);

#endif
