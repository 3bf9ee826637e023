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
/* Starts j (JOB_NEW) with data[0..size) as its sh -c script; done(arg,
 * rc) follows once: 0 when it runs, -errno (EINVAL bad command, EIO
 * context not connected or lost, ENOMEM...) when it will not. */
void job_start(struct job *j, const char *data, size_t size, job_done_fn *done, void *arg);
/* A command written to exec: a new job that becomes c->last, started as
 * job_start does. */
void job_exec(struct ctx *c, const char *data, size_t size, job_done_fn *done, void *arg);
/* The same for jobs/N/cmd: -EBUSY if the job was started already. */
void job_cmd(struct job *j, const char *data, size_t size, job_done_fn *done, void *arg);
/* Why data[0..size) cannot be a command (empty, too long, a NUL byte),
 * or NULL when it can. */
const char *job_bad_command(const char *data, size_t size);
/* A write to jobs/N/stdin: done(arg, rc) once the stub has written it
 * (-EPIPE: the job ended; -EINVAL: not started; -EIO: context lost). */
void job_stdin(struct job *j, const char *data, size_t size, job_done_fn *done, void *arg);
/* The last stdin writer closed: EOF on the job's stdin. */
void job_stdin_close(struct job *j);
/* jobs/N/ctl verbs: kill [SIGNAL], timeout SECONDS; the object is a
 * struct job. */
extern const struct ctl_target job_ctl_target;
/* Sends signal sig to a running job / sets its time limit (0: none)
 * from now. 0, or -ESRCH when it does not run. */
int job_kill(struct job *j, int sig);
int job_set_timeout(struct job *j, uint32_t secs);
/* rmdir jobs/N: kills it if running, removes the directory. */
int job_remove(struct job *j);
/* The context is gone: the job ends as lost (status: EIO). */
void job_lost(struct job *j, const char *why);
/* No longer reachable from the tree (replaced as last, context gone). */
void job_unlist(struct job *j);
/* Frees j if nothing refers to it any more. */
void job_maybe_free(struct job *j);
/* How a reader of j's stdout/stderr ends once it has every byte: 1 (EOF)
 * when the job exited by itself (a code or a signal), -EIO when its
 * output was cut (context lost, daemon stopping, job removed, start
 * failed), 0 while more may come. */
int job_output_end(const struct job *j);
/* "exit N\n" / "signal NAME\n" for a finished job into buf. */
int job_status_text(const struct job *j, char *buf, size_t cap);
/* The words of `kill [SIGNAL]` and `timeout SECONDS` lines (any job's
 * ctl): 0, or -EINVAL with the usage, valid forms included, in err. */
int job_parse_kill(const struct ctl_line *l, int *sig, char *err, size_t errlen);
int job_parse_timeout(const struct ctl_line *l, uint32_t *secs, char *err, size_t errlen);
/* A `kill [SIGNAL]` or `timeout SECONDS` line (l->verb is one of them)
 * for job j (NULL: none): 0, -EINVAL (usage in err), -ESRCH (it does not
 * run). */
int job_ctl_verb(struct job *j, const struct ctl_line *l, char *err, size_t errlen);
/* Signal number for "KILL", "SIGKILL", "9"; -1 if unknown. */
int job_signal_number(const char *s);

#endif
