/*
 * svc_spawn — SPAWN_CONTEXT: a stub starts a child stub next to itself.
 *
 * For: taking an id from our block (asking the master for a new block
 * with ALLOCATE_ID when it is empty, queueing requests meanwhile), booting
 * a copy of our own image through the first stage by the method's command
 * (core/methods_run.c), and adopting the stream with router_add_child,
 * whose ADD_ROUTE travels up before our reply so the master knows the
 * route first.
 * Not for: reaping (main.c), nor the command line of each method
 * (core/methods_argv.c). A stub uploads only its own build: a child of
 * another arch is refused by the first stage (the daemon has them all).
 */
#include "svc_spawn.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "boot.h"
#include "ids.h"
#include "log.h"
#include "loop.h"
#include "router.h"
#include "methods.h"
#include "stream.h"
#include "svc.h"

/* One SPAWN_CONTEXT request, from arrival to reply. */
struct spawn_req {
	struct spawn_req *next;
	struct svc_spawn *sp;
	struct svc_req q;
	uint32_t id;            /* 0 until taken from the block */
	struct methods_run *run; /* while booting; then the child's if it
				  * holds its terminal */
	char name[PROTO_MAX_NAME + 1];
	char *method;           /* owned */
	struct proto_kv *kv;    /* owned: the options (a password among them) */
	size_t nkv;
};

/* A child context we started (until its process is reaped). */
struct child {
	struct child *next;
	uint32_t id;
	pid_t pid;
	struct methods_run *run; /* its terminal, kept open while it runs
				  * (closing it hangs the child up), or NULL */
	char name[];             /* as long as it is: a parent keeps 100s */
};

struct svc_spawn {
	struct router *r;
	struct loop *l;
	struct proto_config self;
	struct ids_block ids;
	uint32_t alloc_handle;           /* reply handle of ALLOCATE_ID in flight, 0: none */
	struct spawn_req *waiting;       /* for an id, in arrival order */
	struct spawn_req *booting;
	struct child *children;
	struct buf image;                /* our gzip'd image, made on first use */
	struct boot_images imgs;         /* it, as the one image we upload */
	struct msg_spare *spare;         /* the stub's, for children's streams */
};

static void spawn_next(struct svc_spawn *sp);

static void req_unlink(struct spawn_req **list, struct spawn_req *q)
{
	for (struct spawn_req **pp = list; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			return;
		}
}

static void req_free(struct spawn_req *q)
{
	methods_run_free(q->run);
	free(q->method);
	for (size_t i = 0; i < q->nkv; i++)
		if (!strcmp(q->kv[i].key, "password"))
			explicit_bzero(q->kv[i].val, strlen(q->kv[i].val));
	proto_kv_free(q->kv, q->nkv);
	free(q);
}

/* Replies with an error and frees a request that is in no list. */
static void req_fail(struct spawn_req *q, int err, const char *why)
{
	log_warn("spawn(%s): %s", q->name, why);
	svc_reply(q->sp->r, q->q, err, why, NULL, 0);
	req_free(q);
}

static void fail_waiting(struct svc_spawn *sp, int err, const char *why)
{
	while (sp->waiting) {
		struct spawn_req *q = sp->waiting;
		sp->waiting = q->next;
		req_fail(q, err, why);
	}
}

/* --- booting --- */

static void boot_done(struct stream *s, pid_t pid, int err, const char *why, void *arg)
{
	struct spawn_req *q = arg;
	struct svc_spawn *sp = q->sp;
	req_unlink(&sp->booting, q);
	if (err) {
		req_fail(q, err, why);
		return;
	}
	/* A network hop compresses both ways (the child was told in CONFIG). */
	if (methods_is_net(q->method))
		stream_set_compress(s, true);
	/* Its fs replies come up in 1 MiB frames (see main.c). */
	stream_share_spare(s, sp->spare);
	if (methods_has(q->method, METHODS_DIRECT))
		stream_set_peer_pid(s, pid);
	struct child *c = calloc(1, sizeof(*c) + strlen(q->name) + 1);
	int rc = c ? router_add_child(sp->r, s, q->id) : -ENOMEM;
	if (rc) {
		free(c);
		stream_free(s);
		kill(pid, SIGKILL);
		char text[128];
		snprintf(text, sizeof(text), "adding route %u: %s", q->id, strerror(-rc));
		req_fail(q, -rc, text);
		return;
	}
	c->id = q->id;
	c->pid = pid;
	/* A terminal stays open while the child runs; a run without one
	 * goes with q (a parent keeps 100s of children). */
	if (methods_run_has_tty(q->run)) {
		c->run = q->run;
		q->run = NULL;
	}
	strcpy(c->name, q->name);
	c->next = sp->children;
	sp->children = c;
	log_info("spawn(%s): context %u, pid %d", q->name, q->id, (int)pid);
	uint8_t body[8];
	be32_put(body, q->id);
	be32_put(body + 4, (uint32_t)pid);
	svc_reply(sp->r, q->q, 0, NULL, body, sizeof(body));
	req_free(q);
}

/* Boots one request that has its id. */
static void spawn_boot(struct spawn_req *q)
{
	struct svc_spawn *sp = q->sp;
	char text[256];
	int rc;
	if (sp->self.nparents >= 64) {
		req_fail(q, E2BIG, "too deep: 64 ancestors already");
		return;
	}
	if (!sp->image.len) {
		if ((rc = boot_self_image(&sp->image)) < 0 ||
		    (rc = boot_images_add(&sp->imgs, boot_arch, sp->image.data, sp->image.len, 1))) {
			buf_free(&sp->image);
			sp->imgs.n = 0;
			snprintf(text, sizeof(text), "reading our own image: %s", strerror(-rc));
			req_fail(q, -rc, text);
			return;
		}
	}
	struct proto_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = q->id;
	cfg.nparents = sp->self.nparents + 1;
	memcpy(cfg.parents, sp->self.parents, sp->self.nparents * sizeof(cfg.parents[0]));
	cfg.parents[sp->self.nparents] = sp->self.id;
	memcpy(cfg.name, q->name, sizeof(cfg.name));
	cfg.log_level = sp->self.log_level;
	/* keepalive=S (ssh), else ours: the master pings the new context as
	 * often (docs/protocol.md, keepalive), so it may go by it. */
	const char *ka = proto_kv_get(q->kv, q->nkv, "keepalive");
	unsigned long kas = ka ? strtoul(ka, NULL, 10) : 0;
	cfg.keepalive_ms = ka ? (uint32_t)(kas > 86400 ? 86400 : kas) * 1000 : sp->self.keepalive_ms;
	q->run = methods_run_start(sp->l, q->method, q->kv, q->nkv, &sp->imgs, &cfg,
				   SPAWN_BOOT_TIMEOUT_MS, boot_done, q, text, sizeof(text));
	if (!q->run) {
		req_fail(q, errno, text);
		return;
	}
	q->next = sp->booting;
	sp->booting = q;
}

/* --- ids --- */

static void on_alloc(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct svc_spawn *sp = arg;
	uint32_t start, count;
	struct rd rd;
	sp->alloc_handle = 0;
	if (router_msg_is_dead(m)) {
		char why[PROTO_MAX_TEXT];
		snprintf(why, sizeof(why), "id allocation failed: %.*s",
			 (int)(m->len < 200 ? m->len : 200), (const char *)m->data);
		fail_waiting(sp, EHOSTUNREACH, why);
		return;
	}
	rd_init(&rd, m->data, m->len);
	if (rd_u32(&rd, &start) || rd_u32(&rd, &count) || rd_end(&rd) ||
	    start == 0 || count == 0) {
		fail_waiting(sp, EBADMSG, "id allocation failed: malformed reply");
		return;
	}
	ids_block_fill(&sp->ids, start, count);
	spawn_next(sp);
}

/* Hands ids to waiting requests; asks for a block when it runs out. */
static void spawn_next(struct svc_spawn *sp)
{
	while (sp->waiting) {
		struct spawn_req *q = sp->waiting;
		if (ids_block_take(&sp->ids, &q->id) < 0)
			break;
		sp->waiting = q->next;
		spawn_boot(q);
	}
	if (!sp->waiting || sp->alloc_handle)
		return;
	uint32_t h = router_add_reply(sp->r, 0, on_alloc, sp, 0);
	int rc = h ? router_send_to(sp->r, 0, HANDLE_ALLOCATE_ID, h, NULL, 0) : -ENOMEM;
	if (rc < 0) {
		if (h)
			router_del_handler(sp->r, h);
		char why[96];
		snprintf(why, sizeof(why), "asking the master for ids: %s", strerror(-rc));
		fail_waiting(sp, -rc, why);
		return;
	}
	sp->alloc_handle = h;
}

/* --- the call --- */

void svc_spawn_call(struct svc_spawn *sp, const struct msg *m, uint16_t op, struct rd *a)
{
	struct svc_req rq = svc_req_of(m);
	char *name = NULL, *method = NULL;
	struct proto_kv *kv = NULL;
	size_t nkv = 0;
	if (op != SPAWN_CONTEXT) {
		svc_reply_errf(sp->r, rq, EINVAL, "spawn: unknown op %u", op);
		return;
	}
	int rc = rd_str(a, &name, PROTO_MAX_NAME);
	if (!rc)
		rc = rd_str(a, &method, PROTO_MAX_NAME);
	if (!rc)
		rc = proto_kv_read(a, &kv, &nkv);
	if (!rc)
		rc = rd_end(a);
	if (rc) {
		svc_reply_errf(sp->r, rq, rc == -ENOMEM ? ENOMEM : rc == -ERANGE ? ERANGE : EBADMSG,
			       "spawn: malformed arguments");
		goto out;
	}
	if (!*name) {
		svc_reply_errf(sp->r, rq, EINVAL, "spawn: empty name");
		goto out;
	}
	{
		/* Check the method and its options before taking an id. */
		char why[256];
		rc = methods_check(method, kv, nkv, why, sizeof(why));
		if (rc) {
			svc_reply_errf(sp->r, rq, -rc, "%s", why);
			goto out;
		}
	}
	struct spawn_req *q = calloc(1, sizeof(*q));
	if (!q) {
		svc_reply_errf(sp->r, rq, ENOMEM, "spawn(%s): out of memory", name);
		goto out;
	}
	q->sp = sp;
	q->q = rq;
	memcpy(q->name, name, strlen(name) + 1);
	q->method = method;
	q->kv = kv;
	q->nkv = nkv;
	method = NULL;
	kv = NULL;
	nkv = 0;
	struct spawn_req **pp = &sp->waiting;
	while (*pp)
		pp = &(*pp)->next;
	*pp = q;
	spawn_next(sp);
out:
	free(name);
	free(method);
	proto_kv_free(kv, nkv);
}

/* --- lifetime --- */

struct svc_spawn *svc_spawn_new(struct router *r, const struct proto_config *self,
				struct msg_spare *spare)
{
	struct svc_spawn *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->r = r;
	sp->spare = spare;
	sp->l = router_loop(r);
	sp->self = *self;
	ids_block_init(&sp->ids);
	buf_init(&sp->image);
	return sp;
}

bool svc_spawn_child_exited(struct svc_spawn *sp, pid_t pid, int status)
{
	for (struct child **pp = &sp->children; *pp; pp = &(*pp)->next) {
		struct child *c = *pp;
		if (c->pid != pid)
			continue;
		if (WIFSIGNALED(status))
			log_info("spawn(%s): context %u (pid %d) killed by signal %d",
				 c->name, c->id, (int)pid, WTERMSIG(status));
		else
			log_info("spawn(%s): context %u (pid %d) exited with %d",
				 c->name, c->id, (int)pid, WEXITSTATUS(status));
		*pp = c->next;
		methods_run_free(c->run);
		free(c);
		return true;
	}
	return false;
}

void svc_spawn_shutdown(struct svc_spawn *sp)
{
	while (sp->booting) {
		struct spawn_req *q = sp->booting;
		sp->booting = q->next;
		methods_run_free(q->run); /* kills the child */
		q->run = NULL;
		req_fail(q, ECANCELED, "context is shutting down");
	}
	fail_waiting(sp, ECANCELED, "context is shutting down");
	if (sp->alloc_handle) {
		router_del_handler(sp->r, sp->alloc_handle);
		sp->alloc_handle = 0;
	}
	for (struct child *c = sp->children; c; c = c->next)
		router_close_child(sp->r, c->id, "parent shutting down");
}

void svc_spawn_kill_all(struct svc_spawn *sp)
{
	for (struct child *c = sp->children; c; c = c->next)
		kill(c->pid, SIGKILL);
}

size_t svc_spawn_trim(struct svc_spawn *sp)
{
	/* A boot in progress reads the image where it is. */
	if (!sp || sp->booting || sp->waiting || !sp->image.cap)
		return 0;
	size_t n = sp->image.cap;
	buf_free(&sp->image);
	sp->imgs.n = 0;
	return n;
}

void svc_spawn_free(struct svc_spawn *sp)
{
	if (!sp)
		return;
	while (sp->booting) {
		struct spawn_req *q = sp->booting;
		sp->booting = q->next;
		req_free(q); /* kills the child of a boot in progress */
	}
	while (sp->waiting) {
		struct spawn_req *q = sp->waiting;
		sp->waiting = q->next;
		req_free(q);
	}
	if (sp->alloc_handle)
		router_del_handler(sp->r, sp->alloc_handle);
	while (sp->children) {
		struct child *c = sp->children;
		sp->children = c->next;
		methods_run_free(c->run);
		free(c);
	}
	buf_free(&sp->image);
	free(sp);
}
