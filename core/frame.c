/* frame — header encode/decode and message allocation. */
#include "frame.h"
#include "buf.h"

#include <errno.h>
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

void msg_free(struct msg *m)
{
	if (!m)
		return;
	free(m->data);
	free(m);
}
