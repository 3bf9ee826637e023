/* test_ring — fs/ring.c and fs/spool.c: the caps and their markers, the
 * memory window, spilling to the spool, its budget and its directory. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ring.h"
#include "spool.h"

static char base[256];

static void make_base(void)
{
	snprintf(base, sizeof(base), "/tmp/test_ring.%d.XXXXXX", (int)getpid());
	cr_assert_not_null(mkdtemp(base));
}

static void remove_base(void)
{
	rmdir(base);
}

static struct spool *open_spool(uint64_t budget, size_t mem_max)
{
	char err[512];
	struct spool *s = spool_open(base, budget, mem_max, err, sizeof(err));
	cr_assert_not_null(s, "spool_open: %s", err);
	return s;
}

/* Byte i of the test stream: not periodic in any power of two. */
static uint8_t pat(uint64_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

/* Appends n bytes of the pattern from offset at, in pieces of step. */
static int append_pat(struct ring *r, uint64_t at, size_t n, size_t step)
{
	uint8_t *b = malloc(step);
	int first = 0;
	for (size_t done = 0; done < n; done += step) {
		size_t k = n - done < step ? n - done : step;
		for (size_t i = 0; i < k; i++)
			b[i] = pat(at + done + i);
		int rc = ring_append(r, b, k);
		if (rc && !first)
			first = rc;
	}
	free(b);
	return first;
}

/* The whole of r, read back with ring_read in pieces of step. */
static uint8_t *read_all(const struct ring *r, size_t step, size_t *len)
{
	size_t n = (size_t)ring_end(r);
	uint8_t *b = malloc(n + 1);
	size_t done = 0;
	while (done < n) {
		ssize_t k = ring_read(r, done, b + done, step);
		cr_assert_gt(k, 0, "ring_read at %zu: %zd", done, k);
		done += (size_t)k;
	}
	cr_assert_eq(ring_read(r, n, b, step), 0, "a read at the end reads nothing");
	*len = n;
	return b;
}

/* How many of the n bytes at off ring_iov finds in memory. */
static size_t in_memory(const struct ring *r, uint64_t off, size_t n)
{
	struct iovec iov[64];
	size_t got;
	ring_iov(r, off, n, iov, 64, &got);
	return got;
}

static void expect_pat(const uint8_t *b, size_t n, uint64_t from)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(from + i))
			cr_assert_fail("byte %zu: %u, want %u", i, b[i], pat(from + i));
}

Test(ring, keep_head_keeps_the_first_bytes_and_marks_the_cap)
{
	struct ring *r = ring_new(8192, RING_KEEP_HEAD);
	cr_assert_eq(append_pat(r, 0, 20000, 1000), 0, "the cap is no error");
	size_t n;
	uint8_t *b = read_all(r, 4096, &n);
	cr_assert_leq(n, 8192);
	const char *m = "\n[mitofs: output cap of 8192 bytes reached; the rest is dropped]\n";
	size_t ml = strlen(m);
	cr_assert_gt(n, ml);
	expect_pat(b, n - ml, 0);
	cr_assert_eq(memcmp(b + n - ml, m, ml), 0, "marker: %.*s", (int)ml, b + n - ml);
	cr_assert_eq(ring_dropped(r), 20000 - (n - ml));
	free(b);
	ring_free(r);
}

Test(ring, keep_tail_keeps_the_newest_bytes)
{
	struct ring *r = ring_new(8192, RING_KEEP_TAIL);
	append_pat(r, 0, 100000, 1000);
	cr_assert_eq(ring_end(r), 100000);
	cr_assert_gt(ring_start(r), 0);
	cr_assert_lt(ring_end(r) - ring_start(r), 100000, "older chunks were freed");
	size_t n = (size_t)(ring_end(r) - ring_start(r));
	uint8_t *b = malloc(n);
	cr_assert_eq(ring_read(r, 0, b, n), (ssize_t)n, "a read before the start begins there");
	expect_pat(b, n, ring_start(r));
	free(b);
	ring_free(r);
}

Test(ring, a_small_stream_stays_in_memory, .init = make_base, .fini = remove_base)
{
	struct spool *s = open_spool(1 << 30, 16 << 20);
	struct ring *r = ring_new_spooled(1 << 30, s);
	append_pat(r, 0, 100000, 4096);
	cr_assert_eq(spool_used(s), 0);
	cr_assert_geq(spool_mem(s), 100000);
	cr_assert_eq(in_memory(r, 0, 100000), 100000, "all of it in memory");
	ring_free(r);
	cr_assert_eq(spool_mem(s), 0, "memory given back");
	spool_close(s);
}

Test(ring, a_large_stream_moves_to_the_spool_and_reads_back_whole, .init = make_base,
     .fini = remove_base)
{
	struct spool *s = open_spool(1 << 30, 16 << 20);
	struct ring *r = ring_new_spooled(1 << 30, s);
	size_t total = 3 * SPOOL_BLOCK + 12345;
	cr_assert_eq(append_pat(r, 0, total, 65536 + 17), 0);
	cr_assert_eq(ring_end(r), total);
	cr_assert_eq(spool_used(s), total, "every byte in the spool");
	cr_assert_eq(spool_mem(s), 0, "and none in memory");
	cr_assert_eq(in_memory(r, 0, 4096), 0, "ring_iov stops at the spool");
	size_t n;
	uint8_t *b = read_all(r, 100000, &n);
	cr_assert_eq(n, total);
	expect_pat(b, n, 0);
	/* Reads across block boundaries, from odd offsets. */
	uint8_t piece[5000];
	cr_assert_eq(ring_read(r, SPOOL_BLOCK - 100, piece, sizeof(piece)), (ssize_t)sizeof(piece));
	expect_pat(piece, sizeof(piece), SPOOL_BLOCK - 100);
	free(b);
	ring_free(r);
	cr_assert_eq(spool_used(s), 0, "the blocks are given back");
	spool_close(s);
}

Test(ring, a_reused_block_shows_only_the_new_streams_bytes, .init = make_base,
     .fini = remove_base)
{
	struct spool *s = open_spool(1 << 30, 16 << 20);
	struct ring *a = ring_new_spooled(1 << 30, s);
	uint8_t x[4096];
	memset(x, 'A', sizeof(x));
	for (int i = 0; i < 800; i++)
		ring_append(a, x, sizeof(x));
	ring_free(a);
	struct ring *b = ring_new_spooled(1 << 30, s);
	append_pat(b, 0, SPOOL_BLOCK + 1000, 8192);
	size_t n;
	uint8_t *got = read_all(b, 65536, &n);
	cr_assert_eq(n, SPOOL_BLOCK + 1000);
	expect_pat(got, n, 0);
	free(got);
	ring_free(b);
	spool_trim(s);
	spool_close(s);
}

Test(ring, the_budget_cuts_a_stream_with_its_marker_and_is_given_back, .init = make_base,
     .fini = remove_base)
{
	uint64_t budget = 1u << 20;
	struct spool *s = open_spool(budget, 16 << 20);
	struct ring *r = ring_new_spooled(1 << 30, s);
	cr_assert_eq(append_pat(r, 0, 3u << 20, 10000), -EDQUOT, "the first cut says why");
	cr_assert_eq(append_pat(r, 3u << 20, 1000, 1000), 0, "later bytes are dropped quietly");
	cr_assert_eq(spool_used(s), budget);
	char why[160];
	ring_cut_reason(r, why, sizeof(why));
	cr_assert_str_eq(why, "output budget of 1048576 bytes (-o output_budget) reached");
	size_t n;
	uint8_t *b = read_all(r, 65536, &n);
	char m[256];
	int ml = snprintf(m, sizeof(m), "\n[mitofs: %s; the rest is dropped]\n", why);
	cr_assert_eq(n, budget + (size_t)ml);
	expect_pat(b, budget, 0);
	cr_assert_eq(memcmp(b + budget, m, (size_t)ml), 0);
	cr_assert_eq(ring_dropped(r), (3u << 20) + 1000 - budget);
	free(b);
	/* Another stream gets nothing while r holds the budget... */
	struct ring *r2 = ring_new_spooled(1 << 30, s);
	cr_assert_eq(append_pat(r2, 0, RING_WINDOW + 1, 4096), -EDQUOT);
	ring_free(r2);
	/* ...and all of it once r is gone. */
	ring_free(r);
	cr_assert_eq(spool_used(s), 0);
	r = ring_new_spooled(1 << 30, s);
	cr_assert_eq(append_pat(r, 0, budget, 4096), 0);
	ring_free(r);
	spool_close(s);
}

Test(ring, the_memory_allowance_bounds_what_many_streams_hold, .init = make_base,
     .fini = remove_base)
{
	size_t mem_max = 1u << 20;
	struct spool *s = open_spool(1ull << 32, mem_max);
	struct ring *r[40];
	for (int i = 0; i < 40; i++) {
		r[i] = ring_new_spooled(1 << 30, s);
		append_pat(r[i], 0, 200000, 20000);
		cr_assert_leq(spool_mem(s), mem_max + RING_WINDOW, "after stream %d: %lu", i,
			      (unsigned long)spool_mem(s));
	}
	for (int i = 0; i < 40; i++) {
		size_t n;
		uint8_t *b = read_all(r[i], 30000, &n);
		cr_assert_eq(n, 200000);
		expect_pat(b, n, 0);
		free(b);
		ring_free(r[i]);
	}
	cr_assert_eq(spool_mem(s), 0);
	cr_assert_eq(spool_used(s), 0);
	spool_close(s);
}

/* How many entries dir has, besides . and .. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

Test(spool, its_directory_is_private_nameless_and_gone_at_close, .init = make_base,
     .fini = remove_base)
{
	/* A directory a killed daemon left: its pid is free now. */
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	char stale[512], other[512];
	snprintf(stale, sizeof(stale), "%s/spool.%d.abcdef", base, (int)dead);
	snprintf(other, sizeof(other), "%s/spool.%d.ghijkl", base, (int)getppid());
	cr_assert_eq(mkdir(stale, 0700), 0);
	cr_assert_eq(mkdir(other, 0700), 0);
	struct spool *s = open_spool(1 << 30, 1 << 20);
	const char *dir = spool_dir(s);
	struct stat st;
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0700, "mode %o", st.st_mode & 07777);
	cr_assert_eq(strncmp(dir, base, strlen(base)), 0, "%s is under %s", dir, base);
	struct ring *r = ring_new_spooled(1 << 30, s);
	append_pat(r, 0, 2u << 20, 65536);
	cr_assert_eq(spool_used(s), 2u << 20);
	cr_assert_eq(entries(dir), 0, "the spool file has no name");
	cr_assert_eq(stat(stale, &st), -1, "the dead daemon's directory was removed");
	cr_assert_eq(stat(other, &st), 0, "a live process's directory stays");
	rmdir(other);
	ring_free(r);
	char copy[512];
	snprintf(copy, sizeof(copy), "%s", dir);
	spool_close(s);
	cr_assert_eq(stat(copy, &st), -1, "the directory is gone at close");
}

Test(spool, the_default_base_follows_xdg_then_home)
{
	char b[256];
	setenv("XDG_RUNTIME_DIR", "/run/user/1", 1);
	cr_assert_eq(spool_default_base(b, sizeof(b)), 0);
	cr_assert_str_eq(b, "/run/user/1/mitofs");
	unsetenv("XDG_RUNTIME_DIR");
	setenv("XDG_CACHE_HOME", "relative", 1); /* ignored, as XDG says */
	setenv("HOME", "/home/u", 1);
	cr_assert_eq(spool_default_base(b, sizeof(b)), 0);
	cr_assert_str_eq(b, "/home/u/.cache/mitofs");
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HOME");
	cr_assert_eq(spool_default_base(b, sizeof(b)), -ENOENT);
}
