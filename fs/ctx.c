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

/* A removed context directory the kernel knows: its entry is dropped
 * from the kernel's cache (ops.c caches context directories' entries). */
struct entry_gone {
	struct fuse_session *se;
	uint64_t parent;
	char *name;
	struct ctl_batch *b; /* goes on when it is done, if not NULL... */
	int rc;              /* ...with this result (b holds its own object) */
	char why[PROTO_MAX_TEXT];
};

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
	if (g->b)
		ctl_batch_done(g->b, g->rc, g->rc ? g->why : NULL);
	gone_free(g);
}

/* ctx_remove, then the kernel forgets the directory's entry, on a worker
 * (worker.h: the kernel may hold that directory's lock for a lookup only
 * we can answer). Returns 1 when b waits for that and then goes on with
 * rc and why (so that the write returns once the name is gone for every
 * path walk); 0 when it did not wait, and b is the caller's. */
int ctx_remove_forget(struct ctx *c, const char *why, struct ctl_batch *b, int rc)
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
		g->b = b;
		g->rc = rc;
		snprintf(g->why, sizeof(g->why), "%s", why ? why : "");
	}
	ctx_remove(c, why);
	if (!g)
		return 0; /* unknown to the kernel, or out of memory: the entry
			   * then lives out its timeout (CTXDIR_ENTRY_TIMEOUT) */
	if (worker_run(&d->workers, gone_work, gone_done, g)) {
		gone_free(g);
		return 0;
	}
	return b ? 1 : 0;
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

static struct ctx *child_named(struct ctx *parent, const char *name)
{
	for (struct ctx *c = parent->children; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static int ctx_ctl(void *obj, const struct ctl_line *l, struct ctl_batch *b,
		   char *err, size_t errlen)
{
	struct ctx *c = obj;
	struct daemon *d = c->d;
	if (c->doomed) {
		snprintf(err, errlen, "context %s is gone", c->path);
		return -ENOENT;
	}
	if (!strcmp(l->verb, "connect"))
		return ctx_connect_child(c, l, b, err, errlen);
	if (!strcmp(l->verb, "flush")) {
		if (c == &d->root || l->nwords || l->nopts) {
			snprintf(err, errlen, c == &d->root ? "flush is a context's verb: NAME/ctl"
							    : "usage: flush");
			return -EINVAL;
		}
		return remotefs_flush(d->rfs, c, b);
	}
	if (!strcmp(l->verb, "push"))
		return push_ctx(c, l, b, err, errlen);
	if (!strcmp(l->verb, "reconnect")) {
		struct ctx *victim = c;
		if (l->nwords == 1)
			victim = child_named(c, l->words[0]);
		if (!victim || l->nwords > 1 || victim == &d->root) {
			snprintf(err, errlen, !victim ? "no context '%s' here"
				 : "usage: reconnect (in a context's ctl) or reconnect NAME",
				 l->nwords ? l->words[0] : "");
			return victim ? -EINVAL : -ENOENT;
		}
		return ctx_reconnect(victim, b, err, errlen);
	}
	if (!strcmp(l->verb, "disconnect")) {
		struct ctx *victim = c;
		if (l->nwords == 1) {
			victim = child_named(c, l->words[0]);
			if (!victim) {
				snprintf(err, errlen, "no context '%s' under %s", l->words[0],
					 c == &d->root ? "the root" : c->path);
				return -ENOENT;
			}
		} else if (l->nwords > 1 || c == &d->root) {
			snprintf(err, errlen, c == &d->root ? "usage: disconnect NAME"
							    : "usage: disconnect [CHILD]");
			return -EINVAL;
		}
		if (victim->state == CTX_CONNECTING) {
			snprintf(err, errlen, "context %s is still connecting", victim->path);
			return -EBUSY;
		}
		ctx_log(victim, LOG_INFO, "disconnect requested");
		/* Later lines of this write find c doomed ("is gone"). */
		return ctx_remove_forget(victim, "disconnected by request", b, 0);
	}
	snprintf(err, errlen, c == &d->root ? "unknown verb '%s' (connect, disconnect, reconnect)"
		 : "unknown verb '%s' (connect, disconnect, reconnect, flush, push)", l->verb);
	return -EINVAL;
}

static void ctx_ctl_fail(void *obj, const char *line, int rc, const char *why)
{
	ctl_set_error(obj, line, rc, why);
}

static void ctx_hold(void *obj)
{
	((struct ctx *)obj)->busy++;
}

static void ctx_release(void *obj)
{
	ctx_unbusy(obj);
}

const struct ctl_target ctx_ctl_target = {
	.run = ctx_ctl, .fail = ctx_ctl_fail, .hold = ctx_hold, .release = ctx_release,
};

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
