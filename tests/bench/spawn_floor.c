/*
 * spawn_floor — the floor the fleet rows of tests/bench/fleet.sh are set
 * against: COUNT posix_spawn()s of `sh -c true`, one after another, each
 * waited for, in a tiny C program. A context costs at least that much (its
 * first stage is an `sh -c`), so a thousand contexts cannot come up in
 * less on this machine, whatever the machine's exec costs.
 *
 *   cc -O2 -o spawn_floor spawn_floor.c && ./spawn_floor 1000
 * Prints the total in microseconds.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 1000;
	char *args[] = { "sh", "-c", "true", NULL };
	struct timespec a, b;
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
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%lld\n", (long long)((b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000));
	return 0;
}
