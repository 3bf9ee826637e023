/*
 * svc_push — the push service of a stub: a bounded cache of content by
 * SHA-256 (PUSH_HAVE, PUSH_DATA), and PUSH_PUT, which writes the content
 * at DST here (a temporary name, fsync, rename) and passes it on to the
 * children below which targets wait, each child's link carrying it once
 * (core/push_send.c). Messages: core/proto.h, docs/protocol.md.
 * Not for: the daemon's side (fs/push.c).
 */
#ifndef MITOFS_SVC_PUSH_H
#define MITOFS_SVC_PUSH_H

#include <stdint.h>

#include "buf.h"
#include "frame.h"

#define SVC_PUSH_CACHE_MAX ((uint64_t)512 << 20) /* bytes a stub keeps in all */

struct router;
struct svc_push;

/* NULL on ENOMEM. */
struct svc_push *svc_push_new(struct router *r);
/* Cancels what is being passed on and drops the cache. NULL: nothing. */
void svc_push_free(struct svc_push *x);
/* Handles one CALL_SERVICE request for SVC_PUSH; replies once (PUT:
 * when every target below answered). */
void svc_push_call(struct svc_push *x, const struct msg *m, uint16_t op, struct rd *args);

#endif
