/*
 * svc_spawn — the spawn service: a stub starts a child context of its own
 * by any method of the table (core/methods.h: fork the method's command,
 * upload our own image through its first stage), takes its id from a
 * block the master hands out (ALLOCATE_ID), and adopts the stream as a
 * router child. Not for: reaping (main.c does, and passes exits in).
 */
#ifndef MITOFS_SVC_SPAWN_H
#define MITOFS_SVC_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "frame.h"
#include "proto.h"

struct router;
struct svc_spawn;

#define SPAWN_BOOT_TIMEOUT_MS 10000

/* New service state; self is our own CONFIG (copied: ids, parents, name,
 * log level); the children's streams share spare (the caller's, which
 * outlives the service; NULL: none). NULL with errno. */
struct svc_spawn *svc_spawn_new(struct router *r, const struct proto_config *self,
				struct msg_spare *spare);
/* Cancels bootstraps in progress (killing their children) and frees. The
 * streams of finished children belong to the router. NULL does nothing. */
void svc_spawn_free(struct svc_spawn *sp);

/* Handles one CALL_SERVICE request for SVC_SPAWN (op, reader after the
 * call header); replies exactly once, possibly after an id allocation and
 * a bootstrap. */
void svc_spawn_call(struct svc_spawn *sp, const struct msg *m, uint16_t op, struct rd *args);

/* Frees our image (remade at the next spawn: ~5 ms) unless a boot is in
 * progress: a parent otherwise keeps its ~140 KiB for its whole life.
 * The bytes freed. */
size_t svc_spawn_trim(struct svc_spawn *sp);
/* A child exited (status as from waitpid). True if it was a context of ours. */
bool svc_spawn_child_exited(struct svc_spawn *sp, pid_t pid, int status);
/* Shutdown: cancels bootstraps and queued requests, closes the streams to
 * our children (they exit on EOF). */
void svc_spawn_shutdown(struct svc_spawn *sp);
/* Shutdown, after the grace: SIGKILL to every child not yet reaped. */
void svc_spawn_kill_all(struct svc_spawn *sp);

#endif
