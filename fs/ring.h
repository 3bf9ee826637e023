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
 *
 * A KEEP_HEAD ring made with a spool (spool.h) keeps only a small window
 * in memory: once the stream passes RING_WINDOW bytes, or the rings of
 * the mount hold the spool's memory allowance, its bytes move to spool
 * blocks and later ones are written there directly, so the cap bounds
 * disk, not memory. When the spool refuses (its budget is used up, the
 * disk is full), the stream is cut as at the cap, with a marker saying
 * why. Not for: waiting readers (jobs.c, logs are woken by their owners).
 */
#ifndef MITOFS_RING_H
#define MITOFS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Bytes of a spooled ring's stream kept in memory before it spills. */
#define RING_WINDOW (256u << 10)

enum ring_policy { RING_KEEP_HEAD, RING_KEEP_TAIL };

struct ring;
struct spool;

/* NULL with errno on failure. cap >= 4096. Memory only. */
struct ring *ring_new(size_t cap, enum ring_policy policy);
/* A KEEP_HEAD ring whose bytes past the window go to sp (NULL: memory
 * only, as ring_new). sp must outlive the ring. */
struct ring *ring_new_spooled(size_t cap, struct spool *sp);
/* Frees r with its memory and spool blocks. NULL does nothing. */
void ring_free(struct ring *r);

/* Appends n bytes (some may be dropped by the policy). 0, or -errno the
 * first time the stream is cut for a reason other than its cap: -EDQUOT
 * (the spool's budget is used up), -ENOSPC, -EIO... (the spool's file
 * system), -ENOMEM; then what fitted was kept, a marker line saying why
 * follows it and later bytes are dropped. ring_cut_reason() says it. */
int ring_append(struct ring *r, const void *p, size_t n);
/* Absolute offset of the oldest kept byte / one past the newest. */
uint64_t ring_start(const struct ring *r);
uint64_t ring_end(const struct ring *r);
/* Bytes dropped so far. */
uint64_t ring_dropped(const struct ring *r);
/* Why the stream was cut (after ring_append failed): text without a
 * trailing newline, e.g. "output budget of 8388608 bytes (-o
 * output_budget) reached"; "" when it was not. */
void ring_cut_reason(const struct ring *r, char *buf, size_t len);

/* Fills at most maxiov iovecs describing up to n bytes from absolute
 * offset off (clamped to [start, end)) that are in memory: it stops at
 * the first byte in the spool (*got is 0 when off is there). Returns the
 * iovec count and the byte count in *got. The iovecs stay valid until
 * the next append. */
int ring_iov(const struct ring *r, uint64_t off, size_t n, struct iovec *iov, int maxiov,
	     size_t *got);
/* Copies up to n bytes from absolute offset off (clamped to [start,
 * end)) into buf, from memory or the spool: the count (0 at the end), or
 * -errno from reading the spool. */
ssize_t ring_read(const struct ring *r, uint64_t off, void *buf, size_t n);

#endif
