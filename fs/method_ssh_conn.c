/*
 * method_ssh_conn — the thread of one ssh connection (method_ssh.c says
 * the whole design): it connects with libssh in non-blocking mode,
 * checks the host key as OpenSSH does, authenticates (agent, keys, a
 * password), runs the first stage on one channel and pumps bytes between
 * that channel and the boot job's socketpair until the stub's hello; then
 * it hands the session to the daemon and ends.
 * Not for: the daemon's side (method_ssh.c), the loop's transport after
 * the handover (ssh_io.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <libssh/libssh.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot.h"
#include "ctx.h"
#include "log.h"
#include "loop.h"
#include "method.h"
#include "ssh_io.h"
#include "ssh_proxy.h"
#include "stream.h"
#include "daemon.h"
#include "method_ssh_int.h"

void ssh_conn_unref(struct conn *k)
{
	pthread_mutex_lock(&k->mu);
	int left = --k->refs;
	pthread_mutex_unlock(&k->mu);
	if (left)
		return;
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
	free(k->host);
	free(k->user);
	free(k->identity);
	free(k->known_hosts);
	if (k->password) {
		explicit_bzero(k->password, strlen(k->password));
		free(k->password);
	}
	free(k->home);
	free(k->line);
	free(k);
}

/* Records why the ssh part failed (err: the errno the ctl write gets),
 * and says it on the error pipe too. Returns -1. */
static int fail_code(struct conn *k, int err, const char *msg);

static int fail_err(struct conn *k, int err, const char *fmt, va_list ap)
{
	char msg[600];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	return fail_code(k, err, msg);
}

static int fail_code(struct conn *k, int err, const char *msg)
{
	pthread_mutex_lock(&k->mu);
	if (!k->failmsg[0]) {
		snprintf(k->failmsg, sizeof(k->failmsg), "ssh: %s", msg);
		k->failerr = err;
	}
	pthread_mutex_unlock(&k->mu);
	dprintf(k->errw, "ssh: %s\n", msg);
	return -1;
}

static int fail(struct conn *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_err(k, EIO, fmt, ap);
	va_end(ap);
	return -1;
}

/* Host key and authentication refusals: EACCES, as for a file. */
static int refuse(struct conn *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_err(k, EACCES, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * The handshake runs with libssh in non-blocking mode: where it would
 * block it returns AGAIN, and we wait for the socket ourselves. That is
 * the one place to ask the kernel for a quick ACK: a delayed one (40 ms)
 * holds the server's next packet under Nagle, at every round trip of the
 * handshake. Returns 0, or -1 once the connect's deadline has passed.
 */
static int wait_sock(struct conn *k, ssh_session s, uint64_t deadline_ms)
{
	int fd = ssh_get_fd(s);
	uint64_t now = loop_now_ms();
	if (now >= deadline_ms) {
		k->late = true;
		return -1;
	}
	if (fd >= 0) {
		int left = (int)(deadline_ms - now);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (ssh_get_poll_flags(s) & SSH_WRITE_PENDING)
			p.events |= POLLOUT;
		poll(&p, 1, left < 100 ? left : 100);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	} else {
		poll(NULL, 0, 1);
	}
	return 0;
}

/* Calls a libssh function until it stops saying AGAIN (or time is up:
 * SSH_ERROR, and k->late). */
#define NB(call, again)                                           \
	({                                                        \
		int r_;                                           \
		while ((r_ = (call)) == (again))                  \
			if (wait_sock(k, s, deadline)) {          \
				r_ = SSH_ERROR;                   \
				break;                            \
			}                                         \
		r_;                                               \
	})

static int check_host_key(struct conn *k, ssh_session s)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	if (ssh_get_server_publickey(s, &key) != SSH_OK)
		return fail(k, "%s: no host key: %s", k->host, ssh_get_error(s));
	int rc = ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen);
	ssh_key_free(key);
	if (rc != 0)
		return fail(k, "%s: cannot hash the host key", k->host);
	char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	ssh_clean_pubkey_hash(&hash);
	pthread_mutex_lock(&k->mu);
	snprintf(k->fingerprint, sizeof(k->fingerprint), "%s", fp ? fp : "?");
	pthread_mutex_unlock(&k->mu);
	char fps[128];
	snprintf(fps, sizeof(fps), "%s", fp ? fp : "?");
	ssh_string_free_char(fp);

	enum ssh_known_hosts_e st = ssh_session_is_known_server(s);
	switch (st) {
	case SSH_KNOWN_HOSTS_OK:
		return 0;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		if (k->mode == HK_IGNORE)
			return 0;
		return refuse(k, "host key for %s CHANGED (now %s): refusing to connect; "
			    "remove the old key from known_hosts if the change is expected",
			    k->host, fps);
	case SSH_KNOWN_HOSTS_NOT_FOUND:
	case SSH_KNOWN_HOSTS_UNKNOWN:
		if (k->mode == HK_IGNORE)
			return 0;
		if (k->mode == HK_ACCEPT_NEW) {
			if (ssh_session_update_known_hosts(s) != SSH_OK)
				return fail(k, "cannot record the host key of %s: %s", k->host,
					    ssh_get_error(s));
			/* Said in the log once connected (on_boot): a key taken
			 * on trust must leave a trace. */
			char *where = NULL;
			ssh_options_get(s, SSH_OPTIONS_KNOWNHOSTS, &where);
			pthread_mutex_lock(&k->mu);
			snprintf(k->recorded, sizeof(k->recorded),
				 "ssh: check_host_keys=accept-new: recorded the host key of %s "
				 "port %d (%s) in %s", k->rhost, k->rport, fps, where ? where : "known_hosts");
			pthread_mutex_unlock(&k->mu);
			ssh_string_free_char(where);
			return 0;
		}
		return refuse(k, "unknown host key for %s (%s): refusing to connect; "
			    "use check_host_keys=accept-new to record it", k->host, fps);
	default:
		return fail(k, "checking the host key of %s: %s", k->host, ssh_get_error(s));
	}
}

/* The connect's deadline passed during what: ETIMEDOUT, with the stage
 * and the time allowed. Returns -1. */
static int too_late(struct conn *k, const char *what)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s %s port %d: no answer within %d s (timeout=%d)", what,
		 k->rhost, k->rport, k->timeout_s, k->timeout_s);
	return fail_code(k, ETIMEDOUT, msg);
}

static int authenticate(struct conn *k, ssh_session s, uint64_t deadline)
{
	int rc;
	/* "none" only when no key was named: each refused attempt costs the
	 * server's deliberate delay. */
	if (!k->identity && (rc = NB(ssh_userauth_none(s, NULL), SSH_AUTH_AGAIN)) == SSH_AUTH_SUCCESS)
		return 0;
	if (k->identity) {
		ssh_key key = NULL;
		if (ssh_pki_import_privkey_file(k->identity, NULL, NULL, NULL, &key) != SSH_OK)
			return fail(k, "identity %s: cannot read the key", k->identity);
		rc = NB(ssh_userauth_publickey(s, NULL, key), SSH_AUTH_AGAIN);
		ssh_key_free(key);
		if (rc == SSH_AUTH_SUCCESS)
			return 0;
	}
	/* The agent first, then the default keys (and IdentityFile). */
	if (NB(ssh_userauth_publickey_auto(s, NULL, NULL), SSH_AUTH_AGAIN) == SSH_AUTH_SUCCESS)
		return 0;
	if (k->password) {
		rc = NB(ssh_userauth_password(s, NULL, k->password), SSH_AUTH_AGAIN);
		if (rc == SSH_AUTH_SUCCESS)
			return 0;
	}
	if (k->late)
		return too_late(k, "authenticating to");
	return refuse(k, "authentication failed for %s@%s (tried: %s%sagent and default keys%s)",
		    k->ruser, k->host, k->identity ? "identity, " : "", "",
		    k->password ? ", password" : "");
}

/* Copies what fd has into the channel. 0, -1 at EOF/error, 1 at the
 * EOF of a handover (everything before it is in the channel). */
static int pump_in(struct conn *k, ssh_channel ch, char *buf, size_t cap)
{
	ssize_t n = read(k->sock, buf, cap);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n == 0) {
		pthread_mutex_lock(&k->mu);
		bool stop = k->stop;
		pthread_mutex_unlock(&k->mu);
		return stop ? 1 : -1;
	}
	if (n < 0)
		return -1;
	for (ssize_t off = 0; off < n;) {
		int w = ssh_channel_write(ch, buf + off, (uint32_t)(n - off));
		if (w == SSH_ERROR)
			return -1;
		off += w;
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies what the channel has (stdout to the socket, stderr to errw). */
static int pump_out(struct conn *k, ssh_channel ch, char *buf, size_t cap)
{
	for (int is_err = 0; is_err < 2; is_err++) {
		for (;;) {
			int n = ssh_channel_read_nonblocking(ch, buf, (uint32_t)cap, is_err);
			if (n == SSH_ERROR)
				return -1;
			if (n <= 0)
				break;
			if (write_all(is_err ? k->errw : k->sock, buf, (size_t)n) && !is_err)
				return -1;
		}
	}
	return ssh_channel_is_eof(ch) ? -1 : 0;
}

/* Returns 1 when the daemon asked for the session (the channel has all
 * the daemon wrote), else 0. */
static int pump(struct conn *k, ssh_session s, ssh_channel ch)
{
	size_t cap = 256 << 10;
	char *buf = malloc(cap);
	int handoff = 0;
	if (!buf)
		return 0;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = k->sock, .events = POLLIN },
			{ .fd = ssh_get_fd(s), .events = POLLIN },
		};
		/* libssh may hold decrypted data already: do not sleep on it. */
		/* Polling stderr may read a packet that carries stdout data:
		 * look at stdout again after it, or that data waits a second. */
		int ready = ssh_channel_poll(ch, 0) > 0 || ssh_channel_poll(ch, 1) > 0 ||
			    ssh_channel_poll(ch, 0) > 0;
		if (poll(p, 2, ready ? 0 : 1000) < 0 && errno != EINTR)
			break;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			int rc = pump_in(k, ch, buf, cap);
			if (rc) {
				/* What the channel holds now stays in libssh's
				 * buffers for the loop to read. */
				handoff = rc > 0;
				break;
			}
		}
		if (pump_out(k, ch, buf, cap))
			break;
	}
	free(buf);
	return handoff;
}

/* OpenSSH's default ciphers, AES-GCM first on a CPU with AES and
 * carry-less multiply instructions: there it costs both ends far less
 * CPU than chacha20-poly1305 (sshd 600 -> 370 ms, the daemon 440 -> 390
 * ms for a 512 MiB read through fs/ on loopback), and that CPU is what
 * bounds a large transfer. Elsewhere OpenSSH's own order, chacha20 first
 * (constant time in software). Set before the config files are read, so
 * that a Ciphers line there wins (a plain list: libssh 0.10 ignores the
 * +, - and ^ forms). */
#define SSH_CIPHERS_AES_FIRST                                                     \
	"aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com," \
	"aes128-ctr,aes192-ctr,aes256-ctr"

static void prefer_ciphers(ssh_session s)
{
#if defined(__x86_64__) || defined(__i386__)
	if (__builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul")) {
		ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, SSH_CIPHERS_AES_FIRST);
		ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, SSH_CIPHERS_AES_FIRST);
	}
#else
	(void)s;
#endif
}

/* A thread of ours ends: method_ssh_wait waits for them all. */
void ssh_thread_done(struct daemon *d)
{
	pthread_mutex_lock(&d->ssh_mu);
	d->ssh_threads--;
	pthread_cond_broadcast(&d->ssh_cv);
	pthread_mutex_unlock(&d->ssh_mu);
}

void *ssh_conn_main(void *arg)
{
	struct conn *k = arg;
	ssh_session s = ssh_new();
	ssh_channel ch = NULL;
	struct ssh_proxy *proxy = NULL;
	if (!s) {
		fail(k, "out of memory");
		goto out;
	}
	int one = 1, verbosity = SSH_LOG_NOLOG;
	long timeout = k->timeout_s;
	ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
	if (ssh_options_set(s, SSH_OPTIONS_HOST, k->host) != SSH_OK) {
		fail(k, "bad host '%s'", k->host);
		goto out;
	}
	prefer_ciphers(s);
	/* ~/.ssh/config first, so that what the ctl line says wins. libssh
	 * finds "~" through the password database; $HOME is what a user
	 * means (and what sshfs and ssh use). */
	if (k->home) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/.ssh", k->home);
		ssh_options_set(s, SSH_OPTIONS_SSH_DIR, path);
		snprintf(path, sizeof(path), "%s/.ssh/config", k->home);
		ssh_options_parse_config(s, path);
		ssh_options_parse_config(s, "/etc/ssh/ssh_config");
	} else {
		ssh_options_parse_config(s, NULL);
	}
	if (k->port)
		ssh_options_set(s, SSH_OPTIONS_PORT, &k->port);
	if (k->user)
		ssh_options_set(s, SSH_OPTIONS_USER, k->user);
	if (k->known_hosts)
		ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, k->known_hosts);
	ssh_options_set(s, SSH_OPTIONS_NODELAY, &one);
	ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
	{
		char *h = NULL, *u = NULL;
		unsigned int port = 22;
		ssh_options_get(s, SSH_OPTIONS_HOST, &h);
		ssh_options_get(s, SSH_OPTIONS_USER, &u);
		ssh_options_get_port(s, &port);
		pthread_mutex_lock(&k->mu);
		snprintf(k->rhost, sizeof(k->rhost), "%s", h ? h : k->host);
		snprintf(k->ruser, sizeof(k->ruser), "%s", u ? u : "?");
		k->rport = (int)port;
		pthread_mutex_unlock(&k->mu);
		ssh_string_free_char(h);
		ssh_string_free_char(u);
	}
	{
		/* Run by us, not by libssh (ssh_proxy.h says why). */
		char msg[512];
		if (ssh_proxy_start(s, &proxy, msg, sizeof(msg))) {
			fail(k, "%s", msg);
			goto out;
		}
	}
	uint64_t deadline = loop_now_ms() + (uint64_t)k->timeout_s * 1000;
	ssh_set_blocking(s, 0);
	if (NB(ssh_connect(s), SSH_AGAIN) != SSH_OK) {
		if (k->late) {
			too_late(k, "connect to");
			goto out;
		}
		const char *e = ssh_get_error(s);
		int err = strstr(e, "refused") ? ECONNREFUSED : strstr(e, "imeout") || strstr(e, "timed out")
				? ETIMEDOUT : EHOSTUNREACH;
		char msg[600], said[300];
		ssh_proxy_said(proxy, said, sizeof(said));
		snprintf(msg, sizeof(msg), "connect to %s port %d%s: %s%s%s%s", k->rhost, k->rport,
			 proxy ? " through ProxyCommand" : "", e, said[0] ? " (proxy: " : "", said,
			 said[0] ? ")" : "");
		fail_code(k, err, msg);
		goto out;
	}
	{
		/* libssh settles the user name (config, then the local user)
		 * while connecting. */
		char *u = NULL;
		if (ssh_options_get(s, SSH_OPTIONS_USER, &u) == SSH_OK && u) {
			pthread_mutex_lock(&k->mu);
			snprintf(k->ruser, sizeof(k->ruser), "%s", u);
			pthread_mutex_unlock(&k->mu);
		}
		ssh_string_free_char(u);
	}
	{
		const char *ci = ssh_get_cipher_out(s);
		pthread_mutex_lock(&k->mu);
		snprintf(k->cipher, sizeof(k->cipher), "%s", ci ? ci : "");
		pthread_mutex_unlock(&k->mu);
	}
	if (check_host_key(k, s) || authenticate(k, s, deadline))
		goto out;
	ch = ssh_channel_new(s);
	if (!ch || NB(ssh_channel_open_session(ch), SSH_AGAIN) != SSH_OK ||
	    NB(ssh_channel_request_exec(ch, k->line), SSH_AGAIN) != SSH_OK) {
		if (k->late) {
			too_late(k, "starting the first stage on");
			goto out;
		}
		fail(k, "%s: cannot start the first stage: %s", k->host, ssh_get_error(s));
		goto out;
	}
	ssh_set_blocking(s, 1); /* the pump polls for itself */
	if (pump(k, s, ch)) {
		pthread_mutex_lock(&k->mu);
		if (!k->abandoned) {
			k->hs = s;
			k->hch = ch;
			k->hproxy = proxy;
			k->state = 1;
			s = NULL;
			ch = NULL;
			proxy = NULL;
		}
		pthread_cond_broadcast(&k->cv);
		pthread_mutex_unlock(&k->mu);
	}
out:
	ssh_proxy_end(s, ch, proxy, SSH_PROXY_GRACE_MS);
	close(k->sock);
	close(k->errw);
	pthread_mutex_lock(&k->mu);
	if (k->state == 0)
		k->state = 2;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	struct daemon *d = k->d;
	ssh_conn_unref(k);
	ssh_thread_done(d);
	return NULL;
}

void method_ssh_wait(struct daemon *d, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->ssh_mu);
	while (d->ssh_threads > 0)
		if (pthread_cond_timedwait(&d->ssh_cv, &d->ssh_mu, &until))
			break;
	int left = d->ssh_threads;
	pthread_mutex_unlock(&d->ssh_mu);
	if (left)
		log_warn("ssh: %d connection thread(s) still busy at exit", left);
	else if (__atomic_load_n(&d->ssh_sessions, __ATOMIC_RELAXED))
		log_warn("ssh: %d session(s) still open at exit",
			 __atomic_load_n(&d->ssh_sessions, __ATOMIC_RELAXED));
	else
		ssh_finalize();
}
