/*
 * fuzz_zio — core/zio.c: inflating what a peer sends (raw deflate members
 * back to back, under a bound) and gunzipping an image, plus a round trip
 * that deflates the input and must get it back byte for byte.
 *
 * Input: u8 mode, then
 *   mode 0 (inflate) / 1 (gunzip): u8 bound, u16 small bound, the data;
 *   mode 2 (round trip): u16 split, u8 level, the data;
 *   mode 3 (round trip over a member boundary): the data, repeated.
 * Checked: the return codes zio.h promises, out untouched on failure and
 * appended to on success, the bound exact (max = what came out passes,
 * one byte less is EMSGSIZE), and deflate/inflate losslessness.
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "frame.h"
#include "zio.h"

#include "fuzz.h"

/* Bytes put in out before a call: a result is appended after them. */
static const char prefix[] = "prefix";

typedef int inflate_fn(struct buf *, const void *, size_t, size_t);

/* One call with bound max; returns its rc and leaves the output in *got
 * (without the prefix), which the caller frees. */
static int run_bounded(inflate_fn *fn, const uint8_t *p, size_t n, size_t max, struct buf *got)
{
	struct buf out;
	buf_init(&out);
	FUZZ_CHECK(buf_put_bytes(&out, prefix, sizeof(prefix)) == 0);
	int rc = fn(&out, p, n, max);
	FUZZ_CHECK(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG || rc == -ENOMEM);
	FUZZ_CHECK(out.len >= sizeof(prefix));
	FUZZ_CHECK(memcmp(out.data, prefix, sizeof(prefix)) == 0);
	if (rc)
		FUZZ_CHECK(out.len == sizeof(prefix));
	else
		FUZZ_CHECK(out.len - sizeof(prefix) <= max);
	buf_init(got);
	FUZZ_CHECK(buf_put_bytes(got, out.data + sizeof(prefix), out.len - sizeof(prefix)) == 0);
	buf_free(&out);
	return rc;
}

static void check_inflate(inflate_fn *fn, struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in);
	size_t small = fuzz_u16(in);
	/* Small bounds most of the time (where the bound check matters),
	 * and the real ones, and no bound at all. */
	static const size_t bounds[] = { 0, 1, 4096, FRAME_MAX_LEN, SIZE_MAX };
	size_t max = sel < 0x80 ? small : bounds[sel % (sizeof(bounds) / sizeof(bounds[0]))];
	struct buf got, again;
	int rc = run_bounded(fn, in->p, in->n, max, &got);
	if (rc == 0) {
		/* The bound is exact: what came out fits in max = its size,
		 * and one byte less is refused, with nothing appended. */
		FUZZ_CHECK(run_bounded(fn, in->p, in->n, got.len, &again) == 0);
		FUZZ_CHECK(again.len == got.len);
		FUZZ_CHECK(got.len == 0 || memcmp(again.data, got.data, got.len) == 0);
		buf_free(&again);
		if (got.len) {
			FUZZ_CHECK(run_bounded(fn, in->p, in->n, got.len - 1, &again) == -EMSGSIZE);
			buf_free(&again);
		}
	}
	buf_free(&got);
}

/* zio_deflate at level, or a kept deflater (as a stream uses it), and
 * back: the same bytes. The deflated form is appended to z. */
static void roundtrip(const uint8_t *p, size_t n, int level, struct zio_def *d, struct buf *z)
{
	size_t start = z->len;
	int rc = d ? zio_def_run(d, z, p, n) : zio_deflate(z, p, n, level);
	FUZZ_CHECK(rc == 0);
	struct buf out;
	buf_init(&out);
	FUZZ_CHECK(zio_inflate(&out, z->data + start, z->len - start, n) == 0);
	FUZZ_CHECK(out.len == n);
	FUZZ_CHECK(n == 0 || memcmp(out.data, p, n) == 0);
	buf_free(&out);
}

static void check_roundtrip(struct fuzz_in *in, size_t split, int level)
{
	/* One deflater for the whole run, as a stream keeps one for all
	 * its messages: nothing of a message may leak into the next. */
	static struct zio_def *kept;
	if (!kept)
		kept = zio_def_new(1);
	FUZZ_CHECK(kept != NULL);
	if (split > in->n)
		split = in->n;
	struct buf z;
	buf_init(&z);
	roundtrip(in->p, split, level, NULL, &z);
	roundtrip(in->p + split, in->n - split, 0, kept, &z);
	/* Two messages' members back to back inflate to both, unless the
	 * first is empty: an empty member with more after it is refused. */
	struct buf out;
	int rc = run_bounded(zio_inflate, z.data, z.len, in->n, &out);
	if (split == 0) {
		FUZZ_CHECK(rc == -EBADMSG);
	} else {
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(out.len == in->n);
		FUZZ_CHECK(memcmp(out.data, in->p, in->n) == 0);
	}
	buf_free(&out);
	/* The gzip form of the same bytes gunzips back. */
	buf_free(&z);
	buf_init(&z);
	FUZZ_CHECK(zio_gzip(&z, in->p, in->n, level) == 0);
	FUZZ_CHECK(run_bounded(zio_gunzip, z.data, z.len, in->n, &out) == 0);
	FUZZ_CHECK(out.len == in->n);
	FUZZ_CHECK(in->n == 0 || memcmp(out.data, in->p, in->n) == 0);
	buf_free(&out);
	buf_free(&z);
	(void)zio_looks_random(in->p, in->n);
}

/* The input repeated past one member (65024 bytes), so a payload spans
 * two or three members, as a large write does. */
static void check_members(struct fuzz_in *in)
{
	if (!in->n)
		return;
	size_t n = 65024 + (size_t)in->p[0] * 257;
	uint8_t *big = malloc(n);
	FUZZ_CHECK(big != NULL);
	for (size_t i = 0; i < n; i++)
		big[i] = in->p[i % in->n];
	struct fuzz_in all = { big, n };
	check_roundtrip(&all, n / 2 + 1, 1);
	free(big);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t mode = fuzz_u8(&in);
	switch (mode % 4) {
	case 0:
		check_inflate(zio_inflate, &in);
		break;
	case 1:
		check_inflate(zio_gunzip, &in);
		break;
	case 2: {
		size_t split = fuzz_u16(&in);
		int level = fuzz_u8(&in) % 10; /* 0: out of range, the default */
		check_roundtrip(&in, split, level);
		break;
	}
	default:
		check_members(&in);
		break;
	}
	return 0;
}
