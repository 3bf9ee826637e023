/* frame — header encode/decode and message allocation. */
#include "frame.h"
#include "buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void frame_hdr_encode(const struct frame_hdr *h, uint8_t out[FRAME_HDR_LEN])
{
	be16_put(out + 0, FRAME_MAGIC);
	be16_put(out + 2, h->flags);
	be32_put(out + 4, h->dst_id);
	be32_put(out + 8, h->src_id);
	be32_put(out + 12, h->auth_id);
	be32_put(out + 16, h->handle);
	be32_put(out + 20, h->reply_to);
	be32_put(out + 24, h->len);
}

int frame_hdr_decode(const uint8_t *in, size_t n, struct frame_hdr *h, uint32_t max_len)
{
	if (n < FRAME_HDR_LEN)
		return -EAGAIN;
	h->magic = be16_get(in + 0);
	h->flags = be16_get(in + 2);
	h->dst_id = be32_get(in + 4);
	h->src_id = be32_get(in + 8);
	h->auth_id = be32_get(in + 12);
	h->handle = be32_get(in + 16);
	h->reply_to = be32_get(in + 20);
	h->len = be32_get(in + 24);
	if (h->magic != FRAME_MAGIC || (h->flags & ~FRAME_F_KNOWN))
		return -EBADMSG;
	if (h->len > max_len)
		return -EMSGSIZE;
	return 0;
}

struct msg *msg_new(uint32_t dst, uint32_t handle, uint32_t reply_to,
		    const void *data, size_t len)
{
	if (len > FRAME_MAX_LEN) {
		errno = EMSGSIZE;
		return NULL;
	}
	struct msg *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->dst_id = dst;
	m->handle = handle;
	m->reply_to = reply_to;
	m->len = (uint32_t)len;
	if (len) {
		m->data = malloc(len);
		if (!m->data) {
			free(m);
			return NULL;
		}
		if (data)
			memcpy(m->data, data, len);
	}
	return m;
}

/* Blocks kept at most: about what a burst of pipelined requests holds
 * at once. */
#define SPARE_BLOCKS 16

struct msg_block {
	struct msg m;
	uint8_t room[MSG_ROOM];
};

struct msg_spare {
	unsigned refs;  /* users, plus one per message holding a buffer or block */
	unsigned users; /* streams (and the creator) that build in it */
	uint8_t *buf;
	size_t cap, max;
	struct msg_block *blocks[SPARE_BLOCKS]; /* freed message blocks */
	unsigned nblocks;
};

/* Frees the kept blocks. */
static void blocks_free(struct msg_spare *sp)
{
	while (sp->nblocks)
		free(sp->blocks[--sp->nblocks]);
}

struct msg_spare *msg_spare_new(size_t max)
{
	struct msg_spare *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->refs = sp->users = 1;
	sp->max = max;
	return sp;
}

void msg_spare_hold(struct msg_spare *sp)
{
	sp->refs++;
	sp->users++;
}

static void spare_unref(struct msg_spare *sp)
{
	if (--sp->refs)
		return;
	free(sp->buf);
	blocks_free(sp);
	free(sp);
}

void msg_spare_drop(struct msg_spare *sp)
{
	if (!sp)
		return;
	if (--sp->users == 0) {
		free(sp->buf);
		sp->buf = NULL;
		blocks_free(sp);
	}
	spare_unref(sp);
}

uint8_t *msg_spare_take(struct msg_spare *sp, size_t want, size_t *cap)
{
	if (!sp || !sp->buf || sp->cap < want)
		return NULL;
	uint8_t *b = sp->buf;
	*cap = sp->cap;
	sp->buf = NULL;
	return b;
}

void msg_spare_give(struct msg *m, struct msg_spare *sp, size_t cap)
{
	if (!m->spare) {
		m->spare = sp;
		sp->refs++;
	}
	m->cap = cap;
}

struct msg *msg_spare_msg(struct msg_spare *sp)
{
	if (!sp)
		return calloc(1, sizeof(struct msg));
	struct msg_block *b = sp->nblocks ? sp->blocks[--sp->nblocks] : malloc(sizeof(*b));
	if (!b)
		return NULL;
	memset(&b->m, 0, sizeof(b->m));
	b->m.spare = sp;
	b->m.pooled = true;
	sp->refs++;
	return &b->m;
}

uint8_t *msg_room(struct msg *m)
{
	return m->pooled ? ((struct msg_block *)m)->room : NULL;
}

size_t msg_spare_trim(struct msg_spare *sp)
{
	if (sp)
		blocks_free(sp);
	if (!sp || !sp->buf)
		return 0;
	size_t n = sp->cap;
	free(sp->buf);
	sp->buf = NULL;
	sp->cap = 0;
	return n;
}

void msg_spare_put(struct msg_spare *sp, uint8_t *b, size_t cap)
{
	if (!sp || !sp->users || !b || cap > sp->max || (sp->buf && sp->cap >= cap)) {
		free(b);
		return;
	}
	free(sp->buf);
	sp->buf = b;
	sp->cap = cap;
}

void msg_free(struct msg *m)
{
	if (!m)
		return;
	struct msg_spare *sp = m->spare;
	if (!sp) {
		free(m->data);
		free(m);
		return;
	}
	if (m->data != msg_room(m)) {
		if (m->cap)
			msg_spare_put(sp, m->data, m->cap);
		else
			free(m->data);
	}
	if (m->pooled && sp->users && sp->nblocks < SPARE_BLOCKS)
		sp->blocks[sp->nblocks++] = (struct msg_block *)m;
	else
		free(m);
	spare_unref(sp);
}
