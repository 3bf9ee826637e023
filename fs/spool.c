/* spool — the mount's private file of spilled job output (spool.h). */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The per-mount directory's name: spool.PID.XXXXXX (mkdtemp's). */
#define DIR_PREFIX "spool."
/* The file's name where O_TMPFILE is not supported (unlinked at once). */
#define FALLBACK_NAME "out"
/* Blocks given back that keep their space for reuse (spool_trim). */
#define SPOOL_WARM 64

struct spool {
	int fd;
	char *dir;
	uint64_t budget, used;
	uint64_t mem;
	size_t mem_max;
	uint32_t *free;      /* blocks given back, reused first */
	size_t nfree, afree;
	uint32_t next;       /* blocks handed out so far (the file's extent) */
	uint8_t *warm;       /* per block: given back without punching its hole */
	size_t nwarm;
};

int spool_default_base(char *buf, size_t len)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	const char *cache = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;
	/* The XDG specification says relative paths are to be ignored. */
	if (run && run[0] == '/')
		n = snprintf(buf, len, "%s/mitofs", run);
	else if (cache && cache[0] == '/')
		n = snprintf(buf, len, "%s/mitofs", cache);
	else if (home && home[0] == '/')
		n = snprintf(buf, len, "%s/.cache/mitofs", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* mkdir base 0700, and its parent first if that is missing too. */
static int make_base(const char *base)
{
	if (mkdir(base, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	char *parent = strdup(base);
	if (!parent)
		return -ENOMEM;
	char *slash = strrchr(parent, '/');
	int rc = 0;
	if (slash && slash != parent) {
		*slash = 0;
		if (mkdir(parent, 0700) && errno != EEXIST)
			rc = -errno;
	}
	free(parent);
	if (!rc && mkdir(base, 0700) && errno != EEXIST)
		rc = -errno;
	return rc;
}

/* Whether pid is a process that has not ended: a zombie has (its parent
 * may be slow to reap it, as an init that is not one). */
static bool pid_runs(pid_t pid)
{
	if (kill(pid, 0) && errno == ESRCH)
		return false;
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return true; /* no /proc: take kill's word */
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *st = strrchr(buf, ')');
	return !st || (st[1] != ' ' || (st[2] != 'Z' && st[2] != 'X'));
}

/* Removes the per-mount directories of daemons that no longer run (one
 * killed cannot remove its own); their files went with them. Only ours
 * (same uid), only empty ones but for the fallback name. Best effort. */
static void remove_stale(const char *base)
{
	DIR *dp = opendir(base);
	if (!dp)
		return;
	int bfd = dirfd(dp);
	struct dirent *e;
	while ((e = readdir(dp))) {
		if (strncmp(e->d_name, DIR_PREFIX, strlen(DIR_PREFIX)))
			continue;
		char *end;
		long pid = strtol(e->d_name + strlen(DIR_PREFIX), &end, 10);
		struct stat st;
		if (*end != '.' || pid <= 0 || pid == getpid() ||
		    fstatat(bfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode) ||
		    st.st_uid != geteuid())
			continue;
		if (pid_runs((pid_t)pid))
			continue;
		char sub[512];
		if (snprintf(sub, sizeof(sub), "%s/" FALLBACK_NAME, e->d_name) < (int)sizeof(sub))
			unlinkat(bfd, sub, 0);
		unlinkat(bfd, e->d_name, AT_REMOVEDIR);
	}
	closedir(dp);
}

/* An unnamed file in dir: O_TMPFILE, else a name unlinked at once. */
static int open_unnamed(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : -errno;
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/" FALLBACK_NAME, dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (unlink(path)) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

struct spool *spool_open(const char *base, uint64_t budget, size_t mem_max, char *err,
			 size_t errlen)
{
	struct spool *s = calloc(1, sizeof(*s));
	char tmpl[4096];
	int rc = s ? 0 : -ENOMEM;
	const char *what = "";
	if (!rc && snprintf(tmpl, sizeof(tmpl), "%s/" DIR_PREFIX "%d.XXXXXX", base,
			    (int)getpid()) >= (int)sizeof(tmpl))
		rc = -ENAMETOOLONG;
	if (!rc && (rc = make_base(base)))
		what = base;
	if (!rc) {
		remove_stale(base);
		if (!mkdtemp(tmpl)) {
			rc = -errno;
			what = base;
		}
	}
	if (!rc && !(s->dir = strdup(tmpl)))
		rc = -ENOMEM;
	if (!rc && (s->fd = open_unnamed(tmpl)) < 0) {
		rc = s->fd;
		what = tmpl;
	}
	if (rc) {
		snprintf(err, errlen, "spool %s: %s", what[0] ? what : base, strerror(-rc));
		if (s && s->dir)
			rmdir(s->dir);
		if (s)
			free(s->dir);
		free(s);
		errno = -rc;
		return NULL;
	}
	s->budget = budget;
	s->mem_max = mem_max;
	return s;
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	close(s->fd);
	rmdir(s->dir);
	free(s->dir);
	free(s->free);
	free(s->warm);
	free(s);
}

const char *spool_dir(const struct spool *s)
{
	return s->dir;
}

void spool_mem_add(struct spool *s, ssize_t delta)
{
	s->mem += (uint64_t)(int64_t)delta;
}

bool spool_mem_full(const struct spool *s)
{
	return s->mem >= s->mem_max;
}

int spool_block_new(struct spool *s, uint32_t *blk)
{
	if (s->nfree) {
		*blk = s->free[--s->nfree];
		if (s->warm[*blk]) {
			s->warm[*blk] = 0;
			s->nwarm--;
		}
		return 0;
	}
	if (s->next == UINT32_MAX)
		return -ENOMEM;
	/* Room for it in the free list now, so that giving it back never
	 * needs memory. */
	if (s->afree <= s->next) {
		size_t na = s->afree ? s->afree * 2 : 64;
		uint32_t *nf = realloc(s->free, na * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		s->free = nf;
		uint8_t *nw = realloc(s->warm, na);
		if (!nw)
			return -ENOMEM;
		memset(nw + s->afree, 0, na - s->afree);
		s->warm = nw;
		s->afree = na;
	}
	*blk = s->next++;
	return 0;
}

static off_t block_pos(uint32_t blk, size_t at)
{
	return (off_t)blk * SPOOL_BLOCK + (off_t)at;
}

/* Frees blk's space. Where holes cannot be punched (an old file
 * system) the block keeps it, and the next stream that takes it reuses
 * it. */
static void punch(struct spool *s, uint32_t blk)
{
	fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, block_pos(blk, 0),
		  SPOOL_BLOCK);
}

void spool_trim(struct spool *s)
{
	for (size_t i = 0; i < s->nfree && s->nwarm; i++) {
		uint32_t blk = s->free[i];
		if (s->warm[blk]) {
			punch(s, blk);
			s->warm[blk] = 0;
			s->nwarm--;
		}
	}
}

void spool_block_free(struct spool *s, uint32_t blk, size_t used)
{
	s->used -= used;
	if (used && s->nwarm < SPOOL_WARM) {
		/* Kept with its pages: the next stream overwrites them, which
		 * costs the file system much less than new ones. */
		s->warm[blk] = 1;
		s->nwarm++;
	} else if (used) {
		punch(s, blk);
	}
	s->free[s->nfree++] = blk;
}

ssize_t spool_write(struct spool *s, uint32_t blk, size_t at, const void *p, size_t n)
{
	if (s->used >= s->budget)
		return -EDQUOT;
	if (n > s->budget - s->used)
		n = (size_t)(s->budget - s->used);
	size_t done = 0;
	while (done < n) {
		ssize_t k = pwrite(s->fd, (const char *)p + done, n - done, block_pos(blk, at + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (done)
				break;
			return k < 0 ? -errno : -EIO;
		}
		done += (size_t)k;
	}
	s->used += done;
	return (ssize_t)done;
}

int spool_read(const struct spool *s, uint32_t blk, size_t at, void *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = pread(s->fd, (char *)p + done, n - done, block_pos(blk, at + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		done += (size_t)k;
	}
	return 0;
}

uint64_t spool_budget(const struct spool *s) { return s->budget; }
uint64_t spool_used(const struct spool *s) { return s->used; }
uint64_t spool_mem(const struct spool *s) { return s->mem; }
