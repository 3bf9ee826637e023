/*
 * methods_argv — the table of methods: each row next to the function that
 * builds its command line. Every command ends in the same first stage,
 * `/bin/sh -c LINE`, run by the tool on the target: sudo, su and doas
 * as another user, ssh on another host, docker/podman/kubectl... inside a
 * container, chroot and setns by the step before the exec. Argument
 * shapes follow Mitogen's methods where it has them, with `-i` where a
 * tool would otherwise not pass stdin (the stream runs on it) and never a
 * tty (a tty would mangle the binary stream).
 * Not for: checking values (methods.c, before any builder runs).
 */
#include "methods.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the first stage, as the last arguments --- */

static void add_stage(struct methods_plan *p, const char *line)
{
	methods_add(p, "/bin/sh");
	methods_add(p, "-c");
	methods_add(p, line);
}

/* The tool: its *_path= option, else its usual name (looked up in PATH). */
static void add_tool(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		     const char *path_key, const char *dflt)
{
	const char *v = path_key ? proto_kv_get(kv, n, path_key) : NULL;
	methods_add(p, v ? v : dflt);
}

/* --- local --- */

static int build_local(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		       const char *line, char *err, size_t errlen)
{
	(void)kv, (void)n, (void)err, (void)errlen;
	add_stage(p, line);
	return 0;
}

/* --- sudo, su, doas: another user, a password prompt on a pty --- */

static const struct methods_opt user_opts[] = {
	{ "user", METHODS_WORD, NULL, false },
	{ "password", METHODS_TEXT, NULL, false },
	{ NULL },
};

static int build_sudo(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		      const char *line, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	const char *user = proto_kv_get(kv, n, "user");
	p->pty = true;
	methods_add(p, "sudo");
	/* Our own prompt: recognised whatever the locale. */
	methods_add(p, "-p");
	methods_add(p, "mitofs sudo password:");
	methods_add(p, "-H");
	methods_add(p, "-u");
	methods_add(p, user ? user : "root");
	methods_add(p, "--");
	add_stage(p, line);
	return 0;
}

static int build_doas(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		      const char *line, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	const char *user = proto_kv_get(kv, n, "user");
	p->pty = true;
	methods_add(p, "doas");
	methods_add(p, "-u");
	methods_add(p, user ? user : "root");
	add_stage(p, line);
	return 0;
}

static int build_su(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		    const char *line, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	const char *user = proto_kv_get(kv, n, "user");
	p->pty = true;
	p->answer_stdin = true;
	/* -s: the user's own shell may be nologin or fish. */
	methods_add(p, "su");
	methods_add(p, "-s");
	add_stage(p, line);
	methods_add(p, user ? user : "root");
	return 0;
}

/* --- ssh with the host's own client --- */

static const struct methods_opt ssh_opts[] = {
	{ "host", METHODS_WORD, NULL, true },
	{ "port", METHODS_PORT, NULL, false },
	{ "user", METHODS_WORD, NULL, false },
	{ "identity", METHODS_TEXT, NULL, false },
	{ "known_hosts", METHODS_TEXT, NULL, false },
	{ "check_host_keys", METHODS_ENUM, "enforce|accept-new|ignore", false },
	{ "password", METHODS_TEXT, NULL, false },
	{ "keepalive", METHODS_NUM, NULL, false },
	{ NULL },
};

/* 'line' for a remote shell: the remote user's login shell parses the
 * command ssh sends, so the stage goes in as one quoted word for sh. */
static void add_remote_stage(struct methods_plan *p, const char *line)
{
	size_t n = strlen("exec /bin/sh -c ''") + 1;
	for (const char *q = line; *q; q++)
		n += *q == '\'' ? 4 : 1;
	char *out = malloc(n);
	if (!out) {
		p->rc = p->rc ? p->rc : -ENOMEM;
		return;
	}
	char *o = out + sprintf(out, "exec /bin/sh -c '");
	for (const char *q = line; *q; q++) {
		if (*q == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *q;
		}
	}
	*o++ = '\'';
	*o = 0;
	methods_add(p, out);
	free(out);
}

static int build_ssh(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		     const char *line, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	const char *user = proto_kv_get(kv, n, "user");
	const char *port = proto_kv_get(kv, n, "port");
	const char *id = proto_kv_get(kv, n, "identity");
	const char *kh = proto_kv_get(kv, n, "known_hosts");
	const char *mode = proto_kv_get(kv, n, "check_host_keys");
	const char *t = proto_kv_get(kv, n, "timeout");
	const char *strict = !mode || !strcmp(mode, "enforce") ? "yes"
			     : !strcmp(mode, "accept-new") ? "accept-new" : "no";
	p->pty = p->password != NULL;
	methods_add(p, "ssh");
	methods_add(p, "-T");
	methods_add(p, "-o");
	methods_addf(p, "BatchMode=%s", p->password ? "no" : "yes");
	methods_add(p, "-o");
	methods_addf(p, "StrictHostKeyChecking=%s", strict);
	methods_add(p, "-o");
	methods_addf(p, "ConnectTimeout=%d", t ? atoi(t) : 30);
	if (p->password) {
		/* Only the password: no agent or keys to race it. */
		methods_add(p, "-o");
		methods_add(p, "PreferredAuthentications=password,keyboard-interactive");
		methods_add(p, "-o");
		methods_add(p, "NumberOfPasswordPrompts=1");
	}
	if (kh) {
		methods_add(p, "-o");
		methods_addf(p, "UserKnownHostsFile=%s", kh);
	}
	if (port) {
		methods_add(p, "-p");
		methods_add(p, port);
	}
	if (user) {
		methods_add(p, "-l");
		methods_add(p, user);
	}
	if (id) {
		methods_add(p, "-i");
		methods_add(p, id);
	}
	methods_add(p, proto_kv_get(kv, n, "host"));
	add_remote_stage(p, line);
	return 0;
}

/* --- chroot and setns: the step before the exec does the work --- */

static const struct methods_opt chroot_opts[] = {
	{ "path", METHODS_ABS, NULL, true },
	{ "user", METHODS_WORD, NULL, false },
	{ NULL },
};

static int build_chroot(struct methods_plan *p, const struct proto_kv *kv, size_t n,
			const char *line, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	p->pre = methods_pre_chroot;
	p->pre_arg.root = proto_kv_get(kv, n, "path");
	p->pre_arg.user = proto_kv_get(kv, n, "user");
	add_stage(p, line);
	return 0;
}

/* The tool that tells a container's leader pid, per kind, and its option. */
static const struct {
	const char *kind, *path_key, *dflt;
} leader_tools[] = {
	{ "docker", "docker_path", "docker" },
	{ "podman", "podman_path", "podman" },
	{ "lxc", "lxc_info_path", "lxc-info" },
	{ "machinectl", "machinectl_path", "machinectl" },
};

static const struct methods_opt setns_opts[] = {
	{ "pid", METHODS_PID, NULL, false },
	{ "container", METHODS_WORD, NULL, false },
	{ "kind", METHODS_ENUM, "docker|podman|lxc|machinectl", false },
	{ "user", METHODS_WORD, NULL, false },
	{ "docker_path", METHODS_TEXT, NULL, false },
	{ "podman_path", METHODS_TEXT, NULL, false },
	{ "lxc_info_path", METHODS_TEXT, NULL, false },
	{ "machinectl_path", METHODS_TEXT, NULL, false },
	{ NULL },
};

/* setns by pid=, or by container= and kind=, whose tool finds the pid in
 * the child (it may take a while: never on the caller's loop). */
static int setns_plan(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		      const char *line, const char *kind, char *err, size_t errlen)
{
	const char *pid = proto_kv_get(kv, n, "pid");
	const char *ct = proto_kv_get(kv, n, "container");
	if (!pid == !ct) {
		snprintf(err, errlen, "%s needs pid= or container= (one of them)", p->row->name);
		return -EINVAL;
	}
	if (ct && !kind) {
		snprintf(err, errlen, "container= needs kind=docker|podman|lxc|machinectl");
		return -EINVAL;
	}
	p->pre = methods_pre_setns;
	p->pre_arg.pid = pid ? (pid_t)atoi(pid) : 0;
	p->pre_arg.container = ct;
	p->pre_arg.kind = ct ? kind : NULL;
	p->pre_arg.user = proto_kv_get(kv, n, "user");
	for (size_t i = 0; ct && i < sizeof(leader_tools) / sizeof(leader_tools[0]); i++)
		if (!strcmp(leader_tools[i].kind, kind)) {
			const char *v = proto_kv_get(kv, n, leader_tools[i].path_key);
			p->pre_arg.tool = v ? v : leader_tools[i].dflt;
		}
	add_stage(p, line);
	return 0;
}

static int build_setns(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		       const char *line, char *err, size_t errlen)
{
	return setns_plan(p, kv, n, line, proto_kv_get(kv, n, "kind"), err, errlen);
}

/* machinectl: `machinectl shell` always puts a tty in the way, so enter
 * the machine's leader by setns, as Mitogen's setns kind=machinectl. */
static const struct methods_opt machinectl_opts[] = {
	{ "container", METHODS_WORD, NULL, true },
	{ "user", METHODS_WORD, NULL, false },
	{ "machinectl_path", METHODS_TEXT, NULL, false },
	{ NULL },
};

static int build_machinectl(struct methods_plan *p, const struct proto_kv *kv, size_t n,
			    const char *line, char *err, size_t errlen)
{
	return setns_plan(p, kv, n, line, "machinectl", err, errlen);
}

/* --- container tools: TOOL exec -i ... CONTAINER /bin/sh -c LINE --- */

static const struct methods_opt docker_opts[] = {
	{ "container", METHODS_WORD, NULL, true },
	{ "user", METHODS_WORD, NULL, false },
	{ "docker_path", METHODS_TEXT, NULL, false },
	{ NULL },
};

/* docker and podman alike: the tool is the row's name, its option
 * NAME_path= says where it is. */
static int build_exec(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		      const char *line, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	const char *user = proto_kv_get(kv, n, "user");
	char key[32];
	snprintf(key, sizeof(key), "%s_path", p->row->name);
	add_tool(p, kv, n, key, p->row->name);
	methods_add(p, "exec");
	methods_add(p, "-i");
	if (user)
		methods_addf(p, "--user=%s", user);
	methods_add(p, proto_kv_get(kv, n, "container"));
	add_stage(p, line);
	return 0;
}

static const struct methods_opt podman_opts[] = {
	{ "container", METHODS_WORD, NULL, true },
	{ "user", METHODS_WORD, NULL, false },
	{ "podman_path", METHODS_TEXT, NULL, false },
	{ NULL },
};

static const struct methods_opt buildah_opts[] = {
	{ "container", METHODS_WORD, NULL, true },
	{ "user", METHODS_WORD, NULL, false },
	{ "buildah_path", METHODS_TEXT, NULL, false },
	{ NULL },
};

static int build_buildah(struct methods_plan *p, const struct proto_kv *kv, size_t n,
			 const char *line, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	const char *user = proto_kv_get(kv, n, "user");
	add_tool(p, kv, n, "buildah_path", "buildah");
	/* buildah run passes stdin through as it is (no -i). */
	methods_add(p, "run");
	if (user)
		methods_addf(p, "--user=%s", user);
	methods_add(p, "--");
	methods_add(p, proto_kv_get(kv, n, "container"));
	add_stage(p, line);
	return 0;
}

static const struct methods_opt kubectl_opts[] = {
	{ "pod", METHODS_WORD, NULL, true },
	{ "container", METHODS_WORD, NULL, false },
	{ "kubectl_path", METHODS_TEXT, NULL, false },
	{ "kubectl_args", METHODS_ARGS, NULL, false },
	{ "keepalive", METHODS_NUM, NULL, false }, /* the daemon's pings */
	{ NULL },
};

static int build_kubectl(struct methods_plan *p, const struct proto_kv *kv, size_t n,
			 const char *line, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	const char *ct = proto_kv_get(kv, n, "container");
	const char *args = proto_kv_get(kv, n, "kubectl_args");
	add_tool(p, kv, n, "kubectl_path", "kubectl");
	/* Global arguments (--context=, -n NS) come before the verb. */
	for (const char *a = args; a && *a;) {
		size_t k = strcspn(a, ",");
		methods_addf(p, "%.*s", (int)k, a);
		a += k + (a[k] == ',');
	}
	methods_add(p, "exec");
	methods_add(p, "-i");
	methods_add(p, proto_kv_get(kv, n, "pod"));
	if (ct) {
		methods_add(p, "-c");
		methods_add(p, ct);
	}
	methods_add(p, "--");
	add_stage(p, line);
	return 0;
}

static const struct methods_opt lxc_opts[] = {
	{ "container", METHODS_WORD, NULL, true },
	{ "lxc_attach_path", METHODS_TEXT, NULL, false },
	{ NULL },
};

static int build_lxc(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		     const char *line, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	add_tool(p, kv, n, "lxc_attach_path", "lxc-attach");
	methods_add(p, "--clear-env");
	methods_add(p, "--name");
	methods_add(p, proto_kv_get(kv, n, "container"));
	methods_add(p, "--");
	add_stage(p, line);
	return 0;
}

static const struct methods_opt lxd_opts[] = {
	{ "container", METHODS_WORD, NULL, true },
	{ "lxc_path", METHODS_TEXT, NULL, false },
	{ NULL },
};

static int build_lxd(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		     const char *line, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	add_tool(p, kv, n, "lxc_path", "lxc");
	methods_add(p, "exec");
	methods_add(p, "--mode=noninteractive");
	methods_add(p, proto_kv_get(kv, n, "container"));
	methods_add(p, "--");
	add_stage(p, line);
	return 0;
}

/* --- the table --- */

const struct methods_row methods_table[] = {
	{ "local", METHODS_HOST | METHODS_DIRECT, NULL, build_local },
	{ "ssh", METHODS_NET, ssh_opts, build_ssh },
	{ "sudo", METHODS_HOST, user_opts, build_sudo },
	{ "su", METHODS_HOST, user_opts, build_su },
	{ "doas", METHODS_HOST, user_opts, build_doas },
	{ "chroot", 0, chroot_opts, build_chroot },
	{ "setns", 0, setns_opts, build_setns },
	{ "docker", 0, docker_opts, build_exec },
	{ "podman", 0, podman_opts, build_exec },
	{ "buildah", 0, buildah_opts, build_buildah },
	/* kubectl exec travels through the API server and the kubelet. */
	{ "kubectl", METHODS_NET, kubectl_opts, build_kubectl },
	{ "lxc", 0, lxc_opts, build_lxc },
	{ "lxd", 0, lxd_opts, build_lxd },
	{ "machinectl", 0, machinectl_opts, build_machinectl },
	{ NULL },
};
