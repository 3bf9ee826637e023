/*
 * method_local — a stub on this machine: the first-stage line run by
 * /bin/sh in a child process, the same bootstrap an ssh target gets, so
 * every local test exercises the real path. Also holds the method table
 * (method_check / method_start). Not for: children of stubs (their stub
 * spawns them).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "log.h"
#include "method.h"

static const char *local_opts[] = { "timeout", NULL };

static int check_opts(const char *method, const char **known, const struct ctl_line *l,
		      char *err, size_t errlen)
{
	for (int i = 0; i < l->nopts; i++) {
		int ok = 0;
		for (int k = 0; known[k]; k++)
			ok |= !strcmp(l->opts[i].key, known[k]);
		if (!ok) {
			snprintf(err, errlen, "unknown option '%s' for method %s", l->opts[i].key, method);
			return -EINVAL;
		}
	}
	const char *t = ctl_opt(l, "timeout");
	if (t) {
		char *end;
		long v = strtol(t, &end, 10);
		if (!*t || *end || v <= 0 || v > 3600) {
			snprintf(err, errlen, "timeout must be 1-3600 seconds, not '%s'", t);
			return -EINVAL;
		}
	}
	return 0;
}

int method_check(int top, const char *method, const struct ctl_line *l,
		 char *err, size_t errlen)
{
	(void)top;
	if (!strcmp(method, "local"))
		return check_opts(method, local_opts, l, err, errlen);
	if (!strcmp(method, "ssh") && top)
		return method_ssh_check(l, err, errlen);
	/* Through a context: its stub knows these and checks their options. */
	static const char *via_stub[] = { "ssh", "sudo", "su", "doas", NULL };
	for (int i = 0; !top && via_stub[i]; i++)
		if (!strcmp(method, via_stub[i])) {
			if (ctl_opt(l, "password")) {
				snprintf(err, errlen, "passwords go in a file: password_file=PATH");
				return -EINVAL;
			}
			return 0;
		}
	snprintf(err, errlen, "unknown method '%s' (known: local, %s)", method,
		 top ? "ssh" : "ssh, sudo, su, doas");
	return -ENOENT;
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
	if (c->mstate && !strcmp(c->method, "ssh"))
		method_ssh_release(c);
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

int method_start(struct ctx *c, const struct ctl_line *l, char *err, size_t errlen)
{
	if (!strcmp(c->method, "local"))
		return method_local_start(c, l, err, errlen);
	if (!strcmp(c->method, "ssh"))
		return method_ssh_start(c, l, err, errlen);
	snprintf(err, errlen, "unknown method '%s'", c->method);
	return -ENOENT;
}

static void on_boot(struct stream *s, pid_t pid, int err, const char *why, void *arg)
{
	method_up(arg, s, pid, err, why);
}

int method_local_start(struct ctx *c, const struct ctl_line *l, char *err, size_t errlen)
{
	struct daemon *d = c->d;
	const char *t = ctl_opt(l, "timeout");
	int timeout_ms = t ? atoi(t) * 1000 : d->connect_timeout_ms;
	struct proto_config cfg = { .id = c->id, .nparents = 1, .parents = { 0 } };
	snprintf(cfg.name, sizeof(cfg.name), "%s", c->path);
	cfg.log_level = d->debug ? LOG_DEBUG : LOG_INFO;
	c->boot = boot_local(d->loop, d->image, d->image_len, d->image_tag, &cfg, timeout_ms, on_boot, c);
	if (!c->boot) {
		int e = errno ? errno : ENOMEM;
		snprintf(err, errlen, "cannot start the local stub: %s", strerror(e));
		return -e;
	}
	return 0;
}
