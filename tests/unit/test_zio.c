/*
 * test_zio — zlib helpers: roundtrip, the inflate bound, corrupt input,
 * and gzip output that the real `gzip -dc` accepts.
 *
 *   make build/tests/test_zio && build/tests/test_zio --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "buf.h"
#include "zio.h"

static uint8_t *sample(size_t n, int random)
{
	uint8_t *p = malloc(n ? n : 1);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = random ? (uint8_t)(x >> 16) : (uint8_t)"mitofs mitogen "[i % 15];
	}
	return p;
}

static void roundtrip(size_t n, int random, int level)
{
	uint8_t *in = sample(n, random);
	struct buf z, out;
	buf_init(&z);
	buf_init(&out);
	cr_assert_eq(zio_deflate(&z, in, n, level), 0);
	if (!random && n > 1000)
		cr_assert_lt(z.len, n / 10);
	cr_assert_eq(zio_inflate(&out, z.data, z.len, n), 0);
	cr_assert_eq(out.len, n);
	if (n)
		cr_assert_eq(memcmp(out.data, in, n), 0);
	buf_free(&z);
	buf_free(&out);
	free(in);
}

Test(zio, deflate_inflate_roundtrip_at_all_sizes)
{
	size_t sizes[] = { 0, 1, 100, 4096, 65536, 1 << 20, 5 << 20 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		roundtrip(sizes[i], 0, 1);
		roundtrip(sizes[i], 1, 1);
		roundtrip(sizes[i], 0, 9);
	}
}

Test(zio, output_is_appended_after_existing_bytes)
{
	struct buf b;
	buf_init(&b);
	buf_put_bytes(&b, "head", 4);
	struct buf z;
	buf_init(&z);
	cr_assert_eq(zio_deflate(&z, "hello", 5, 6), 0);
	cr_assert_eq(zio_inflate(&b, z.data, z.len, 5), 0);
	cr_assert_eq(b.len, 9);
	cr_assert_eq(memcmp(b.data, "headhello", 9), 0);
	buf_free(&b);
	buf_free(&z);
}

Test(zio, inflate_past_max_is_emsgsize_and_leaves_out_unchanged)
{
	uint8_t *in = sample(100000, 0);
	struct buf z, out;
	buf_init(&z);
	buf_init(&out);
	cr_assert_eq(zio_deflate(&z, in, 100000, 1), 0);
	buf_put_bytes(&out, "xy", 2);
	cr_assert_eq(zio_inflate(&out, z.data, z.len, 99999), -EMSGSIZE);
	cr_assert_eq(out.len, 2);
	/* Exactly max is fine. */
	cr_assert_eq(zio_inflate(&out, z.data, z.len, 100000), 0);
	cr_assert_eq(out.len, 100002);
	buf_free(&z);
	buf_free(&out);
	free(in);
}

/* SIZE_MAX, no bound, once made the room for the first output wrap to 0
 * bytes: inflate never moved and the call spun forever (found by
 * tests/fuzz/fuzz_zio). */
Test(zio, size_max_is_no_bound_not_an_endless_loop, .timeout = 10)
{
	uint8_t *in = sample(100000, 0);
	struct buf z, out;
	buf_init(&z);
	buf_init(&out);
	cr_assert_eq(zio_deflate(&z, in, 100000, 1), 0);
	cr_assert_eq(zio_inflate(&out, z.data, z.len, SIZE_MAX), 0);
	cr_assert_eq(out.len, 100000);
	cr_assert_eq(memcmp(out.data, in, 100000), 0);
	buf_free(&z);
	buf_free(&out);
	cr_assert_eq(zio_gzip(&z, in, 100000, 9), 0);
	cr_assert_eq(zio_gunzip(&out, z.data, z.len, SIZE_MAX), 0);
	cr_assert_eq(out.len, 100000);
	buf_free(&z);
	buf_free(&out);
	free(in);
}

Test(zio, zip_bomb_is_stopped_at_the_bound)
{
	/* 64 MiB of zeros deflate to ~64 KiB; a 1 MiB bound must hold. */
	size_t n = 64u << 20;
	uint8_t *in = calloc(1, n);
	struct buf z, out;
	buf_init(&z);
	buf_init(&out);
	cr_assert_eq(zio_deflate(&z, in, n, 9), 0);
	free(in);
	cr_assert_eq(zio_inflate(&out, z.data, z.len, 1 << 20), -EMSGSIZE);
	cr_assert_leq(out.cap, 4u << 20);
	buf_free(&z);
	buf_free(&out);
}

Test(zio, corrupt_or_truncated_input_is_ebadmsg)
{
	uint8_t *in = sample(50000, 1);
	struct buf z, out;
	buf_init(&z);
	buf_init(&out);
	cr_assert_eq(zio_deflate(&z, in, 50000, 1), 0);
	/* truncated */
	cr_assert_eq(zio_inflate(&out, z.data, z.len / 2, 1 << 20), -EBADMSG);
	cr_assert_eq(out.len, 0);
	/* (Raw deflate has no checksum: a flipped byte may inflate to other
	 * bytes. The transport guards them: ssh's MAC, or a local pipe.) */
	/* not deflate at all, and empty */
	cr_assert_eq(zio_inflate(&out, "garbage!", 8, 1 << 20), -EBADMSG);
	cr_assert_eq(zio_inflate(&out, "", 0, 1 << 20), -EBADMSG);
	cr_assert_eq(out.len, 0);
	buf_free(&z);
	buf_free(&out);
	free(in);
}

Test(zio, trailing_bytes_after_the_stream_are_ebadmsg)
{
	struct buf z, out;
	buf_init(&z);
	buf_init(&out);
	cr_assert_eq(zio_deflate(&z, "abc", 3, 1), 0);
	buf_put_bytes(&z, "X", 1);
	cr_assert_eq(zio_inflate(&out, z.data, z.len, 100), -EBADMSG);
	buf_free(&z);
	buf_free(&out);
}

Test(zio, gzip_output_decodes_with_gzip_dc)
{
	size_t n = 300000;
	uint8_t *in = sample(n, 1);
	memcpy(in, "MITOFS", 6);
	struct buf g;
	buf_init(&g);
	cr_assert_eq(zio_gzip(&g, in, n, 9), 0);
	cr_assert_geq(g.len, 18);
	cr_assert_eq(g.data[0], 0x1f);
	cr_assert_eq(g.data[1], 0x8b);

	char gz[] = "/tmp/test_zio_XXXXXX";
	int fd = mkstemp(gz);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, g.data, g.len), (ssize_t)g.len);
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "gzip -dc < %s", gz);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	uint8_t *out = malloc(n + 1);
	size_t got = fread(out, 1, n + 1, f);
	cr_assert_eq(pclose(f), 0);
	unlink(gz);
	cr_assert_eq(got, n);
	cr_assert_eq(memcmp(out, in, n), 0);
	free(out);
	free(in);
	buf_free(&g);
}

/* What zio_looks_random calls random is what deflate cannot shrink, and
 * what it lets through is what deflate does shrink: checked against
 * deflate itself, on real random bytes (/dev/urandom), deflated data,
 * text, zeros and 4-bit data, small and large. */
static uint8_t *urandom(size_t n)
{
	uint8_t *p = malloc(n);
	FILE *f = fopen("/dev/urandom", "rb");
	cr_assert(p && f);
	cr_assert_eq(fread(p, 1, n, f), n);
	fclose(f);
	return p;
}

static double deflated_ratio(const uint8_t *p, size_t n)
{
	struct buf z;
	buf_init(&z);
	cr_assert_eq(zio_deflate(&z, p, n, 1), 0);
	double r = (double)z.len / (double)n;
	buf_free(&z);
	return r;
}

Test(zio, looks_random_agrees_with_deflate)
{
	static const size_t sizes[] = { 4096, 4200, 65536, 1u << 20 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		uint8_t *rnd = urandom(n);
		cr_expect(zio_looks_random(rnd, n), "random, %zu bytes", n);
		cr_expect_geq(deflated_ratio(rnd, n), 0.99);

		struct buf z; /* a compressed file is random too */
		buf_init(&z);
		uint8_t *text = malloc(n);
		static const char words[] = "the quick brown fox jumps over the lazy dog; ";
		for (size_t k = 0; k < n; k++)
			text[k] = (uint8_t)words[(k * 7 + k / 13) % (sizeof(words) - 1)];
		cr_expect_not(zio_looks_random(text, n), "text, %zu bytes", n);
		cr_expect_lt(deflated_ratio(text, n), 0.5);

		uint8_t *nib = urandom(n);
		for (size_t k = 0; k < n; k++)
			nib[k] &= 0x0f;
		cr_expect_not(zio_looks_random(nib, n), "4-bit data, %zu bytes", n);
		cr_expect_lt(deflated_ratio(nib, n), 0.7);

		uint8_t *zero = calloc(1, n);
		cr_expect_not(zio_looks_random(zero, n), "zeros, %zu bytes", n);

		cr_assert_eq(zio_deflate(&z, nib, n, 9), 0);
		cr_expect(zio_looks_random(z.data, z.len), "deflated 4-bit data, %zu bytes", z.len);
		buf_free(&z);
		free(rnd);
		free(text);
		free(nib);
		free(zero);
	}
	cr_expect_not(zio_looks_random("abc", 3), "too short to tell");
}

/* A payload is a run of members of at most 65024 input bytes, so that
 * zlib never slides its window (zio.c). */
Test(zio, a_large_payload_is_members_of_at_most_65024_bytes)
{
	size_t n = 1 << 20;
	uint8_t *in = calloc(1, n);
	struct buf z;
	buf_init(&z);
	cr_assert_eq(zio_deflate(&z, in, n, 1), 0);
	/* Inflate the first member alone, with zlib itself. */
	z_stream s = { 0 };
	cr_assert_eq(inflateInit2(&s, -15), Z_OK);
	uint8_t *out = malloc(n);
	s.next_in = z.data;
	s.avail_in = (uInt)z.len;
	s.next_out = out;
	s.avail_out = (uInt)n;
	cr_assert_eq(inflate(&s, Z_NO_FLUSH), Z_STREAM_END);
	cr_assert_eq(n - s.avail_out, 65024);
	cr_assert_gt(s.avail_in, 0, "more members follow");
	inflateEnd(&s);
	free(out);
	buf_free(&z);
	free(in);
}

Test(zio, members_back_to_back_inflate_to_their_concatenation)
{
	struct buf a, e, b, cat, out;
	buf_init(&a);
	buf_init(&e);
	buf_init(&b);
	buf_init(&cat);
	buf_init(&out);
	cr_assert_eq(zio_deflate(&a, "abc", 3, 1), 0);
	cr_assert_eq(zio_deflate(&e, "", 0, 1), 0);
	cr_assert_eq(zio_deflate(&b, "def", 3, 1), 0);
	buf_put_bytes(&cat, a.data, a.len);
	buf_put_bytes(&cat, b.data, b.len);
	cr_assert_eq(zio_inflate(&out, cat.data, cat.len, 100), 0);
	cr_assert_eq(out.len, 6);
	cr_assert_eq(memcmp(out.data, "abcdef", 6), 0);
	/* An empty member with more after it is refused, not looped over. */
	cat.len = 0;
	out.len = 0;
	buf_put_bytes(&cat, a.data, a.len);
	buf_put_bytes(&cat, e.data, e.len);
	buf_put_bytes(&cat, b.data, b.len);
	cr_assert_eq(zio_inflate(&out, cat.data, cat.len, 100), -EBADMSG);
	cr_assert_eq(out.len, 0);
	buf_free(&a);
	buf_free(&e);
	buf_free(&b);
	buf_free(&cat);
	buf_free(&out);
}

/* A kept inflater (the streams' zio_inf) gives each payload what a fresh
 * one would, however many came before it and whatever they were: after a
 * corrupt one, after one over the bound, and with payloads of several
 * members. */
Test(zio, a_kept_inflater_inflates_each_payload_as_a_fresh_one_would)
{
	struct zio_inf *f = zio_inf_new();
	cr_assert_not_null(f);
	size_t sizes[] = { 3, 70000, 200000, 1 };
	struct buf z, out;
	buf_init(&z);
	buf_init(&out);
	for (int round = 0; round < 2; round++) {
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			size_t n = sizes[k];
			uint8_t *in = sample(n, (int)k & 1);
			z.len = out.len = 0;
			cr_assert_eq(zio_deflate(&z, in, n, 1), 0);
			cr_assert_eq(zio_inf_run(f, &out, z.data, z.len, n), 0);
			cr_assert_eq(out.len, n);
			cr_assert_eq(memcmp(out.data, in, n), 0);
			/* Over the bound, then corrupt: each fails alone. */
			out.len = 0;
			if (n > 1)
				cr_assert_eq(zio_inf_run(f, &out, z.data, z.len, n - 1), -EMSGSIZE);
			z.data[z.len / 2] ^= 0xff;
			z.data[0] ^= 0xff;
			out.len = 0;
			int rc = zio_inf_run(f, &out, z.data, z.len, n);
			cr_assert(rc == -EBADMSG || (rc == 0 && (out.len != n || memcmp(out.data, in, n))),
				  "corrupt payload inflated to the original");
			free(in);
		}
	}
	buf_free(&z);
	buf_free(&out);
	zio_inf_free(f);
	zio_inf_free(NULL);
}
