/*
 * stub_mangle — a test tool: a proxy between the daemon and a real stub
 * that corrupts the *content* of the stub's messages, so that every
 * daemon-side parser (fs replies, job events, sys info, logs...) meets
 * well-framed lies. Used by tests/integration/t_hostile.sh.
 *
 *   stub_mangle SEED RATE STUB [ARG...]
 *
 * It is planted where the first stage looks for a cached stub, as a
 * wrapper script that runs `exec stub_mangle SEED RATE REAL-STUB "$@"`.
 * It starts STUB ARG... as a child on a socketpair (its fds 0 and 1),
 * passes the stub's 8-byte hello through untouched, then cuts both
 * directions into frames (core/frame.h): the daemon's go to the stub as
 * they came; each of the stub's is, with probability RATE (0-1; a PRNG
 * seeded with SEED, so a seed replays the same choices for the same
 * message sequence), sent with a mutated payload: bytes flipped,
 * truncated, extended with garbage, a u32 set to 0 / 0xffffffff / a large
 * value, emptied, or replaced by the payload of another recent message.
 * The frame stays valid (magic, length, compression), so the daemon must
 * reject what it says; rarely (1 in 40 mutations) the frame itself is
 * broken instead, which must close the stream.
 *
 * Environment: MANGLE_LOG=FILE appends one line per mutation (seed,
 * message number, header, kind); MANGLE_SKIP=N lets the first N messages
 * of the stub through untouched; MANGLE_PID=N makes the answer to sys
 * INFO claim pid N (a lie the daemon must not act on); MANGLE_BADINFO=1
 * cuts that answer to its error code, which does not parse;
 * MANGLE_ERR=SVC:N sets the error code of every answer to a call of
 * service SVC (1 exec, 4 fs) to N; MANGLE_NESTLOG=1 follows each good
 * spawn answer with a FORWARD_LOG that does not parse, from the new
 * child (it is still connecting then); MANGLE_EARLYLOG=1 sends one from
 * the stub itself, then holds its sys info answer back for 200 ms, so the
 * daemon meets the error while the context is connecting. It exits when either side closes (the
 * stub is given EOF and reaped, killed after 2 s). Not for: fuzzing the
 * stub (the daemon's messages are never changed) or the bootstrap.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "frame.h"
#include "proto.h"
#include "zio.h"

#define HELLO_LEN 8
#define RECENT 8                 /* payloads kept for the swap mutation */
#define RECENT_MAX (64u << 10)   /* longest payload kept */
#define CALLS 64                 /* daemon calls remembered (for the log) */
#define OUT_HWM (8u << 20)       /* stop reading a side while its peer lags */

/* One direction: bytes read from `from`, cut into frames, queued to `to`. */
struct dir {
	int from, to;
	struct buf in, out;
};

struct mangle {
	uint64_t rng;
	uint64_t seed;
	double rate;
	unsigned long skip;
	FILE *log;
	size_t hello_left;          /* stub -> daemon raw bytes still to pass */
	unsigned long nmsg;         /* stub messages seen */
	struct buf recent[RECENT];
	unsigned nrecent;
	struct { uint32_t reply_to; uint16_t svc, op; } calls[CALLS];
	unsigned ncalls;
	const char *fake_pid;       /* MANGLE_PID, or NULL */
	bool bad_info;              /* MANGLE_BADINFO: sys INFO answered with garbage */
	bool nest_log;              /* MANGLE_NESTLOG: a bad log line from each spawned child */
	bool early_log;             /* MANGLE_EARLYLOG: a bad log line before the sys info answer */
	int err_svc;                /* MANGLE_ERR=SVC:N: answers of service SVC... */
	uint32_t err_code;          /* ...say error N (err_svc 0: off) */
};

/* splitmix64: small, and the same sequence everywhere for a seed. */
static uint64_t rnd(struct mangle *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd_below(struct mangle *g, uint32_t n)
{
	return n ? (uint32_t)(rnd(g) % n) : 0;
}

static void logf_(struct mangle *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct mangle *g, const char *fmt, ...)
{
	if (!g->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(g->log, fmt, ap);
	va_end(ap);
	fflush(g->log);
}

/* The call a reply answers, as "svc/op", for the log. */
static void call_name(struct mangle *g, uint32_t handle, char *out, size_t cap)
{
	snprintf(out, cap, "-");
	for (unsigned i = 0; i < CALLS && i < g->ncalls; i++)
		if (g->calls[i].reply_to == handle) {
			snprintf(out, cap, "%u/%u", g->calls[i].svc, g->calls[i].op);
			return;
		}
}

static void remember_call(struct mangle *g, const struct frame_hdr *h, const uint8_t *p)
{
	if (h->handle != HANDLE_CALL_SERVICE || !h->reply_to || h->len < 4 ||
	    (h->flags & FRAME_F_ZLIB))
		return;
	unsigned i = g->ncalls++ % CALLS;
	g->calls[i].reply_to = h->reply_to;
	g->calls[i].svc = be16_get(p);
	g->calls[i].op = be16_get(p + 2);
}

static void remember_payload(struct mangle *g, const uint8_t *p, size_t n)
{
	struct buf *b = &g->recent[g->nrecent++ % RECENT];
	b->len = 0;
	if (n <= RECENT_MAX && buf_put_bytes(b, p, n))
		b->len = 0;
}

static const char *const kinds[] = { "flip", "truncate", "extend", "u32", "empty", "swap" };

/* Writes a mutation of p[0..n) into out; returns what it did. */
static const char *mutate(struct mangle *g, const uint8_t *p, size_t n, struct buf *out,
			  char *what, size_t cap)
{
	unsigned kind = rnd_below(g, 6);
	if (kind == 5 && g->nrecent < 2)
		kind = 0;
	if ((kind == 0 || kind == 1) && n == 0)
		kind = 2;
	if (kind == 3 && n < 4)
		kind = 2;
	what[0] = 0;
	out->len = 0;
	switch (kind) {
	case 0: { /* flip 1-4 bytes */
		if (buf_put_bytes(out, p, n))
			return NULL;
		unsigned k = 1 + rnd_below(g, 4);
		for (unsigned i = 0; i < k; i++) {
			uint32_t at = rnd_below(g, (uint32_t)n);
			out->data[at] ^= (uint8_t)(1 + rnd_below(g, 255));
			snprintf(what + strlen(what), cap - strlen(what), " @%u", at);
		}
		break;
	}
	case 1: { /* truncate */
		uint32_t keep = rnd_below(g, (uint32_t)n);
		if (buf_put_bytes(out, p, keep))
			return NULL;
		snprintf(what, cap, " to %u of %zu", keep, n);
		break;
	}
	case 2: { /* extend with garbage */
		unsigned k = 1 + rnd_below(g, 64);
		if (buf_put_bytes(out, p, n))
			return NULL;
		for (unsigned i = 0; i < k; i++)
			if (buf_put_u8(out, (uint8_t)rnd(g)))
				return NULL;
		snprintf(what, cap, " by %u", k);
		break;
	}
	case 3: { /* a u32 field: a length, one of the first ones, or any */
		uint32_t at, v, pick = rnd_below(g, 3);
		/* A length: the envelope's text (offset 4), or the u32 that
		 * says how long the rest is (the last blob of a reply). */
		uint32_t last = UINT32_MAX;
		for (uint32_t o = 0; o + 4 <= n; o++)
			if (be32_get(p + o) == n - o - 4)
				last = o;
		if (pick == 0 && last != UINT32_MAX && rnd_below(g, 3))
			at = last;
		else if (pick == 0 && n >= 8)
			at = 4;
		else if (pick == 1)
			at = 4 * rnd_below(g, (uint32_t)(n < 32 ? n / 4 : 8));
		else
			at = rnd_below(g, (uint32_t)(n - 3));
		static const uint32_t vals[] = { 0, 0xffffffffu, 0x7fffffffu, 0x01000000u, 0x10000u };
		uint32_t old = be32_get(p + at);
		/* A little too long: what a missing bound check reads past. */
		if (rnd_below(g, 2))
			v = old + 1 + rnd_below(g, 64);
		else
			v = vals[rnd_below(g, 5)];
		if (buf_put_bytes(out, p, n))
			return NULL;
		be32_put(out->data + at, v);
		snprintf(what, cap, " @%u = 0x%x (was 0x%x)", at, v, old);
		break;
	}
	case 4: /* empty */
		break;
	case 5: { /* another recent message's payload */
		unsigned back = 1 + rnd_below(g, g->nrecent < RECENT ? g->nrecent - 1 : RECENT - 1);
		const struct buf *b = &g->recent[(g->nrecent - 1 - back) % RECENT];
		if (b->len && buf_put_bytes(out, b->data, b->len))
			return NULL;
		snprintf(what, cap, " with the one %u back (%zu bytes)", back, b->len);
		break;
	}
	}
	return kinds[kind];
}

/* Appends frame h with payload p[0..n) (plain) to out, compressed when
 * the original was. 0 or -errno. */
static int put_frame(struct buf *out, struct frame_hdr h, const uint8_t *p, size_t n)
{
	struct buf z;
	buf_init(&z);
	if (h.flags & FRAME_F_ZLIB) {
		int rc = zio_deflate(&z, p, n, 1);
		if (rc) {
			buf_free(&z);
			return rc;
		}
		p = z.data;
		n = z.len;
	}
	uint8_t hdr[FRAME_HDR_LEN];
	h.len = (uint32_t)n;
	frame_hdr_encode(&h, hdr);
	int rc = buf_put_bytes(out, hdr, sizeof(hdr));
	rc = rc ? rc : buf_put_bytes(out, p, n);
	buf_free(&z);
	return rc;
}

/* p[0..n), a sys INFO answer, with "pid" set to pid, into out. 0 or
 * -errno (-EBADMSG: not such an answer). */
static int fake_pid(const uint8_t *p, size_t n, const char *pid, struct buf *out)
{
	struct rd r;
	uint32_t err, count;
	const uint8_t *text, *k, *v;
	size_t tlen, klen, vlen;
	rd_init(&r, p, n);
	if (rd_u32(&r, &err) || err || rd_blob(&r, &text, &tlen) || rd_u32(&r, &count))
		return -EBADMSG;
	int rc = buf_put_u32(out, 0);
	rc = rc ? rc : buf_put_blob(out, text, tlen);
	rc = rc ? rc : buf_put_u32(out, count);
	for (uint32_t i = 0; !rc && i < count; i++) {
		if (rd_blob(&r, &k, &klen) || rd_blob(&r, &v, &vlen))
			return -EBADMSG;
		bool is_pid = klen == 3 && !memcmp(k, "pid", 3);
		rc = buf_put_blob(out, k, klen);
		rc = rc ? rc : buf_put_blob(out, is_pid ? (const uint8_t *)pid : v,
					    is_pid ? strlen(pid) : vlen);
	}
	return rc ? rc : rd_end(&r);
}

/* Writes what d has queued now, waiting for room: 0 or -errno. */
static int flush_now(struct dir *d)
{
	while (d->out.len) {
		ssize_t w = write(d->to, d->out.data, d->out.len);
		if (w > 0) {
			buf_consume(&d->out, (size_t)w);
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd p = { .fd = d->to, .events = POLLOUT };
			poll(&p, 1, 1000);
		} else {
			return -EPIPE;
		}
	}
	return 0;
}

/* A frame of the stub: queued as it is, or mutated. 0 or -errno. */
static int stub_frame(struct mangle *g, struct dir *d, const struct frame_hdr *h,
		      const uint8_t *raw)
{
	struct buf plain, mut;
	buf_init(&plain);
	buf_init(&mut);
	const uint8_t *p = raw + FRAME_HDR_LEN;
	size_t n = h->len;
	int rc = 0;
	if (h->flags & FRAME_F_ZLIB) {
		rc = zio_inflate(&plain, p, n, FRAME_MAX_LEN);
		if (rc)
			goto raw; /* not ours to judge: pass it on */
		p = plain.data;
		n = plain.len;
	}
	g->nmsg++;
	char call[32], what[128];
	call_name(g, h->handle, call, sizeof(call));
	if (g->fake_pid && !strcmp(call, "2/1") && !fake_pid(p, n, g->fake_pid, &mut)) {
		logf_(g, "seed %" PRIu64 " msg %lu: sys info claims pid %s\n", g->seed, g->nmsg,
		      g->fake_pid);
		rc = put_frame(&d->out, *h, mut.data, mut.len);
		goto out;
	}
	if (g->err_svc && atoi(call) == g->err_svc && strchr(call, '/') && n >= 4) {
		if ((rc = buf_put_bytes(&mut, p, n)) == 0) {
			be32_put(mut.data, g->err_code);
			logf_(g, "seed %" PRIu64 " msg %lu: answer to %s with error %" PRIu32 "\n",
			      g->seed, g->nmsg, call, g->err_code);
			rc = put_frame(&d->out, *h, mut.data, mut.len);
		}
		goto out;
	}
	if (g->nest_log && !strcmp(call, "3/1")) {
		struct rd r;
		uint32_t err, id;
		const uint8_t *text;
		size_t tlen;
		rd_init(&r, p, n);
		rc = put_frame(&d->out, *h, p, n);
		if (!rc && !rd_u32(&r, &err) && !err && !rd_blob(&r, &text, &tlen) && !rd_u32(&r, &id)) {
			struct frame_hdr lh = { .dst_id = h->dst_id, .src_id = id, .auth_id = id,
						.handle = HANDLE_FORWARD_LOG };
			uint8_t level = 2; /* and no text: it does not parse */
			logf_(g, "seed %" PRIu64 " msg %lu: a bad FORWARD_LOG from child %" PRIu32 "\n",
			      g->seed, g->nmsg, id);
			rc = put_frame(&d->out, lh, &level, 1);
		}
		goto out;
	}
	if (g->early_log && !strcmp(call, "2/1")) {
		struct frame_hdr lh = { .dst_id = h->dst_id, .src_id = h->src_id,
					.auth_id = h->src_id, .handle = HANDLE_FORWARD_LOG };
		uint8_t level = 2; /* and no text: it does not parse */
		g->early_log = false;
		logf_(g, "seed %" PRIu64 " msg %lu: a bad FORWARD_LOG before the sys info answer\n",
		      g->seed, g->nmsg);
		if ((rc = put_frame(&d->out, lh, &level, 1)) || (rc = flush_now(d)))
			goto out;
		usleep(200 * 1000);
	}
	if (g->bad_info && !strcmp(call, "2/1")) {
		logf_(g, "seed %" PRIu64 " msg %lu: sys info cut to 4 bytes\n", g->seed, g->nmsg);
		rc = put_frame(&d->out, *h, p, n < 4 ? n : 4);
		goto out;
	}
	bool hit = g->nmsg > g->skip && (double)(rnd(g) >> 11) / (double)(1ull << 53) < g->rate;
	if (!hit) {
		remember_payload(g, p, n);
		goto raw;
	}
	if (rnd_below(g, 40) == 0) {
		/* A broken frame: the stream must close with a reason. */
		static const char *const how[] = { "bad magic", "unknown flag", "zlib flag on a plain payload" };
		unsigned k = rnd_below(g, 3);
		uint8_t hdr[FRAME_HDR_LEN];
		struct frame_hdr fh = *h;
		fh.len = (uint32_t)n;
		fh.flags = k == 1 ? 0x0002 : k == 2 ? FRAME_F_ZLIB : 0;
		frame_hdr_encode(&fh, hdr);
		if (k == 0)
			hdr[0] = 'X';
		logf_(g, "seed %" PRIu64 " msg %lu (handle %u reply_to %u len %zu call %s): frame %s\n",
		      g->seed, g->nmsg, h->handle, h->reply_to, n, call, how[k]);
		rc = buf_put_bytes(&d->out, hdr, sizeof(hdr));
		rc = rc ? rc : buf_put_bytes(&d->out, p, n);
		goto out;
	}
	const char *kind = mutate(g, p, n, &mut, what, sizeof(what));
	if (!kind) {
		rc = -ENOMEM;
		goto out;
	}
	logf_(g, "seed %" PRIu64 " msg %lu (handle %u reply_to %u len %zu call %s): %s%s\n",
	      g->seed, g->nmsg, h->handle, h->reply_to, n, call, kind, what);
	remember_payload(g, p, n);
	rc = put_frame(&d->out, *h, mut.data, mut.len);
	goto out;
raw:
	rc = buf_put_bytes(&d->out, raw, FRAME_HDR_LEN + h->len);
out:
	buf_free(&plain);
	buf_free(&mut);
	return rc;
}

/* Cuts what d read into frames and queues them. 0 or -errno; a stream
 * that is not frames any more (cannot happen with a real stub) is passed
 * through as bytes from then on. */
static int cut(struct mangle *g, struct dir *d, bool from_stub, bool *raw_mode)
{
	size_t off = 0;
	int rc = 0;
	if (from_stub && g->hello_left) {
		size_t k = d->in.len < g->hello_left ? d->in.len : g->hello_left;
		rc = buf_put_bytes(&d->out, d->in.data, k);
		off += k;
		g->hello_left -= k;
	}
	while (!rc && d->in.len > off) {
		struct frame_hdr h;
		if (*raw_mode) {
			rc = buf_put_bytes(&d->out, d->in.data + off, d->in.len - off);
			off = d->in.len;
			break;
		}
		int e = frame_hdr_decode(d->in.data + off, d->in.len - off, &h, FRAME_MAX_LEN);
		if (e == -EAGAIN)
			break;
		if (e) {
			*raw_mode = true;
			continue;
		}
		if (d->in.len - off < FRAME_HDR_LEN + (size_t)h.len)
			break;
		if (from_stub) {
			rc = stub_frame(g, d, &h, d->in.data + off);
		} else {
			remember_call(g, &h, d->in.data + off + FRAME_HDR_LEN);
			rc = buf_put_bytes(&d->out, d->in.data + off, FRAME_HDR_LEN + h.len);
		}
		off += FRAME_HDR_LEN + h.len;
	}
	buf_consume(&d->in, off);
	return rc;
}

/* Reads what is there; 0, or -1 at EOF or on an error. */
static int fill(struct dir *d)
{
	if (buf_reserve(&d->in, 256u << 10))
		return -1;
	ssize_t got = read(d->from, d->in.data + d->in.len, d->in.cap - d->in.len);
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (got <= 0)
		return -1;
	d->in.len += (size_t)got;
	return 0;
}

/* Writes what is queued; 0, or -1 when the peer is gone. */
static int flush(struct dir *d)
{
	while (d->out.len) {
		ssize_t put = write(d->to, d->out.data, d->out.len);
		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0 && errno == EAGAIN)
			return 0;
		if (put <= 0)
			return -1;
		buf_consume(&d->out, (size_t)put);
	}
	return 0;
}

static void reap(pid_t pid)
{
	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	struct mangle g;
	memset(&g, 0, sizeof(g));
	if (argc < 4) {
		fprintf(stderr, "usage: stub_mangle SEED RATE STUB [ARG...]\n");
		return 2;
	}
	g.seed = g.rng = strtoull(argv[1], NULL, 10);
	g.rate = strtod(argv[2], NULL);
	g.hello_left = HELLO_LEN;
	const char *skip = getenv("MANGLE_SKIP"), *logpath = getenv("MANGLE_LOG");
	g.skip = skip ? strtoul(skip, NULL, 10) : 0;
	g.fake_pid = getenv("MANGLE_PID");
	g.bad_info = getenv("MANGLE_BADINFO") != NULL;
	g.nest_log = getenv("MANGLE_NESTLOG") != NULL;
	g.early_log = getenv("MANGLE_EARLYLOG") != NULL;
	const char *e = getenv("MANGLE_ERR");
	if (e && strchr(e, ':')) {
		g.err_svc = atoi(e);
		g.err_code = (uint32_t)strtoul(strchr(e, ':') + 1, NULL, 0);
	}
	if (logpath)
		g.log = fopen(logpath, "ae");
	/* The daemon may close our stderr's pipe after the bootstrap. */
	signal(SIGPIPE, SIG_IGN);

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("stub_mangle: socketpair");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("stub_mangle: fork");
		return 1;
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0)
			_exit(127);
		execv(argv[3], argv + 3);
		fprintf(stderr, "stub_mangle: exec %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	logf_(&g, "seed %" PRIu64 " rate %g skip %lu: started %s (pid %d)\n", g.seed, g.rate,
	      g.skip, argv[3], (int)pid);

	/* down: daemon -> stub; up: stub -> daemon. */
	struct dir down = { .from = 0, .to = sv[0] };
	struct dir up = { .from = sv[0], .to = 1 };
	bool raw_down = false, raw_up = false;
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	const char *why = "?";
	for (;;) {
		/* fd 0 and 1 may be one socket: one pollfd per direction end. */
		struct pollfd pf[4] = {
			{ .fd = down.out.len < OUT_HWM ? 0 : -1, .events = POLLIN },
			{ .fd = up.out.len < OUT_HWM ? sv[0] : -1, .events = POLLIN },
			{ .fd = up.out.len ? 1 : -1, .events = POLLOUT },
			{ .fd = down.out.len ? sv[0] : -1, .events = POLLOUT },
		};
		if (poll(pf, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			why = "poll failed";
			break;
		}
		bool down_eof = pf[0].revents && fill(&down);
		bool up_eof = pf[1].revents && fill(&up);
		if (cut(&g, &down, false, &raw_down) || cut(&g, &up, true, &raw_up)) {
			why = "out of memory";
			break;
		}
		if (up_eof) {
			/* What the stub said last still goes. */
			fcntl(1, F_SETFL, fcntl(1, F_GETFL) & ~O_NONBLOCK);
			flush(&up);
			why = "the stub closed";
			break;
		}
		if (down_eof) {
			why = "the daemon closed";
			break;
		}
		if (flush(&up)) {
			why = "the daemon went away";
			break;
		}
		if (flush(&down)) {
			why = "the stub went away";
			break;
		}
	}
	logf_(&g, "seed %" PRIu64 ": %lu messages from the stub; stopping: %s\n", g.seed, g.nmsg, why);
	close(sv[0]); /* the stub's EOF: it exits */
	close(0);
	close(1);
	reap(pid);
	for (unsigned i = 0; i < RECENT; i++)
		buf_free(&g.recent[i]);
	buf_free(&down.in);
	buf_free(&down.out);
	buf_free(&up.in);
	buf_free(&up.out);
	if (g.log)
		fclose(g.log);
	return 0;
}
