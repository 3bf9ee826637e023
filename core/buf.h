/*
 * buf — the one byte buffer of mitofs, and bounds-checked big-endian
 * readers and writers for everything that crosses a wire.
 *
 * A struct buf grows as it is written; a struct rd reads a borrowed byte
 * range and fails with -EBADMSG instead of reading past its end. No struct
 * is ever copied raw onto or off the wire: every field goes through these.
 * Not for: framing (frame.h) or queueing (stream.h).
 */
#ifndef MITOFS_BUF_H
#define MITOFS_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data; /* owned; NULL until the first write */
	size_t len;    /* bytes written */
	size_t cap;    /* bytes allocated */
};

struct rd {
	const uint8_t *p; /* borrowed */
	size_t len;
	size_t off;
};

/* Raw big-endian helpers for fixed positions (headers). */
static inline void be16_put(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static inline void be64_put(uint8_t *p, uint64_t v)
{
	be32_put(p, (uint32_t)(v >> 32));
	be32_put(p + 4, (uint32_t)v);
}
static inline uint16_t be16_get(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* --- writer --- */

/* Empty buffer; no allocation. */
void buf_init(struct buf *b);
/* Frees the data and leaves b empty; safe on an empty buffer. */
void buf_free(struct buf *b);
/* Makes room for extra more bytes. 0 or -ENOMEM (b unchanged). */
int buf_reserve(struct buf *b, size_t extra);
/* Drops the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
/* Hands the data to the caller (who frees it) and leaves b empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

/* Appenders: 0 or -ENOMEM; on failure b is unchanged. */
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16(struct buf *b, uint16_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
int buf_put_bytes(struct buf *b, const void *p, size_t n);
/* u32 length, then the bytes. -ERANGE if n does not fit in 32 bits. */
int buf_put_blob(struct buf *b, const void *p, size_t n);
/* A C string as a blob (no NUL on the wire). */
int buf_put_str(struct buf *b, const char *s);

/* --- reader --- */

void rd_init(struct rd *r, const void *p, size_t len);
static inline size_t rd_left(const struct rd *r) { return r->len - r->off; }
/* Each returns 0, or -EBADMSG when fewer bytes are left than asked
 * (the reader does not advance then). */
int rd_u8(struct rd *r, uint8_t *v);
int rd_u16(struct rd *r, uint16_t *v);
int rd_u32(struct rd *r, uint32_t *v);
int rd_u64(struct rd *r, uint64_t *v);
int rd_bytes(struct rd *r, void *out, size_t n);
/* A u32-length-prefixed blob; *p points into the reader's memory. */
int rd_blob(struct rd *r, const uint8_t **p, size_t *n);
/* A blob as a new NUL-terminated string the caller frees. -ERANGE when
 * longer than max, -EBADMSG when it holds a NUL byte, -ENOMEM. */
int rd_str(struct rd *r, char **out, size_t max);
/* 0 when every byte was read, -EBADMSG when trailing bytes are left. */
int rd_end(const struct rd *r);

#endif
