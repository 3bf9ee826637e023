/*
 * boot — the first stage and the bootstrap of one child context, shared by
 * the daemon's connection methods and by stubs that spawn children.
 *
 * boot_stage_line builds the `sh -c` line; boot_spawn_local forks it on a
 * socketpair (boot_spawn.c); boot_start uploads the image, waits for the stub's hello and
 * sends the CONFIG frame, all asynchronously on the loop. The stub side
 * (boot_stub_startup) cleans up the temporary directory and renames itself.
 *
 * Not for: reaping. Nothing here calls waitpid: every process that forks
 * (daemon and stub) reaps all of its children in its SIGCHLD handler with
 * waitpid(-1, WNOHANG) and dispatches exits by pid. Not for: routing (the
 * caller hands the finished stream to router_add_child).
 */
#include "boot.h"
#include "frame.h"
#include "loop.h"
#include "stream.h"
#include "zio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BOOT_ERR_MAX   4096 /* stderr bytes of a failed stage kept for the reason */
#define BOOT_GRACE_MS  200  /* after a failure, how long stderr may still trickle in */
#define BOOT_ARGV0     "mitofs:"
#define BOOT_DIR_STEM  "mitofs."

/* The machine this program is built for, as `uname -m` says it. */
#if defined(__x86_64__)
#define BOOT_ARCH "x86_64"
#elif defined(__aarch64__)
#define BOOT_ARCH "aarch64"
#elif defined(__i386__)
#define BOOT_ARCH "i686"
#elif defined(__arm__)
#define BOOT_ARCH "armv7l"
#elif defined(__riscv) && __riscv_xlen == 64
#define BOOT_ARCH "riscv64"
#else
#error "unknown architecture: add its uname -m name"
#endif

const char boot_arch[] = BOOT_ARCH;

/* --- the first-stage line --- */

/*
 * The line, for dash, bash and busybox sh alike:
 *  0. `uname -m` picks the image (its index, size and tag), or the stage
 *     fails naming the arch and those we have; for a child on this very
 *     machine (local, sudo...) the caller says what uname(2) tells it;
 *  1. with a cache tag, a stub cached under $XDG_RUNTIME_DIR/mitofs or
 *     ~/.cache/mitofs (a 0700 directory) is run at once: no upload;
 *  2. otherwise it says PROTO_NEED and the index, reads exactly that
 *     image's number of bytes into a fresh 0700 directory, unpacks them
 *     with gzip -dc, moves the stub into the cache when there is one
 *     (keeping the BOOT_CACHE_KEEP newest builds), and runs it.
 * The trap removes the directory when anything before the exec fails
 * (dash and busybox run it when exec itself fails too); after a successful
 * exec the stub removes it. Only POSIX sh and busybox applets: no /usr.
 */
struct line {
	char *p;
	size_t cap, off;
	int err;
};

static void put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(l->p + l->off, l->cap > l->off ? l->cap - l->off : 0, fmt, ap);
	va_end(ap);
	if (n < 0 || l->off + (size_t)n >= l->cap)
		l->err = -ENAMETOOLONG;
	else
		l->off += (size_t)n;
}

/* 'NAME' with every ' written as '\'' */
static void put_word(struct line *l, const char *w)
{
	put(l, "'");
	for (const char *q = w; *q && !l->err; q++)
		put(l, *q == '\'' ? "'\\''" : "%c", *q);
	put(l, "'");
}

static bool arch_ok(const char *a)
{
	return a && *a && strlen(a) < 32 && !a[strspn(a, "abcdefghijklmnopqrstuvwxyz0123456789_")];
}

int boot_images_add(struct boot_images *s, const char *arch, const void *data, size_t len,
		    int tagged)
{
	if (s->n >= BOOT_MAX_IMAGES)
		return -ENOSPC;
	if (!arch_ok(arch) || !data)
		return -EINVAL;
	struct boot_image *im = &s->img[s->n];
	memset(im, 0, sizeof(*im));
	im->arch = arch;
	im->data = data;
	im->len = len;
	if (tagged) {
		int rc = boot_image_tag(data, len, im->tag);
		if (rc)
			return rc;
	}
	s->n++;
	return 0;
}

void boot_images_arches(const struct boot_images *s, char *out, size_t cap)
{
	size_t off = 0;
	if (cap)
		out[0] = 0;
	for (size_t i = 0; i < s->n && off < cap; i++) {
		int n = snprintf(out + off, cap - off, "%s%s", i ? ", " : "", s->img[i].arch);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

int boot_stage_line(char *out, size_t cap, const struct boot_images *s, const char *name)
{
	return boot_stage_line_arch(out, cap, s, name, NULL);
}

int boot_stage_line_arch(char *out, size_t cap, const struct boot_images *s, const char *name,
			 const char *arch)
{
	if (!name || !*name || !s || s->n == 0 || s->n > 10 || (arch && !arch_ok(arch)))
		return -EINVAL;
	/* Cached when the images have tags (all or none). */
	bool cached = s->img[0].tag[0] != 0;
	for (size_t i = 0; i < s->n; i++) {
		const char *t = s->img[i].tag;
		if (!arch_ok(s->img[i].arch) || (t[0] != 0) != cached ||
		    t[strspn(t, "0123456789abcdef")])
			return -EINVAL;
	}
	struct line l = { out, cap, 0, 0 };
	char have[64 * BOOT_MAX_IMAGES];
	boot_images_arches(s, have, sizeof(have));
	/* `$(uname -m)` is a fork and an exec, more than the shell itself
	 * costs: skipped when the caller knows the answer. */
	if (arch)
		put(&l, "m=%s;case $m in ", arch);
	else
		put(&l, "m=$(uname -m);case $m in ");
	for (size_t i = 0; i < s->n; i++) {
		const struct boot_image *im = &s->img[i];
		/* The BSDs' name for it, which a Linux compat layer may show. */
		const char *alias = !strcmp(im->arch, "aarch64") ? "|arm64"
				    : !strcmp(im->arch, "x86_64") ? "|amd64" : "";
		put(&l, "%s%s)i=%zu n=%zu t=%s;;", im->arch, alias, i, im->len, im->tag);
	}
	put(&l, "*)echo \"mitofs: unsupported arch $m (have: %s)\" >&2;exit 1;;esac;", have);
	if (cached) {
		put(&l, "c=\"${XDG_RUNTIME_DIR:-${HOME:+$HOME/.cache}}\";f=;"
			"[ -n \"$c\" ]&&c=\"$c/mitofs\"&&f=\"$c/stub-$t\"&&[ -x \"$f\" ]&&exec \"$f\" - ");
		put_word(&l, name);
		put(&l, ";trap 'rm -rf \"$d\"' 0;"
			"if [ -n \"$f\" ]&&mkdir -p -m 700 \"$c\" 2>/dev/null&&"
			"d=$(mktemp -d \"$c/" BOOT_DIR_STEM "XXXXXX\" 2>/dev/null);then :;"
			"else f=;d=$(mktemp -d \"${TMPDIR:-/tmp}/" BOOT_DIR_STEM "XXXXXX\");fi&&");
	} else {
		put(&l, "trap 'rm -rf \"$d\"' 0;d=$(mktemp -d \"${TMPDIR:-/tmp}/" BOOT_DIR_STEM "XXXXXX\")&&");
	}
	put(&l, "printf " PROTO_NEED "$i&&head -c $n|gzip -dc>\"$d/s\"&&chmod 700 \"$d/s\"&&");
	if (cached) {
		/* Keep the newest few builds, not one: daemons of other versions
		 * (or arches) on this target would evict each other's stub and
		 * upload it again at every connect. A running stub does not need
		 * its file. Names are stub-HEX: ls output splits safely. */
		put(&l, "if [ -n \"$f\" ]&&mv -f \"$d/s\" \"$f\"&&rmdir \"$d\";then "
			"(cd \"$c\"&&k=0&&for o in $(ls -t);do case $o in stub-*)k=$((k+1));"
			"[ $k -le %d ]||rm -f \"$o\";;esac;done);exec \"$f\" - ", BOOT_CACHE_KEEP);
		put_word(&l, name);
		put(&l, ";fi;");
	}
	put(&l, "exec \"$d/s\" \"$d\" ");
	put_word(&l, name);
	if (!l.err && cap)
		out[l.off] = 0;
	return l.err;
}

int boot_image_tag(const void *image, size_t n, char tag[BOOT_TAG_LEN + 1])
{
	/* Names a version of the stub, not a secret: a file of the same
	 * user could be replaced by that user anyway. It hashes the program,
	 * not its gzip form: a stub re-compresses itself for its children,
	 * and the same program must find the same cache entry. */
	struct buf raw;
	buf_init(&raw);
	int rc = zio_gunzip(&raw, image, n, 64u << 20);
	if (!rc) {
		uLong crc = crc32(0L, raw.data, (uInt)raw.len);
		uLong adl = adler32(1L, raw.data, (uInt)raw.len);
		snprintf(tag, BOOT_TAG_LEN + 1, "%08lx%08lx", crc & 0xffffffffUL, adl & 0xffffffffUL);
	}
	buf_free(&raw);
	return rc;
}

/* --- the stub's side --- */

/*
 * Rewrites our command line to name alone, where the kernel keeps it (the
 * argument strings, one after another on the stack), as setproctitle
 * does: ps shows `mitofs:NAME` (/proc/PID/cmdline: that, then NULs to the
 * old length). It replaces a
 * second exec of ourselves, which cost a context about as much as its
 * whole first stage. The strings the stage passed (a path of 20 bytes or
 * more, `-` or a directory, the name) always leave room. 0; -ENOSPC when
 * they are not contiguous or too short (then the caller execs).
 */
int boot_set_cmdline(int argc, char **argv, const char *name)
{
	char *start = argv[0];
	for (int i = 1; i < argc; i++)
		if (argv[i] != argv[i - 1] + strlen(argv[i - 1]) + 1)
			return -ENOSPC;
	size_t room = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - start);
	size_t n = strlen(name) + 1;
	if (n > room)
		return -ENOSPC;
	memset(start, 0, room);
	memcpy(start, name, n);
	for (int i = 1; i < argc; i++)
		argv[i] = start + room - 1; /* "" */
	prctl(PR_SET_NAME, name); /* comm: its first 15 bytes */
	return 0;
}

/* Whether the kernel shows our command line as name: not under
 * qemu-user, whose guest argv is a copy the host never sees. Without a
 * readable /proc, nothing better can be done: yes. */
static bool shown_as(const char *name)
{
	char buf[sizeof(BOOT_ARGV0) + PROTO_MAX_NAME + 1];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	size_t len = strlen(name) + 1;
	return n >= (ssize_t)len && memcmp(buf, name, len) == 0;
}

int boot_stub_startup(int argc, char **argv)
{
	/* The name alone (a debugger or valgrind passes a path). */
	const char *base = argc >= 1 && argv[0] ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : argc >= 1 ? argv[0] : NULL;
	if (base && strncmp(base, BOOT_ARGV0, strlen(BOOT_ARGV0)) == 0)
		return 0;
	if (argc != 3)
		return -EINVAL;
	const char *dir = argv[1], *name = argv[2];
	size_t nlen = strlen(name);
	if (nlen == 0 || nlen > PROTO_MAX_NAME)
		return -EINVAL;
	if (strcmp(dir, "-") != 0) {
		/* Uncached: remove the temporary directory, and only ever one
		 * that a first stage made. */
		const char *base = strrchr(dir, '/');
		base = base ? base + 1 : dir;
		if (strncmp(base, BOOT_DIR_STEM, strlen(BOOT_DIR_STEM)) != 0)
			return -EINVAL;
		char path[4096];
		int n = snprintf(path, sizeof(path), "%s/s", dir);
		if (n < 0 || (size_t)n >= sizeof(path))
			return -ENAMETOOLONG;
		unlink(path);
		rmdir(dir);
	}

	char arg0[sizeof(BOOT_ARGV0) + PROTO_MAX_NAME];
	snprintf(arg0, sizeof(arg0), BOOT_ARGV0 "%s", name);
	if (boot_set_cmdline(argc, argv, arg0) == 0 && shown_as(arg0))
		return 0;
	char *nargv[] = { arg0, NULL };
	execv("/proc/self/exe", nargv);
	/* No /proc (a chroot, say): run on under the temporary name. */
	return 0;
}

int boot_self_image(struct buf *out)
{
	struct buf raw;
	struct stat st;
	int rc = 0;
	buf_init(&raw);
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = buf_reserve(&raw, (size_t)st.st_size + 1)))
		goto out;
	for (;;) {
		if (raw.len == raw.cap && (rc = buf_reserve(&raw, 65536)))
			goto out;
		ssize_t r = read(fd, raw.data + raw.len, raw.cap - raw.len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		raw.len += (size_t)r;
	}
	/* Level 1: a third of level 6's CPU (5 ms, not 14, for the x86_64
	 * stub) for 6% more bytes, paid by every parent stub at its first
	 * spawn, while most children find their stub in the cache. */
	rc = zio_gzip(out, raw.data, raw.len, 1);
out:
	buf_free(&raw);
	close(fd);
	return rc;
}

/* --- asynchronous bootstrap --- */

struct boot_job {
	struct loop *l;
	int fd;                   /* before the first token: raw, else -1 */
	uint8_t tok[PROTO_HELLO_LEN];
	size_t ntok;
	struct boot_images imgs;  /* the caller's bytes; one is sent on PROTO_NEED */
	struct stream *s;         /* NULL once handed over or failed */
	int errfd;                /* -1 when closed */
	pid_t pid;
	struct loop_timer *timer; /* the hello timeout, then the stderr grace */
	struct buf cfgmsg;        /* the CONFIG frame's payload */
	uint32_t id, parent;      /* dst and src/auth of the CONFIG frame */
	int timeout_ms;
	boot_done_fn *done;
	void *arg;
	int err;                  /* positive errno once failing */
	char why[384];            /* the failure, without the stage's stderr */
	size_t errlen;
	char errtxt[BOOT_ERR_MAX];
};

static void job_free(struct boot_job *j)
{
	if (j->fd >= 0) {
		loop_del(j->l, j->fd);
		close(j->fd);
	}
	if (j->timer)
		loop_timer_cancel(j->l, j->timer);
	if (j->errfd >= 0) {
		loop_del(j->l, j->errfd);
		close(j->errfd);
	}
	stream_free(j->s);
	buf_free(&j->cfgmsg);
	free(j);
}

/* Reads what errfd has now. Returns 1 at EOF or error, else 0. */
static int err_drain(struct boot_job *j)
{
	char tmp[1024];
	for (;;) {
		ssize_t r = read(j->errfd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN ? 0 : 1;
		if (r == 0)
			return 1;
		size_t take = sizeof(j->errtxt) - j->errlen;
		if (take > (size_t)r)
			take = (size_t)r;
		memcpy(j->errtxt + j->errlen, tmp, take);
		j->errlen += take;
	}
}

static void err_close(struct boot_job *j)
{
	if (j->errfd < 0)
		return;
	loop_del(j->l, j->errfd);
	close(j->errfd);
	j->errfd = -1;
}

/* Reports the failure with the stage's stderr appended, and frees j. */
static void job_finish_failed(struct boot_job *j)
{
	if (j->errfd >= 0)
		err_drain(j);
	err_close(j);
	char msg[sizeof(j->why) + 32 + 2 * BOOT_ERR_MAX];
	size_t off = (size_t)snprintf(msg, sizeof(msg), "bootstrap failed: %s", j->why);
	/* stderr as one line: trimmed, newlines as "; ", controls as '?' */
	const char *t = j->errtxt;
	size_t n = j->errlen;
	while (n && (t[0] == '\n' || t[0] == '\r' || t[0] == ' ')) {
		t++;
		n--;
	}
	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
		n--;
	if (n && off + 2 < sizeof(msg)) {
		memcpy(msg + off, ": ", 2);
		off += 2;
	}
	for (size_t i = 0; i < n && off + 3 < sizeof(msg); i++) {
		unsigned char c = (unsigned char)t[i];
		if (c == '\n') {
			msg[off++] = ';';
			msg[off++] = ' ';
		} else {
			msg[off++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	msg[off] = 0;
	if (j->timer) {
		loop_timer_cancel(j->l, j->timer);
		j->timer = NULL;
	}
	j->done(NULL, j->pid, j->err, msg, j->arg);
	job_free(j);
}

static void grace_timer_cb(struct loop *l, void *arg)
{
	(void)l;
	struct boot_job *j = arg;
	j->timer = NULL;
	job_finish_failed(j);
}

/* Stops the bootstrap: stream gone, child killed; reports at once, or
 * after the stage's stderr reached EOF (at most BOOT_GRACE_MS). */
static void job_fail(struct boot_job *j, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->why, sizeof(j->why), fmt, ap);
	va_end(ap);
	j->err = err;
	stream_free(j->s); /* allowed from inside the stream's callbacks */
	j->s = NULL;
	if (j->fd >= 0) {
		loop_del(j->l, j->fd);
		close(j->fd);
		j->fd = -1;
	}
	if (j->pid > 0)
		kill(j->pid, SIGKILL);
	if (j->timer) {
		loop_timer_cancel(j->l, j->timer);
		j->timer = NULL;
	}
	if (j->errfd >= 0 && !err_drain(j)) {
		j->timer = loop_timer_add(j->l, BOOT_GRACE_MS, grace_timer_cb, j);
		if (j->timer)
			return; /* err_cb or the timer finishes */
	}
	job_finish_failed(j);
}

static void err_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	struct boot_job *j = arg;
	if (!err_drain(j))
		return;
	err_close(j);
	if (j->err)
		job_finish_failed(j);
}

static void timeout_cb(struct loop *l, void *arg)
{
	(void)l;
	struct boot_job *j = arg;
	j->timer = NULL;
	job_fail(j, ETIMEDOUT, "no hello within %d ms", j->timeout_ms);
}

/* A stream handed over but not yet adopted by a router drops what comes. */
static void orphan_msg(struct stream *s, struct msg *m, void *arg)
{
	(void)s;
	(void)arg;
	msg_free(m);
}

static void orphan_close(struct stream *s, int err, const char *why, void *arg)
{
	(void)s;
	(void)err;
	(void)why;
	(void)arg;
}

static const struct stream_ops orphan_ops = {
	.on_msg = orphan_msg,
	.on_close = orphan_close,
};

static void boot_on_msg(struct stream *s, struct msg *m, void *arg)
{
	/* The stream only delivers frames after the hello, and by then the
	 * stream has been handed over; anything else is a broken peer. */
	(void)s;
	msg_free(m);
	job_fail(arg, EPROTO, "frame before hello");
}

static void boot_on_close(struct stream *s, int err, const char *why, void *arg)
{
	(void)s;
	/* A stage that exits without reading the whole image resets the
	 * connection: for the user that is an early EOF like any other. */
	if (err == EPROTO) /* "bad hello": something else answered */
		job_fail(arg, EPROTO, "%s", why ? why : "bad hello");
	else if (err && err != ECONNRESET && err != EPIPE)
		job_fail(arg, err, "%s before hello", why ? why : strerror(err));
	else
		job_fail(arg, EPROTO, "EOF before hello");
}

static void boot_on_hello(struct stream *s, void *arg)
{
	struct boot_job *j = arg;
	struct msg m = {
		.dst_id = j->id,
		.src_id = j->parent,
		.auth_id = j->parent,
		.handle = HANDLE_CONFIG,
		.reply_to = 0,
		.data = j->cfgmsg.data,
		.len = (uint32_t)j->cfgmsg.len,
	};
	int rc = stream_send(s, &m);
	if (rc) {
		job_fail(j, -rc, "sending config: %s", strerror(-rc));
		return;
	}
	if (j->timer) {
		loop_timer_cancel(j->l, j->timer);
		j->timer = NULL;
	}
	err_close(j);
	stream_set_ops(s, &orphan_ops, NULL);
	j->s = NULL;
	j->done(s, j->pid, 0, NULL, j->arg);
	job_free(j);
}

static const struct stream_ops boot_ops = {
	.on_msg = boot_on_msg,
	.on_close = boot_on_close,
	.on_hello = boot_on_hello,
};

/* What the target wrote on stdout where the token was due (the tokens'
 * bytes, and what else is there to read now), as a quoted line: a login
 * shell such as nologin says why there, not on stderr. */
static void said_instead(struct boot_job *j, int fd, char *out, size_t cap)
{
	char raw[256];
	size_t n = j->ntok;
	memcpy(raw, j->tok, n);
	if (fd >= 0) {
		ssize_t r = read(fd, raw + n, sizeof(raw) - n);
		if (r > 0)
			n += (size_t)r;
	}
	while (n && (raw[n - 1] == '\n' || raw[n - 1] == '\r' || raw[n - 1] == ' '))
		n--;
	size_t o = 0;
	for (size_t i = 0; i < n && o + 3 < cap; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c == '\n') {
			out[o++] = ';';
			out[o++] = ' ';
		} else {
			out[o++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
		}
	}
	out[o] = 0;
}

/* The stage's first 8 bytes: a hello (the cached stub runs) or PROTO_NEED
 * (send the image). Read raw, exactly 8 bytes, so nothing of what follows
 * is consumed before the stream takes over. */
static void tok_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)events;
	struct boot_job *j = arg;
	ssize_t r = read(fd, j->tok + j->ntok, sizeof(j->tok) - j->ntok);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		char said[256];
		said_instead(j, -1, said, sizeof(said));
		if (r < 0 && errno != ECONNRESET)
			job_fail(j, errno, "%s before hello", strerror(errno));
		else if (said[0])
			job_fail(j, EPROTO, "EOF before hello; the target wrote '%s'", said);
		else
			job_fail(j, EPROTO, "EOF before hello");
		return;
	}
	j->ntok += (size_t)r;
	if (j->ntok < sizeof(j->tok))
		return;
	loop_del(l, fd);
	j->fd = -1;
	bool need = memcmp(j->tok, PROTO_NEED, PROTO_NEED_LEN) == 0;
	size_t want = need ? (size_t)(j->tok[PROTO_NEED_LEN] - '0') : 0;
	if (need ? want >= j->imgs.n : memcmp(j->tok, PROTO_HELLO, PROTO_HELLO_LEN) != 0) {
		char said[256];
		said_instead(j, fd, said, sizeof(said));
		close(fd);
		job_fail(j, EPROTO, "bad hello: the target wrote '%s' where the stub's hello was due",
			 said);
		return;
	}
	j->s = stream_new(l, fd, fd, &boot_ops, j);
	if (!j->s) {
		close(fd);
		job_fail(j, errno, "stream: %s", strerror(errno));
		return;
	}
	if (!need) {
		boot_on_hello(j->s, j);
		return;
	}
	stream_expect_hello(j->s, PROTO_HELLO, PROTO_HELLO_LEN);
	int rc = stream_send_raw(j->s, j->imgs.img[want].data, j->imgs.img[want].len);
	if (rc)
		job_fail(j, -rc, "sending the image: %s", strerror(-rc));
}

struct boot_job *boot_start(struct loop *l, int fd, int errfd, pid_t pid,
			    const struct boot_images *imgs, const struct proto_config *cfg,
			    int timeout_ms, boot_done_fn *done, void *arg)
{
	int rc;
	struct boot_job *j = NULL;
	if (!cfg || cfg->nparents == 0 || cfg->nparents > 64 || !done || !imgs || !imgs->n ||
	    imgs->n > BOOT_MAX_IMAGES) {
		rc = -EINVAL;
		goto fail;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		rc = -ENOMEM;
		goto fail;
	}
	j->l = l;
	j->fd = -1;
	j->errfd = -1;
	j->pid = pid;
	j->id = cfg->id;
	j->parent = cfg->parents[cfg->nparents - 1];
	j->timeout_ms = timeout_ms;
	j->done = done;
	j->arg = arg;
	buf_init(&j->cfgmsg);
	if ((rc = proto_config_encode(&j->cfgmsg, cfg)))
		goto fail;
	if (errfd >= 0) {
		int fl = fcntl(errfd, F_GETFL);
		if (fl < 0 || fcntl(errfd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    (rc = loop_add(l, errfd, EPOLLIN, err_cb, j)) < 0) {
			rc = rc ? rc : -errno;
			goto fail;
		}
		j->errfd = errfd;
		errfd = -1;
	}
	j->imgs = *imgs;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    (rc = loop_add(l, fd, EPOLLIN, tok_cb, j)) < 0) {
		rc = rc ? rc : -errno;
		goto fail;
	}
	j->fd = fd;
	fd = -1;
	if (timeout_ms > 0) {
		j->timer = loop_timer_add(l, (uint64_t)timeout_ms, timeout_cb, j);
		if (!j->timer) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	return j;
fail:
	if (j)
		job_free(j); /* closes the stream (fd) and errfd if taken */
	if (fd >= 0)
		close(fd);
	if (errfd >= 0)
		close(errfd);
	errno = -rc;
	return NULL;
}

struct boot_job *boot_local(struct loop *l, const void *image, size_t n, const char *tag,
			    const struct proto_config *cfg, int timeout_ms,
			    boot_done_fn *done, void *arg)
{
	char line[BOOT_LINE_MAX];
	int ep[2], fd, rc = -EINVAL;
	pid_t pid;
	struct boot_images one = { 0 };
	if (!image || !cfg || (rc = boot_images_add(&one, BOOT_ARCH, image, n, 0))) {
		errno = -rc;
		return NULL;
	}
	/* The caller's tag, else ours; an image that is not gzip goes
	 * uncached (and its stage says what gzip thinks of it). */
	if (tag)
		snprintf(one.img[0].tag, sizeof(one.img[0].tag), "%s", tag);
	else if (boot_image_tag(image, n, one.img[0].tag))
		one.img[0].tag[0] = 0;
	if ((rc = boot_stage_line(line, sizeof(line), &one, cfg->name))) {
		errno = -rc;
		return NULL;
	}
	if (pipe2(ep, O_CLOEXEC) < 0)
		return NULL;
	rc = boot_spawn_local(line, ep[1], &pid, &fd);
	close(ep[1]);
	if (rc) {
		close(ep[0]);
		errno = -rc;
		return NULL;
	}
	struct boot_job *j = boot_start(l, fd, ep[0], pid, &one, cfg, timeout_ms, done, arg);
	if (!j) {
		int e = errno;
		kill(pid, SIGKILL);
		errno = e;
	}
	return j;
}

void boot_cancel(struct boot_job *j)
{
	if (!j)
		return;
	if (j->pid > 0 && !j->err)
		kill(j->pid, SIGKILL);
	job_free(j);
}
