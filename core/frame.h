/*
 * frame — the 28-byte message header of docs/protocol.md, and the message
 * that travels with it.
 *
 * Every hop (daemon to stub, stub to stub) uses this one framing. Encoding
 * and decoding go field by field through buf.h; the payload limit is
 * enforced when decoding, so a peer cannot make us allocate more than
 * FRAME_MAX_LEN for one message. Not for: reading from fds (stream.h).
 */
#ifndef MITOFS_FRAME_H
#define MITOFS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_MAGIC    0x4d49u      /* "MI" */
#define FRAME_HDR_LEN  28
#define FRAME_F_ZLIB   0x0001u      /* payload is zlib-compressed */
#define FRAME_F_KNOWN  FRAME_F_ZLIB /* any other bit set is a protocol error */
#define FRAME_MAX_LEN  (32u << 20)  /* largest payload, compressed or not */

struct frame_hdr {
	uint16_t magic;
	uint16_t flags;
	uint32_t dst_id;
	uint32_t src_id;
	uint32_t auth_id;
	uint32_t handle;
	uint32_t reply_to;
	uint32_t len;
};

/* A message: header fields plus an owned, uncompressed payload. */
struct msg_spare;

struct msg {
	uint32_t dst_id;
	uint32_t src_id;
	uint32_t auth_id;
	uint32_t handle;
	uint32_t reply_to;
	uint8_t *data; /* owned (malloc), may be NULL when len == 0 */
	uint32_t len;
	struct msg_spare *spare; /* where data goes when freed (see below) */
	size_t cap;              /* data's allocated size, with spare (0: data is not for it) */
	bool pooled;             /* made by msg_spare_msg: its block goes back to spare */
};

/* Writes h (magic forced to FRAME_MAGIC) as 28 big-endian bytes. */
void frame_hdr_encode(const struct frame_hdr *h, uint8_t out[FRAME_HDR_LEN]);

/* Decodes the header at in[0..n). Returns 0; -EAGAIN when n < 28 (need
 * more bytes); -EBADMSG on a bad magic or an unknown flag bit; -EMSGSIZE
 * when len exceeds max_len. */
int frame_hdr_decode(const uint8_t *in, size_t n, struct frame_hdr *h, uint32_t max_len);

/* New message with a copy of data[0..len). NULL with errno on failure. */
struct msg *msg_new(uint32_t dst, uint32_t handle, uint32_t reply_to,
		    const void *data, size_t len);
/* Frees the message and its payload; msg_free(NULL) does nothing. */
void msg_free(struct msg *m);

/* One spare payload buffer, shared by the streams of a process and the
 * messages they made: a freed message's payload is kept in it (the larger
 * of the two, when one is kept already), and a stream's next large
 * payload is built in it. musl (the stub) maps every allocation over
 * 128 KiB on its own, so each 1 MiB fs write cost the stub a mmap, 256
 * page faults and a munmap: 40 % of its CPU. Counted references, not
 * atomic: its streams and messages live on one thread. Buffers over max
 * are freed as usual. */
struct msg_spare;
/* A spare with one user, the caller. NULL: out of memory. */
struct msg_spare *msg_spare_new(size_t max);
/* One more user (a stream that builds payloads in it). */
void msg_spare_hold(struct msg_spare *sp);
/* A user leaves; with the last, the kept buffer goes, and the spare with
 * the last message that holds a buffer of it. NULL does nothing. */
void msg_spare_drop(struct msg_spare *sp);
/* The kept buffer if its size is at least want (stored in *cap), taken
 * out; NULL when there is none or it is smaller (it stays). */
uint8_t *msg_spare_take(struct msg_spare *sp, size_t want, size_t *cap);
/* Gives buffer b (malloc'd, of allocated size cap) to sp, which keeps
 * the larger of it and what it holds and frees the other (b too when sp
 * has no user left, or b is over its max). NULL sp frees b. */
void msg_spare_put(struct msg_spare *sp, uint8_t *b, size_t cap);
/* m's payload, of allocated size cap, goes back to sp when m is freed
 * (m holds sp until then; one made by msg_spare_msg(sp) holds it already). */
void msg_spare_give(struct msg *m, struct msg_spare *sp, size_t cap);
/* Frees the kept buffer and blocks (their owner went quiet); the
 * buffer's size, 0 if none. */
size_t msg_spare_trim(struct msg_spare *sp);

/* Message blocks: every frame a stream reads is a message, and for musl
 * a struct and a small payload malloc'd and freed per message meant a
 * group of small blocks mapped and unmapped again and again (two page
 * faults every few messages of a 1 MiB read in the stub). A spare keeps
 * a few freed blocks, each a struct msg with room for MSG_ROOM payload
 * bytes. */
#define MSG_ROOM 256
/* A zeroed message from sp's kept blocks (or a new block; without sp, a
 * plain calloc'd struct). msg_free gives its block back to sp. NULL: out
 * of memory. */
struct msg *msg_spare_msg(struct msg_spare *sp);
/* The MSG_ROOM bytes of m's own block (msg_spare_msg with a spare), or
 * NULL. */
uint8_t *msg_room(struct msg *m);

#endif
