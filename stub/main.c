/*
 * main — the stub, "mitofs-stub" on disk and "mitofs:NAME" once running:
 * the agent the first stage (core/boot.c) starts on a target.
 *
 * For: writing the hello, waiting for the CONFIG frame on the parent
 * stream (fd 0/1), setting up the router and the services (exec, sys,
 * spawn) behind one CALL_SERVICE dispatcher, forwarding our own log lines
 * and stderr to the master as FORWARD_LOG, reaping every child (SIGCHLD),
 * and shutting down on SHUTDOWN, a lost parent (its stream closed, or
 * silent past the keepalive window), or SIGTERM/SIGINT/SIGHUP:
 * jobs killed, child streams closed, up to a second for the children to
 * go, then exit. Nothing but the stream ever writes fd 1.
 * Not for: what the services do (svc_*.c), linking libfuse or libssh.
 *
 * Built by `make build/mitofs-stub` (musl, static); the daemon embeds it
 * gzip'd. Run by hand it refuses: it expects the first stage's argv.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot.h"
#include "buf.h"
#include "log.h"
#include "loop.h"
#include "proto.h"
#include "router.h"
#include "stream.h"
#include "svc.h"
#include "guard.h"
#include "svc_exec.h"
#include "svc_fs.h"
#include "svc_push.h"
#include "svc_spawn.h"
#include "svc_sys.h"

#define STUB_GRACE_MS 1000 /* how long children get to exit at shutdown */
#define STUB_LINE_MAX 1024 /* a longer stderr line is forwarded in pieces */
#define STUB_SPARE_MAX ((size_t)4 << 20) /* the largest payload buffer kept */
#define STUB_TRIM_MS 3000 /* no message for this long: kept buffers go */
#define STUB_PIPE_SZ (1 << 20) /* fd 0/1 pipe size asked for (the unprivileged limit) */

struct stub {
	struct loop *l;
	struct stream *parent; /* ours until the CONFIG frame, then the router's */
	struct router *r;
	struct proto_config cfg;
	struct svc_exec *exec;
	struct svc_spawn *spawn;
	struct svc_fs *fs;
	struct svc_push *push;
	struct msg_spare *spare; /* for all our streams (core/frame.h) */
	uint64_t trim_seen;      /* messages counted at the last idle_trim */
	bool trimmed;            /* idle_trim gave back what it could since */
	int errfd;             /* read end of the pipe that is our fd 2 */
	size_t linelen;
	char line[STUB_LINE_MAX];
	bool stopping;
	struct loop_timer *grace;
	uint64_t heard_ms;     /* when the parent was last heard (keepalive) */
	uint64_t heard_bytes;  /* what its stream had read by then */
	int rc;                /* exit status */
};

/* --- logging --- */

static void log_forward(int level, const char *text, void *arg)
{
	struct stub *st = arg;
	struct buf b;
	buf_init(&b);
	if (!buf_put_u8(&b, (uint8_t)level) && !buf_put_str(&b, text))
		router_send_to(st->r, 0, HANDLE_FORWARD_LOG, 0, b.data, b.len);
	buf_free(&b);
}

static void line_flush(struct stub *st)
{
	if (!st->linelen)
		return;
	log_warn("stderr: %.*s", (int)st->linelen, st->line);
	st->linelen = 0;
}

static void on_stderr(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)events;
	struct stub *st = arg;
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		line_flush(st);
		loop_del(l, fd);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (tmp[i] == '\n') {
			line_flush(st);
			continue;
		}
		st->line[st->linelen++] = tmp[i];
		if (st->linelen == sizeof(st->line))
			line_flush(st);
	}
}

/* Makes fd 2 a pipe we read ourselves, so that nothing the stub or libc
 * prints can reach the frame stream. Non-blocking on both ends: a full
 * pipe loses text rather than stalling the stub. */
static int stderr_capture(struct stub *st)
{
	int p[2];
	if (fcntl(2, F_GETFD) < 0) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0 && fd != 2) {
			dup2(fd, 2);
			close(fd);
		}
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	if (dup2(p[1], 2) < 0) {
		int rc = -errno;
		close(p[0]);
		close(p[1]);
		return rc;
	}
	close(p[1]);
	st->errfd = p[0];
	return 0;
}

/* --- shutdown and reaping --- */

static void finish(struct stub *st)
{
	if (st->grace) {
		loop_timer_cancel(st->l, st->grace);
		st->grace = NULL;
	}
	loop_stop(st->l);
}

/* Reaps every exited child and dispatches it. While stopping, finishes
 * once no child is left. */
static void reap(struct stub *st)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (st->exec && svc_exec_child_exited(st->exec, pid, status))
			continue;
		if (st->spawn && svc_spawn_child_exited(st->spawn, pid, status))
			continue;
		log_debug("stub: reaped pid %d", (int)pid);
	}
	if (st->stopping && pid < 0 && errno == ECHILD)
		finish(st);
}

static void on_sigchld(struct loop *l, int signo, void *arg)
{
	(void)l;
	(void)signo;
	reap(arg);
}

static void grace_cb(struct loop *l, void *arg)
{
	(void)l;
	struct stub *st = arg;
	st->grace = NULL;
	if (st->exec)
		svc_exec_kill_all(st->exec);
	if (st->spawn)
		svc_spawn_kill_all(st->spawn);
	loop_stop(st->l);
}

static void stub_shutdown(struct stub *st, const char *why)
{
	if (st->stopping)
		return;
	st->stopping = true;
	log_info("stub(%s): shutting down: %s", st->cfg.name, why);
	if (st->exec)
		svc_exec_kill_all(st->exec);
	if (st->spawn)
		svc_spawn_shutdown(st->spawn);
	st->grace = loop_timer_add(st->l, STUB_GRACE_MS, grace_cb, st);
	if (!st->grace)
		loop_stop(st->l);
	reap(st);
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	(void)l;
	stub_shutdown(arg, strsignal(signo));
}

/* --- router --- */

static void on_route_lost(struct router *r, uint32_t id, const char *why, void *arg)
{
	(void)r;
	(void)why;
	struct stub *st = arg;
	if (st->exec)
		svc_exec_route_lost(st->exec, id);
	if (st->fs)
		svc_fs_route_lost(st->fs, id);
}

static void on_parent_lost(struct router *r, const char *why, void *arg)
{
	(void)r;
	stub_shutdown(arg, why);
}

static void on_drain(struct router *r, void *arg)
{
	(void)r;
	struct stub *st = arg;
	if (st->exec)
		svc_exec_drain(st->exec);
}

static const struct router_ops stub_router_ops = {
	.on_route_lost = on_route_lost,
	.on_parent_lost = on_parent_lost,
	.on_drain = on_drain,
};

static void on_call(struct router *r, const struct msg *m, void *arg)
{
	struct stub *st = arg;
	struct svc_req q = svc_req_of(m);
	struct rd rd;
	uint16_t svc, op;
	rd_init(&rd, m->data, m->len);
	if (rd_u16(&rd, &svc) || rd_u16(&rd, &op)) {
		log_warn("stub: malformed call from %u", m->src_id);
		svc_reply_errf(r, q, EBADMSG, "call: short header");
		return;
	}
	if (st->stopping) {
		svc_reply_errf(r, q, ESHUTDOWN, "context is shutting down");
		return;
	}
	/* fs calls may leave a caller's fsuid and groups in force (fscred.h);
	 * what starts processes or writes files must run as ourselves. */
	if (svc != SVC_FS && svc != SVC_SYS && svc_fs_own_creds(st->fs)) {
		svc_reply_errf(r, q, EPERM, "cannot restore the context's own credentials");
		return;
	}
	switch (svc) {
	case SVC_EXEC:
		svc_exec_call(st->exec, m, op, &rd);
		break;
	case SVC_SYS:
		svc_sys_call(r, m, op, &rd);
		break;
	case SVC_SPAWN:
		svc_spawn_call(st->spawn, m, op, &rd);
		break;
	case SVC_FS:
		svc_fs_call(st->fs, m, op, &rd);
		break;
	case SVC_PUSH:
		svc_push_call(st->push, m, op, &rd);
		break;
	default:
		svc_reply_errf(r, q, EINVAL, "no service %u in this context", svc);
		break;
	}
}

static void on_shutdown(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	(void)m;
	stub_shutdown(arg, "asked by the parent");
}

/* --- the parent's silence --- */

/* With a keepalive the parent sends something at least every interval
 * (its pings, to us or through us). Silence for two intervals means the
 * link is gone, however quietly (packets dropped, a cable cut, a frozen
 * parent): shut down as if the stream had closed, so that no job of ours
 * outlives a master that can no longer reach it, whatever TCP's own
 * keepalive (two hours by default) would say. Bytes waiting unread on
 * fd 0 count as heard: the stream may be paused for back-pressure. */
static void parent_watch(struct loop *l, void *arg)
{
	struct stub *st = arg;
	uint64_t now = loop_now_ms(), ka = st->cfg.keepalive_ms;
	if (st->stopping)
		return;
	struct stream *ps = router_stream_for(st->r, st->cfg.parents[st->cfg.nparents - 1]);
	struct stream_stats ss = { 0 };
	int avail = 0;
	if (ps)
		stream_get_stats(ps, &ss);
	if (ss.bytes_in != st->heard_bytes || (ioctl(0, FIONREAD, &avail) == 0 && avail > 0)) {
		st->heard_bytes = ss.bytes_in;
		st->heard_ms = now;
	} else if (now - st->heard_ms >= 2 * ka) {
		char why[160];
		snprintf(why, sizeof(why), "nothing from the parent for %.1f s (keepalive %.1f s): "
			 "taken for lost", (double)(now - st->heard_ms) / 1000, (double)ka / 1000);
		stub_shutdown(st, why);
		return;
	}
	/* A quarter interval: the stub goes at most that late. */
	uint64_t step = ka / 4 < 50 ? 50 : ka / 4 > 1000 ? 1000 : ka / 4;
	if (!loop_timer_add(l, step, parent_watch, st))
		log_warn("stub: cannot watch the parent's keepalive: out of memory");
}

/* --- memory --- */

/*
 * What an idle stub keeps mapped and does not use, given back once per
 * quiet spell (idle_trim):
 * - the stack below the idle loop's frames: a burst (a spawn's stage
 *   line, fs paths, a directory listing) leaves tens of KiB of it
 *   resident. Given back from the page below ours down (that page holds
 *   madvise's own frame), aligned to the kernel's page size (16 or 64 KiB
 *   on some aarch64 kernels: madvise would round a 4 KiB-aligned end up
 *   into live frames). The next burst faults back the few pages it uses.
 * - the pages of its own program file: the kernel maps the pages around
 *   each fault (64 KiB), so a stub that ran a little of everything has
 *   the whole file mapped (232 KiB) where its idle loop runs a fraction.
 *   Its read-only mappings are dropped: never writable, so nothing is
 *   lost; the page cache keeps the pages, for the other stubs and for
 *   the next fault. The writable one (data) stays: dropping it would
 *   lose what was written.
 */
struct ro_map {
	uintptr_t lo, hi;
	unsigned long dev, ino;
};

/* One line of /proc/self/maps, "LO-HI PERMS OFFSET MAJ:MIN INODE PATH",
 * read with strtoul: sscanf alone would add 11 KB of musl's scanf to
 * every stub's text. 0, or -1 for a line of another shape. */
static int maps_line(const char *line, struct ro_map *m, bool *writable)
{
	char *p;
	m->lo = strtoul(line, &p, 16);
	if (*p != '-')
		return -1;
	m->hi = strtoul(p + 1, &p, 16);
	if (*p != ' ' || strlen(p) < 6)
		return -1;
	*writable = p[2] == 'w';
	(void)strtoul(p + 5, &p, 16); /* the offset */
	unsigned long major = strtoul(p, &p, 16);
	if (*p != ':')
		return -1;
	m->dev = major << 20 | strtoul(p + 1, &p, 16);
	m->ino = strtoul(p, NULL, 10);
	return 0;
}

static void idle_unmap(void)
{
	char here;
	uintptr_t sp = (uintptr_t)&here, code = (uintptr_t)&idle_unmap, slo = 0, shi = 0;
	struct ro_map ro[8], self = { 0 };
	size_t nro = 0;
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0 || (page & (page - 1)))
		return;
	FILE *f = fopen("/proc/self/maps", "re");
	char line[256];
	bool whole = true; /* the last read ended a line */
	while (f && fgets(line, sizeof(line), f)) {
		bool start = whole;
		whole = strchr(line, '\n') != NULL;
		struct ro_map m;
		bool w;
		if (!start || maps_line(line, &m, &w))
			continue; /* (the rest of a long path) */
		if (strstr(line, "[stack]") && m.lo <= sp && sp < m.hi) {
			slo = m.lo;
			shi = m.hi;
		}
		if (w || !m.ino)
			continue;
		if (m.lo <= code && code < m.hi)
			self = m;
		if (nro < sizeof(ro) / sizeof(ro[0]))
			ro[nro++] = m;
	}
	if (f)
		fclose(f);
	for (size_t i = 0; self.ino && i < nro; i++)
		if (ro[i].dev == self.dev && ro[i].ino == self.ino)
			madvise((void *)ro[i].lo, ro[i].hi - ro[i].lo, MADV_DONTNEED);
	if (!shi || sp - slo < (uintptr_t)page)
		return;
	uintptr_t end = (sp - (uintptr_t)page) & ~((uintptr_t)page - 1);
	if (end > slo)
		madvise((void *)slo, end - slo, MADV_DONTNEED);
}

/* The buffers kept to make the next large transfer cheap (the fs reply
 * buffer and the spare payload buffer, ~2.5 MiB after a large read and
 * write) go back to the system once no message has passed for a whole
 * STUB_TRIM_MS, so an idle stub is as small as a fresh one again; so do
 * the streams' read buffers, whose first pages a parent of 100 children
 * otherwise keeps for each child (~10 KiB each), the copy of our own
 * image a parent made for its children's first stages (~140 KiB), the
 * stack a burst left resident and the program file's pages (idle_unmap):
 * once per quiet spell. */
static void idle_trim(struct loop *l, void *arg)
{
	struct stub *st = arg;
	struct router_stats rs;
	router_get_stats(st->r, &rs);
	uint64_t seen = rs.msgs_routed + rs.msgs_local;
	if (seen == st->trim_seen && !st->trimmed) {
		size_t n = svc_fs_trim(st->fs) + msg_spare_trim(st->spare) + router_trim(st->r) +
			   svc_spawn_trim(st->spawn);
		idle_unmap();
		st->trimmed = true;
		if (n)
			log_debug("stub: quiet for %d ms, %zu bytes of buffers freed",
				  STUB_TRIM_MS, n);
	} else if (seen != st->trim_seen) {
		st->trimmed = false;
	}
	st->trim_seen = seen;
	loop_timer_add(l, STUB_TRIM_MS, idle_trim, st);
}

/* --- start-up: the CONFIG frame --- */

/* Router, services, handlers, log forwarding. 0 or -errno. */
static int stub_start(struct stub *st)
{
	const struct proto_config *c = &st->cfg;
	int rc;
	st->r = router_new(st->l, c->id, &stub_router_ops, st);
	if (!st->r)
		return -errno;
	if ((rc = router_set_identity(st->r, c->id, c->parents, c->nparents)) < 0)
		return rc;
	if ((rc = router_set_parent(st->r, st->parent, c->parents[c->nparents - 1])) < 0)
		return rc;
	stream_set_compress(st->parent, c->compress != 0);
	st->parent = NULL; /* the router's now */
	st->exec = svc_exec_new(st->r);
	st->spawn = svc_spawn_new(st->r, c, st->spare);
	st->fs = svc_fs_new(st->r);
	st->push = svc_push_new(st->r);
	if (!st->exec || !st->spawn || !st->fs || !st->push)
		return -ENOMEM;
	if ((rc = router_add_handler(st->r, HANDLE_CALL_SERVICE, on_call, st, ROUTER_PARENT_ONLY)) < 0 ||
	    (rc = router_add_handler(st->r, HANDLE_SHUTDOWN, on_shutdown, st, ROUTER_PARENT_ONLY)) < 0)
		return rc;
	log_setup(log_forward, st, c->log_level);
	if ((rc = loop_add(st->l, st->errfd, EPOLLIN, on_stderr, st)) < 0)
		return rc;
	if (!loop_timer_add(st->l, STUB_TRIM_MS, idle_trim, st))
		return -ENOMEM;
	st->heard_ms = loop_now_ms();
	if (c->keepalive_ms && !loop_timer_add(st->l, 50, parent_watch, st))
		return -ENOMEM;
	log_debug("stub(%s): context %u up, pid %d, parent %u", c->name, c->id,
		  (int)getpid(), c->parents[c->nparents - 1]);
	return 0;
}

static void cfg_on_msg(struct stream *s, struct msg *m, void *arg)
{
	struct stub *st = arg;
	int rc = m->handle == HANDLE_CONFIG ? proto_config_decode(m->data, m->len, &st->cfg) : -EPROTO;
	if (!rc && (st->cfg.id == 0 || m->dst_id != st->cfg.id))
		rc = -EINVAL;
	msg_free(m);
	if (!rc)
		rc = stub_start(st);
	if (rc) {
		st->rc = 1;
		if (!st->r)
			stream_close(s, EPROTO, "bad config");
		loop_stop(st->l);
	}
}

static void cfg_on_close(struct stream *s, int err, const char *why, void *arg)
{
	(void)s;
	(void)err;
	(void)why;
	struct stub *st = arg;
	st->rc = 1;
	loop_stop(st->l);
}

static const struct stream_ops cfg_ops = {
	.on_msg = cfg_on_msg,
	.on_close = cfg_on_close,
};

int main(int argc, char **argv)
{
	struct stub st;
	memset(&st, 0, sizeof(st));
	st.errfd = -1;
	if (argc >= 1 && argv[0] && !strncmp(argv[0], GUARD_ARGV0, strlen(GUARD_ARGV0)))
		guard_run();
	if (boot_stub_startup(argc, argv) < 0) {
		fprintf(stderr, "mitofs-stub: started by the mitofs first stage only\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	st.l = loop_new();
	if (!st.l) {
		fprintf(stderr, "mitofs-stub: loop: %s\n", strerror(errno));
		return 1;
	}
	int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (loop_signal(st.l, sigs[i], sigs[i] == SIGCHLD ? on_sigchld : on_signal, &st) < 0) {
			fprintf(stderr, "mitofs-stub: signal %d: cannot route\n", sigs[i]);
			st.rc = 1;
			goto out;
		}
	/* A local parent set SIGKILL as our parent-death signal; SIGTERM (now
	 * routed to the loop) lets us kill our jobs' process groups first. */
	int pds = 0;
	if (prctl(PR_GET_PDEATHSIG, &pds) == 0 && pds == SIGKILL)
		prctl(PR_SET_PDEATHSIG, SIGTERM);
	/* Through sshd (and su, sudo...) fd 0 and 1 are pipes of 64 KiB: a
	 * 1 MiB fs reply filled ours 16 times over, and each time both ends
	 * slept and woke. 1 MiB is what an unprivileged process may ask for
	 * (/proc/sys/fs/pipe-max-size); the kernel takes pages as data comes,
	 * so an idle pipe costs nothing more. On a socket or a tty this fails
	 * and changes nothing. */
	for (int fd = 0; fd <= 1; fd++) {
		int sz = fcntl(fd, F_GETPIPE_SZ);
		if (sz > 0 && sz < STUB_PIPE_SZ) /* (never shrink a larger one) */
			(void)fcntl(fd, F_SETPIPE_SZ, STUB_PIPE_SZ);
	}
	st.parent = stream_new(st.l, 0, 1, &cfg_ops, &st);
	if (!st.parent) {
		fprintf(stderr, "mitofs-stub: stream on fd 0/1: %s\n", strerror(errno));
		st.rc = 1;
		goto out;
	}
	/* fs writes come down in 1 MiB frames, and replies from our
	 * children's fs/ come up so; musl would map each anew. NULL (out of
	 * memory) only costs that. */
	st.spare = msg_spare_new(STUB_SPARE_MAX);
	stream_share_spare(st.parent, st.spare);
	/* From here on, what we print goes to the master, not the first stage. */
	if (stderr_capture(&st) < 0 ||
	    stream_send_raw(st.parent, PROTO_HELLO, PROTO_HELLO_LEN) < 0) {
		st.rc = 1;
		goto out;
	}
	if (loop_run(st.l) < 0)
		st.rc = 1;
out:
	log_setup(NULL, NULL, LOG_ERROR);
	svc_push_free(st.push);
	svc_fs_free(st.fs);
	svc_spawn_free(st.spawn);
	svc_exec_free(st.exec);
	router_free(st.r);
	stream_free(st.parent);
	msg_spare_drop(st.spare);
	if (st.errfd >= 0)
		close(st.errfd);
	loop_free(st.l);
	return st.rc;
}
