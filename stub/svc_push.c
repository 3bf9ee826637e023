/*
 * svc_push — cache, local puts and passing on (svc_push.h).
 *
 * The cache keeps each content in an anonymous memory file (memfd, else
 * an O_TMPFILE in $TMPDIR, /var/tmp or /tmp): nothing is left behind when
 * the stub goes, and nothing is mapped, so it is not in our RSS. A whole
 * memfd is sealed, and a child on this machine keeps the same file
 * (PUSH_LINK) instead of a copy: 1000 members of 10 parents then hold
 * 10 copies of the content, not 1010, and write DST from those pages. Entries
 * are dropped oldest-used first to stay under SVC_PUSH_CACHE_MAX; an
 * entry a PUT is using stays.
 */
#include "svc_push.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"
#include "proto.h"
#include "push_send.h"
#include "router.h"
#include "sha256.h"
#include "svc.h"

#define PASS_ON_MAX 16 /* sends to children at once, over every PUT */
#define PASS_WINDOW 16 /* PUSH_DATA pieces in flight per child */
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U /* linux/memfd.h of 6.3 */
#endif
/* What makes a memory file unchangeable, for PUSH_LINK. */
#define LINK_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

struct entry {
	uint8_t hash[SHA256_LEN];
	uint64_t size, filled;
	int fd;
	bool whole;
	bool sealed;          /* fd can never change: a local child may share it */
	uint64_t used;        /* when last asked for (a tick) */
	int pins;             /* PUTs using it */
	uint32_t *crc;        /* of each PUSH_CHUNK piece as received (0 with ok 0) */
	uint8_t *crc_ok;      /* whether crc[i] is that of our piece i */
	struct entry *next;
};

struct put;

/* The targets of one PUT that are below one child. */
struct hop {
	struct put *p;
	uint32_t child;
	struct buf body;      /* PUSH_PUT fields for the child: mode, dst, n, targets */
	uint32_t *leaf;       /* each target's id, for a failure of the whole hop */
	uint32_t n;
	struct push_send *send;
	struct hop *qnext;    /* waiting for a slot */
	bool queued;
	bool slot;            /* counted in running: sending content */
};

struct put {
	struct svc_push *x;
	struct svc_req q;
	struct entry *e;
	struct buf res;       /* results: (u32 id, u32 err, str why)... */
	uint32_t nres;
	struct hop *hops;
	size_t nhops, left;   /* hops not finished */
	struct put *next;
};

struct svc_push {
	struct router *r;
	struct entry *entries;
	uint64_t total;       /* sizes of the entries */
	uint64_t tick;
	struct put *puts;
	struct hop *queue, **qtail;
	int running;          /* sends under way */
};

/* --- the cache --- */

static int anon_fd(void)
{
	/* Not executable: where vm.memfd_noexec is 2 (Linux 6.3+) a memfd
	 * without it is refused; older kernels refuse the flag (EINVAL). */
	int fd = memfd_create("mitofs-push", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("mitofs-push", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd >= 0)
		return fd;
	const char *dirs[] = { getenv("TMPDIR"), "/var/tmp", "/tmp" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (dirs[i] && *dirs[i] &&
		    (fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
			return fd;
	return -errno;
}

static struct entry *find(struct svc_push *x, const uint8_t *hash)
{
	for (struct entry *e = x->entries; e; e = e->next)
		if (!memcmp(e->hash, hash, SHA256_LEN))
			return e;
	return NULL;
}

static void drop(struct svc_push *x, struct entry *e)
{
	for (struct entry **pp = &x->entries; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	x->total -= e->size;
	close(e->fd);
	free(e->crc);
	free(e->crc_ok);
	free(e);
}

/* Room for size more bytes, dropping the least recently used entries no
 * PUT is using. 0 or -ENOSPC. */
static int make_room(struct svc_push *x, uint64_t size)
{
	while (x->total + size > SVC_PUSH_CACHE_MAX) {
		struct entry *old = NULL;
		for (struct entry *e = x->entries; e; e = e->next)
			if (!e->pins && (e->whole || !e->filled) && (!old || e->used < old->used))
				old = e;
		if (!old)
			return -ENOSPC;
		drop(x, old);
	}
	return 0;
}

static void on_have(struct svc_push *x, const struct msg *m, struct rd *a)
{
	struct svc_req q = svc_req_of(m);
	uint8_t hash[SHA256_LEN];
	uint64_t size;
	if (rd_bytes(a, hash, SHA256_LEN) || rd_u64(a, &size) || rd_end(a)) {
		svc_reply_errf(x->r, q, EINVAL, "push have: malformed");
		return;
	}
	struct entry *e = find(x, hash);
	uint8_t have = e && e->whole && e->size == size;
	if (have)
		e->used = ++x->tick;
	svc_reply(x->r, q, 0, NULL, &have, 1);
}

static int write_all_at(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static void on_data(struct svc_push *x, const struct msg *m, struct rd *a)
{
	struct svc_req q = svc_req_of(m);
	uint8_t hash[SHA256_LEN];
	uint64_t size, off;
	uint32_t crc;
	const uint8_t *data;
	size_t n;
	if (rd_bytes(a, hash, SHA256_LEN) || rd_u64(a, &size) || rd_u64(a, &off) ||
	    rd_u32(a, &crc) || rd_blob(a, &data, &n) || rd_end(a)) {
		svc_reply_errf(x->r, q, EINVAL, "push data: malformed");
		return;
	}
	if ((uint32_t)crc32(0L, data, (uInt)n) != crc) {
		struct entry *bad = find(x, hash);
		if (bad && !bad->whole)
			drop(x, bad);
		svc_reply_errf(x->r, q, EIO, "push: a piece arrived damaged (CRC) at %llu",
			       (unsigned long long)off);
		return;
	}
	struct entry *e = find(x, hash);
	if (off == 0 && e && e->whole) {
		svc_reply(x->r, q, 0, NULL, NULL, 0); /* had it already */
		return;
	}
	/* Only the one piece of empty content may be empty: an empty piece
	 * at the end of whole content would pass every check below. */
	if (n == 0 && (off != 0 || size != 0)) {
		svc_reply_errf(x->r, q, EINVAL, "push data: an empty piece at %llu",
			       (unsigned long long)off);
		return;
	}
	if (off == 0 && e) {
		svc_reply_errf(x->r, q, EBUSY, "push: this content is being received already");
		return;
	}
	if (off == 0) {
		if (size > SVC_PUSH_CACHE_MAX) {
			svc_reply_errf(x->r, q, EFBIG, "push: %llu bytes is more than a context keeps "
				       "(%llu)", (unsigned long long)size,
				       (unsigned long long)SVC_PUSH_CACHE_MAX);
			return;
		}
		int rc = make_room(x, size);
		int fd = rc ? rc : anon_fd();
		size_t pieces = (size_t)(size / PUSH_CHUNK) + 1;
		if (fd < 0 || !(e = calloc(1, sizeof(*e))) || !(e->crc = calloc(pieces, sizeof(*e->crc))) ||
		    !(e->crc_ok = calloc(pieces, 1))) {
			if (e) {
				free(e->crc);
				free(e);
			}
			if (fd >= 0)
				close(fd);
			svc_reply_errf(x->r, q, fd < 0 ? -fd : ENOMEM, "push: no room to keep it: %s",
				       strerror(fd < 0 ? -fd : ENOMEM));
			return;
		}
		memcpy(e->hash, hash, SHA256_LEN);
		e->size = size;
		e->fd = fd;
		e->used = ++x->tick;
		e->next = x->entries;
		x->entries = e;
		x->total += size;
	}
	if (!e || e->whole || e->size != size || off != e->filled || n > size - off) {
		svc_reply_errf(x->r, q, EINVAL, "push data: a piece out of order (at %llu, %s %llu)",
			       (unsigned long long)off, e ? "expected" : "nothing begun, size",
			       (unsigned long long)(e ? e->filled : size));
		return;
	}
	int rc = write_all_at(e->fd, data, n, off);
	if (rc) {
		drop(x, e);
		svc_reply_errf(x->r, q, -rc, "push: keeping it: %s", strerror(-rc));
		return;
	}
	/* Kept for passing it on: our pieces are PUSH_CHUNK long too when
	 * the sender's were (the same build), so their CRCs are these. */
	if (e->crc && off % PUSH_CHUNK == 0 && (n == PUSH_CHUNK || off + n == size)) {
		e->crc[off / PUSH_CHUNK] = crc;
		e->crc_ok[off / PUSH_CHUNK] = 1;
	}
	e->filled += n;
	e->whole = e->filled == e->size;
	if (e->whole)
		e->sealed = fcntl(e->fd, F_ADD_SEALS, LINK_SEALS | F_SEAL_SEAL) == 0;
	svc_reply(x->r, q, 0, NULL, NULL, 0);
}

/*
 * PUSH_LINK: our parent process offers its sealed memory file holding the
 * content; we keep it by opening /proc/PID/fd/FD (the same pages, shared:
 * nothing crosses the link and nothing is copied). Offered only by a
 * parent that forked us itself; taken only from our parent process
 * (getppid()) and only when the file we opened is the one it named
 * (dev/ino: a /proc of another pid namespace shows other fds). The seals
 * make it unchangeable by anyone, the size is checked; the hash is the
 * parent's word, as it is for PUSH_DATA.
 */
static void on_link(struct svc_push *x, const struct msg *m, struct rd *a)
{
	struct svc_req q = svc_req_of(m);
	uint8_t hash[SHA256_LEN];
	uint64_t size;
	uint32_t pid, pfd;
	uint64_t dev, ino;
	if (rd_bytes(a, hash, SHA256_LEN) || rd_u64(a, &size) || rd_u32(a, &pid) ||
	    rd_u32(a, &pfd) || rd_u64(a, &dev) || rd_u64(a, &ino) || rd_end(a)) {
		svc_reply_errf(x->r, q, EINVAL, "push link: malformed");
		return;
	}
	struct entry *e = find(x, hash);
	if (e && e->whole && e->size == size) {
		e->used = ++x->tick;
		svc_reply(x->r, q, 0, NULL, NULL, 0);
		return;
	}
	if (e) {
		svc_reply_errf(x->r, q, EBUSY, "push: this content is being received already");
		return;
	}
	if (pid == 0 || (pid_t)pid != getppid()) {
		svc_reply_errf(x->r, q, EPERM, "push link: %u is not our parent process", pid);
		return;
	}
	if (size > SVC_PUSH_CACHE_MAX) {
		svc_reply_errf(x->r, q, EFBIG, "push: %llu bytes is more than a context keeps",
			       (unsigned long long)size);
		return;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%u/fd/%u", pid, pfd);
	/* Non-blocking, no controlling tty: whatever the path turns out to
	 * be, opening it cannot hang us or take our terminal. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		svc_reply_errf(x->r, q, errno, "push link: %s: %s", path, strerror(errno));
		return;
	}
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	int rc = fstat(fd, &st) ? -errno : 0;
	/* The very file the parent named (a /proc of another pid namespace
	 * would show another process's fd), unchangeable, of that size. */
	if (!rc && ((uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino || seals < 0 ||
		    (seals & LINK_SEALS) != LINK_SEALS || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size != size))
		rc = -EINVAL;
	rc = rc ? rc : make_room(x, size);
	if (!rc && !(e = calloc(1, sizeof(*e))))
		rc = -ENOMEM;
	if (rc) {
		close(fd);
		svc_reply_errf(x->r, q, -rc, "push link: %s: %s", path,
			       rc == -EINVAL ? "not that sealed file of that size" : strerror(-rc));
		return;
	}
	/* No CRCs kept: pieces for a child that cannot link are read. */
	memcpy(e->hash, hash, SHA256_LEN);
	e->size = e->filled = size;
	e->fd = fd;
	e->whole = e->sealed = true;
	e->used = ++x->tick;
	e->next = x->entries;
	x->entries = e;
	x->total += size;
	svc_reply(x->r, q, 0, NULL, NULL, 0);
}

/* --- a put here --- */

/* Copies the entry into fd. */
static int copy_out(const struct entry *e, int fd)
{
	off_t off = 0;
	while ((uint64_t)off < e->size) {
		size_t want = e->size - (uint64_t)off < (1u << 30) ? (size_t)(e->size - (uint64_t)off)
								    : (1u << 30);
		ssize_t n = sendfile(fd, e->fd, &off, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EINVAL || errno == ENOSYS) && off == 0)
			break; /* no sendfile here: read and write below */
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
	}
	static uint8_t buf[64 << 10];
	while ((uint64_t)off < e->size) {
		ssize_t n = pread(e->fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		int rc = write_all_at(fd, buf, (size_t)n, (uint64_t)off);
		if (rc)
			return rc;
		off += n;
	}
	return 0;
}

/* Writes e at dst with mode: a temporary name in dst's directory,
 * fsync, rename, fsync of the directory. Nothing is left at dst or
 * under the temporary name when it fails. 0 or -errno with why. */
static int put_local(const struct entry *e, const char *dst, uint32_t mode, char *why, size_t len)
{
	const char *slash = strrchr(dst, '/');
	size_t dlen = slash == dst ? 1 : (size_t)(slash - dst);
	char dir[PATH_MAX], tmp[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", (int)dlen, dst);
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.mitofs-XXXXXX", slash == dst ? "" : dir, slash + 1) >=
	    (int)sizeof(tmp)) {
		snprintf(why, len, "%s: name too long", dst);
		return -ENAMETOOLONG;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		snprintf(why, len, "%s: %s", dir, strerror(err));
		return -err;
	}
	const char *step = "writing";
	int rc = copy_out(e, fd);
	if (!rc && fchmod(fd, mode & 07777) && (step = "chmod"))
		rc = -errno;
	if (!rc && fsync(fd) && (step = "fsync"))
		rc = -errno;
	if (close(fd) && !rc && (step = "close"))
		rc = -errno;
	if (!rc && rename(tmp, dst) && (step = "rename"))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		snprintf(why, len, "%s: %s: %s", dst, step, strerror(-rc));
		return rc;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd); /* the name; a directory that cannot be synced is no error */
		close(dfd);
	}
	return 0;
}

static int add_result(struct put *p, uint32_t id, int err, const char *why)
{
	p->nres++;
	int rc = buf_put_u32(&p->res, id);
	rc = rc ? rc : buf_put_u32(&p->res, (uint32_t)(err < 0 ? -err : err));
	return rc ? rc : buf_put_str(&p->res, why ? why : "");
}

static void start_queued(struct svc_push *x);

/* Frees p (no reply), its entry unpinned, its sends cancelled. */
static void put_free(struct put *p)
{
	p->e->pins--;
	for (size_t i = 0; i < p->nhops; i++) {
		push_send_cancel(p->hops[i].send);
		buf_free(&p->hops[i].body);
		free(p->hops[i].leaf);
	}
	free(p->hops);
	buf_free(&p->res);
	free(p);
}

static void put_finish(struct put *p)
{
	struct svc_push *x = p->x;
	struct buf b;
	buf_init(&b);
	int rc = buf_put_u32(&b, p->nres);
	rc = rc ? rc : buf_put_bytes(&b, p->res.data, p->res.len);
	if (rc)
		svc_reply_errf(x->r, p->q, ENOMEM, "push: out of memory for the results");
	else
		svc_reply(x->r, p->q, 0, NULL, b.data, b.len);
	buf_free(&b);
	for (struct put **pp = &x->puts; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	put_free(p);
}

/* The hop's child has the content: its slot goes to the next one (the
 * answer to PUT, which may wait on a disk, holds no slot). */
static void hop_sent(void *arg)
{
	struct hop *h = arg;
	if (h->slot) {
		h->slot = false;
		h->p->x->running--;
		start_queued(h->p->x);
	}
}

static void hop_done(struct hop *h)
{
	struct put *p = h->p;
	struct svc_push *x = p->x;
	h->send = NULL;
	if (h->slot) {
		h->slot = false;
		x->running--;
	}
	if (--p->left == 0)
		put_finish(p);
	start_queued(x);
}

/* A child answered (or could not be reached): its targets' results. */
static void on_sent(void *arg, int err, const char *why, struct rd *body)
{
	struct hop *h = arg;
	struct put *p = h->p;
	uint32_t n = 0;
	if (!err && (rd_u32(body, &n) || n > h->n)) {
		err = -EBADMSG;
		why = "malformed push result";
	}
	for (uint32_t i = 0; !err && i < n; i++) {
		uint32_t id, e;
		const uint8_t *text;
		size_t tlen;
		if (rd_u32(body, &id) || rd_u32(body, &e) || rd_blob(body, &text, &tlen) ||
		    tlen > PROTO_MAX_TEXT) {
			err = -EBADMSG;
			why = "malformed push result";
			break;
		}
		char w[PROTO_MAX_TEXT + 1];
		snprintf(w, sizeof(w), "%.*s", (int)tlen, (const char *)text);
		add_result(p, id, (int)e, w);
	}
	if (err) {
		char w[PROTO_MAX_TEXT];
		snprintf(w, sizeof(w), "%s", why && *why ? why : strerror(-err));
		for (uint32_t i = n; i < h->n; i++)
			add_result(p, h->leaf[i], err, w);
	}
	hop_done(h);
}

/* The CRC kept of our piece at off of n bytes (push_crc_fn). */
static int crc_entry(void *src, uint64_t off, size_t n, uint32_t *crc)
{
	const struct entry *e = src;
	size_t i = (size_t)(off / PUSH_CHUNK);
	if (!e->crc_ok || off % PUSH_CHUNK || (n != PUSH_CHUNK && off + n != e->size) ||
	    !e->crc_ok[i])
		return -ENOENT;
	*crc = e->crc[i];
	return 0;
}

static int read_entry(void *src, uint64_t off, void *buf, size_t n, uint32_t *crc)
{
	struct entry *e = src;
	uint8_t *start = buf;
	size_t want = n;
	uint64_t at = off;
	while (n) {
		ssize_t got = pread(e->fd, buf, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		buf = (uint8_t *)buf + got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	if (crc_entry(e, at, want, crc))
		*crc = (uint32_t)crc32(0L, start, (uInt)want);
	return 0;
}

static void start_hop(struct hop *h)
{
	struct put *p = h->p;
	struct push_send_args a = {
		.r = p->x->r, .peer = h->child, .hash = p->e->hash, .size = p->e->size,
		.read = read_entry, .src = p->e, .crc = crc_entry, .fd = p->e->fd,
		.link = p->e->sealed, .put = h->body.data, .put_len = h->body.len,
		.window = PASS_WINDOW, .sent_all = hop_sent, .done = on_sent, .arg = h,
	};
	p->x->running++;
	h->slot = true;
	h->send = push_send_start(&a);
	if (!h->send) {
		int err = errno;
		char w[128];
		snprintf(w, sizeof(w), "cannot reach child %u: %s", h->child, strerror(err));
		for (uint32_t i = 0; i < h->n; i++)
			add_result(p, h->leaf[i], -err, w);
		hop_done(h);
	}
}

static void start_queued(struct svc_push *x)
{
	while (x->queue && x->running < PASS_ON_MAX) {
		struct hop *h = x->queue;
		x->queue = h->qnext;
		if (!x->queue)
			x->qtail = &x->queue;
		h->queued = false;
		start_hop(h);
	}
}

/* The hop of p towards child, made if new. */
static struct hop *hop_for(struct put *p, uint32_t child, size_t max)
{
	for (size_t i = 0; i < p->nhops; i++)
		if (p->hops[i].child == child)
			return &p->hops[i];
	if (p->nhops == max)
		return NULL;
	struct hop *h = &p->hops[p->nhops++];
	h->p = p;
	h->child = child;
	buf_init(&h->body);
	return h;
}

static void on_put(struct svc_push *x, const struct msg *m, struct rd *a)
{
	struct svc_req q = svc_req_of(m);
	uint8_t hash[SHA256_LEN];
	uint64_t size;
	uint32_t mode, n;
	char *dst = NULL;
	if (rd_bytes(a, hash, SHA256_LEN) || rd_u64(a, &size) || rd_u32(a, &mode) ||
	    rd_str(a, &dst, PATH_MAX - 1) || rd_u32(a, &n) || n > PUSH_MAX_TARGETS) {
		free(dst);
		svc_reply_errf(x->r, q, EINVAL, "push put: malformed");
		return;
	}
	if (dst[0] != '/' || dst[strlen(dst) - 1] == '/') {
		svc_reply_errf(x->r, q, EINVAL, "push: DST must be an absolute path to a file: %s", dst);
		free(dst);
		return;
	}
	struct entry *e = find(x, hash);
	if (!e || !e->whole || e->size != size) {
		free(dst);
		svc_reply_errf(x->r, q, ENOENT, "push: the content is not in the cache");
		return;
	}
	struct put *p = calloc(1, sizeof(*p));
	struct hop *hops = calloc(n ? n : 1, sizeof(*hops));
	if (!p || !hops) {
		free(p);
		free(hops);
		free(dst);
		svc_reply_errf(x->r, q, ENOMEM, "push: out of memory");
		return;
	}
	p->x = x;
	p->q = q;
	p->e = e;
	p->hops = hops;
	buf_init(&p->res);
	e->pins++;
	e->used = ++x->tick;
	/* Sort the targets: here, or below which child. */
	bool here = false, bad = false;
	uint32_t me = router_id(x->r);
	for (uint32_t i = 0; i < n && !bad; i++) {
		uint32_t depth, ids[ROUTER_MAX_DEPTH];
		if (rd_u32(a, &depth) || depth > ROUTER_MAX_DEPTH) {
			bad = true;
			break;
		}
		for (uint32_t k = 0; k < depth && !bad; k++)
			bad = rd_u32(a, &ids[k]) != 0;
		if (bad)
			break;
		if (depth == 0) {
			here = true;
			continue;
		}
		struct hop *h = hop_for(p, ids[0], n);
		uint32_t *leaf = h ? realloc(h->leaf, (h->n + 1) * sizeof(*leaf)) : NULL;
		if (!leaf) {
			bad = true;
			break;
		}
		h->leaf = leaf;
		h->leaf[h->n++] = ids[depth - 1];
		/* The child's copy of the target: its path below the child. */
		int rc = buf_put_u32(&h->body, depth - 1);
		for (uint32_t k = 1; !rc && k < depth; k++)
			rc = buf_put_u32(&h->body, ids[k]);
		bad = rc != 0;
	}
	/* Each child's PUT: mode, dst, its count, then its targets. */
	for (size_t i = 0; !bad && i < p->nhops; i++) {
		struct hop *h = &p->hops[i];
		struct buf body;
		buf_init(&body);
		int rc = buf_put_u32(&body, mode);
		rc = rc ? rc : buf_put_str(&body, dst);
		rc = rc ? rc : buf_put_u32(&body, h->n);
		rc = rc ? rc : buf_put_bytes(&body, h->body.data, h->body.len);
		buf_free(&h->body);
		h->body = body;
		bad = rc != 0;
	}
	if (bad || rd_end(a)) {
		svc_reply_errf(x->r, q, EINVAL, "push put: malformed targets (or out of memory)");
		put_free(p);
		free(dst);
		return;
	}
	p->next = x->puts;
	x->puts = p;
	if (here) {
		char why[PROTO_MAX_TEXT] = "";
		int rc = put_local(e, dst, mode, why, sizeof(why));
		if (rc)
			log_warn("push: %s", why);
		add_result(p, me, rc, why);
	}
	free(dst);
	p->left = p->nhops;
	if (p->left == 0) {
		put_finish(p);
		return;
	}
	for (size_t i = 0; i < p->nhops; i++) {
		struct hop *h = &p->hops[i];
		h->queued = true;
		*x->qtail = h;
		x->qtail = &h->qnext;
	}
	start_queued(x);
}

void svc_push_call(struct svc_push *x, const struct msg *m, uint16_t op, struct rd *args)
{
	switch (op) {
	case PUSH_HAVE:
		on_have(x, m, args);
		break;
	case PUSH_DATA:
		on_data(x, m, args);
		break;
	case PUSH_PUT:
		on_put(x, m, args);
		break;
	case PUSH_LINK:
		on_link(x, m, args);
		break;
	default:
		svc_reply_errf(x->r, svc_req_of(m), EINVAL, "push: no op %u", op);
	}
}

struct svc_push *svc_push_new(struct router *r)
{
	struct svc_push *x = calloc(1, sizeof(*x));
	if (x) {
		x->r = r;
		x->qtail = &x->queue;
	}
	return x;
}

void svc_push_free(struct svc_push *x)
{
	if (!x)
		return;
	while (x->puts) {
		struct put *p = x->puts;
		x->puts = p->next;
		put_free(p);
	}
	while (x->entries)
		drop(x, x->entries);
	free(x);
}
