/*
 * tree — the inode table of the mount: which node is what, directory
 * entries, and node lifetime (a removed node lives on until the kernel
 * forgets it, so a late getattr finds a record that says "gone" rather
 * than freed memory). Not for: what reading or writing a node does (ops.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static void node_free(struct tree *t, struct node *n)
{
	map_del(&t->inodes, n->ino);
	free(n->name);
	free(n);
}

struct node *tree_add(struct tree *t, struct node *dir, const char *name,
		      enum node_kind kind, struct ctx *c, struct job *j)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->name = strdup(name);
	n->ino = t->next_ino++;
	if (!n->name || map_put(&t->inodes, n->ino, n)) {
		free(n->name);
		free(n);
		return NULL;
	}
	n->kind = kind;
	n->ctx = c;
	n->job = j;
	n->parent = dir;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	if (dir) {
		struct node **pp = &dir->children;
		while (*pp)
			pp = &(*pp)->next;
		*pp = n;
		dir->mtime = n->mtime;
	}
	return n;
}

int tree_init(struct tree *t, struct ctx *root)
{
	map_init(&t->inodes);
	t->next_ino = FUSE_ROOT_ID;
	t->root = tree_add(t, NULL, "", N_ROOT, root, NULL);
	if (!t->root)
		return -ENOMEM;
	t->root->nlookup = 1; /* the kernel never forgets the root */
	if (!tree_add(t, t->root, "README", N_README, root, NULL) ||
	    !tree_add(t, t->root, "ctl", N_CTL, root, NULL) ||
	    !tree_add(t, t->root, "log", N_LOG, root, NULL) ||
	    !tree_add(t, t->root, "stats", N_STATS, root, NULL))
		return -ENOMEM;
	root->dir = t->root;
	return 0;
}

void tree_free(struct tree *t)
{
	size_t pos = 0;
	void *v;
	while (map_next(&t->inodes, &pos, NULL, &v)) {
		struct node *n = v;
		free(n->name);
		free(n);
	}
	map_free(&t->inodes);
	t->root = NULL;
}

struct node *tree_get(struct tree *t, uint64_t ino)
{
	return map_get(&t->inodes, ino);
}

struct node *tree_find(struct node *dir, const char *name)
{
	for (struct node *n = dir->children; n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

void tree_touch(struct node *n)
{
	clock_gettime(CLOCK_REALTIME, &n->mtime);
}

static void detach(struct tree *t, struct node *n)
{
	for (struct node *c = n->children, *next; c; c = next) {
		next = c->next;
		detach(t, c);
	}
	n->children = NULL;
	n->removed = true;
	n->ctx = NULL;
	n->job = NULL;
	n->grp = NULL;
	n->gj = NULL;
	n->parent = NULL;
	if (n->nlookup == 0)
		node_free(t, n);
}

void tree_remove(struct tree *t, struct node *n)
{
	struct node *dir = n->parent;
	if (dir) {
		for (struct node **pp = &dir->children; *pp; pp = &(*pp)->next)
			if (*pp == n) {
				*pp = n->next;
				break;
			}
		tree_touch(dir);
	}
	n->next = NULL;
	detach(t, n);
}

void tree_forget(struct tree *t, struct node *n, uint64_t count)
{
	n->nlookup = count > n->nlookup ? 0 : n->nlookup - count;
	if (n->removed && n->nlookup == 0 && n != t->root)
		node_free(t, n);
}

int tree_add_ctx_dir(struct tree *t, struct ctx *c)
{
	struct node *parent = c->parent ? c->parent->dir : t->root;
	struct node *dir = tree_add(t, parent, c->name, N_CTXDIR, c, NULL);
	if (!dir)
		return -ENOMEM;
	c->dir = dir;
	static const struct { const char *name; enum node_kind kind; } files[] = {
		{ "ctl", N_CTL }, { "info", N_INFO }, { "exec", N_EXEC },
		{ "stdout", N_STDOUT }, { "stderr", N_STDERR },
		{ "status", N_STATUS }, { "log", N_LOG },
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!tree_add(t, dir, files[i].name, files[i].kind, c, NULL))
			goto fail;
	struct node *jobs = tree_add(t, dir, "jobs", N_JOBSDIR, c, NULL);
	/* fs is a symlink to .fs, which readdir does not list: cd, ls and
	 * completion go in, recursive tools (find, grep -r, du) stop. */
	if (!jobs || !tree_add(t, jobs, "new", N_JOBS_NEW, c, NULL) ||
	    !tree_add(t, dir, "fs", N_FSLINK, c, NULL) || !tree_add(t, dir, ".fs", N_FSDIR, c, NULL))
		goto fail;
	return 0;
fail:
	tree_remove(t, dir);
	c->dir = NULL;
	return -ENOMEM;
}

int tree_add_job_dir(struct tree *t, struct job *j)
{
	struct node *jobs = tree_find(j->c->dir, "jobs");
	char name[16];
	snprintf(name, sizeof(name), "%u", j->num);
	struct node *dir = jobs ? tree_add(t, jobs, name, N_JOBDIR, j->c, j) : NULL;
	if (!dir)
		return -ENOMEM;
	static const struct { const char *name; enum node_kind kind; } files[] = {
		{ "cmd", N_JOB_CMD }, { "stdin", N_JOB_STDIN },
		{ "stdout", N_STDOUT }, { "stderr", N_STDERR },
		{ "status", N_STATUS }, { "ctl", N_JOB_CTL },
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!tree_add(t, dir, files[i].name, files[i].kind, j->c, j)) {
			tree_remove(t, dir);
			return -ENOMEM;
		}
	j->dir = dir;
	return 0;
}
