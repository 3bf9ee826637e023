/*
 * svc_exec — the exec service: shell command lines run as jobs with pipes,
 * their output streamed as events, stdin, signals, timeouts, exit status.
 * Layouts are in proto.h (EXEC_*). Not for: reaping (main.c's SIGCHLD
 * handler reaps and passes exits in with svc_exec_child_exited).
 */
#ifndef MITOFS_SVC_EXEC_H
#define MITOFS_SVC_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "frame.h"

struct router;
struct svc_exec;

/* New service state on r's loop. NULL with errno. */
struct svc_exec *svc_exec_new(struct router *r);
/* Kills every job's process group (SIGKILL), closes the pipes, frees.
 * NULL does nothing. */
void svc_exec_free(struct svc_exec *x);

/* Handles one CALL_SERVICE request for SVC_EXEC: op and the reader
 * positioned after the call header. Replies exactly once (now, or later
 * for EXEC_STDIN); malformed arguments get an EINVAL/EBADMSG reply. */
void svc_exec_call(struct svc_exec *x, const struct msg *m, uint16_t op, struct rd *args);

/* A child exited (status as from waitpid). Returns true if it was a job. */
bool svc_exec_child_exited(struct svc_exec *x, pid_t pid, int status);
/* Context id is unreachable: its jobs are killed and forgotten. */
void svc_exec_route_lost(struct svc_exec *x, uint32_t id);
/* The router's streams drained: paused jobs whose caller is no longer
 * congested resume reading their pipes. */
void svc_exec_drain(struct svc_exec *x);
/* Shutdown: SIGKILL to every job's process group, no more events. */
void svc_exec_kill_all(struct svc_exec *x);

#endif
