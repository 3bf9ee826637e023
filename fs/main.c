/*
 * main — the mitofs daemon: options, mount, daemonize, the loop, and an
 * orderly exit on unmount or SIGTERM (every stub is told by EOF and
 * waited for, so nothing it started outlives the mount).
 *
 *   mitofs [-f] [-d] [-o opt[,opt...]] [SOURCE] MOUNTPOINT
 *
 * The options are opts.c's (mitofs --help lists them). Not for: what
 * happens on the mount (ops.c and the modules of the tree).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot.h"
#include "ctx.h"
#include "group.h"
#include "daemon.h"
#include "fh.h"
#include "log.h"
#include "loop.h"
#include "method.h"
#include "ops.h"
#include "opts.h"
#include "readahead.h"
#include "remotefs.h"
#include "router.h"
#include "spool.h"

/* The embedded stubs (fs/stub_image.S), ending with a NULL arch. */
struct stub_embedded {
	const char *arch;
	const uint8_t *data;
	size_t len;
};
extern const struct stub_embedded mitofs_stubs[];

/* Memory the job output rings of the mount may hold before they spill
 * into the spool (each at most RING_WINDOW of it). */
#define OUTPUT_MEMORY (16u << 20)

/* The spool (spool.h), in the daemon's own process (its pid names the
 * directory). 0, or -errno with the reason on stderr. */
static int open_spool(struct daemon *d)
{
	char base[PATH_MAX], err[PATH_MAX + 128];
	int rc = d->spool_base ? 0 : spool_default_base(base, sizeof(base));
	if (rc) {
		fprintf(stderr, "mitofs: no directory for the output spool (XDG_RUNTIME_DIR, "
				"XDG_CACHE_HOME and HOME are unset): give one with -o spool=DIR\n");
		return rc;
	}
	d->spool = spool_open(d->spool_base ? d->spool_base : base, d->output_budget,
			      OUTPUT_MEMORY, err, sizeof(err));
	if (!d->spool) {
		fprintf(stderr, "mitofs: %s (another place: -o spool=DIR)\n", err);
		return -errno;
	}
	return 0;
}

static void log_sink(int level, const char *text, void *arg)
{
	struct daemon *d = arg;
	ctx_log_text(&d->root, level, text, strlen(text));
}

static void on_route_lost(struct router *r, uint32_t id, const char *why, void *arg)
{
	(void)r;
	ctx_route_lost(arg, id, why);
}

static const struct router_ops router_ops = { .on_route_lost = on_route_lost };

static void on_fuse(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	struct daemon *d = arg;
	/* Drain what is queued, a bounded number at a time, so streams get
	 * their turn under a flood of requests. */
	for (int i = 0; i < 64 && !fuse_session_exited(d->se); i++) {
		int rc = fuse_session_receive_buf(d->se, &d->fbuf);
		if (rc == -EINTR || rc == -EAGAIN)
			return;
		if (rc <= 0) {
			if (rc < 0 && rc != -ENODEV)
				log_error("fuse: %s", strerror(-rc));
			fuse_session_exit(d->se);
			break;
		}
		fuse_session_process_buf(d->se, &d->fbuf);
	}
	if (fuse_session_exited(d->se))
		loop_stop(l);
}

#define IDLE_TRIM_MS 3000

/* Gives freed heap back to the system when no output arrived for a while
 * (see the mallopt in main), and the space of the spool's blocks kept
 * for reuse (spool.h). */
static void idle_trim(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	if (d->output_since_trim && loop_now_us() - d->last_output_us > IDLE_TRIM_MS * 1000ull) {
		malloc_trim(0);
		spool_trim(d->spool);
		d->output_since_trim = false;
	}
	loop_timer_add(l, IDLE_TRIM_MS, idle_trim, d);
}

/* In the child of any fork in the daemon (libfuse's, libssh's, ours):
 * the loop's signals are blocked (signalfd) and SIGPIPE is ignored here,
 * and both would pass to a program it runs: one that cannot be stopped
 * with SIGTERM, or that dies silently on a closed pipe. Our own children
 * reset everything again (boot_child_prepare). Async-signal-safe only. */
static void child_signals_clean(void)
{
	sigset_t none;
	sigemptyset(&none);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	struct daemon *d = arg;
	if (signo == SIGCHLD) {
		/* Stubs and first stages we started; their loss is reported
		 * by their streams, so reaping is all that is left to do, and
		 * forgetting the pid, which is free for another process now. */
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			ctx_child_reaped(d, p);
		return;
	}
	log_info("signal %s: unmounting", sigabbrev_np(signo));
	d->exiting = true;
	loop_stop(l);
}

/* Takes the exit of every child that ended; a pid of pids[0..n) that
 * was among them is set to 0: it is no longer ours to signal. */
static void reap_some(pid_t *pids, size_t n)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		for (size_t i = 0; i < n; i++)
			if (pids[i] == p)
				pids[i] = 0;
}

/* Waits up to ms for our children to exit, then kills what is left. A
 * pid is signalled only while waitpid says it is our child, not reaped
 * yet (it keeps its pid, a zombie at worst): one reaped before it was
 * recorded (a stub that died before its hello was read) is another
 * process's by now, perhaps. */
static void reap_children(pid_t *pids, size_t n, int ms)
{
	for (int waited = 0;; waited += 10) {
		reap_some(pids, n);
		size_t alive = 0;
		for (size_t i = 0; i < n; i++) {
			int st;
			if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) != 0)
				pids[i] = 0; /* reaped now, or not ours (ECHILD) */
			if (pids[i] > 0)
				alive++;
		}
		if (!alive)
			return;
		if (waited >= ms) {
			for (size_t i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			usleep(10000);
			reap_some(pids, n);
			return;
		}
		usleep(10000);
	}
}

int main(int argc, char **argv)
{
	struct daemon d;
	struct opts o;
	memset(&d, 0, sizeof(d));
	int prc = opts_parse(&d, &o, argc, argv);
	if (prc) {
		opts_free(&o);
		return prc < 0 ? 1 : prc == 1 ? 0 : 2;
	}
	bool foreground = o.foreground;
	pthread_mutex_init(&d.ssh_mu, NULL);
	pthread_cond_init(&d.ssh_cv, NULL);
	char mnt[PATH_MAX];
	if (!realpath(o.mountpoint, mnt)) {
		fprintf(stderr, "mitofs: %s: %s\n", o.mountpoint, strerror(errno));
		opts_free(&o);
		return 1;
	}
	d.mountpoint = mnt;
	d.uid = getuid();
	d.gid = getgid();
	/* Where other users can come in (allow_other; root's mount lets
	 * root's own sudo'd callers in with allow_sys_admin_access), a root
	 * context acts for each as itself (remotefs_cred.c). */
	d.creds_forward = d.creds >= 0 ? d.creds == 1 : d.allow_other || d.uid == 0;
	for (const struct stub_embedded *e = mitofs_stubs; e->arch; e++)
		if (boot_images_add(&d.images, e->arch, e->data, e->len, 1)) {
			fprintf(stderr, "mitofs: the embedded %s stub is damaged\n", e->arch);
			opts_free(&o);
			return 1;
		}
	clock_gettime(CLOCK_REALTIME, &d.t0);

	/* Background: the parent returns only once the mount is ready, with
	 * the child's verdict, so `mitofs M && ls M` is safe. */
	int ready[2] = { -1, -1 };
	if (!foreground) {
		if (pipe2(ready, O_CLOEXEC)) {
			perror("mitofs: pipe");
			opts_free(&o);
			return 1;
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("mitofs: fork");
			opts_free(&o);
			return 1;
		}
		if (pid > 0) {
			close(ready[1]);
			char c = 1;
			ssize_t n = read(ready[0], &c, 1);
			opts_free(&o); /* the daemon (the child) has its own copy */
			return n == 1 && c == 0 ? 0 : 1;
		}
		close(ready[0]);
		setsid();
	}

	signal(SIGPIPE, SIG_IGN);
	pthread_atfork(NULL, NULL, child_signals_clean);
	/* Job output arrives in 256 KiB messages and is kept in 1 MiB chunks:
	 * serve both from the heap and keep freed memory while output flows,
	 * so that one job's output reuses the last one's pages instead of
	 * faulting in fresh ones (a page fault per 4 KiB halved throughput);
	 * the memory goes back to the system once output has been quiet for
	 * a few seconds (idle_trim). */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	int rc = 1;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	d.loop = loop_new();
	d.router = d.loop ? router_new(d.loop, 0, &router_ops, &d) : NULL;
	if (d.loop)
		workers_init(&d.workers, d.loop);
	if (!d.router || ctx_daemon_init(&d) || tree_init(&d.tree, &d.root) ||
	    group_tree_init(&d) || !(d.rfs = remotefs_new(&d))) {
		fprintf(stderr, "mitofs: out of memory\n");
		goto out;
	}
	if (open_spool(&d))
		goto out;
	log_setup(log_sink, &d, d.debug ? LOG_DEBUG : LOG_INFO);
	/* No default_permissions, as sshfs: the kernel would check a
	 * target's uids and modes against the local caller, refusing what
	 * the target allows when uids differ, and would ask for a directory's
	 * attributes at every step of every path walk. The target checks
	 * fs/ (the stub runs as its user); the daemon checks the control
	 * files' modes itself (fs_open, fs_access). Without allow_other the
	 * kernel still lets only the mounting user in. */
	char fopts[512];
	snprintf(fopts, sizeof(fopts), "fsname=%s,subtype=mitofs%s", o.source, o.kflags);
	if (fuse_opt_add_arg(&args, "mitofs") ||
	    fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, fopts) ||
	    (d.allow_other && (fuse_opt_add_arg(&args, "-o") ||
			       fuse_opt_add_arg(&args, "allow_other,default_permissions"))) ||
	    (d.debug && fuse_opt_add_arg(&args, "-d")))
		goto out;
	d.se = fuse_session_new(&args, &mitofs_ops, sizeof(mitofs_ops), &d);
	if (!d.se)
		goto out;
	if (fuse_session_mount(d.se, mnt)) {
		fprintf(stderr, "mitofs: cannot mount on %s\n", mnt);
		goto out_session;
	}
	/* Before the loop answers INIT (see readahead.h). Without it reads
	 * still work, one 128 KiB round trip at a time. */
	if (d.readahead) {
		int ra = readahead_set(mnt, d.readahead);
		if (ra)
			log_info("read-ahead stays the kernel's: %s", strerror(-ra));
	}
	int ffd = fuse_session_fd(d.se);
	fcntl(ffd, F_SETFL, fcntl(ffd, F_GETFL) | O_NONBLOCK);
	if (loop_add(d.loop, ffd, EPOLLIN, on_fuse, &d) ||
	    loop_signal(d.loop, SIGCHLD, on_signal, &d) ||
	    loop_signal(d.loop, SIGTERM, on_signal, &d) ||
	    loop_signal(d.loop, SIGINT, on_signal, &d) ||
	    loop_signal(d.loop, SIGHUP, on_signal, &d)) {
		fprintf(stderr, "mitofs: event loop setup failed\n");
		goto out_unmount;
	}
	loop_timer_add(d.loop, IDLE_TRIM_MS, idle_trim, &d);
	log_info("mounted on %s (pid %d)", mnt, (int)getpid());
	log_info("job output past memory goes to %s (unnamed; budget %" PRIu64 " bytes)",
		 spool_dir(d.spool), d.output_budget);
	if (!foreground) {
		char ok = 0;
		if (write(ready[1], &ok, 1) != 1)
			goto out_unmount;
		close(ready[1]);
		ready[1] = -1;
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		if (chdir("/"))
			(void)0;
	}
	if (o.connect_text)
		ctx_ctl_run_file(&d, o.connect_path, o.connect_text, o.connect_len);
	loop_run(d.loop);
	rc = 0;
	/* Invalidations still running use the session: let them end. */
	if (workers_drain(&d.workers, 3000))
		log_warn("exit: a cache invalidation did not end within 3 s");

out_unmount:
	/* Collect the stubs we started before their records go. */
	{
		size_t n = 0;
		for (struct ctx *c = d.root.children; c; c = c->next)
			n++;
		pid_t *pids = calloc(n ? n : 1, sizeof(*pids));
		n = 0;
		/* Only stubs started by a command (local, sudo, docker...) are
		 * our children; an ssh stub is remote (child 0 or -1).
		 * The pid we forked, not the one the stub's sys info claims:
		 * that one could name any process of ours, to be SIGKILLed. */
		for (struct ctx *c = d.root.children; pids && c; c = c->next)
			if (c->child > 0)
				pids[n++] = c->child;
		group_daemon_fini(&d);
		ctx_daemon_fini(&d);
		router_free(d.router);
		d.router = NULL;
		method_ssh_wait(&d, 3000);
		reap_children(pids, pids ? n : 0, 3000);
		free(pids);
	}
	fuse_session_unmount(d.se);
out_session:
	fuse_session_destroy(d.se);
	fh_free_all(&d);
out:
	fuse_opt_free_args(&args);
	if (d.router)
		router_free(d.router);
	remotefs_free(d.rfs);
	tree_free(&d.tree);
	free(d.fbuf.mem);
	loop_free(d.loop);
	spool_close(d.spool); /* last: rings were freed above */
	if (ready[1] >= 0) {
		char bad = 1;
		if (write(ready[1], &bad, 1) != 1)
			(void)0;
	}
	opts_free(&o);
	return rc;
}
