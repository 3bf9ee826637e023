/*
 * push — the daemon's half of `push SRC DST [mode=OCTAL]` (push.h).
 *
 * SRC is read whole on a worker thread that takes the writer's fsuid,
 * fsgid and groups first (setfsuid and setgroups as raw syscalls act on
 * that thread alone), so the daemon reads only what the writer may; a
 * relative SRC is taken from the writer's working directory. Its
 * SHA-256 names it. Then the targets are sorted by the context directly
 * below the root they are reached through, and each of those gets the
 * bytes once (core/push_send.c) with the list of targets below it; every
 * stub on the way does the same for its children (stub/svc_push.c).
 */
#include "push.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include "ctx.h"
#include "group_int.h"
#include "log.h"
#include "loop.h"
#include "push_send.h"
#include "router.h"
#include "sha256.h"
#include "worker.h"

#define PUSH_MAX_SIZE ((uint64_t)512 << 20) /* a stub's cache (stub/svc_push.h) */
#define PUSH_WINDOW 16                      /* PUSH_DATA pieces in flight per link */
#define REPORT_MAX 3072                     /* bytes of failures in a ctl's error */

struct ptarget {
	char *path;
	uint32_t id;          /* its context id when the push went out */
	int err;              /* 0, or -errno */
	char why[200];
	bool answered;
};

struct phop {
	struct push *p;
	uint32_t first;       /* the context below the root it is reached through */
	struct buf targets;   /* u32 depth, ids... for each of its targets */
	size_t *idx;          /* those targets, in order */
	uint32_t n;
	struct push_send *send;
};

struct push {
	struct daemon *d;
	struct ctl_batch *b;
	struct group *g;      /* held (busy), or NULL */
	struct ctx *c;        /* held (busy), or NULL */
	char *src, *dst;
	uint32_t mode;
	bool mode_given;
	struct caller who;
	/* filled by the worker */
	uint8_t *data;
	uint64_t size;
	uint8_t hash[SHA256_LEN];
	uint32_t *crc;        /* of each PUSH_CHUNK piece, made once */
	mode_t src_mode;
	int err;
	char why[300];
	/* the sends */
	struct ptarget *t;
	size_t nt;
	struct phop *hops;
	size_t nhops, left;
	uint64_t t0_us;
};

/* --- reading SRC with the writer's rights (on a worker thread) --- */

/* The supplementary groups of process pid, from /proc. */
static int groups_of(pid_t pid, gid_t *list, int max)
{
	char path[64], line[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int n = -ESRCH;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Groups:", 7))
			continue;
		n = 0;
		for (char *p = line + 7, *end; n < max; p = end) {
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			list[n++] = (gid_t)g;
		}
		break;
	}
	fclose(f);
	return n;
}

/* This thread takes the writer's file-system identity. 0 or -errno. */
static int become_writer(struct push *p)
{
	if (geteuid() != 0) {
		/* We can read as nobody but ourselves. */
		if (p->who.uid != geteuid()) {
			snprintf(p->why, sizeof(p->why), "the daemon runs as uid %u and cannot read "
				 "as uid %u", (unsigned)geteuid(), (unsigned)p->who.uid);
			return -EACCES;
		}
		return 0;
	}
	gid_t groups[256];
	int n = groups_of(p->who.pid, groups, 256);
	if (n < 0) {
		snprintf(p->why, sizeof(p->why), "cannot tell the writer's groups (pid %d gone?)",
			 (int)p->who.pid);
		return n;
	}
	/* Raw syscalls: glibc's wrappers would change every thread. */
	if (syscall(SYS_setgroups, n, groups) || syscall(SYS_setfsgid, p->who.gid) < 0 ||
	    syscall(SYS_setfsuid, p->who.uid) < 0) {
		int e = errno;
		snprintf(p->why, sizeof(p->why), "cannot take the writer's identity: %s", strerror(e));
		return -e;
	}
	/* setfsuid answers the old value, never an error: check it took. */
	if ((uid_t)syscall(SYS_setfsuid, -1) != p->who.uid ||
	    (gid_t)syscall(SYS_setfsgid, -1) != p->who.gid) {
		snprintf(p->why, sizeof(p->why), "cannot take the writer's identity");
		return -EPERM;
	}
	return 0;
}

static void read_work(void *arg)
{
	struct push *p = arg;
	int rc = become_writer(p);
	if (rc) {
		p->err = rc;
		return;
	}
	char path[PATH_MAX + 64];
	if (p->src[0] == '/')
		snprintf(path, sizeof(path), "%s", p->src);
	else
		snprintf(path, sizeof(path), "/proc/%d/cwd/%s", (int)p->who.pid, p->src);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		p->err = -errno;
		snprintf(p->why, sizeof(p->why), "%s: %s", p->src, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > PUSH_MAX_SIZE) {
		p->err = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		snprintf(p->why, sizeof(p->why), S_ISREG(st.st_mode)
			 ? "%s: larger than a push may be (512 MiB)" : "%s: not a regular file", p->src);
		close(fd);
		return;
	}
	p->src_mode = st.st_mode & 07777;
	p->size = (uint64_t)st.st_size;
	p->data = malloc(p->size ? p->size : 1);
	uint64_t got = 0;
	while (p->data && got < p->size) {
		ssize_t n = read(fd, p->data + got, p->size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			p->err = n < 0 ? -errno : -EIO;
			snprintf(p->why, sizeof(p->why), "%s: %s", p->src,
				 n < 0 ? strerror(errno) : "it shrank while being read");
			break;
		}
		got += (uint64_t)n;
	}
	if (!p->data) {
		p->err = -ENOMEM;
		snprintf(p->why, sizeof(p->why), "out of memory for %llu bytes",
			 (unsigned long long)p->size);
	}
	close(fd);
	if (p->err)
		return;
	sha256(p->data, p->size, p->hash);
	size_t pieces = (size_t)(p->size / PUSH_CHUNK) + 1;
	if (!(p->crc = malloc(pieces * sizeof(*p->crc)))) {
		p->err = -ENOMEM;
		snprintf(p->why, sizeof(p->why), "out of memory");
		return;
	}
	for (size_t i = 0; i < pieces; i++) {
		uint64_t off = (uint64_t)i * PUSH_CHUNK;
		size_t n = p->size - off < PUSH_CHUNK ? (size_t)(p->size - off) : PUSH_CHUNK;
		p->crc[i] = (uint32_t)crc32(0L, p->data + off, (uInt)n);
	}
}

/* --- sending --- */

static void push_free(struct push *p)
{
	for (size_t i = 0; i < p->nhops; i++) {
		push_send_cancel(p->hops[i].send);
		buf_free(&p->hops[i].targets);
		free(p->hops[i].idx);
	}
	free(p->hops);
	for (size_t i = 0; i < p->nt; i++)
		free(p->t[i].path);
	free(p->t);
	if (p->g)
		group_unbusy(p->g);
	if (p->c)
		ctx_unbusy(p->c);
	free(p->data);
	free(p->crc);
	free(p->src);
	free(p->dst);
	free(p);
}

/* Every target answered: the write's result, and every failure logged
 * and named in the ctl's error. */
static void finish(struct push *p)
{
	struct daemon *d = p->d;
	size_t failed = 0, first = p->nt;
	char report[REPORT_MAX];
	size_t off = 0;
	for (size_t i = 0; i < p->nt; i++) {
		struct ptarget *t = &p->t[i];
		if (!t->err)
			continue;
		if (!failed++)
			first = i;
		struct ctx *c = ctx_by_path(d, t->path);
		ctx_log(c ? c : &d->root, LOG_WARN, "push %s: %s", p->dst, t->why);
		if (off < sizeof(report) - 1) {
			int k = snprintf(report + off, sizeof(report) - off, "%s%s: %s",
					 off ? "; " : "", t->path, t->why);
			off = k < 0 ? off : off + (size_t)k;
			if (off >= sizeof(report))
				off = sizeof(report) - 1;
		}
	}
	ctx_log(&d->root, LOG_INFO, "push %s (%llu bytes) to %zu target%s: %zu failed, %llu us",
		p->dst, (unsigned long long)p->size, p->nt, p->nt == 1 ? "" : "s", failed,
		(unsigned long long)(loop_now_us() - p->t0_us));
	struct ctl_batch *b = p->b;
	if (!failed) {
		push_free(p);
		ctl_batch_done(b, 0, NULL);
		return;
	}
	char why[REPORT_MAX + 64];
	snprintf(why, sizeof(why), "%zu of %zu failed: %s", failed, p->nt, report);
	int rc = p->t[first].err;
	push_free(p);
	ctl_batch_done(b, rc, why);
}

static void target_result(struct push *p, size_t i, int err, const char *why)
{
	struct ptarget *t = &p->t[i];
	if (t->answered)
		return;
	t->answered = true;
	t->err = err;
	snprintf(t->why, sizeof(t->why), "%s", err ? (why && *why ? why : strerror(-err)) : "");
}

static void on_sent(void *arg, int err, const char *why, struct rd *body)
{
	struct phop *h = arg;
	struct push *p = h->p;
	h->send = NULL;
	uint32_t n = 0;
	if (!err && (rd_u32(body, &n) || n > h->n)) {
		err = -EIO;
		why = "malformed push results";
		ctx_protocol_error(p->d, h->first, "malformed push results");
	}
	for (uint32_t k = 0; !err && k < n; k++) {
		uint32_t id, e;
		const uint8_t *text;
		size_t tlen;
		if (rd_u32(body, &id) || rd_u32(body, &e) || rd_blob(body, &text, &tlen)) {
			err = -EIO;
			why = "malformed push results";
			ctx_protocol_error(p->d, h->first, "malformed push results");
			break;
		}
		char w[200];
		snprintf(w, sizeof(w), "%.*s", (int)(tlen < 199 ? tlen : 199), (const char *)text);
		for (uint32_t j = 0; j < h->n; j++)
			if (p->t[h->idx[j]].id == id)
				target_result(p, h->idx[j], e ? -proto_errno(e) : 0, w);
	}
	/* Whoever did not answer: the whole hop's reason, or "no answer". */
	for (uint32_t j = 0; j < h->n; j++)
		target_result(p, h->idx[j], err ? err : -EIO, err ? why : "no answer for this target");
	if (--p->left == 0)
		finish(p);
}

static int read_mem(void *src, uint64_t off, void *buf, size_t n, uint32_t *crc)
{
	struct push *p = src;
	memcpy(buf, p->data + off, n);
	*crc = off % PUSH_CHUNK == 0 && (n == PUSH_CHUNK || off + n == p->size)
		       ? p->crc[off / PUSH_CHUNK] : (uint32_t)crc32(0L, p->data + off, (uInt)n);
	p->d->push_bytes += n; /* what crossed our links (stats) */
	return 0;
}

static struct phop *hop_for(struct push *p, uint32_t first)
{
	for (size_t i = 0; i < p->nhops; i++)
		if (p->hops[i].first == first)
			return &p->hops[i];
	struct phop *h = &p->hops[p->nhops++];
	h->p = p;
	h->first = first;
	buf_init(&h->targets);
	return h;
}

/* Sorts the targets by the link they go through and sends. */
static void send_all(struct push *p)
{
	struct daemon *d = p->d;
	if (!(p->hops = calloc(p->nt ? p->nt : 1, sizeof(*p->hops)))) {
		for (size_t i = 0; i < p->nt; i++)
			target_result(p, i, -ENOMEM, "out of memory");
		finish(p);
		return;
	}
	for (size_t i = 0; i < p->nt; i++) {
		struct ctx *c = ctx_by_path(d, p->t[i].path);
		if (!c || c->state != CTX_CONNECTED) {
			target_result(p, i, -EIO, !c ? "no such context any more"
				      : c->state == CTX_CONNECTING ? "context is connecting"
								   : "context is disconnected");
			continue;
		}
		uint32_t ids[ROUTER_MAX_DEPTH + 1];
		int depth = 0;
		for (struct ctx *k = c; k != &d->root && depth <= ROUTER_MAX_DEPTH; k = k->parent)
			ids[depth++] = k->id;
		struct phop *h = hop_for(p, ids[depth - 1]);
		size_t *idx = realloc(h->idx, (h->n + 1) * sizeof(*idx));
		int rc = idx ? 0 : -ENOMEM;
		if (idx)
			h->idx = idx;
		/* The path below the first context, top down. */
		rc = rc ? rc : buf_put_u32(&h->targets, (uint32_t)depth - 1);
		for (int k = depth - 2; !rc && k >= 0; k--)
			rc = buf_put_u32(&h->targets, ids[k]);
		if (rc) {
			target_result(p, i, rc, "out of memory");
			continue;
		}
		p->t[i].id = c->id;
		h->idx[h->n++] = i;
	}
	p->left = 1; /* ours, until every hop started */
	for (size_t i = 0; i < p->nhops; i++) {
		struct phop *h = &p->hops[i];
		if (!h->n)
			continue;
		struct buf put;
		buf_init(&put);
		int rc = buf_put_u32(&put, p->mode);
		rc = rc ? rc : buf_put_str(&put, p->dst);
		rc = rc ? rc : buf_put_u32(&put, h->n);
		rc = rc ? rc : buf_put_bytes(&put, h->targets.data, h->targets.len);
		struct push_send_args a = {
			.r = d->router, .peer = h->first, .hash = p->hash, .size = p->size,
			.read = read_mem, .src = p, .put = put.data, .put_len = put.len,
			.window = PUSH_WINDOW, .done = on_sent, .arg = h,
		};
		h->send = rc ? NULL : push_send_start(&a);
		if (!rc && !h->send)
			rc = -errno;
		buf_free(&put);
		if (rc) {
			for (uint32_t j = 0; j < h->n; j++)
				target_result(p, h->idx[j], rc, "cannot send");
			continue;
		}
		p->left++;
	}
	if (--p->left == 0)
		finish(p);
}

static void read_done(void *arg)
{
	struct push *p = arg;
	if (p->err) {
		struct ctl_batch *b = p->b;
		char why[sizeof(p->why)];
		int rc = p->err;
		snprintf(why, sizeof(why), "%s", p->why[0] ? p->why : strerror(-rc));
		push_free(p);
		ctl_batch_done(b, rc, why);
		return;
	}
	if (!p->mode_given)
		p->mode = p->src_mode;
	send_all(p);
}

/* --- the verb --- */

static struct push *push_new(struct ctx *root, const struct ctl_line *l, struct ctl_batch *b,
			     char *err, size_t errlen)
{
	if (l->nwords != 2 || (l->nopts && (l->nopts > 1 || strcmp(l->opts[0].key, "mode")))) {
		snprintf(err, errlen, "usage: push SRC DST [mode=OCTAL] (SRC a file here, DST an "
			 "absolute path on each target)");
		return NULL;
	}
	const char *dst = l->words[1];
	if (dst[0] != '/' || dst[strlen(dst) - 1] == '/' || strlen(dst) >= PATH_MAX) {
		snprintf(err, errlen, "push: DST must be an absolute path to a file, not '%.200s'", dst);
		return NULL;
	}
	const char *m = ctl_opt(l, "mode");
	char *end = NULL;
	unsigned long mode = m ? strtoul(m, &end, 8) : 0;
	if (m && (!*m || *end || mode > 07777)) {
		snprintf(err, errlen, "push: mode=%s is not an octal mode (0-7777)", m);
		return NULL;
	}
	struct push *p = calloc(1, sizeof(*p));
	if (!p || !(p->src = strdup(l->words[0])) || !(p->dst = strdup(dst))) {
		if (p)
			free(p->src);
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->d = root->d;
	p->b = b;
	p->mode = (uint32_t)mode;
	p->mode_given = m != NULL;
	p->who = b->who;
	p->t0_us = loop_now_us();
	return p;
}

/* Reads SRC on a worker; the rest follows in read_done. */
static int push_go(struct push *p, char *err, size_t errlen)
{
	int rc = worker_run(&p->d->workers, read_work, read_done, p);
	if (rc) {
		snprintf(err, errlen, "push: cannot start reading: %s", strerror(-rc));
		push_free(p);
		return rc;
	}
	return 1;
}

int push_ctx(struct ctx *c, const struct ctl_line *l, struct ctl_batch *b,
	     char *err, size_t errlen)
{
	struct daemon *d = c->d;
	if (c == &d->root) {
		snprintf(err, errlen, "push is a verb of a context's or a group's ctl");
		return -EINVAL;
	}
	struct push *p = push_new(&d->root, l, b, err, errlen);
	if (!p)
		return err[0] == 'o' ? -ENOMEM : -EINVAL;
	if (!(p->t = calloc(1, sizeof(*p->t))) || !(p->t[0].path = strdup(c->path))) {
		push_free(p);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->nt = 1;
	p->c = c;
	c->busy++;
	return push_go(p, err, errlen);
}

int push_group(struct group *g, const struct ctl_line *l, struct ctl_batch *b,
	       char *err, size_t errlen)
{
	struct push *p = push_new(&g->d->root, l, b, err, errlen);
	if (!p)
		return err[0] == 'o' ? -ENOMEM : -EINVAL;
	char **paths = NULL;
	size_t n = 0;
	int rc = group_resolve(g, &paths, &n);
	if (!rc && n == 0) {
		snprintf(err, errlen, g->npats ? "no context matches the group's members"
					       : "the group has no members: write paths or patterns to members");
		rc = -ENOENT;
	}
	if (!rc && !(p->t = calloc(n, sizeof(*p->t))))
		rc = -ENOMEM;
	if (rc) {
		group_free_paths(paths, n);
		push_free(p);
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		p->t[i].path = paths[i];
	free(paths);
	p->nt = n;
	p->g = g;
	g->busy++;
	return push_go(p, err, errlen);
}
