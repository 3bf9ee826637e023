/* ctl — parsing control lines and running a written batch (ctl.h). */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "jobs.h"
#include "log.h"

int ctl_parse(const char *line, size_t len, struct ctl_line *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len > CTL_MAX_LINE) {
		snprintf(err, errlen, "line longer than %d bytes", CTL_MAX_LINE);
		return -EINVAL;
	}
	if (memchr(line, 0, len)) {
		snprintf(err, errlen, "NUL byte in line");
		return -EINVAL;
	}
	memcpy(out->buf, line, len);
	out->buf[len] = 0;
	char *save = NULL;
	for (char *w = strtok_r(out->buf, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
		char *eq = strchr(w, '=');
		if (!out->verb && !eq) {
			out->verb = w;
		} else if (eq && out->verb) {
			if (out->nopts == CTL_MAX_OPTS) {
				snprintf(err, errlen, "more than %d options", CTL_MAX_OPTS);
				return -EINVAL;
			}
			*eq = 0;
			if (!*w) {
				snprintf(err, errlen, "option with an empty key");
				return -EINVAL;
			}
			out->opts[out->nopts++] = (struct ctl_opt){ w, eq + 1 };
		} else if (!out->verb) {
			snprintf(err, errlen, "expected a verb, got an option '%s'", w);
			return -EINVAL;
		} else {
			if (out->nopts) {
				snprintf(err, errlen, "word '%s' after options", w);
				return -EINVAL;
			}
			if (out->nwords == CTL_MAX_WORDS) {
				snprintf(err, errlen, "more than %d words", CTL_MAX_WORDS);
				return -EINVAL;
			}
			out->words[out->nwords++] = w;
		}
	}
	if (!out->verb) {
		snprintf(err, errlen, "empty command");
		return -EINVAL;
	}
	return 0;
}

const char *ctl_opt(const struct ctl_line *l, const char *key)
{
	for (int i = 0; i < l->nopts; i++)
		if (strcmp(l->opts[i].key, key) == 0)
			return l->opts[i].val;
	return NULL;
}

int ctl_check_name(const char *name, char *err, size_t errlen)
{
	static const char *reserved[] = {
		"ctl", "info", "exec", "stdout", "stderr", "status", "log",
		"jobs", "fs", ".fs", "README", "stats", "groups", NULL,
	};
	size_t n = strlen(name);
	if (n == 0 || n > 64 || !strcmp(name, ".") || !strcmp(name, "..")) {
		snprintf(err, errlen, "bad context name '%s'", name);
		return -EINVAL;
	}
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-')) {
			snprintf(err, errlen, "bad context name '%s': use letters, digits, '.', '_', '-'", name);
			return -EINVAL;
		}
	for (int i = 0; reserved[i]; i++)
		if (!strcmp(name, reserved[i])) {
			snprintf(err, errlen, "context name '%s' is reserved", name);
			return -EINVAL;
		}
	return 0;
}

void ctl_set_error(struct ctx *c, const char *line, int rc, const char *why)
{
	/* The reason must fit whatever the line: show at most its start. */
	snprintf(c->lasterr, sizeof(c->lasterr), "%.160s%s: %s (%s)\n", line,
		 strlen(line) > 160 ? " [...]" : "", why, strerror(-rc));
	ctx_log(c, LOG_WARN, "ctl: %.160s%s: %s", line, strlen(line) > 160 ? " [...]" : "", why);
}

static void batch_free(struct ctl_batch *b)
{
	if (b->t->release)
		b->t->release(b->obj);
	free(b->text);
	free(b);
}

static struct ctl_batch *batch_new(struct daemon *d, const struct ctl_target *t, void *obj,
				   const struct caller *who, const char *data, size_t size,
				   job_done_fn *done, void *arg)
{
	struct ctl_batch *b = calloc(1, sizeof(*b));
	if (!b || !(b->text = malloc(size ? size : 1))) {
		free(b);
		return NULL;
	}
	memcpy(b->text, data, size);
	b->d = d;
	b->t = t;
	if (who)
		b->who = *who;
	b->obj = obj;
	b->done = done;
	b->arg = arg;
	b->len = size;
	if (t->hold)
		t->hold(obj);
	return b;
}

/* Verbs whose lines, one after another in a write, start together. */
static bool concurrent(const char *line, size_t n)
{
	while (n && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	return n > 8 && !memcmp(line, "connect", 7) && (line[7] == ' ' || line[7] == '\t');
}

static void batch_run(struct ctl_batch *b);

/* A concurrent line (a batch of its own) finished. */
static void child_done(void *arg, int rc)
{
	struct ctl_batch *b = arg;
	b->pending--;
	if (rc < 0 && !b->rc)
		b->rc = rc;
	if (!b->running && b->pending == 0)
		batch_run(b);
}

static void batch_end(struct ctl_batch *b, int rc)
{
	job_done_fn *done = b->done;
	void *arg = b->arg;
	batch_free(b);
	done(arg, rc);
}

/* Runs lines until one is pending or all are done. */
static void batch_run(struct ctl_batch *b)
{
	b->running = true;
	while (b->pos < b->len) {
		const char *start = b->text + b->pos;
		const char *nl = memchr(start, '\n', b->len - b->pos);
		size_t n = nl ? (size_t)(nl - start) : b->len - b->pos;
		/* Blank lines (a trailing newline, "\n\n") are no commands. */
		bool blank = true;
		for (size_t i = 0; i < n; i++)
			if (start[i] != ' ' && start[i] != '\t' && start[i] != '\r')
				blank = false;
		bool conc = !blank && concurrent(start, n);
		/* A line that is not concurrent waits for those before it;
		 * after a failure nothing more starts. */
		if (b->pending && (!conc || b->rc)) {
			b->running = false;
			return; /* child_done goes on */
		}
		if (b->rc)
			break;
		b->pos += n + (nl ? 1 : 0);
		if (blank)
			continue;
		if (conc && b->len - (size_t)(start - b->text) > n) {
			/* One of several lines: a batch of its own, so that it
			 * keeps its line for messages while others run. */
			struct ctl_batch *c = batch_new(b->d, b->t, b->obj, &b->who, start, n, child_done, b);
			if (!c) {
				b->rc = -ENOMEM;
				continue;
			}
			b->pending++;
			batch_run(c);
			continue;
		}
		size_t shown = n < CTL_MAX_LINE ? n : CTL_MAX_LINE;
		memcpy(b->line, start, shown);
		b->line[shown] = 0;
		struct ctl_line l;
		char err[256] = "";
		int rc = ctl_parse(start, n, &l, err, sizeof(err));
		if (rc == 0 && !b->obj) {
			snprintf(err, sizeof(err), "the object of this ctl file is gone");
			rc = -ENOENT;
		} else if (rc == 0) {
			rc = b->t->run(b->obj, &l, b, err, sizeof(err));
		}
		if (rc == 1) {
			b->running = false;
			return; /* ctl_batch_done continues */
		}
		if (rc < 0) {
			b->running = false;
			ctl_batch_done(b, rc, err[0] ? err : strerror(-rc));
			return;
		}
	}
	b->running = false;
	if (b->pending)
		return;
	batch_end(b, b->rc);
}

void ctl_batch_done(struct ctl_batch *b, int rc, const char *why)
{
	if (rc < 0) {
		if (b->obj && b->t->fail)
			b->t->fail(b->obj, b->line, rc, why ? why : strerror(-rc));
		/* Lines started before it (connects) finish first. */
		if (!b->rc)
			b->rc = rc;
		if (b->pending)
			return;
		batch_end(b, b->rc);
		return;
	}
	batch_run(b);
}

void ctl_write(struct daemon *d, const struct ctl_target *t, void *obj, const struct caller *who,
	       const char *data, size_t size, job_done_fn *done, void *arg)
{
	struct ctl_batch *b = batch_new(d, t, obj, who, data, size, done, arg);
	if (!b) {
		done(arg, -ENOMEM);
		return;
	}
	batch_run(b);
}
