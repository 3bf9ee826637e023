/*
 * stream_out — the sending half of a stream (stream.h): framing outgoing
 * messages, compressing their payloads, the write queue with its
 * high/low-water mark, and writing it out as the fd or transport takes it.
 * Not for: reading, the loop registration or the stream's lifetime
 * (stream.c); struct stream and what both halves share is in stream_int.h.
 *
 * Copies: sending writes header and payload with one writev straight from
 * the caller's message when nothing is queued, and copies into the queue
 * only what the kernel did not take.
 *
 * Reentrancy (see stream.c): stream_send and stream_send_raw run in the
 * caller's frame, so they never close the stream themselves: a write
 * error goes through stream_fail_later and closes it from the timer.
 * stream_do_write runs only from on_fd and on_timer, which hold s->depth.
 */
#include "stream_int.h"

#include "buf.h"
#include "zio.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define STREAM_COMPRESS_MIN 4096

/* ---- the write queue ---- */

/* Writes with MSG_NOSIGNAL where the fd allows it: a dead peer must
 * close one stream, not kill the process with SIGPIPE. On pipes the owner
 * has to ignore SIGPIPE (main does). */
static ssize_t wr(struct stream *s, struct iovec *iov, int n)
{
	if (s->io)
		return s->io->writev(s->ioctx, iov, n);
	if (s->wsock) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		return sendmsg(s->wfd, &mh, MSG_NOSIGNAL);
	}
	return n == 1 ? write(s->wfd, iov[0].iov_base, iov[0].iov_len) : writev(s->wfd, iov, n);
}

/* The queue keeps this much memory when it empties; a burst's larger
 * buffer goes back (an idle stub should stay small). */
#define STREAM_WQ_KEEP (256u << 10)

/* The empty queue's memory: to the spare when the stream has one (the
 * stub's), where the next burst takes it again; for musl each new buffer
 * was a mapping whose pages all faulted (a quarter of the stub's CPU in
 * a large read). The spare goes when the stub is idle. Freed otherwise
 * (the daemon's heap keeps freed blocks itself). */
static void wq_release(struct stream *s)
{
	msg_spare_put(s->spare, s->wq.data, s->wq.cap);
	buf_init(&s->wq);
}

/* Room for n more bytes in the queue, from the spare if it is empty and
 * too small. 0 or -ENOMEM. */
static int wq_reserve(struct stream *s, size_t n)
{
	if (!s->wq.len && s->wq.cap < n) {
		size_t cap;
		uint8_t *b = msg_spare_take(s->spare, n, &cap);
		if (b) {
			buf_free(&s->wq);
			s->wq.data = b;
			s->wq.cap = cap;
		}
	}
	return buf_reserve(&s->wq, n);
}

void stream_do_write(struct stream *s)
{
	size_t n = queued(s);
	if (!n)
		return;
	struct iovec iov = { .iov_base = s->wq.data + s->woff, .iov_len = n };
	ssize_t w = wr(s, &iov, 1);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		int e = errno;
		stream_close(s, e, strerror(e));
		return;
	}
	s->st.bytes_out += (uint64_t)w;
	s->woff += (size_t)w;
	if (s->woff == s->wq.len) {
		s->woff = s->wq.len = 0;
		if (s->wq.cap > STREAM_WQ_KEEP)
			wq_release(s);
	}
	stream_update_events(s);
	stream_io_kick(s);
	if (s->full && queued(s) < STREAM_LWM) {
		s->full = false;
		if (s->ops && s->ops->on_drain)
			s->ops->on_drain(s, s->arg);
	}
}

/* A write failed outside any callback of ours: the caller of stream_send
 * must not see its stream closed (or freed) under its feet, so the close
 * happens from a timer. */
void stream_fail_later(struct stream *s, int err)
{
	s->werr = err;
	s->woff = s->wq.len = 0;
	stream_arm_timer(s);
	stream_update_events(s);
}

/* Writes or queues a then b. Takes neither. */
static int enqueue(struct stream *s, const void *a, size_t an, const void *b, size_t bn)
{
	if (s->closed || s->werr)
		return -EPIPE;
	size_t done = 0;
	if (!queued(s)) {
		struct iovec iov[2] = {
			{ .iov_base = (void *)a, .iov_len = an },
			{ .iov_base = (void *)b, .iov_len = bn },
		};
		ssize_t w = wr(s, iov, bn ? 2 : 1);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				stream_fail_later(s, errno);
				return -EPIPE;
			}
			w = 0;
		}
		done = (size_t)w;
		s->st.bytes_out += (uint64_t)w;
		if (done == an + bn) {
			stream_io_kick(s);
			return 0;
		}
	}
	/* Compact only when the dead prefix outweighs the live bytes: the
	 * move then costs less than what was written to earn it. */
	if (s->woff && s->woff >= queued(s)) {
		memmove(s->wq.data, s->wq.data + s->woff, queued(s));
		s->wq.len -= s->woff;
		s->woff = 0;
	}
	size_t rest = an + bn - done;
	if (wq_reserve(s, rest)) {
		if (done) {
			/* Half a frame is on the wire: the stream is unusable. */
			stream_fail_later(s, ENOMEM);
			return -ENOMEM;
		}
		return -ENOMEM;
	}
	if (done < an) {
		memcpy(s->wq.data + s->wq.len, (const uint8_t *)a + done, an - done);
		s->wq.len += an - done;
		done = an;
	}
	if (bn) {
		memcpy(s->wq.data + s->wq.len, (const uint8_t *)b + (done - an), bn - (done - an));
		s->wq.len += bn - (done - an);
	}
	if (queued(s) >= STREAM_HWM)
		s->full = true;
	int rc = stream_update_events(s);
	if (rc) {
		stream_fail_later(s, -rc);
		return rc;
	}
	stream_io_kick(s);
	return 0;
}

/* ---- sending ---- */

/* Deflates m's payload into s->zout when that pays. Data that looks
 * random (compressed files, media, encrypted or random bytes) goes as it
 * is without trying: deflating it cost more CPU than a fast link saved
 * (512 MiB over ssh read at 50 MiB/s; a 4 KiB file's reply took ~30 us
 * longer). The deflater and its output buffer are kept: made per message
 * they were page-faulting allocations that cost more than deflating. */
static bool compress_into_zout(struct stream *s, const struct msg *m)
{
	if (zio_looks_random(m->data, m->len))
		return false;
	if (!s->zd && !(s->zd = zio_def_new(1)))
		return false;
	s->zout.len = 0;
	return zio_def_run(s->zd, &s->zout, m->data, m->len) == 0 && s->zout.len < m->len;
}

/* Output buffer kept between messages, at most this big. */
#define STREAM_ZOUT_KEEP (1u << 20)

int stream_send(struct stream *s, const struct msg *m)
{
	if (s->closed || s->werr)
		return -EPIPE;
	if (m->len > FRAME_MAX_LEN)
		return -EMSGSIZE;
	struct frame_hdr h = {
		.magic = FRAME_MAGIC,
		.dst_id = m->dst_id,
		.src_id = m->src_id,
		.auth_id = m->auth_id,
		.handle = m->handle,
		.reply_to = m->reply_to,
		.len = m->len,
	};
	const uint8_t *payload = m->data;
	if (s->compress && m->len >= STREAM_COMPRESS_MIN && compress_into_zout(s, m)) {
		payload = s->zout.data;
		h.len = (uint32_t)s->zout.len;
		h.flags = FRAME_F_ZLIB;
	}
	uint8_t hdr[FRAME_HDR_LEN];
	frame_hdr_encode(&h, hdr);
	int rc = enqueue(s, hdr, sizeof(hdr), payload, h.len);
	if (s->zout.cap > STREAM_ZOUT_KEEP)
		buf_free(&s->zout);
	if (!rc)
		s->st.msgs_out++;
	return rc;
}

int stream_send_raw(struct stream *s, const void *p, size_t n)
{
	if (n > FRAME_MAX_LEN)
		return -EMSGSIZE;
	if (!n)
		return s->closed || s->werr ? -EPIPE : 0;
	return enqueue(s, p, n, NULL, 0);
}

size_t stream_queued(const struct stream *s)
{
	return queued(s);
}

bool stream_full(const struct stream *s)
{
	return s->full;
}
