/*
 * methods — looking a method up in the table, checking its options, and
 * planning its command (methods.h). Every option a method takes is
 * checked here, before anything runs, so a typo fails the connect with a
 * reason instead of being ignored, and no value can turn into an option
 * of the tool or a word for a shell. Not for: the rows themselves
 * (methods_argv.c) or running a plan (methods_run.c).
 */
#include "methods.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct methods_row *methods_find(const char *name)
{
	for (const struct methods_row *r = methods_table; name && r->name; r++)
		if (!strcmp(r->name, name))
			return r;
	return NULL;
}

void methods_names(char *out, size_t cap)
{
	size_t off = 0;
	if (cap)
		out[0] = 0;
	for (const struct methods_row *r = methods_table; r->name && off < cap; r++) {
		int n = snprintf(out + off, cap - off, "%s%s", off ? ", " : "", r->name);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

bool methods_is_net(const char *name)
{
	return methods_has(name, METHODS_NET);
}

bool methods_has(const char *name, unsigned flags)
{
	const struct methods_row *r = methods_find(name);
	return r && (r->flags & flags) == flags;
}

static const struct methods_opt timeout_opt = { "timeout", METHODS_SECS, NULL, false };

static const struct methods_opt *opt_of(const struct methods_row *r, const char *key)
{
	if (!strcmp(key, timeout_opt.key))
		return &timeout_opt;
	for (const struct methods_opt *o = r->opts; o && o->key; o++)
		if (!strcmp(o->key, key))
			return o;
	return NULL;
}

static bool num_in(const char *v, long lo, long hi)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	return *v >= '0' && *v <= '9' && !*end && !errno && x >= lo && x <= hi;
}

/* Whether v is one of the '|'-separated words of set. */
static bool in_set(const char *v, const char *set)
{
	size_t n = strlen(v);
	for (const char *p = set; *p;) {
		size_t k = strcspn(p, "|");
		if (k == n && !strncmp(p, v, n))
			return true;
		p += k + (p[k] == '|');
	}
	return false;
}

/* A value that can be neither an option of the tool nor more than one
 * word for a shell down the line (ssh's remote side parses its command). */
static bool plain_word(const char *v)
{
	return *v && v[0] != '-' && !strpbrk(v, " \t\n\r'\"\\;&|<>$`(){}*?[]#~!");
}

static int check_value(const struct methods_opt *o, const char *v, char *err, size_t errlen)
{
	bool ok = true;
	const char *want = "";
	switch (o->check) {
	case METHODS_WORD:
		ok = plain_word(v);
		want = "a plain name (no blanks, quotes or shell characters, not starting with '-')";
		break;
	case METHODS_TEXT:
		ok = *v != 0;
		want = "not empty";
		break;
	case METHODS_ABS:
		ok = v[0] == '/';
		want = "an absolute path";
		break;
	case METHODS_SECS:
		ok = num_in(v, 1, 3600);
		want = "1-3600 seconds";
		break;
	case METHODS_NUM:
		ok = num_in(v, 0, 3600);
		want = "0-3600";
		break;
	case METHODS_PORT:
		ok = num_in(v, 1, 65535);
		want = "a port, 1-65535";
		break;
	case METHODS_PID:
		ok = num_in(v, 1, 1 << 22);
		want = "a process id";
		break;
	case METHODS_ENUM:
		ok = in_set(v, o->values);
		want = o->values; /* "a|b|c" reads as "one of" */
		break;
	case METHODS_ARGS:
		/* Each piece is one argument; an empty one is a typo. */
		ok = *v && v[strlen(v) - 1] != ',' && v[0] != ',' && !strstr(v, ",,");
		want = "arguments separated by ','";
		break;
	}
	if (!ok) {
		snprintf(err, errlen, "%s must be %s, not '%s'", o->key, want, v);
		return -EINVAL;
	}
	return 0;
}

int methods_check(const char *method, const struct proto_kv *kv, size_t n, char *err,
		  size_t errlen)
{
	const struct methods_row *r = methods_find(method);
	if (!r) {
		char names[512];
		methods_names(names, sizeof(names));
		snprintf(err, errlen, "unknown method '%s' (known: %s)", method, names);
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		const struct methods_opt *o = opt_of(r, kv[i].key);
		if (!o) {
			snprintf(err, errlen, "unknown option '%s' for method %s", kv[i].key, method);
			return -EINVAL;
		}
		for (size_t k = 0; k < i; k++)
			if (!strcmp(kv[k].key, kv[i].key)) {
				snprintf(err, errlen, "option '%s' given twice", kv[i].key);
				return -EINVAL;
			}
		int rc = check_value(o, kv[i].val, err, errlen);
		if (rc)
			return rc;
	}
	for (const struct methods_opt *o = r->opts; o && o->key; o++)
		if (o->required && !proto_kv_get(kv, n, o->key)) {
			snprintf(err, errlen, "method %s needs %s=", method, o->key);
			return -EINVAL;
		}
	return 0;
}

void methods_add(struct methods_plan *p, const char *s)
{
	if (p->rc)
		return;
	if (p->argc >= METHODS_MAX_ARGS - 1) {
		p->rc = -E2BIG;
		return;
	}
	if (!(p->argv[p->argc] = strdup(s))) {
		p->rc = -ENOMEM;
		return;
	}
	p->argc++;
}

void methods_addf(struct methods_plan *p, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!p->rc)
			p->rc = -ENOMEM;
		return;
	}
	methods_add(p, s);
	free(s);
}

int methods_plan(const char *method, const struct proto_kv *kv, size_t n, const char *line,
		 struct methods_plan *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	int rc = methods_check(method, kv, n, err, errlen);
	if (rc)
		return rc;
	p->row = methods_find(method);
	const char *t = proto_kv_get(kv, n, "timeout");
	p->timeout_ms = t ? atoi(t) * 1000 : 0;
	p->password = proto_kv_get(kv, n, "password");
	rc = p->row->build(p, kv, n, line, err, errlen);
	if (!rc)
		rc = p->rc;
	if (rc) {
		if (rc == -E2BIG)
			snprintf(err, errlen, "too many arguments for %s", method);
		else if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		methods_plan_free(p);
		return rc;
	}
	p->argv[p->argc] = NULL;
	return 0;
}

void methods_plan_free(struct methods_plan *p)
{
	for (int i = 0; i < METHODS_MAX_ARGS; i++) {
		free(p->argv[i]);
		p->argv[i] = NULL;
	}
	p->argc = 0;
}
