/*
 * private_home — included by unit tests that boot stubs: the first stage
 * caches stubs under $HOME/.cache/mitofs, so these tests get a HOME of
 * their own (removed at exit) and never touch the real user's cache.
 */
#ifndef MITOFS_TEST_PRIVATE_HOME_H
#define MITOFS_TEST_PRIVATE_HOME_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char private_home[] = "/tmp/mitofs-unit-home.XXXXXX";
static pid_t private_home_owner;

__attribute__((constructor)) static void private_home_make(void)
{
	if (!mkdtemp(private_home))
		return;
	setenv("HOME", private_home, 1);
	unsetenv("XDG_RUNTIME_DIR");
	private_home_owner = getpid();
}

__attribute__((destructor)) static void private_home_remove(void)
{
	/* Criterion's workers are forks: only the process that made it. */
	if (getpid() != private_home_owner)
		return;
	char cmd[sizeof(private_home) + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", private_home);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", private_home);
}

#endif
