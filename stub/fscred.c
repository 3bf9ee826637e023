/* fscred — per-caller credentials of the fs service (fscred.h). */
#include "fscred.h"

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "map.h"

/* What a caller asked for; bad: its last FS_SETCRED did not parse, so
 * its calls are refused (never let through as root) until one does. */
struct rec {
	struct fs_cred c;
	bool bad;
};

struct fscred {
	bool root;          /* euid 0: credentials can be changed */
	bool lost;          /* a FS_SETCRED found no memory: refuse callers without a record */
	struct map callers; /* caller id -> struct rec */
	struct fs_cred own; /* the stub's own (uid, gid, groups) */
	struct fs_cred cur; /* in force now */
	bool cur_known;     /* false after a failed change: set all again */
};

struct fscred *fscred_new(void)
{
	struct fscred *fc = calloc(1, sizeof(*fc));
	if (!fc)
		return NULL;
	map_init(&fc->callers);
	fc->root = geteuid() == 0;
	fc->own.uid = (uint32_t)geteuid();
	fc->own.gid = (uint32_t)getegid();
	int n = getgroups(0, NULL);
	if (n > 0) {
		gid_t *g = calloc((size_t)n, sizeof(*g));
		if (!g || (n = getgroups(n, g)) < 0) {
			free(g);
			n = 0;
		}
		fc->own.groups = (uint32_t *)g; /* gid_t is 32-bit on Linux */
		fc->own.n = (uint32_t)n;
	}
	fc->cur_known = fs_cred_copy(&fc->cur, &fc->own) == 0;
	return fc;
}

static void drop_caller(struct fscred *fc, uint32_t caller)
{
	struct rec *r = map_del(&fc->callers, caller);
	if (r) {
		fs_cred_free(&r->c);
		free(r);
	}
}

void fscred_free(struct fscred *fc)
{
	if (!fc)
		return;
	size_t pos = 0;
	uint64_t key;
	void *v;
	while (map_next(&fc->callers, &pos, &key, &v))
		drop_caller(fc, (uint32_t)key);
	map_free(&fc->callers);
	fs_cred_free(&fc->own);
	fs_cred_free(&fc->cur);
	free(fc);
}

int fscred_set(struct fscred *fc, uint32_t caller, struct fs_cred *c)
{
	if (!fc->root) {
		fs_cred_free(c);
		return 0;
	}
	struct rec *slot = map_get(&fc->callers, caller);
	if (!slot) {
		slot = calloc(1, sizeof(*slot));
		if (!slot || map_put(&fc->callers, caller, slot)) {
			free(slot);
			fs_cred_free(c);
			fc->lost = true; /* nowhere to say it: refuse all unknown callers */
			return -ENOMEM;
		}
	}
	fs_cred_free(&slot->c);
	slot->bad = !c;
	if (c) {
		slot->c = *c;
		memset(c, 0, sizeof(*c));
		fc->lost = false;
	}
	return 0;
}

/* Puts c in force, changing only what differs. The order matters: the
 * groups and fsgid first, while fsuid 0 still holds the capabilities
 * (setgroups needs CAP_SETGID, which fsuid does not drop, but keep it
 * simple), then fsuid, which drops the file capabilities when it leaves
 * 0 and brings them back when it returns. setfsuid answers with the old
 * value whatever happens, so each change is read back (-1 changes
 * nothing). */
static int apply(struct fscred *fc, const struct fs_cred *c)
{
	if (fc->cur_known && fs_cred_eq(&fc->cur, c))
		return 0;
	bool all = !fc->cur_known;
	fc->cur_known = false;
	if (all || fc->cur.n != c->n ||
	    (c->n && memcmp(fc->cur.groups, c->groups, c->n * sizeof(*c->groups))))
		if (syscall(SYS_setgroups, (size_t)c->n, c->groups) < 0)
			return -errno;
	if (all || fc->cur.gid != c->gid) {
		syscall(SYS_setfsgid, c->gid);
		if ((uint32_t)syscall(SYS_setfsgid, -1) != c->gid)
			return -EPERM;
	}
	if (all || fc->cur.uid != c->uid) {
		syscall(SYS_setfsuid, c->uid);
		if ((uint32_t)syscall(SYS_setfsuid, -1) != c->uid)
			return -EPERM;
	}
	fs_cred_free(&fc->cur);
	if (fs_cred_copy(&fc->cur, c))
		return 0; /* in force, only the cache is lost: cur_known stays false */
	fc->cur_known = true;
	return 0;
}

int fscred_enter(struct fscred *fc, uint32_t caller)
{
	if (!fc->root)
		return 0;
	const struct rec *r = map_get(&fc->callers, caller);
	if ((r && r->bad) || (!r && fc->lost))
		return -EPERM;
	const struct fs_cred *c = r ? &r->c : NULL;
	int rc = apply(fc, c ? c : &fc->own);
	if (rc)
		log_warn("fs: cannot take the credentials of caller %u (uid %u): %s", caller,
			 c ? c->uid : fc->own.uid, strerror(-rc));
	return rc;
}

int fscred_leave(struct fscred *fc)
{
	if (!fc->root)
		return 0;
	int rc = apply(fc, &fc->own);
	if (rc)
		log_warn("fs: cannot restore the stub's own credentials: %s", strerror(-rc));
	return rc;
}

void fscred_forget(struct fscred *fc, uint32_t caller)
{
	drop_caller(fc, caller);
}
