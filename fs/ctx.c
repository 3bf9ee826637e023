/*
 * ctx — contexts in the daemon: their tree, disconnect, loss, protocol
 * errors, keepalive and logs. Not for: connecting (ctx_connect.c) or
 * jobs (jobs.c).
 */
#include "ctx.h"
#include "ctx_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "fh.h"
#include "jobs.h"
#include "log.h"
#include "loop.h"
#include "method.h"
#include "push.h"
#include "remotefs.h"
#include "ring.h"
#include "router.h"
#include "stream.h"
#include "worker.h"

static void keepalive_stop(struct ctx *c);
static void probes_fail(struct ctx *c, const char *why);

struct ctx *ctx_by_id(struct daemon *d, uint32_t id)
{
	return id == 0 ? &d->root : map_get(&d->ctxs, id);
}

struct ctx *ctx_by_path(struct daemon *d, const char *path)
{
	struct ctx *c = &d->root;
	while (*path) {
		const char *slash = strchr(path, '/');
		size_t n = slash ? (size_t)(slash - path) : strlen(path);
		struct ctx *k = c->children;
		while (k && (strlen(k->name) != n || memcmp(k->name, path, n)))
			k = k->next;
		if (!k || k->doomed)
			return NULL;
		c = k;
		path += n + (slash ? 1 : 0);
	}
	return c == &d->root ? NULL : c;
}

/* --- logs --- */

static void ring_line(struct ring *r, const char *prefix, const char *level,
		      const char *text, size_t len)
{
	struct iovec parts[4];
	char line[PROTO_MAX_TEXT + 512];
	size_t n = 0;
	if (len > PROTO_MAX_TEXT)
		len = PROTO_MAX_TEXT;
	n += (size_t)snprintf(line, sizeof(line), "%s%s%s", prefix, level, level[0] ? ": " : "");
	memcpy(line + n, text, len);
	n += len;
	while (n && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	(void)parts;
	ring_append(r, line, n);
}

void ctx_log_text(struct ctx *c, int level, const char *text, size_t len)
{
	struct daemon *d = c->d;
	const char *lv = level >= LOG_WARN ? log_level_name(level) : "";
	char prefix[300];
	if (c->id == 0 && c == &d->root) {
		ring_line(d->root.log, "mitofs: ", lv, text, len);
		if (d->debug)
			fprintf(stderr, "mitofs: %s%s%.*s\n", lv, lv[0] ? ": " : "", (int)len, text);
	} else {
		ring_line(c->log, "", lv, text, len);
		snprintf(prefix, sizeof(prefix), "%s: ", c->path);
		ring_line(d->root.log, prefix, lv, text, len);
		fh_wake(c->fhs);
		if (d->debug)
			fprintf(stderr, "%s%s%s%.*s\n", prefix, lv, lv[0] ? ": " : "", (int)len, text);
	}
	fh_wake(d->root.fhs);
}

void ctx_log(struct ctx *c, int level, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ctx_log_text(c, level, text, n < 0 ? 0 : (size_t)n >= sizeof(text) ? sizeof(text) - 1 : (size_t)n);
}

/* --- lifetime --- */

struct ctx *ctx_new(struct ctx *parent, const char *name, const char *method)
{
	struct daemon *d = parent->d;
	struct ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->d = d;
	c->parent = parent;
	c->name = strdup(name);
	c->method = strdup(method);
	if (parent == &d->root)
		c->path = strdup(name);
	else if (asprintf(&c->path, "%s/%s", parent->path, name) < 0)
		c->path = NULL;
	c->log = ring_new(d->log_cap, RING_KEEP_TAIL);
	c->state = CTX_CONNECTING;
	c->next_job = 1;
	if (!c->name || !c->method || !c->path || !c->log ||
	    tree_add_ctx_dir(&d->tree, c)) {
		free(c->name);
		free(c->method);
		free(c->path);
		ring_free(c->log);
		free(c);
		return NULL;
	}
	c->next = parent->children;
	parent->children = c;
	return c;
}

static void ctx_free(struct ctx *c)
{
	if (c->perr_timer)
		loop_timer_cancel(c->d->loop, c->perr_timer);
	remotefs_ctx_gone(c->d->rfs, c);
	fh_detach_all(&c->fhs);
	keepalive_stop(c);
	proto_kv_free(c->info, c->ninfo);
	proto_kv_free(c->minfo, c->nminfo);
	free(c->line);
	ring_free(c->log);
	free(c->name);
	free(c->method);
	free(c->path);
	free(c);
}

void ctx_unbusy(struct ctx *c)
{
	if (--c->busy == 0 && c->doomed)
		ctx_free(c);
}

/* Marks c and what runs on it as gone; the directory stays. */
static void ctx_mark_lost(struct ctx *c, const char *why)
{
	if (c->state == CTX_DISCONNECTED)
		return;
	bool was_connecting = c->state == CTX_CONNECTING;
	c->state = CTX_DISCONNECTED;
	snprintf(c->why, sizeof(c->why), "%s", why);
	if (!was_connecting)
		ctx_log(c, LOG_WARN, "disconnected: %s", why);
	for (struct job *j = c->jobs; j; j = j->next)
		job_lost(j, why);
	if (c->last)
		job_lost(c->last, why);
	fh_wake(c->fhs);
	if (c->boot) {
		boot_cancel(c->boot);
		c->boot = NULL;
	}
	method_release(c);
	keepalive_stop(c);
	probes_fail(c, why);
	if (was_connecting && c->connecting) {
		struct ctl_batch *b = c->connecting;
		c->connecting = NULL;
		ctl_batch_done(b, -EIO, why);
	}
}

/* Ends c's connection and marks it lost with why: a direct child's
 * stream is closed (the route's loss marks it, through ctx_route_lost),
 * a nested stub is told to shut down (its parent reports the loss). */
void ctx_disconnect(struct ctx *c, const char *why)
{
	struct daemon *d = c->d;
	if (c->parent == &d->root) {
		if (c->id && router_close_child(d->router, c->id, why) == 0)
			return;
	} else if (c->id && c->state != CTX_DISCONNECTED) {
		router_send_to(d->router, c->id, HANDLE_SHUTDOWN, 0, NULL, 0);
	}
	ctx_mark_lost(c, why);
}

/* Disconnects c and its children and removes them from the tree. */
void ctx_remove(struct ctx *c, const char *why)
{
	struct daemon *d = c->d;
	/* Held until the end: waking waiters below may drop the last other
	 * reference, and nothing may start on a context being removed. */
	c->busy++;
	c->doomed = true;
	while (c->children)
		ctx_remove(c->children, why);
	if (c->state != CTX_DISCONNECTED)
		ctx_disconnect(c, why);
	for (struct ctx **pp = &c->parent->children; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	while (c->jobs) {
		struct job *j = c->jobs;
		c->jobs = j->next;
		j->next = NULL;
		job_unlist(j);
	}
	if (c->last) {
		job_unlist(c->last);
		c->last = NULL;
	}
	if (c->dir)
		tree_remove(&d->tree, c->dir);
	c->dir = NULL;
	if (c->id)
		map_del(&d->ctxs, c->id);
	ctx_unbusy(c);
}

/* Removals whose names the kernel must forget before a ctl batch goes
 * on (ops.c caches context directories' entries). */
struct gone_wait {
	struct ctl_batch *b; /* goes on when every name is gone, if not NULL... */
	int rc;              /* ...with this result (b holds its own object) */
	int left;            /* invalidations running, +1 while they start */
	char why[PROTO_MAX_TEXT];
};

/* One directory's entry to drop. */
struct entry_gone {
	struct fuse_session *se;
	uint64_t parent;
	char *name;
	struct gone_wait *w;
};

static void wait_put(struct gone_wait *w)
{
	if (--w->left)
		return;
	if (w->b)
		ctl_batch_done(w->b, w->rc, w->rc ? w->why : NULL);
	free(w);
}

static void gone_work(void *arg)
{
	struct entry_gone *g = arg;
	fuse_lowlevel_notify_inval_entry(g->se, g->parent, g->name, strlen(g->name));
}

static void gone_free(struct entry_gone *g)
{
	free(g->name);
	free(g);
}

static void gone_done(void *arg)
{
	struct entry_gone *g = arg;
	struct gone_wait *w = g->w;
	gone_free(g);
	wait_put(w);
}

/* ctx_remove, then the kernel forgets the directory's entry, on a worker
 * (worker.h: the kernel may hold that directory's lock for a lookup only
 * we can answer), counted in w. Out of memory, the entry lives out its
 * timeout (CTXDIR_ENTRY_TIMEOUT) instead. */
static void remove_forget(struct ctx *c, const char *why, struct gone_wait *w)
{
	struct daemon *d = c->d;
	struct entry_gone *g = NULL;
	if (c->dir && c->dir->nlookup && c->dir->parent && d->se &&
	    (g = calloc(1, sizeof(*g))) && !(g->name = strdup(c->name))) {
		free(g);
		g = NULL;
	}
	if (g) {
		g->se = d->se;
		g->parent = c->dir->parent->ino;
		g->w = w;
	}
	ctx_remove(c, why);
	if (!g)
		return;
	w->left++;
	if (worker_run(&d->workers, gone_work, gone_done, g)) {
		w->left--;
		gone_free(g);
	}
}

int ctx_remove_forget_all(struct ctx **v, size_t n, const char *why, struct ctl_batch *b, int rc)
{
	struct gone_wait *w = calloc(1, sizeof(*w));
	if (!w) {
		for (size_t i = 0; i < n; i++)
			ctx_remove(v[i], why);
		return 0;
	}
	w->b = b;
	w->rc = rc;
	w->left = 1;
	snprintf(w->why, sizeof(w->why), "%s", why ? why : "");
	for (size_t i = 0; i < n; i++)
		remove_forget(v[i], why, w);
	if (w->left == 1) { /* nothing to wait for: b stays the caller's */
		free(w);
		return 0;
	}
	wait_put(w);
	return b ? 1 : 0;
}

int ctx_remove_forget(struct ctx *c, const char *why, struct ctl_batch *b, int rc)
{
	return ctx_remove_forget_all(&c, 1, why, b, rc);
}

void ctx_route_lost(struct daemon *d, uint32_t id, const char *why)
{
	struct ctx *c = map_get(&d->ctxs, id);
	if (c)
		ctx_mark_lost(c, why);
}

void ctx_child_reaped(struct daemon *d, pid_t pid)
{
	for (struct ctx *c = d->root.children; c; c = c->next)
		if (c->child == pid)
			c->child = 0;
}

/* --- protocol errors --- */

static void perr_close(struct loop *l, void *arg)
{
	(void)l;
	struct ctx *c = arg;
	c->perr_timer = NULL;
	/* Removed, already lost (a failed connect closes its stream), or
	 * reconnected since: the new connection did no wrong. */
	if (c->doomed || c->state == CTX_DISCONNECTED || c->id != c->perr_id)
		return;
	/* Still connecting (a nested stub's log before its sys info
	 * answer): the connect fails with it, and one that was never up
	 * leaves no directory, as any failed connect. */
	/* A copy: either may free c (a context that was never up goes
	 * away), and the reason is used after that. */
	char why[sizeof(c->perr)];
	snprintf(why, sizeof(why), "%s", c->perr);
	if (c->state == CTX_CONNECTING)
		ctx_connect_done(c, -EIO, why);
	else
		ctx_disconnect(c, why);
}

void ctx_protocol_error(struct daemon *d, uint32_t id, const char *fmt, ...)
{
	struct ctx *c = id ? map_get(&d->ctxs, id) : NULL;
	if (!c || c->state == CTX_DISCONNECTED || c->doomed || c->perr_timer)
		return;
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->perr, sizeof(c->perr), "protocol error: %s", what);
	c->perr_id = c->id;
	ctx_log(c, LOG_WARN, "%s (from context %u)", c->perr, id);
	c->perr_timer = loop_timer_add(d->loop, 0, perr_close, c);
	if (!c->perr_timer) /* out of memory: at once, then */
		perr_close(d->loop, c);
}

/* --- keepalive --- */

static void keepalive_stop(struct ctx *c)
{
	if (c->ka_timer)
		loop_timer_cancel(c->d->loop, c->ka_timer);
	c->ka_timer = NULL;
	if (c->ka_handle)
		router_del_handler(c->d->router, c->ka_handle);
	c->ka_handle = 0;
}


/* Every ping of a context answers to one persistent handle: pings go
 * out every interval whether the last one was answered or not, as the
 * stub takes a silent parent for lost (stub/main.c). */
static void on_pong(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct ctx *c = arg;
	if (router_msg_is_dead(m)) { /* the route is gone: so is the handle */
		c->ka_handle = 0;
		return;
	}
	uint64_t now = loop_now_us();
	c->ka_heard_us = now;
	/* The round trip of the last ping, when it is the one answered. */
	if (c->ka_inflight > 0 && --c->ka_inflight == 0)
		c->rtt_us = now - c->ka_sent_us;
}

static void keepalive_ping(struct ctx *c, uint64_t now)
{
	struct daemon *d = c->d;
	uint8_t call[4];
	be16_put(call, SVC_SYS);
	be16_put(call + 2, SYS_PING);
	if (!c->ka_handle)
		c->ka_handle = router_add_reply(d->router, c->id, on_pong, c, ROUTER_PERSIST);
	c->ka_sent_us = now;
	if (c->ka_handle &&
	    !router_send_to(d->router, c->id, HANDLE_CALL_SERVICE, c->ka_handle, call, 4))
		c->ka_inflight++;
}

void ctx_keepalive_start(struct ctx *c)
{
	keepalive_stop(c);
	if (!c->keepalive_ms)
		return;
	c->ka_heard_us = c->ka_sent_us = loop_now_us(); /* it just answered its sys info */
	c->ka_inflight = 0;
	c->ka_timer = loop_timer_add(c->d->loop, (uint64_t)c->keepalive_ms, ctx_keepalive_tick, c);
}

/* A ping every keepalive interval; two intervals without an answer to
 * any of them (the real time, measured from the last answer) and the
 * peer is taken for dead, so readers below it wake instead of hanging on
 * a link that dropped silently. The timer wakes at the next ping or at
 * that deadline, whichever comes first. */
void ctx_keepalive_tick(struct loop *l, void *arg)
{
	struct ctx *c = arg;
	c->ka_timer = NULL;
	if (c->state != CTX_CONNECTED || !c->keepalive_ms)
		return;
	uint64_t now = loop_now_us(), ival = (uint64_t)c->keepalive_ms * 1000;
	uint64_t silent = now - c->ka_heard_us, window = 2 * ival;
	if (silent >= window) {
		char why[160];
		snprintf(why, sizeof(why), "keepalive: no answer for %.1f s (keepalive=%d s: "
			 "taken for lost after two intervals)", silent / 1e6, c->keepalive_ms / 1000);
		keepalive_stop(c);
		ctx_disconnect(c, why);
		return;
	}
	if (now - c->ka_sent_us + 1000 >= ival)
		keepalive_ping(c, now);
	uint64_t next_ping = c->ka_sent_us + ival, deadline = c->ka_heard_us + window;
	uint64_t at = next_ping < deadline ? next_ping : deadline;
	uint64_t ms = at > now ? (at - now + 999) / 1000 : 1;
	c->ka_timer = loop_timer_add(l, ms, ctx_keepalive_tick, c);
}

/* --- probes: does the context answer before a script is taken? --- */

/* A context that answered within this long is taken to be there. */
#define PROBE_FRESH_US 1000000

struct ctx_probe {
	struct ctx *c;         /* held (busy) */
	uint32_t h;            /* the ping's reply handle */
	const char *what;      /* "exec", "cmd": for the reason in ctl */
	job_done_fn *done;
	void *arg;
	struct ctx_probe *next;
};

static void probe_end(struct ctx_probe *p, int rc, const char *why)
{
	struct ctx *c = p->c;
	for (struct ctx_probe **pp = &c->probes; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (rc)
		ctl_set_error(c, p->what, rc, why);
	p->done(p->arg, rc);
	free(p);
	ctx_unbusy(c);
}

static void on_probe(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct ctx_probe *p = arg;
	char why[PROTO_MAX_TEXT];
	if (router_msg_is_dead(m)) {
		snprintf(why, sizeof(why), "context lost: %.*s", (int)m->len,
			 m->data ? (const char *)m->data : "");
		probe_end(p, -EIO, why);
		return;
	}
	p->c->ka_heard_us = loop_now_us(); /* an answer, as a pong is */
	probe_end(p, 0, NULL);
}

/* Pending probes of a context that is lost end with EIO. */
static void probes_fail(struct ctx *c, const char *why)
{
	char text[PROTO_MAX_TEXT];
	snprintf(text, sizeof(text), "context lost: %s", why);
	while (c->probes) {
		struct ctx_probe *p = c->probes;
		router_del_handler(c->d->router, p->h);
		probe_end(p, -EIO, text);
	}
}

void ctx_probe(struct ctx *c, const char *what, job_done_fn *done, void *arg)
{
	struct daemon *d = c->d;
	if (c->state != CTX_CONNECTED) {
		ctl_set_error(c, what, -EIO, "context is not connected");
		done(arg, -EIO);
		return;
	}
	/* Only links that can drop silently (those with a keepalive: a
	 * network hop, or behind one) are asked, and only when they have
	 * been quiet: a loop of execs pings once a second at most. */
	if (!c->keepalive_ms || loop_now_us() - c->ka_heard_us < PROBE_FRESH_US) {
		done(arg, 0);
		return;
	}
	struct ctx_probe *p = calloc(1, sizeof(*p));
	uint8_t call[4];
	be16_put(call, SVC_SYS);
	be16_put(call + 2, SYS_PING);
	uint32_t h = p ? router_add_reply(d->router, c->id, on_probe, p, 0) : 0;
	if (!h) {
		free(p);
		done(arg, -ENOMEM);
		return;
	}
	*p = (struct ctx_probe){ .c = c, .h = h, .what = what, .done = done, .arg = arg,
				 .next = c->probes };
	c->probes = p;
	c->busy++;
	if (router_send_to(d->router, c->id, HANDLE_CALL_SERVICE, h, call, 4)) {
		router_del_handler(d->router, h);
		probe_end(p, -EIO, "cannot send to the context");
	}
}

/* --- handlers of the master --- */

static void on_forward_log(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct daemon *d = arg;
	struct ctx *c = map_get(&d->ctxs, m->src_id);
	struct rd rd;
	uint8_t level;
	const uint8_t *text;
	size_t n;
	rd_init(&rd, m->data, m->len);
	if (!c) {
		log_warn("FORWARD_LOG: unknown source %u", m->src_id);
		return;
	}
	if (rd_u8(&rd, &level) || rd_blob(&rd, &text, &n) || rd_end(&rd)) {
		ctx_protocol_error(d, m->src_id, "malformed FORWARD_LOG");
		return;
	}
	ctx_log_text(c, level > LOG_ERROR ? LOG_ERROR : level, (const char *)text, n);
}

static void on_allocate_id(struct router *r, const struct msg *m, void *arg)
{
	struct daemon *d = arg;
	uint32_t start;
	struct buf b;
	buf_init(&b);
	if (ids_master_alloc(&d->ids, IDS_BLOCK, &start)) {
		router_reply_dead(r, m, "out of context ids");
		return;
	}
	if (!buf_put_u32(&b, start) && !buf_put_u32(&b, IDS_BLOCK))
		router_reply(r, m, b.data, b.len);
	buf_free(&b);
}

int ctx_daemon_init(struct daemon *d)
{
	struct ctx *root = &d->root;
	memset(root, 0, sizeof(*root));
	root->d = d;
	root->id = 0;
	root->name = strdup("");
	root->path = strdup("");
	root->method = strdup("master");
	root->state = CTX_CONNECTED;
	root->log = ring_new(d->log_cap, RING_KEEP_TAIL);
	if (!root->name || !root->path || !root->method || !root->log)
		return -ENOMEM;
	map_init(&d->ctxs);
	ids_master_init(&d->ids);
	int rc = router_add_handler(d->router, HANDLE_FORWARD_LOG, on_forward_log, d, 0);
	return rc ? rc : router_add_handler(d->router, HANDLE_ALLOCATE_ID, on_allocate_id, d, 0);
}

void ctx_daemon_fini(struct daemon *d)
{
	while (d->root.children)
		ctx_remove(d->root.children, "daemon exiting");
	fh_detach_all(&d->root.fhs);
	ring_free(d->root.log);
	free(d->root.name);
	free(d->root.path);
	free(d->root.method);
	map_free(&d->ctxs);
}
