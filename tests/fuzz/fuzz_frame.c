/*
 * fuzz_frame — core/frame.c: the 28-byte header every frame starts with,
 * as a stream decodes it from whatever a peer sent.
 *
 * Input: the header bytes (and anything after them); bytes 28-31, when
 * present, are one more max_len to try. Checked for every prefix of the
 * input and several max_len: exactly the return code frame.h promises
 * for those bytes, an accepted length within max_len, and an accepted
 * header that encodes back to the very bytes it came from.
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "frame.h"

#include "fuzz.h"

static void check(const uint8_t *p, size_t n, uint32_t max_len)
{
	struct frame_hdr h;
	int rc = frame_hdr_decode(p, n, &h, max_len);
	if (n < FRAME_HDR_LEN) {
		FUZZ_CHECK(rc == -EAGAIN);
		return;
	}
	uint16_t magic = be16_get(p), flags = be16_get(p + 2);
	uint32_t len = be32_get(p + 24);
	if (magic != FRAME_MAGIC || (flags & ~FRAME_F_KNOWN)) {
		FUZZ_CHECK(rc == -EBADMSG);
		return;
	}
	if (len > max_len) {
		FUZZ_CHECK(rc == -EMSGSIZE);
		return;
	}
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(h.len <= max_len);
	FUZZ_CHECK(h.magic == FRAME_MAGIC);
	FUZZ_CHECK((h.flags & ~FRAME_F_KNOWN) == 0);
	uint8_t again[FRAME_HDR_LEN];
	frame_hdr_encode(&h, again);
	FUZZ_CHECK(memcmp(again, p, FRAME_HDR_LEN) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t maxes[] = { 0, 1, 4096, FRAME_MAX_LEN, UINT32_MAX, 0 };
	size_t nmax = sizeof(maxes) / sizeof(maxes[0]) - 1;
	if (size >= FRAME_HDR_LEN + 4)
		maxes[nmax++] = be32_get(data + FRAME_HDR_LEN);
	/* Every prefix up to a little past the header: a stream decodes
	 * whatever part of a header has arrived. */
	size_t upto = size < FRAME_HDR_LEN + 4 ? size : FRAME_HDR_LEN + 4;
	for (size_t k = 0; k <= upto; k++)
		for (size_t i = 0; i < nmax; i++)
			check(data, k, maxes[i]);
	for (size_t i = 0; i < nmax; i++)
		check(data, size, maxes[i]);
	return 0;
}
