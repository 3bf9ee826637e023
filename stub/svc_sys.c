/*
 * svc_sys — SYS_INFO: who and where the stub is (and SYS_PING, the
 * keepalive), read from the kernel and
 * /etc without any name service (a static musl binary has no NSS: the
 * user name falls back to $USER, then the numeric uid).
 * Not for: anything that changes the host.
 */
#include "svc_sys.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "proto.h"
#include "router.h"
#include "svc.h"

/* Copies s into out[cap], cut to fit. */
static void copy_str(char *out, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, s, n);
	out[n] = 0;
}

/* PRETTY_NAME from os-release, unquoted, into out ("" when unknown). */
static void os_pretty_name(char *out, size_t cap)
{
	static const char *const paths[] = { "/etc/os-release", "/usr/lib/os-release" };
	out[0] = 0;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		FILE *f = fopen(paths[i], "re");
		if (!f)
			continue;
		char line[512];
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "PRETTY_NAME=", 12) != 0)
				continue;
			char *v = line + 12;
			v[strcspn(v, "\r\n")] = 0;
			size_t n = strlen(v);
			if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
				v[n - 1] = 0;
				v++;
			}
			copy_str(out, cap, v);
			break;
		}
		fclose(f);
		if (out[0])
			return;
	}
}

static int put_kv(struct buf *b, const char *k, const char *v)
{
	int rc = buf_put_str(b, k);
	return rc ? rc : buf_put_str(b, v);
}

int svc_sys_info(struct buf *b)
{
	char host[256], uid[16], gid[16], pid[16], user[256], os[256];
	struct utsname u;
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	if (gethostname(host, sizeof(host)) < 0)
		copy_str(host, sizeof(host), u.nodename);
	host[sizeof(host) - 1] = 0;
	uid_t me = getuid();
	snprintf(uid, sizeof(uid), "%u", (unsigned)me);
	snprintf(gid, sizeof(gid), "%u", (unsigned)getgid());
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	/* musl reads /etc/passwd itself; users only known to NSS (LDAP,
	 * systemd-homed) are missing, hence the fallbacks. */
	struct passwd *pw = getpwuid(me);
	const char *env = getenv("USER");
	if (pw && pw->pw_name)
		copy_str(user, sizeof(user), pw->pw_name);
	else if (env && *env)
		copy_str(user, sizeof(user), env);
	else
		copy_str(user, sizeof(user), uid);
	os_pretty_name(os, sizeof(os));

	const char *kv[][2] = {
		{ "hostname", host }, { "uid", uid }, { "gid", gid }, { "user", user },
		{ "pid", pid }, { "arch", u.machine }, { "kernel", u.release }, { "os", os },
	};
	size_t n = sizeof(kv) / sizeof(kv[0]);
	int rc = buf_put_u32(b, (uint32_t)n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = put_kv(b, kv[i][0], kv[i][1]);
	return rc;
}

void svc_sys_call(struct router *r, const struct msg *m, uint16_t op, struct rd *args)
{
	struct svc_req q = svc_req_of(m);
	if (op != SYS_INFO && op != SYS_PING) {
		svc_reply_errf(r, q, EINVAL, "sys: unknown op %u", op);
		return;
	}
	if (rd_end(args)) {
		svc_reply_errf(r, q, EBADMSG, "sys: takes no arguments");
		return;
	}
	if (op == SYS_PING) {
		svc_reply(r, q, 0, NULL, NULL, 0);
		return;
	}
	struct buf b;
	buf_init(&b);
	int rc = svc_sys_info(&b);
	if (rc)
		svc_reply_errf(r, q, -rc, "sys info: %s", strerror(-rc));
	else
		svc_reply(r, q, 0, NULL, b.data, b.len);
	buf_free(&b);
}
