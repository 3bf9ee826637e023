/*
 * test_proto — payload layouts: CONFIG round trip and bounds, the reply
 * envelope, key/value lists, and the fs attribute and path codecs.
 *
 *   make build/tests/test_proto && build/tests/test_proto --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "fsproto.h"
#include "proto.h"

Test(proto, config_round_trips_every_field)
{
	struct proto_config c = { .id = 1234, .nparents = 3, .parents = { 0, 7, 99 },
				  .log_level = 2, .compress = 1, .keepalive_ms = 15000 };
	strcpy(c.name, "web1/root");
	struct buf b;
	buf_init(&b);
	cr_assert_eq(proto_config_encode(&b, &c), 0);
	struct proto_config d;
	cr_assert_eq(proto_config_decode(b.data, b.len, &d), 0);
	cr_expect_eq(d.id, 1234);
	cr_expect_eq(d.nparents, 3);
	cr_expect_eq(d.parents[2], 99);
	cr_expect_str_eq(d.name, "web1/root");
	cr_expect_eq(d.log_level, 2);
	cr_expect_eq(d.compress, 1);
	cr_expect_eq(d.keepalive_ms, 15000);
	/* Every truncation is refused, as is a trailing byte. */
	for (size_t n = 0; n < b.len; n++)
		cr_expect_neq(proto_config_decode(b.data, n, &d), 0, "accepted %zu of %zu bytes", n, b.len);
	buf_put_u8(&b, 0);
	cr_expect_eq(proto_config_decode(b.data, b.len, &d), -EBADMSG);
	buf_free(&b);
}

Test(proto, config_refuses_no_parents_and_too_many)
{
	uint8_t p[8] = { 0, 0, 0, 1, 0, 0, 0, 0 }; /* id 1, nparents 0 */
	struct proto_config d;
	cr_expect_eq(proto_config_decode(p, sizeof(p), &d), -ERANGE);
	be32_put(p + 4, 65);
	cr_expect_eq(proto_config_decode(p, sizeof(p), &d), -ERANGE);
}

Test(proto, reply_envelope_carries_errno_and_text)
{
	struct buf b;
	buf_init(&b);
	cr_assert_eq(proto_reply_err(&b, -ENOENT, "no such thing"), 0);
	buf_put_u32(&b, 42); /* a body after it */
	struct rd r;
	uint32_t err;
	const char *t;
	size_t tl;
	rd_init(&r, b.data, b.len);
	cr_assert_eq(proto_reply_read(&r, &err, &t, &tl), 0);
	cr_expect_eq(err, ENOENT);
	cr_expect_eq(tl, strlen("no such thing"));
	cr_expect_eq(memcmp(t, "no such thing", tl), 0);
	uint32_t body;
	cr_expect_eq(rd_u32(&r, &body), 0);
	cr_expect_eq(body, 42);
	rd_init(&r, b.data, 6); /* cut inside the text's length */
	cr_expect_eq(proto_reply_read(&r, &err, &t, &tl), -EBADMSG);
	buf_free(&b);
}

Test(proto, kv_list_is_bounded)
{
	struct buf b;
	buf_init(&b);
	buf_put_u32(&b, 2);
	buf_put_str(&b, "user");
	buf_put_str(&b, "root");
	buf_put_str(&b, "port");
	buf_put_str(&b, "22");
	struct rd r;
	struct proto_kv *kv;
	size_t n;
	rd_init(&r, b.data, b.len);
	cr_assert_eq(proto_kv_read(&r, &kv, &n), 0);
	cr_expect_eq(n, 2);
	cr_expect_str_eq(proto_kv_get(kv, n, "port"), "22");
	cr_expect_null(proto_kv_get(kv, n, "host"));
	proto_kv_free(kv, n);
	b.len = 0;
	buf_put_u32(&b, PROTO_MAX_KV + 1);
	rd_init(&r, b.data, b.len);
	cr_expect_eq(proto_kv_read(&r, &kv, &n), -ERANGE);
	b.len = 0;
	buf_put_u32(&b, 1);
	buf_put_str(&b, "only a key");
	rd_init(&r, b.data, b.len);
	cr_expect_eq(proto_kv_read(&r, &kv, &n), -EBADMSG);
	buf_free(&b);
}

Test(fsproto, attr_round_trips_with_nanoseconds)
{
	struct stat st;
	cr_assert_eq(stat("/", &st), 0);
	struct fs_attr a, z;
	fs_attr_from_stat(&a, &st);
	struct buf b;
	buf_init(&b);
	cr_assert_eq(fs_attr_put(&b, &a), 0);
	cr_expect_eq(b.len, FS_ATTR_LEN);
	struct rd r;
	rd_init(&r, b.data, b.len);
	cr_assert_eq(fs_attr_get(&r, &z), 0);
	struct stat back;
	fs_attr_to_stat(&z, &back);
	cr_expect_eq(back.st_ino, st.st_ino);
	cr_expect_eq(back.st_mode, st.st_mode);
	cr_expect_eq(back.st_mtim.tv_sec, st.st_mtim.tv_sec);
	cr_expect_eq(back.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
	/* A nanosecond field of a billion or more is malformed. */
	be32_put(b.data + 60, 1000000000u);
	rd_init(&r, b.data, b.len);
	cr_expect_eq(fs_attr_get(&r, &z), -EBADMSG);
	buf_free(&b);
}

Test(fsproto, paths_must_be_absolute_and_bounded)
{
	struct buf b;
	struct rd r;
	int err = 0;
	buf_init(&b);
	buf_put_str(&b, "relative/path");
	rd_init(&r, b.data, b.len);
	cr_expect_null(fs_path_get(&r, &err));
	cr_expect_eq(err, -EINVAL);
	b.len = 0;
	char *longp = malloc(FS_MAX_PATH + 2);
	memset(longp, 'a', FS_MAX_PATH + 1);
	longp[0] = '/';
	longp[FS_MAX_PATH + 1] = 0;
	buf_put_str(&b, longp);
	rd_init(&r, b.data, b.len);
	cr_expect_null(fs_path_get(&r, &err));
	cr_expect_eq(err, -ENAMETOOLONG);
	b.len = 0;
	buf_put_str(&b, "/etc/hostname");
	rd_init(&r, b.data, b.len);
	char *p = fs_path_get(&r, &err);
	cr_expect_str_eq(p, "/etc/hostname");
	free(p);
	free(longp);
	buf_free(&b);
	cr_expect_eq(proto_errno(ENOENT), ENOENT);
	cr_expect_eq(proto_errno(0), EIO);
	cr_expect_eq(proto_errno(70000), EIO);
	/* ERESTARTSYS and the other kernel-internal codes: a FUSE reply
	 * with one is refused, and its caller would hang in D state. */
	cr_expect_eq(proto_errno(512), EIO);
	cr_expect_eq(proto_errno(134), EIO);
	cr_expect_eq(proto_errno(133), 133);
	cr_expect_eq(proto_errno(0x0300), EIO);
}
