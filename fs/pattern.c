/* pattern — globs and numeric ranges over context paths (pattern.h). */
#include "pattern.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NUM_MAX 999999999ul
#define NUM_DIGITS 9

/* The bracket at p ('['): its end (the ']'), or NULL if unclosed. A ']'
 * right after '[' or '[!' belongs to the class, as in fnmatch. */
static const char *bracket_end(const char *p)
{
	const char *q = p + 1;
	if (*q == '!' || *q == '^')
		q++;
	if (*q == ']')
		q++;
	while (*q && *q != ']')
		q++;
	return *q ? q : NULL;
}

/* Whether [p+1, end) is a list of numbers and ranges. */
static bool is_numeric(const char *p, const char *end)
{
	if (p + 1 == end)
		return false;
	for (const char *q = p + 1; q < end; q++)
		if (!(*q >= '0' && *q <= '9') && *q != '-' && *q != ',')
			return false;
	return true;
}

/* Reads the digits at *q (advancing it): their value and count. */
static bool number_at(const char **q, const char *end, unsigned long *v, size_t *width)
{
	const char *s = *q;
	*v = 0;
	while (*q < end && **q >= '0' && **q <= '9') {
		*v = *v * 10 + (unsigned long)(**q - '0');
		if (*v > NUM_MAX || (size_t)(*q - s) >= NUM_DIGITS)
			return false;
		(*q)++;
	}
	*width = (size_t)(*q - s);
	return *width > 0;
}

/* The ranges of [p+1, end), e.g. "1-3,7,01-10". With num (digits
 * num[0..nlen)), whether that number is in one of them; without,
 * whether the list is well-formed. A range whose start is written with a
 * leading zero matches numbers written with as many digits; the others
 * match numbers written without one. */
static bool ranges(const char *p, const char *end, const char *num, size_t nlen)
{
	unsigned long val = 0;
	if (num) {
		if (nlen > NUM_DIGITS)
			return false;
		for (size_t i = 0; i < nlen; i++)
			val = val * 10 + (unsigned long)(num[i] - '0');
	}
	for (const char *q = p + 1; q < end;) {
		unsigned long lo, hi, pow = 1;
		size_t wlo, whi;
		if (!number_at(&q, end, &lo, &wlo))
			return false;
		hi = lo;
		if (q < end && *q == '-') {
			q++;
			if (!number_at(&q, end, &hi, &whi))
				return false;
		}
		if (hi < lo || (q < end && *q != ','))
			return false;
		if (q < end && ++q == end)
			return false; /* a trailing ',' */
		if (!num)
			continue;
		for (size_t i = 1; i < wlo; i++)
			pow *= 10;
		bool padded = wlo > 1 && lo < pow;
		if (padded ? nlen != wlo : (nlen > 1 && num[0] == '0'))
			continue;
		if (val >= lo && val <= hi)
			return true;
	}
	return !num;
}

/* Whether c is in the class [p+1, end) (p at '['). */
static bool in_class(const char *p, const char *end, char c)
{
	const char *q = p + 1;
	bool neg = *q == '!' || *q == '^';
	bool hit = false;
	if (neg)
		q++;
	while (q < end) {
		char lo = *q, hi = lo;
		if (q + 2 < end && q[1] == '-') {
			hi = q[2];
			q += 3;
		} else {
			q++;
		}
		if (c >= lo && c <= hi)
			hit = true;
	}
	return hit != neg;
}

static bool match(const char *p, const char *s)
{
	for (; *p; p++) {
		switch (*p) {
		case '*':
			/* Any run within this component: try each length. */
			for (const char *t = s;; t++) {
				if (match(p + 1, t))
					return true;
				if (!*t || *t == '/')
					return false;
			}
		case '?':
			if (!*s || *s == '/')
				return false;
			s++;
			break;
		case '[': {
			const char *end = bracket_end(p);
			if (!end) { /* not a bracket: itself */
				if (*s != '[')
					return false;
				s++;
				break;
			}
			if (is_numeric(p, end)) {
				size_t run = 0;
				while (s[run] >= '0' && s[run] <= '9')
					run++;
				for (size_t k = 1; k <= run; k++)
					if (ranges(p, end, s, k) && match(end + 1, s + k))
						return true;
				return false;
			}
			if (!*s || *s == '/' || !in_class(p, end, *s))
				return false;
			s++;
			p = end;
			break;
		}
		default:
			if (*s != *p)
				return false;
			s++;
		}
	}
	return *s == 0;
}

bool pattern_match(const char *pat, const char *path)
{
	return match(pat, path);
}

bool pattern_is_literal(const char *pat)
{
	return !strpbrk(pat, "*?[");
}

int pattern_check(const char *pat, char *err, size_t errlen)
{
	size_t n = strlen(pat);
	if (n == 0 || n > PATTERN_MAX) {
		snprintf(err, errlen, n ? "pattern longer than %d bytes" : "empty pattern", PATTERN_MAX);
		return -EINVAL;
	}
	if (pat[0] == '/' || pat[n - 1] == '/' || strstr(pat, "//")) {
		snprintf(err, errlen, "pattern '%.64s' has an empty path component", pat);
		return -EINVAL;
	}
	for (const char *p = pat; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(err, errlen, "pattern '%.64s' has a blank or control character", pat);
			return -EINVAL;
		}
		if (*p != '[')
			continue;
		const char *end = bracket_end(p);
		if (!end) {
			snprintf(err, errlen, "pattern '%.64s': '[' without ']'", pat);
			return -EINVAL;
		}
		if (memchr(p, '/', (size_t)(end - p))) {
			snprintf(err, errlen, "pattern '%.64s': '/' inside brackets", pat);
			return -EINVAL;
		}
		if (is_numeric(p, end) && !ranges(p, end, NULL, 0)) {
			snprintf(err, errlen, "pattern '%.64s': bad range '%.*s' (N, N-M with N <= M, "
				 "at most 9 digits, separated by ',')", pat, (int)(end - p + 1), p);
			return -EINVAL;
		}
		p = end;
	}
	return 0;
}
