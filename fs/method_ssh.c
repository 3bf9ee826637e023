/*
 * method_ssh — a context on another host, reached with libssh from the
 * daemon: ~/.ssh/config, host keys checked as OpenSSH does, auth by agent,
 * keys, then a password read from a file; then the same first stage as
 * every method, run with one exec on one long-lived channel.
 *
 * Each connection gets a thread that owns its ssh session until the stub
 * has said hello: connecting never blocks the daemon's loop, 50 hosts
 * connect in parallel, and during the bootstrap the thread pumps bytes
 * between the channel and a socketpair whose other end is the boot job's
 * fd on the loop (the stage's stderr goes to the error pipe). The thread
 * touches nothing of the daemon but its own struct conn; what the daemon
 * learns (fingerprint, failure reason) crosses under conn->mu or through
 * the socketpair and the error pipe.
 *
 * After the hello the thread hands the session over (handoff) and ends:
 * the loop then drives the channel itself through a stream transport
 * (ssh_io), so a round trip costs no thread wake-ups and no extra copy.
 * The handover: the daemon shuts down its writing side of the socketpair;
 * the thread forwards everything before that EOF into the channel, stops
 * reading the channel, and passes session and channel under conn->mu;
 * the daemon reads what is left in the socketpair and switches the
 * stream onto the channel (ssh_io.c). Only one thread ever touches a
 * session at a time.
 * This file is the daemon's side; the thread is method_ssh_conn.c, and
 * what both touch is in method_ssh_int.h.
 * Not for: ssh run by a stub (stub/svc_spawn.c), keepalive (ctx.c).
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
#include "method_ssh_int.h"

/* --- the daemon's side --- */

/* A session the loop let go of (ssh_io's end), and its proxy. */
struct ssh_end {
	struct daemon *d;
	ssh_session s;
	ssh_channel ch;
	struct ssh_proxy *proxy;
};

static void *end_main(void *arg)
{
	struct ssh_end *e = arg;
	struct daemon *d = e->d;
	ssh_proxy_end(e->s, e->ch, e->proxy, SSH_PROXY_GRACE_MS);
	__atomic_sub_fetch(&d->ssh_sessions, 1, __ATOMIC_RELAXED);
	free(e);
	ssh_thread_done(d);
	return NULL;
}

/* Ends a session the loop let go of on a thread of its own, as a proxy
 * may take up to SSH_PROXY_GRACE_MS to go: the loop never waits for a
 * child. Without a thread, at once, the proxy killed without grace. */
static void session_end(ssh_session s, ssh_channel ch, void *arg)
{
	struct ssh_end *e = arg;
	struct daemon *d = e->d;
	pthread_t th;
	pthread_attr_t at;
	e->s = s;
	e->ch = ch;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&d->ssh_mu);
	d->ssh_threads++;
	pthread_mutex_unlock(&d->ssh_mu);
	int rc = pthread_create(&th, &at, end_main, e);
	pthread_attr_destroy(&at);
	if (rc) {
		ssh_proxy_end(s, ch, e->proxy, 0);
		__atomic_sub_fetch(&d->ssh_sessions, 1, __ATOMIC_RELAXED);
		free(e);
		ssh_thread_done(d);
	}
}

void method_ssh_release(struct ctx *c)
{
	struct conn *k = c->mstate;
	c->mstate = NULL;
	if (k)
		ssh_conn_unref(k);
}

static const char *ssh_opts[] = { "host", "port", "user", "identity", "known_hosts",
				  "check_host_keys", "password_file", "timeout",
				  "keepalive", NULL };

int method_ssh_check(const struct ctl_line *l, char *err, size_t errlen)
{
	for (int i = 0; i < l->nopts; i++) {
		int ok = 0;
		for (int o = 0; ssh_opts[o]; o++)
			ok |= !strcmp(l->opts[i].key, ssh_opts[o]);
		if (!ok) {
			snprintf(err, errlen, "unknown option '%s' for method ssh", l->opts[i].key);
			return -EINVAL;
		}
		if (!strcmp(l->opts[i].key, "password")) {
			snprintf(err, errlen, "passwords go in a file: password_file=PATH");
			return -EINVAL;
		}
	}
	const char *h = ctl_opt(l, "host");
	if (!h || !*h || h[0] == '-') {
		snprintf(err, errlen, "ssh needs host=NAME (a name from ~/.ssh/config works)");
		return -EINVAL;
	}
	const char *m = ctl_opt(l, "check_host_keys");
	if (m && strcmp(m, "enforce") && strcmp(m, "accept-new") && strcmp(m, "ignore")) {
		snprintf(err, errlen, "check_host_keys is enforce, accept-new or ignore");
		return -EINVAL;
	}
	static const char *nums[] = { "port", "timeout", "keepalive", NULL };
	for (int i = 0; nums[i]; i++) {
		const char *v = ctl_opt(l, nums[i]);
		char *end;
		if (v && (strtol(v, &end, 10) < (i == 2 ? 0 : 1) || *end || !*v ||
			  strtol(v, NULL, 10) > 65535)) {
			snprintf(err, errlen, "%s must be a number, not '%s'", nums[i], v);
			return -EINVAL;
		}
	}
	return 0;
}

/* ~ at the start of a path is the home directory. */
static char *expand(const char *p)
{
	if (!p)
		return NULL;
	const char *home = getenv("HOME");
	char *out = NULL;
	if (p[0] == '~' && p[1] == '/' && home) {
		if (asprintf(&out, "%s%s", home, p + 1) < 0)
			return NULL;
		return out;
	}
	return strdup(p);
}

/* Takes the session from the thread and puts s on it. 0 or -errno
 * (s unchanged then, the session the thread's or freed). */
static int handoff(struct conn *k, struct stream *s)
{
	pthread_mutex_lock(&k->mu);
	k->stop = true;
	pthread_mutex_unlock(&k->mu);
	if (shutdown(k->dsock, SHUT_WR) < 0)
		return -errno;
	/* The thread only has to forward what the boot job sent last (the
	 * CONFIG frame): short. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&k->mu);
	while (k->state == 0)
		if (pthread_cond_timedwait(&k->cv, &k->mu, &until))
			break;
	ssh_session ss = k->hs;
	ssh_channel ch = k->hch;
	struct ssh_proxy *proxy = k->hproxy;
	k->hs = NULL;
	k->hch = NULL;
	k->hproxy = NULL;
	if (k->state != 1)
		k->abandoned = true;
	pthread_mutex_unlock(&k->mu);
	if (!ss)
		return -ECONNRESET;
	struct ssh_end *e = calloc(1, sizeof(*e));
	if (!e) {
		ssh_proxy_end(ss, ch, proxy, 0);
		return -ENOMEM;
	}
	e->d = k->d;
	e->proxy = proxy;
	__atomic_add_fetch(&k->d->ssh_sessions, 1, __ATOMIC_RELAXED);
	return ssh_io_attach(k->d->loop, s, ss, ch, session_end, e);
}

static void on_boot(struct stream *s, pid_t pid, int err, const char *why, void *arg)
{
	struct ctx *c = arg;
	struct conn *k = c->mstate;
	c->mstate = NULL;
	if (k) {
		pthread_mutex_lock(&k->mu);
		char port[16];
		snprintf(port, sizeof(port), "%d", k->rport);
		method_set_info(c, "host", k->rhost);
		method_set_info(c, "port", port);
		method_set_info(c, "user", k->ruser);
		if (k->fingerprint[0])
			method_set_info(c, "hostkey", k->fingerprint);
		if (k->cipher[0])
			method_set_info(c, "cipher", k->cipher);
		if (k->recorded[0])
			ctx_log(c, LOG_INFO, "%s", k->recorded);
		/* An ssh-level failure says more than "EOF before hello". */
		char failmsg[sizeof(k->failmsg)];
		int failerr = k->failerr;
		snprintf(failmsg, sizeof(failmsg), "%s", k->failmsg);
		pthread_mutex_unlock(&k->mu);
		if (!err) {
			int rc = handoff(k, s);
			if (rc) {
				stream_free(s);
				s = NULL;
				snprintf(failmsg, sizeof(failmsg),
					 "ssh: cannot take the channel over from the connection thread: %s",
					 strerror(-rc));
				failerr = -rc;
				err = EIO;
			}
		}
		ssh_conn_unref(k);
		if (err && failmsg[0]) {
			method_up(c, s, pid, failerr, failmsg);
			return;
		}
	}
	method_up(c, s, pid, err, why);
}

int method_ssh_start(struct ctx *c, const struct ctl_line *l, char *err, size_t errlen)
{
	struct daemon *d = c->d;
	struct conn *k = calloc(1, sizeof(*k));
	int sv[2] = { -1, -1 }, ep[2] = { -1, -1 };
	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	k->refs = 2;
	k->sock = k->errw = k->dsock = -1;
	int rc;
	const char *t = ctl_opt(l, "timeout"), *m = ctl_opt(l, "check_host_keys");
	k->timeout_s = t ? atoi(t) : d->connect_timeout_ms / 1000;
	k->port = ctl_opt(l, "port") ? atoi(ctl_opt(l, "port")) : 0;
	k->mode = !m || !strcmp(m, "enforce") ? HK_ENFORCE
		  : !strcmp(m, "accept-new") ? HK_ACCEPT_NEW : HK_IGNORE;
	k->host = strdup(ctl_opt(l, "host"));
	k->user = ctl_opt(l, "user") ? strdup(ctl_opt(l, "user")) : NULL;
	k->identity = expand(ctl_opt(l, "identity"));
	k->known_hosts = expand(ctl_opt(l, "known_hosts"));
	const char *pwf = ctl_opt(l, "password_file");
	if (pwf) {
		char pw[512], *path = expand(pwf);
		rc = path ? method_read_password(path, pw, sizeof(pw), err, errlen) : -ENOMEM;
		free(path);
		if (rc) {
			k->refs = 1;
			ssh_conn_unref(k);
			return rc;
		}
		k->password = strdup(pw);
		explicit_bzero(pw, sizeof(pw));
	}
	if (getenv("HOME"))
		k->home = strdup(getenv("HOME"));
	char line[BOOT_LINE_MAX];
	rc = boot_stage_line(line, sizeof(line), &d->images, c->path);
	k->line = rc ? NULL : strdup(line);
	if (!k->host || !k->line) {
		snprintf(err, errlen, "cannot prepare the connection");
		goto fail;
	}
	if (k->mode == HK_IGNORE)
		log_warn("ssh(%s): check_host_keys=ignore: the host key of %s is not checked",
			 c->path, k->host);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		goto fail;
	}
	k->sock = sv[1];
	k->errw = ep[1];
	k->dsock = sv[0];
	struct proto_config cfg = { .id = c->id, .nparents = 1, .parents = { 0 }, .compress = 1 };
	snprintf(cfg.name, sizeof(cfg.name), "%s", c->path);
	cfg.log_level = d->debug ? LOG_DEBUG : LOG_INFO;
	cfg.keepalive_ms = (uint32_t)c->keepalive_ms; /* our pings: the stub goes by them */
	/* The whole connect (tcp, keys, auth, upload, hello) has the timeout;
	 * libssh's own applies to each of its steps inside that. The thread
	 * keeps the deadline of the ssh part and says which step ran out of
	 * time; the boot job's is a second later, for the upload and hello. */
	c->boot = boot_start(d->loop, sv[0], ep[0], -1, &d->images, &cfg,
			     k->timeout_s * 1000 + 1000, on_boot, c);
	sv[0] = ep[0] = -1; /* the boot job owns them now, failing or not */
	if (!c->boot) {
		snprintf(err, errlen, "cannot start the bootstrap: %s", strerror(errno));
		goto fail;
	}
	c->mstate = k;
	pthread_t th;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	k->d = d;
	pthread_mutex_lock(&d->ssh_mu);
	d->ssh_threads++;
	pthread_mutex_unlock(&d->ssh_mu);
	rc = pthread_create(&th, &at, ssh_conn_main, k);
	pthread_attr_destroy(&at);
	if (rc) {
		pthread_mutex_lock(&d->ssh_mu);
		d->ssh_threads--;
		pthread_mutex_unlock(&d->ssh_mu);
	}
	if (rc) {
		c->mstate = NULL;
		boot_cancel(c->boot);
		c->boot = NULL;
		snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
		sv[1] = k->sock;
		ep[1] = k->errw;
		goto fail;
	}
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	k->refs = 1;
	k->sock = k->errw = -1;
	ssh_conn_unref(k);
	return -EINVAL;
}
