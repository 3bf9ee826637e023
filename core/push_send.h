/*
 * push_send — the sending half of a push over one link: content named by
 * its SHA-256 goes to one peer (a child context) unless the peer's cache
 * has it (PUSH_HAVE), in PUSH_DATA pieces with a window of pieces in
 * flight, then PUSH_PUT asks the peer to write it at its targets. Used by
 * the daemon (fs/push.c, from memory) and by stubs passing content on to
 * their children (stub/svc_push.c, from their cache; with no copy of
 * the bytes where the link allows: push_send_args.crc). Messages: proto.h.
 * Not for: the receiving side or what a target does (stub/svc_push.c).
 */
#ifndef MITOFS_PUSH_SEND_H
#define MITOFS_PUSH_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "sha256.h"

struct router;
struct push_send;

/* Reads exactly n bytes of the content at off into buf, and gives their
 * CRC-32 (zlib's) in *crc: the source keeps the CRCs of its pieces, so a
 * context passing content on to 100 children does not compute them 100
 * times. Pieces start at multiples of PUSH_CHUNK. 0 or -errno. */
typedef int push_read_fn(void *src, uint64_t off, void *buf, size_t n, uint32_t *crc);
/* The CRC-32 the source keeps of the piece of n bytes at off: 0, or
 * -ENOENT when it keeps none for it (the piece is then read). */
typedef int push_crc_fn(void *src, uint64_t off, size_t n, uint32_t *crc);
/* The end of a send, once: err 0 and the PUT reply's body in *body
 * (u32 n, then the targets' results: proto.h), or -errno with a reason
 * and body NULL when the whole call failed (peer lost, a piece refused). */
typedef void push_done_fn(void *arg, int err, const char *why, struct rd *body);

struct push_send_args {
	struct router *r;
	uint32_t peer;                 /* a context we have a route to */
	const uint8_t *hash;           /* SHA256_LEN bytes */
	uint64_t size;
	push_read_fn *read;
	void *src;
	/* Optional, to send pieces with no copy: the content is also the
	 * first size bytes of the regular file fd, unchanged while the send
	 * lasts (a stub's cache), and crc gives the pieces' CRCs. A piece
	 * whose CRC is kept goes spliced from fd (stream.h) when the link
	 * to the peer is plain fds that do not compress (a local child);
	 * else, or when splice cannot take it, it is read. NULL: read. */
	push_crc_fn *crc;
	int fd;
	/* Optional: fd is a memory file of this process sealed against any
	 * change (memfd, F_SEAL_WRITE|SHRINK|GROW). A peer that is our own
	 * child process (stream_peer_pid) is first offered to share it
	 * (PUSH_LINK): no byte crosses the link, and it keeps the very same
	 * pages; one that cannot (no /proc, another pid namespace) gets
	 * the content as above. */
	bool link;
	const void *put;               /* PUSH_PUT's fields after hash and size */
	size_t put_len;
	unsigned window;               /* PUSH_DATA pieces in flight (1-16) */
	/* Optional: the content is all with the peer (every piece answered,
	 * or it had it), only PUT's answer is to come. Once, before done. */
	void (*sent_all)(void *arg);
	push_done_fn *done;
	void *arg;
};

/* Starts a send; what a points to is copied. NULL with errno (ENOMEM,
 * or the router's error): done is not called then. */
struct push_send *push_send_start(const struct push_send_args *a);
/* Stops a send: no more messages, done is not called. */
void push_send_cancel(struct push_send *p);
/* Bytes of content this send put on the wire (PUSH_DATA payloads). */
uint64_t push_send_bytes(const struct push_send *p);

#endif
