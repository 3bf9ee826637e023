/*
 * methods_pre — the steps the chroot, setns and machinectl methods run in
 * the forked child before it execs the first stage: find a container's
 * leader pid with its tool, enter the namespaces and the root of a
 * process, chroot, become a user of the target. Everything here runs in
 * a child that will exec or exit, never on a loop: it may block (the
 * tool), and it reports failures on stderr, which the bootstrap quotes in
 * the connect's reason.
 * Not for: building argv (methods_argv.c). No NSS: after a chroot the
 * target's /etc/passwd and /etc/group are read as files, so a glibc
 * daemon never loads the target's libraries.
 */
#include "methods.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PRE_SAY(...) dprintf(2, "mitofs: " __VA_ARGS__)

/* --- becoming a user of the target --- */

/* Field i (0-based) of a ':' line, into out. */
static int field(const char *line, int i, char *out, size_t cap)
{
	const char *p = line;
	for (; i > 0 && p; i--) {
		p = strchr(p, ':');
		p = p ? p + 1 : NULL;
	}
	if (!p)
		return -1;
	size_t n = strcspn(p, ":\n");
	if (n >= cap)
		return -1;
	memcpy(out, p, n);
	out[n] = 0;
	return 0;
}

static int become(const char *user)
{
	char line[1024], name[256] = "", dir[512] = "/", num[32];
	uid_t uid = 0;
	gid_t gid = 0;
	bool found = false;
	FILE *f = fopen("/etc/passwd", "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (field(line, 0, name, sizeof(name)) || field(line, 2, num, sizeof(num)))
			continue;
		if (strcmp(name, user) && strcmp(num, user))
			continue;
		uid = (uid_t)strtoul(num, NULL, 10);
		if (!field(line, 3, num, sizeof(num)))
			gid = (gid_t)strtoul(num, NULL, 10);
		if (field(line, 5, dir, sizeof(dir)))
			snprintf(dir, sizeof(dir), "/");
		found = true;
		break;
	}
	if (f)
		fclose(f);
	if (!found) {
		PRE_SAY("no user '%s' in the target's /etc/passwd\n", user);
		return -1;
	}
	/* Supplementary groups: those that list the user by name. */
	gid_t groups[64];
	int ng = 0;
	f = fopen("/etc/group", "re");
	while (f && ng < 64 && fgets(line, sizeof(line), f)) {
		char members[768], g[32];
		if (field(line, 2, g, sizeof(g)) || field(line, 3, members, sizeof(members)))
			continue;
		for (char *m = strtok(members, ","); m; m = strtok(NULL, ","))
			if (!strcmp(m, name)) {
				groups[ng++] = (gid_t)strtoul(g, NULL, 10);
				break;
			}
	}
	if (f)
		fclose(f);
	if (setgroups((size_t)ng, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		PRE_SAY("becoming %s (uid %u): %s\n", user, (unsigned)uid, strerror(errno));
		return -1;
	}
	/* A change of credentials clears the parent-death signal. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	setenv("HOME", dir, 1);
	setenv("USER", name, 1);
	setenv("LOGNAME", name, 1);
	if (chdir(dir) < 0 && chdir("/") < 0)
		return -1;
	return 0;
}

/* --- chroot --- */

int methods_pre_chroot(const void *arg)
{
	const struct methods_pre *x = arg;
	if (chdir(x->root) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		PRE_SAY("chroot %s: %s\n", x->root, strerror(errno));
		return -1;
	}
	return x->user ? become(x->user) : 0;
}

/* --- setns --- */

/* Runs the tool that names a container's leader and reads the first
 * number of its output: `docker inspect --format {{.State.Pid}} C` (and
 * podman's), `lxc-info -p -n C`, `machinectl show -p Leader --value C`. */
static pid_t leader_pid(const struct methods_pre *x)
{
	char *argv[8];
	int a = 0;
	argv[a++] = (char *)x->tool;
	if (!strcmp(x->kind, "docker") || !strcmp(x->kind, "podman")) {
		argv[a++] = "inspect";
		argv[a++] = "--format";
		argv[a++] = "{{.State.Pid}}";
	} else if (!strcmp(x->kind, "lxc")) {
		argv[a++] = "-p";
		argv[a++] = "-n";
	} else {
		argv[a++] = "show";
		argv[a++] = "--property=Leader";
		argv[a++] = "--value";
	}
	argv[a++] = (char *)x->container;
	argv[a] = NULL;
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		PRE_SAY("%s: %s (give %s_path=)\n", argv[0], strerror(errno),
			!strcmp(x->kind, "lxc") ? "lxc_info" : x->kind);
		_exit(127);
	}
	close(p[1]);
	char out[1024];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(out) - 1 && (r = read(p[0], out + n, sizeof(out) - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += (size_t)r;
	}
	out[n] = 0;
	close(p[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	char *d = strpbrk(out, "0123456789");
	long v = d ? strtol(d, NULL, 10) : 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || v <= 0) {
		out[strcspn(out, "\n")] = 0;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			PRE_SAY("%s container %s is not running (%s said '%s')\n", x->kind,
				x->container, x->tool, out);
		else
			PRE_SAY("%s container %s: %s\n", x->kind, x->container,
				out[0] ? out : "not found");
		return -1;
	}
	return (pid_t)v;
}

/* The namespaces, in the order nsenter enters them: the user namespace
 * first (it grants the rights for the others), the mount namespace last
 * but one (the paths of the others live in ours). */
static const struct {
	const char *name;
	int type;
} ns_kinds[] = {
	{ "user", CLONE_NEWUSER }, { "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC },
	{ "uts", CLONE_NEWUTS }, { "net", CLONE_NEWNET }, { "pid", CLONE_NEWPID },
	{ "mnt", CLONE_NEWNS }, { "time", 0x80 /* CLONE_NEWTIME */ },
};
#define NS_N (sizeof(ns_kinds) / sizeof(ns_kinds[0]))

int methods_pre_setns(const void *arg)
{
	const struct methods_pre *x = arg;
	pid_t pid = x->pid;
	if (!pid && (pid = leader_pid(x)) <= 0)
		return -1;
	int fds[NS_N], root;
	bool new_pid = false;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		PRE_SAY("setns: process %d: %s\n", (int)pid,
			errno == ENOENT ? "no such process" : strerror(errno));
		return -1;
	}
	/* Open them all first: /proc/PID is out of reach once we entered
	 * its mount namespace. A namespace we share already is skipped (as
	 * nsenter -a does): entering our own user namespace again fails. */
	for (size_t i = 0; i < NS_N; i++) {
		struct stat a, b;
		char mine[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns_kinds[i].name);
		snprintf(mine, sizeof(mine), "/proc/self/ns/%s", ns_kinds[i].name);
		fds[i] = -1;
		if (stat(path, &a) < 0 || (stat(mine, &b) == 0 && a.st_ino == b.st_ino &&
					    a.st_dev == b.st_dev))
			continue;
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			PRE_SAY("setns: %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	for (size_t i = 0; i < NS_N; i++) {
		if (fds[i] < 0)
			continue;
		if (setns(fds[i], ns_kinds[i].type) < 0) {
			PRE_SAY("setns: the %s namespace of process %d: %s\n", ns_kinds[i].name,
				(int)pid, strerror(errno));
			return -1;
		}
		new_pid |= ns_kinds[i].type == CLONE_NEWPID;
		close(fds[i]);
	}
	if (fchdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		PRE_SAY("setns: the root of process %d: %s\n", (int)pid, strerror(errno));
		return -1;
	}
	close(root);
	if (x->user && become(x->user))
		return -1;
	if (!new_pid)
		return 0;
	/* setns(CLONE_NEWPID) moves only our children: the one that execs the
	 * stage must be one. This process stays outside, waits, passes the
	 * status on; either dies with the other (parent-death signals). */
	pid_t c = fork();
	if (c < 0) {
		PRE_SAY("setns: fork: %s\n", strerror(errno));
		return -1;
	}
	if (c == 0) {
		/* (No getppid check: our parent is outside our pid namespace,
		 * where getppid says 0.) */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		return 0;
	}
	/* Our stdio now belongs to the child alone: an EOF the parent waits
	 * for must not be held up by our copies. */
	int null = open("/dev/null", O_RDWR);
	for (int fd = 0; fd <= 2; fd++)
		if (null >= 0)
			dup2(null, fd);
	int st = 0;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}
