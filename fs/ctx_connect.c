/*
 * ctx_connect — connecting a context: directly through a method, or as a
 * child of a connected context through its stub's spawn service; the
 * first call (sys info) that makes it connected; reconnect. Not for: the
 * tree and a context's loss (ctx.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "ctx.h"
#include "ctx_int.h"
#include "log.h"
#include "loop.h"
#include "method.h"
#include "methods.h"
#include "router.h"
#include "stream.h"

void ctx_connect_done(struct ctx *c, int rc, const char *why)
{
	struct ctl_batch *b = c->connecting;
	c->connecting = NULL;
	if (rc) {
		ctx_log(c, LOG_WARN, "connect failed: %s", why);
		/* A context that never came up leaves no directory: the same
		 * name can be tried again. One that was up stays, disconnected,
		 * for `reconnect`. */
		if (c->ever_up) /* its stream too, if it has one (a bad sys info) */
			ctx_disconnect(c, why);
		else if (ctx_remove_forget(c, why, b, rc) == 1)
			return; /* b goes on once the name is gone */
	} else {
		c->ever_up = true;
		ctx_log(c, LOG_INFO, "connected (id %u, pid %d, %" PRIu64 " us)", c->id, (int)c->pid,
			loop_now_us() - c->t_connect_us);
		ctx_keepalive_start(c);
	}
	if (b)
		ctl_batch_done(b, rc, why);
}

static void on_sys_info(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct ctx *c = arg;
	bool gone = c->doomed;
	uint32_t err = 0;
	const char *text = "";
	size_t tlen = 0;
	char why[256];
	struct rd rd;
	if (!gone && c->state == CTX_CONNECTING) {
		if (router_msg_is_dead(m)) {
			snprintf(why, sizeof(why), "no answer to the first call: %.*s", (int)m->len,
				 m->data ? (const char *)m->data : "");
			ctx_connect_done(c, -EIO, why);
		} else {
			rd_init(&rd, m->data, m->len);
			struct proto_kv *kv = NULL;
			size_t n = 0;
			if (proto_reply_read(&rd, &err, &text, &tlen) || err ||
			    proto_kv_read(&rd, &kv, &n) || rd_end(&rd)) {
				proto_kv_free(kv, n);
				snprintf(why, sizeof(why), "bad answer to sys info: %.*s", (int)tlen, text);
				ctx_connect_done(c, -EIO, why);
			} else {
				c->info = kv;
				c->ninfo = n;
				/* The stub's own pid (a method may not know it). */
				const char *pid = proto_kv_get(kv, n, "pid");
				if (pid)
					c->pid = (pid_t)atoi(pid);
				c->rtt_us = loop_now_us() - c->rtt_us;
				c->state = CTX_CONNECTED;
				ctx_connect_done(c, 0, NULL);
			}
		}
	}
	ctx_unbusy(c);
}

static void request_info(struct ctx *c)
{
	struct daemon *d = c->d;
	struct buf b;
	buf_init(&b);
	uint32_t h = router_add_reply(d->router, c->id, on_sys_info, c, 0);
	if (!h || proto_call_begin(&b, SVC_SYS, SYS_INFO)) {
		buf_free(&b);
		ctx_connect_done(c, -ENOMEM, "out of memory");
		return;
	}
	c->busy++;
	c->rtt_us = loop_now_us();
	int rc = router_send_to(d->router, c->id, HANDLE_CALL_SERVICE, h, b.data, b.len);
	buf_free(&b);
	if (rc) {
		router_del_handler(d->router, h);
		c->busy--;
		ctx_connect_done(c, rc, "cannot reach the new context");
	}
}

void method_up(struct ctx *c, struct stream *s, pid_t pid, int err, const char *why)
{
	struct daemon *d = c->d;
	c->boot = NULL;
	if (err) {
		/* A broken bootstrap is an I/O error to the writer; the reason
		 * says what broke. */
		ctx_connect_done(c, -(err == EPROTO ? EIO : err), why);
		return;
	}
	/* Network hops compress both ways (the stub was told in its CONFIG). */
	if (methods_is_net(c->method))
		stream_set_compress(s, true);
	int rc = router_add_child(d->router, s, c->id);
	if (rc) {
		stream_free(s);
		ctx_connect_done(c, rc, "cannot add the route");
		return;
	}
	c->pid = pid;
	c->child = pid;
	request_info(c);
}

static void on_spawned(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct ctx *c = arg;
	struct daemon *d = c->d;
	if (c->doomed && !router_msg_is_dead(m)) {
		/* Removed while it was being spawned: stop what did start. */
		struct rd rd;
		uint32_t err = 1, id = 0;
		const char *text;
		size_t tlen;
		rd_init(&rd, m->data, m->len);
		if (!proto_reply_read(&rd, &err, &text, &tlen) && !err && !rd_u32(&rd, &id))
			router_send_to(d->router, id, HANDLE_SHUTDOWN, 0, NULL, 0);
	}
	if (!c->doomed && c->state == CTX_CONNECTING) {
		char why[300];
		uint32_t err = 0, id = 0, pid = 0;
		const char *text = "";
		size_t tlen = 0;
		struct rd rd;
		rd_init(&rd, m->data, m->len);
		if (router_msg_is_dead(m)) {
			snprintf(why, sizeof(why), "%s: %.*s", c->parent->path, (int)m->len,
				 m->data ? (const char *)m->data : "");
			ctx_connect_done(c, -EIO, why);
		} else if (proto_reply_read(&rd, &err, &text, &tlen)) {
			ctx_protocol_error(d, c->parent->id, "malformed spawn reply");
			ctx_connect_done(c, -EIO, "malformed spawn reply");
		} else if (err) {
			snprintf(why, sizeof(why), "%.*s", (int)tlen, text);
			ctx_connect_done(c, -(err != EPROTO ? remote_errno(err) : EIO), why);
		} else if (rd_u32(&rd, &id) || rd_u32(&rd, &pid) || rd_end(&rd) ||
			   router_stream_for(d->router, id) == NULL || map_get(&d->ctxs, id)) {
			/* Its ADD_ROUTE came first on the same stream: a lie. */
			ctx_protocol_error(d, c->parent->id, "bad spawn reply (id or route)");
			ctx_connect_done(c, -EIO, "bad spawn reply (id or route)");
		} else {
			c->id = id;
			c->pid = (pid_t)pid;
			map_put(&d->ctxs, id, c);
			request_info(c);
		}
	}
	ctx_unbusy(c);
}

/* Starts connecting c (state CONNECTING, its line stored) directly by
 * its method or through its parent's stub. 1 (pending: ctx_connect_done
 * follows), or -errno with the reason in err and c left to the caller. */
static int start_connect(struct ctx *c, struct ctl_batch *b, char *err, size_t errlen)
{
	struct daemon *d = c->d;
	struct ctx *parent = c->parent;
	const struct ctl_line *l = c->line;
	int rc;
	c->t_connect_us = loop_now_us();
	if (parent == &d->root) {
		uint32_t id;
		if (ids_master_alloc(&d->ids, 1, &id) || map_put(&d->ctxs, id, c)) {
			snprintf(err, errlen, "out of context ids");
			return -ENOSPC;
		}
		c->id = id;
		const char *ka = ctl_opt(l, "keepalive");
		c->keepalive_ms = ka ? atoi(ka) * 1000 : methods_is_net(c->method) ? 15000 : 0;
		rc = method_start(c, l, err, errlen);
		if (rc) {
			map_del(&d->ctxs, id);
			c->id = 0;
			return rc;
		}
		c->connecting = b;
		return 1;
	}
	if (parent->state != CTX_CONNECTED) {
		snprintf(err, errlen, "context %s is %s", parent->path,
			 parent->state == CTX_CONNECTING ? "still connecting" : "disconnected");
		return -EIO;
	}
	/* keepalive=S, else the parent's: the stub gives the new context
	 * the same (stub/svc_spawn.c), which then expects our pings. */
	const char *ka = ctl_opt(l, "keepalive");
	unsigned long kas = ka ? strtoul(ka, NULL, 10) : 0;
	c->keepalive_ms = ka ? (int)(kas > 86400 ? 86400 : kas) * 1000 : parent->keepalive_ms;
	/* A child of a context: its stub spawns it (and allocates its id). */
	struct buf m;
	buf_init(&m);
	uint32_t h = router_add_reply(d->router, parent->id, on_spawned, c, 0);
	rc = h ? 0 : -ENOMEM;
	rc = rc ? rc : proto_call_begin(&m, SVC_SPAWN, SPAWN_CONTEXT);
	rc = rc ? rc : buf_put_str(&m, c->name);
	rc = rc ? rc : buf_put_str(&m, c->method);
	rc = rc ? rc : buf_put_u32(&m, (uint32_t)l->nopts);
	for (int i = 0; !rc && i < l->nopts; i++) {
		if (!strcmp(l->opts[i].key, "password_file")) {
			/* Read here, on the operator's machine; the stub that
			 * answers the prompt gets the password itself, over the
			 * router, never on a command line. */
			char pw[512];
			rc = method_read_password(l->opts[i].val, pw, sizeof(pw), err, errlen);
			if (rc)
				break;
			rc = buf_put_str(&m, "password");
			rc = rc ? rc : buf_put_str(&m, pw);
			explicit_bzero(pw, sizeof(pw));
			continue;
		}
		rc = buf_put_str(&m, l->opts[i].key);
		rc = rc ? rc : buf_put_str(&m, l->opts[i].val);
	}
	if (!rc) {
		c->busy++;
		rc = router_send_to(d->router, parent->id, HANDLE_CALL_SERVICE, h, m.data, m.len);
		if (rc) {
			c->busy--;
			snprintf(err, errlen, "cannot send the spawn request to %s", parent->path);
			rc = -EIO;
		}
	}
	if (m.data)
		explicit_bzero(m.data, m.len);
	buf_free(&m);
	if (rc) {
		if (h)
			router_del_handler(d->router, h);
		return rc;
	}
	c->connecting = b;
	return 1;
}

int ctx_connect_child(struct ctx *parent, const struct ctl_line *l,
			 struct ctl_batch *b, char *err, size_t errlen)
{
	struct daemon *d = parent->d;
	if (l->nwords != 2) {
		snprintf(err, errlen, "usage: connect NAME METHOD [key=value ...]");
		return -EINVAL;
	}
	const char *name = l->words[0], *method = l->words[1];
	int rc = ctl_check_name(name, err, errlen);
	if (rc)
		return rc;
	if (parent != &d->root && parent->state != CTX_CONNECTED) {
		snprintf(err, errlen, "context %s is %s", parent->path,
			 parent->state == CTX_CONNECTING ? "still connecting" : "disconnected");
		return -EIO;
	}
	for (struct ctx *c = parent->children; c; c = c->next)
		if (!strcmp(c->name, name)) {
			snprintf(err, errlen, "context '%s' exists", name);
			return -EEXIST;
		}
	rc = method_check(parent == &d->root, method, l, err, errlen);
	if (rc)
		return rc;
	struct ctx *c = ctx_new(parent, name, method);
	if (!c || !(c->line = malloc(sizeof(*c->line)))) {
		if (c)
			ctx_remove(c, "out of memory");
		return -ENOMEM;
	}
	/* Kept for reconnect; the option pointers move with the copy. */
	memcpy(c->line, l, sizeof(*l));
	for (int i = 0; i < l->nopts; i++) {
		c->line->opts[i].key = c->line->buf + (l->opts[i].key - l->buf);
		c->line->opts[i].val = c->line->buf + (l->opts[i].val - l->buf);
	}
	rc = start_connect(c, b, err, errlen);
	if (rc < 0)
		ctx_remove(c, err);
	return rc;
}

/* reconnect: the same method and options, a new stub and a new id; what
 * ran on the old connection ends (EIO/EOF), the directory stays. */
int ctx_reconnect(struct ctx *c, struct ctl_batch *b, char *err, size_t errlen)
{
	struct daemon *d = c->d;
	if (c->state == CTX_CONNECTING) {
		snprintf(err, errlen, "context %s is connecting", c->path);
		return -EBUSY;
	}
	if (c->state == CTX_CONNECTED)
		ctx_disconnect(c, "reconnect requested");
	if (c->id)
		map_del(&d->ctxs, c->id);
	c->id = 0;
	proto_kv_free(c->info, c->ninfo);
	proto_kv_free(c->minfo, c->nminfo);
	c->info = c->minfo = NULL;
	c->ninfo = c->nminfo = 0;
	c->why[0] = 0;
	c->state = CTX_CONNECTING;
	ctx_log(c, LOG_INFO, "reconnecting");
	int rc = start_connect(c, b, err, errlen);
	if (rc < 0) {
		c->state = CTX_DISCONNECTED;
		snprintf(c->why, sizeof(c->why), "reconnect failed: %s", err);
	}
	return rc;
}
