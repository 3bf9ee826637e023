/*
 * methods — command lines for reaching a child context from a stub
 * (methods.h). Every method ends in the same first stage; the options a
 * method accepts are checked here so a typo fails the connect instead of
 * being ignored.
 */
#include "methods.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"

static int add(struct method_plan *p, int *argc, const char *s)
{
	if (*argc >= METHODS_MAX_ARGS - 1)
		return -E2BIG;
	if (!(p->argv[*argc] = strdup(s)))
		return -ENOMEM;
	(*argc)++;
	return 0;
}

static int known(const struct proto_kv *kv, size_t n, const char *const *ok,
		 const char *method, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		int found = 0;
		for (int k = 0; ok[k]; k++)
			found |= !strcmp(kv[i].key, ok[k]);
		if (!found) {
			snprintf(err, errlen, "unknown option '%s' for method %s", kv[i].key, method);
			return -EINVAL;
		}
	}
	return 0;
}

/* A user name or host must not look like an option to the tool. */
static int plain(const char *what, const char *v, char *err, size_t errlen)
{
	if (!v || !*v || v[0] == '-' || strpbrk(v, " \t\n'\"\\;&|<>$`")) {
		snprintf(err, errlen, "bad %s '%s'", what, v ? v : "");
		return -EINVAL;
	}
	return 0;
}

/* 'line' for a remote shell: the remote user's login shell parses the
 * command ssh sends, so the stage goes in as one quoted word for sh. */
static char *sh_quoted(const char *prefix, const char *s)
{
	size_t n = strlen(prefix) + 3;
	for (const char *q = s; *q; q++)
		n += *q == '\'' ? 4 : 1;
	char *out = malloc(n);
	if (!out)
		return NULL;
	char *o = out + sprintf(out, "%s'", prefix);
	for (const char *q = s; *q; q++) {
		if (*q == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *q;
		}
	}
	*o++ = '\'';
	*o = 0;
	return out;
}

int methods_plan(const char *method, const struct proto_kv *kv, size_t n, const char *line,
		 struct method_plan *p, char *err, size_t errlen)
{
	static const char *const user_opts[] = { "user", "password", "timeout", NULL };
	static const char *const ssh_opts[] = { "host", "port", "user", "identity", "known_hosts",
						"check_host_keys", "password", "timeout",
						"keepalive", NULL };
	memset(p, 0, sizeof(*p));
	int argc = 0, rc = 0;
	const char *user = proto_kv_get(kv, n, "user");
	const char *t = proto_kv_get(kv, n, "timeout");
	p->password = proto_kv_get(kv, n, "password");
	p->timeout_ms = t ? atoi(t) * 1000 : 0;
	if (t && (p->timeout_ms <= 0 || p->timeout_ms > 3600000)) {
		snprintf(err, errlen, "timeout must be 1-3600 seconds");
		return -EINVAL;
	}
	if (!strcmp(method, "local")) {
		static const char *const none[] = { "timeout", NULL };
		if ((rc = known(kv, n, none, method, err, errlen)))
			return rc;
		rc = add(p, &argc, "/bin/sh");
		rc = rc ? rc : add(p, &argc, "-c");
		rc = rc ? rc : add(p, &argc, line);
	} else if (!strcmp(method, "sudo") || !strcmp(method, "doas")) {
		if ((rc = known(kv, n, user_opts, method, err, errlen)))
			return rc;
		if (!user)
			user = "root";
		if ((rc = plain("user", user, err, errlen)))
			return rc;
		p->pty = true;
		rc = add(p, &argc, method);
		if (!strcmp(method, "sudo")) {
			/* Our own prompt: recognised whatever the locale. */
			rc = rc ? rc : add(p, &argc, "-p");
			rc = rc ? rc : add(p, &argc, "mitofs sudo password:");
			rc = rc ? rc : add(p, &argc, "-H");
		}
		rc = rc ? rc : add(p, &argc, "-u");
		rc = rc ? rc : add(p, &argc, user);
		if (!strcmp(method, "sudo"))
			rc = rc ? rc : add(p, &argc, "--");
		rc = rc ? rc : add(p, &argc, "/bin/sh");
		rc = rc ? rc : add(p, &argc, "-c");
		rc = rc ? rc : add(p, &argc, line);
	} else if (!strcmp(method, "su")) {
		if ((rc = known(kv, n, user_opts, method, err, errlen)))
			return rc;
		if (!user)
			user = "root";
		if ((rc = plain("user", user, err, errlen)))
			return rc;
		p->pty = true;
		p->answer_stdin = true;
		/* -s: the user's own shell may be nologin or fish. */
		rc = add(p, &argc, "su");
		rc = rc ? rc : add(p, &argc, "-s");
		rc = rc ? rc : add(p, &argc, "/bin/sh");
		rc = rc ? rc : add(p, &argc, "-c");
		rc = rc ? rc : add(p, &argc, line);
		rc = rc ? rc : add(p, &argc, user);
	} else if (!strcmp(method, "ssh")) {
		if ((rc = known(kv, n, ssh_opts, method, err, errlen)))
			return rc;
		const char *host = proto_kv_get(kv, n, "host");
		const char *port = proto_kv_get(kv, n, "port");
		const char *id = proto_kv_get(kv, n, "identity");
		const char *kh = proto_kv_get(kv, n, "known_hosts");
		const char *mode = proto_kv_get(kv, n, "check_host_keys");
		if ((rc = plain("host", host, err, errlen)) ||
		    (user && (rc = plain("user", user, err, errlen))) ||
		    (port && (rc = plain("port", port, err, errlen))))
			return rc;
		const char *strict = !mode || !strcmp(mode, "enforce") ? "yes"
				     : !strcmp(mode, "accept-new") ? "accept-new"
				     : !strcmp(mode, "ignore") ? "no" : NULL;
		if (!strict) {
			snprintf(err, errlen, "check_host_keys is enforce, accept-new or ignore");
			return -EINVAL;
		}
		char opt[4200];
		p->pty = p->password != NULL;
		rc = add(p, &argc, "ssh");
		rc = rc ? rc : add(p, &argc, "-T");
		snprintf(opt, sizeof(opt), "BatchMode=%s", p->password ? "no" : "yes");
		rc = rc ? rc : add(p, &argc, "-o");
		rc = rc ? rc : add(p, &argc, opt);
		snprintf(opt, sizeof(opt), "StrictHostKeyChecking=%s", strict);
		rc = rc ? rc : add(p, &argc, "-o");
		rc = rc ? rc : add(p, &argc, opt);
		snprintf(opt, sizeof(opt), "ConnectTimeout=%d", t ? atoi(t) : 30);
		rc = rc ? rc : add(p, &argc, "-o");
		rc = rc ? rc : add(p, &argc, opt);
		if (p->password) {
			/* Only the password: no agent or keys to race it. */
			rc = rc ? rc : add(p, &argc, "-o");
			rc = rc ? rc : add(p, &argc, "PreferredAuthentications=password,keyboard-interactive");
			rc = rc ? rc : add(p, &argc, "-o");
			rc = rc ? rc : add(p, &argc, "NumberOfPasswordPrompts=1");
		}
		if (kh) {
			snprintf(opt, sizeof(opt), "UserKnownHostsFile=%s", kh);
			rc = rc ? rc : add(p, &argc, "-o");
			rc = rc ? rc : add(p, &argc, opt);
		}
		if (port) {
			rc = rc ? rc : add(p, &argc, "-p");
			rc = rc ? rc : add(p, &argc, port);
		}
		if (user) {
			rc = rc ? rc : add(p, &argc, "-l");
			rc = rc ? rc : add(p, &argc, user);
		}
		if (id) {
			rc = rc ? rc : add(p, &argc, "-i");
			rc = rc ? rc : add(p, &argc, id);
		}
		rc = rc ? rc : add(p, &argc, host);
		char *remote = rc ? NULL : sh_quoted("exec /bin/sh -c ", line);
		if (!rc && !remote)
			rc = -ENOMEM;
		if (!rc && argc < METHODS_MAX_ARGS - 1)
			p->argv[argc++] = remote;
		else
			free(remote);
	} else {
		snprintf(err, errlen, "unknown method '%s'", method);
		return -ENOENT;
	}
	if (rc) {
		methods_plan_free(p);
		if (rc == -E2BIG)
			snprintf(err, errlen, "too many options");
		return rc;
	}
	p->argv[argc] = NULL;
	return 0;
}

void methods_plan_free(struct method_plan *p)
{
	for (int i = 0; i < METHODS_MAX_ARGS; i++) {
		free(p->argv[i]);
		p->argv[i] = NULL;
	}
}
