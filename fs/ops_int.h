/*
 * ops_int — what ops.c (the FUSE operations of the control tree) and
 * ops_write.c (writes to its command files) share. Not a public API.
 */
#ifndef MITOFS_OPS_INT_H
#define MITOFS_OPS_INT_H

#include "daemon.h"
#include "remotefs.h"

static inline struct daemon *D(fuse_req_t req) { return fuse_req_userdata(req); }

/* Requests on fs/ nodes go to remotefs; the rest is the control tree. */
#define REMOTE(ino) remotefs_owns(D(req)->rfs, (ino))
#define TO_REMOTE(op, ino, ...)                 \
	do {                                    \
		if (REMOTE(ino)) {              \
			remotefs_ops.op(__VA_ARGS__); \
			return;                 \
		}                               \
	} while (0)

/* The node of ino, unless it was removed (a context or job that went). */
static inline struct node *live_node(fuse_req_t req, fuse_ino_t ino)
{
	struct node *n = tree_get(&D(req)->tree, ino);
	return n && !n->removed ? n : NULL;
}

/* ops_write.c: write and flush of ctl, exec, cmd and stdin files. */
void ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	       struct fuse_file_info *fi);
void ops_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* At release: an owed stdin acknowledgement and a held write are let go. */
void ops_write_release(struct fh *f);

#endif
