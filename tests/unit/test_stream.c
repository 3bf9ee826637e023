/*
 * test_stream — framed streams over socketpairs and pipes: integrity,
 * compression, fragmentation, protocol errors, hello, backpressure and
 * freeing from inside callbacks.
 *
 *   make build/tests/test_stream && build/tests/test_stream --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buf.h"
#include "frame.h"
#include "loop.h"
#include "stream.h"
#include "zio.h"

struct rx {
	struct msg *got[64];
	int ngot;
	int closed;
	int err;
	char why[64];
	int drained;
	int hello;
	int free_in_msg;  /* stream_free from on_msg */
	int free_in_close; /* stream_free from on_close */
	int pause_in_msg;
	int close_in_msg;
};

static void rx_msg(struct stream *s, struct msg *m, void *arg)
{
	struct rx *r = arg;
	if (r->ngot < 64)
		r->got[r->ngot++] = m;
	else
		msg_free(m);
	if (r->pause_in_msg)
		stream_pause(s, true);
	if (r->close_in_msg)
		stream_close(s, ECANCELED, "consumer said so");
	if (r->free_in_msg)
		stream_free(s);
}

static void rx_close(struct stream *s, int err, const char *why, void *arg)
{
	struct rx *r = arg;
	r->closed++;
	r->err = err;
	snprintf(r->why, sizeof(r->why), "%s", why);
	if (r->free_in_close)
		stream_free(s);
}

static void rx_drain(struct stream *s, void *arg)
{
	(void)s;
	((struct rx *)arg)->drained++;
}

static void rx_hello(struct stream *s, void *arg)
{
	(void)s;
	((struct rx *)arg)->hello++;
}

static const struct stream_ops rx_ops = {
	.on_msg = rx_msg,
	.on_close = rx_close,
	.on_drain = rx_drain,
	.on_hello = rx_hello,
};

static void rx_free(struct rx *r)
{
	for (int i = 0; i < r->ngot; i++)
		msg_free(r->got[i]);
	r->ngot = 0;
}

/* Runs the loop until *cond is at least want or 5 s pass. */
static void run_until(struct loop *l, const int *cond, int want)
{
	uint64_t end = loop_now_ms() + 5000;
	while (*cond < want && loop_now_ms() < end)
		loop_once(l, 50);
}

static void pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static struct msg *pattern_msg(uint32_t len, uint32_t seed)
{
	struct msg *m = msg_new(7, 1000 + seed, 2000 + seed, NULL, len);
	cr_assert_not_null(m);
	m->src_id = 3;
	m->auth_id = 4;
	uint32_t x = seed * 2654435761u + 1;
	for (uint32_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		m->data[i] = (uint8_t)(x >> 16);
	}
	return m;
}

static void assert_same(const struct msg *a, const struct msg *b)
{
	cr_assert_eq(a->dst_id, b->dst_id);
	cr_assert_eq(a->src_id, b->src_id);
	cr_assert_eq(a->auth_id, b->auth_id);
	cr_assert_eq(a->handle, b->handle);
	cr_assert_eq(a->reply_to, b->reply_to);
	cr_assert_eq(a->len, b->len);
	if (a->len)
		cr_assert_eq(memcmp(a->data, b->data, a->len), 0);
}

static void raw_hdr(uint8_t out[FRAME_HDR_LEN], uint16_t magic, uint16_t flags, uint32_t len)
{
	struct frame_hdr h = { .flags = flags, .dst_id = 1, .handle = 2, .len = len };
	frame_hdr_encode(&h, out);
	be16_put(out, magic);
}

Test(stream, frames_cross_socketpair_intact_including_16MiB)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx a = { 0 }, b = { 0 };
	struct stream *sa = stream_new(l, sv[0], sv[0], &rx_ops, &a);
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	cr_assert(sa && sb);
	uint32_t sizes[] = { 0, 1, 27, 28, 1000, 65536, 300000, 16u << 20, 5 };
	int n = sizeof(sizes) / sizeof(sizes[0]);
	struct msg *sent[16];
	for (int i = 0; i < n; i++) {
		sent[i] = pattern_msg(sizes[i], (uint32_t)i);
		cr_assert_eq(stream_send(sa, sent[i]), 0);
	}
	run_until(l, &b.ngot, n);
	cr_assert_eq(b.ngot, n);
	for (int i = 0; i < n; i++)
		assert_same(sent[i], b.got[i]);
	struct stream_stats st;
	stream_get_stats(sa, &st);
	cr_assert_eq(st.msgs_out, (uint64_t)n);
	stream_get_stats(sb, &st);
	cr_assert_eq(st.msgs_in, (uint64_t)n);
	cr_assert_eq(a.closed + b.closed, 0);
	for (int i = 0; i < n; i++)
		msg_free(sent[i]);
	rx_free(&b);
	stream_free(sa);
	stream_free(sb);
	loop_free(l);
}

Test(stream, frames_cross_two_pipes_intact)
{
	int p1[2], p2[2];
	cr_assert_eq(pipe(p1), 0);
	cr_assert_eq(pipe(p2), 0);
	struct loop *l = loop_new();
	struct rx a = { 0 }, b = { 0 };
	/* a reads p2, writes p1; b reads p1, writes p2 */
	struct stream *sa = stream_new(l, p2[0], p1[1], &rx_ops, &a);
	struct stream *sb = stream_new(l, p1[0], p2[1], &rx_ops, &b);
	cr_assert(sa && sb);
	struct msg *m1 = pattern_msg(1 << 20, 1), *m2 = pattern_msg(10, 2);
	cr_assert_eq(stream_send(sa, m1), 0);
	cr_assert_eq(stream_send(sb, m2), 0);
	run_until(l, &b.ngot, 1);
	run_until(l, &a.ngot, 1);
	assert_same(m1, b.got[0]);
	assert_same(m2, a.got[0]);
	stream_free(sa);
	run_until(l, &b.closed, 1);
	cr_assert_eq(b.closed, 1);
	cr_assert_eq(b.err, 0);
	msg_free(m1);
	msg_free(m2);
	rx_free(&a);
	rx_free(&b);
	stream_free(sb);
	loop_free(l);
}

Test(stream, compressed_payloads_are_flagged_smaller_and_arrive_inflated)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx a = { 0 }, b = { 0 };
	struct stream *sa = stream_new(l, sv[0], sv[0], &rx_ops, &a);
	stream_set_compress(sa, true);
	struct msg *m = msg_new(1, 2, 3, NULL, 1 << 20);
	memset(m->data, 'x', m->len);
	cr_assert_eq(stream_send(sa, m), 0);
	/* Look at the wire: a compressed frame, much smaller than 1 MiB. */
	uint8_t hdr[FRAME_HDR_LEN];
	cr_assert_eq(read(sv[1], hdr, sizeof(hdr)), FRAME_HDR_LEN);
	struct frame_hdr h;
	cr_assert_eq(frame_hdr_decode(hdr, sizeof(hdr), &h, FRAME_MAX_LEN), 0);
	cr_assert(h.flags & FRAME_F_ZLIB);
	cr_assert_lt(h.len, 1u << 16);
	uint8_t *z = malloc(h.len);
	size_t got = 0;
	while (got < h.len) {
		ssize_t r = read(sv[1], z + got, h.len - got);
		cr_assert_gt(r, 0);
		got += (size_t)r;
	}
	struct buf out;
	buf_init(&out);
	cr_assert_eq(zio_inflate(&out, z, h.len, FRAME_MAX_LEN), 0);
	cr_assert_eq(out.len, m->len);
	cr_assert_eq(memcmp(out.data, m->data, m->len), 0);
	buf_free(&out);
	free(z);

	/* Now through a receiving stream, plus an incompressible payload
	 * (sent plain) and a small one (below the threshold). */
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	struct msg *r = pattern_msg(100000, 9), *s = pattern_msg(100, 1);
	/* Low-entropy 8 MiB: still megabytes once compressed, so the
	 * compressed payload spans many reads. */
	struct msg *q = pattern_msg(8u << 20, 4);
	for (uint32_t i = 0; i < q->len; i++)
		q->data[i] &= 0x0f;
	cr_assert_eq(stream_send(sa, m), 0);
	cr_assert_eq(stream_send(sa, r), 0);
	cr_assert_eq(stream_send(sa, s), 0);
	cr_assert_eq(stream_send(sa, q), 0);
	run_until(l, &b.ngot, 4);
	cr_assert_eq(b.ngot, 4);
	assert_same(m, b.got[0]);
	assert_same(r, b.got[1]);
	assert_same(s, b.got[2]);
	assert_same(q, b.got[3]);
	struct stream_stats st;
	stream_get_stats(sb, &st);
	cr_assert_lt(st.bytes_in, 8u << 20); /* q went compressed */
	cr_assert_gt(st.bytes_in, 1u << 20); /* and was not tiny */
	msg_free(q);
	msg_free(m);
	msg_free(r);
	msg_free(s);
	rx_free(&b);
	stream_free(sa);
	stream_free(sb);
	loop_free(l);
}

Test(stream, fragmented_frame_written_byte_by_byte_arrives_once)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx b = { 0 };
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	struct msg *m = pattern_msg(300, 5);
	uint8_t wire[FRAME_HDR_LEN + 300];
	struct frame_hdr h = { .dst_id = m->dst_id, .src_id = m->src_id, .auth_id = m->auth_id,
			       .handle = m->handle, .reply_to = m->reply_to, .len = m->len };
	frame_hdr_encode(&h, wire);
	memcpy(wire + FRAME_HDR_LEN, m->data, m->len);
	for (size_t i = 0; i < sizeof(wire); i++) {
		cr_assert_eq(write(sv[0], wire + i, 1), 1);
		loop_once(l, 0);
		cr_assert_eq(b.ngot, i + 1 == sizeof(wire) ? 1 : 0);
	}
	loop_once(l, 10);
	cr_assert_eq(b.ngot, 1);
	assert_same(m, b.got[0]);
	msg_free(m);
	rx_free(&b);
	stream_free(sb);
	close(sv[0]);
	loop_free(l);
}

static void expect_close_after_raw(const void *raw, size_t n, int err, const char *why)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx b = { 0 };
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	cr_assert_eq(write(sv[0], raw, n), (ssize_t)n);
	run_until(l, &b.closed, 1);
	cr_assert_eq(b.closed, 1);
	cr_assert_eq(b.err, err, "err %d (%s), want %d", b.err, b.why, err);
	cr_assert_str_eq(b.why, why);
	cr_assert(stream_closed(sb));
	cr_assert_eq(b.ngot, 0);
	/* No second on_close, whatever else happens. */
	stream_close(sb, EIO, "again");
	cr_assert_eq(b.closed, 1);
	stream_free(sb);
	close(sv[0]);
	loop_free(l);
}

Test(stream, bad_magic_closes_with_ebadmsg)
{
	uint8_t h[FRAME_HDR_LEN];
	raw_hdr(h, 0x4d48, 0, 0);
	expect_close_after_raw(h, sizeof(h), EBADMSG, "bad frame header");
}

Test(stream, unknown_flag_closes_with_ebadmsg)
{
	uint8_t h[FRAME_HDR_LEN];
	raw_hdr(h, FRAME_MAGIC, 0x0002, 0);
	expect_close_after_raw(h, sizeof(h), EBADMSG, "bad frame header");
}

Test(stream, oversize_header_closes_with_emsgsize)
{
	uint8_t h[FRAME_HDR_LEN];
	raw_hdr(h, FRAME_MAGIC, 0, FRAME_MAX_LEN + 1);
	expect_close_after_raw(h, sizeof(h), EMSGSIZE, "frame too large");
}

Test(stream, corrupt_zlib_payload_closes_with_ebadmsg)
{
	uint8_t w[FRAME_HDR_LEN + 8];
	raw_hdr(w, FRAME_MAGIC, FRAME_F_ZLIB, 8);
	memcpy(w + FRAME_HDR_LEN, "notzlib!", 8);
	expect_close_after_raw(w, sizeof(w), EBADMSG, "bad zlib payload");
}

Test(stream, send_larger_than_max_is_refused_with_emsgsize)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx a = { 0 };
	struct stream *sa = stream_new(l, sv[0], sv[0], &rx_ops, &a);
	struct msg m = { .len = FRAME_MAX_LEN + 1 };
	cr_assert_eq(stream_send(sa, &m), -EMSGSIZE);
	cr_assert_eq(stream_queued(sa), 0);
	stream_free(sa);
	close(sv[1]);
	loop_free(l);
}

Test(stream, peer_close_gives_on_close_0_EOF_once)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx b = { 0 };
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	close(sv[0]);
	run_until(l, &b.closed, 1);
	cr_assert_eq(b.closed, 1);
	cr_assert_eq(b.err, 0);
	cr_assert_str_eq(b.why, "EOF");
	cr_assert_eq(stream_send_raw(sb, "x", 1), -EPIPE);
	loop_once(l, 10);
	cr_assert_eq(b.closed, 1);
	stream_free(sb);
	loop_free(l);
}

Test(stream, eof_inside_a_frame_is_an_error)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx b = { 0 };
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	uint8_t h[FRAME_HDR_LEN];
	raw_hdr(h, FRAME_MAGIC, 0, 100);
	cr_assert_eq(write(sv[0], h, sizeof(h)), FRAME_HDR_LEN);
	close(sv[0]);
	run_until(l, &b.closed, 1);
	cr_assert_eq(b.closed, 1);
	cr_assert_neq(b.err, 0);
	stream_free(sb);
	loop_free(l);
}

Test(stream, hello_token_match_calls_on_hello_then_frames_flow)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx a = { 0 }, b = { 0 };
	struct stream *sa = stream_new(l, sv[0], sv[0], &rx_ops, &a);
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	stream_expect_hello(sb, "MITOFS\0\1", 8);
	struct msg *m = pattern_msg(50, 1);
	cr_assert_eq(stream_send_raw(sa, "MITOFS\0\1", 8), 0);
	cr_assert_eq(stream_send(sa, m), 0);
	run_until(l, &b.ngot, 1);
	cr_assert_eq(b.hello, 1);
	cr_assert_eq(b.ngot, 1);
	assert_same(m, b.got[0]);
	cr_assert_eq(b.closed, 0);
	msg_free(m);
	rx_free(&a);
	rx_free(&b);
	stream_free(sa);
	stream_free(sb);
	loop_free(l);
}

Test(stream, hello_token_mismatch_closes_bad_hello)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx b = { 0 };
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	stream_expect_hello(sb, "MITOFS\0\1", 8);
	cr_assert_eq(write(sv[0], "MITOFS\0\2", 8), 8);
	run_until(l, &b.closed, 1);
	cr_assert_eq(b.closed, 1);
	cr_assert_eq(b.hello, 0);
	cr_assert_str_eq(b.why, "bad hello");
	stream_free(sb);
	close(sv[0]);
	loop_free(l);
}

Test(stream, backpressure_full_past_hwm_then_drain_when_peer_reads)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx a = { 0 };
	struct stream *sa = stream_new(l, sv[0], sv[0], &rx_ops, &a);
	struct msg *m = pattern_msg(65536, 3);
	int sent = 0;
	while (!stream_full(sa)) {
		cr_assert_eq(stream_send(sa, m), 0);
		cr_assert_lt(++sent, 10000);
		loop_once(l, 0);
	}
	cr_assert_geq(stream_queued(sa), STREAM_HWM);
	cr_assert_eq(a.drained, 0);
	/* The peer reads everything, as raw bytes. */
	size_t total = (size_t)sent * (FRAME_HDR_LEN + 65536), got = 0;
	static uint8_t sink[1 << 16];
	while (got < total) {
		ssize_t r = read(sv[1], sink, sizeof(sink));
		cr_assert_gt(r, 0);
		got += (size_t)r;
		loop_once(l, 0);
	}
	cr_assert_eq(got, total);
	cr_assert_eq(a.drained, 1);
	cr_assert_not(stream_full(sa));
	cr_assert_eq(stream_queued(sa), 0);
	msg_free(m);
	stream_free(sa);
	close(sv[1]);
	loop_free(l);
}

Test(stream, freeing_the_stream_inside_on_msg_is_safe)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx b = { .free_in_msg = 1 };
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	(void)sb;
	/* Three frames in one write: only the first may be delivered. */
	uint8_t w[3 * FRAME_HDR_LEN];
	for (int i = 0; i < 3; i++)
		raw_hdr(w + i * FRAME_HDR_LEN, FRAME_MAGIC, 0, 0);
	cr_assert_eq(write(sv[0], w, sizeof(w)), (ssize_t)sizeof(w));
	run_until(l, &b.ngot, 1);
	loop_once(l, 10);
	cr_assert_eq(b.ngot, 1);
	cr_assert_eq(b.closed, 0);
	/* Our fd was closed by the free: the peer sees EOF. */
	char c;
	cr_assert_eq(read(sv[0], &c, 1), 0);
	rx_free(&b);
	close(sv[0]);
	loop_free(l);
}

Test(stream, closing_inside_on_msg_stops_delivery_and_closes_once)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx b = { .close_in_msg = 1 };
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	uint8_t w[3 * FRAME_HDR_LEN];
	for (int i = 0; i < 3; i++)
		raw_hdr(w + i * FRAME_HDR_LEN, FRAME_MAGIC, 0, 0);
	cr_assert_eq(write(sv[0], w, sizeof(w)), (ssize_t)sizeof(w));
	run_until(l, &b.closed, 1);
	loop_once(l, 10);
	cr_assert_eq(b.ngot, 1);
	cr_assert_eq(b.closed, 1);
	cr_assert_eq(b.err, ECANCELED);
	cr_assert_str_eq(b.why, "consumer said so");
	cr_assert_eq(stream_send_raw(sb, "x", 1), -EPIPE);
	rx_free(&b);
	stream_free(sb);
	close(sv[0]);
	loop_free(l);
}

Test(stream, freeing_the_stream_inside_on_close_is_safe)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx b = { .free_in_close = 1 };
	stream_new(l, sv[1], sv[1], &rx_ops, &b);
	uint8_t h[FRAME_HDR_LEN];
	raw_hdr(h, 0, 0, 0);
	cr_assert_eq(write(sv[0], h, sizeof(h)), FRAME_HDR_LEN);
	run_until(l, &b.closed, 1);
	cr_assert_eq(b.closed, 1);
	loop_once(l, 10);
	close(sv[0]);
	loop_free(l);
}

Test(stream, pause_holds_frames_and_resume_delivers_them)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx b = { .pause_in_msg = 1 };
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	uint8_t w[3 * FRAME_HDR_LEN];
	for (int i = 0; i < 3; i++)
		raw_hdr(w + i * FRAME_HDR_LEN, FRAME_MAGIC, 0, 0);
	cr_assert_eq(write(sv[0], w, sizeof(w)), (ssize_t)sizeof(w));
	close(sv[0]); /* EOF behind the frames must wait for them */
	run_until(l, &b.ngot, 1);
	for (int i = 0; i < 5; i++)
		loop_once(l, 5);
	cr_assert_eq(b.ngot, 1);
	cr_assert_eq(b.closed, 0);
	b.pause_in_msg = 0;
	stream_pause(sb, false);
	run_until(l, &b.closed, 1);
	cr_assert_eq(b.ngot, 3);
	cr_assert_eq(b.closed, 1);
	cr_assert_eq(b.err, 0);
	rx_free(&b);
	stream_free(sb);
	loop_free(l);
}

Test(stream, write_to_dead_peer_closes_later_not_inside_send)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx a = { 0 };
	struct stream *sa = stream_new(l, sv[0], sv[0], &rx_ops, &a);
	stream_pause(sa, true); /* only the write side sees the death */
	close(sv[1]);
	int rc = stream_send_raw(sa, "hello", 5);
	cr_assert(rc == -EPIPE || rc == 0);
	cr_assert_eq(a.closed, 0);
	run_until(l, &a.closed, 1);
	cr_assert_eq(a.closed, 1);
	cr_assert(a.err == EPIPE || a.err == ECONNRESET, "err %d", a.err);
	stream_free(sa);
	loop_free(l);
}

/* --- a transport of the owner's (struct stream_io) --- */

/* A fake transport over a socket: readv first hands out bytes it "already
 * took off the fd" (held, announced only by pending(), as libssh does),
 * and writev accepts at most window bytes until more room is given (an
 * ssh window adjust that arrives with input, announced by writable()). */
struct fake_io {
	int fd;
	uint8_t held[4096];
	size_t nheld;
	size_t window;
	int closed;
	int flushes;
};

static ssize_t fio_readv(void *ctx, const struct iovec *iov, int n)
{
	struct fake_io *f = ctx;
	if (f->nheld) {
		size_t k = f->nheld < iov[0].iov_len ? f->nheld : iov[0].iov_len;
		memcpy(iov[0].iov_base, f->held, k);
		memmove(f->held, f->held + k, f->nheld - k);
		f->nheld -= k;
		return (ssize_t)k;
	}
	return readv(f->fd, iov, n);
}

static ssize_t fio_writev(void *ctx, const struct iovec *iov, int n)
{
	struct fake_io *f = ctx;
	size_t done = 0;
	for (int i = 0; i < n && f->window; i++) {
		size_t k = iov[i].iov_len < f->window ? iov[i].iov_len : f->window;
		ssize_t w = write(f->fd, iov[i].iov_base, k);
		if (w <= 0)
			break;
		done += (size_t)w;
		f->window -= (size_t)w;
		if ((size_t)w < iov[i].iov_len)
			break;
	}
	if (!done) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)done;
}

static uint32_t fio_events(void *ctx) { (void)ctx; return 0; }
static int fio_flush(void *ctx) { ((struct fake_io *)ctx)->flushes++; return 0; }
static bool fio_pending(void *ctx) { return ((struct fake_io *)ctx)->nheld > 0; }
static bool fio_writable(void *ctx) { return ((struct fake_io *)ctx)->window > 0; }

/* A transport never blocks: its fd is non-blocking. */
static void nonblocking(int fd)
{
	cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static void fio_close(void *ctx)
{
	struct fake_io *f = ctx;
	close(f->fd);
	f->closed++;
}

static const struct stream_io fake_ops = {
	.readv = fio_readv, .writev = fio_writev, .events = fio_events, .flush = fio_flush,
	.pending = fio_pending, .writable = fio_writable, .close = fio_close,
};

/* The encoded frame of m (header + payload), for writing by hand. */
static size_t encode(const struct msg *m, uint8_t *out, size_t cap)
{
	struct frame_hdr h = { .magic = FRAME_MAGIC, .dst_id = m->dst_id, .src_id = m->src_id,
			       .auth_id = m->auth_id, .handle = m->handle,
			       .reply_to = m->reply_to, .len = m->len };
	cr_assert_leq(FRAME_HDR_LEN + m->len, cap);
	frame_hdr_encode(&h, out);
	memcpy(out + FRAME_HDR_LEN, m->data, m->len);
	return FRAME_HDR_LEN + m->len;
}

Test(stream, switch_to_a_transport_keeps_unread_frames_and_reads_what_it_holds)
{
	int sv[2], tv[2];
	pair(sv);
	pair(tv);
	struct loop *l = loop_new();
	struct rx b = { 0 };
	struct stream *sb = stream_new(l, sv[1], sv[1], &rx_ops, &b);
	/* A frame on the old fd, not read yet when the switch comes. */
	struct msg *m0 = pattern_msg(300, 1), *m1 = pattern_msg(200, 2), *m2 = pattern_msg(100, 3);
	uint8_t wire[1024];
	size_t n = encode(m0, wire, sizeof(wire));
	cr_assert_eq(write(sv[0], wire, n), (ssize_t)n);
	close(sv[0]); /* the old writer has stopped */
	struct fake_io f = { .fd = tv[0], .window = 1 << 20 };
	nonblocking(tv[0]);
	/* Input the transport took off its fd already: only pending() says so. */
	f.nheld = encode(m1, f.held, sizeof(f.held));
	cr_assert_eq(stream_switch_io(sb, tv[0], &fake_ops, &f), 0);
	cr_expect_eq(b.ngot, 0, "frames are delivered from a timer, not inside the switch");
	run_until(l, &b.ngot, 2);
	cr_assert_eq(b.ngot, 2);
	assert_same(m0, b.got[0]);
	assert_same(m1, b.got[1]);
	/* Then what arrives on the transport's fd. */
	n = encode(m2, wire, sizeof(wire));
	cr_assert_eq(write(tv[1], wire, n), (ssize_t)n);
	run_until(l, &b.ngot, 3);
	cr_assert_eq(b.ngot, 3);
	assert_same(m2, b.got[2]);
	stream_free(sb);
	cr_expect_eq(f.closed, 1, "the stream closes its transport");
	close(tv[1]);
	rx_free(&b);
	msg_free(m0);
	msg_free(m1);
	msg_free(m2);
	loop_free(l);
}

Test(stream, a_transport_out_of_room_is_retried_when_it_has_room_again)
{
	int tv[2];
	pair(tv);
	struct loop *l = loop_new();
	struct rx a = { 0 }, b = { 0 };
	int dummy[2];
	pair(dummy);
	struct stream *sa = stream_new(l, dummy[0], dummy[0], &rx_ops, &a);
	struct fake_io f = { .fd = tv[0], .window = 1000 };
	nonblocking(tv[0]);
	cr_assert_eq(stream_switch_io(sa, tv[0], &fake_ops, &f), 0);
	close(dummy[1]);
	struct stream *sb = stream_new(l, tv[1], tv[1], &rx_ops, &b);
	struct msg *m = pattern_msg(50000, 5);
	cr_assert_eq(stream_send(sa, m), 0);
	/* 1000 bytes went; the rest waits for room. */
	for (int i = 0; i < 20; i++)
		loop_once(l, 10);
	cr_expect_eq(b.ngot, 0);
	cr_expect_eq(f.window, 0);
	/* Room again, as an ssh window adjust does: it comes in with input
	 * (here a message from the peer), and the stream retries then. */
	f.window = 1 << 20;
	struct msg *in = pattern_msg(10, 6);
	cr_assert_eq(stream_send(sb, in), 0);
	run_until(l, &a.ngot, 1);
	cr_assert_eq(a.ngot, 1);
	assert_same(in, a.got[0]);
	msg_free(in);
	run_until(l, &b.ngot, 1);
	cr_assert_eq(b.ngot, 1);
	assert_same(m, b.got[0]);
	msg_free(m);
	rx_free(&a);
	rx_free(&b);
	stream_free(sa);
	stream_free(sb);
	loop_free(l);
}

/* Large payloads reuse one buffer (frame.h's msg_spare): the payload of
 * a freed message is where the next large one is built, plain or
 * inflated, and never while a message still holds it. */
static struct msg *recv_one(struct loop *l, struct stream *sa, struct rx *b, struct msg *m)
{
	int want = b->ngot + 1;
	cr_assert_eq(stream_send(sa, m), 0);
	run_until(l, &b->ngot, want);
	cr_assert_eq(b->ngot, want);
	assert_same(m, b->got[want - 1]);
	return b->got[want - 1];
}

/* Two streams over a socketpair: sa sends (compressing or not), sb
 * receives and builds large payloads in the spare sp. */
struct duo {
	struct loop *l;
	struct rx a, b;
	struct stream *sa, *sb;
	struct msg_spare *sp;
};

static void duo_open(struct duo *d, bool compress)
{
	int sv[2];
	pair(sv);
	memset(d, 0, sizeof(*d));
	d->l = loop_new();
	d->sa = stream_new(d->l, sv[0], sv[0], &rx_ops, &d->a);
	d->sb = stream_new(d->l, sv[1], sv[1], &rx_ops, &d->b);
	cr_assert(d->sa && d->sb);
	stream_set_compress(d->sa, compress);
	d->sp = msg_spare_new(4u << 20);
	stream_share_spare(d->sb, d->sp);
}

/* The receiving stream and the spare go first; a message sb made still
 * holds its payload, freed with it (ASan's leak check, make test-asan). */
static void duo_close(struct duo *d)
{
	stream_free(d->sb);
	msg_spare_drop(d->sp);
	for (int i = 0; i < d->b.ngot; i++)
		msg_free(d->b.got[i]);
	stream_free(d->sa);
	loop_free(d->l);
}

/* Frees what d->b received as its message k, now. */
static void duo_free_got(struct duo *d, int k)
{
	msg_free(d->b.got[k]);
	d->b.got[k] = NULL;
}

static void spare_reuse(bool compress)
{
	struct duo d;
	duo_open(&d, compress);
	struct msg *m1 = pattern_msg(1 << 20, 1), *m2 = pattern_msg(1 << 20, 2);
	if (compress) /* compressible, unlike the pattern */
		for (uint32_t i = 0; i < m1->len; i++)
			m1->data[i] &= 0x03, m2->data[i] &= 0x03;
	struct msg *g1 = recv_one(d.l, d.sa, &d.b, m1);
	uint8_t *first = g1->data;
	/* Held: the next one gets a buffer of its own. */
	struct msg *g2 = recv_one(d.l, d.sa, &d.b, m2);
	cr_assert_neq(g2->data, first);
	/* Freed: the next one is built in its buffer. */
	duo_free_got(&d, 0);
	struct msg *g3 = recv_one(d.l, d.sa, &d.b, m1);
	cr_assert_eq(g3->data, first);
	assert_same(m1, g3);
	duo_close(&d);
	msg_free(m1);
	msg_free(m2);
}

Test(stream, a_freed_large_payload_is_the_buffer_of_the_next_one)
{
	spare_reuse(false);
}

Test(stream, a_freed_inflated_payload_is_the_buffer_of_the_next_one)
{
	spare_reuse(true);
}

/* A small inflated payload does not take the place of a large buffer:
 * the plain 1 MiB frames after it still share one. */
Test(stream, a_small_inflated_payload_does_not_push_out_the_large_buffer)
{
	struct duo d;
	duo_open(&d, true);
	struct msg *big1 = pattern_msg(1 << 20, 5), *big2 = pattern_msg(1 << 20, 6);
	struct msg *small = msg_new(1, 2, 3, NULL, 5000); /* zeros: compressed */
	recv_one(d.l, d.sa, &d.b, small); /* first, into an empty spare */
	duo_free_got(&d, 0);
	uint8_t *first = recv_one(d.l, d.sa, &d.b, big1)->data; /* plain: looks random */
	duo_free_got(&d, 1);
	cr_assert_eq(recv_one(d.l, d.sa, &d.b, big2)->data, first);
	duo_close(&d);
	msg_free(big1);
	msg_free(big2);
	msg_free(small);
}

/* Streams that share a spare share its one buffer. */
Test(stream, two_streams_sharing_a_spare_use_one_buffer)
{
	int s1[2], s2[2];
	pair(s1);
	pair(s2);
	struct loop *l = loop_new();
	struct rx a1 = { 0 }, a2 = { 0 }, b1 = { 0 }, b2 = { 0 };
	struct stream *w1 = stream_new(l, s1[0], s1[0], &rx_ops, &a1);
	struct stream *w2 = stream_new(l, s2[0], s2[0], &rx_ops, &a2);
	struct stream *r1 = stream_new(l, s1[1], s1[1], &rx_ops, &b1);
	struct stream *r2 = stream_new(l, s2[1], s2[1], &rx_ops, &b2);
	cr_assert(w1 && w2 && r1 && r2);
	struct msg_spare *sp = msg_spare_new(4u << 20);
	stream_share_spare(r1, sp);
	stream_share_spare(r2, sp);
	msg_spare_drop(sp); /* the streams hold it now */
	struct msg *m = pattern_msg(1 << 20, 7);
	struct msg *g = recv_one(l, w1, &b1, m);
	uint8_t *first = g->data;
	msg_free(g);
	b1.got[0] = NULL;
	g = recv_one(l, w2, &b2, m);
	cr_assert_eq(g->data, first);
	msg_free(g);
	b2.got[0] = NULL;
	msg_free(m);
	stream_free(w1);
	stream_free(w2);
	stream_free(r1);
	stream_free(r2);
	loop_free(l);
}

/* The stub's write queue keeps no memory of its own between bursts: once
 * a burst is sent its buffer goes to the spare, and the next burst takes
 * it from there (for musl, a new buffer was a mapping whose every page
 * faulted, 90 per MiB read). */
Test(stream, a_sent_burst_leaves_its_queue_buffer_in_the_spare_for_the_next)
{
	int sv[2];
	pair(sv);
	struct loop *l = loop_new();
	struct rx a = { 0 };
	struct stream *sa = stream_new(l, sv[0], sv[0], &rx_ops, &a);
	struct msg_spare *sp = msg_spare_new(8u << 20);
	stream_share_spare(sa, sp);
	struct msg *m = pattern_msg(1 << 20, 9);
	static uint8_t sink[1 << 16];
	for (int burst = 0; burst < 2; burst++) {
		/* The socket takes a few hundred KiB: most of 2 MiB queues. */
		cr_assert_eq(stream_send(sa, m), 0);
		cr_assert_eq(stream_send(sa, m), 0);
		cr_assert_gt(stream_queued(sa), 1u << 20);
		size_t cap = 0;
		cr_assert_null(msg_spare_take(sp, 1, &cap), "burst %d: the queue's buffer is not in use", burst);
		size_t total = 2 * (FRAME_HDR_LEN + (1u << 20)), got = 0;
		while (got < total) {
			ssize_t r = read(sv[1], sink, sizeof(sink));
			cr_assert_gt(r, 0);
			got += (size_t)r;
			loop_once(l, 0);
		}
		while (stream_queued(sa))
			loop_once(l, 0);
		uint8_t *b = msg_spare_take(sp, 1u << 20, &cap);
		cr_assert_not_null(b, "burst %d: the sent queue's buffer is not in the spare", burst);
		cr_assert_geq(cap, 1u << 20);
		msg_spare_put(sp, b, cap);
	}
	msg_free(m);
	stream_free(sa);
	msg_spare_drop(sp);
	close(sv[1]);
	loop_free(l);
}

/* --- spliced payloads (stream_splice_in, stream_send_spliced) --- */

/* A temporary regular file of n pattern bytes (the bytes of
 * pattern_msg(n, seed)); its fd, unlinked. */
static int pattern_file(uint32_t n, uint32_t seed, struct msg **copy)
{
	char path[] = "/tmp/test_stream.XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	*copy = pattern_msg(n, seed);
	cr_assert_eq(write(fd, (*copy)->data, n), (ssize_t)n);
	return fd;
}

/* The message that a spliced send of head then file[off..off+k) is. */
static struct msg *spliced_as_msg(const struct msg *head, const struct msg *file, size_t off, size_t k)
{
	struct msg *m = msg_new(head->dst_id, head->handle, head->reply_to, NULL, head->len + k);
	m->src_id = head->src_id;
	m->auth_id = head->auth_id;
	memcpy(m->data, head->data, head->len);
	memcpy(m->data + head->len, file->data + off, k);
	return m;
}

/* Spliced payloads and plain messages, queued behind a peer that does
 * not read yet, arrive whole and in the order sent: file bytes at the
 * offsets asked, the last one short at the end of the file. */
static void spliced_in_order(int rfd_a, int wfd_a, int rfd_b, int wfd_b)
{
	struct loop *l = loop_new();
	struct rx a = { 0 }, b = { 0 };
	struct stream *sa = stream_new(l, rfd_a, wfd_a, &rx_ops, &a);
	struct stream *sb = stream_new(l, rfd_b, wfd_b, &rx_ops, &b);
	cr_assert(sa && sb);
	struct msg *file;
	int fd = pattern_file((3u << 20) + 100, 21, &file);
	struct msg *want[8];
	int n = 0;
	size_t offs[] = { 0, 1u << 20, 3u << 20 };
	for (int i = 0; i < 3; i++) {
		struct msg *plain = pattern_msg(1000 + (uint32_t)i * 70000, 30 + (uint32_t)i);
		cr_assert_eq(stream_send(sa, plain), 0);
		want[n++] = plain;
		struct msg *head = pattern_msg(12, 40 + (uint32_t)i);
		ssize_t k = stream_splice_in(sa, fd, offs[i], 1u << 20);
		cr_assert_eq(k, i < 2 ? (ssize_t)(1u << 20) : 100, "splice_in %d: %zd", i, k);
		cr_assert_eq(stream_send_spliced(sa, head, (size_t)k), 0);
		want[n++] = spliced_as_msg(head, file, offs[i], (size_t)k);
		msg_free(head);
	}
	cr_assert_gt(stream_queued(sa), 0, "nothing queued: the test does not test the queue");
	struct msg *last = pattern_msg(5, 50);
	cr_assert_eq(stream_send(sa, last), 0);
	want[n++] = last;
	run_until(l, &b.ngot, n);
	cr_assert_eq(b.ngot, n);
	for (int i = 0; i < n; i++) {
		assert_same(want[i], b.got[i]);
		msg_free(want[i]);
	}
	cr_assert_eq(stream_queued(sa), 0);
	cr_assert_eq(a.closed + b.closed, 0);
	msg_free(file);
	close(fd);
	rx_free(&b);
	stream_free(sa);
	stream_free(sb);
	loop_free(l);
}

Test(stream, spliced_payloads_cross_a_socketpair_whole_and_in_order)
{
	int sv[2];
	pair(sv);
	spliced_in_order(sv[0], sv[0], sv[1], sv[1]);
}

Test(stream, spliced_payloads_cross_two_pipes_whole_and_in_order)
{
	int p1[2], p2[2];
	cr_assert_eq(pipe(p1), 0);
	cr_assert_eq(pipe(p2), 0);
	spliced_in_order(p2[0], p1[1], p1[0], p2[1]);
}

/* Where splicing does not apply the caller is told so, and the stream
 * goes on as before: more pages than a pipe holds, a file splice does
 * not take, a payload spliced in that is dropped rather than sent. */
Test(stream, splice_refusals_leave_the_stream_usable)
{
	struct duo d;
	duo_open(&d, false);
	struct stream *sa = d.sa;
	struct msg *file;
	int fd = pattern_file(3u << 20, 22, &file);
	/* 1 MiB from an odd offset spans 257 pages. */
	cr_assert_eq(stream_splice_in(sa, fd, 1, 1u << 20), -ENOTSUP);
	char path[] = "/tmp/test_stream.XXXXXX";
	int wo = mkstemp(path);
	cr_assert_geq(wo, 0);
	cr_assert_eq(write(wo, "x", 1), 1);
	int wronly = open(path, O_WRONLY);
	unlink(path);
	close(wo);
	cr_assert_lt(stream_splice_in(sa, wronly, 0, 1u << 16), 0, "spliced from a write-only fd");
	struct msg *head = pattern_msg(3, 60);
	cr_assert_eq(stream_send_spliced(sa, head, 1), -EINVAL, "sent with nothing spliced in");
	cr_assert_eq(stream_splice_in(sa, fd, 4096, 8192), 8192);
	stream_splice_drop(sa);
	cr_assert_eq(stream_send_spliced(sa, head, 8192), -EINVAL, "sent a dropped payload");
	cr_assert_eq(stream_splice_in(sa, fd, 8192, 4096), 4096);
	cr_assert_eq(stream_send_spliced(sa, head, 4096), 0);
	run_until(d.l, &d.b.ngot, 1);
	cr_assert_eq(d.b.ngot, 1);
	struct msg *want = spliced_as_msg(head, file, 8192, 4096);
	assert_same(want, d.b.got[0]);
	msg_free(want);
	msg_free(head);
	msg_free(file);
	close(fd);
	close(wronly);
	duo_close(&d);
}
