/* guard — kills the jobs of a stub that died without doing it (guard.h). */
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "buf.h"

#define GUARD_MAX 4096

void guard_run(void)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	pid_t *groups = calloc(GUARD_MAX, sizeof(*groups));
	size_t n = 0;
	uint8_t msg[5];
	size_t have = 0;
	for (;;) {
		ssize_t r = read(0, msg + have, sizeof(msg) - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* the stub is gone */
		have += (size_t)r;
		if (have < sizeof(msg))
			continue;
		have = 0;
		pid_t g = (pid_t)be32_get(msg + 1);
		if (!groups || g <= 1)
			continue;
		if (msg[0] == '+' && n < GUARD_MAX) {
			groups[n++] = g;
		} else if (msg[0] == '-') {
			for (size_t i = 0; i < n; i++)
				if (groups[i] == g) {
					groups[i] = groups[--n];
					break;
				}
		}
	}
	for (size_t i = 0; i < n; i++)
		kill(-groups[i], SIGKILL);
	_exit(0);
}

int guard_start(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid == 0) {
		/* Nothing of the stub's but the pipe: above all not fd 1, the
		 * stream to the parent, whose EOF must mean the stub is gone. */
		int null = open("/dev/null", O_RDWR);
		if (dup2(p[0], 0) < 0 || null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		boot_child_prepare(); /* default signals, fds from 3 closed */
		/* Run as a program of its own name (mitofs-guard:NAME), so that
		 * ps tells it from the stub and a count of stubs stays true. */
		char arg0[300] = GUARD_ARGV0, self[256] = "";
		int fd = open("/proc/self/cmdline", O_RDONLY);
		if (fd >= 0) {
			ssize_t r = read(fd, self, sizeof(self) - 1);
			self[r > 0 ? r : 0] = 0;
			close(fd);
		}
		const char *name = strchr(self, ':');
		if (name)
			snprintf(arg0, sizeof(arg0), GUARD_ARGV0 "%s", name + 1);
		char *argv[] = { arg0, NULL };
		execv("/proc/self/exe", argv);
		guard_run(); /* no /proc: go on as a fork */
	}
	close(p[0]);
	return p[1];
}

static int say(int fd, char op, pid_t pgid)
{
	uint8_t msg[5] = { (uint8_t)op };
	be32_put(msg + 1, (uint32_t)pgid);
	ssize_t w = write(fd, msg, sizeof(msg));
	return w == (ssize_t)sizeof(msg) ? 0 : w < 0 ? -errno : -EIO;
}

int guard_add(int fd, pid_t pgid) { return say(fd, '+', pgid); }
int guard_del(int fd, pid_t pgid) { return say(fd, '-', pgid); }
