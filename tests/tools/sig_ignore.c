/*
 * sig_ignore — a test tool: runs a program with some signals ignored,
 * as a careless parent (a CI runner, a service manager) may leave them.
 *
 *   sig_ignore SIGNO[,SIGNO...] PROGRAM [ARG...]
 *
 * An ignored signal is inherited across exec, so the daemon and every
 * child it starts inherit them unless they reset them. It uses the raw
 * system call because libc refuses the signals it keeps for itself
 * (glibc's 32 and 33), and those are exactly the ones a reset through
 * libc misses. Used by tests/integration/t_fault.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel's struct sigaction (x86_64 and aarch64 alike). */
struct kernel_sigaction {
	unsigned long handler, flags, restorer, mask;
};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: sig_ignore SIGNO[,SIGNO...] PROGRAM [ARG...]\n");
		return 2;
	}
	for (char *s = argv[1], *end; *s; s = end + (*end == ',')) {
		long sig = strtol(s, &end, 10);
		struct kernel_sigaction ign = { 1 /* SIG_IGN */, 0, 0, 0 };
		if (end == s || sig < 1 || sig > 64 ||
		    syscall(SYS_rt_sigaction, (int)sig, &ign, NULL, sizeof(ign.mask)) != 0) {
			fprintf(stderr, "sig_ignore: cannot ignore signal '%s'\n", s);
			return 2;
		}
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "sig_ignore: %s: %s\n", argv[2], strerror(errno));
	return 127;
}
