/*
 * machine.c — what one page fault and one posix_spawn cost on this
 * machine, for the header of the bench's table (tests/bench/run.sh
 * builds it with gcc and runs it once). Not a test of mitofs: the floor
 * its rows stand on. On a guest where an idle vCPU halts at once, each
 * of these is a trip through the hypervisor, and the fs rows move with
 * them.
 *
 *   gcc -O2 -o machine tests/bench/machine.c && ./machine
 *
 * Prints "KEY VALUE" lines (the bench's sample format):
 *   machine.pagefault_ns  median over 5 runs of the time per first touch
 *                         of a 4 KiB page of fresh anonymous memory
 *                         (64 MiB, transparent huge pages off for it)
 *   machine.spawn_us      median over 100 of posix_spawnp("true") and
 *                         its waitpid
 * Exits 1 with a reason on stderr when one cannot be measured.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define FAULT_BYTES (64u << 20)
#define FAULT_RUNS 5
#define SPAWN_RUNS 100

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static long minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* ns per fault of one run; 0 when the faults were not one per page. */
static uint64_t fault_run(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *p = mmap(NULL, FAULT_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "machine: mmap: %s\n", strerror(errno));
		return 0;
	}
	(void)madvise(p, FAULT_BYTES, MADV_NOHUGEPAGE);
	size_t pages = FAULT_BYTES / (size_t)page;
	long f0 = minflt();
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < pages; i++)
		p[i * (size_t)page] = 1;
	uint64_t t1 = now_ns();
	long faults = minflt() - f0;
	munmap(p, FAULT_BYTES);
	if (faults < (long)pages * 9 / 10) {
		fprintf(stderr, "machine: %ld faults for %zu pages (huge pages?)\n", faults, pages);
		return 0;
	}
	return (t1 - t0) / (uint64_t)faults;
}

static uint64_t spawn_run(void)
{
	char *argv[] = { "true", NULL };
	pid_t pid;
	uint64_t t0 = now_ns();
	int rc = posix_spawnp(&pid, "true", NULL, NULL, argv, environ);
	if (rc) {
		fprintf(stderr, "machine: posix_spawnp(true): %s\n", strerror(rc));
		return 0;
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "machine: true did not exit 0\n");
		return 0;
	}
	return now_ns() - t0;
}

int main(void)
{
	uint64_t f[FAULT_RUNS], s[SPAWN_RUNS];
	for (int i = 0; i < FAULT_RUNS; i++)
		if (!(f[i] = fault_run()))
			return 1;
	for (int i = 0; i < SPAWN_RUNS; i++)
		if (!(s[i] = spawn_run()))
			return 1;
	qsort(f, FAULT_RUNS, sizeof(f[0]), cmp_u64);
	qsort(s, SPAWN_RUNS, sizeof(s[0]), cmp_u64);
	printf("machine.pagefault_ns %llu\n", (unsigned long long)f[FAULT_RUNS / 2]);
	printf("machine.spawn_us %.1f\n", (double)s[SPAWN_RUNS / 2] / 1000.0);
	return 0;
}
