/*
 * router — routing table, handles, source verification and disconnect
 * propagation (the rules are listed in router.h and docs/protocol.md).
 * One per process; single-threaded on the loop. Not for: services.
 */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "map.h"
#include "proto.h"
#include "stream.h"

#define MAX_TALKERS 8

struct rstream {
	struct router *r;
	struct stream *s;
	uint32_t peer_id;
	bool is_parent;
	bool paused;  /* reading stopped because a stream we feed was full */
	struct rstream *next;
};

struct route {
	uint32_t id;
	struct rstream *via;
	/* Streams that sent messages towards id: they get DEL_ROUTE too. */
	struct rstream **talkers; /* MAX_TALKERS, made for the first one */
	int ntalkers;
};

struct handler {
	uint32_t handle;
	uint32_t peer; /* reply handles: the context we expect answers from */
	router_handler_fn *fn;
	void *arg;
	unsigned flags;
};

struct router {
	struct loop *l;
	uint32_t my_id;
	uint32_t parents[ROUTER_MAX_DEPTH];
	size_t nparents;
	struct rstream *parent;
	struct rstream *streams;
	struct map routes;   /* id -> struct route */
	struct map handlers; /* handle -> struct handler */
	uint32_t next_handle;
	const struct router_ops *ops;
	void *arg;
	struct router_stats st;
};

static void on_stream_msg(struct stream *s, struct msg *m, void *arg);
static void on_stream_close(struct stream *s, int err, const char *why, void *arg);
static void on_stream_drain(struct stream *s, void *arg);

static const struct stream_ops router_stream_ops = {
	.on_msg = on_stream_msg,
	.on_close = on_stream_close,
	.on_drain = on_stream_drain,
};

static void deliver_local(struct router *r, struct msg *m, struct rstream *in);
static void on_add_route(struct router *r, const struct msg *m, void *arg);
static void on_del_route(struct router *r, const struct msg *m, void *arg);
static void route_free(struct route *rt);

struct router *router_new(struct loop *l, uint32_t my_id,
			  const struct router_ops *ops, void *arg)
{
	struct router *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->l = l;
	r->my_id = my_id;
	r->ops = ops;
	r->arg = arg;
	r->next_handle = HANDLE_FIRST_REPLY;
	map_init(&r->routes);
	map_init(&r->handlers);
	if (router_add_handler(r, HANDLE_ADD_ROUTE, on_add_route, NULL, 0) ||
	    router_add_handler(r, HANDLE_DEL_ROUTE, on_del_route, NULL, 0)) {
		router_free(r);
		errno = ENOMEM;
		return NULL;
	}
	return r;
}

void router_free(struct router *r)
{
	if (!r)
		return;
	size_t pos = 0;
	void *v;
	while (map_next(&r->routes, &pos, NULL, &v))
		route_free(v);
	pos = 0;
	while (map_next(&r->handlers, &pos, NULL, &v))
		free(v);
	map_free(&r->routes);
	map_free(&r->handlers);
	for (struct rstream *rs = r->streams, *n; rs; rs = n) {
		n = rs->next;
		stream_free(rs->s);
		free(rs);
	}
	free(r);
}

int router_set_identity(struct router *r, uint32_t my_id,
			const uint32_t *parents, size_t n)
{
	if (n > ROUTER_MAX_DEPTH)
		return -E2BIG;
	r->my_id = my_id;
	r->nparents = n;
	if (n)
		memcpy(r->parents, parents, n * sizeof(*parents));
	return 0;
}

uint32_t router_id(const struct router *r) { return r->my_id; }

size_t router_trim(struct router *r)
{
	size_t n = 0;
	for (struct rstream *rs = r->streams; rs; rs = rs->next)
		n += stream_trim(rs->s);
	return n;
}
struct loop *router_loop(const struct router *r) { return r->l; }

static struct route *route_get(const struct router *r, uint32_t id)
{
	return map_get(&r->routes, id);
}

/* The stream a message to id leaves by: its route, else our parent. */
static struct rstream *via(const struct router *r, uint32_t id)
{
	struct route *rt = route_get(r, id);
	return rt ? rt->via : r->parent;
}

static bool is_ancestor(const struct router *r, uint32_t id)
{
	for (size_t i = 0; i < r->nparents; i++)
		if (r->parents[i] == id)
			return true;
	return false;
}

static struct rstream *rstream_new(struct router *r, struct stream *s, uint32_t peer)
{
	struct rstream *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->r = r;
	rs->s = s;
	rs->peer_id = peer;
	rs->next = r->streams;
	r->streams = rs;
	stream_set_ops(s, &router_stream_ops, rs);
	return rs;
}

static void route_free(struct route *rt)
{
	free(rt->talkers);
	free(rt);
}

static int route_add(struct router *r, uint32_t id, struct rstream *rs)
{
	struct route *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	rt->id = id;
	rt->via = rs;
	int rc = map_put(&r->routes, id, rt);
	if (rc)
		free(rt);
	return rc;
}

/* Sends a one-field route message (ADD/DEL) to our parent. */
static void tell_parent(struct router *r, uint32_t handle, uint32_t id, const char *why)
{
	if (!r->parent)
		return;
	struct buf b;
	buf_init(&b);
	if (buf_put_u32(&b, id) == 0 && (!why || buf_put_str(&b, why) == 0))
		router_send_to(r, r->parent->peer_id, handle, 0, b.data, b.len);
	buf_free(&b);
}

int router_set_parent(struct router *r, struct stream *s, uint32_t parent_id)
{
	if (r->parent)
		return -EEXIST;
	struct rstream *rs = rstream_new(r, s, parent_id);
	if (!rs)
		return -ENOMEM;
	rs->is_parent = true;
	r->parent = rs;
	return 0;
}

int router_add_child(struct router *r, struct stream *s, uint32_t peer_id)
{
	if (peer_id == r->my_id || route_get(r, peer_id) || is_ancestor(r, peer_id))
		return -EEXIST;
	struct rstream *rs = rstream_new(r, s, peer_id);
	if (!rs)
		return -ENOMEM;
	int rc = route_add(r, peer_id, rs);
	if (rc) {
		r->streams = rs->next;
		free(rs);
		return rc;
	}
	tell_parent(r, HANDLE_ADD_ROUTE, peer_id, NULL);
	return 0;
}

int router_close_child(struct router *r, uint32_t peer_id, const char *why)
{
	struct route *rt = route_get(r, peer_id);
	if (!rt || rt->via->peer_id != peer_id)
		return -ENOENT;
	stream_close(rt->via->s, 0, why);
	return 0;
}

struct stream *router_stream_for(const struct router *r, uint32_t id)
{
	if (id == r->my_id)
		return NULL;
	struct rstream *rs = via(r, id);
	return rs ? rs->s : NULL;
}

bool router_congested(const struct router *r, uint32_t id)
{
	struct stream *s = router_stream_for(r, id);
	return s && stream_full(s);
}

/* --- handles --- */

int router_add_handler(struct router *r, uint32_t handle, router_handler_fn *fn,
		       void *arg, unsigned flags)
{
	if (handle >= HANDLE_FIRST_REPLY || map_get(&r->handlers, handle))
		return -EEXIST;
	struct handler *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	*h = (struct handler){ handle, 0, fn, arg, flags | ROUTER_PERSIST };
	int rc = map_put(&r->handlers, handle, h);
	if (rc)
		free(h);
	return rc;
}

uint32_t router_add_reply(struct router *r, uint32_t peer, router_handler_fn *fn,
			  void *arg, unsigned flags)
{
	struct handler *h = calloc(1, sizeof(*h));
	if (!h) {
		errno = ENOMEM;
		return 0;
	}
	/* Reply handles are never reused while live; skip over any that are
	 * (only possible after 4 billion allocations). */
	uint32_t handle;
	do {
		handle = r->next_handle++;
		if (r->next_handle < HANDLE_FIRST_REPLY)
			r->next_handle = HANDLE_FIRST_REPLY;
	} while (map_get(&r->handlers, handle));
	*h = (struct handler){ handle, peer, fn, arg, flags };
	if (map_put(&r->handlers, handle, h)) {
		free(h);
		errno = ENOMEM;
		return 0;
	}
	return handle;
}

void router_del_handler(struct router *r, uint32_t handle)
{
	free(map_del(&r->handlers, handle));
}

bool router_msg_is_dead(const struct msg *m)
{
	return m->reply_to == HANDLE_IS_DEAD;
}

/* --- sending --- */

/* Sends m without taking it: streams copy what they queue, so callers
 * with a message on the stack or a reused buffer pay no allocation. */
static int send_borrowed(struct router *r, struct msg *m)
{
	m->src_id = m->auth_id = r->my_id;
	if (m->dst_id == r->my_id) {
		deliver_local(r, m, NULL);
		return 0;
	}
	struct rstream *out = via(r, m->dst_id);
	return out ? stream_send(out->s, m) : -EHOSTUNREACH;
}

int router_send(struct router *r, struct msg *m)
{
	int rc = send_borrowed(r, m);
	msg_free(m);
	return rc;
}

int router_send_to(struct router *r, uint32_t dst, uint32_t handle,
		   uint32_t reply_to, const void *data, size_t len)
{
	if (len > FRAME_MAX_LEN)
		return -EMSGSIZE;
	struct msg m = { .dst_id = dst, .handle = handle, .reply_to = reply_to,
			 .data = (uint8_t *)data, .len = (uint32_t)len };
	return send_borrowed(r, &m);
}

int router_reply(struct router *r, const struct msg *req, const void *data, size_t len)
{
	if (!req->reply_to || req->reply_to == HANDLE_IS_DEAD)
		return 0;
	return router_send_to(r, req->src_id, req->reply_to, 0, data, len);
}

int router_reply_dead(struct router *r, const struct msg *req, const char *why)
{
	if (!req->reply_to || req->reply_to == HANDLE_IS_DEAD)
		return 0;
	r->st.dead_sent++;
	return router_send_to(r, req->src_id, req->reply_to, HANDLE_IS_DEAD,
			      why, strlen(why));
}

/* --- receiving --- */

/* Calls every reply handle waiting on id with a dead message. Handles,
 * not handlers, are collected first: a callback may delete another
 * waiter of the same id (a job's start reply drops its event handle),
 * which must then be skipped, not called after it was freed. Handle
 * numbers are not reused before the counter wraps (router_add_reply). */
static void wake_waiters(struct router *r, uint32_t id, const char *why)
{
	size_t pos = 0, n = 0, cap = 0;
	struct handler *h;
	uint32_t *list = NULL;
	while (map_next(&r->handlers, &pos, NULL, (void **)&h)) {
		if (h->handle < HANDLE_FIRST_REPLY || h->peer != id)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			uint32_t *nl = realloc(list, cap * sizeof(*nl));
			if (!nl)
				break; /* the rest stay registered; nothing is lost twice */
			list = nl;
		}
		list[n++] = h->handle;
	}
	struct msg dead = {
		.dst_id = r->my_id, .src_id = id, .auth_id = id,
		.reply_to = HANDLE_IS_DEAD, .data = (uint8_t *)why,
		.len = (uint32_t)strlen(why),
	};
	for (size_t i = 0; i < n; i++) {
		h = map_del(&r->handlers, list[i]);
		if (!h)
			continue; /* deleted by an earlier callback */
		dead.handle = h->handle;
		h->fn(r, &dead, h->arg);
		free(h);
	}
	free(list);
}

/* A route is gone: wake local waiters, tell talkers and the parent, tell
 * the owner. rt (already removed from the table) may be NULL for ids we
 * reached through our parent. */
static void route_lost(struct router *r, uint32_t id, struct route *rt, const char *why)
{
	if (rt) {
		for (int i = 0; i < rt->ntalkers; i++) {
			struct rstream *t = rt->talkers[i]; /* never via, nor the parent */
			struct buf b;
			buf_init(&b);
			if (!buf_put_u32(&b, id) && !buf_put_str(&b, why))
				router_send_to(r, t->peer_id, HANDLE_DEL_ROUTE, 0, b.data, b.len);
			buf_free(&b);
		}
		route_free(rt);
		tell_parent(r, HANDLE_DEL_ROUTE, id, why);
	}
	wake_waiters(r, id, why);
	if (r->ops && r->ops->on_route_lost)
		r->ops->on_route_lost(r, id, why, r->arg);
}

/* The parent hears of a lost route from tell_parent and the route's own
 * stream is what was lost, so neither is kept: route_lost tells every
 * talker, and a parent's routes to its 100s of children hold none, and
 * no array for them. */
static void add_talker(struct router *r, struct route *rt, struct rstream *in)
{
	if (in == r->parent || in == rt->via)
		return;
	for (int i = 0; i < rt->ntalkers; i++)
		if (rt->talkers[i] == in)
			return;
	if (!rt->talkers && !(rt->talkers = calloc(MAX_TALKERS, sizeof(*rt->talkers))))
		return; /* as past MAX_TALKERS: that stream is not told */
	if (rt->ntalkers < MAX_TALKERS)
		rt->talkers[rt->ntalkers++] = in;
}

static void deliver_local(struct router *r, struct msg *m, struct rstream *in)
{
	r->st.msgs_local++;
	struct handler *h = map_get(&r->handlers, m->handle);
	if (!h) {
		if (!router_msg_is_dead(m))
			log_debug("router: no handler for handle %u from %u", m->handle, m->src_id);
		router_reply_dead(r, m, "no such handle");
		return;
	}
	if ((h->flags & ROUTER_PARENT_ONLY) && m->auth_id != r->my_id &&
	    !is_ancestor(r, m->auth_id)) {
		log_warn("router: refused handle %u from context %u: not a parent", m->handle, m->auth_id);
		r->st.auth_rejected++;
		router_reply_dead(r, m, "refused: caller is not a parent of this context");
		return;
	}
	if (h->handle >= HANDLE_FIRST_REPLY && m->src_id != h->peer) {
		/* Dead replies may come from a hop on the way to the peer. */
		bool ok = router_msg_is_dead(m) && in && via(r, m->src_id) == via(r, h->peer);
		if (!ok) {
			log_warn("router: dropped reply for handle %u from %u, expected %u",
				 m->handle, m->src_id, h->peer);
			r->st.msgs_dropped++;
			return;
		}
	}
	bool once = !(h->flags & ROUTER_PERSIST) || router_msg_is_dead(m);
	if (once)
		map_del(&r->handlers, h->handle);
	h->fn(r, m, h->arg);
	if (once)
		free(h);
}

static void forward(struct router *r, struct rstream *in, struct msg *m)
{
	struct rstream *out = via(r, m->dst_id);
	if (!out || out == in) {
		r->st.msgs_dropped++;
		log_debug("router: no route to %u (from %u, handle %u)", m->dst_id, m->src_id, m->handle);
		if (m->reply_to && m->reply_to != HANDLE_IS_DEAD) {
			r->st.dead_sent++;
			struct msg *d = msg_new(m->src_id, m->reply_to, HANDLE_IS_DEAD,
						"no route to context", 19);
			if (d) {
				d->src_id = d->auth_id = r->my_id;
				struct rstream *back = via(r, d->dst_id);
				if (back)
					stream_send(back->s, d);
				msg_free(d);
			}
		}
		return;
	}
	struct route *rt = route_get(r, m->dst_id);
	if (rt)
		add_talker(r, rt, in);
	r->st.msgs_routed++;
	r->st.bytes_routed += m->len;
	stream_send(out->s, m);
	if (stream_full(out->s) && !in->paused) {
		/* Stop reading the producer until the consumer drains. */
		in->paused = true;
		stream_pause(in->s, true);
	}
}

static void on_stream_msg(struct stream *s, struct msg *m, void *arg)
{
	(void)s;
	struct rstream *in = arg;
	struct router *r = in->r;
	/* Source verification: both the authority and the sender must be
	 * reachable through the stream the message came in on. */
	if (via(r, m->auth_id) != in || via(r, m->src_id) != in ||
	    m->auth_id == r->my_id || m->src_id == r->my_id) {
		log_warn("router: dropped message from stream of context %u: "
			 "src %u / auth %u not reachable through it (handle %u)",
			 in->peer_id, m->src_id, m->auth_id, m->handle);
		r->st.auth_rejected++;
		r->st.msgs_dropped++;
		msg_free(m);
		return;
	}
	if (m->dst_id == r->my_id)
		deliver_local(r, m, in);
	else
		forward(r, in, m);
	msg_free(m);
}

static void on_stream_close(struct stream *s, int err, const char *why, void *arg)
{
	(void)s;
	(void)err;
	struct rstream *rs = arg;
	struct router *r = rs->r;
	/* Unlink first so nothing routes to it while we clean up. */
	for (struct rstream **pp = &r->streams; *pp; pp = &(*pp)->next)
		if (*pp == rs) {
			*pp = rs->next;
			break;
		}
	if (rs == r->parent)
		r->parent = NULL;
	/* Every route through this stream is lost. */
	size_t pos = 0, n = 0, cap = 0;
	uint64_t key;
	struct route *rt;
	uint32_t *ids = NULL;
	while (map_next(&r->routes, &pos, &key, (void **)&rt)) {
		for (int i = 0; i < rt->ntalkers; i++)
			if (rt->talkers[i] == rs)
				rt->talkers[i] = rt->talkers[--rt->ntalkers];
		if (rt->via != rs)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			uint32_t *ni = realloc(ids, cap * sizeof(*ni));
			if (!ni)
				break;
			ids = ni;
		}
		ids[n++] = (uint32_t)key;
	}
	char reason[256];
	snprintf(reason, sizeof(reason), "stream closed: %s", why ? why : "closed");
	for (size_t i = 0; i < n; i++)
		route_lost(r, ids[i], map_del(&r->routes, ids[i]), reason);
	free(ids);
	if (rs->is_parent) {
		if (r->ops && r->ops->on_parent_lost)
			r->ops->on_parent_lost(r, reason, r->arg);
	}
	stream_free(rs->s);
	free(rs);
}

static void on_stream_drain(struct stream *s, void *arg)
{
	(void)s;
	struct rstream *drained = arg;
	struct router *r = drained->r;
	for (struct rstream *rs = r->streams; rs; rs = rs->next)
		if (rs->paused) {
			rs->paused = false;
			stream_pause(rs->s, false);
		}
	if (r->ops && r->ops->on_drain)
		r->ops->on_drain(r, r->arg);
}

/* --- route messages --- */

static struct rstream *stream_of_peer(struct router *r, uint32_t src)
{
	struct route *rt = route_get(r, src);
	return rt ? rt->via : r->parent;
}

static void on_add_route(struct router *r, const struct msg *m, void *arg)
{
	(void)arg;
	struct rd rd;
	uint32_t id;
	rd_init(&rd, m->data, m->len);
	if (rd_u32(&rd, &id) || rd_end(&rd)) {
		log_warn("router: malformed ADD_ROUTE from %u", m->src_id);
		return;
	}
	struct rstream *in = stream_of_peer(r, m->src_id);
	if (!in || in == r->parent) {
		log_warn("router: ADD_ROUTE %u from parent side ignored", id);
		return;
	}
	struct route *rt = route_get(r, id);
	if (rt) {
		if (rt->via != in)
			log_warn("router: ADD_ROUTE %u from %u conflicts with an existing route", id, m->src_id);
		return;
	}
	if (id == r->my_id || is_ancestor(r, id)) {
		log_warn("router: ADD_ROUTE for reserved id %u from %u refused", id, m->src_id);
		return;
	}
	if (route_add(r, id, in) == 0)
		tell_parent(r, HANDLE_ADD_ROUTE, id, NULL);
}

static void on_del_route(struct router *r, const struct msg *m, void *arg)
{
	(void)arg;
	struct rd rd;
	uint32_t id;
	char *why = NULL;
	rd_init(&rd, m->data, m->len);
	if (rd_u32(&rd, &id) || (rd_left(&rd) && rd_str(&rd, &why, PROTO_MAX_TEXT)) || rd_end(&rd)) {
		log_warn("router: malformed DEL_ROUTE from %u", m->src_id);
		free(why);
		return;
	}
	struct rstream *in = stream_of_peer(r, m->src_id);
	struct route *rt = route_get(r, id);
	const char *reason = why ? why : "route deleted";
	if (rt) {
		if (rt->via != in) {
			log_warn("router: DEL_ROUTE %u from %u, which does not route it", id, m->src_id);
		} else {
			map_del(&r->routes, id);
			route_lost(r, id, rt, reason);
		}
	} else if (in == r->parent) {
		route_lost(r, id, NULL, reason);
	}
	free(why);
}

void router_get_stats(const struct router *r, struct router_stats *st)
{
	*st = r->st;
	st->routes = (uint32_t)r->routes.used;
	st->handles = (uint32_t)r->handlers.used;
	uint32_t n = 0;
	for (struct rstream *rs = r->streams; rs; rs = rs->next)
		n++;
	st->streams = n;
}
