/*
 * ctl — the control-file language: splitting a write into lines, parsing
 * a line into a verb, positional words and key=value options, and running
 * a batch of lines one after another (some verbs, like connect, finish
 * later: the write() returns when the last line has finished).
 *
 * Syntax: words separated by blanks; a word with '=' is an option. There
 * is no quoting: secrets come from files (password_file=), never from a
 * ctl line. Not for: what a verb does (ctx.c, ctx_connect.c, jobs.c).
 */
#ifndef MITOFS_CTL_H
#define MITOFS_CTL_H

#include <stddef.h>

#include "daemon.h"

#define CTL_MAX_WORDS 8
#define CTL_MAX_OPTS 16
#define CTL_MAX_LINE 4096

struct ctl_opt {
	const char *key, *val; /* point into the line */
};

struct ctl_line {
	char buf[CTL_MAX_LINE + 1];
	const char *verb;
	const char *words[CTL_MAX_WORDS];
	int nwords;
	struct ctl_opt opts[CTL_MAX_OPTS];
	int nopts;
};

/* Parses line[0..len) (no newline inside). 0, or -EINVAL with a reason in
 * err: empty line, too long, too many words or options, NUL byte. */
int ctl_parse(const char *line, size_t len, struct ctl_line *out, char *err, size_t errlen);
/* Option value or NULL. */
const char *ctl_opt(const struct ctl_line *l, const char *key);

/* 0 when name can be a context name: 1-64 bytes of [A-Za-z0-9._-], not
 * "." or "..", and not the name of a file in a context directory or of
 * the root's groups/. */
int ctl_check_name(const char *name, char *err, size_t errlen);

struct ctl_batch;

/* What a ctl file controls (a context, a job, a group...): how one of
 * its verbs runs, where a failure is recorded, and how the object is kept
 * alive while a write to it runs (hold when the batch starts, release at
 * its end). run returns 0 (done), 1 (pending: ctl_batch_done follows) or
 * -errno with a reason in err. */
struct ctl_target {
	int (*run)(void *obj, const struct ctl_line *l, struct ctl_batch *b,
		   char *err, size_t errlen);
	void (*fail)(void *obj, const char *line, int rc, const char *why);
	void (*hold)(void *obj);
	void (*release)(void *obj);
};

/* A write to a ctl file being carried out. */
struct ctl_batch {
	struct daemon *d;
	const struct ctl_target *t;
	void *obj;          /* the target (held until the batch ends) */
	struct caller who;  /* the writer */
	job_done_fn *done;  /* the write's answer, once */
	void *arg;
	char *text;         /* owned copy of the written bytes */
	size_t len, pos;
	int pending;        /* concurrent lines started and not finished */
	int rc;             /* the first failure among them, 0 if none */
	bool running;       /* inside its own loop (a line may finish at once) */
	char line[CTL_MAX_LINE + 1]; /* the line being run, for messages */
};

/* Takes the lines data[0..size) written to the ctl file of obj; done(arg,
 * rc) follows when every line has run (who: the writer), or at the first failing line
 * with its -errno. Lines run in order, each after the one before has
 * finished, except that a run of consecutive lines whose verb is
 * `concurrent` (connect) start together and finish together: 100 connect
 * lines in one write come up in parallel. */
void ctl_write(struct daemon *d, const struct ctl_target *t, void *obj, const struct caller *who,
	       const char *data, size_t size, job_done_fn *done, void *arg);
/* An asynchronous verb finished: rc 0 or -errno; the batch goes on. */
void ctl_batch_done(struct ctl_batch *b, int rc, const char *why);
/* Records an error of context c (or the root): its ctl shows it and the
 * log gets it. */
void ctl_set_error(struct ctx *c, const char *line, int rc, const char *why);

#endif
