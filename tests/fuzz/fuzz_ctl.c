/*
 * fuzz_ctl — fs/ctl.c: the lines users write into ctl files. ctl_parse
 * and ctl_check_name are checked against a reference of the grammar
 * (fs/ctl.h, docs/filesystem.md); ctl_write runs a whole written batch
 * through verbs stubbed here, so that the line splitting, the error
 * paths and ctl_batch_done run without a daemon.
 *
 * Input: u8 mode, then
 *   mode 0: u8 errlen, the line (ctl_parse, then ctl_opt on its keys);
 *   mode 1: the name, up to a NUL (ctl_check_name);
 *   mode 2: u8 results (bits picking the outcome of pending verbs), the
 *           bytes of one write (ctl_write).
 * Checked: ctl_parse accepts exactly the lines the grammar allows, its
 * pieces are the line's words in order, NUL-free and inside its buffer;
 * errors are NUL-terminated and fit errlen; ctl_check_name agrees with
 * the rule of ctl.h; a batch is answered exactly once, whatever its lines
 * and whenever its verbs finish.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "ctl.h"

#include "fuzz.h"

/* --- what ctl.c calls in the rest of the daemon --- */

#define MAX_PENDING 8192

static struct {
	int replies;             /* answers of the current batch */
	int pending_n;           /* verbs left pending, in the order they started */
	struct ctl_batch *pending[MAX_PENDING];
	int fails;               /* failures recorded through the target */
} st;

void ctx_log(struct ctx *c, int level, const char *fmt, ...)
{
	(void)c;
	(void)level;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
}

/* A verb: "ok" succeeds, "later" and "connect" (concurrent in a run) are
 * pending (ctl_batch_done follows), "fail" fails with a reason, anything
 * else fails without one. */
static int verb(void *obj, const struct ctl_line *l, struct ctl_batch *b, char *err,
		size_t errlen)
{
	(void)obj;
	FUZZ_CHECK(l->verb && *l->verb && b);
	if (!strcmp(l->verb, "ok"))
		return 0;
	if (!strcmp(l->verb, "later") || !strcmp(l->verb, "connect")) {
		FUZZ_CHECK(st.pending_n < MAX_PENDING);
		/* Only a run of connects may have several pending at once. */
		for (int i = 0; i < st.pending_n; i++)
			FUZZ_CHECK(!strcmp(l->verb, "connect"));
		st.pending[st.pending_n++] = b;
		return 1;
	}
	if (!strcmp(l->verb, "fail"))
		snprintf(err, errlen, "%s: it failed", l->nwords ? l->words[0] : "nothing");
	return -EINVAL;
}

static void fail_rec(void *obj, const char *line, int rc, const char *why)
{
	(void)obj;
	FUZZ_CHECK(rc < 0 && why && memchr(line, 0, CTL_MAX_LINE + 1));
	st.fails++;
}

static int holds;
static void hold(void *obj) { (void)obj; holds++; }
static void release(void *obj) { (void)obj; holds--; }

static const struct ctl_target fuzz_target = {
	.run = verb, .fail = fail_rec, .hold = hold, .release = release,
};

static int last_rc;
static void on_done(void *arg, int rc)
{
	(void)arg;
	FUZZ_CHECK(rc <= 0);
	last_rc = rc;
	st.replies++;
}

/* --- reference of the grammar --- */

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The words of line[0..len) (no NUL inside), at most max. */
static int split(const char *line, size_t len, const char **w, size_t *wl, int max)
{
	int n = 0;
	for (size_t i = 0; i < len;) {
		while (i < len && blank(line[i]))
			i++;
		if (i == len)
			break;
		size_t s = i;
		while (i < len && !blank(line[i]))
			i++;
		if (n == max)
			return max + 1;
		w[n] = line + s;
		wl[n++] = i - s;
	}
	return n;
}

/* Whether ctl_parse must accept the line. */
static bool ref_valid(const char *line, size_t len)
{
	enum { MAXW = 1 + CTL_MAX_WORDS + CTL_MAX_OPTS };
	const char *w[MAXW];
	size_t wl[MAXW];
	if (len > CTL_MAX_LINE || memchr(line, 0, len))
		return false;
	int n = split(line, len, w, wl, MAXW);
	if (n == 0 || n > MAXW || memchr(w[0], '=', wl[0]))
		return false;
	int words = 0, opts = 0;
	for (int i = 1; i < n; i++) {
		const char *eq = memchr(w[i], '=', wl[i]);
		if (!eq && opts)
			return false; /* a word after options */
		if (eq == w[i])
			return false; /* empty key */
		if (eq ? ++opts > CTL_MAX_OPTS : ++words > CTL_MAX_WORDS)
			return false;
	}
	return true;
}

/* s is a NUL-terminated piece of l's buffer without blanks. */
static void check_piece(const struct ctl_line *l, const char *s, bool may_be_empty)
{
	FUZZ_CHECK(s >= l->buf && s <= l->buf + CTL_MAX_LINE);
	size_t n = strlen(s);
	FUZZ_CHECK(s + n <= l->buf + CTL_MAX_LINE);
	FUZZ_CHECK(may_be_empty || n > 0);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(!blank(s[i]));
}

static void check_parse(struct fuzz_in *in)
{
	size_t errlen = 1 + fuzz_u8(in);
	char *err = malloc(errlen); /* exactly errlen: ASan sees an overrun */
	static struct ctl_line l;
	FUZZ_CHECK(err != NULL);
	memset(err, 'x', errlen);
	int rc = ctl_parse((const char *)in->p, in->n, &l, err, errlen);
	bool valid = ref_valid((const char *)in->p, in->n);
	if (rc) {
		FUZZ_CHECK(rc == -EINVAL && !valid);
		FUZZ_CHECK(memchr(err, 0, errlen) != NULL);
		FUZZ_CHECK(errlen == 1 || err[0] != 0);
		free(err);
		return;
	}
	free(err);
	FUZZ_CHECK(valid);
	FUZZ_CHECK(l.nwords >= 0 && l.nwords <= CTL_MAX_WORDS);
	FUZZ_CHECK(l.nopts >= 0 && l.nopts <= CTL_MAX_OPTS);
	check_piece(&l, l.verb, false);
	FUZZ_CHECK(!strchr(l.verb, '='));
	/* The pieces are the line's words, in order. */
	const char *w[1 + CTL_MAX_WORDS + CTL_MAX_OPTS];
	size_t wl[1 + CTL_MAX_WORDS + CTL_MAX_OPTS];
	int n = split((const char *)in->p, in->n, w, wl, 1 + CTL_MAX_WORDS + CTL_MAX_OPTS);
	FUZZ_CHECK(n == 1 + l.nwords + l.nopts);
	FUZZ_CHECK(strlen(l.verb) == wl[0] && !memcmp(l.verb, w[0], wl[0]));
	for (int i = 0; i < l.nwords; i++) {
		check_piece(&l, l.words[i], false);
		FUZZ_CHECK(!strchr(l.words[i], '='));
		FUZZ_CHECK(strlen(l.words[i]) == wl[1 + i] && !memcmp(l.words[i], w[1 + i], wl[1 + i]));
	}
	for (int i = 0; i < l.nopts; i++) {
		const struct ctl_opt *o = &l.opts[i];
		const char *word = w[1 + l.nwords + i];
		size_t kl = strlen(o->key), vl = strlen(o->val);
		check_piece(&l, o->key, false);
		check_piece(&l, o->val, true);
		FUZZ_CHECK(!strchr(o->key, '='));
		FUZZ_CHECK(kl + 1 + vl == wl[1 + l.nwords + i]);
		FUZZ_CHECK(!memcmp(o->key, word, kl) && word[kl] == '=');
		FUZZ_CHECK(!memcmp(o->val, word + kl + 1, vl));
		/* ctl_opt finds the first option of that key. */
		const char *first = NULL;
		for (int j = 0; j < l.nopts && !first; j++)
			if (!strcmp(l.opts[j].key, o->key))
				first = l.opts[j].val;
		FUZZ_CHECK(ctl_opt(&l, o->key) == first);
	}
	FUZZ_CHECK(ctl_opt(&l, "") == NULL);
	FUZZ_CHECK(ctl_opt(&l, "a=b") == NULL);
}

static bool ref_name_ok(const char *s)
{
	static const char *const reserved[] = {
		"ctl", "info", "exec", "stdout", "stderr", "status", "log",
		"jobs", "fs", "README", "stats", "groups", ".", "..",
	};
	size_t n = strlen(s);
	if (n < 1 || n > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789._-") != n)
		return false;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcmp(s, reserved[i]))
			return false;
	return true;
}

static void check_name(struct fuzz_in *in)
{
	char *name = strndup((const char *)in->p, in->n);
	FUZZ_CHECK(name != NULL);
	char err[128];
	memset(err, 'x', sizeof(err));
	int rc = ctl_check_name(name, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	FUZZ_CHECK((rc == 0) == ref_name_ok(name));
	if (rc)
		FUZZ_CHECK(err[0] && memchr(err, 0, sizeof(err)));
	free(name);
}

static void check_batch(struct fuzz_in *in)
{
	uint8_t results = fuzz_u8(in);
	static int obj;
	st.replies = 0;
	st.pending_n = 0;
	st.fails = 0;
	holds = 0;
	ctl_write(NULL, &fuzz_target, &obj, NULL, (const char *)in->p, in->n, on_done, NULL);
	/* Pending verbs finish one by one, newest or oldest first: ok, or
	 * failed. */
	for (int i = 0; st.pending_n; i++) {
		FUZZ_CHECK(st.replies == 0);
		struct ctl_batch *b;
		if (results & 0x80) {
			b = st.pending[--st.pending_n];
		} else {
			b = st.pending[0];
			memmove(st.pending, st.pending + 1, (size_t)--st.pending_n * sizeof(b));
		}
		bool ok = (results >> (i % 6)) & 1;
		ctl_batch_done(b, ok ? 0 : -EIO, i % 2 ? "it went wrong" : NULL);
	}
	FUZZ_CHECK(st.replies == 1);
	FUZZ_CHECK(holds == 0);
	FUZZ_CHECK((last_rc == 0) == (st.fails == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	switch (fuzz_u8(&in) % 3) {
	case 0:
		check_parse(&in);
		break;
	case 1:
		check_name(&in);
		break;
	default:
		check_batch(&in);
		break;
	}
	return 0;
}
