/*
 * ctx — connected contexts as the daemon sees them: connecting (through
 * a method, or through the parent stub's spawn service), their info, their
 * logs, disconnecting, and what happens when a route is lost.
 * Not for: jobs (jobs.h) or how a method reaches its target (method_*.c).
 */
#ifndef MITOFS_CTX_H
#define MITOFS_CTX_H

#include <stdarg.h>
#include <stddef.h>

#include "ctl.h"
#include "daemon.h"

/* Sets up the root pseudo-context (id 0) and the daemon's handlers
 * (FORWARD_LOG, ALLOCATE_ID). 0 or -errno. */
int ctx_daemon_init(struct daemon *d);
/* Disconnects and frees every context (daemon exit). */
void ctx_daemon_fini(struct daemon *d);

struct ctx *ctx_by_id(struct daemon *d, uint32_t id);
/* The context at path ("web1", "web1/root"), or NULL. */
struct ctx *ctx_by_path(struct daemon *d, const char *path);

/* The verbs of a context's ctl file (the root's: connect, disconnect,
 * reconnect NAME; a context's: connect CHILD, disconnect [CHILD],
 * reconnect, flush); the object is a struct ctx. */
extern const struct ctl_target ctx_ctl_target;

/* mkdir NAME in a context directory or the root: `connect NAME ssh
 * host=NAME` there (~/.ssh/config's alias), done(arg, rc) once it is up
 * or failed (the reason in that ctl); mkdir_cancel: the mkdir was
 * interrupted, the connect is abandoned. rmdir of a context directory:
 * its disconnect; 0, -EBUSY while it connects, -EPERM for other
 * directories. Rows of the table of kinds (kinds.c). */
void ctx_mkdir(struct node *dir, const char *name, const struct caller *who,
	       job_done_fn *done, void *arg);
void ctx_mkdir_cancel(struct node *dir, const char *name);
int ctx_rmdir(struct node *dir, struct node *child);

/* -o connect=FILE: each line of text (blank lines and # comments aside)
 * runs as a line written to the root ctl, all at once and each on its
 * own, so that one failure stops nothing; each failure is logged, and a
 * summary line once all ended. */
void ctx_ctl_run_file(struct daemon *d, const char *name, const char *text, size_t len);

/* Context id sent what the protocol does not allow (a malformed reply or
 * event): such a peer is closed, never the daemon (docs/protocol.md).
 * The reason goes to its log now and becomes its `why`; the close runs
 * from the loop, as the caller is inside a handler of that very stream.
 * A context behind another gets SHUTDOWN and is marked lost. The first
 * error counts; an unknown or disconnected id is ignored. */
void ctx_protocol_error(struct daemon *d, uint32_t id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The daemon reaped pid: a context started as that process forgets it
 * (c->child), so that nothing signals the pid once another has it. */
void ctx_child_reaped(struct daemon *d, pid_t pid);

/* A route to id was lost (router callback). */
void ctx_route_lost(struct daemon *d, uint32_t id, const char *why);

/* Appends a line to c's log and to the root log ("PATH: text"), waking
 * readers. The root context's lines read "mitofs: text". */
void ctx_log(struct ctx *c, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ctx_log_text(struct ctx *c, int level, const char *text, size_t len);

/* info file content (malloc'd, *len set). NULL on ENOMEM. */
char *ctx_info_text(struct ctx *c, size_t *len);
/* stats file content. */
char *ctx_stats_text(struct daemon *d, size_t *len);

/* Whether c answers: done(arg, rc) once, 0 at once for a context that
 * answered within the last second or cannot lose its link silently (no
 * keepalive), else after a ping's answer; -EIO (the reason recorded in
 * its ctl as a failure of `what`) when it is not connected or is lost
 * before it answers. The first write of a script waits for it, so that
 * `echo cmd > exec` on a dead link fails that write. */
void ctx_probe(struct ctx *c, const char *what, job_done_fn *done, void *arg);

/* Drop a pending-call reference; frees a removed context at zero. */
void ctx_unbusy(struct ctx *c);

#endif
