/*
 * methods_run — one connect by a method's command, for the daemon (its
 * direct children) and for stubs (theirs) alike: plan the command, check
 * that its tool exists, spawn it (on a pty when it may prompt), bootstrap
 * the first stage through it, answer a password prompt, and report once.
 * Afterwards the record keeps the child's terminal open while it runs.
 * Not for: reaping (whoever forks reaps by pid), routing (the caller adds
 * the stream to its router), reading password files.
 */
#include "methods.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "askpass.h"
#include "loop.h"

struct methods_run {
	struct boot_job *boot;  /* while booting */
	struct askpass *ask;    /* while booting, on a pty */
	int ptyfd;              /* the child's terminal, or -1 */
	pid_t pid;
	boot_done_fn *done;
	void *arg;
};

/* Whether prog can be run: a path, or a name found in PATH. */
static bool runnable(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		size_t k = strcspn(p, ":");
		char full[4096];
		struct stat st;
		int n = snprintf(full, sizeof(full), "%.*s/%s", (int)k, k ? p : ".", prog);
		if (n > 0 && (size_t)n < sizeof(full) && stat(full, &st) == 0 &&
		    S_ISREG(st.st_mode) && access(full, X_OK) == 0)
			return true;
		p += k + (p[k] == ':');
	}
	return false;
}

/* The name of the row's option that says where its tool is, if any. */
static const char *path_option(const struct methods_row *r)
{
	for (const struct methods_opt *o = r->opts; o && o->key; o++) {
		size_t n = strlen(o->key);
		if (n > 5 && !strcmp(o->key + n - 5, "_path"))
			return o->key;
	}
	return NULL;
}

static void run_done(struct stream *s, pid_t pid, int err, const char *why, void *arg)
{
	struct methods_run *r = arg;
	char text[PROTO_MAX_TEXT];
	r->boot = NULL;
	if (err && r->ask) {
		/* What the tool said on its terminal is the better reason. */
		char line[200];
		askpass_last_line(r->ask, line, sizeof(line));
		if (line[0]) {
			snprintf(text, sizeof(text), "%s: %s", why, line);
			why = text;
		}
	}
	askpass_free(r->ask);
	r->ask = NULL;
	r->done(s, pid, err, why, r->arg); /* may free r */
}

/* The password prompt went wrong: stop the boot and say why. */
static void ask_failed(void *arg, int err, const char *why)
{
	struct methods_run *r = arg;
	boot_cancel(r->boot);
	r->boot = NULL;
	askpass_free(r->ask);
	r->ask = NULL;
	r->done(NULL, r->pid, err, why, r->arg); /* may free r */
}

struct methods_run *methods_run_start(struct loop *l, const char *method,
				      const struct proto_kv *kv, size_t n,
				      const struct boot_images *imgs,
				      const struct proto_config *cfg, int default_timeout_ms,
				      boot_done_fn *done, void *arg, char *err, size_t errlen)
{
	char line[BOOT_LINE_MAX];
	struct methods_plan plan;
	int ep[2] = { -1, -1 }, fd = -1, rc;
	struct methods_run *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	r->ptyfd = -1;
	r->done = done;
	r->arg = arg;
	/* A child on this machine: the stage is told what `uname -m` would
	 * say there (our uname(2): the same kernel and personality; under
	 * qemu-user, the emulated machine), not made to fork it. */
	struct utsname u;
	const char *arch = methods_has(method, METHODS_HOST) && uname(&u) == 0 ? u.machine : NULL;
	rc = boot_stage_line_arch(line, sizeof(line), imgs, cfg->name, arch);
	if (rc == -EINVAL && arch) /* a name the line cannot carry: let uname say */
		rc = boot_stage_line(line, sizeof(line), imgs, cfg->name);
	if (rc) {
		snprintf(err, errlen, "first stage: %s", strerror(-rc));
		free(r);
		errno = -rc;
		return NULL;
	}
	if ((rc = methods_plan(method, kv, n, line, &plan, err, errlen))) {
		free(r);
		errno = -rc;
		return NULL;
	}
	if (!runnable(plan.argv[0])) {
		const char *opt = path_option(plan.row);
		snprintf(err, errlen, "%s: command not found%s%s%s", plan.argv[0],
			 opt ? " (install it, or give " : "", opt ? opt : "", opt ? "=)" : "");
		rc = -ENOENT;
		goto fail;
	}
	struct proto_config c = *cfg;
	/* zlib pays off on network hops, not on a socketpair. */
	c.compress = (plan.row->flags & METHODS_NET) != 0;
	if (pipe2(ep, O_CLOEXEC) < 0 ||
	    (rc = boot_spawn_argv(plan.argv, plan.pre, &plan.pre_arg, ep[1],
				  plan.pty ? &r->ptyfd : NULL, &r->pid, &fd))) {
		rc = rc ? rc : -errno;
		snprintf(err, errlen, "starting %s: %s", plan.argv[0], strerror(-rc));
		goto fail;
	}
	close(ep[1]);
	ep[1] = -1;
	int timeout_ms = plan.timeout_ms ? plan.timeout_ms : default_timeout_ms;
	r->boot = boot_start(l, fd, ep[0], r->pid, imgs, &c, timeout_ms, run_done, r);
	ep[0] = -1; /* the job's, also on failure */
	if (!r->boot) {
		rc = -errno;
		kill(r->pid, SIGKILL);
		snprintf(err, errlen, "starting the first stage: %s", strerror(-rc));
		goto fail;
	}
	if (plan.pty) {
		/* su reads the password on stdin: the boot job's fd, which
		 * carries nothing else until the stage asks for the image. */
		r->ask = askpass_new(l, r->ptyfd, plan.password,
				     plan.answer_stdin ? fd : r->ptyfd, ask_failed, r);
		if (!r->ask) {
			rc = -ENOMEM;
			snprintf(err, errlen, "cannot watch the terminal");
			goto fail;
		}
	}
	methods_plan_free(&plan);
	return r;
fail:
	methods_plan_free(&plan);
	if (ep[0] >= 0)
		close(ep[0]);
	if (ep[1] >= 0)
		close(ep[1]);
	methods_run_free(r);
	errno = -rc;
	return NULL;
}

void methods_run_free(struct methods_run *r)
{
	if (!r)
		return;
	boot_cancel(r->boot); /* kills the child of a boot in progress */
	askpass_free(r->ask);
	if (r->ptyfd >= 0)
		close(r->ptyfd);
	free(r);
}

bool methods_run_has_tty(const struct methods_run *r)
{
	return r && r->ptyfd >= 0;
}
