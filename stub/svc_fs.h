/*
 * svc_fs — the fs service (SVC_FS): the target's files, one syscall (or
 * a few) per call, with the argument and reply layouts of core/fsproto.h.
 * Open files are handles owned by the context that opened them.
 * Not for: caching or inode numbers on the daemon's side (fs/), nor
 * deciding who may call (CALL_SERVICE is parent-only in the router).
 */
#ifndef MITOFS_SVC_FS_H
#define MITOFS_SVC_FS_H

#include <stdint.h>

#include "buf.h"
#include "frame.h"

struct router;
struct svc_fs;

#define SVC_FS_MAX_HANDLES 4096 /* open handles per stub; more is EMFILE */

/* New service state replying through r. NULL with errno (ENOMEM). */
struct svc_fs *svc_fs_new(struct router *r);
/* Closes every open handle and frees; NULL does nothing. */
void svc_fs_free(struct svc_fs *f);
/* Frees the reply buffer kept between calls (the stub went quiet); its
 * size, 0 if none. */
size_t svc_fs_trim(struct svc_fs *f);

/* Handles one CALL_SERVICE request for SVC_FS: op and the reader
 * positioned after the call header (borrowed). Replies exactly once,
 * before returning (but a SETLK that waits: when it has its lock, is
 * cancelled or its handle closes; never if its caller is lost):
 * malformed arguments get EBADMSG (or EINVAL for a field out of range),
 * an unknown op EINVAL. */
void svc_fs_call(struct svc_fs *f, const struct msg *m, uint16_t op, struct rd *args);

/* Context id is unreachable: the handles it opened are closed, its
 * credentials forgotten. */
void svc_fs_route_lost(struct svc_fs *f, uint32_t id);
/* The stub's own credentials back in force, before anything that is not
 * an fs call runs (a job, a spawn, a push: they must not inherit a
 * caller's groups or fsuid). 0 or -errno (logged). */
int svc_fs_own_creds(struct svc_fs *f);

#endif
