/*
 * remotefs — NAME/fs/: each context's whole filesystem, served through
 * the router by the stub's fs service (core/fsproto.h).
 *
 * Remote files get inodes from the same counter as the control tree and
 * live in a table of their own; ops.c asks remotefs_owns(ino) and hands
 * those requests here. Every request is answered when the stub's reply
 * arrives (or with EIO when the context goes, EINTR when interrupted).
 * The kernel caches entries and attributes for -o attr_timeout= seconds
 * and file data in its page cache; writes are pipelined and their errors
 * reported at the next write, flush, fsync or close.
 * Not for: the control files (ops.c, fh.c).
 */
#ifndef MITOFS_REMOTEFS_H
#define MITOFS_REMOTEFS_H

#include "daemon.h"

struct remotefs;

struct remotefs *remotefs_new(struct daemon *d);
void remotefs_free(struct remotefs *rf);

/* True when ino is a node of some context's fs/ tree. */
int remotefs_owns(const struct remotefs *rf, fuse_ino_t ino);
/* lookup of "fs" in context c's directory (ino: the control node's). */
void remotefs_lookup_root(struct remotefs *rf, fuse_req_t req, struct ctx *c, uint64_t ino);
/* The context is going away: its nodes answer EIO from now on. */
void remotefs_ctx_gone(struct remotefs *rf, struct ctx *c);
struct ctl_batch;
/* `flush` in a context's ctl: the kernel drops every entry, attribute and
 * page it cached of c's files. Returns 1 (ctl_batch_done follows) or
 * -errno. */
int remotefs_flush(struct remotefs *rf, struct ctx *c, struct ctl_batch *b);
/* The kernel forgot count references of ino (forget_multi). */
void remotefs_forget(struct remotefs *rf, fuse_ino_t ino, uint64_t count);

extern const struct fuse_lowlevel_ops remotefs_ops;

#endif
