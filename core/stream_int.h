/*
 * stream_int — what stream.c (lifetime, loop events, input) and
 * stream_out.c (sending, compression, the write queue) share: struct
 * stream and the few helpers each half calls in the other. Not a public
 * API (stream.h is).
 */
#ifndef MITOFS_STREAM_INT_H
#define MITOFS_STREAM_INT_H

#include "buf.h"
#include "stream.h"

/* Payloads spliced in are held in up to this many pipes at a time. */
#define STREAM_PIPES 4

struct loop_timer;
struct zio_def;
struct zio_inf;

/* Spliced payloads (stream_splice_in): pipes holding file pages, and
 * while one of them is queued, the order in which queued bytes leave:
 * segs[seg0..seg0+nseg) (ring), each a run of wq's bytes or of one
 * pipe's; nseg 0: wq alone is the queue. Apart from struct stream, and
 * made only when a stream splices: it is as big as the rest of the
 * stream, and most streams never splice (a parent's 100 children's). */
struct stream_splice {
	struct stream_pipe {
		int r, w;     /* -1 until made */
		size_t pages; /* its capacity in pages */
		bool busy;    /* holds a payload spliced in or queued */
	} pipes[STREAM_PIPES];
	struct stream_seg {
		size_t len;
		int pipe; /* -1: bytes of wq */
	} segs[2 * STREAM_PIPES + 2];
	unsigned seg0, nseg;
	int spl;         /* pipe of the payload spliced in, not yet sent (-1) */
	size_t spl_len;
};

/* The compression state of a stream that compresses or receives
 * compressed frames: made at the first, kept (made per frame it cost page
 * faults). Apart from struct stream: local streams never need it. */
struct stream_z {
	struct zio_def *zd; /* deflater, made at the first compression */
	struct zio_inf *zi; /* inflater, made at the first compressed frame */
	struct buf zout;    /* the deflater's output, kept between messages */
};

/* Pointers and sizes first, flags last, and what few streams use kept
 * apart: a parent keeps one per child, and under 320 bytes it takes half
 * the slot of musl's malloc it took at 616. */
struct stream {
	struct loop *l;
	const struct stream_ops *ops;
	void *arg;
	const struct stream_io *io; /* NULL: plain fds */
	void *ioctx;
	int rfd, wfd; /* -1 once closed */

	/* input: rbuf[roff..len) is read but not yet cut into frames */
	struct buf rbuf;
	size_t roff;
	/* a frame whose payload is still arriving */
	uint8_t *pend;
	size_t pend_cap; /* pend's allocated size (>= the frame's length) */
	uint32_t pend_have;
	struct frame_hdr pend_hdr;
	uint8_t hello[STREAM_HELLO_LEN];

	/* output: wq[woff..len) waits for the fd to become writable */
	struct buf wq;
	size_t woff;
	/* Spliced payloads: made at the first splice, freed when
	 * stream_splice_release finds no pipe busy (a push sender done with
	 * a child) and at close. pq: bytes queued in their pipes. */
	struct stream_splice *sx;
	size_t pq;
	struct stream_z *z;      /* NULL until compression is used */
	struct msg_spare *spare; /* for large payloads (frame.h), or NULL */
	struct loop_timer *tmr; /* deferred work: resume parsing, or werr */
	struct loop_timer *wq_tmr; /* frees an idle queue's buffer (stream_out.c) */
	uint64_t wq_empty_ms;      /* when the queue last emptied (loop_now_ms) */
	struct stream_stats st;

	uint32_t rev, wev; /* events registered for rfd / wfd */
	int peer_pid; /* stream_set_peer_pid, or 0 */
	int werr; /* a write error seen outside a callback, closed by timer */
	int depth;
	uint8_t hello_n; /* 0: no hello expected (or already seen) */
	bool pending;    /* pend holds a frame */
	bool nosplice;   /* no pipe could be made: do not try again */
	bool rreg, wreg; /* registered in the loop */
	bool compress, paused, full, closed, eof, parked, free_pending;
	bool wsock; /* wfd is a socket: write with MSG_NOSIGNAL */
	bool rmore; /* io: try a read from the timer (input may be buffered) */
	bool wmore; /* io: try writing the queue from the timer (room now) */
};

/* Bytes of wq not yet written. */
static inline size_t wq_bytes(const struct stream *s)
{
	return s->wq.len - s->woff;
}

/* Runs in the queue's order: 0 while wq alone is the queue. */
static inline unsigned nseg(const struct stream *s)
{
	return s->sx ? s->sx->nseg : 0;
}

/* Bytes queued, in wq and in pipes. */
static inline size_t queued(const struct stream *s)
{
	return wq_bytes(s) + s->pq;
}

/* ---- stream.c ---- */

/* s->z, made if need be; NULL when out of memory. */
struct stream_z *stream_z(struct stream *s);

/* Brings the loop registration in line with the state: EPOLLIN while
 * reading is wanted, EPOLLOUT only while output is queued (with a
 * transport, what it asks for). 0 or -errno. Nothing once closed. */
int stream_update_events(struct stream *s);
/* Schedules the deferred work of the timer (resume parsing, a write
 * error, a transport retry) unless already scheduled or closed. */
void stream_arm_timer(struct stream *s);
/* With a transport: updates the events it wants and arms the timer for
 * input or room to write it took off the fd with no fd event. Nothing
 * for plain fds or once closed. */
void stream_io_kick(struct stream *s);

/* ---- stream_out.c ---- */

/* Writes what the queue holds; may close the stream and call on_drain,
 * so only from on_fd or on_timer (inside s->depth). */
void stream_do_write(struct stream *s);
/* Drops the queue and closes with err (a positive errno) from the timer:
 * for errors seen where the caller must not see the stream closed. */
void stream_fail_later(struct stream *s, int err);
/* Closes the pipes of spliced payloads (what they hold is dropped) and
 * frees their state. */
void stream_pipes_close(struct stream *s);

#endif
