/*
 * zio — one-shot zlib helpers over struct buf (see zio.h).
 *
 * For: compressing one message payload, inflating one with a hard output
 * bound, and producing the gzip'd stub image. Not for: streaming
 * compression across calls (each call is a complete deflate or gzip
 * member; a zio_def or zio_inf only keeps zlib's state between them).
 */
#include "zio.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <zlib.h>

/* zlib counts in uInt; feed it in slices so size_t inputs are safe. */
#define ZIO_SLICE ((size_t)UINT_MAX)
/* Message payloads are raw deflate (RFC 1951): no zlib header and no
 * Adler-32, which cost a sixth of the daemon's CPU in a large write and
 * as much again in the stub's inflate, to guard bytes that ssh's MAC or a
 * local pipe already carry intact. A damaged payload still fails inflate,
 * its length check or the output bound. */
#define ZIO_RAW (-15)
/* A payload is deflated as a run of members of at most this many input
 * bytes, each started afresh (deflateReset). zlib slides its 32 KiB
 * window, rewriting its 64 KiB hash chains, every 32 KiB of input past
 * the first 64 KiB; in a 1 MiB write of zeros that was three quarters of
 * deflate's time. Members that end before the first slide never pay it,
 * and lose ~4 % of size on text (the dictionary restarts). */
#define ZIO_MEMBER ((size_t)65024)

struct zio_def {
	z_stream z;
	int level;
};

struct zio_def *zio_def_new(int level)
{
	struct zio_def *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	if (level < 1 || level > 9)
		level = Z_DEFAULT_COMPRESSION;
	d->level = level;
	if (deflateInit2(&d->z, level, Z_DEFLATED, ZIO_RAW, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(d);
		return NULL;
	}
	return d;
}

void zio_def_free(struct zio_def *d)
{
	if (!d)
		return;
	deflateEnd(&d->z);
	free(d);
}

/* One complete member of in[0..n) appended to out, through z (fresh or
 * reset). */
static int run_deflate(z_stream *z, struct buf *out, const void *in, size_t n)
{
	size_t start = out->len;
	int rc = 0;
	z->avail_in = 0; /* deflateReset keeps the last input pointer */
	/* One reservation of the worst case usually means one deflate call. */
	size_t bound = deflateBound(z, n > ZIO_SLICE ? ZIO_SLICE : (uLong)n);
	if (n > ZIO_SLICE)
		bound = n + n / 1000 + 64;
	const uint8_t *p = in;
	size_t left = n;
	int zr;
	do {
		if (buf_reserve(out, bound)) {
			rc = -ENOMEM;
			break;
		}
		size_t room = out->cap - out->len;
		if (room > ZIO_SLICE)
			room = ZIO_SLICE;
		if (z->avail_in == 0 && left) {
			z->next_in = (Bytef *)p;
			z->avail_in = (uInt)(left > ZIO_SLICE ? ZIO_SLICE : left);
			p += z->avail_in;
			left -= z->avail_in;
		}
		z->next_out = out->data + out->len;
		z->avail_out = (uInt)room;
		zr = deflate(z, left ? Z_NO_FLUSH : Z_FINISH);
		out->len += room - z->avail_out;
		if (zr == Z_STREAM_ERROR) {
			rc = -EIO;
			break;
		}
		bound = 4096; /* later rounds only mop up */
	} while (zr != Z_STREAM_END);
	if (rc)
		out->len = start;
	return rc;
}

/* in[0..n) as raw members of at most ZIO_MEMBER input bytes each. */
static int run_members(z_stream *z, struct buf *out, const void *in, size_t n)
{
	size_t start = out->len;
	const uint8_t *p = in;
	for (;;) {
		size_t k = n > ZIO_MEMBER ? ZIO_MEMBER : n;
		int rc = run_deflate(z, out, p, k);
		p += k;
		n -= k;
		if (!rc && !n)
			return 0;
		if (!rc && deflateReset(z) != Z_OK)
			rc = -EIO;
		if (rc) {
			out->len = start;
			return rc;
		}
	}
}

int zio_def_run(struct zio_def *d, struct buf *out, const void *in, size_t n)
{
	if (deflateReset(&d->z) != Z_OK)
		return -EIO;
	return run_members(&d->z, out, in, n);
}

static int do_deflate(struct buf *out, const void *in, size_t n, int level, int wbits)
{
	if (level < 1 || level > 9)
		level = Z_DEFAULT_COMPRESSION;
	z_stream z = { 0 };
	if (deflateInit2(&z, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	int rc = wbits == ZIO_RAW ? run_members(&z, out, in, n) : run_deflate(&z, out, in, n);
	deflateEnd(&z);
	return rc;
}

bool zio_looks_random(const void *in, size_t n)
{
	const uint8_t *p = in;
	uint32_t count[256] = { 0 };
	uint64_t taken = 0;
	enum { BLOCKS = 16, BLOCK = 256 };
	if (n <= BLOCKS * BLOCK) {
		for (size_t i = 0; i < n; i++)
			count[p[i]]++;
		taken = n;
	} else {
		for (size_t k = 0; k < BLOCKS; k++) {
			const uint8_t *b = p + (n - BLOCK) / (BLOCKS - 1) * k;
			for (size_t i = 0; i < BLOCK; i++)
				count[b[i]]++;
		}
		taken = BLOCKS * BLOCK;
	}
	if (taken < 64)
		return false; /* too few bytes to tell */
	uint64_t same = 0; /* pairs of equal bytes, times two, plus taken */
	for (int i = 0; i < 256; i++)
		same += (uint64_t)count[i] * count[i];
	/* same / taken^2 is the chance two sampled bytes are equal (1/256
	 * for random bytes); at most 2^-7.5 (1/181) is 7.5 bits or more. */
	return same * 181 <= taken * taken;
}

int zio_deflate(struct buf *out, const void *in, size_t n, int level)
{
	return do_deflate(out, in, n, level, ZIO_RAW);
}

int zio_gzip(struct buf *out, const void *in, size_t n, int level)
{
	return do_deflate(out, in, n, level, 15 + 16);
}

static int run_inflate(z_stream *z, struct buf *out, const void *in, size_t n, size_t max,
		       bool raw);

struct zio_inf {
	z_stream z;
};

struct zio_inf *zio_inf_new(void)
{
	struct zio_inf *f = calloc(1, sizeof(*f));
	if (f && inflateInit2(&f->z, ZIO_RAW) != Z_OK) {
		free(f);
		return NULL;
	}
	return f;
}

void zio_inf_free(struct zio_inf *f)
{
	if (!f)
		return;
	inflateEnd(&f->z);
	free(f);
}

int zio_inf_run(struct zio_inf *f, struct buf *out, const void *in, size_t n, size_t max)
{
	if (inflateReset(&f->z) != Z_OK)
		return -EBADMSG;
	return run_inflate(&f->z, out, in, n, max, true);
}

/* A one-shot inflater for wbits (raw or gzip): the stub image, and
 * callers without a kept one. */
static int inflate_any(struct buf *out, const void *in, size_t n, size_t max, int wbits)
{
	z_stream z = { 0 };
	if (inflateInit2(&z, wbits) != Z_OK)
		return -ENOMEM;
	int rc = run_inflate(&z, out, in, n, max, wbits == ZIO_RAW);
	inflateEnd(&z);
	return rc;
}

int zio_inflate(struct buf *out, const void *in, size_t n, size_t max)
{
	return inflate_any(out, in, n, max, ZIO_RAW);
}

int zio_gunzip(struct buf *out, const void *in, size_t n, size_t max)
{
	return inflate_any(out, in, n, max, 15 + 16);
}

/* Appends the inflation of in[0..n) through z (fresh or reset), at most
 * max bytes; raw: members back to back (zio_deflate), else one gzip
 * member and nothing after it. */
static int run_inflate(z_stream *z, struct buf *out, const void *in, size_t n, size_t max,
		       bool raw)
{
	size_t start = out->len;
	size_t produced = 0, member_start = 0;
	int rc = 0;
	const uint8_t *p = in;
	size_t left = n;
	z->avail_in = 0; /* a reset keeps what a failed run left unread */
	/* Guess 4x the input for the first allocation, within the bound;
	 * growth is geometric after that (buf_reserve doubles). */
	size_t guess = n > max / 4 ? max : n * 4;
	if (guess < 256)
		guess = 256;
	for (;;) {
		if (z->avail_in == 0 && left) {
			z->next_in = (Bytef *)p;
			z->avail_in = (uInt)(left > ZIO_SLICE ? ZIO_SLICE : left);
			p += z->avail_in;
			left -= z->avail_in;
		}
		if (out->cap - out->len < 64 && buf_reserve(out, guess)) {
			rc = -ENOMEM;
			goto out;
		}
		guess = out->cap; /* double on the next growth */
		size_t room = out->cap - out->len;
		/* One byte past max is enough to prove an overflow. (Not
		 * max - produced + 1 on the right: with max SIZE_MAX, no
		 * bound, that wraps to 0 and inflate never moves.) room is
		 * at least 64 here. */
		if (room - 1 > max - produced)
			room = max - produced + 1;
		if (room > ZIO_SLICE)
			room = ZIO_SLICE;
		z->next_out = out->data + out->len;
		z->avail_out = (uInt)room;
		int zr = inflate(z, Z_NO_FLUSH);
		size_t got = room - z->avail_out;
		out->len += got;
		produced += got;
		if (produced > max) {
			rc = -EMSGSIZE;
			goto out;
		}
		if (zr == Z_STREAM_END) {
			if (!z->avail_in && !left)
				goto out;
			/* More input: the next raw member (zio_deflate), or,
			 * after a gzip member, trailing garbage. An empty
			 * member is never made, and a run of them would cost
			 * a reset per two bytes. */
			if (!raw || produced == member_start) {
				rc = -EBADMSG;
				goto out;
			}
			if (inflateReset(z) != Z_OK) {
				rc = -EBADMSG;
				goto out;
			}
			member_start = produced;
			continue;
		}
		if (zr == Z_MEM_ERROR) {
			rc = -ENOMEM;
			goto out;
		}
		if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR || zr == Z_STREAM_ERROR) {
			rc = -EBADMSG;
			goto out;
		}
		/* Z_BUF_ERROR or Z_OK with nothing consumed and nothing produced
		 * while the input is used up: the stream is truncated. */
		if (z->avail_in == 0 && !left && got == 0) {
			rc = -EBADMSG;
			goto out;
		}
	}
out:
	if (rc)
		out->len = start;
	return rc;
}
