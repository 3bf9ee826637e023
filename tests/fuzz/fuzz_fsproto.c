/*
 * fuzz_fsproto — core/buf.c's readers and core/fsproto.c's attr and path
 * decoders, called in sequences the input chooses, the way the daemon
 * reads the stub's replies (fs/remotefs*.c: envelope, u32 fh, attr,
 * readdir's name + attr entries) and the stub reads requests
 * (stub/svc_fs*.c: paths, u32/u64 arguments, blobs).
 *
 * Input: u8 k, then k script bytes (low nibble: the reader, high nibble:
 * its argument), then the payload they read. Each read is checked
 * against a reference decoding of the same bytes: value, return code,
 * and where the reader is left (unmoved on a failed read, as buf.h
 * promises). An attr that decodes encodes back to its 100 bytes; a path
 * is NUL-terminated, absolute and at most FS_MAX_PATH long; a SETCRED's
 * credentials that decode encode back to the bytes they came from.
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "fsproto.h"
#include "proto.h"

#include "fuzz.h"

enum {
	OP_U8, OP_U16, OP_U32, OP_U64, OP_BYTES, OP_BLOB, OP_STR, OP_ATTR,
	OP_PATH, OP_END, OP_ENVELOPE, OP_DIRENT, OP_CRED,
};

/* Big-endian value of p[0..n), n <= 8. */
static uint64_t be_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void check_int(struct rd *r, int width)
{
	size_t off = r->off;
	uint8_t v8 = 0;
	uint16_t v16 = 0;
	uint32_t v32 = 0;
	uint64_t v = 0;
	int rc = width == 1 ? rd_u8(r, &v8) : width == 2 ? rd_u16(r, &v16) :
		 width == 4 ? rd_u32(r, &v32) : rd_u64(r, &v);
	v = width == 1 ? v8 : width == 2 ? v16 : width == 4 ? v32 : v;
	if (r->len - off < (size_t)width) {
		FUZZ_CHECK(rc == -EBADMSG && r->off == off);
		return;
	}
	FUZZ_CHECK(rc == 0 && r->off == off + (size_t)width);
	FUZZ_CHECK(v == be_get(r->p + off, (size_t)width));
}

static void check_bytes(struct rd *r, size_t n)
{
	size_t off = r->off;
	uint8_t out[16 * 7];
	int rc = rd_bytes(r, out, n);
	if (r->len - off < n) {
		FUZZ_CHECK(rc == -EBADMSG && r->off == off);
		return;
	}
	FUZZ_CHECK(rc == 0 && r->off == off + n);
	FUZZ_CHECK(n == 0 || memcmp(out, r->p + off, n) == 0);
}

/* What a u32-prefixed blob at r's position would be: its length in *n
 * and 0, or -EBADMSG when it does not fit. */
static int ref_blob(const struct rd *r, size_t *n)
{
	size_t left = r->len - r->off;
	if (left < 4)
		return -EBADMSG;
	*n = (size_t)be_get(r->p + r->off, 4);
	return left - 4 < *n ? -EBADMSG : 0;
}

static void check_blob(struct rd *r)
{
	size_t off = r->off, want = 0;
	const uint8_t *p = NULL;
	size_t n = 0;
	int ref = ref_blob(r, &want);
	int rc = rd_blob(r, &p, &n);
	FUZZ_CHECK(rc == ref);
	if (rc) {
		FUZZ_CHECK(r->off == off);
		return;
	}
	FUZZ_CHECK(n == want && p == r->p + off + 4 && r->off == off + 4 + n);
}

/* The reference of rd_str(max): 0, -EBADMSG or -ERANGE. */
static int ref_str(const struct rd *r, size_t max, size_t *n)
{
	int rc = ref_blob(r, n);
	if (rc)
		return rc;
	if (*n > max)
		return -ERANGE;
	return memchr(r->p + r->off + 4, 0, *n) ? -EBADMSG : 0;
}

/* A string a decoder returned: NUL-terminated right after the n bytes
 * it was made of, with none inside. */
static void check_string(const char *s, const uint8_t *from, size_t n)
{
	FUZZ_CHECK(s != NULL);
	FUZZ_CHECK(memcmp(s, from, n) == 0);
	FUZZ_CHECK(s[n] == 0 && strlen(s) == n);
}

static void check_str(struct rd *r, size_t max)
{
	size_t off = r->off, n = 0;
	int ref = ref_str(r, max, &n);
	char *s = NULL;
	int rc = rd_str(r, &s, max);
	if (rc == -ENOMEM)
		return;
	FUZZ_CHECK(rc == ref);
	if (rc) {
		FUZZ_CHECK(r->off == off && s == NULL);
		return;
	}
	FUZZ_CHECK(r->off == off + 4 + n);
	check_string(s, r->p + off + 4, n);
	free(s);
}

/* Whether the 100 bytes at p are a valid attr: atime_ns, mtime_ns and
 * ctime_ns (at offsets 60, 72, 84 of docs/protocol.md's layout) are
 * below 1e9. */
static int ref_attr_ok(const uint8_t *p)
{
	return be_get(p + 60, 4) < 1000000000u && be_get(p + 72, 4) < 1000000000u &&
	       be_get(p + 84, 4) < 1000000000u;
}

static void check_attr(struct rd *r)
{
	size_t off = r->off;
	struct fs_attr a;
	int rc = fs_attr_get(r, &a);
	FUZZ_CHECK(r->off <= r->len);
	if (r->len - off < FS_ATTR_LEN || !ref_attr_ok(r->p + off)) {
		/* The reader may have moved: a caller drops it on error. */
		FUZZ_CHECK(rc == -EBADMSG);
		return;
	}
	FUZZ_CHECK(rc == 0 && r->off == off + FS_ATTR_LEN);
	FUZZ_CHECK(a.atime_ns < 1000000000u && a.mtime_ns < 1000000000u &&
		   a.ctime_ns < 1000000000u);
	struct buf b;
	buf_init(&b);
	FUZZ_CHECK(fs_attr_put(&b, &a) == 0);
	FUZZ_CHECK(b.len == FS_ATTR_LEN);
	FUZZ_CHECK(memcmp(b.data, r->p + off, FS_ATTR_LEN) == 0);
	buf_free(&b);
}

static void check_path(struct rd *r)
{
	size_t off = r->off, n = 0;
	int ref = ref_str(r, FS_MAX_PATH, &n);
	if (ref == -ERANGE)
		ref = -ENAMETOOLONG;
	else if (!ref && (n == 0 || r->p[off + 4] != '/'))
		ref = -EINVAL;
	int err = 1;
	char *p = fs_path_get(r, &err);
	if (!p && err == -ENOMEM)
		return;
	if (ref) {
		FUZZ_CHECK(p == NULL && err == ref);
		/* A string that is not absolute was read; the others not. */
		FUZZ_CHECK(r->off == (ref == -EINVAL ? off + 4 + n : off));
		return;
	}
	FUZZ_CHECK(p != NULL && err == 1); /* err untouched on success */
	FUZZ_CHECK(r->off == off + 4 + n);
	check_string(p, r->p + off + 4, n);
	FUZZ_CHECK(p[0] == '/' && strlen(p) <= FS_MAX_PATH);
	free(p);
}

/* FS_SETCRED's argument (stub/svc_fs.c): u32 uid, gid, n, n x u32. */
static void check_cred(struct rd *r)
{
	size_t off = r->off, left = r->len - r->off;
	uint64_t n = left >= 12 ? be_get(r->p + off + 8, 4) : 0;
	int ok = left >= 12 && n <= FS_CRED_MAX_GROUPS && n * 4 <= left - 12;
	struct fs_cred c;
	int rc = fs_cred_get(r, &c);
	if (rc == -ENOMEM)
		return;
	if (!ok) {
		/* The reader may have moved: a caller drops it on error. */
		FUZZ_CHECK(rc == -EBADMSG && c.groups == NULL && c.n == 0);
		return;
	}
	FUZZ_CHECK(rc == 0 && c.n == n && r->off == off + 12 + 4 * n);
	struct buf b;
	buf_init(&b);
	FUZZ_CHECK(fs_cred_put(&b, &c) == 0);
	FUZZ_CHECK(b.len == 12 + 4 * n && memcmp(b.data, r->p + off, b.len) == 0);
	struct fs_cred d;
	FUZZ_CHECK(fs_cred_copy(&d, &c) == 0 || c.n);
	if (d.n == c.n) {
		FUZZ_CHECK(fs_cred_eq(&d, &c));
		fs_cred_free(&d);
	}
	buf_free(&b);
	fs_cred_free(&c);
}

/* The reply envelope: u32 err, str text (remotefs.c on_reply). */
static void check_envelope(struct rd *r)
{
	size_t off = r->off, tlen = 0, want = 0;
	uint32_t err = 0;
	const char *text = NULL;
	int ok = r->len - off >= 4;
	if (ok) {
		struct rd after = *r;
		after.off += 4;
		ok = ref_blob(&after, &want) == 0;
	}
	int rc = proto_reply_read(r, &err, &text, &tlen);
	if (!ok) {
		FUZZ_CHECK(rc == -EBADMSG);
		return;
	}
	FUZZ_CHECK(rc == 0 && r->off == off + 8 + want && tlen == want);
	FUZZ_CHECK(err == be_get(r->p + off, 4));
	FUZZ_CHECK((const uint8_t *)text == r->p + off + 8);
	/* An errno the kernel takes in a FUSE reply (under 512), and a real one. */
	int e = proto_errno(err);
	FUZZ_CHECK(e > 0 && e <= PROTO_ERRNO_MAX);
	FUZZ_CHECK(e == (err > 0 && err <= PROTO_ERRNO_MAX ? (int)err : EIO));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t k = fuzz_u8(&in) % 32;
	const uint8_t *script = in.p;
	if (k > in.n)
		k = in.n;
	in.p += k;
	in.n -= k;
	struct rd r;
	rd_init(&r, in.p, in.n);
	static const size_t str_max[] = { 0, 1, 255, 4096, PROTO_MAX_TEXT, SIZE_MAX };
	for (size_t i = 0; i < k; i++) {
		unsigned op = script[i] & 15, arg = script[i] >> 4;
		switch (op) {
		case OP_U8: check_int(&r, 1); break;
		case OP_U16: check_int(&r, 2); break;
		case OP_U32: check_int(&r, 4); break;
		case OP_U64: check_int(&r, 8); break;
		case OP_BYTES: check_bytes(&r, arg * 7u); break;
		case OP_BLOB: check_blob(&r); break;
		case OP_STR: check_str(&r, str_max[arg % 6]); break;
		case OP_ATTR: check_attr(&r); break;
		case OP_PATH: check_path(&r); break;
		case OP_END: FUZZ_CHECK(rd_end(&r) == (r.off == r.len ? 0 : -EBADMSG)); break;
		case OP_ENVELOPE: check_envelope(&r); break;
		case OP_DIRENT: /* readdir: str name (255), attr */
			check_str(&r, 255);
			check_attr(&r);
			break;
		case OP_CRED: check_cred(&r); break;
		default: FUZZ_CHECK(rd_left(&r) == r.len - r.off); break;
		}
		FUZZ_CHECK(r.off <= r.len && r.p == in.p && r.len == in.n);
	}
	return 0;
}
