/*
 * ctx_ctl — the verbs of the root's and a context's ctl file, one row
 * each (where it is a verb, what runs it), and what mkdir and rmdir of
 * a context directory stand for: `connect NAME ssh host=NAME` and a
 * disconnect. Also the lines of `-o connect=FILE`, run at mount.
 * Not for: connecting itself (ctx_connect.c), a context's tree and loss
 * (ctx.c), a job's ctl (jobs.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "ctx_int.h"
#include "jobs.h"
#include "log.h"
#include "pattern.h"
#include "push.h"
#include "remotefs.h"

/* Where a verb may be written. */
#define AT_ROOT 1
#define AT_CTX 2

typedef int verb_fn(struct ctx *c, const struct ctl_line *l, struct ctl_batch *b,
		    char *err, size_t errlen);

static struct ctx *child_named(struct ctx *parent, const char *name)
{
	for (struct ctx *c = parent->children; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static const char *where_of(struct ctx *c)
{
	return c == &c->d->root ? "the root" : c->path;
}

static int verb_connect(struct ctx *c, const struct ctl_line *l, struct ctl_batch *b,
			char *err, size_t errlen)
{
	return ctx_connect_child(c, l, b, err, errlen);
}

static int verb_flush(struct ctx *c, const struct ctl_line *l, struct ctl_batch *b,
		      char *err, size_t errlen)
{
	if (l->nwords || l->nopts) {
		snprintf(err, errlen, "usage: flush");
		return -EINVAL;
	}
	return remotefs_flush(c->d->rfs, c, b);
}

static int verb_push(struct ctx *c, const struct ctl_line *l, struct ctl_batch *b,
		     char *err, size_t errlen)
{
	return push_ctx(c, l, b, err, errlen);
}

static int verb_reconnect(struct ctx *c, const struct ctl_line *l, struct ctl_batch *b,
			  char *err, size_t errlen)
{
	struct ctx *victim = c;
	if (l->nwords == 1)
		victim = child_named(c, l->words[0]);
	if (!victim || l->nwords > 1 || l->nopts || victim == &c->d->root) {
		snprintf(err, errlen, !victim ? "no context '%s' here"
			 : "usage: reconnect (in a context's ctl) or reconnect NAME",
			 l->nwords ? l->words[0] : "");
		return victim ? -EINVAL : -ENOENT;
	}
	return ctx_reconnect(victim, b, err, errlen);
}

/* disconnect PATTERN: every child whose name matches (`*`: all of them,
 * those still connecting too, whose connects then fail). A pattern that
 * matches nothing has nothing to do. */
static int disconnect_matching(struct ctx *c, const char *pat, struct ctl_batch *b,
			       char *err, size_t errlen)
{
	int rc = pattern_check(pat, err, errlen);
	if (rc)
		return rc;
	if (strchr(pat, '/')) {
		snprintf(err, errlen, "a pattern of disconnect names children here, without '/'");
		return -EINVAL;
	}
	size_t n = 0;
	for (struct ctx *k = c->children; k; k = k->next)
		n += pattern_match(pat, k->name);
	if (!n)
		return 0;
	struct ctx **v = calloc(n, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = 0;
	for (struct ctx *k = c->children; k; k = k->next)
		if (pattern_match(pat, k->name))
			v[n++] = k;
	ctx_log(c, LOG_INFO, "disconnect %s: %zu context%s", pat, n, n == 1 ? "" : "s");
	rc = ctx_remove_forget_all(v, n, "disconnected by request", b, 0);
	free(v);
	return rc;
}

static int verb_disconnect(struct ctx *c, const struct ctl_line *l, struct ctl_batch *b,
			   char *err, size_t errlen)
{
	struct ctx *victim = c;
	bool root = c == &c->d->root;
	if (l->nwords > 1 || l->nopts || (root && l->nwords == 0)) {
		snprintf(err, errlen, root ? "usage: disconnect NAME|PATTERN (* for all)"
					   : "usage: disconnect [CHILD|PATTERN] (* for all children)");
		return -EINVAL;
	}
	if (l->nwords == 1 && !pattern_is_literal(l->words[0]))
		return disconnect_matching(c, l->words[0], b, err, errlen);
	if (l->nwords == 1 && !(victim = child_named(c, l->words[0]))) {
		snprintf(err, errlen, "no context '%s' under %s", l->words[0], where_of(c));
		return -ENOENT;
	}
	if (victim->state == CTX_CONNECTING) {
		snprintf(err, errlen, "context %s is still connecting", victim->path);
		return -EBUSY;
	}
	ctx_log(victim, LOG_INFO, "disconnect requested");
	/* Later lines of this write find c doomed ("is gone"). */
	return ctx_remove_forget(victim, "disconnected by request", b, 0);
}

/* kill [SIGNAL], timeout SECONDS: the job of the last exec. */
static int verb_job(struct ctx *c, const struct ctl_line *l, struct ctl_batch *b,
		    char *err, size_t errlen)
{
	(void)b;
	return job_ctl_verb(c->last, l, err, errlen);
}

static const struct verb {
	const char *name;
	int where;
	verb_fn *run;
} verbs[] = {
	{ "connect", AT_ROOT | AT_CTX, verb_connect },
	{ "disconnect", AT_ROOT | AT_CTX, verb_disconnect },
	{ "reconnect", AT_ROOT | AT_CTX, verb_reconnect },
	{ "kill", AT_CTX, verb_job },
	{ "timeout", AT_CTX, verb_job },
	{ "flush", AT_CTX, verb_flush },
	{ "push", AT_CTX, verb_push },
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static int ctx_ctl(void *obj, const struct ctl_line *l, struct ctl_batch *b,
		   char *err, size_t errlen)
{
	struct ctx *c = obj;
	if (c->doomed) {
		snprintf(err, errlen, "context %s is gone", c->path);
		return -ENOENT;
	}
	int here = c == &c->d->root ? AT_ROOT : AT_CTX;
	for (size_t i = 0; i < NVERBS; i++) {
		if (strcmp(l->verb, verbs[i].name))
			continue;
		if (verbs[i].where & here)
			return verbs[i].run(c, l, b, err, errlen);
		snprintf(err, errlen, "%s is a verb of a context's ctl (NAME/ctl)", l->verb);
		return -EINVAL;
	}
	size_t off = (size_t)snprintf(err, errlen, "unknown verb '%s' (", l->verb);
	for (size_t i = 0, first = 1; i < NVERBS && off < errlen; i++)
		if (verbs[i].where & here) {
			off += (size_t)snprintf(err + off, errlen - off, "%s%s", first ? "" : ", ",
						verbs[i].name);
			first = 0;
		}
	if (off < errlen)
		snprintf(err + off, errlen - off, ")");
	return -EINVAL;
}

static void ctx_ctl_fail(void *obj, const char *line, int rc, const char *why)
{
	ctl_set_error(obj, line, rc, why);
}

static void ctx_hold(void *obj)
{
	((struct ctx *)obj)->busy++;
}

static void ctx_release(void *obj)
{
	ctx_unbusy(obj);
}

const struct ctl_target ctx_ctl_target = {
	.run = ctx_ctl, .fail = ctx_ctl_fail, .hold = ctx_hold, .release = ctx_release,
};

/* --- mkdir and rmdir of a context directory --- */

void ctx_mkdir(struct node *dir, const char *name, const struct caller *who,
	       job_done_fn *done, void *arg)
{
	struct ctx *parent = dir->ctx;
	/* Hidden names are what tools make for themselves (a desktop's
	 * .Trash-0, an editor's .swp directory), never a host to reach. */
	if (name[0] == '.') {
		ctx_log(parent, LOG_WARN, "mkdir %s: a hidden name is not a host", name);
		done(arg, -EPERM);
		return;
	}
	char line[CTL_MAX_LINE], err[256];
	/* Checked before it becomes a line: a blank or a newline in the
	 * name would make other words, or other lines, of it. */
	int rc = ctl_check_name(name, err, sizeof(err));
	if (rc) {
		char what[96];
		snprintf(what, sizeof(what), "mkdir %.64s", name);
		ctl_set_error(parent, what, rc, err);
		done(arg, rc);
		return;
	}
	int n = snprintf(line, sizeof(line), "connect %s ssh host=%s", name, name);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		done(arg, -ENAMETOOLONG);
		return;
	}
	ctl_write(parent->d, &ctx_ctl_target, parent, who, line, (size_t)n, done, arg);
}

void ctx_mkdir_cancel(struct node *dir, const char *name)
{
	struct ctx *c = child_named(dir->ctx, name);
	if (c && c->state == CTX_CONNECTING) {
		ctx_log(c, LOG_INFO, "mkdir interrupted: connect abandoned");
		ctx_remove(c, "mkdir interrupted");
	}
}

int ctx_rmdir(struct node *dir, struct node *child)
{
	(void)dir;
	struct ctx *c = child->ctx;
	if (child->kind != N_CTXDIR || !c || c->doomed)
		return -EPERM; /* groups/ stays; jobs, fs go with their context */
	if (c->state == CTX_CONNECTING)
		return -EBUSY;
	ctx_log(c, LOG_INFO, "disconnect requested (rmdir)");
	/* The kernel drops the name itself when rmdir succeeds. */
	ctx_remove(c, "disconnected by rmdir");
	return 0;
}

/* --- -o connect=FILE --- */

struct file_run {
	struct daemon *d;
	char *name;
	int lines, failed, left;
};

static void file_line_done(void *arg, int rc)
{
	struct file_run *r = arg;
	if (rc)
		r->failed++;
	if (--r->left)
		return;
	ctx_log(&r->d->root, r->failed ? LOG_WARN : LOG_INFO, "connect=%s: %d line%s, %d failed%s",
		r->name, r->lines, r->lines == 1 ? "" : "s", r->failed,
		r->failed ? " (the reasons are above)" : "");
	free(r->name);
	free(r);
}

void ctx_ctl_run_file(struct daemon *d, const char *name, const char *text, size_t len)
{
	struct file_run *r = calloc(1, sizeof(*r));
	if (!r || !(r->name = strdup(name))) {
		free(r);
		log_error("connect=%s: out of memory", name);
		return;
	}
	r->d = d;
	r->left = 1;
	struct caller who = { d->uid, d->gid, 0 };
	for (size_t pos = 0; pos < len;) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl ? 1 : 0);
		size_t lead = 0;
		while (lead < n && (s[lead] == ' ' || s[lead] == '\t' || s[lead] == '\r'))
			lead++;
		if (lead == n || s[lead] == '#')
			continue;
		/* Each line a batch of its own: one failure stops nothing. */
		r->lines++;
		r->left++;
		ctl_write(d, &ctx_ctl_target, &d->root, &who, s, n, file_line_done, r);
	}
	file_line_done(r, 0);
	r = NULL; /* freed by the last line's end */
}
