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

/* Drop a pending-call reference; frees a removed context at zero. */
void ctx_unbusy(struct ctx *c);

#endif
