/* ring — chunked byte store with head- or tail-keeping caps, spilling to
 * a spool past a small window (ring.h). */
#include "ring.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

#define CHUNK_MIN (4u << 10)
#define CHUNK_MAX (1u << 20)
#define MARK_ROOM 128 /* the cap's marker line fits in this */

/* A run of the stream's bytes: in memory, or in a spool block. */
struct chunk {
	uint64_t off;  /* absolute offset of its first byte */
	size_t len, cap;
	uint8_t *data; /* NULL: in spool block blk */
	uint32_t blk;
};

struct ring {
	struct chunk *ch;    /* in offset order, each right after the one before */
	size_t nch, ach;
	uint64_t start, end; /* absolute offsets */
	uint64_t kept;       /* end - start */
	size_t cap;
	uint64_t dropped;
	enum ring_policy policy;
	bool marked;         /* KEEP_HEAD: the marker was written, the rest is dropped */
	struct spool *sp;    /* KEEP_HEAD: where bytes past the window go, or NULL */
	bool spilled;        /* new bytes go to the spool */
	int cut;             /* why the stream was cut before its cap (-errno), or 0 */
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

struct ring *ring_new_spooled(size_t cap, struct spool *sp)
{
	struct ring *r = ring_new(cap, RING_KEEP_HEAD);
	if (r)
		r->sp = sp;
	return r;
}

/* Frees c's memory or gives back its block. */
static void chunk_release(struct ring *r, struct chunk *c)
{
	if (c->data) {
		free(c->data);
		if (r->sp)
			spool_mem_add(r->sp, -(ssize_t)c->cap);
	} else {
		spool_block_free(r->sp, c->blk, c->len);
	}
}

void ring_free(struct ring *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nch; i++)
		chunk_release(r, &r->ch[i]);
	free(r->ch);
	free(r);
}

uint64_t ring_start(const struct ring *r) { return r->start; }
uint64_t ring_end(const struct ring *r) { return r->end; }
uint64_t ring_dropped(const struct ring *r) { return r->dropped; }

/* A new, empty chunk at the end, at offset end; NULL on ENOMEM. */
static struct chunk *chunk_push(struct ring *r)
{
	if (r->nch == r->ach) {
		size_t na = r->ach ? r->ach * 2 : 8;
		struct chunk *nc = realloc(r->ch, na * sizeof(*nc));
		if (!nc)
			return NULL;
		r->ch = nc;
		r->ach = na;
	}
	struct chunk *c = &r->ch[r->nch++];
	memset(c, 0, sizeof(*c));
	c->off = r->end;
	return c;
}

static void advance(struct ring *r, struct chunk *c, size_t k)
{
	c->len += k;
	r->end += k;
	r->kept += k;
}

/* Appends to memory chunks, without the policy. */
static int put_mem(struct ring *r, const uint8_t *p, size_t n)
{
	while (n) {
		struct chunk *c = r->nch ? &r->ch[r->nch - 1] : NULL;
		if (!c || !c->data || c->len == c->cap) {
			/* Chunks grow with the stream: small outputs stay small,
			 * and a spooled ring's never pass its window. */
			size_t want = c && c->data ? c->cap * 2 : CHUNK_MIN;
			if (want > CHUNK_MAX)
				want = CHUNK_MAX;
			if (r->sp && !r->spilled && r->kept < RING_WINDOW && want > RING_WINDOW - r->kept)
				want = (size_t)(RING_WINDOW - r->kept);
			uint8_t *data = malloc(want);
			if (!data || !(c = chunk_push(r))) {
				free(data);
				return -ENOMEM;
			}
			c->data = data;
			c->cap = want;
			if (r->sp)
				spool_mem_add(r->sp, (ssize_t)want);
		}
		size_t k = c->cap - c->len < n ? c->cap - c->len : n;
		memcpy(c->data + c->len, p, k);
		advance(r, c, k);
		p += k;
		n -= k;
	}
	return 0;
}

/* Appends to spool blocks: 0, or the spool's -errno (what was written
 * before it stays). */
static int put_spool(struct ring *r, const uint8_t *p, size_t n)
{
	while (n) {
		struct chunk *c = r->nch ? &r->ch[r->nch - 1] : NULL;
		if (!c || c->data || c->len == c->cap) {
			uint32_t blk;
			int rc = spool_block_new(r->sp, &blk);
			if (rc)
				return rc;
			if (!(c = chunk_push(r))) {
				spool_block_free(r->sp, blk, 0);
				return -ENOMEM;
			}
			c->blk = blk;
			c->cap = SPOOL_BLOCK;
		}
		size_t want = c->cap - c->len < n ? c->cap - c->len : n;
		ssize_t k = spool_write(r->sp, c->blk, c->len, p, want);
		if (k < 0) {
			if (c->len == 0) { /* never leave an empty chunk */
				spool_block_free(r->sp, c->blk, 0);
				r->nch--;
			}
			return (int)k;
		}
		advance(r, c, (size_t)k);
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Moves r's bytes from memory into the spool; on failure they stay in
 * memory, untouched, and the spool's -errno is returned. */
static int spill(struct ring *r)
{
	struct chunk *old = r->ch;
	size_t nold = r->nch, aold = r->ach;
	uint64_t end = r->end, kept = r->kept;
	r->ch = NULL;
	r->nch = r->ach = 0;
	r->end = r->start;
	r->kept = 0;
	int rc = 0;
	for (size_t i = 0; i < nold && !rc; i++)
		rc = put_spool(r, old[i].data, old[i].len);
	struct chunk *drop = old;
	size_t ndrop = nold;
	if (rc) {
		drop = r->ch;
		ndrop = r->nch;
		r->ch = old;
		r->nch = nold;
		r->ach = aold;
		r->end = end;
		r->kept = kept;
	}
	for (size_t i = 0; i < ndrop; i++)
		chunk_release(r, &drop[i]);
	free(drop);
	if (!rc)
		r->spilled = true;
	return rc;
}

/* Stores p[0..n) where it belongs; *stored says how much went in. */
static int store(struct ring *r, const uint8_t *p, size_t n, size_t *stored)
{
	uint64_t before = r->end;
	int rc;
	if (!r->sp || (!r->spilled && r->kept + n <= RING_WINDOW && !spool_mem_full(r->sp)))
		rc = put_mem(r, p, n);
	else if (r->spilled || !(rc = spill(r)))
		rc = put_spool(r, p, n);
	*stored = (size_t)(r->end - before);
	return rc;
}

void ring_cut_reason(const struct ring *r, char *buf, size_t len)
{
	if (!r->marked)
		snprintf(buf, len, "%s", "");
	else if (!r->cut)
		snprintf(buf, len, "output cap of %zu bytes reached", r->cap);
	else if (r->cut == -EDQUOT)
		snprintf(buf, len, "output budget of %" PRIu64 " bytes (-o output_budget) reached",
			 spool_budget(r->sp));
	else if (r->cut == -ENOMEM)
		snprintf(buf, len, "out of memory");
	else
		snprintf(buf, len, "output spool: %s", strerror(-r->cut));
}

/* The marker line, once; kept in memory so that a spool that refused
 * still shows it. */
static void mark(struct ring *r, int cut)
{
	char why[160], m[200];
	r->cut = cut;
	r->marked = true;
	ring_cut_reason(r, why, sizeof(why));
	int len = snprintf(m, sizeof(m), "\n[mitofs: %s; the rest is dropped]\n", why);
	put_mem(r, (const uint8_t *)m, (size_t)len);
}

/* KEEP_TAIL: frees whole chunks from the front while over the cap. */
static void trim(struct ring *r)
{
	size_t k = 0;
	while (r->kept > r->cap && r->nch - k > 1) {
		struct chunk *c = &r->ch[k++];
		r->kept -= c->len;
		r->dropped += c->len;
		chunk_release(r, c);
	}
	if (k) {
		memmove(r->ch, r->ch + k, (r->nch - k) * sizeof(*r->ch));
		r->nch -= k;
		r->start = r->ch[0].off;
	}
}

int ring_append(struct ring *r, const void *p, size_t n)
{
	if (r->policy == RING_KEEP_TAIL) {
		int rc = put_mem(r, p, n);
		trim(r);
		return rc;
	}
	if (r->marked) {
		r->dropped += n;
		return 0;
	}
	/* KEEP_HEAD: keep room for the marker inside the cap. */
	size_t room = r->kept + MARK_ROOM < r->cap ? r->cap - MARK_ROOM - (size_t)r->kept : 0;
	size_t k = n < room ? n : room, stored = 0;
	int rc = k ? store(r, p, k, &stored) : 0;
	if (rc) {
		r->dropped += n - stored;
		mark(r, rc);
		return rc;
	}
	if (k < n) {
		r->dropped += n - k;
		mark(r, 0);
	}
	return 0;
}

/* The index of the chunk holding off, or nch. */
static size_t find(const struct ring *r, uint64_t off)
{
	size_t lo = 0, hi = r->nch;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->ch[mid].off + r->ch[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int ring_iov(const struct ring *r, uint64_t off, size_t n, struct iovec *iov, int maxiov,
	     size_t *got)
{
	int cnt = 0;
	*got = 0;
	if (off < r->start)
		off = r->start;
	for (size_t i = find(r, off); i < r->nch && n && cnt < maxiov; i++) {
		const struct chunk *c = &r->ch[i];
		if (!c->data)
			break;
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

ssize_t ring_read(const struct ring *r, uint64_t off, void *buf, size_t n)
{
	size_t done = 0;
	if (off < r->start)
		off = r->start;
	for (size_t i = find(r, off); i < r->nch && done < n; i++) {
		const struct chunk *c = &r->ch[i];
		size_t at = (size_t)(off - c->off);
		size_t k = c->len - at < n - done ? c->len - at : n - done;
		if (c->data) {
			memcpy((uint8_t *)buf + done, c->data + at, k);
		} else {
			int rc = spool_read(r->sp, c->blk, at, (uint8_t *)buf + done, k);
			if (rc)
				return done ? (ssize_t)done : rc;
		}
		done += k;
		off += k;
	}
	return (ssize_t)done;
}
