/*
 * readahead — the mount's read-ahead window (readahead.h): find the
 * mount's device number in /proc/self/mountinfo, write the window to
 * that device's sysfs file.
 */
#include "readahead.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

/* "MAJ:MIN" of the last fuse.mitofs mount on mnt (the newest one, if
 * something was mounted over an older mount there). */
static int mount_devno(const char *mnt, char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t n = 0;
	int rc = -ENOENT;
	while (getline(&line, &n, f) > 0) {
		/* id parent MAJ:MIN root mountpoint opts ... - fstype source ... */
		char dev[32], where[4096];
		if (sscanf(line, "%*s %*s %31s %*s %4095s", dev, where) != 2)
			continue;
		const char *sep = strstr(line, " - ");
		if (!sep || strncmp(sep, " - fuse.mitofs ", 15))
			continue;
		unescape(where);
		if (!strcmp(where, mnt) && strlen(dev) < cap) {
			strcpy(out, dev);
			rc = 0;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

int readahead_set(const char *mnt, size_t bytes)
{
	char dev[32], path[96], val[32];
	int rc = mount_devno(mnt, dev, sizeof(dev));
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	int len = snprintf(val, sizeof(val), "%zu\n", bytes >> 10);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = write(fd, val, (size_t)len) == len ? 0 : -errno;
	close(fd);
	return rc;
}
