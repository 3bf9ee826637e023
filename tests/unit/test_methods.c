/*
 * test_methods — the method table: every row's command line around the
 * first stage (the shapes Mitogen uses, `-i` and never a tty), the checks
 * on options (unknown, missing, bad values, values that would be options
 * of the tool), and which hops count as network hops.
 *
 *   make build/tests/test_methods && build/tests/test_methods
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "methods.h"

#define KV(k, v) { (char *)(k), (char *)(v) }

/* The plan's argv joined by '|', for comparing shapes. */
static void plan_of(const char *method, const struct proto_kv *kv, size_t n, char *out,
		    size_t cap, struct methods_plan *keep)
{
	struct methods_plan p;
	char err[256] = "";
	int rc = methods_plan(method, kv, n, "LINE", &p, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s: %s", method, err);
	size_t off = 0;
	out[0] = 0;
	for (int i = 0; p.argv[i]; i++)
		off += (size_t)snprintf(out + off, cap - off, "%s%s", i ? "|" : "", p.argv[i]);
	if (keep)
		*keep = p;
	else
		methods_plan_free(&p);
}

static int check(const char *method, const struct proto_kv *kv, size_t n, char *err)
{
	return methods_check(method, kv, n, err, 256);
}

Test(methods, container_tools_run_the_stage_with_stdin_and_no_tty)
{
	char got[1024];
	struct proto_kv d[] = { KV("container", "web"), KV("user", "app"),
				KV("docker_path", "/opt/docker") };
	plan_of("docker", d, 3, got, sizeof(got), NULL);
	cr_expect_str_eq(got, "/opt/docker|exec|-i|--user=app|web|/bin/sh|-c|LINE");
	plan_of("docker", d, 1, got, sizeof(got), NULL);
	cr_expect_str_eq(got, "docker|exec|-i|web|/bin/sh|-c|LINE");
	struct proto_kv p[] = { KV("container", "db"), KV("user", "1000") };
	plan_of("podman", p, 2, got, sizeof(got), NULL);
	cr_expect_str_eq(got, "podman|exec|-i|--user=1000|db|/bin/sh|-c|LINE");
	plan_of("buildah", p, 2, got, sizeof(got), NULL);
	cr_expect_str_eq(got, "buildah|run|--user=1000|--|db|/bin/sh|-c|LINE");
	struct proto_kv k[] = { KV("pod", "api-1"), KV("container", "side"),
				KV("kubectl_args", "--context=prod,-n,ops") };
	plan_of("kubectl", k, 3, got, sizeof(got), NULL);
	cr_expect_str_eq(got, "kubectl|--context=prod|-n|ops|exec|-i|api-1|-c|side|--|"
			      "/bin/sh|-c|LINE");
	struct proto_kv l[] = { KV("container", "c1") };
	plan_of("lxc", l, 1, got, sizeof(got), NULL);
	cr_expect_str_eq(got, "lxc-attach|--clear-env|--name|c1|--|/bin/sh|-c|LINE");
	plan_of("lxd", l, 1, got, sizeof(got), NULL);
	cr_expect_str_eq(got, "lxc|exec|--mode=noninteractive|c1|--|/bin/sh|-c|LINE");
}

Test(methods, users_and_hosts_keep_their_shapes)
{
	char got[1024];
	plan_of("local", NULL, 0, got, sizeof(got), NULL);
	cr_expect_str_eq(got, "/bin/sh|-c|LINE");
	struct methods_plan p;
	struct proto_kv u[] = { KV("user", "app"), KV("password", "pw") };
	plan_of("sudo", u, 1, got, sizeof(got), &p);
	cr_expect_str_eq(got, "sudo|-p|mitofs sudo password:|-H|-u|app|--|/bin/sh|-c|LINE");
	cr_expect(p.pty);
	methods_plan_free(&p);
	plan_of("su", u, 2, got, sizeof(got), &p);
	cr_expect_str_eq(got, "su|-s|/bin/sh|-c|LINE|app");
	cr_expect(p.pty && p.answer_stdin);
	cr_expect_str_eq(p.password, "pw");
	methods_plan_free(&p);
	plan_of("doas", NULL, 0, got, sizeof(got), NULL);
	cr_expect_str_eq(got, "doas|-u|root|/bin/sh|-c|LINE");
	struct proto_kv s[] = { KV("host", "h1"), KV("port", "2222"), KV("timeout", "7") };
	plan_of("ssh", s, 3, got, sizeof(got), &p);
	cr_expect_str_eq(got, "ssh|-T|-o|BatchMode=yes|-o|StrictHostKeyChecking=yes|-o|"
			      "ConnectTimeout=7|-p|2222|h1|exec /bin/sh -c 'LINE'");
	cr_expect_eq(p.timeout_ms, 7000);
	cr_expect(!p.pty);
	methods_plan_free(&p);
}

Test(methods, chroot_and_setns_work_before_the_exec)
{
	char got[256];
	struct methods_plan p;
	struct proto_kv c[] = { KV("path", "/srv/root"), KV("user", "app") };
	plan_of("chroot", c, 2, got, sizeof(got), &p);
	cr_expect_str_eq(got, "/bin/sh|-c|LINE");
	cr_expect_eq(p.pre, methods_pre_chroot);
	cr_expect_str_eq(p.pre_arg.root, "/srv/root");
	cr_expect_str_eq(p.pre_arg.user, "app");
	methods_plan_free(&p);
	struct proto_kv s[] = { KV("pid", "4242") };
	plan_of("setns", s, 1, got, sizeof(got), &p);
	cr_expect_eq(p.pre, methods_pre_setns);
	cr_expect_eq(p.pre_arg.pid, 4242);
	methods_plan_free(&p);
	struct proto_kv k[] = { KV("container", "web"), KV("kind", "podman"),
				KV("podman_path", "/x/podman") };
	plan_of("setns", k, 3, got, sizeof(got), &p);
	cr_expect_str_eq(p.pre_arg.tool, "/x/podman");
	cr_expect_str_eq(p.pre_arg.kind, "podman");
	methods_plan_free(&p);
	struct proto_kv m[] = { KV("container", "vm1") };
	plan_of("machinectl", m, 1, got, sizeof(got), &p);
	cr_expect_str_eq(p.pre_arg.tool, "machinectl");
	cr_expect_str_eq(p.pre_arg.container, "vm1");
	methods_plan_free(&p);
}

Test(methods, bad_options_fail_with_a_reason)
{
	char err[256];
	struct proto_kv typo[] = { KV("container", "x"), KV("usr", "a") };
	cr_expect_eq(check("docker", typo, 2, err), -EINVAL);
	cr_expect_str_eq(err, "unknown option 'usr' for method docker");
	cr_expect_eq(check("docker", NULL, 0, err), -EINVAL);
	cr_expect_str_eq(err, "method docker needs container=");
	struct proto_kv dash[] = { KV("container", "--privileged") };
	cr_expect_eq(check("docker", dash, 1, err), -EINVAL, "a value must not become an option");
	struct proto_kv shell[] = { KV("host", "h;reboot") };
	cr_expect_eq(check("ssh", shell, 1, err), -EINVAL);
	struct proto_kv rel[] = { KV("path", "srv/root") };
	cr_expect_eq(check("chroot", rel, 1, err), -EINVAL);
	cr_expect_str_eq(err, "path must be an absolute path, not 'srv/root'");
	struct proto_kv t[] = { KV("timeout", "0") };
	cr_expect_eq(check("local", t, 1, err), -EINVAL);
	struct proto_kv kind[] = { KV("container", "c"), KV("kind", "rkt") };
	cr_expect_eq(check("setns", kind, 2, err), -EINVAL);
	cr_expect_str_eq(err, "kind must be docker|podman|lxc|machinectl, not 'rkt'");
	struct proto_kv twice[] = { KV("user", "a"), KV("user", "b") };
	cr_expect_eq(check("sudo", twice, 2, err), -EINVAL);
	struct proto_kv args[] = { KV("pod", "p"), KV("kubectl_args", "a,,b") };
	cr_expect_eq(check("kubectl", args, 2, err), -EINVAL);
	cr_expect_eq(check("rkt", NULL, 0, err), -ENOENT);
	cr_expect(strstr(err, "unknown method 'rkt' (known: local, ssh, sudo"), "%s", err);
	/* setns: one of pid= and container=, and container= needs kind=. */
	struct methods_plan p;
	struct proto_kv both[] = { KV("pid", "1"), KV("container", "c"), KV("kind", "lxc") };
	cr_expect_eq(methods_plan("setns", both, 3, "L", &p, err, sizeof(err)), -EINVAL);
	cr_expect_eq(methods_plan("setns", NULL, 0, "L", &p, err, sizeof(err)), -EINVAL);
	cr_expect_eq(methods_plan("setns", both + 1, 1, "L", &p, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "container= needs kind=docker|podman|lxc|machinectl");
}

Test(methods, only_network_hops_compress_and_ping)
{
	cr_expect(methods_is_net("ssh"));
	cr_expect(methods_is_net("kubectl"));
	cr_expect(!methods_is_net("local"));
	cr_expect(!methods_is_net("sudo"));
	cr_expect(!methods_is_net("docker"));
	cr_expect(!methods_is_net("nonesuch"));
	/* On this machine (no uname asked): local and the user switches. */
	cr_expect(methods_has("local", METHODS_HOST));
	cr_expect(methods_has("sudo", METHODS_HOST));
	cr_expect(methods_has("doas", METHODS_HOST));
	cr_expect(!methods_has("chroot", METHODS_HOST));
	cr_expect(!methods_has("ssh", METHODS_HOST));
	/* Our own child process at the far end (PUSH_LINK): local alone. */
	cr_expect(methods_has("local", METHODS_HOST | METHODS_DIRECT));
	cr_expect(!methods_has("sudo", METHODS_DIRECT));
	cr_expect(!methods_has("nonesuch", METHODS_DIRECT));
}
