/*
 * method_local — the daemon's side of the method table: checking a
 * connect line's method and options (core/methods.c's checks, plus the
 * rule that passwords come from files), and connecting a context of the
 * daemon by its method's command: fork, the first stage through the tool
 * (sudo on a pty, docker exec, a chroot...), the same bootstrap an ssh
 * target gets, so every local test exercises the real path. ssh is the
 * one method the daemon does its own way (libssh, method_ssh.c).
 * Not for: children of stubs (their stub runs the same table).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "method.h"
#include "methods.h"

/* Methods the daemon connects its own way instead of by the table's
 * command: their checks, start and release. */
static const struct method_own {
	const char *name;
	int (*check)(const struct ctl_line *l, char *err, size_t errlen);
	int (*start)(struct ctx *c, const struct ctl_line *l, char *err, size_t errlen);
	void (*release)(struct ctx *c);
} own_methods[] = {
	{ "ssh", method_ssh_check, method_ssh_start, method_ssh_release },
};

static const struct method_own *own_of(const char *method)
{
	for (size_t i = 0; i < sizeof(own_methods) / sizeof(own_methods[0]); i++)
		if (!strcmp(own_methods[i].name, method))
			return &own_methods[i];
	return NULL;
}

/* The options of l as the table's list (borrowed strings), with
 * password_file= standing for the password= the table knows (its value
 * is the path until method_kv_password reads it). password= itself is
 * refused: a secret never goes on a ctl line. n set; 0 or -EINVAL. */
static int line_kv(const struct ctl_line *l, struct proto_kv *kv, size_t *n, char *err,
		   size_t errlen)
{
	for (int i = 0; i < l->nopts; i++) {
		if (!strcmp(l->opts[i].key, "password")) {
			snprintf(err, errlen, "passwords go in a file: password_file=PATH");
			return -EINVAL;
		}
		bool pwf = !strcmp(l->opts[i].key, "password_file");
		kv[i].key = (char *)(pwf ? "password" : l->opts[i].key);
		kv[i].val = (char *)l->opts[i].val;
	}
	*n = (size_t)l->nopts;
	return 0;
}

int method_check(int top, const char *method, const struct ctl_line *l,
		 char *err, size_t errlen)
{
	const struct method_own *own = top ? own_of(method) : NULL;
	if (own)
		return own->check(l, err, errlen);
	struct proto_kv kv[CTL_MAX_OPTS];
	size_t n;
	int rc = line_kv(l, kv, &n, err, errlen);
	return rc ? rc : methods_check(method, kv, n, err, errlen);
}

int method_read_password(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0) {
		snprintf(err, errlen, "password_file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		snprintf(err, errlen, "password_file %s: must be a file only its owner can read "
			 "(chmod 600)", path);
		return -EACCES;
	}
	ssize_t n = read(fd, out, cap - 1);
	int e = errno;
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "password_file %s: %s", path, strerror(e));
		return -e;
	}
	out[n] = 0;
	out[strcspn(out, "\r\n")] = 0;
	return 0;
}

void method_release(struct ctx *c)
{
	const struct method_own *own = c->parent == &c->d->root ? own_of(c->method) : NULL;
	if (own) {
		if (c->mstate)
			own->release(c);
		return;
	}
	/* The command's record: a boot in progress (its child is killed) or
	 * the terminal of a running child. Nested contexts have none. */
	methods_run_free(c->mstate);
	c->mstate = NULL;
}

void method_set_info(struct ctx *c, const char *key, const char *val)
{
	struct proto_kv *kv = realloc(c->minfo, (c->nminfo + 1) * sizeof(*kv));
	if (!kv)
		return;
	c->minfo = kv;
	kv[c->nminfo].key = strdup(key);
	kv[c->nminfo].val = strdup(val);
	if (kv[c->nminfo].key && kv[c->nminfo].val)
		c->nminfo++;
	else {
		free(kv[c->nminfo].key);
		free(kv[c->nminfo].val);
	}
}

static void on_boot(struct stream *s, pid_t pid, int err, const char *why, void *arg)
{
	struct ctx *c = arg;
	if (err) {
		/* Its child is gone (killed by the boot); nothing to keep. */
		methods_run_free(c->mstate);
		c->mstate = NULL;
	}
	method_up(c, s, pid, err, why);
}

int method_start(struct ctx *c, const struct ctl_line *l, char *err, size_t errlen)
{
	struct daemon *d = c->d;
	const struct method_own *own = own_of(c->method);
	if (own)
		return own->start(c, l, err, errlen);
	struct proto_kv kv[CTL_MAX_OPTS];
	size_t n;
	char pw[512] = "";
	int rc = line_kv(l, kv, &n, err, errlen);
	for (size_t i = 0; !rc && i < n; i++)
		if (!strcmp(kv[i].key, "password")) {
			/* Read here, handed to the terminal watcher, then wiped. */
			rc = method_read_password(kv[i].val, pw, sizeof(pw), err, errlen);
			kv[i].val = pw;
		}
	if (rc)
		return rc;
	struct proto_config cfg = { .id = c->id, .nparents = 1, .parents = { 0 } };
	snprintf(cfg.name, sizeof(cfg.name), "%s", c->path);
	cfg.log_level = d->debug ? LOG_DEBUG : LOG_INFO;
	cfg.keepalive_ms = (uint32_t)c->keepalive_ms; /* our pings: the stub goes by them */
	c->mstate = methods_run_start(d->loop, c->method, kv, n, &d->images, &cfg,
				      d->connect_timeout_ms, on_boot, c, err, errlen);
	explicit_bzero(pw, sizeof(pw));
	return c->mstate ? 0 : errno ? -errno : -ENOMEM;
}
