/* buf — growable byte buffer and bounds-checked big-endian reader. */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

int buf_reserve(struct buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len)
		return -ENOMEM;
	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

uint8_t *buf_steal(struct buf *b, size_t *len)
{
	uint8_t *p = b->data;
	if (len)
		*len = b->len;
	buf_init(b);
	return p;
}

int buf_put_bytes(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int buf_put_u8(struct buf *b, uint8_t v) { return buf_put_bytes(b, &v, 1); }

int buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t t[2];
	be16_put(t, v);
	return buf_put_bytes(b, t, 2);
}

int buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t t[4];
	be32_put(t, v);
	return buf_put_bytes(b, t, 4);
}

int buf_put_u64(struct buf *b, uint64_t v)
{
	uint8_t t[8];
	be32_put(t, (uint32_t)(v >> 32));
	be32_put(t + 4, (uint32_t)v);
	return buf_put_bytes(b, t, 8);
}

int buf_put_blob(struct buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX)
		return -ERANGE;
	int rc = buf_reserve(b, 4 + n);
	if (rc)
		return rc;
	buf_put_u32(b, (uint32_t)n);
	return buf_put_bytes(b, p, n);
}

int buf_put_str(struct buf *b, const char *s)
{
	return buf_put_blob(b, s, strlen(s));
}

void rd_init(struct rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

int rd_bytes(struct rd *r, void *out, size_t n)
{
	if (rd_left(r) < n)
		return -EBADMSG;
	if (n)
		memcpy(out, r->p + r->off, n);
	r->off += n;
	return 0;
}

int rd_u8(struct rd *r, uint8_t *v) { return rd_bytes(r, v, 1); }

int rd_u16(struct rd *r, uint16_t *v)
{
	uint8_t t[2];
	int rc = rd_bytes(r, t, 2);
	if (!rc)
		*v = be16_get(t);
	return rc;
}

int rd_u32(struct rd *r, uint32_t *v)
{
	uint8_t t[4];
	int rc = rd_bytes(r, t, 4);
	if (!rc)
		*v = be32_get(t);
	return rc;
}

int rd_u64(struct rd *r, uint64_t *v)
{
	uint8_t t[8];
	int rc = rd_bytes(r, t, 8);
	if (!rc)
		*v = (uint64_t)be32_get(t) << 32 | be32_get(t + 4);
	return rc;
}

int rd_blob(struct rd *r, const uint8_t **p, size_t *n)
{
	size_t save = r->off;
	uint32_t len;
	if (rd_u32(r, &len))
		return -EBADMSG;
	if (rd_left(r) < len) {
		r->off = save;
		return -EBADMSG;
	}
	*p = r->p + r->off;
	*n = len;
	r->off += len;
	return 0;
}

int rd_str(struct rd *r, char **out, size_t max)
{
	size_t save = r->off;
	const uint8_t *p;
	size_t n;
	int rc = rd_blob(r, &p, &n);
	if (rc)
		return rc;
	rc = n > max ? -ERANGE : memchr(p, 0, n) ? -EBADMSG : 0;
	if (rc) {
		r->off = save;
		return rc;
	}
	char *s = malloc(n + 1);
	if (!s) {
		r->off = save;
		return -ENOMEM;
	}
	memcpy(s, p, n);
	s[n] = 0;
	*out = s;
	return 0;
}

int rd_end(const struct rd *r)
{
	return rd_left(r) ? -EBADMSG : 0;
}
