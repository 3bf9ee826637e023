/*
 * kinds — the table of node kinds of the control tree: for each kind
 * (enum node_kind in daemon.h) its mode, how long the kernel may cache
 * it, and what opening, reading, polling, writing, closing, truncating,
 * mkdir and rmdir do. The FUSE operations (ops.c, ops_write.c, fh.c) look
 * a node's row up and call it; they never list kinds themselves, so a new
 * kind of file or directory is a row and its functions.
 * Not for: fs/ (remotefs owns those inodes) or what a command does.
 */
#ifndef MITOFS_KINDS_H
#define MITOFS_KINDS_H

#include <sys/types.h>

#include "daemon.h"

/* What a write to a file of this kind means. */
enum kind_write {
	KW_NONE,   /* not writable */
	KW_LINES,  /* ctl, members: each complete line runs as its write arrives */
	KW_SCRIPT, /* exec, cmd: everything one open file receives is one
		    * script, started at close */
	KW_STREAM, /* stdin: each write is passed on as it comes */
};

struct kind {
	mode_t mode;          /* S_IFDIR | 0700, S_IFREG | 0400 ... */
	double attr_timeout;  /* seconds the kernel may keep its attributes */
	double entry_timeout; /* seconds it may keep its name */
	enum kind_write write;
	/* A read parked on it when what it follows goes away gets EIO (a
	 * status: the answer will never come), else EOF (a stream). */
	bool gone_is_eio;
	/* Opening fills f: a snapshot (f->snap), or what it follows
	 * (fh_attach_*). 0 or -errno. NULL: nothing to do. */
	int (*open)(struct fh *f, struct node *n);
	/* Answers a read now or parks it (fh.h). NULL: the snapshot. */
	void (*read)(struct fh *f, fuse_req_t req, size_t size, off_t off);
	/* Whether a read would answer at once (poll). NULL: always. */
	bool (*readable)(struct fh *f);
	/* Runs a whole command (KW_LINES, KW_SCRIPT) or passes a chunk on
	 * (KW_STREAM); done(arg, rc) follows once. */
	void (*command)(struct fh *f, struct node *n, const char *data, size_t len,
			job_done_fn *done, void *arg);
	/* KW_SCRIPT: whether a script can be taken at all, checked at each
	 * write so that it fails there (0 or -errno, reason recorded).
	 * NULL: always. */
	int (*script_check)(struct node *n);
	/* KW_SCRIPT: the first write of a script on an open file is
	 * answered through this (done(arg, rc) once): it fails the write
	 * when the target turns out to be unreachable. NULL: at once. */
	void (*script_ready)(struct node *n, job_done_fn *done, void *arg);
	/* The last close of an open file (before fh_free). NULL: nothing. */
	void (*close)(struct fh *f);
	/* st_size. NULL: 0, or 4096 for files that take commands (the
	 * kernel runs direct writes in parallel only within a file's size,
	 * so that 50 `echo connect ... > ctl` reach us at once). */
	off_t (*size)(const struct node *n);
	/* O_TRUNC or truncate(2) to 0 (members: the list starts again).
	 * NULL: nothing. */
	void (*truncate)(struct node *n);
	/* Directories: mkdir NAME in it, done(arg, rc) once (0: dir/NAME
	 * is there now; it may take a while: a connect); mkdir_cancel: the
	 * caller of a mkdir under way was interrupted, undo it (done still
	 * follows). rmdir of a child of it: 0 or -errno. NULL: EPERM. */
	void (*mkdir)(struct node *dir, const char *name, const struct caller *who,
		      job_done_fn *done, void *arg);
	void (*mkdir_cancel)(struct node *dir, const char *name);
	int (*rmdir)(struct node *dir, struct node *child);
	/* Symlinks: the target. */
	const char *link;
	/* Not listed by readdir, reached by name only (NAME/.fs, which
	 * NAME/fs points to: recursive tools stop at the symlink). */
	bool hidden;
	/* Answers a lookup of this node itself (NAME/.fs: remotefs's
	 * root). NULL: the node's own entry. */
	void (*lookup)(fuse_req_t req, struct node *n);
};

/* The row of kind k. */
const struct kind *kind_of(enum node_kind k);

static inline bool kind_is_dir(enum node_kind k)
{
	return (kind_of(k)->mode & S_IFMT) == S_IFDIR;
}

/* The README file's text (its size is fixed). */
extern const char kinds_readme[];

#endif
