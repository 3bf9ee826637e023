/*
 * stream — one framed connection to a peer over a non-blocking fd pair
 * (a socketpair, two pipes), or over a transport of the owner's (struct
 * stream_io: an ssh channel driven by the loop).
 *
 * Reads bytes, cuts them into frames (frame.h), inflates compressed
 * payloads (zio.h) and hands each message to on_msg. Writes go through a
 * queue: stream_send tries to write at once and queues the rest, arming
 * EPOLLOUT only while output is queued. Past the high-water mark the
 * owner is told (on_drain fires when the queue falls below the low-water
 * mark again) so producers can pause. Any protocol error (bad magic,
 * unknown flag, oversize, bad zlib) or I/O error closes the stream with a
 * reason. Not for: routing (router.h).
 */
#ifndef MITOFS_STREAM_H
#define MITOFS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct iovec;

#include "frame.h"

struct loop;
struct stream;

#define STREAM_HELLO_LEN 8
#define STREAM_HWM (4u << 20) /* queued bytes that count as "full" */
#define STREAM_LWM (1u << 20) /* below this, on_drain fires */

struct stream_ops {
	/* A message arrived; the callee owns m (msg_free). The stream may be
	 * closed or freed from inside. */
	void (*on_msg)(struct stream *s, struct msg *m, void *arg);
	/* The stream closed: err is 0 on clean EOF, else a positive errno;
	 * why is a short human reason ("EOF", "bad magic", ...). Called once.
	 * The fds are closed already; the owner calls stream_free (may do it
	 * from inside this callback). */
	void (*on_close)(struct stream *s, int err, const char *why, void *arg);
	/* Optional: the write queue fell below STREAM_LWM after having been
	 * above STREAM_HWM. */
	void (*on_drain)(struct stream *s, void *arg);
	/* Optional: the expected hello token (stream_expect_hello) arrived;
	 * frames may be sent from now on. */
	void (*on_hello)(struct stream *s, void *arg);
};

/* Wraps rfd/wfd (may be equal; both set O_NONBLOCK and close-on-exec;
 * the stream owns them and closes them). NULL with errno on failure, in
 * which case the fds are not closed. */
struct stream *stream_new(struct loop *l, int rfd, int wfd,
			  const struct stream_ops *ops, void *arg);
/*
 * A transport other than plain fds (an ssh channel driven by the loop):
 * the stream reads and writes through these instead of read/writev, and
 * watches fd. readv/writev return bytes, 0 at EOF (readv), or -1 with
 * errno (EAGAIN: nothing now). events: what the transport itself needs on
 * fd besides the stream's EPOLLIN (EPOLLOUT while it holds output it has
 * not flushed); flush is called when fd is writable (0 or -errno).
 * pending: input (or EOF, or an error) can be read without fd becoming
 * readable, because the transport already took it off the fd. While the
 * stream has output queued it also watches EPOLLIN and retries writing on
 * it (room to write comes as input: an ssh window adjust); writable says
 * there is room now (a window adjust taken off the fd by another call),
 * and the stream retries from a timer. close frees ctx and closes fd.
 */
struct stream_io {
	ssize_t (*readv)(void *ctx, const struct iovec *iov, int n);
	ssize_t (*writev)(void *ctx, const struct iovec *iov, int n);
	uint32_t (*events)(void *ctx);
	int (*flush)(void *ctx);
	bool (*pending)(void *ctx);
	bool (*writable)(void *ctx);
	void (*close)(void *ctx);
};

/* Moves a stream on one fd (rfd == wfd) to the transport io on fd: what
 * the old fd still holds is read first (its writer must have stopped),
 * then the old fd is closed; output still queued goes through io. Frames
 * read are delivered from a timer, never from inside this call. 0, and
 * the stream owns ctx; or -errno with nothing changed but the bytes
 * read (ctx stays the caller's). */
int stream_switch_io(struct stream *s, int fd, const struct stream_io *io, void *ctx);

/* Closes the fds (if not yet) without calling on_close, and frees. If
 * called from inside one of this stream's callbacks the memory is
 * released when that callback returns. NULL does nothing. */
void stream_free(struct stream *s);

/* Replaces the callbacks and their argument. */
void stream_set_ops(struct stream *s, const struct stream_ops *ops, void *arg);
/* The first n (<= 8) bytes read must equal token before any frame; a
 * mismatch closes the stream ("bad hello"). Call before the loop runs. */
void stream_expect_hello(struct stream *s, const void *token, size_t n);
/* Payloads of at least 4 KiB are sent zlib-compressed when that makes
 * them smaller (off by default: local streams do not gain from it). */
void stream_set_compress(struct stream *s, bool on);
/* Large payloads received are built in sp's buffer, which freed
 * messages give back (frame.h, msg_spare); the stream holds sp until it
 * is freed or given another (NULL: none, the default). For the stub,
 * whose musl maps every block over 128 KiB on its own: one spare for all
 * its streams. Not for the daemon, whose glibc heap (tuned in fs/main.c)
 * reuses freed blocks across streams and gives them back when idle. */
void stream_share_spare(struct stream *s, struct msg_spare *sp);
/* Stops / resumes reading (backpressure from the consumer side). */
void stream_pause(struct stream *s, bool paused);

/* Queues m's header and payload (m stays the caller's). 0, -EPIPE if the
 * stream is closed, -EMSGSIZE if m->len > FRAME_MAX_LEN, -ENOMEM. */
int stream_send(struct stream *s, const struct msg *m);
/* Writes raw bytes ahead of framing (the stub image during bootstrap,
 * the hello token). Same returns as stream_send. */
int stream_send_raw(struct stream *s, const void *p, size_t n);
/* Whether payloads of 4 KiB or more may go compressed. */
bool stream_compresses(const struct stream *s);
/* The pid of the process at the other end when it is our own child
 * process on this machine (a stub we started with the local method), or
 * 0 (unknown, farther away, or another program in between such as sudo). */
void stream_set_peer_pid(struct stream *s, int pid);
int stream_peer_pid(const struct stream *s);

/*
 * Zero-copy file data (the stub's fs reads). stream_splice_in moves up
 * to n bytes of regular file fd at offset off into a pipe the stream
 * holds (splice(2): the page cache's pages, no copy), and
 * stream_send_spliced then sends a message whose payload is m's followed
 * by those bytes, never compressed (call it for data that would not
 * compress). The bytes are the file's pages, not a copy: a write to the
 * file before they leave may show in them, as with sendfile(2) or NFS.
 * Plain fds only; about four payloads may be queued at a time.
 */
/* The count, short only at the end of the file. -ENOTSUP: not here (a
 * transport, a pipe that cannot be made or is too small for n bytes at
 * off, a file splice does not take) and -EBUSY (its pipes all hold
 * queued payloads): the caller reads the bytes instead, nothing lost.
 * Other -errno of splice likewise. A payload spliced in and not sent is
 * dropped by the next call. */
ssize_t stream_splice_in(struct stream *s, int fd, uint64_t off, size_t n);
/* Sends m then the k bytes (what stream_splice_in returned) in one
 * frame of m->len + k bytes. Returns as stream_send; -EINVAL when no
 * payload of k bytes is spliced in. */
int stream_send_spliced(struct stream *s, const struct msg *m, size_t k);
/* Drops a payload spliced in and not sent. */
void stream_splice_drop(struct stream *s);
/* Closes the pipes that hold nothing: a sender done splicing to this
 * stream gives back their fds and their share of the user's pipe
 * budget (a parent that passed a push on to 100 children would keep
 * 400 pipes, 800 fds). Those holding queued payloads stay; when none
 * does, the splice state (~280 bytes) goes too. */
void stream_splice_release(struct stream *s);

/* Bytes waiting in the write queue (spliced ones too). */
size_t stream_queued(const struct stream *s);
/* True once the queue passed STREAM_HWM and has not drained to STREAM_LWM. */
bool stream_full(const struct stream *s);
bool stream_closed(const struct stream *s);

/* Closes with a reason: fds closed, queue dropped, on_close called once
 * (err is a positive errno or 0). Idempotent. */
void stream_close(struct stream *s, int err, const char *why);

/* Counters for info/stats. */
struct stream_stats {
	uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
};
void stream_get_stats(const struct stream *s, struct stream_stats *st);
/* Frees the read buffer when nothing waits in it (an idle stream takes
 * a fresh one at its next read): the bytes given back. */
size_t stream_trim(struct stream *s);

#endif
