/*
 * jobs — one remote command each: starting it through the context's exec
 * service, collecting its stdout/stderr into rings, its exit status,
 * stdin, kill and timeout, and freeing it when nothing refers to it.
 * Not for: how reads wait (fh.c) or ctl syntax (ctl.c).
 */
#ifndef MITOFS_JOBS_H
#define MITOFS_JOBS_H

#include <stddef.h>

#include "ctl.h"
#include "daemon.h"

/* New job of context c; num 0 for exec jobs, else jobs/num is created.
 * NULL on ENOMEM. */
struct job *job_new(struct ctx *c, uint32_t num);
/* A command written to exec: a new job that becomes c->last, started
 * with data[0..size) as its sh -c script; answers req (a write
 * acknowledging reply bytes, or a flush: WREPLY_FLUSH) once it started. */
void job_exec(struct ctx *c, fuse_req_t req, const char *data, size_t size, size_t reply);
/* The same for jobs/N/cmd. EBUSY if the job was started already. */
void job_cmd(struct job *j, fuse_req_t req, const char *data, size_t size, size_t reply);
/* Why data[0..size) cannot be a command (empty, too long, a NUL byte),
 * or NULL when it can. */
const char *job_bad_command(const char *data, size_t size);
/* A write to jobs/N/stdin: replies once the stub has written it. */
void job_stdin(struct job *j, fuse_req_t req, const char *data, size_t size);
/* The last stdin writer closed: EOF on the job's stdin. */
void job_stdin_close(struct job *j);
/* jobs/N/ctl verbs: kill [SIGNAL], timeout SECONDS. 0 or -errno. */
int job_ctl(struct job *j, const struct ctl_line *l, struct ctl_batch *b,
	    char *err, size_t errlen);
/* rmdir jobs/N: kills it if running, removes the directory. */
int job_remove(struct job *j);
/* The context is gone: the job ends as lost (status: EIO). */
void job_lost(struct job *j, const char *why);
/* No longer reachable from the tree (replaced as last, context gone). */
void job_unlist(struct job *j);
/* Frees j if nothing refers to it any more. */
void job_maybe_free(struct job *j);
/* "exit N\n" / "signal NAME\n" for a finished job into buf. */
int job_status_text(const struct job *j, char *buf, size_t cap);
/* Signal number for "KILL", "SIGKILL", "9"; -1 if unknown. */
int job_signal_number(const char *s);

#endif
