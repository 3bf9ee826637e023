/*
 * router — Mitogen's router in C: every process (daemon or stub) has one.
 *
 * It owns the streams to its parent and children, keeps the routing table
 * (context id -> stream), dispatches local messages to handlers by handle
 * number, hands out one-shot or persistent reply handles, and enforces the
 * rules of docs/protocol.md:
 *  - source verification: a message whose auth_id (or src_id) is not
 *    reachable through the stream it came in on is dropped and logged;
 *  - handlers flagged ROUTER_PARENT_ONLY accept only our own id or an
 *    ancestor's as auth_id (Mitogen's parent_ids rule);
 *  - an unroutable message that asks for a reply gets an IS_DEAD reply;
 *  - ADD_ROUTE goes up when a child stream or a grandchild appears;
 *    DEL_ROUTE goes up and to every stream that talked to the lost id, and
 *    every local reply handle waiting on a lost id gets a dead message.
 * Not for: what services do (stub/, fs/), nor id allocation (ids.h).
 */
#ifndef MITOFS_ROUTER_H
#define MITOFS_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct loop;
struct stream;
struct router;

#define ROUTER_MAX_DEPTH 64 /* longest parent chain we accept */

/* Called with a borrowed message; it is freed when the handler returns.
 * A dead reply (router_msg_is_dead) carries a reason text as payload. */
typedef void router_handler_fn(struct router *r, const struct msg *m, void *arg);

enum {
	ROUTER_PERSIST = 1 << 0,     /* a reply handle that survives its first message */
	ROUTER_PARENT_ONLY = 1 << 1, /* only our ancestors (or we) may call it */
};

struct router_ops {
	/* Context id is no longer reachable (its stream closed, or a
	 * DEL_ROUTE said so). Called after the local waiters were woken. */
	void (*on_route_lost)(struct router *r, uint32_t id, const char *why, void *arg);
	/* The stream to our parent closed (stubs: time to exit). */
	void (*on_parent_lost)(struct router *r, const char *why, void *arg);
	/* A stream that was full drained: producers may resume. */
	void (*on_drain)(struct router *r, void *arg);
};

struct router_stats {
	uint64_t msgs_routed, msgs_local, msgs_dropped, bytes_routed;
	uint64_t dead_sent, auth_rejected;
	uint32_t routes, streams, handles;
};

/* New router for context my_id (ops may be NULL). NULL with errno. */
struct router *router_new(struct loop *l, uint32_t my_id,
			  const struct router_ops *ops, void *arg);
/* Frees every stream (closing fds) and handler record; NULL is a no-op. */
void router_free(struct router *r);

/* Sets our id and ancestor chain (parents[0] is the master, the last is
 * our direct parent); used by a stub once its config arrived. 0, -E2BIG. */
int router_set_identity(struct router *r, uint32_t my_id,
			const uint32_t *parents, size_t n);
uint32_t router_id(const struct router *r);
struct loop *router_loop(const struct router *r);

/* Takes ownership of s as the stream to our parent (id parent_id); the
 * router replaces the stream's callbacks. 0 or -EEXIST. */
int router_set_parent(struct router *r, struct stream *s, uint32_t parent_id);
/* Takes ownership of s as the stream to a direct child with id peer_id;
 * adds the route and sends ADD_ROUTE to our parent if we have one.
 * 0, -EEXIST if peer_id is routed already, -ENOMEM. On failure the
 * stream is still the caller's. */
int router_add_child(struct router *r, struct stream *s, uint32_t peer_id);
/* Closes the stream to direct child peer_id (and so every route behind
 * it) with reason why. 0 or -ENOENT. */
int router_close_child(struct router *r, uint32_t peer_id, const char *why);
/* The stream a message to id would leave by, or NULL (no route, no
 * parent, or id is ours). */
struct stream *router_stream_for(const struct router *r, uint32_t id);
/* True when the stream towards id is past its high-water mark. */
bool router_congested(const struct router *r, uint32_t id);

/* Registers fn for a standard handle (< HANDLE_FIRST_REPLY, proto.h). 0, -EEXIST. */
int router_add_handler(struct router *r, uint32_t handle, router_handler_fn *fn,
		       void *arg, unsigned flags);
/* Allocates a new reply handle that expects messages from context peer;
 * if peer becomes unreachable, fn gets a dead message and the handle is
 * removed. Without ROUTER_PERSIST the handle is removed after its first
 * message. Returns the handle, or 0 with errno=ENOMEM. */
uint32_t router_add_reply(struct router *r, uint32_t peer, router_handler_fn *fn,
			  void *arg, unsigned flags);
/* Removes a handle; unknown handles are ignored. */
void router_del_handler(struct router *r, uint32_t handle);

/* Sends m (taking ownership whatever happens), stamping src_id and
 * auth_id with our id. Local messages are dispatched at once. Returns 0,
 * -EHOSTUNREACH when there is no route (no IS_DEAD is generated for a
 * local sender: the caller learns it here), -EPIPE, -ENOMEM. */
int router_send(struct router *r, struct msg *m);
/* Sends a message made of these fields; data is copied (or delivered)
 * before the call returns, so it may live on the stack. Same returns. */
int router_send_to(struct router *r, uint32_t dst, uint32_t handle,
		   uint32_t reply_to, const void *data, size_t len);
/* Replies to req (to req->src_id, handle req->reply_to); does nothing
 * and returns 0 when req asked for no reply. */
int router_reply(struct router *r, const struct msg *req, const void *data, size_t len);
/* Sends an IS_DEAD reply to req carrying why; 0 when no reply was asked. */
int router_reply_dead(struct router *r, const struct msg *req, const char *why);
/* True for a dead reply: its reply_to is HANDLE_IS_DEAD. */
bool router_msg_is_dead(const struct msg *m);

void router_get_stats(const struct router *r, struct router_stats *st);
/* Frees the idle read buffers of every stream (stream_trim): bytes. */
size_t router_trim(struct router *r);

#endif
