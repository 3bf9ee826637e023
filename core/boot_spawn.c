/*
 * boot_spawn — starting a first stage or a stub as a child process: the
 * fork, a clean child (default signals, none blocked, no inherited fds)
 * and the exec, on a socketpair (or a pty for methods that prompt).
 * Used by boot.c's callers in the daemon and in stubs, and by every
 * place that runs a program (jobs, guards, proxies: boot_child_prepare).
 *
 * Not for: what the child says (boot.c reads the hello and uploads the
 * image), reaping (each process's SIGCHLD handler does).
 */
#include "boot.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void close_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0)
		return;
#endif
	struct rlimit rl;
	long max = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	if (max > 65536)
		max = 65536;
	for (long fd = lowfd; fd < max; fd++)
		close((int)fd);
}

/* The kernel's struct sigaction, zeroed: SIG_DFL, no flags, empty mask
 * (the same 32 bytes on x86_64 and aarch64). */
struct kernel_sigaction_dfl {
	unsigned long handler, flags, restorer, mask;
};

void boot_child_prepare(void)
{
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++) {
		/* libc refuses the signals it keeps for itself (32 and 33 in
		 * glibc, 32-34 in musl), yet an ignored one is inherited across
		 * exec: a CI runner that ignores 32 passed it to every program
		 * we ran. The raw system call has no such list. KILL and STOP
		 * fail harmlessly. */
		if (signal(sig, SIG_DFL) == SIG_ERR && sig != SIGKILL && sig != SIGSTOP) {
			struct kernel_sigaction_dfl dfl = { 0, 0, 0, 0 };
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
		}
	}
	sigprocmask(SIG_SETMASK, &none, NULL);
	close_from(3);
}

/* Moves fd out of 0..2 so the dup2s onto 0..2 cannot clobber it. */
static int above_stdio(int fd)
{
	return fd >= 0 && fd < 3 ? fcntl(fd, F_DUPFD, 3) : fd;
}

/* "mitofs: exec PROG: REASON" on stderr, from a vfork child of the
 * threaded daemon: no stdio stream (glibc's dprintf links a FILE into a
 * global list under a lock) and no translated message (gettext locks). */
static void say_exec_failed(const char *prog, int err)
{
#ifdef __GLIBC__
	const char *why = strerrordesc_np(err);
#else
	const char *why = strerror(err); /* musl: a table, no locks */
#endif
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "mitofs: exec %s: %s\n", prog, why ? why : "error");
	if (n > 0)
		(void)!write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

/* Not inlined: as a vfork child its frame must lie below boot_vfork's,
 * whose stack it shares. */
static void __attribute__((noreturn, noinline))
boot_child(char *const argv[], boot_pre_fn *pre, const void *pre_arg, int sock, int errfd,
	   int pty_slave, pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* the parent died before prctl */
		_exit(127);
	if (pty_slave >= 0) {
		/* A session of its own whose terminal is the pty: sudo, su and
		 * ssh prompt there, and nothing reaches our own terminal. */
		setsid();
		ioctl(pty_slave, TIOCSCTTY, 0);
	}
	int e = pty_slave >= 0 ? pty_slave : errfd >= 0 ? errfd : open("/dev/null", O_WRONLY);
	sock = above_stdio(sock);
	e = above_stdio(e);
	if (sock < 0 || dup2(sock, 0) < 0 || dup2(sock, 1) < 0)
		_exit(127);
	if (e >= 0)
		dup2(e, 2);
	boot_child_prepare();
	if (pre && pre(pre_arg))
		_exit(127);
	execvp(argv[0], argv);
	say_exec_failed(argv[0], errno);
	_exit(127);
}

pid_t __attribute__((noinline)) boot_vfork(void (*child)(void *arg), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t p = vfork();
	if (p == 0)
		child(arg); /* does not return */
	int e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return p;
}

struct child_args {
	char *const *argv;
	boot_pre_fn *pre;
	const void *pre_arg;
	int sock, errfd, pty_slave;
	pid_t parent;
};

static void child_of(void *arg)
{
	const struct child_args *a = arg;
	boot_child(a->argv, a->pre, a->pre_arg, a->sock, a->errfd, a->pty_slave, a->parent);
}

/* Forks the child: boot_vfork, unless a step runs before the exec (chroot,
 * setns), which allocates, forks and waits: a real fork for it. The pid,
 * or -1 with errno. */
static pid_t spawn_child(char *const argv[], boot_pre_fn *pre, const void *pre_arg, int sock,
			 int errfd, int pty_slave)
{
	struct child_args a = { argv, pre, pre_arg, sock, errfd, pty_slave, getpid() };
	if (!pre)
		return boot_vfork(child_of, &a);
	pid_t p = fork();
	if (p == 0)
		child_of(&a);
	return p;
}

int boot_spawn_argv(char *const argv[], boot_pre_fn *pre, const void *pre_arg, int errfd,
		    int *ptyfd, pid_t *pid, int *fd)
{
	int sv[2], master = -1, slave = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* Room for several 256 KiB output events in flight, so bulk output
	 * moves in few large writes instead of many wake-ups (best effort). */
	int sz = 4 << 20;
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	int rc = 0;
	if (ptyfd) {
		master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
			rc = -errno;
			goto fail;
		}
		const char *name = ptsname(master);
		slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
		if (slave < 0) {
			rc = -errno;
			goto fail;
		}
	}
	pid_t p = spawn_child(argv, pre, pre_arg, sv[1], errfd, slave);
	if (p < 0) {
		rc = -errno;
		goto fail;
	}
	close(sv[1]);
	if (slave >= 0)
		close(slave);
	if (ptyfd) {
		fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
		*ptyfd = master;
	}
	*pid = p;
	*fd = sv[0];
	return 0;
fail:
	close(sv[0]);
	close(sv[1]);
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	return rc;
}

int boot_spawn_local(const char *line, int errfd, pid_t *pid, int *fd)
{
	char *argv[] = { "sh", "-c", (char *)line, NULL };
	/* /bin/sh, not a PATH lookup: the stage is POSIX sh. */
	argv[0] = "/bin/sh";
	return boot_spawn_argv(argv, NULL, NULL, errfd, NULL, pid, fd);
}
