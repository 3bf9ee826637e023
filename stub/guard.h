/*
 * guard — a small process that outlives a stub killed with SIGKILL just
 * long enough to kill its jobs' process groups, so that `kill -9` of a
 * stub leaves no job behind (a clean exit kills them itself).
 *
 * The stub tells the guard each job's process group as it starts and
 * when it is gone, over a pipe; the guard acts when that pipe reaches EOF,
 * which is when the stub is gone, however it went. It is forked when the
 * first job starts, so an idle context is one process. Not for: killing
 * jobs in normal operation (svc_exec does).
 */
#ifndef MITOFS_GUARD_H
#define MITOFS_GUARD_H

#include <sys/types.h>

/* Starts the guard; returns the write end of its pipe (close-on-exec) or
 * -errno. The guard holds no other descriptor of ours. */
int guard_start(void);
/* Tells the guard about a job's process group, or that it is gone.
 * 0 or -errno (EPIPE: the guard is gone). */
int guard_add(int fd, pid_t pgid);
int guard_del(int fd, pid_t pgid);

/* argv[0] of the guard program; main() runs guard_run for it. */
#define GUARD_ARGV0 "mitofs-guard:"
/* The guard's loop on fd 0; does not return. */
void guard_run(void) __attribute__((noreturn));

#endif
