/* ring — chunked byte store with head- or tail-keeping caps (ring.h). */
#include "ring.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN (4u << 10)
#define CHUNK_MAX (1u << 20)

struct chunk {
	struct chunk *next;
	uint64_t off; /* absolute offset of data[0] */
	size_t len, cap;
	uint8_t data[];
};

struct ring {
	struct chunk *head, *tail;
	uint64_t start, end; /* absolute offsets */
	size_t kept;         /* end - start */
	size_t cap;
	uint64_t dropped;
	enum ring_policy policy;
	bool marked; /* KEEP_HEAD: the truncation marker was written */
};

struct ring *ring_new(size_t cap, enum ring_policy policy)
{
	struct ring *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cap = cap < 4096 ? 4096 : cap;
	r->policy = policy;
	return r;
}

void ring_free(struct ring *r)
{
	if (!r)
		return;
	for (struct chunk *c = r->head, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(r);
}

uint64_t ring_start(const struct ring *r) { return r->start; }
uint64_t ring_end(const struct ring *r) { return r->end; }
uint64_t ring_dropped(const struct ring *r) { return r->dropped; }

/* Appends without applying the policy. */
static int put(struct ring *r, const uint8_t *p, size_t n)
{
	while (n) {
		struct chunk *c = r->tail;
		if (!c || c->len == c->cap) {
			/* Chunks grow with the stream: small outputs stay small. */
			size_t want = c ? c->cap * 2 : CHUNK_MIN;
			if (want > CHUNK_MAX)
				want = CHUNK_MAX;
			struct chunk *nc = malloc(sizeof(*nc) + want);
			if (!nc)
				return -ENOMEM;
			nc->next = NULL;
			nc->off = r->end;
			nc->len = 0;
			nc->cap = want;
			if (c)
				c->next = nc;
			else
				r->head = nc;
			r->tail = c = nc;
		}
		size_t k = c->cap - c->len < n ? c->cap - c->len : n;
		memcpy(c->data + c->len, p, k);
		c->len += k;
		r->end += k;
		r->kept += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* KEEP_TAIL: frees whole chunks from the front while over the cap. */
static void trim(struct ring *r)
{
	while (r->kept > r->cap && r->head && r->head != r->tail) {
		struct chunk *c = r->head;
		r->head = c->next;
		r->kept -= c->len;
		r->dropped += c->len;
		r->start = r->head->off;
		free(c);
	}
}

int ring_append(struct ring *r, const void *p, size_t n)
{
	if (r->policy == RING_KEEP_TAIL) {
		int rc = put(r, p, n);
		trim(r);
		return rc;
	}
	/* KEEP_HEAD: keep room for the marker inside the cap. */
	size_t room = r->kept + 128 < r->cap ? r->cap - 128 - r->kept : 0;
	if (r->marked)
		room = 0;
	size_t k = n < room ? n : room;
	int rc = put(r, p, k);
	if (rc)
		return rc;
	if (k < n) {
		r->dropped += n - k;
		if (!r->marked) {
			char m[128];
			int len = snprintf(m, sizeof(m),
					   "\n[mitofs: output cap of %zu bytes reached; the rest is dropped]\n",
					   r->cap);
			r->marked = true;
			return put(r, (const uint8_t *)m, (size_t)len);
		}
	}
	return 0;
}

int ring_iov(const struct ring *r, uint64_t off, size_t n, struct iovec *iov,
	     int maxiov, size_t *got)
{
	int cnt = 0;
	*got = 0;
	if (off < r->start)
		off = r->start;
	for (struct chunk *c = r->head; c && n && cnt < maxiov; c = c->next) {
		if (off >= c->off + c->len)
			continue;
		size_t at = (size_t)(off - c->off);
		size_t k = c->len - at < n ? c->len - at : n;
		iov[cnt].iov_base = c->data + at;
		iov[cnt].iov_len = k;
		cnt++;
		*got += k;
		off += k;
		n -= k;
	}
	return cnt;
}
