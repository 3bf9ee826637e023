/*
 * fuzz_proto — core/proto.c's decoders of what a peer sends: the CONFIG
 * frame a new stub reads first (stub/main.c), and the key/value lists of
 * a spawn request (stub/svc_spawn.c) and of a SYS_INFO reply (fs/ctx.c).
 *
 * Input: u8 mode (even: CONFIG, odd: a key/value list), the payload.
 * Checked: the documented return codes; what decodes is within the
 * limits of proto.h (1-64 parents, a name of at most 255 bytes, at most
 * 64 pairs of at most 4096 bytes), its strings NUL-terminated with none
 * inside, and it encodes back to the very bytes it was read from.
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "proto.h"

#include "fuzz.h"

static void check_config(const uint8_t *p, size_t n)
{
	struct proto_config c;
	int rc = proto_config_decode(p, n, &c);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE);
	if (rc)
		return;
	FUZZ_CHECK(c.nparents >= 1 && c.nparents <= 64);
	FUZZ_CHECK(memchr(c.name, 0, sizeof(c.name)) != NULL);
	FUZZ_CHECK(strlen(c.name) <= PROTO_MAX_NAME);
	/* All of the payload is the config (trailing bytes are refused). */
	struct buf b;
	buf_init(&b);
	FUZZ_CHECK(proto_config_encode(&b, &c) == 0);
	FUZZ_CHECK(b.len == n && memcmp(b.data, p, n) == 0);
	buf_free(&b);
}

static void check_kv(const uint8_t *p, size_t n)
{
	struct rd r;
	struct proto_kv *kv = NULL;
	size_t count = 0;
	rd_init(&r, p, n);
	int rc = proto_kv_read(&r, &kv, &count);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE || rc == -ENOMEM);
	FUZZ_CHECK(r.off <= r.len);
	if (rc)
		return;
	FUZZ_CHECK(count <= PROTO_MAX_KV && kv != NULL);
	struct buf b;
	buf_init(&b);
	FUZZ_CHECK(buf_put_u32(&b, (uint32_t)count) == 0);
	for (size_t i = 0; i < count; i++) {
		FUZZ_CHECK(kv[i].key && kv[i].val);
		FUZZ_CHECK(strlen(kv[i].key) <= PROTO_MAX_TEXT && strlen(kv[i].val) <= PROTO_MAX_TEXT);
		FUZZ_CHECK(buf_put_str(&b, kv[i].key) == 0 && buf_put_str(&b, kv[i].val) == 0);
		/* proto_kv_get gives the first pair of that key. */
		size_t first = 0;
		while (strcmp(kv[first].key, kv[i].key))
			first++;
		FUZZ_CHECK(proto_kv_get(kv, count, kv[i].key) == kv[first].val);
	}
	/* What was read is what encodes back; the rest is left in r. */
	FUZZ_CHECK(b.len == r.off && memcmp(b.data, p, b.len) == 0);
	buf_free(&b);
	proto_kv_free(kv, count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	if (fuzz_u8(&in) % 2 == 0)
		check_config(in.p, in.n);
	else
		check_kv(in.p, in.n);
	return 0;
}
