/*
 * test_frame — the 28-byte header: roundtrip, short header, bad magic,
 * unknown flags, oversize; and message allocation.
 *
 *   make build/tests/test_frame && build/tests/test_frame --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"

static const struct frame_hdr sample = {
	.flags = FRAME_F_ZLIB,
	.dst_id = 0x01020304,
	.src_id = 5,
	.auth_id = 6,
	.handle = 110,
	.reply_to = 1001,
	.len = 4096,
};

Test(frame, encode_decode_roundtrip_preserves_every_field)
{
	uint8_t w[FRAME_HDR_LEN];
	frame_hdr_encode(&sample, w);
	cr_assert_eq(w[0], 0x4d);
	cr_assert_eq(w[1], 0x49);
	cr_assert_eq(be32_get(w + 4), 0x01020304u); /* big-endian dst */
	struct frame_hdr h;
	cr_assert_eq(frame_hdr_decode(w, sizeof(w), &h, FRAME_MAX_LEN), 0);
	cr_assert_eq(h.magic, FRAME_MAGIC);
	cr_assert_eq(h.flags, sample.flags);
	cr_assert_eq(h.dst_id, sample.dst_id);
	cr_assert_eq(h.src_id, sample.src_id);
	cr_assert_eq(h.auth_id, sample.auth_id);
	cr_assert_eq(h.handle, sample.handle);
	cr_assert_eq(h.reply_to, sample.reply_to);
	cr_assert_eq(h.len, sample.len);
}

Test(frame, encode_forces_the_magic)
{
	struct frame_hdr in = sample;
	in.magic = 0x1111;
	uint8_t w[FRAME_HDR_LEN];
	frame_hdr_encode(&in, w);
	cr_assert_eq(be16_get(w), FRAME_MAGIC);
}

Test(frame, short_header_is_eagain)
{
	uint8_t w[FRAME_HDR_LEN];
	frame_hdr_encode(&sample, w);
	struct frame_hdr h;
	for (size_t n = 0; n < FRAME_HDR_LEN; n++)
		cr_assert_eq(frame_hdr_decode(w, n, &h, FRAME_MAX_LEN), -EAGAIN);
}

Test(frame, bad_magic_is_ebadmsg)
{
	uint8_t w[FRAME_HDR_LEN];
	frame_hdr_encode(&sample, w);
	w[1] ^= 1;
	struct frame_hdr h;
	cr_assert_eq(frame_hdr_decode(w, sizeof(w), &h, FRAME_MAX_LEN), -EBADMSG);
}

Test(frame, unknown_flag_bit_is_ebadmsg)
{
	uint8_t w[FRAME_HDR_LEN];
	struct frame_hdr h;
	for (int bit = 1; bit < 16; bit++) {
		struct frame_hdr in = sample;
		in.flags = (uint16_t)(1u << bit);
		frame_hdr_encode(&in, w);
		cr_assert_eq(frame_hdr_decode(w, sizeof(w), &h, FRAME_MAX_LEN), -EBADMSG,
			     "flag bit %d", bit);
	}
}

Test(frame, oversize_length_is_emsgsize_and_max_itself_is_fine)
{
	uint8_t w[FRAME_HDR_LEN];
	struct frame_hdr in = sample, h;
	in.len = FRAME_MAX_LEN;
	frame_hdr_encode(&in, w);
	cr_assert_eq(frame_hdr_decode(w, sizeof(w), &h, FRAME_MAX_LEN), 0);
	in.len = FRAME_MAX_LEN + 1;
	frame_hdr_encode(&in, w);
	cr_assert_eq(frame_hdr_decode(w, sizeof(w), &h, FRAME_MAX_LEN), -EMSGSIZE);
	in.len = 0xffffffff;
	frame_hdr_encode(&in, w);
	cr_assert_eq(frame_hdr_decode(w, sizeof(w), &h, FRAME_MAX_LEN), -EMSGSIZE);
	/* A smaller caller limit applies too. */
	in.len = 101;
	frame_hdr_encode(&in, w);
	cr_assert_eq(frame_hdr_decode(w, sizeof(w), &h, 100), -EMSGSIZE);
}

Test(frame, msg_new_copies_payload_and_refuses_oversize)
{
	char data[] = "payload";
	struct msg *m = msg_new(1, 2, 3, data, 7);
	cr_assert_not_null(m);
	data[0] = 'X';
	cr_assert_eq(m->dst_id, 1);
	cr_assert_eq(m->handle, 2);
	cr_assert_eq(m->reply_to, 3);
	cr_assert_eq(m->len, 7);
	cr_assert_eq(memcmp(m->data, "payload", 7), 0);
	msg_free(m);
	m = msg_new(1, 2, 3, NULL, 0);
	cr_assert_not_null(m);
	cr_assert_eq(m->len, 0);
	msg_free(m);
	msg_free(NULL);
	errno = 0;
	cr_assert_null(msg_new(1, 2, 3, NULL, (size_t)FRAME_MAX_LEN + 1));
	cr_assert_eq(errno, EMSGSIZE);
}

Test(frame, a_spare_keeps_the_larger_buffer_up_to_its_max)
{
	struct msg_spare *sp = msg_spare_new(1000);
	cr_assert_not_null(sp);
	size_t cap = 0;
	cr_assert_null(msg_spare_take(sp, 0, &cap), "empty at first");
	struct msg *a = msg_new(1, 2, 3, NULL, 10), *b = msg_new(1, 2, 3, NULL, 20);
	struct msg *c = msg_new(1, 2, 3, NULL, 5), *big = msg_new(1, 2, 3, NULL, 2000);
	uint8_t *pb = b->data;
	msg_spare_give(a, sp, 10);
	msg_spare_give(b, sp, 20);
	msg_spare_give(c, sp, 5);
	msg_spare_give(big, sp, 2000);
	msg_free(big); /* over max: freed */
	cr_assert_null(msg_spare_take(sp, 0, &cap));
	msg_free(a); /* kept */
	msg_free(b); /* larger: kept instead of a's */
	msg_free(c); /* smaller: freed */
	cr_assert_null(msg_spare_take(sp, 21, &cap), "smaller than wanted: stays");
	cr_assert_eq(msg_spare_take(sp, 20, &cap), pb);
	cr_assert_eq(cap, 20);
	free(pb);
	/* Trimmed (its process went quiet): nothing kept any more. */
	struct msg *e = msg_new(1, 2, 3, NULL, 30);
	msg_spare_give(e, sp, 30);
	msg_free(e);
	cr_assert_eq(msg_spare_trim(sp), 30);
	cr_assert_eq(msg_spare_trim(sp), 0);
	cr_assert_null(msg_spare_take(sp, 0, &cap));
	/* Its last user gone while a message holds a buffer: the message
	 * frees it, and the spare goes with the last one (ASan's leak
	 * check). */
	struct msg *d = msg_new(1, 2, 3, "z", 1);
	msg_spare_give(d, sp, 1);
	msg_spare_hold(sp);
	msg_spare_drop(sp);
	msg_spare_drop(sp);
	msg_free(d);
}

/* A spare keeps freed message blocks: the next message made from it is
 * the same block, zeroed, with its payload room; without a spare it is
 * a plain message. */
Test(frame, a_spare_gives_a_freed_message_block_to_the_next_message)
{
	struct msg_spare *sp = msg_spare_new(1 << 20);
	struct msg *a = msg_spare_msg(sp);
	cr_assert_not_null(a);
	uint8_t *room = msg_room(a);
	cr_assert_not_null(room);
	a->data = room;
	a->len = MSG_ROOM;
	memset(room, 0xab, MSG_ROOM);
	a->handle = 7;
	msg_free(a);
	struct msg *b = msg_spare_msg(sp);
	cr_assert_eq(b, a, "the freed block was not reused");
	cr_assert_eq(b->handle, 0);
	cr_assert_null(b->data);
	/* A payload of its own (not the room) is freed with it. */
	b->data = malloc(10);
	b->len = 10;
	struct msg *plain = msg_spare_msg(NULL);
	cr_assert_null(msg_room(plain));
	msg_free(plain);
	msg_spare_drop(sp); /* b still holds sp */
	msg_free(b);
}
