/*
 * group — groups/ and each groups/NAME: making and removing groups, their
 * member lines and how they resolve to context paths, and the verbs of
 * their ctl files (group.h). Group jobs are group_job.c's.
 */
#include "group.h"
#include "group_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "fh.h"
#include "jobs.h"
#include "log.h"
#include "pattern.h"
#include "push.h"

/* --- the tree --- */

int group_tree_init(struct daemon *d)
{
	return tree_add(&d->tree, d->tree.root, "groups", N_GROUPS, &d->root, NULL) ? 0 : -ENOMEM;
}

static struct node *add(struct tree *t, struct node *dir, const char *name,
			enum node_kind k, struct group *g)
{
	struct node *n = tree_add(t, dir, name, k, NULL, NULL);
	if (n)
		n->grp = g;
	return n;
}

static int add_group_dir(struct daemon *d, struct node *groups, struct group *g)
{
	struct tree *t = &d->tree;
	struct node *dir = add(t, groups, g->name, N_GROUPDIR, g);
	if (!dir)
		return -ENOMEM;
	static const struct { const char *name; enum node_kind kind; } files[] = {
		{ "members", N_G_MEMBERS }, { "ctl", N_G_CTL }, { "exec", N_G_EXEC },
		{ "stdout", N_G_STDOUT }, { "stderr", N_G_STDERR }, { "status", N_G_STATUS },
		{ "folded", N_G_FOLDED },
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!add(t, dir, files[i].name, files[i].kind, g))
			goto fail;
	struct node *jobs = add(t, dir, "jobs", N_G_JOBSDIR, g);
	if (!jobs || !add(t, jobs, "new", N_G_JOBS_NEW, g))
		goto fail;
	g->dir = dir;
	return 0;
fail:
	tree_remove(t, dir);
	return -ENOMEM;
}

static int check_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64 || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n
		       ? 0 : -EINVAL;
}

static void group_free(struct group *g)
{
	for (size_t i = 0; i < g->npats; i++)
		free(g->pats[i]);
	free(g->pats);
	free(g->name);
	free(g);
}

void group_unbusy(struct group *g)
{
	if (--g->busy == 0 && g->doomed)
		group_free(g);
}

int group_mkdir(struct node *dir, const char *name)
{
	struct daemon *d = dir->ctx->d;
	if (check_name(name)) {
		ctx_log(&d->root, LOG_WARN, "groups: bad group name '%.64s': use 1-64 of "
			"letters, digits, '.', '_', '-'", name);
		return -EINVAL;
	}
	if (tree_find(dir, name))
		return -EEXIST;
	struct group *g = calloc(1, sizeof(*g));
	if (!g || !(g->name = strdup(name))) {
		free(g);
		return -ENOMEM;
	}
	g->d = d;
	g->next_job = 1;
	if (add_group_dir(d, dir, g)) {
		group_free(g);
		return -ENOMEM;
	}
	struct group **pp = &d->groups;
	while (*pp)
		pp = &(*pp)->next;
	*pp = g;
	ctx_log(&d->root, LOG_INFO, "groups/%s: made", name);
	return 0;
}

/* Unlinks g from the daemon and the tree; its jobs are cut. */
static void group_remove(struct group *g)
{
	struct daemon *d = g->d;
	for (struct group **pp = &d->groups; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	g->busy++;
	g->doomed = true;
	while (g->jobs) {
		struct gjob *gj = g->jobs;
		g->jobs = gj->next;
		gjob_unlist(gj);
	}
	if (g->last) {
		struct gjob *gj = g->last;
		g->last = NULL;
		gjob_unlist(gj);
	}
	if (g->dir)
		tree_remove(&d->tree, g->dir);
	g->dir = NULL;
	group_unbusy(g);
}

int group_rmdir(struct node *dir, struct node *child)
{
	(void)dir;
	if (child->kind != N_GROUPDIR || !child->grp)
		return -EPERM;
	struct group *g = child->grp;
	ctx_log(&g->d->root, LOG_INFO, "groups/%s: removed", g->name);
	group_remove(g);
	return 0;
}

void group_daemon_fini(struct daemon *d)
{
	while (d->groups)
		group_remove(d->groups);
}

void group_set_error(struct group *g, const char *line, int rc, const char *why)
{
	snprintf(g->lasterr, sizeof(g->lasterr), "%.160s%s: %s (%s)\n", line,
		 strlen(line) > 160 ? " [...]" : "", why, strerror(-rc));
	ctx_log(&g->d->root, LOG_WARN, "groups/%s: %.160s%s: %s", g->name, line,
		strlen(line) > 160 ? " [...]" : "", why);
}

/* --- members --- */

/* Compares paths as people read numbers in names: web2 < web10. */
static int natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
			const char *ea = a, *eb = b;
			while (*a == '0' && a[1] >= '0' && a[1] <= '9')
				a++;
			while (*b == '0' && b[1] >= '0' && b[1] <= '9')
				b++;
			while (*ea >= '0' && *ea <= '9')
				ea++;
			while (*eb >= '0' && *eb <= '9')
				eb++;
			if (ea - a != eb - b)
				return (int)((ea - a) - (eb - b));
			int c = strncmp(a, b, (size_t)(ea - a));
			if (c)
				return c;
			a = ea;
			b = eb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static int cmp_paths(const void *x, const void *y)
{
	int c = natural_cmp(*(char *const *)x, *(char *const *)y);
	return c ? c : strcmp(*(char *const *)x, *(char *const *)y);
}

static bool is_member(const struct group *g, const char *path)
{
	bool in = false;
	for (size_t i = 0; i < g->npats; i++) {
		const char *p = g->pats[i];
		bool minus = p[0] == '-';
		if (pattern_match(minus ? p + 1 : p, path))
			in = !minus;
	}
	return in;
}

struct collect {
	char **v;
	size_t n, cap;
	int rc;
};

static void collect(const struct group *g, struct ctx *parent, struct collect *out)
{
	for (struct ctx *c = parent->children; c && !out->rc; c = c->next) {
		if (c->doomed)
			continue;
		if (is_member(g, c->path)) {
			if (out->n == out->cap) {
				size_t cap = out->cap ? out->cap * 2 : 16;
				char **v = realloc(out->v, cap * sizeof(*v));
				if (!v) {
					out->rc = -ENOMEM;
					return;
				}
				out->v = v;
				out->cap = cap;
			}
			if (!(out->v[out->n] = strdup(c->path))) {
				out->rc = -ENOMEM;
				return;
			}
			out->n++;
		}
		collect(g, c, out);
	}
}

void group_free_paths(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

int group_resolve(struct group *g, char ***paths, size_t *n)
{
	struct collect out = { 0 };
	collect(g, &g->d->root, &out);
	if (out.rc) {
		group_free_paths(out.v, out.n);
		return out.rc;
	}
	if (out.n)
		qsort(out.v, out.n, sizeof(*out.v), cmp_paths);
	*paths = out.v;
	*n = out.n;
	return 0;
}

int group_members_open(struct fh *f, struct node *n)
{
	char **paths = NULL;
	size_t np = 0;
	int rc = group_resolve(n->grp, &paths, &np);
	if (rc)
		return rc;
	FILE *m = open_memstream(&f->snap, &f->snaplen);
	if (!m) {
		group_free_paths(paths, np);
		return -ENOMEM;
	}
	for (size_t i = 0; i < np; i++)
		fprintf(m, "%s\n", paths[i]);
	group_free_paths(paths, np);
	return fclose(m) ? -ENOMEM : 0;
}

void group_members_truncate(struct node *n)
{
	struct group *g = n->grp;
	for (size_t i = 0; i < g->npats; i++)
		free(g->pats[i]);
	g->npats = 0;
}

/* The lines of data[0..len): each a pattern or -pattern, all checked
 * before any is taken. */
void group_members_write(struct fh *f, struct node *n, const char *data, size_t len,
			 job_done_fn *done, void *arg)
{
	(void)f;
	struct group *g = n->grp;
	char err[256] = "";
	int rc = 0;
	size_t want = g->npats;
	char **add = NULL;
	size_t nadd = 0;
	for (size_t pos = 0; pos < len && !rc;) {
		const char *s = data + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - s) : len - pos;
		pos += l + (nl ? 1 : 0);
		while (l && (*s == ' ' || *s == '\t')) {
			s++;
			l--;
		}
		while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
			l--;
		if (!l)
			continue;
		if (memchr(s, 0, l) || l > PATTERN_MAX + 1) {
			snprintf(err, sizeof(err), "a member line is a pattern of at most %d bytes",
				 PATTERN_MAX);
			rc = -EINVAL;
			break;
		}
		char *p = strndup(s, l);
		char **na = p ? realloc(add, (nadd + 1) * sizeof(*add)) : NULL;
		if (!na) {
			free(p);
			rc = -ENOMEM;
			break;
		}
		add = na;
		add[nadd++] = p;
		rc = pattern_check(p[0] == '-' ? p + 1 : p, err, sizeof(err));
		if (!rc && ++want > GROUP_MAX_PATTERNS) {
			snprintf(err, sizeof(err), "more than %d member lines", GROUP_MAX_PATTERNS);
			rc = -E2BIG;
		}
	}
	char **np = rc ? NULL : realloc(g->pats, want * sizeof(*np) + 1);
	if (!rc && !np)
		rc = -ENOMEM;
	if (rc) {
		group_set_error(g, "members", rc, err[0] ? err : strerror(-rc));
		group_free_paths(add, nadd);
		done(arg, rc);
		return;
	}
	g->pats = np;
	memcpy(g->pats + g->npats, add, nadd * sizeof(*add));
	g->npats += nadd;
	free(add);
	done(arg, 0);
}

/* --- ctl --- */

int group_ctl_open(struct fh *f, struct node *n)
{
	const char *text = n->gj ? n->gj->lasterr : n->grp->lasterr;
	f->snaplen = strlen(text);
	f->snap = strdup(text);
	return f->snap ? 0 : -ENOMEM;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;
	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return *end || errno || *v > max ? -EINVAL : 0;
}

static int group_ctl(void *obj, const struct ctl_line *l, struct ctl_batch *b,
		     char *err, size_t errlen)
{
	struct group *g = obj;
	unsigned long v;
	if (g->doomed) {
		snprintf(err, errlen, "group %s is gone", g->name);
		return -ENOENT;
	}
	if (!strcmp(l->verb, "kill")) {
		int sig, rc = job_parse_kill(l, &sig, err, errlen);
		if (rc)
			return rc;
		if (!g->last) {
			snprintf(err, errlen, "no job was started with exec");
			return -ESRCH;
		}
		return gjob_kill(g->last, sig, err, errlen);
	}
	if (!strcmp(l->verb, "timeout") || !strcmp(l->verb, "width")) {
		bool t = l->verb[0] == 't';
		if (l->nwords != 1 || l->nopts || parse_uint(l->words[0], t ? 86400ul * 365 : 1000000, &v)) {
			snprintf(err, errlen, t ? "usage: timeout SECONDS (each member's job, for jobs "
				 "started from now on; 0: none)"
				 : "usage: width N (members running at once, for jobs started from "
				   "now on; 0: all)");
			return -EINVAL;
		}
		if (t)
			g->timeout_s = (uint32_t)v;
		else
			g->width = (unsigned)v;
		return 0;
	}
	if (!strcmp(l->verb, "push"))
		return push_group(g, l, b, err, errlen);
	snprintf(err, errlen, "unknown verb '%s' (kill, timeout, width, push)", l->verb);
	return -EINVAL;
}

static void group_ctl_fail(void *obj, const char *line, int rc, const char *why)
{
	group_set_error(obj, line, rc, why);
}

static void group_hold(void *obj)
{
	((struct group *)obj)->busy++;
}

static void group_release(void *obj)
{
	group_unbusy(obj);
}

static const struct ctl_target group_ctl_target = {
	.run = group_ctl, .fail = group_ctl_fail, .hold = group_hold, .release = group_release,
};

void group_ctl_write(struct fh *f, struct node *n, const char *data, size_t len,
		     job_done_fn *done, void *arg)
{
	if (n->gj)
		ctl_write(f->d, &gjob_ctl_target, n->gj, &f->who, data, len, done, arg);
	else
		ctl_write(f->d, &group_ctl_target, n->grp, &f->who, data, len, done, arg);
}
