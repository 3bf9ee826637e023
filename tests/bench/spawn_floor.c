/*
 * spawn_floor — the floors the fleet rows of tests/bench/fleet.sh are set
 * against, measured in the same run.
 *
 *   spawn_floor COUNT         COUNT posix_spawn()s of `sh -c true`, one
 *                             after another, each waited for: a context
 *                             costs at least that much (its first stage
 *                             is an `sh -c`), so a thousand contexts
 *                             cannot come up in less on this machine
 *   spawn_floor -p COUNT PROG COUNT posix_spawn()s of PROG (stdout to
 *                             /dev/null) all started at once, then all
 *                             waited for: running PROG on COUNT members
 *                             cannot take less, whatever gathers it
 *
 *   cc -O2 -o spawn_floor spawn_floor.c && ./spawn_floor 1000
 * Prints the total in microseconds (-p: and the children's CPU time in
 * microseconds, user + system).
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static long long us_since(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (long long)(b.tv_sec - a->tv_sec) * 1000000LL + (b.tv_nsec - a->tv_nsec) / 1000;
}

static int parallel(int count, char *prog)
{
	char *args[] = { prog, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	struct timespec a;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < count; i++) {
		pid_t pid;
		if (posix_spawnp(&pid, prog, &fa, NULL, args, environ)) {
			perror("spawn_floor");
			return 1;
		}
	}
	for (int i = 0; i < count; i++) {
		int st;
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "spawn_floor: %s failed\n", prog);
			return 1;
		}
	}
	long long wall = us_since(&a);
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	long long cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
			ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	printf("%lld %lld\n", wall, cpu);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "-p"))
		return parallel(atoi(argv[2]), argv[3]);
	int count = argc > 1 ? atoi(argv[1]) : 1000;
	char *args[] = { "sh", "-c", "true", NULL };
	struct timespec a;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < count; i++) {
		pid_t pid;
		int st;
		if (posix_spawn(&pid, "/bin/sh", NULL, NULL, args, environ) ||
		    waitpid(pid, &st, 0) != pid) {
			perror("spawn_floor");
			return 1;
		}
	}
	printf("%lld\n", us_since(&a));
	return 0;
}
