/*
 * test_log — the one sink: levels below the threshold are dropped, lines
 * are formatted once, and a sink that logs does not recurse.
 *
 *   make build/tests/test_log && build/tests/test_log --jobs 2
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "log.h"

static char last[1100];
static int calls, last_level;

static void sink(int level, const char *text, void *arg)
{
	(void)arg;
	calls++;
	last_level = level;
	snprintf(last, sizeof(last), "%s", text);
	log_error("from inside the sink"); /* must not come back here */
}

Test(log, lines_reach_the_sink_at_or_above_the_threshold)
{
	calls = 0;
	log_setup(sink, NULL, LOG_INFO);
	log_debug("hidden %d", 1);
	cr_expect_eq(calls, 0);
	log_warn("connect(%s): %s", "web1", "refused");
	cr_expect_eq(calls, 1, "the sink's own log line went to stderr, not back in");
	cr_expect_eq(last_level, LOG_WARN);
	cr_expect_str_eq(last, "connect(web1): refused");
	log_setup(NULL, NULL, LOG_INFO);
}

Test(log, long_lines_are_cut_not_overflowed)
{
	char big[4096];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	calls = 0;
	log_setup(sink, NULL, LOG_DEBUG);
	log_info("%s", big);
	cr_expect_eq(calls, 1);
	cr_expect_eq(strlen(last), 1023);
	log_setup(NULL, NULL, LOG_INFO);
}

Test(log, level_names)
{
	cr_expect_str_eq(log_level_name(LOG_DEBUG), "debug");
	cr_expect_str_eq(log_level_name(LOG_ERROR), "error");
	cr_expect_str_eq(log_level_name(42), "?");
}
