/*
 * test_router — the router's rules with real streams over socketpairs:
 * a master (id 0), a stub B (id 1) below it and a grandchild C (id 2)
 * below B, all on one loop in this process; raw peers stand in for
 * misbehaving stubs.
 *
 *   make build/tests/test_router && build/tests/test_router --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "frame.h"
#include "loop.h"
#include "proto.h"
#include "router.h"
#include "stream.h"

#define H_TEST 150

struct seen {
	int calls, dead;
	uint32_t src, auth;
	char text[128];
};

struct lost {
	uint32_t ids[16];
	int n;
	int parent_lost;
};

static void on_lost(struct router *r, uint32_t id, const char *why, void *arg)
{
	(void)r;
	(void)why;
	struct lost *l = arg;
	if (l->n < 16)
		l->ids[l->n++] = id;
}

static void on_parent_lost(struct router *r, const char *why, void *arg)
{
	(void)r;
	(void)why;
	((struct lost *)arg)->parent_lost++;
}

static const struct router_ops lost_ops = { .on_route_lost = on_lost,
					    .on_parent_lost = on_parent_lost };

static void record(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct seen *s = arg;
	s->calls++;
	s->dead += router_msg_is_dead(m);
	s->src = m->src_id;
	s->auth = m->auth_id;
	snprintf(s->text, sizeof(s->text), "%.*s", (int)m->len, m->data ? (char *)m->data : "");
}

/* Answers "pong" to whatever it gets. */
static void pong(struct router *r, const struct msg *m, void *arg)
{
	(void)arg;
	router_reply(r, m, "pong", 4);
}

struct world {
	struct loop *l;
	struct router *a, *b, *c; /* master 0, stub 1, grandchild 2 */
	struct lost la, lb, lc;
};

static struct stream *pair(struct loop *l, struct stream **other)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct stream *s = stream_new(l, sv[0], sv[0], NULL, NULL);
	*other = stream_new(l, sv[1], sv[1], NULL, NULL);
	cr_assert(s && *other);
	return s;
}

static void spin(struct loop *l, int *flag, int want)
{
	for (int i = 0; i < 200 && *flag < want; i++)
		loop_once(l, 10);
}

static void settle(struct loop *l)
{
	for (int i = 0; i < 20; i++)
		loop_once(l, 1);
}

static void world_up(struct world *w)
{
	memset(w, 0, sizeof(*w));
	w->l = loop_new();
	w->a = router_new(w->l, 0, &lost_ops, &w->la);
	w->b = router_new(w->l, 1, &lost_ops, &w->lb);
	w->c = router_new(w->l, 2, &lost_ops, &w->lc);
	uint32_t pb[] = { 0 }, pc[] = { 0, 1 };
	router_set_identity(w->b, 1, pb, 1);
	router_set_identity(w->c, 2, pc, 2);
	struct stream *b_up, *c_up;
	struct stream *a_down = pair(w->l, &b_up);
	struct stream *b_down = pair(w->l, &c_up);
	cr_assert_eq(router_add_child(w->a, a_down, 1), 0);
	cr_assert_eq(router_set_parent(w->b, b_up, 0), 0);
	cr_assert_eq(router_set_parent(w->c, c_up, 1), 0);
	cr_assert_eq(router_add_child(w->b, b_down, 2), 0); /* sends ADD_ROUTE up */
	for (int i = 0; i < 100 && !router_stream_for(w->a, 2); i++)
		loop_once(w->l, 10);
}

static void world_down(struct world *w)
{
	router_free(w->c);
	router_free(w->b);
	router_free(w->a);
	loop_free(w->l);
}

Test(router, add_route_travels_up_to_the_master)
{
	struct world w;
	world_up(&w);
	cr_assert_not_null(router_stream_for(w.a, 2), "master learned a route to the grandchild");
	cr_assert_eq(router_stream_for(w.a, 2), router_stream_for(w.a, 1),
		     "through the stream of its parent");
	world_down(&w);
}

Test(router, messages_route_down_and_replies_route_up)
{
	struct world w;
	world_up(&w);
	struct seen s = { 0 };
	cr_assert_eq(router_add_handler(w.c, H_TEST, pong, NULL, 0), 0);
	uint32_t h = router_add_reply(w.a, 2, record, &s, 0);
	cr_assert_eq(router_send_to(w.a, 2, H_TEST, h, "ping", 4), 0);
	spin(w.l, &s.calls, 1);
	cr_assert_eq(s.calls, 1);
	cr_assert_eq(s.dead, 0);
	cr_assert_eq(s.src, 2);
	cr_assert_str_eq(s.text, "pong");
	world_down(&w);
}

Test(router, unroutable_message_gets_an_is_dead_reply)
{
	struct world w;
	world_up(&w);
	struct seen s = { 0 };
	/* C asks context 77, which nobody knows: the master answers IS_DEAD. */
	uint32_t h = router_add_reply(w.c, 0, record, &s, 0);
	cr_assert_eq(router_send_to(w.c, 77, H_TEST, h, "x", 1), 0);
	spin(w.l, &s.calls, 1);
	cr_assert_eq(s.calls, 1);
	cr_assert_eq(s.dead, 1);
	cr_assert(strstr(s.text, "no route"), "reason: %s", s.text);
	world_down(&w);
}

Test(router, local_send_without_route_fails_at_once)
{
	struct world w;
	world_up(&w);
	cr_assert_eq(router_send_to(w.a, 99, H_TEST, 0, NULL, 0), -EHOSTUNREACH);
	world_down(&w);
}

Test(router, unknown_handle_gets_a_dead_reply)
{
	struct world w;
	world_up(&w);
	struct seen s = { 0 };
	uint32_t h = router_add_reply(w.a, 1, record, &s, 0);
	router_send_to(w.a, 1, 555, h, NULL, 0);
	spin(w.l, &s.calls, 1);
	cr_assert_eq(s.dead, 1);
	world_down(&w);
}

Test(router, parent_only_service_refuses_a_child)
{
	struct world w;
	world_up(&w);
	struct seen svc = { 0 }, answer = { 0 };
	cr_assert_eq(router_add_handler(w.b, H_TEST, record, &svc, ROUTER_PARENT_ONLY), 0);
	/* C is B's child, not its parent: refused with a dead reply. */
	uint32_t h = router_add_reply(w.c, 1, record, &answer, 0);
	router_send_to(w.c, 1, H_TEST, h, NULL, 0);
	spin(w.l, &answer.calls, 1);
	cr_assert_eq(svc.calls, 0);
	cr_assert_eq(answer.dead, 1);
	cr_assert(strstr(answer.text, "refused"), "%s", answer.text);
	/* The master is B's parent: accepted. */
	router_send_to(w.a, 1, H_TEST, 0, NULL, 0);
	spin(w.l, &svc.calls, 1);
	cr_assert_eq(svc.calls, 1);
	cr_assert_eq(svc.auth, 0);
	world_down(&w);
}

/* Writes one raw frame on fd. */
static void raw_frame(int fd, uint32_t dst, uint32_t src, uint32_t auth, uint32_t handle)
{
	struct frame_hdr h = { .dst_id = dst, .src_id = src, .auth_id = auth,
			       .handle = handle, .len = 0 };
	uint8_t out[FRAME_HDR_LEN];
	frame_hdr_encode(&h, out);
	cr_assert_eq(write(fd, out, sizeof(out)), (ssize_t)sizeof(out));
}

Test(router, forged_auth_id_is_dropped)
{
	struct loop *l = loop_new();
	struct router *a = router_new(l, 0, NULL, NULL);
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(router_add_child(a, stream_new(l, sv[0], sv[0], NULL, NULL), 5), 0);
	struct seen s = { 0 };
	router_add_handler(a, H_TEST, record, &s, 0);
	/* Context 5 claims the master's own authority, then a sibling's. */
	raw_frame(sv[1], 0, 5, 0, H_TEST);
	raw_frame(sv[1], 0, 5, 9, H_TEST);
	raw_frame(sv[1], 0, 9, 5, H_TEST);
	/* And then speaks honestly. */
	raw_frame(sv[1], 0, 5, 5, H_TEST);
	spin(l, &s.calls, 1);
	settle(l);
	cr_assert_eq(s.calls, 1, "only the honest message arrived");
	cr_assert_eq(s.auth, 5);
	struct router_stats st;
	router_get_stats(a, &st);
	cr_assert_eq(st.auth_rejected, 3);
	close(sv[1]);
	router_free(a);
	loop_free(l);
}

Test(router, bad_frame_closes_only_that_stream)
{
	struct loop *l = loop_new();
	struct lost la = { 0 };
	struct router *a = router_new(l, 0, &lost_ops, &la);
	int bad[2], good[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, bad);
	socketpair(AF_UNIX, SOCK_STREAM, 0, good);
	router_add_child(a, stream_new(l, bad[0], bad[0], NULL, NULL), 5);
	router_add_child(a, stream_new(l, good[0], good[0], NULL, NULL), 6);
	struct seen s = { 0 };
	router_add_handler(a, H_TEST, record, &s, 0);
	cr_assert_eq(write(bad[1], "GARBAGE-GARBAGE-GARBAGE-GARBAGE!", 32), 32);
	for (int i = 0; i < 100 && la.n == 0; i++)
		loop_once(l, 10);
	cr_assert_eq(la.n, 1);
	cr_assert_eq(la.ids[0], 5);
	cr_assert_null(router_stream_for(a, 5));
	raw_frame(good[1], 0, 6, 6, H_TEST);
	spin(l, &s.calls, 1);
	cr_assert_eq(s.calls, 1, "the other stream still works");
	close(bad[1]);
	close(good[1]);
	router_free(a);
	loop_free(l);
}

Test(router, lost_route_wakes_waiters_and_travels_up)
{
	struct world w;
	world_up(&w);
	struct seen s = { 0 };
	/* The master waits on C; B loses C. */
	router_add_reply(w.a, 2, record, &s, 0);
	cr_assert_eq(router_close_child(w.b, 2, "test"), 0);
	spin(w.l, &s.calls, 1);
	cr_assert_eq(s.calls, 1);
	cr_assert_eq(s.dead, 1, "the waiter got a dead message");
	cr_assert_eq(w.la.n, 1);
	cr_assert_eq(w.la.ids[0], 2);
	/* Without its own route, 2 would go the default way (none: master). */
	cr_assert_null(router_stream_for(w.a, 2), "the master forgot the route");
	cr_assert_eq(w.lc.parent_lost, 1, "C saw its parent go");
	world_down(&w);
}

/* Two waiters on one id, each of which deletes the other when woken (as
 * a job's start reply drops its event handle): only the first is called,
 * and the other is not touched after it was freed (ASan, test-asan). */
struct pair_waiter {
	uint32_t other;
	int *calls;
};

static void drop_other(struct router *r, const struct msg *m, void *arg)
{
	(void)m;
	struct pair_waiter *p = arg;
	(*p->calls)++;
	router_del_handler(r, p->other);
}

Test(router, a_waiter_that_deletes_another_waiter_of_the_lost_id_is_safe)
{
	struct world w;
	world_up(&w);
	int calls = 0;
	struct pair_waiter p1 = { 0, &calls }, p2 = { 0, &calls };
	uint32_t h1 = router_add_reply(w.a, 1, drop_other, &p1, ROUTER_PERSIST);
	uint32_t h2 = router_add_reply(w.a, 1, drop_other, &p2, ROUTER_PERSIST);
	cr_assert(h1 && h2);
	p1.other = h2;
	p2.other = h1;
	cr_assert_eq(router_close_child(w.a, 1, "test"), 0);
	settle(w.l);
	cr_assert_eq(calls, 1, "the deleted waiter was called too (%d calls)", calls);
	world_down(&w);
}

Test(router, losing_a_stream_loses_every_route_behind_it)
{
	struct world w;
	world_up(&w);
	struct seen s1 = { 0 }, s2 = { 0 };
	router_add_reply(w.a, 1, record, &s1, ROUTER_PERSIST);
	router_add_reply(w.a, 2, record, &s2, ROUTER_PERSIST);
	cr_assert_eq(router_close_child(w.a, 1, "test"), 0);
	settle(w.l);
	cr_assert_eq(s1.dead, 1);
	cr_assert_eq(s2.dead, 1);
	cr_assert_eq(w.la.n, 2);
	struct router_stats st;
	router_get_stats(w.a, &st);
	cr_assert_eq(st.routes, 0);
	world_down(&w);
}

/* A sibling D (3) that sent to C through B is told when B loses C, once;
 * the master, which sent to C too, hears it from B's report upwards,
 * once. Without talkers D would go on sending into a route gone. */
Test(router, a_sibling_that_sent_to_a_lost_child_is_told_once)
{
	struct world w;
	world_up(&w);
	struct lost ld = { 0 };
	struct router *d = router_new(w.l, 3, &lost_ops, &ld);
	uint32_t pd[] = { 0, 1 };
	router_set_identity(d, 3, pd, 2);
	struct stream *d_up, *b_down = pair(w.l, &d_up);
	cr_assert_eq(router_set_parent(d, d_up, 1), 0);
	cr_assert_eq(router_add_child(w.b, b_down, 3), 0);
	struct seen from_d = { 0 }, from_a = { 0 };
	cr_assert_eq(router_add_handler(w.c, H_TEST, pong, NULL, 0), 0);
	uint32_t hd = router_add_reply(d, 2, record, &from_d, 0);
	uint32_t ha = router_add_reply(w.a, 2, record, &from_a, 0);
	cr_assert_eq(router_send_to(d, 2, H_TEST, hd, "ping", 4), 0);
	cr_assert_eq(router_send_to(w.a, 2, H_TEST, ha, "ping", 4), 0);
	spin(w.l, &from_d.calls, 1);
	spin(w.l, &from_a.calls, 1);
	cr_assert_str_eq(from_d.text, "pong");
	cr_assert_str_eq(from_a.text, "pong");
	cr_assert_eq(router_close_child(w.b, 2, "test"), 0);
	spin(w.l, &ld.n, 1);
	settle(w.l);
	cr_assert_eq(ld.n, 1, "D was told %d times", ld.n);
	cr_assert_eq(ld.ids[0], 2);
	cr_assert_eq(w.la.n, 1, "the master was told %d times", w.la.n);
	cr_assert_eq(w.la.ids[0], 2);
	router_free(d);
	world_down(&w);
}

Test(router, reply_from_the_wrong_context_is_dropped)
{
	struct world w;
	world_up(&w);
	struct seen s = { 0 };
	/* The master expects an answer from B (1); C (2) answers instead. */
	uint32_t h = router_add_reply(w.a, 1, record, &s, 0);
	router_send_to(w.c, 0, h, 0, "spoof", 5);
	settle(w.l);
	cr_assert_eq(s.calls, 0);
	world_down(&w);
}

Test(router, add_route_for_an_ancestor_is_refused)
{
	struct world w;
	world_up(&w);
	/* C tries to claim the master's id through B. */
	uint8_t p[4];
	be32_put(p, 0);
	router_send_to(w.c, 1, HANDLE_ADD_ROUTE, 0, p, 4);
	settle(w.l);
	cr_assert_neq(router_stream_for(w.b, 0), router_stream_for(w.b, 2));
	world_down(&w);
}
