/*
 * ssh_proxy — an ssh session's ProxyCommand run by the daemon, and the
 * end of a session (ssh_proxy.h says why libssh's own is not used).
 */
#include "ssh_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "boot.h"
#include "buf.h"

struct ssh_proxy {
	pid_t pid;   /* also its process group: it runs in a session of its own */
	int pidfd;   /* -1 where the kernel has no pidfd_open */
	int fd;      /* our end of its socketpair, kept until the end */
	int lfd;     /* a duplicate of fd, libssh's (SSH_OPTIONS_FD) */
	int errfd;   /* its stderr: a sealed memfd of PROXY_ERR_MAX bytes */
};

/* What the proxy's stderr may hold. Not a pipe: nobody reads one once
 * connected, and a proxy writing to a full or closed pipe would stall
 * or die of SIGPIPE. A memfd of fixed size (sealed) never blocks, and a
 * proxy that writes more gets an error, not more of our memory. */
#define PROXY_ERR_MAX (16u << 10)

static int err_file(void)
{
	int fd = memfd_create("mitofs-proxy-stderr", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, PROXY_ERR_MAX) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The local user's name, for %u and a default %r. */
static int local_user(char *out, size_t n)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) || !res)
		return -ENOENT;
	snprintf(out, n, "%s", res->pw_name);
	return 0;
}

/* Appends the value of escape c (as libssh 0.10 expands ProxyCommand). */
static int put_escape(struct buf *b, ssh_session s, char c, char *err, size_t errlen)
{
	char v[1024] = "";
	char *str = NULL;
	unsigned int port = 22;
	switch (c) {
	case '%':
		return buf_put_bytes(b, "%", 1);
	case 'h':
		if (ssh_options_get(s, SSH_OPTIONS_HOST, &str) == SSH_OK && str)
			snprintf(v, sizeof(v), "%s", str);
		break;
	case 'r':
		if (ssh_options_get(s, SSH_OPTIONS_USER, &str) == SSH_OK && str)
			snprintf(v, sizeof(v), "%s", str);
		else
			local_user(v, sizeof(v));
		break;
	case 'u':
		local_user(v, sizeof(v));
		break;
	case 'p':
		ssh_options_get_port(s, &port);
		snprintf(v, sizeof(v), "%u", port);
		break;
	case 'l':
		if (gethostname(v, sizeof(v) - 1))
			v[0] = 0;
		break;
	case 'd': {
		/* The ssh directory: $HOME/.ssh, as method_ssh.c sets it. */
		const char *home = getenv("HOME");
		snprintf(v, sizeof(v), "%s/.ssh", home ? home : "");
		break;
	}
	default:
		snprintf(err, errlen, "ProxyCommand: unknown escape %%%c", c);
		return -EINVAL;
	}
	ssh_string_free_char(str);
	return buf_put_bytes(b, v, strlen(v));
}

/* The command line for sh -c: "exec " + cmd with its escapes expanded
 * (exec: the proxy is the process we signal, not a shell above it). */
static int expand(ssh_session s, const char *cmd, struct buf *b, char *err, size_t errlen)
{
	int rc = strncmp(cmd, "exec ", 5) ? buf_put_bytes(b, "exec ", 5) : 0;
	for (const char *p = cmd; !rc && *p; p++) {
		if (*p != '%')
			rc = buf_put_bytes(b, p, 1);
		else if (!p[1])
			rc = buf_put_bytes(b, "%", 1);
		else
			rc = put_escape(b, s, *++p, err, errlen);
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "ProxyCommand: out of memory");
	return rc ? rc : buf_put_bytes(b, "", 1);
}

int ssh_proxy_start(ssh_session s, struct ssh_proxy **out, char *err, size_t errlen)
{
	char *cmd = NULL;
	struct buf line;
	int sv[2] = { -1, -1 }, rc;
	*out = NULL;
	if (ssh_options_get(s, SSH_OPTIONS_PROXYCOMMAND, &cmd) != SSH_OK || !cmd)
		return 0;
	buf_init(&line);
	rc = expand(s, cmd, &line, err, errlen);
	ssh_string_free_char(cmd);
	struct ssh_proxy *p = rc ? NULL : calloc(1, sizeof(*p));
	if (!rc && !p) {
		snprintf(err, errlen, "ProxyCommand: out of memory");
		rc = -ENOMEM;
	}
	if (p)
		p->errfd = err_file();
	if (!rc && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		snprintf(err, errlen, "ProxyCommand: socketpair: %s", strerror(errno));
	}
	if (rc)
		goto fail;
	int errfd = p->errfd;
	pid_t pid = fork();
	if (pid < 0) {
		rc = -errno;
		snprintf(err, errlen, "ProxyCommand: fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls here: the daemon has threads. A
		 * session of its own: no terminal signal of the daemon's
		 * reaches it, and its whole group can be ended at once. */
		setsid();
		int e = errfd >= 0 ? errfd : open("/dev/null", O_WRONLY);
		if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0)
			_exit(127);
		if (e >= 0 && e != 2)
			dup2(e, 2);
		boot_child_prepare(); /* default signals, none blocked, fds >= 3 closed */
		execl("/bin/sh", "sh", "-c", (const char *)line.data, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	sv[1] = -1;
	p->pid = pid;
	p->fd = sv[0];
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	p->lfd = fcntl(p->fd, F_DUPFD_CLOEXEC, 3);
	if (p->lfd < 0 || ssh_options_set(s, SSH_OPTIONS_FD, &p->lfd) != SSH_OK ||
	    ssh_options_set(s, SSH_OPTIONS_PROXYCOMMAND, "none") != SSH_OK) {
		snprintf(err, errlen, "ProxyCommand: cannot hand its socket to libssh");
		if (p->lfd >= 0)
			close(p->lfd);
		p->lfd = -1;
		ssh_proxy_end(NULL, NULL, p, 0);
		buf_free(&line);
		return -EIO;
	}
	buf_free(&line);
	*out = p;
	return 0;
fail:
	buf_free(&line);
	if (p && p->errfd >= 0)
		close(p->errfd);
	free(p);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return rc;
}

int ssh_proxy_pid(const struct ssh_proxy *p)
{
	return p ? (int)p->pid : 0;
}

void ssh_proxy_said(const struct ssh_proxy *p, char *out, size_t n)
{
	ssize_t r = p && p->errfd >= 0 && n ? pread(p->errfd, out, n - 1, 0) : 0;
	size_t len = r > 0 ? strnlen(out, (size_t)r) : 0; /* the unwritten rest is zeros */
	while (len && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
		len--;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)out[i] < ' ')
			out[i] = out[i] == '\n' ? ';' : '?';
	if (n)
		out[len] = 0;
}

/* True while fd is still a descriptor of the same socket as ours: we
 * hold ours open, so no other file can have its device and inode, and
 * a number libssh closed (and someone reused) cannot pass for it. */
static bool same_socket(int fd, int ours)
{
	struct stat a, b;
	return fd >= 0 && fstat(fd, &a) == 0 && fstat(ours, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Signals the proxy's process group while its leader is ours: the pidfd
 * says so (a leader not yet reaped keeps its pid, and so the group id,
 * from being used again). */
static void proxy_signal(struct ssh_proxy *p, int sig)
{
	if (p->pidfd >= 0 ? syscall(SYS_pidfd_send_signal, p->pidfd, 0, NULL, 0) == 0
			  : kill(p->pid, 0) == 0)
		kill(-p->pid, sig);
}

void ssh_proxy_end(ssh_session s, ssh_channel ch, struct ssh_proxy *p, int grace_ms)
{
	if (s) {
		ssh_set_blocking(s, 0); /* nothing below may wait on the network */
		if (ch && ssh_channel_is_open(ch)) {
			ssh_channel_send_eof(ch);
			ssh_channel_close(ch);
		}
		if (ch)
			ssh_channel_free(ch);
		ssh_disconnect(s);
		ssh_free(s);
	}
	if (!p)
		return;
	/* libssh closes a socket from SSH_OPTIONS_FD on an error, but not at
	 * ssh_disconnect: its copy may be open still. */
	if (same_socket(p->lfd, p->fd))
		close(p->lfd);
	close(p->fd);
	proxy_signal(p, SIGTERM);
	if (grace_ms > 0 && p->pidfd >= 0) {
		/* Readable once it has exited (reaped or not). */
		struct pollfd pf = { .fd = p->pidfd, .events = POLLIN };
		while (poll(&pf, 1, grace_ms) < 0 && errno == EINTR)
			;
	} else if (grace_ms > 0) {
		usleep((useconds_t)grace_ms * 1000);
	}
	proxy_signal(p, SIGKILL);
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->errfd >= 0)
		close(p->errfd);
	free(p);
}
