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
#include "loop.h"
#include "zio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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

/* Without a spare, the empty queue keeps its memory this long. */
#define STREAM_WQ_LINGER_MS 3000

static void wq_linger_end(struct loop *l, void *arg)
{
	struct stream *s = arg;
	s->wq_tmr = NULL;
	if (s->wq.len || s->wq.cap <= STREAM_WQ_KEEP)
		return;
	uint64_t quiet = loop_now_ms() - s->wq_empty_ms;
	if (quiet >= STREAM_WQ_LINGER_MS)
		buf_free(&s->wq);
	else if (!(s->wq_tmr = loop_timer_add(l, STREAM_WQ_LINGER_MS - quiet, wq_linger_end, s)))
		buf_free(&s->wq);
}

/* The empty queue's memory, past STREAM_WQ_KEEP: a new buffer for each
 * burst was a fresh mapping whose every page faulted (musl maps blocks
 * over 128 KiB, glibc over the daemon's 4 MiB threshold): a quarter of
 * the stub's CPU in a large read, ~5 faults per MiB in the daemon's
 * pipelined writes. It goes to the spare when the stream has one (the
 * stub's, given back when the stub is idle); otherwise the stream keeps
 * it until its queue has stayed empty for STREAM_WQ_LINGER_MS. */
static void wq_release(struct stream *s)
{
	if (s->spare) {
		msg_spare_put(s->spare, s->wq.data, s->wq.cap);
		buf_init(&s->wq);
	} else {
		s->wq_empty_ms = loop_now_ms();
		if (!s->wq_tmr &&
		    !(s->wq_tmr = loop_timer_add(s->l, STREAM_WQ_LINGER_MS, wq_linger_end, s)))
			buf_free(&s->wq);
	}
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

/* ---- the order of queued bytes, while pipes hold some ---- */

/* Appends a run of len bytes of pipe p (-1: of wq) to the queue's order;
 * runs of wq merge. There is room: a pipe is in the order at most once,
 * with a run of wq before and after it. */
static void seg_push(struct stream_splice *x, int p, size_t len)
{
	const unsigned cap = sizeof(x->segs) / sizeof(x->segs[0]);
	if (x->nseg) {
		struct stream_seg *last = &x->segs[(x->seg0 + x->nseg - 1) % cap];
		if (p < 0 && last->pipe < 0) {
			last->len += len;
			return;
		}
	}
	x->segs[(x->seg0 + x->nseg++) % cap] = (struct stream_seg){ .len = len, .pipe = p };
}

static void pipe_close(struct stream_pipe *sp)
{
	if (sp->r >= 0)
		close(sp->r);
	if (sp->w >= 0)
		close(sp->w);
	*sp = (struct stream_pipe){ .r = -1, .w = -1 };
}

void stream_pipes_close(struct stream *s)
{
	if (s->sx) {
		for (int i = 0; i < STREAM_PIPES; i++)
			pipe_close(&s->sx->pipes[i]);
		free(s->sx);
		s->sx = NULL;
	}
	s->pq = 0;
}

/* Writes the head of the queue once: count or -1 with errno. */
static ssize_t write_head(struct stream *s)
{
	struct stream_splice *x = s->sx;
	const unsigned cap = sizeof(x->segs) / sizeof(x->segs[0]);
	struct stream_seg *g = nseg(s) ? &x->segs[x->seg0] : NULL;
	size_t want = g ? g->len : wq_bytes(s);
	ssize_t w;
	if (g && g->pipe >= 0) {
		w = splice(x->pipes[g->pipe].r, NULL, s->wfd, NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
	} else {
		struct iovec iov = { .iov_base = s->wq.data + s->woff, .iov_len = want };
		w = wr(s, &iov, 1);
	}
	if (w <= 0)
		return w;
	if (g && g->pipe >= 0)
		s->pq -= (size_t)w;
	else
		s->woff += (size_t)w;
	if (g && !(g->len -= (size_t)w)) {
		if (g->pipe >= 0)
			x->pipes[g->pipe].busy = false;
		x->seg0 = (x->seg0 + 1) % cap;
		x->nseg--;
	}
	return w;
}

void stream_do_write(struct stream *s)
{
	while (queued(s)) {
		size_t want = nseg(s) ? s->sx->segs[s->sx->seg0].len : wq_bytes(s);
		ssize_t w = write_head(s);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			int e = errno;
			stream_close(s, e, strerror(e));
			return;
		}
		if (w <= 0)
			break;
		s->st.bytes_out += (uint64_t)w;
		if ((size_t)w < want)
			break; /* the fd is full */
	}
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
	stream_pipes_close(s);
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
	if (s->woff && s->woff >= wq_bytes(s)) {
		memmove(s->wq.data, s->wq.data + s->woff, wq_bytes(s));
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
	if (nseg(s))
		seg_push(s->sx, -1, rest);
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

/* Deflates m's payload into s->z->zout when that pays. Data that looks
 * random (compressed files, media, encrypted or random bytes) goes as it
 * is without trying: deflating it cost more CPU than a fast link saved
 * (512 MiB over ssh read at 50 MiB/s; a 4 KiB file's reply took ~30 us
 * longer). The deflater and its output buffer are kept: made per message
 * they were page-faulting allocations that cost more than deflating. */
static bool compress_into_zout(struct stream *s, const struct msg *m)
{
	if (zio_looks_random(m->data, m->len))
		return false;
	struct stream_z *z = stream_z(s);
	if (!z || (!z->zd && !(z->zd = zio_def_new(1))))
		return false;
	z->zout.len = 0;
	return zio_def_run(z->zd, &z->zout, m->data, m->len) == 0 && z->zout.len < m->len;
}

/* Output buffer kept between messages, at most this big. */
#define STREAM_ZOUT_KEEP (1u << 20)

/* The header of a frame carrying m's fields and len payload bytes. */
static struct frame_hdr hdr_of(const struct msg *m, uint32_t len)
{
	return (struct frame_hdr){
		.magic = FRAME_MAGIC,
		.dst_id = m->dst_id,
		.src_id = m->src_id,
		.auth_id = m->auth_id,
		.handle = m->handle,
		.reply_to = m->reply_to,
		.len = len,
	};
}

int stream_send(struct stream *s, const struct msg *m)
{
	if (s->closed || s->werr)
		return -EPIPE;
	if (m->len > FRAME_MAX_LEN)
		return -EMSGSIZE;
	struct frame_hdr h = hdr_of(m, m->len);
	const uint8_t *payload = m->data;
	if (s->compress && m->len >= STREAM_COMPRESS_MIN && compress_into_zout(s, m)) {
		payload = s->z->zout.data;
		h.len = (uint32_t)s->z->zout.len;
		h.flags = FRAME_F_ZLIB;
	}
	uint8_t hdr[FRAME_HDR_LEN];
	frame_hdr_encode(&h, hdr);
	int rc = enqueue(s, hdr, sizeof(hdr), payload, h.len);
	if (s->z && s->z->zout.cap > STREAM_ZOUT_KEEP)
		buf_free(&s->z->zout);
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

bool stream_compresses(const struct stream *s)
{
	return s->compress;
}

void stream_set_peer_pid(struct stream *s, int pid)
{
	s->peer_pid = pid;
}

int stream_peer_pid(const struct stream *s)
{
	return s->peer_pid;
}

/* ---- spliced payloads ---- */

/*
 * A free pipe of at least pages slots (made, or grown, if need be), or
 * -EBUSY: all hold payloads; -ENOTSUP: none can be made. A pipe is
 * asked for what the payload needs and no more: every pipe's size
 * counts against its user's pipe budget (fs.pipe-user-pages-soft, 64
 * MiB), past which the kernel gives that user's new pipes two slots,
 * and a parent passing a push on holds pipes towards 16 children at
 * once. Where it cannot grow (past /proc/sys/fs/pipe-max-size, 1 MiB,
 * unprivileged), the caller finds it too small.
 */
static int pipe_get(struct stream *s, size_t pages)
{
	if (!s->sx) {
		if (!(s->sx = calloc(1, sizeof(*s->sx))))
			return -ENOTSUP; /* the caller reads instead */
		for (int i = 0; i < STREAM_PIPES; i++)
			s->sx->pipes[i] = (struct stream_pipe){ .r = -1, .w = -1 };
		s->sx->spl = -1;
	}
	for (int i = 0; i < STREAM_PIPES; i++) {
		struct stream_pipe *sp = &s->sx->pipes[i];
		if (sp->busy)
			continue;
		if (sp->r < 0) {
			int fds[2];
			if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
				return -ENOTSUP;
			sp->r = fds[0];
			sp->w = fds[1];
			int sz = fcntl(sp->w, F_GETPIPE_SZ);
			sp->pages = sz > 0 ? (size_t)sz / 4096 : 0;
		}
		if (sp->pages < pages) {
			(void)fcntl(sp->w, F_SETPIPE_SZ, (int)(pages * 4096));
			int sz = fcntl(sp->w, F_GETPIPE_SZ);
			sp->pages = sz > 0 ? (size_t)sz / 4096 : 0;
		}
		return i;
	}
	return -EBUSY;
}

ssize_t stream_splice_in(struct stream *s, int fd, uint64_t off, size_t n)
{
	if (s->io || s->nosplice || s->closed || s->werr || off > INT64_MAX)
		return -ENOTSUP;
	stream_splice_drop(s);
	if (n > FRAME_MAX_LEN)
		return -ENOTSUP;
	/* Each page of the file takes one slot of the pipe, the first and
	 * the last ones partly filled. */
	size_t pages = (off % 4096 + n + 4095) / 4096;
	int p = pipe_get(s, pages);
	if (p == -ENOTSUP && s->sx) {
		s->nosplice = true;
		stream_splice_release(s); /* never used again */
	}
	if (p < 0)
		return p;
	struct stream_pipe *sp = &s->sx->pipes[p];
	if (pages > sp->pages)
		return -ENOTSUP;
	loff_t at = (loff_t)off;
	size_t got = 0;
	while (got < n) {
		ssize_t k = splice(fd, &at, sp->w, NULL, n - got, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0)
			break; /* the end of the file */
		if (k < 0) {
			/* Not a file splice takes, or the pipe full before the
			 * end (pages over slots): nothing is lost, the caller
			 * reads instead. */
			int e = errno == EAGAIN ? ENOTSUP : errno;
			pipe_close(sp);
			return -e;
		}
		got += (size_t)k;
	}
	sp->busy = true;
	s->sx->spl = p;
	s->sx->spl_len = got;
	return (ssize_t)got;
}

void stream_splice_release(struct stream *s)
{
	struct stream_splice *x = s->sx;
	if (!x)
		return;
	bool busy = false;
	for (int i = 0; i < STREAM_PIPES; i++) {
		if (!x->pipes[i].busy)
			pipe_close(&x->pipes[i]);
		busy |= x->pipes[i].busy;
	}
	if (!busy && !x->nseg) {
		free(x);
		s->sx = NULL;
	}
}

void stream_splice_drop(struct stream *s)
{
	if (!s->sx || s->sx->spl < 0)
		return;
	pipe_close(&s->sx->pipes[s->sx->spl]); /* (the simplest way to empty it) */
	s->sx->spl = -1;
}

int stream_send_spliced(struct stream *s, const struct msg *m, size_t k)
{
	struct stream_splice *x = s->sx;
	int p = x ? x->spl : -1;
	if (p < 0 || k != x->spl_len)
		return -EINVAL;
	if (m->len + k > FRAME_MAX_LEN) {
		stream_splice_drop(s);
		return -EMSGSIZE;
	}
	x->spl = -1;
	struct frame_hdr h = hdr_of(m, m->len + (uint32_t)k);
	uint8_t hdr[FRAME_HDR_LEN];
	frame_hdr_encode(&h, hdr);
	/* The header and m's payload go as any message's; the pipe's bytes
	 * follow them, at once if the fd takes all that comes before. */
	int rc = enqueue(s, hdr, sizeof(hdr), m->data, m->len);
	if (rc) {
		if (s->sx) /* (a failed write closed them all) */
			pipe_close(&s->sx->pipes[p]);
		return rc;
	}
	if (!(x = s->sx) || s->werr) /* a transport failed since: all gone */
		return -EPIPE;
	if (!queued(s)) {
		ssize_t w = splice(x->pipes[p].r, NULL, s->wfd, NULL, k, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			/* Half a frame is on the wire: the stream is unusable. */
			stream_fail_later(s, errno);
			return -EPIPE;
		}
		if (w > 0) {
			s->st.bytes_out += (uint64_t)w;
			k -= (size_t)w;
		}
	}
	if (!k) {
		x->pipes[p].busy = false;
	} else {
		if (!x->nseg && wq_bytes(s))
			seg_push(x, -1, wq_bytes(s));
		seg_push(x, p, k);
		s->pq += k;
		if (queued(s) >= STREAM_HWM)
			s->full = true;
		rc = stream_update_events(s);
		if (rc) {
			stream_fail_later(s, -rc);
			return rc;
		}
	}
	s->st.msgs_out++;
	return 0;
}
