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
		"jobs", "fs", "README", "stats", NULL,
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
	free(b->text);
	free(b);
}

/* Runs lines until one is pending or all are done. */
static void batch_run(struct ctl_batch *b)
{
	while (b->pos < b->len) {
		const char *start = b->text + b->pos;
		const char *nl = memchr(start, '\n', b->len - b->pos);
		size_t n = nl ? (size_t)(nl - start) : b->len - b->pos;
		b->pos += n + (nl ? 1 : 0);
		size_t shown = n < CTL_MAX_LINE ? n : CTL_MAX_LINE;
		memcpy(b->line, start, shown);
		b->line[shown] = 0;
		/* Blank lines (a trailing newline, "\n\n") are no commands. */
		bool blank = true;
		for (size_t i = 0; i < n; i++)
			if (start[i] != ' ' && start[i] != '\t' && start[i] != '\r')
				blank = false;
		if (blank)
			continue;
		struct ctl_line l;
		char err[256] = "";
		int rc = ctl_parse(start, n, &l, err, sizeof(err));
		if (rc == 0 && !b->job && !b->ctx) {
			snprintf(err, sizeof(err), "the context of this ctl file is gone");
			rc = -ENOENT;
		} else if (rc == 0) {
			rc = b->job ? job_ctl(b->job, &l, b, err, sizeof(err))
				    : ctx_ctl(b->ctx, &l, b, err, sizeof(err));
		}
		if (rc == 1)
			return; /* ctl_batch_done continues */
		if (rc < 0) {
			ctl_batch_done(b, rc, err[0] ? err : strerror(-rc));
			return;
		}
	}
	wreply_ok(b->req, b->size);
	batch_free(b);
}

void ctl_batch_done(struct ctl_batch *b, int rc, const char *why)
{
	if (rc < 0) {
		struct ctx *c = b->job ? b->job->c : b->ctx;
		if (c)
			ctl_set_error(c, b->line, rc, why ? why : strerror(-rc));
		fuse_reply_err(b->req, -rc);
		batch_free(b);
		return;
	}
	batch_run(b);
}

void ctl_write(struct daemon *d, fuse_req_t req, struct ctx *c, struct job *j,
	       const char *data, size_t size, size_t reply)
{
	struct ctl_batch *b = calloc(1, sizeof(*b));
	if (!b || !(b->text = malloc(size ? size : 1))) {
		free(b);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(b->text, data, size);
	b->d = d;
	b->req = req;
	b->size = reply;
	b->len = size;
	b->ctx = c;
	b->job = j;
	batch_run(b);
}
