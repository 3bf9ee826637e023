/*
 * remotefs_cred — whose rights an fs/ call acts with: the caller's
 * (fsuid, fsgid, supplementary groups, as FUSE and /proc give them) on a
 * context whose stub runs as root, when the mount forwards credentials
 * (-o creds=caller; the default with allow_other or when root mounts).
 *
 * The stub keeps the last credentials each caller gave (FS_SETCRED) and
 * acts with them until the next (stub/fscred.c); messages to a context
 * arrive in order, so a FS_SETCRED sent just before a call is in force
 * for it. One is sent only when the caller differs from the last one
 * sent to that context: a stream of calls by one user adds no message.
 * Group lists are read from /proc (fuse_req_getgroups) once a second at
 * most per process.
 * Not for: the permission checks themselves (the target's kernel makes
 * them, and the local kernel's default_permissions with allow_other),
 * nor calls on open handles (read, write: checked at open, as POSIX).
 */
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "log.h"
#include "loop.h"
#include "proto.h"
#include "remotefs_int.h"
#include "router.h"

/* A caller's group list is read again after this long. */
#define GROUPS_TTL_US 1000000

/* What was last sent to one context, and whether it runs as root. */
struct ctxcred {
	bool root;
	bool sent;
	struct fs_cred last;
};

static struct ctxcred *ctxcred_of(struct remotefs *rf, struct ctx *c)
{
	struct ctxcred *x = map_get(&rf->ctxcred, c->id);
	if (x)
		return x;
	if (!(x = calloc(1, sizeof(*x))))
		return NULL;
	if (map_put(&rf->ctxcred, c->id, x)) {
		free(x);
		return NULL;
	}
	/* The stub's uid as sys info gave it at connect (it cannot change). */
	const char *uid = proto_kv_get(c->info, c->ninfo, "uid");
	x->root = uid && !strcmp(uid, "0");
	return x;
}

/* The caller's groups into out (uid and gid set already). A caller whose
 * groups cannot be read (gone, or in another pid namespace: pid 0) acts
 * with none: fewer rights than its own, never more. */
static int groups_of(struct remotefs *rf, fuse_req_t req, pid_t pid, struct fs_cred *out)
{
	uint64_t now = loop_now_us();
	struct rgroups *s = &rf->groups[(unsigned)pid % RFS_GROUP_SLOTS];
	if (pid && s->pid == pid && s->c.uid == out->uid && s->c.gid == out->gid &&
	    now - s->at_us < GROUPS_TTL_US)
		return fs_cred_copy(out, &s->c);
	gid_t small[64], *g = small;
	int n = pid ? fuse_req_getgroups(req, 64, small) : -ESRCH;
	if (n > 64 && n <= FS_CRED_MAX_GROUPS && (g = calloc((size_t)n, sizeof(*g)))) {
		int m = fuse_req_getgroups(req, n, g);
		n = m < n ? m : n;
	} else if (n > 64) {
		g = small;
		n = -ENOMEM;
	}
	if (n < 0) {
		log_debug("fs: groups of pid %d: %s; it acts with none", (int)pid, strerror(-n));
		n = 0;
	}
	int rc = 0;
	out->n = (uint32_t)n;
	out->groups = NULL;
	if (n && !(out->groups = malloc((size_t)n * sizeof(*out->groups))))
		rc = -ENOMEM;
	for (int i = 0; !rc && i < n; i++)
		out->groups[i] = (uint32_t)g[i];
	if (g != small)
		free(g);
	if (rc) {
		out->n = 0;
		return rc;
	}
	if (pid) {
		fs_cred_free(&s->c);
		if (!fs_cred_copy(&s->c, out)) {
			s->pid = pid;
			s->at_us = now;
		} else {
			s->pid = 0;
		}
	}
	return 0;
}

int remotefs_cred_take(struct remotefs *rf, fuse_req_t req, struct ctx *c, struct fs_cred *out)
{
	memset(out, 0, sizeof(*out));
	if (!rf->d->creds_forward || !c)
		return 0;
	struct ctxcred *x = ctxcred_of(rf, c);
	if (!x)
		return -ENOMEM;
	if (!x->root)
		return 0;
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	out->uid = (uint32_t)fc->uid;
	out->gid = (uint32_t)fc->gid;
	int rc = groups_of(rf, req, fc->pid, out);
	return rc ? rc : 1;
}

int remotefs_cred_send(struct remotefs *rf, struct ctx *c, const struct fs_cred *cr)
{
	struct ctxcred *x = ctxcred_of(rf, c);
	if (!x)
		return -ENOMEM;
	if (x->sent && fs_cred_eq(&x->last, cr))
		return 0;
	struct buf b;
	buf_init(&b);
	int rc = proto_call_begin(&b, SVC_FS, FS_SETCRED);
	rc = rc ? rc : fs_cred_put(&b, cr);
	rc = rc ? rc : router_send_to(rf->d->router, c->id, HANDLE_CALL_SERVICE, 0, b.data, b.len);
	buf_free(&b);
	fs_cred_free(&x->last);
	x->sent = false;
	if (rc)
		return rc;
	/* Without the copy the next call sends the same again: no harm. */
	x->sent = fs_cred_copy(&x->last, cr) == 0;
	return 0;
}

void remotefs_cred_ctx_gone(struct remotefs *rf, uint32_t id)
{
	struct ctxcred *x = map_del(&rf->ctxcred, id);
	if (x) {
		fs_cred_free(&x->last);
		free(x);
	}
}

void remotefs_cred_free(struct remotefs *rf)
{
	size_t pos = 0;
	uint64_t key;
	void *v;
	while (map_next(&rf->ctxcred, &pos, &key, &v))
		remotefs_cred_ctx_gone(rf, (uint32_t)key);
	map_free(&rf->ctxcred);
	for (size_t i = 0; i < RFS_GROUP_SLOTS; i++)
		fs_cred_free(&rf->groups[i].c);
}
