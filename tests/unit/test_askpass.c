/*
 * test_askpass — password prompts on a real pty: answered once, a second
 * prompt or a "failed" line is a refusal, no password is a clear error.
 *
 *   make build/tests/test_askpass && build/tests/test_askpass --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "askpass.h"
#include "loop.h"

struct seen {
	int failed, err;
	char why[256];
};

static void on_fail(void *arg, int err, const char *why)
{
	struct seen *s = arg;
	s->failed++;
	s->err = err;
	snprintf(s->why, sizeof(s->why), "%s", why);
}

/* A pty pair: the master watched by askpass, the slave played by the test. */
static void pty(int *master, int *slave)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY);
	cr_assert_geq(*master, 0);
	cr_assert_eq(grantpt(*master), 0);
	cr_assert_eq(unlockpt(*master), 0);
	*slave = open(ptsname(*master), O_RDWR | O_NOCTTY);
	cr_assert_geq(*slave, 0);
	fcntl(*master, F_SETFL, O_NONBLOCK);
	/* Raw: what the test writes arrives as written. */
	struct termios t;
	tcgetattr(*slave, &t);
	cfmakeraw(&t);
	tcsetattr(*slave, TCSANOW, &t);
}

static void spin(struct loop *l)
{
	for (int i = 0; i < 20; i++)
		loop_once(l, 10);
}

static void say(int fd, const char *s)
{
	cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

Test(askpass, answers_a_localised_prompt_once)
{
	struct loop *l = loop_new();
	int m, s;
	pty(&m, &s);
	struct seen seen = { 0 };
	struct askpass *a = askpass_new(l, m, "s3cret", m, on_fail, &seen);
	say(s, "Mot de passe : ");
	spin(l);
	char got[64] = "";
	ssize_t n = read(s, got, sizeof(got) - 1);
	cr_assert_gt(n, 0);
	got[n] = 0;
	cr_expect_str_eq(got, "s3cret\n");
	cr_expect_eq(askpass_answered(a), 1);
	cr_expect_eq(seen.failed, 0);
	askpass_free(a);
	loop_free(l);
}

Test(askpass, a_second_prompt_is_a_refused_password)
{
	struct loop *l = loop_new();
	int m, s;
	pty(&m, &s);
	struct seen seen = { 0 };
	struct askpass *a = askpass_new(l, m, "wrong", m, on_fail, &seen);
	say(s, "[sudo] password for x: ");
	spin(l);
	say(s, "\r\nSorry, try again.\r\n[sudo] password for x: ");
	spin(l);
	cr_expect_eq(seen.failed, 1);
	cr_expect_eq(seen.err, EACCES);
	cr_expect(strstr(seen.why, "authentication failed"), "%s", seen.why);
	askpass_free(a);
	loop_free(l);
}

Test(askpass, a_failure_line_after_the_answer_is_a_refusal)
{
	struct loop *l = loop_new();
	int m, s;
	pty(&m, &s);
	struct seen seen = { 0 };
	struct askpass *a = askpass_new(l, m, "wrong", m, on_fail, &seen);
	say(s, "doas (x@h) password: ");
	spin(l);
	say(s, "\r\ndoas: Authentication failed\r\n");
	spin(l);
	cr_expect_eq(seen.failed, 1);
	cr_expect(strstr(seen.why, "Authentication failed"), "%s", seen.why);
	askpass_free(a);
	loop_free(l);
}

Test(askpass, a_prompt_without_a_password_says_so)
{
	struct loop *l = loop_new();
	int m, s;
	pty(&m, &s);
	struct seen seen = { 0 };
	struct askpass *a = askpass_new(l, m, NULL, m, on_fail, &seen);
	say(s, "Password: ");
	spin(l);
	cr_expect_eq(seen.failed, 1);
	cr_expect(strstr(seen.why, "password is needed"), "%s", seen.why);
	askpass_free(a);
	loop_free(l);
}

Test(askpass, other_output_is_not_a_prompt)
{
	struct loop *l = loop_new();
	int m, s;
	pty(&m, &s);
	struct seen seen = { 0 };
	struct askpass *a = askpass_new(l, m, "pw", m, on_fail, &seen);
	say(s, "We trust you have received the usual lecture.\r\n");
	spin(l);
	cr_expect_eq(askpass_answered(a), 0);
	cr_expect_eq(seen.failed, 0);
	askpass_free(a);
	loop_free(l);
}
