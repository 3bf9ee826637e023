/* askpass — one answer to one password prompt on a pty (askpass.h). */
#include "askpass.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "loop.h"

struct askpass {
	struct loop *l;
	int ptyfd, answer_fd;
	char *password;
	askpass_fail_fn *fail;
	void *arg;
	int answered;
	int failed;
	char text[512]; /* since the last answer, the tail kept */
	size_t len;
};

/* The last line of the text, without trailing blanks, ends a prompt. */
static int is_prompt(const char *t, size_t n)
{
	while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	if (!n)
		return 0;
	const char *line = t;
	for (size_t i = 0; i < n; i++)
		if (t[i] == '\n' || t[i] == '\r')
			line = t + i + 1;
	size_t ll = (size_t)(t + n - line);
	if (ll == 0 || ll > 200)
		return 0;
	if (t[n - 1] == ':')
		return 1;
	/* U+FF1A FULLWIDTH COLON, as CJK locales write it */
	return n >= 3 && (unsigned char)t[n - 3] == 0xef && (unsigned char)t[n - 2] == 0xbc &&
	       (unsigned char)t[n - 1] == 0x9a;
}

/* After an answer: a complete line that says the password was wrong
 * ("Authentication failed", "Sorry, try again.", "Permission denied",
 * "incorrect password"). */
static int refused(const char *t, size_t n)
{
	static const char *const words[] = { "fail", "sorry", "denied", "incorrect", NULL };
	if (!n || (t[n - 1] != '\n' && t[n - 1] != '\r'))
		return 0;
	for (int w = 0; words[w]; w++) {
		size_t wl = strlen(words[w]);
		for (size_t i = 0; i + wl <= n; i++)
			if (!strncasecmp(t + i, words[w], wl))
				return 1;
	}
	return 0;
}

static void last_line(const struct askpass *a, char *out, size_t cap)
{
	size_t n = a->len;
	while (n && (a->text[n - 1] == ' ' || a->text[n - 1] == '\n' || a->text[n - 1] == '\r'))
		n--;
	size_t start = n;
	while (start && a->text[start - 1] != '\n' && a->text[start - 1] != '\r')
		start--;
	snprintf(out, cap, "%.*s", (int)(n - start), a->text + start);
}

static void fail(struct askpass *a, const char *fmt)
{
	char line[256], why[400];
	last_line(a, line, sizeof(line));
	snprintf(why, sizeof(why), fmt, line);
	a->failed = 1;
	loop_del(a->l, a->ptyfd);
	a->fail(a->arg, EACCES, why);
}

static void on_pty(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)events;
	struct askpass *a = arg;
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* The child closed its terminal (EIO on a pty): nothing more
		 * will be asked there. */
		loop_del(a->l, a->ptyfd);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (a->len == sizeof(a->text)) {
			memmove(a->text, a->text + 256, a->len - 256);
			a->len -= 256;
		}
		a->text[a->len++] = buf[i];
	}
	if (a->answered && refused(a->text, a->len)) {
		/* doas and su say so and exit, without asking again. */
		fail(a, "authentication failed: %s");
		return;
	}
	if (!is_prompt(a->text, a->len))
		return;
	if (!a->password) {
		fail(a, "a password is needed (prompt \"%s\"): give password_file=");
		return;
	}
	if (a->answered) {
		fail(a, "authentication failed: the password was refused (prompt \"%s\" again)");
		return;
	}
	size_t pl = strlen(a->password);
	char *ans = malloc(pl + 1);
	if (!ans)
		return;
	memcpy(ans, a->password, pl);
	ans[pl] = '\n';
	ssize_t w = write(a->answer_fd, ans, pl + 1);
	explicit_bzero(ans, pl + 1);
	free(ans);
	if (w != (ssize_t)(pl + 1)) {
		fail(a, "cannot answer the prompt \"%s\"");
		return;
	}
	a->answered = 1;
	a->len = 0;
}

struct askpass *askpass_new(struct loop *l, int ptyfd, const char *password, int answer_fd,
			    askpass_fail_fn *failfn, void *arg)
{
	struct askpass *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->l = l;
	a->ptyfd = ptyfd;
	a->answer_fd = answer_fd;
	a->fail = failfn;
	a->arg = arg;
	if ((password && !(a->password = strdup(password))) ||
	    loop_add(l, ptyfd, EPOLLIN, on_pty, a) < 0) {
		free(a->password);
		free(a);
		return NULL;
	}
	return a;
}

void askpass_free(struct askpass *a)
{
	if (!a)
		return;
	if (!a->failed)
		loop_del(a->l, a->ptyfd);
	if (a->password) {
		explicit_bzero(a->password, strlen(a->password));
		free(a->password);
	}
	free(a);
}

int askpass_answered(const struct askpass *a)
{
	return a->answered;
}

void askpass_last_line(const struct askpass *a, char *out, size_t cap)
{
	last_line(a, out, cap);
}
