/* test_pattern — fs/pattern.c: globs and numeric ranges over context paths. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "pattern.h"

static bool m(const char *pat, const char *path)
{
	char err[128];
	cr_assert_eq(pattern_check(pat, err, sizeof(err)), 0, "%s: %s", pat, err);
	return pattern_match(pat, path);
}

Test(pattern, literals_match_only_themselves)
{
	cr_assert(m("web1", "web1"));
	cr_assert(!m("web1", "web10"));
	cr_assert(!m("web1", "web"));
	cr_assert(m("a/b", "a/b"));
	cr_assert(!m("a/b", "a/bc"));
	cr_assert(pattern_is_literal("dc1/web-2.x_y"));
	cr_assert(!pattern_is_literal("web*"));
}

Test(pattern, star_and_question_stay_inside_one_component)
{
	cr_assert(m("*", "web1"));
	cr_assert(!m("*", "a/b"));
	cr_assert(m("*/*", "a/b"));
	cr_assert(m("web*", "web"));
	cr_assert(m("web*", "web12"));
	cr_assert(!m("web*", "web1/root"));
	cr_assert(m("*/root", "web1/root"));
	cr_assert(m("w?b", "wab"));
	cr_assert(!m("w?b", "w/b"));
	cr_assert(m("*b*", "abc"));
	cr_assert(!m("*x*", "abc"));
}

Test(pattern, classes_as_fnmatch)
{
	cr_assert(m("web[a-c]", "webb"));
	cr_assert(!m("web[a-c]", "webd"));
	cr_assert(m("web[!a-c]", "webd"));
	cr_assert(!m("web[!a-c]", "weba"));
	cr_assert(m("x[._]y", "x.y"));
	cr_assert(!m("x[a-z]", "x/"));
}

Test(pattern, numeric_ranges_as_clustershell)
{
	cr_assert(m("web[1-100]", "web1"));
	cr_assert(m("web[1-100]", "web57"));
	cr_assert(m("web[1-100]", "web100"));
	cr_assert(!m("web[1-100]", "web101"));
	cr_assert(!m("web[1-100]", "web0"));
	cr_assert(!m("web[1-100]", "web05"), "no leading zero without padding");
	cr_assert(m("web[0-9]", "web7"), "[0-9] means the same either way");
	cr_assert(m("web[12]", "web12"));
	cr_assert(!m("web[12]", "web1"));
	cr_assert(m("web[1-3,7,10-12]", "web7"));
	cr_assert(m("web[1-3,7,10-12]", "web11"));
	cr_assert(!m("web[1-3,7,10-12]", "web8"));
	cr_assert(m("n[01-10]", "n01"));
	cr_assert(m("n[01-10]", "n10"));
	cr_assert(!m("n[01-10]", "n1"), "padded ranges want their width");
	cr_assert(m("n[1-3]0", "n20"), "a range followed by digits");
	cr_assert(m("dc[1-2]/web[1-3]", "dc2/web3"));
	cr_assert(!m("dc[1-2]/web[1-3]", "dc3/web3"));
	cr_assert(m("web[1-1000]x", "web999x"));
}

Test(pattern, bad_patterns_say_why)
{
	char err[128];
	const char *bad[] = { "", "/a", "a/", "a//b", "a b", "web[1-", "web[3-1]",
			      "web[1-2,]", "web[1234567890]", "a[/]b", "x\ty" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		cr_assert_eq(pattern_check(bad[i], err, sizeof(err)), -EINVAL, "'%s' accepted", bad[i]);
		cr_assert(err[0], "no reason for '%s'", bad[i]);
	}
	char longp[PATTERN_MAX + 2];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	cr_assert_eq(pattern_check(longp, err, sizeof(err)), -EINVAL);
}
