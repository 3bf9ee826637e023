/*
 * ssh_io — a libssh channel as a stream transport on the loop (ssh_io.h):
 * non-blocking libssh, channel callbacks that say when it holds input (so
 * that asking costs no syscall), a frame's header and payload in one ssh
 * packet, and EPOLLOUT only while libssh holds unsent bytes.
 */
#include "ssh_io.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh/callbacks.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

struct ssh_io {
	ssh_session s;
	ssh_channel ch;
	int fd; /* a dup of the session's socket: the number stays ours */
	ssh_io_end_fn *end; /* who ends the session, and its argument */
	void *end_arg;
	struct loop *l;
	struct loop_timer *alive; /* sio_alive */
	uint64_t reads, reads_seen; /* readv calls, and as of the last sio_alive */
	/* What libssh has taken off the socket and not yet been read:
	 * set by its channel callbacks (which may run inside any libssh
	 * call, a write's flush too), cleared when a read finds nothing. */
	bool in, err_in, eof;
	struct ssh_channel_callbacks_struct cb;
};

static int sio_on_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr,
		       void *arg)
{
	(void)s;
	(void)ch;
	(void)data;
	(void)len;
	struct ssh_io *x = arg;
	if (is_stderr)
		x->err_in = true;
	else
		x->in = true;
	return 0; /* consumed nothing: the data stays in the channel */
}

static void sio_on_eof(ssh_session s, ssh_channel ch, void *arg)
{
	(void)s;
	(void)ch;
	((struct ssh_io *)arg)->eof = true;
}

/* Stderr after the bootstrap: nobody reads it; keep the channel moving. */
static void sio_drop_stderr(struct ssh_io *x)
{
	char tmp[4096];
	int n;
	if (!x->err_in)
		return;
	while ((n = ssh_channel_read_nonblocking(x->ch, tmp, sizeof(tmp), 1)) > 0)
		log_debug("ssh: stub stderr: %.*s", n, tmp);
	x->err_in = false;
}

/* What libssh 0.10 reads from its socket at a time (MAX_BUF_SIZE). */
#define SIO_LIBSSH_READ 4096

static ssize_t sio_readv(void *ctx, const struct iovec *iov, int n)
{
	struct ssh_io *x = ctx;
	size_t got = 0;
	x->reads++;
	int r = 0;
	int idle = 0;
	int known = 0; /* reads that the socket's bytes, as last counted, feed */
	for (int i = 0; i < n; i++) {
		size_t off = 0;
		while (off < iov[i].iov_len) {
			size_t want = iov[i].iov_len - off;
			r = ssh_channel_read_nonblocking(x->ch, (char *)iov[i].iov_base + off,
							 want > (1u << 30) ? 1u << 30 : (uint32_t)want, 0);
			if (known > 0)
				known--; /* (this call may have read the socket) */
			if (r == 0 && ++idle < 64) {
				/* libssh reads the socket 4 KiB at a time: a
				 * packet may be half in. Finish it here rather
				 * than through another epoll round per 4 KiB,
				 * counting the socket's bytes once per run of
				 * reads they feed, not before each. At most 64
				 * reads in a row bring no stdout: a peer that
				 * sends only other packets cannot hold the loop. */
				if (known > 0)
					continue;
				int avail = 0;
				if (ioctl(x->fd, FIONREAD, &avail) == 0 && avail > 0) {
					known = avail / SIO_LIBSSH_READ;
					continue;
				}
			}
			if (r <= 0) {
				x->in = false; /* libssh holds no stdout now */
				goto out;
			}
			idle = 0;
			off += (size_t)r;
			got += (size_t)r;
		}
	}
out:
	sio_drop_stderr(x);
	if (got)
		return (ssize_t)got;
	if (r == SSH_ERROR || !ssh_is_connected(x->s)) {
		errno = ECONNRESET;
		return -1;
	}
	if (ssh_channel_is_eof(x->ch) || ssh_channel_is_closed(x->ch))
		return 0;
	errno = EAGAIN;
	return -1;
}

/* Small pieces (a frame's header and payload) go as one ssh packet:
 * each packet costs a MAC, a send and the far side's wake-up. */
#define SIO_GATHER (16u << 10)

static ssize_t sio_writev(void *ctx, const struct iovec *iov, int n)
{
	struct ssh_io *x = ctx;
	size_t done = 0, total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (n > 1 && total <= SIO_GATHER) {
		char tmp[SIO_GATHER];
		size_t off = 0;
		for (int i = 0; i < n; i++) {
			memcpy(tmp + off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
		struct iovec one = { .iov_base = tmp, .iov_len = total };
		return sio_writev(ctx, &one, 1);
	}
	for (int i = 0; i < n; i++) {
		size_t off = 0;
		while (off < iov[i].iov_len) {
			size_t left = iov[i].iov_len - off;
			uint32_t want = left > (1u << 20) ? 1u << 20 : (uint32_t)left;
			int w = ssh_channel_write(x->ch, (const char *)iov[i].iov_base + off, want);
			if (w == SSH_ERROR) {
				if (done)
					return (ssize_t)done;
				errno = EPIPE;
				return -1;
			}
			off += (size_t)w;
			done += (size_t)w;
			if ((uint32_t)w < want) /* the window is full */
				goto out;
		}
	}
out:
	if (!done) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)done;
}

/* EPOLLOUT only while libssh holds unsent bytes. Its SSH_WRITE_PENDING
 * poll flag is not that: it stays set while input keeps arriving, and
 * the loop would spin on a writable socket. A flush with nothing queued
 * makes no syscall; with something queued it tries once (and may take
 * input, which the channel callbacks record). */
static uint32_t sio_events(void *ctx)
{
	struct ssh_io *x = ctx;
	return ssh_blocking_flush(x->s, 0) == SSH_AGAIN ? EPOLLOUT : 0;
}

static int sio_flush(void *ctx)
{
	struct ssh_io *x = ctx;
	return ssh_blocking_flush(x->s, 0) == SSH_ERROR ? -ECONNRESET : 0;
}

/* Decrypted input (or its EOF) already in libssh: no syscall, the
 * channel callbacks said so. A dead socket stays readable on our dup. */
static bool sio_pending(void *ctx)
{
	struct ssh_io *x = ctx;
	return x->in || x->err_in || x->eof;
}

/* Room in the peer's window (an adjust may have come in with input). */
static bool sio_writable(void *ctx)
{
	struct ssh_io *x = ctx;
	return ssh_channel_window_size(x->ch) > 0;
}

/* What libssh takes off the socket while the stream does not read. */
#define SIO_ALIVE_MS 1000

/*
 * A stream paused for back-pressure takes its fd out of the loop, and so
 * nobody drives libssh: the server's keepalive probes (ClientAlive) go
 * unanswered, and the server drops a connection that is only busy. Once
 * a second, when input waited on the socket and no read came for a whole
 * second, libssh takes the packets off the socket itself (a read of the
 * channel's stderr does: it handles every packet when it has no stderr):
 * it answers the probes, and channel data stays in its buffer, bounded by
 * the channel's window, until the stream reads again (stream_pause(false)
 * asks the transport for pending input).
 */
static void sio_alive(struct loop *l, void *arg)
{
	struct ssh_io *x = arg;
	int avail = 0;
	x->alive = NULL;
	if (x->reads == x->reads_seen && ioctl(x->fd, FIONREAD, &avail) == 0 && avail > 0) {
		x->err_in = true;
		sio_drop_stderr(x);
		ssh_blocking_flush(x->s, 0); /* the answers */
	}
	x->reads_seen = x->reads;
	x->alive = loop_timer_add(l, SIO_ALIVE_MS, sio_alive, x);
}

/* Our duplicate goes first: held, it would keep the connection (or a
 * proxy's socket) open whatever the end does. The session goes to its
 * owner's end, which may take its time. */
static void sio_close(void *ctx)
{
	struct ssh_io *x = ctx;
	ssh_remove_channel_callbacks(x->ch, &x->cb);
	if (x->alive)
		loop_timer_cancel(x->l, x->alive);
	close(x->fd);
	x->end(x->s, x->ch, x->end_arg);
	free(x);
}

static const struct stream_io ssh_io_ops = {
	.readv = sio_readv,
	.writev = sio_writev,
	.events = sio_events,
	.flush = sio_flush,
	.pending = sio_pending,
	.writable = sio_writable,
	.close = sio_close,
};

int ssh_io_attach(struct loop *l, struct stream *s, ssh_session ss, ssh_channel ch,
		  ssh_io_end_fn *end, void *arg)
{
	int rc = -ENOMEM;
	struct ssh_io *x = calloc(1, sizeof(*x));
	if (x) {
		x->l = l;
		x->s = ss;
		x->ch = ch;
		x->end = end;
		x->end_arg = arg;
		/* The thread may have left input in libssh: read once. */
		x->in = x->err_in = true;
		ssh_callbacks_init(&x->cb);
		x->cb.userdata = x;
		x->cb.channel_data_function = sio_on_data;
		x->cb.channel_eof_function = sio_on_eof;
		x->cb.channel_close_function = sio_on_eof;
		ssh_set_channel_callbacks(ch, &x->cb);
		ssh_set_blocking(ss, 0);
		x->fd = fcntl(ssh_get_fd(ss), F_DUPFD_CLOEXEC, 3);
		rc = x->fd < 0 ? -errno : 0;
	}
	if (!rc && !(x->alive = loop_timer_add(l, SIO_ALIVE_MS, sio_alive, x)))
		rc = -ENOMEM;
	if (!rc && !(rc = stream_switch_io(s, x->fd, &ssh_io_ops, x)))
		return 0;
	if (x && x->alive)
		loop_timer_cancel(l, x->alive);
	if (x && x->fd >= 0)
		close(x->fd);
	if (x)
		ssh_remove_channel_callbacks(ch, &x->cb);
	free(x);
	end(ss, ch, arg);
	return rc;
}
