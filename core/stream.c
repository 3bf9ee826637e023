/*
 * stream — a framed, non-blocking connection to one peer (see stream.h).
 *
 * For: the stream's lifetime, its loop registration and callbacks, the
 * switch to another transport, and input: reading bytes and cutting them
 * into messages, and closing with a reason on any protocol or I/O error.
 * Not for: routing, or deciding what a message means (router.c); output
 * (stream_send, compression, the write queue with its high/low-water
 * mark), which is stream_out.c. What both share is in stream_int.h.
 *
 * Copies: a payload is copied once per side outside the kernel (the
 * sending side: stream_out.c). Receiving reads into a 256 KiB buffer and
 * copies each complete frame into its message; a frame that does not fit
 * in what was read gets its payload buffer at once and the rest of it is
 * read directly there (readv), so a 16 MiB message is not staged twice.
 *
 * Reentrancy: every callback may close or free the stream. All entry
 * points that call out hold s->depth; stream_free inside a callback only
 * tears down and marks the memory, which the outermost frame releases.
 */
#include "stream_int.h"

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "zio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define STREAM_READ_CHUNK (256u << 10)

static void on_fd(struct loop *l, int fd, uint32_t events, void *arg);
static void process(struct stream *s);
static ssize_t fill(struct stream *s);

/* ---- lifetime ---- */

static void z_free(struct stream *s)
{
	if (!s->z)
		return;
	zio_def_free(s->z->zd);
	zio_inf_free(s->z->zi);
	buf_free(&s->z->zout);
	free(s->z);
	s->z = NULL;
}

struct stream_z *stream_z(struct stream *s)
{
	if (!s->z && (s->z = calloc(1, sizeof(*s->z))))
		buf_init(&s->z->zout);
	return s->z;
}

static void destroy(struct stream *s)
{
	msg_spare_drop(s->spare);
	z_free(s);
	buf_free(&s->rbuf);
	buf_free(&s->wq);
	free(s->pend);
	free(s);
}

/* Drops every resource except the struct itself. */
static void teardown(struct stream *s)
{
	if (s->tmr) {
		loop_timer_cancel(s->l, s->tmr);
		s->tmr = NULL;
	}
	if (s->wq_tmr) {
		loop_timer_cancel(s->l, s->wq_tmr);
		s->wq_tmr = NULL;
	}
	if (s->rreg)
		loop_del(s->l, s->rfd);
	if (s->wreg && s->wfd != s->rfd)
		loop_del(s->l, s->wfd);
	s->rreg = s->wreg = false;
	if (s->io) {
		s->io->close(s->ioctx);
		s->io = NULL;
		s->ioctx = NULL;
	} else {
		if (s->rfd >= 0)
			close(s->rfd);
		if (s->wfd >= 0 && s->wfd != s->rfd)
			close(s->wfd);
	}
	s->rfd = s->wfd = -1;
	stream_pipes_close(s);
	buf_free(&s->rbuf);
	buf_free(&s->wq);
	z_free(s);
	s->roff = s->woff = 0;
	free(s->pend);
	s->pend = NULL;
	s->pending = false;
	msg_spare_drop(s->spare);
	s->spare = NULL;
	s->closed = true;
}

/* Leaves a callback frame; the outermost one releases a freed stream.
 * Returns true when s is gone. */
static bool leave(struct stream *s)
{
	if (--s->depth == 0 && s->free_pending) {
		destroy(s);
		return true;
	}
	return false;
}

static int set_fd_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	int fdf = fcntl(fd, F_GETFD);
	if (fdf < 0 || fcntl(fd, F_SETFD, fdf | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* Brings the loop registration in line with the state: EPOLLIN while
 * reading is wanted, EPOLLOUT only while output is queued. */
int stream_update_events(struct stream *s)
{
	if (s->closed)
		return 0;
	uint32_t rwant = (!s->paused && !s->eof) ? EPOLLIN : 0;
	uint32_t wwant = queued(s) ? EPOLLOUT : 0;
	if (s->io) /* room to write arrives as input; the transport flushes */
		wwant = (queued(s) ? EPOLLIN : 0) | s->io->events(s->ioctx);
	int rc = 0;
	if (s->rfd == s->wfd) {
		uint32_t ev = rwant | wwant;
		if (s->parked)
			return 0;
		if (!s->rreg) {
			rc = loop_add(s->l, s->rfd, ev, on_fd, s);
			s->rreg = s->wreg = rc == 0;
		} else if (ev != s->rev) {
			rc = loop_mod(s->l, s->rfd, ev);
		}
		if (!rc)
			s->rev = s->wev = ev;
		return rc;
	}
	if (!s->parked) {
		if (!s->rreg) {
			rc = loop_add(s->l, s->rfd, rwant, on_fd, s);
			s->rreg = rc == 0;
		} else if (rwant != s->rev) {
			rc = loop_mod(s->l, s->rfd, rwant);
		}
		if (rc)
			return rc;
		s->rev = rwant;
	}
	if (!s->wreg) {
		rc = loop_add(s->l, s->wfd, wwant, on_fd, s);
		s->wreg = rc == 0;
	} else if (wwant != s->wev) {
		rc = loop_mod(s->l, s->wfd, wwant);
	}
	if (!rc)
		s->wev = wwant;
	return rc;
}

struct stream *stream_new(struct loop *l, int rfd, int wfd,
			  const struct stream_ops *ops, void *arg)
{
	int rc = set_fd_flags(rfd);
	if (!rc && wfd != rfd)
		rc = set_fd_flags(wfd);
	if (rc) {
		errno = -rc;
		return NULL;
	}
	struct stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->l = l;
	s->rfd = rfd;
	s->wfd = wfd;
	s->ops = ops;
	s->arg = arg;
	struct stat stt;
	s->wsock = fstat(wfd, &stt) == 0 && S_ISSOCK(stt.st_mode);
	buf_init(&s->rbuf);
	buf_init(&s->wq);
	rc = stream_update_events(s);
	if (rc) {
		if (s->rreg)
			loop_del(l, rfd);
		free(s);
		errno = -rc;
		return NULL;
	}
	return s;
}

int stream_switch_io(struct stream *s, int fd, const struct stream_io *io, void *ctx)
{
	if (s->closed || s->io || s->rfd != s->wfd || s->werr)
		return -EINVAL;
	for (;;) {
		ssize_t got = fill(s);
		if (got == 0)
			break;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
	}
	if (s->rreg)
		loop_del(s->l, s->rfd);
	close(s->rfd);
	s->rreg = s->wreg = s->parked = false;
	s->rev = s->wev = 0;
	s->rfd = s->wfd = fd;
	s->wsock = false;
	s->io = io;
	s->ioctx = ctx;
	/* Frames read above, and input the transport may hold already. */
	s->rmore = true;
	stream_arm_timer(s);
	int rc = stream_update_events(s);
	if (rc)
		stream_fail_later(s, -rc);
	return 0;
}

void stream_free(struct stream *s)
{
	if (!s)
		return;
	if (!s->closed || s->rfd >= 0)
		teardown(s);
	if (s->depth > 0) {
		s->free_pending = true;
		return;
	}
	destroy(s);
}

void stream_close(struct stream *s, int err, const char *why)
{
	if (s->closed)
		return;
	teardown(s);
	if (s->ops && s->ops->on_close) {
		s->depth++;
		s->ops->on_close(s, err, why, s->arg);
		leave(s);
	}
}

/* ---- settings ---- */

void stream_set_ops(struct stream *s, const struct stream_ops *ops, void *arg)
{
	s->ops = ops;
	s->arg = arg;
}

void stream_expect_hello(struct stream *s, const void *token, size_t n)
{
	if (n > STREAM_HELLO_LEN)
		n = STREAM_HELLO_LEN;
	memcpy(s->hello, token, n);
	s->hello_n = (uint8_t)n;
}

void stream_set_compress(struct stream *s, bool on)
{
	s->compress = on;
}

void stream_share_spare(struct stream *s, struct msg_spare *sp)
{
	if (sp)
		msg_spare_hold(sp);
	msg_spare_drop(s->spare);
	s->spare = sp;
}

static void on_timer(struct loop *l, void *arg);

void stream_arm_timer(struct stream *s)
{
	if (!s->tmr && !s->closed)
		s->tmr = loop_timer_add(s->l, 0, on_timer, s);
}

void stream_pause(struct stream *s, bool paused)
{
	if (s->closed || s->paused == paused)
		return;
	s->paused = paused;
	if (!paused) {
		s->parked = false;
		/* Frames already read, or an EOF seen while paused, produce
		 * no new fd event: finish them from a timer, not from inside
		 * the caller (who may be in the middle of something). */
		if (s->rbuf.len > s->roff || s->eof)
			stream_arm_timer(s);
		/* A transport may hold input that no fd event announces. */
		if (s->io) {
			s->rmore = true;
			stream_arm_timer(s);
		}
	}
	if (stream_update_events(s))
		log_warn("stream_pause(fd %d): cannot update events", s->rfd);
}

/* ---- input ---- */

static void deliver(struct stream *s, struct msg *m)
{
	s->st.msgs_in++;
	if (s->ops && s->ops->on_msg)
		s->ops->on_msg(s, m, s->arg);
	else
		msg_free(m);
}

/* Plain payloads from this size on are built in the stream's spare
 * buffer (frame.h), and buffers from this size on go back to it: below
 * a push's pieces (PUSH_DATA calls just under 64 KiB, proto.h), which
 * musl would otherwise map, fault in and unmap one by one. */
#define STREAM_SPARE_MIN (32u << 10)

/* Makes a message from a complete frame. data is adopted when own is
 * true (it was malloc'd for this frame, cap bytes, maybe the spare
 * buffer), copied otherwise. NULL after closing the stream with the
 * reason. */
static struct msg *make_msg(struct stream *s, const struct frame_hdr *h,
			    uint8_t *data, bool own, size_t cap)
{
	struct msg *m = msg_spare_msg(s->spare);
	if (!m)
		goto nomem;
	m->dst_id = h->dst_id;
	m->src_id = h->src_id;
	m->auth_id = h->auth_id;
	m->handle = h->handle;
	m->reply_to = h->reply_to;
	if (h->flags & FRAME_F_ZLIB) {
		struct buf out;
		buf_init(&out);
		/* Inflated payloads are 4 KiB or more, and often 1 MiB from a
		 * few hundred bytes (zeros): all are built in the spare. */
		out.data = msg_spare_take(s->spare, 0, &out.cap);
		if (!out.data)
			out.cap = 0;
		struct stream_z *z = stream_z(s);
		if (z && !z->zi) /* kept: made per frame it cost page faults */
			z->zi = zio_inf_new();
		int rc = z && z->zi ? zio_inf_run(z->zi, &out, data, h->len, FRAME_MAX_LEN) : -ENOMEM;
		if (own)
			free(data);
		if (rc) {
			buf_free(&out);
			msg_free(m);
			stream_close(s, -rc, rc == -EMSGSIZE ? "inflated frame too large" :
				     rc == -ENOMEM ? "out of memory" : "bad zlib payload");
			return NULL;
		}
		size_t n, ocap = out.cap;
		m->data = buf_steal(&out, &n);
		m->len = (uint32_t)n;
		if (m->data && s->spare) /* (the spare keeps the larger) */
			msg_spare_give(m, s->spare, ocap);
		return m;
	}
	m->len = h->len;
	if (own) {
		m->data = data;
		if (data && s->spare && cap >= STREAM_SPARE_MIN)
			msg_spare_give(m, s->spare, cap);
	} else if (h->len) {
		/* A large payload read whole with others (a push's pieces
		 * come several to a read) is copied into the spare too: a
		 * fresh malloc of each one cost musl a mapping, its page
		 * faults and a munmap per piece (~17 % of all CPU in a push
		 * to 1000 local contexts). */
		size_t dcap = 0;
		bool large = h->len >= STREAM_SPARE_MIN && s->spare;
		m->data = h->len <= MSG_ROOM ? msg_room(m)
			  : large ? msg_spare_take(s->spare, h->len, &dcap) : NULL;
		if (!m->data) {
			dcap = h->len;
			if (!(m->data = malloc(h->len))) {
				msg_free(m);
				goto nomem;
			}
		}
		if (large)
			msg_spare_give(m, s->spare, dcap);
		memcpy(m->data, data, h->len);
	}
	return m;
nomem:
	if (own)
		free(data);
	stream_close(s, ENOMEM, "out of memory");
	return NULL;
}

/* Cuts and delivers the frames in rbuf until it runs dry, the stream is
 * paused, or a callback closed it. */
static void process(struct stream *s)
{
	while (!s->closed && !s->paused) {
		size_t avail = s->rbuf.len - s->roff;
		if (!avail)
			break;
		const uint8_t *p = s->rbuf.data + s->roff;
		if (s->hello_n) {
			if (avail < s->hello_n)
				break;
			if (memcmp(p, s->hello, s->hello_n)) {
				stream_close(s, EPROTO, "bad hello");
				return;
			}
			s->roff += s->hello_n;
			s->hello_n = 0;
			if (s->ops && s->ops->on_hello)
				s->ops->on_hello(s, s->arg);
			continue;
		}
		struct frame_hdr h;
		int rc = frame_hdr_decode(p, avail, &h, FRAME_MAX_LEN);
		if (rc == -EAGAIN)
			break;
		if (rc == -EMSGSIZE) {
			stream_close(s, EMSGSIZE, "frame too large");
			return;
		}
		if (rc) {
			stream_close(s, EBADMSG, "bad frame header");
			return;
		}
		size_t have = avail - FRAME_HDR_LEN;
		if (have < h.len) {
			/* The payload straddles reads: give it its own buffer
			 * now and let do_read fill it in place. */
			/* (A compressed one is inflated into the spare.) */
			s->pend = h.len >= STREAM_SPARE_MIN && !(h.flags & FRAME_F_ZLIB) ?
					  msg_spare_take(s->spare, h.len, &s->pend_cap) : NULL;
			if (!s->pend) {
				s->pend = malloc(h.len);
				s->pend_cap = h.len;
			}
			if (!s->pend) {
				stream_close(s, ENOMEM, "out of memory");
				return;
			}
			memcpy(s->pend, p + FRAME_HDR_LEN, have);
			s->pend_have = (uint32_t)have;
			s->pend_hdr = h;
			s->pending = true;
			s->roff = s->rbuf.len;
			break;
		}
		s->roff += FRAME_HDR_LEN + h.len;
		struct msg *m = make_msg(s, &h, (uint8_t *)p + FRAME_HDR_LEN, false, 0);
		if (!m)
			return;
		deliver(s, m);
	}
	if (!s->closed && s->roff == s->rbuf.len)
		s->roff = s->rbuf.len = 0;
}

/* Finishes the pending frame, if complete. */
static void finish_pending(struct stream *s)
{
	if (!s->pending || s->pend_have < s->pend_hdr.len)
		return;
	uint8_t *data = s->pend;
	s->pend = NULL;
	s->pending = false;
	struct msg *m = make_msg(s, &s->pend_hdr, data, true, s->pend_cap);
	if (m)
		deliver(s, m);
}

static void on_eof(struct stream *s)
{
	s->eof = true;
	if (s->paused) {
		/* Buffered frames still belong to the consumer: wait for the
		 * resume, with the read side out of the loop (a dead fd would
		 * otherwise report HUP forever). */
		if (s->rfd != s->wfd && s->rreg) {
			loop_del(s->l, s->rfd);
			s->rreg = false;
			s->parked = true;
		}
		stream_update_events(s);
		return;
	}
	if (s->pending || s->rbuf.len > s->roff)
		stream_close(s, EPIPE, "EOF inside a frame");
	else
		stream_close(s, 0, "EOF");
}

size_t stream_trim(struct stream *s)
{
	/* Not with a frame half read, frames held back by a pause, or from
	 * inside one of the stream's callbacks. */
	if (s->closed || s->depth || s->pending || s->roff != s->rbuf.len)
		return 0;
	size_t n = s->rbuf.cap;
	buf_free(&s->rbuf);
	s->roff = 0;
	return n;
}

/* Reads what the transport has into rbuf (and the pending frame): bytes
 * read, 0 at EOF, -1 with errno. Delivers nothing. */
static ssize_t fill(struct stream *s)
{
	/* What is left in rbuf is a partial header (or frames held back
	 * by a pause): move it to the front so the buffer does not creep. */
	if (s->roff) {
		memmove(s->rbuf.data, s->rbuf.data + s->roff, s->rbuf.len - s->roff);
		s->rbuf.len -= s->roff;
		s->roff = 0;
	}
	if (buf_reserve(&s->rbuf, STREAM_READ_CHUNK)) {
		errno = ENOMEM;
		return -1;
	}
	struct iovec iov[2];
	int n = 0;
	size_t want_pend = 0;
	if (s->pending) {
		want_pend = s->pend_hdr.len - s->pend_have;
		iov[n].iov_base = s->pend + s->pend_have;
		iov[n++].iov_len = want_pend;
	}
	iov[n].iov_base = s->rbuf.data + s->rbuf.len;
	iov[n++].iov_len = s->rbuf.cap - s->rbuf.len;
	ssize_t got = s->io ? s->io->readv(s->ioctx, iov, n)
		      : n == 1 ? read(s->rfd, iov[0].iov_base, iov[0].iov_len)
			       : readv(s->rfd, iov, n);
	if (got <= 0)
		return got;
	s->st.bytes_in += (uint64_t)got;
	size_t into_pend = (size_t)got < want_pend ? (size_t)got : want_pend;
	s->pend_have += (uint32_t)into_pend;
	s->rbuf.len += (size_t)got - into_pend;
	return got;
}

static void do_read(struct stream *s)
{
	ssize_t got = fill(s);
	if (got < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		int e = errno;
		stream_close(s, e, strerror(e));
		return;
	}
	if (got == 0) {
		process(s); /* nothing new, but a resume may have left frames */
		if (!s->closed)
			on_eof(s);
		return;
	}
	finish_pending(s);
	process(s);
}

/* io: input the transport took off the fd during a write (or a read
 * that filled the buffer) produces no fd event: read it from the timer.
 * Then the events the transport wants now. */
void stream_io_kick(struct stream *s)
{
	if (!s->io || s->closed)
		return;
	/* events() may take input off the fd: ask pending() after it. */
	if (stream_update_events(s)) {
		stream_fail_later(s, EIO);
		return;
	}
	if (!s->paused && !s->eof && s->io->pending(s->ioctx)) {
		s->rmore = true;
		stream_arm_timer(s);
	}
	if (queued(s) && s->io->writable(s->ioctx)) {
		s->wmore = true;
		stream_arm_timer(s);
	}
}

/* ---- state ---- */

bool stream_closed(const struct stream *s)
{
	return s->closed;
}

void stream_get_stats(const struct stream *s, struct stream_stats *st)
{
	*st = s->st;
}

/* ---- loop callbacks ---- */

static void on_timer(struct loop *l, void *arg)
{
	(void)l;
	struct stream *s = arg;
	s->tmr = NULL; /* dead once we run */
	s->depth++;
	if (!s->werr && s->wmore) {
		s->wmore = false;
		stream_do_write(s);
	}
	if (s->closed) {
		/* nothing */
	} else if (s->werr) {
		stream_close(s, s->werr, strerror(s->werr));
	} else if (!s->paused) {
		finish_pending(s);
		if (!s->closed)
			process(s);
		if (!s->closed && s->rmore && !s->eof && !s->paused) {
			s->rmore = false;
			do_read(s);
		}
		if (!s->closed && s->eof && !s->paused)
			on_eof(s);
	}
	stream_io_kick(s);
	leave(s);
}

static void on_fd(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	struct stream *s = arg;
	s->depth++;
	bool bad = events & (EPOLLERR | EPOLLHUP);
	if (s->io && (events & EPOLLOUT)) {
		int rc = s->io->flush(s->ioctx);
		if (rc)
			stream_close(s, -rc, strerror(-rc));
	}
	/* Output first: a peer that reads slowly gets room before we make
	 * more work for it in on_msg. */
	if (!s->closed && fd == s->wfd && queued(s) &&
	    (events & EPOLLOUT || bad || (s->io && events & EPOLLIN)))
		stream_do_write(s);
	if (!s->closed && fd == s->rfd && !s->paused && !s->eof &&
	    (events & EPOLLIN || bad)) {
		do_read(s);
	} else if (!s->closed && bad) {
		if (fd == s->rfd) {
			/* Paused (or past EOF) and the fd is dead: HUP is
			 * level-triggered and cannot be masked, so leave the
			 * loop until stream_pause(false). */
			loop_del(s->l, fd);
			s->rreg = false;
			if (fd == s->wfd)
				s->wreg = false;
			s->parked = true;
		} else if (!queued(s)) {
			stream_close(s, EPIPE, "peer closed");
		}
	}
	stream_io_kick(s);
	leave(s);
}
