/*
 * test_buf — the byte buffer and its bounds-checked big-endian reader.
 *
 *   make build/tests/test_buf && build/tests/test_buf --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

Test(buf, put_get_roundtrip_is_big_endian)
{
	struct buf b;
	buf_init(&b);
	cr_assert_eq(buf_put_u8(&b, 0xab), 0);
	cr_assert_eq(buf_put_u16(&b, 0x1234), 0);
	cr_assert_eq(buf_put_u32(&b, 0xdeadbeef), 0);
	cr_assert_eq(buf_put_u64(&b, 0x0102030405060708ull), 0);
	cr_assert_eq(buf_put_bytes(&b, "xyz", 3), 0);
	const uint8_t want[] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
				 1, 2, 3, 4, 5, 6, 7, 8, 'x', 'y', 'z' };
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_eq(memcmp(b.data, want, sizeof(want)), 0);

	struct rd r;
	rd_init(&r, b.data, b.len);
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	char s[3];
	cr_assert_eq(rd_u8(&r, &u8), 0);
	cr_assert_eq(rd_u16(&r, &u16), 0);
	cr_assert_eq(rd_u32(&r, &u32), 0);
	cr_assert_eq(rd_u64(&r, &u64), 0);
	cr_assert_eq(rd_bytes(&r, s, 3), 0);
	cr_assert_eq(u8, 0xab);
	cr_assert_eq(u16, 0x1234);
	cr_assert_eq(u32, 0xdeadbeef);
	cr_assert_eq(u64, 0x0102030405060708ull);
	cr_assert_eq(memcmp(s, "xyz", 3), 0);
	cr_assert_eq(rd_end(&r), 0);
	buf_free(&b);
	buf_free(&b); /* safe on an empty buffer */
}

Test(buf, raw_be_helpers_match_the_writers)
{
	uint8_t p[4];
	be32_put(p, 0x01020304);
	cr_assert_eq(p[0], 1);
	cr_assert_eq(p[3], 4);
	cr_assert_eq(be32_get(p), 0x01020304u);
	be16_put(p, 0xfffe);
	cr_assert_eq(be16_get(p), 0xfffe);
}

Test(buf, short_reads_give_ebadmsg_and_do_not_advance)
{
	const uint8_t d[3] = { 1, 2, 3 };
	struct rd r;
	rd_init(&r, d, sizeof(d));
	uint32_t u32 = 77;
	uint64_t u64;
	uint8_t out[4];
	cr_assert_eq(rd_u32(&r, &u32), -EBADMSG);
	cr_assert_eq(u32, 77);
	cr_assert_eq(rd_u64(&r, &u64), -EBADMSG);
	cr_assert_eq(rd_bytes(&r, out, 4), -EBADMSG);
	cr_assert_eq(r.off, 0);
	uint16_t u16;
	cr_assert_eq(rd_u16(&r, &u16), 0);
	cr_assert_eq(u16, 0x0102);
	cr_assert_eq(rd_u16(&r, &u16), -EBADMSG);
	cr_assert_eq(r.off, 2);
	cr_assert_eq(rd_end(&r), -EBADMSG); /* one byte left */
	uint8_t u8;
	cr_assert_eq(rd_u8(&r, &u8), 0);
	cr_assert_eq(rd_u8(&r, &u8), -EBADMSG);
	cr_assert_eq(rd_end(&r), 0);
}

Test(buf, blob_roundtrip_and_bounds)
{
	struct buf b;
	buf_init(&b);
	cr_assert_eq(buf_put_blob(&b, "hello", 5), 0);
	cr_assert_eq(buf_put_blob(&b, NULL, 0), 0);
	cr_assert_eq(b.len, 4 + 5 + 4);
	struct rd r;
	rd_init(&r, b.data, b.len);
	const uint8_t *p;
	size_t n;
	cr_assert_eq(rd_blob(&r, &p, &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(memcmp(p, "hello", 5), 0);
	cr_assert_eq(rd_blob(&r, &p, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(rd_end(&r), 0);

	/* A length that claims more than is there: fails, no advance. */
	rd_init(&r, b.data, 4 + 4);
	cr_assert_eq(rd_blob(&r, &p, &n), -EBADMSG);
	cr_assert_eq(r.off, 0);
	/* A length prefix cut short. */
	rd_init(&r, b.data, 3);
	cr_assert_eq(rd_blob(&r, &p, &n), -EBADMSG);
	cr_assert_eq(r.off, 0);
	/* 0xffffffff length on a short buffer. */
	const uint8_t huge[6] = { 0xff, 0xff, 0xff, 0xff, 'a', 'b' };
	rd_init(&r, huge, sizeof(huge));
	cr_assert_eq(rd_blob(&r, &p, &n), -EBADMSG);
	buf_free(&b);
}

Test(buf, rd_str_rejects_nul_and_over_max)
{
	struct buf b;
	buf_init(&b);
	buf_put_str(&b, "name");
	buf_put_blob(&b, "a\0b", 3);
	buf_put_str(&b, "toolong");
	struct rd r;
	rd_init(&r, b.data, b.len);
	char *s = NULL;
	cr_assert_eq(rd_str(&r, &s, 4), 0);
	cr_assert_str_eq(s, "name");
	free(s);
	size_t at = r.off;
	s = NULL;
	cr_assert_eq(rd_str(&r, &s, 100), -EBADMSG);
	cr_assert_null(s);
	cr_assert_eq(r.off, at);
	/* skip the NUL string, then over-max */
	const uint8_t *p;
	size_t n;
	rd_blob(&r, &p, &n);
	at = r.off;
	cr_assert_eq(rd_str(&r, &s, 6), -ERANGE);
	cr_assert_eq(r.off, at);
	cr_assert_eq(rd_str(&r, &s, 7), 0);
	cr_assert_str_eq(s, "toolong");
	free(s);
	cr_assert_eq(rd_end(&r), 0);
	buf_free(&b);
}

Test(buf, grows_consumes_and_steals)
{
	struct buf b;
	buf_init(&b);
	cr_assert_null(b.data);
	for (uint32_t i = 0; i < 100000; i++)
		cr_assert_eq(buf_put_u32(&b, i), 0);
	cr_assert_eq(b.len, 400000);
	cr_assert_geq(b.cap, b.len);
	buf_consume(&b, 4);
	cr_assert_eq(be32_get(b.data), 1);
	cr_assert_eq(b.len, 399996);
	buf_consume(&b, b.len + 10);
	cr_assert_eq(b.len, 0);
	buf_put_str(&b, "x");
	size_t n;
	uint8_t *p = buf_steal(&b, &n);
	cr_assert_eq(n, 5);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	free(p);
	/* A size that would overflow is refused before any allocation. */
	buf_put_u8(&b, 1);
	cr_assert_eq(buf_reserve(&b, SIZE_MAX), -ENOMEM);
	cr_assert_eq(b.len, 1);
	buf_free(&b);
}
