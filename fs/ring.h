/*
 * ring — bounded storage for a byte stream that readers address by
 * absolute offset: job stdout/stderr and log files.
 *
 * Two policies, because the two uses want different losses:
 *  RING_KEEP_HEAD (job output): the first cap bytes are kept so the file
 *    stays readable from the start; past the cap, a marker line is
 *    appended once and later bytes are counted and dropped.
 *  RING_KEEP_TAIL (logs): the newest cap bytes are kept; the oldest
 *    chunks are freed, and ring_start() moves forward.
 * Storage is a list of chunks, so appending never moves old bytes and a
 * read can hand the kernel iovecs that point into the chunks.
 * Not for: waiting readers (jobs.c, logs are woken by their owners).
 */
#ifndef MITOFS_RING_H
#define MITOFS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum ring_policy { RING_KEEP_HEAD, RING_KEEP_TAIL };

struct ring;

/* NULL with errno on failure. cap >= 4096. */
struct ring *ring_new(size_t cap, enum ring_policy policy);
void ring_free(struct ring *r);

/* Appends n bytes (some may be dropped by the policy). 0 or -ENOMEM
 * (then nothing was appended). */
int ring_append(struct ring *r, const void *p, size_t n);
/* Absolute offset of the oldest kept byte / one past the newest. */
uint64_t ring_start(const struct ring *r);
uint64_t ring_end(const struct ring *r);
/* Bytes dropped so far. */
uint64_t ring_dropped(const struct ring *r);

/* Fills at most maxiov iovecs describing up to n bytes from absolute
 * offset off (clamped to [start, end)); returns the iovec count and the
 * byte count in *got. The iovecs stay valid until the next append. */
int ring_iov(const struct ring *r, uint64_t off, size_t n, struct iovec *iov,
	     int maxiov, size_t *got);

#endif
