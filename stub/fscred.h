/*
 * fscred — the credentials the fs service acts with: per caller, the
 * fsuid, fsgid and supplementary groups a FS_SETCRED gave, put on the
 * process before that caller's calls and taken off before anything else
 * (a job, a spawn, a push) runs as the stub's own user.
 *
 * For: a stub running as root, so that a file a caller creates through
 * fs/ is the caller's and the target's permission checks are made for
 * it (docs/security.md, "Credentials"). A stub running as another user
 * records nothing and applies nothing: it keeps its user's rights.
 * Changes are made only when the wanted credentials differ from the
 * ones in force (cached here), so a stream of calls by one user costs
 * no syscall. Raw syscalls, not libc: they act on this thread alone
 * and the stub has one.
 * Not for: deciding who may call (the router's parent-only rule), nor
 * the daemon's side (fs/remotefs_cred.c).
 */
#ifndef MITOFS_FSCRED_H
#define MITOFS_FSCRED_H

#include <stdint.h>

#include "fsproto.h"

struct fscred;

/* The stub's own credentials are read now. NULL with errno (ENOMEM). */
struct fscred *fscred_new(void);
/* NULL does nothing. Does not restore the process's credentials. */
void fscred_free(struct fscred *fc);

/* Caller's later calls act with c (taken: c's groups become fc's, c is
 * zeroed); c NULL: its FS_SETCRED did not parse, and its calls are
 * refused until one does. 0, or -ENOMEM (then every caller that gave no
 * credentials yet is refused until one is kept: none acts as root by
 * mistake). Ignored where the stub is not root. */
int fscred_set(struct fscred *fc, uint32_t caller, struct fs_cred *c);
/* Before a call of caller: its credentials (or the stub's own, when it
 * gave none) are put in force. 0, or -errno when they could not be:
 * then the call must not run (and the next attempt starts over). */
int fscred_enter(struct fscred *fc, uint32_t caller);
/* The stub's own credentials back in force (before a job, a spawn, a
 * push...). 0 or -errno. */
int fscred_leave(struct fscred *fc);
/* Caller is gone: its record goes. */
void fscred_forget(struct fscred *fc, uint32_t caller);

#endif
