/*
 * pattern — which context paths a group's member line names: a glob over
 * paths such as "web*", "dc1/web[1-100]", "db[01-20]/root", "*".
 *
 *   *        any run of characters except '/'
 *   ?        one character except '/'
 *   [a-z!.]  a class, as fnmatch(3) ([!...] or [^...] negates); never '/'
 *   [1-100]  ClusterShell's numeric ranges: a bracket of digits, '-' and
 *            ',' only matches a number in one of its ranges ([1-3,7,10-12]);
 *            a range whose start has a leading zero ([01-10]) matches
 *            numbers written with that many digits, else numbers with no
 *            leading zero. So "[0-9]" means the same either way, and
 *            "[12]" is the number 12 (ClusterShell), not the class {1,2}.
 * Everything else matches itself. Pure functions, no allocation.
 * Not for: resolving members against the tree (group.c).
 */
#ifndef MITOFS_PATTERN_H
#define MITOFS_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#define PATTERN_MAX 1024

/* 0 when pat is a well-formed pattern, else -EINVAL with the reason in
 * err: empty, too long, a blank or control character, an empty path
 * component, an unclosed bracket, a bad range (start after end, a number
 * past 999999999). */
int pattern_check(const char *pat, char *err, size_t errlen);
/* Whether the whole of path matches pat (pat well-formed). */
bool pattern_match(const char *pat, const char *path);
/* Whether pat has no special character: it names one path exactly. */
bool pattern_is_literal(const char *pat);

#endif
