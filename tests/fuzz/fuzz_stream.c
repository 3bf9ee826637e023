/*
 * fuzz_stream — core/stream.c reading what a peer sent: the bytes go
 * through a real socketpair, in chunks the input chooses, and the stream
 * cuts them into frames, inflates compressed payloads and delivers
 * messages, as the daemon's and the stub's streams do off every wire.
 *
 * Input: u8 flags (bit 0: a hello token is expected first; bit 1: a
 * spare payload buffer is shared, as in the stub), u16 chunk size (0:
 * all at once), then the peer's bytes. Checked against a reference read
 * of the same bytes (frame_hdr_decode, zio_inflate): the stream delivers
 * exactly the whole, valid frames before the first bad or cut one, with
 * their header fields and plain payloads, in order; then it closes once,
 * with "EOF" after whole frames and another reason otherwise. Payloads
 * of 64 KiB and more are built in the spare when one is shared: the
 * seed big-plain and make fuzz's -max_len for this target reach them.
 * ASan (make fuzz, make test-asan's replay) checks the memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "frame.h"
#include "loop.h"
#include "stream.h"
#include "zio.h"

#include "fuzz.h"

static const uint8_t HELLO[8] = { 'M', 'I', 'T', 'O', 'F', 'S', 0, 1 };

/* The messages the reference read expects, in order. */
struct want {
	struct frame_hdr h;
	struct buf plain;
};

struct seen {
	struct want *want;
	size_t nwant, got;
	int closes;
	char why[128];
};

/* What a correct reader makes of p[0..n): the frames it must deliver;
 * *clean is set when they are all there is (the close is then a plain
 * end of input, not a bad or cut frame). */
static size_t reference(const uint8_t *p, size_t n, bool hello, struct want *w, size_t cap,
			bool *clean)
{
	size_t off = 0, k = 0;
	*clean = n == 0; /* nothing at all, hello or not: a plain EOF */
	if (hello) {
		if (n < sizeof(HELLO) || memcmp(p, HELLO, sizeof(HELLO)))
			return 0;
		off = sizeof(HELLO);
	}
	while (k < cap) {
		struct frame_hdr h;
		if (frame_hdr_decode(p + off, n - off, &h, FRAME_MAX_LEN))
			break; /* cut short (EOF), or bad: the stream stops here */
		if (n - off - FRAME_HDR_LEN < h.len)
			break;
		const uint8_t *body = p + off + FRAME_HDR_LEN;
		buf_init(&w[k].plain);
		int rc = h.flags & FRAME_F_ZLIB ? zio_inflate(&w[k].plain, body, h.len, FRAME_MAX_LEN)
						: buf_put_bytes(&w[k].plain, body, h.len);
		if (rc) {
			buf_free(&w[k].plain);
			break;
		}
		w[k++].h = h;
		off += FRAME_HDR_LEN + h.len;
	}
	*clean = off == n;
	return k;
}

static void on_msg(struct stream *s, struct msg *m, void *arg)
{
	(void)s;
	struct seen *v = arg;
	FUZZ_CHECK(v->closes == 0);
	FUZZ_CHECK(v->got < v->nwant);
	const struct want *w = &v->want[v->got++];
	FUZZ_CHECK(m->dst_id == w->h.dst_id && m->src_id == w->h.src_id);
	FUZZ_CHECK(m->auth_id == w->h.auth_id && m->handle == w->h.handle);
	FUZZ_CHECK(m->reply_to == w->h.reply_to);
	FUZZ_CHECK(m->len == w->plain.len);
	FUZZ_CHECK(m->len == 0 || memcmp(m->data, w->plain.data, m->len) == 0);
	msg_free(m);
}

static void on_close(struct stream *s, int err, const char *why, void *arg)
{
	(void)s;
	(void)err;
	struct seen *v = arg;
	v->closes++;
	FUZZ_CHECK(why && *why);
	snprintf(v->why, sizeof(v->why), "%s", why);
}

static const struct stream_ops ops = { .on_msg = on_msg, .on_close = on_close };

/* Runs the loop until it has nothing more to do at once. */
static void settle(struct loop *l)
{
	for (int i = 0; i < 64 && loop_once(l, 0) > 0; i++)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = fuzz_u8(&in);
	size_t chunk = fuzz_u16(&in);
	bool hello = flags & 1;
	if (!chunk)
		chunk = in.n ? in.n : 1;

	/* At most one frame per header's worth of input. */
	size_t cap = in.n / FRAME_HDR_LEN + 1;
	struct want *want = calloc(cap, sizeof(*want));
	FUZZ_CHECK(want);
	struct seen v = { .want = want };
	bool clean;
	v.nwant = reference(in.p, in.n, hello, want, cap, &clean);

	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FUZZ_CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	struct loop *l = loop_new();
	FUZZ_CHECK(l);
	struct stream *s = stream_new(l, sv[0], sv[0], &ops, &v);
	FUZZ_CHECK(s);
	if (hello)
		stream_expect_hello(s, HELLO, sizeof(HELLO));
	struct msg_spare *sp = NULL;
	if (flags & 2) {
		sp = msg_spare_new(4u << 20);
		stream_share_spare(s, sp);
	}

	/* The peer: chunk by chunk, the reader running in between, until
	 * all is written or the stream gave up (a bad frame closes it). */
	size_t off = 0;
	while (off < in.n && !v.closes) {
		size_t n = in.n - off < chunk ? in.n - off : chunk;
		ssize_t w = write(sv[1], in.p + off, n);
		if (w > 0)
			off += (size_t)w;
		else
			FUZZ_CHECK(w < 0 && (errno == EAGAIN || errno == EPIPE || errno == ECONNRESET));
		settle(l);
	}
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; i < 1000 && !v.closes; i++)
		loop_once(l, 100);

	FUZZ_CHECK(v.closes == 1);
	FUZZ_CHECK(v.got == v.nwant);
	/* The end of the input after whole frames is "EOF"; anything else
	 * (a bad or cut frame, a bad hello) has a reason of its own. */
	FUZZ_CHECK(clean == !strcmp(v.why, "EOF"));

	stream_free(s);
	msg_spare_drop(sp);
	close(sv[1]);
	loop_free(l);
	for (size_t i = 0; i < v.nwant; i++)
		buf_free(&want[i].plain);
	free(want);
	return 0;
}
