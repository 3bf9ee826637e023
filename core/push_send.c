/* push_send — HAVE, DATA pieces, PUT to one peer (push_send.h). */
#include "push_send.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "frame.h"
#include "proto.h"
#include "router.h"
#include "stream.h"

#define WINDOW_MAX 16

struct push_send {
	struct push_send_args a;
	uint8_t hash[SHA256_LEN];
	uint8_t *put;          /* owned copy of a.put */
	uint64_t next_off;     /* the next piece to send */
	uint64_t sent;         /* content bytes sent */
	unsigned inflight;     /* pieces not answered */
	bool data_started;
	bool retried;          /* PUT said "not in the cache" once already */
	bool told;             /* sent_all was called */
	bool nosplice;         /* splice failed once: read from now on */
	uint32_t hs[WINDOW_MAX + 1]; /* reply handles waiting */
};

static void on_have(struct router *r, const struct msg *m, void *arg);
static void on_link(struct router *r, const struct msg *m, void *arg);
static void on_data(struct router *r, const struct msg *m, void *arg);
static void on_put(struct router *r, const struct msg *m, void *arg);

static void forget_handle(struct push_send *p, uint32_t h)
{
	for (int i = 0; i <= WINDOW_MAX; i++)
		if (p->hs[i] == h) {
			p->hs[i] = 0;
			return;
		}
}

/* Gives back the pipes our pieces went through, all answered (or
 * given up) by now: to each of a parent's 100 children they would
 * otherwise stay, 4 each (stream_splice_release). */
static void release_pipes(struct push_send *p)
{
	struct stream *s = p->a.crc && p->data_started ? router_stream_for(p->a.r, p->a.peer) : NULL;
	if (s)
		stream_splice_release(s);
}

static void free_send(struct push_send *p)
{
	release_pipes(p);
	for (int i = 0; i <= WINDOW_MAX; i++)
		if (p->hs[i])
			router_del_handler(p->a.r, p->hs[i]);
	free(p->put);
	free(p);
}

static void fail(struct push_send *p, int err, const char *why)
{
	push_done_fn *done = p->a.done;
	void *arg = p->a.arg;
	free_send(p);
	done(arg, err, why, NULL);
}

/* A call's start: the call header, the hash and the size. */
static int begin(struct push_send *p, uint16_t op, struct buf *b)
{
	buf_init(b);
	int rc = proto_call_begin(b, SVC_PUSH, op);
	rc = rc ? rc : buf_put_bytes(b, p->hash, SHA256_LEN);
	return rc ? rc : buf_put_u64(b, p->a.size);
}

/* A free place for a reply handle, or -1. */
static int free_slot(const struct push_send *p)
{
	for (int i = 0; i <= WINDOW_MAX; i++)
		if (!p->hs[i])
			return i;
	return -1;
}

/* Sends the call in b (freed) with its reply going to fn. */
static int send_call(struct push_send *p, struct buf *b, router_handler_fn *fn)
{
	int slot = free_slot(p);
	uint32_t h = slot < 0 ? 0 : router_add_reply(p->a.r, p->a.peer, fn, p, 0);
	int rc = slot < 0 ? -EBUSY : h ? 0 : -ENOMEM;
	rc = rc ? rc : router_send_to(p->a.r, p->a.peer, HANDLE_CALL_SERVICE, h, b->data, b->len);
	buf_free(b);
	if (rc) {
		if (h)
			router_del_handler(p->a.r, h);
		return rc;
	}
	p->hs[slot] = h;
	return 0;
}

/* The reply m, checked: 0 and r at its body, or -errno with why set. */
static int reply_of(const struct msg *m, struct rd *r, char *why, size_t len)
{
	uint32_t err;
	const char *text;
	size_t tlen;
	if (router_msg_is_dead(m)) {
		snprintf(why, len, "%.*s", (int)m->len, m->data ? (const char *)m->data : "");
		return -EIO;
	}
	rd_init(r, m->data, m->len);
	if (proto_reply_read(r, &err, &text, &tlen)) {
		snprintf(why, len, "malformed push reply");
		return -EBADMSG;
	}
	if (err) {
		snprintf(why, len, "%.*s", (int)tlen, text);
		return -proto_errno(err);
	}
	return 0;
}

/* The answer m to a call of ours: its handle forgotten, then as
 * reply_of. */
static int answer(struct push_send *p, const struct msg *m, struct rd *r, char *why, size_t len)
{
	forget_handle(p, m->handle);
	return reply_of(m, r, why, len);
}

static int send_have(struct push_send *p)
{
	struct buf b;
	int rc = begin(p, PUSH_HAVE, &b);
	if (rc) {
		buf_free(&b);
		return rc;
	}
	return send_call(p, &b, on_have);
}

/* Offers our sealed file to a peer on this machine (push_send_args.link);
 * 0 when not offered (then HAVE), 1 once sent, or -errno. */
static int send_link(struct push_send *p)
{
	struct stream *s = p->a.link ? router_stream_for(p->a.r, p->a.peer) : NULL;
	struct stat st;
	if (!s || stream_peer_pid(s) <= 0 || stream_compresses(s) || p->a.fd < 0 ||
	    fstat(p->a.fd, &st))
		return 0;
	struct buf b;
	int rc = begin(p, PUSH_LINK, &b);
	rc = rc ? rc : buf_put_u32(&b, (uint32_t)getpid());
	rc = rc ? rc : buf_put_u32(&b, (uint32_t)p->a.fd);
	rc = rc ? rc : buf_put_u64(&b, (uint64_t)st.st_dev);
	rc = rc ? rc : buf_put_u64(&b, (uint64_t)st.st_ino);
	if (rc) {
		buf_free(&b);
		return rc;
	}
	rc = send_call(p, &b, on_link);
	return rc ? rc : 1;
}

static int send_put(struct push_send *p)
{
	release_pipes(p);
	if (p->a.sent_all && !p->told) {
		p->told = true;
		p->a.sent_all(p->a.arg);
	}
	struct buf b;
	int rc = begin(p, PUSH_PUT, &b);
	rc = rc ? rc : buf_put_bytes(&b, p->put, p->a.put_len);
	if (rc) {
		buf_free(&b);
		return rc;
	}
	return send_call(p, &b, on_put);
}

/* A PUSH_DATA call's fields before the blob's bytes: svc, op, hash,
 * size, off, crc, the blob's length. */
#define PIECE_HDR (4 + SHA256_LEN + 8 + 8 + 4 + 4)

/* Writes the header of the piece of n bytes at next_off into q. */
static void piece_hdr(const struct push_send *p, uint8_t *q, size_t n, uint32_t crc)
{
	be16_put(q, SVC_PUSH);
	be16_put(q + 2, PUSH_DATA);
	memcpy(q + 4, p->hash, SHA256_LEN);
	q += 4 + SHA256_LEN;
	be64_put(q, p->a.size);
	be64_put(q + 8, p->next_off);
	be32_put(q + 16, crc);
	be32_put(q + 20, (uint32_t)n);
}

/*
 * Sends the piece of n bytes at next_off spliced from the source's file,
 * its reply going to handle h: the header from here, the bytes from the
 * file's pages, never copied by us (reading them into the message and
 * the stream's write were two copies of every byte for every child).
 * 1 once sent; 0 when it is to be read instead (no splice source, a
 * link that compresses or is not plain fds, no kept CRC, a file splice
 * does not take); -EAGAIN when the stream's pipes all hold payloads
 * while pieces of ours are in flight: their answers pump again, by which
 * time the pipes have drained (waiting keeps every piece spliced; the
 * window is then the pipes' and the socket's, ample on a local link).
 * Other -errno: the stream failed.
 */
static int send_spliced(struct push_send *p, uint32_t h, size_t n)
{
	if (!p->a.crc || p->nosplice || n == 0)
		return 0;
	struct stream *s = router_stream_for(p->a.r, p->a.peer);
	uint32_t crc;
	if (!s || stream_compresses(s) || p->a.crc(p->a.src, p->next_off, n, &crc))
		return 0;
	ssize_t k = stream_splice_in(s, p->a.fd, p->next_off, n);
	if (k == -EBUSY)
		return p->inflight ? -EAGAIN : 0;
	if (k < 0 || (size_t)k != n) {
		if (k >= 0)
			stream_splice_drop(s); /* short: the file is not what we were told */
		p->nosplice = true;
		return 0;
	}
	uint8_t hdr[PIECE_HDR];
	piece_hdr(p, hdr, n, crc);
	uint32_t me = router_id(p->a.r);
	struct msg m = { .dst_id = p->a.peer, .src_id = me, .auth_id = me,
			 .handle = HANDLE_CALL_SERVICE, .reply_to = h, .data = hdr, .len = sizeof(hdr) };
	int rc = stream_send_spliced(s, &m, n);
	return rc ? rc : 1;
}

/* Sends the piece of n bytes at next_off read by the source, built in
 * the message itself, the bytes read straight into it (one copy less). */
static int send_read(struct push_send *p, uint32_t h, size_t n)
{
	struct msg *m = msg_new(p->a.peer, HANDLE_CALL_SERVICE, h, NULL, PIECE_HDR + n);
	if (!m)
		return -ENOMEM;
	uint32_t crc = 0;
	int rc = p->a.read(p->a.src, p->next_off, m->data + PIECE_HDR, n, &crc);
	if (rc) {
		msg_free(m);
		return rc;
	}
	piece_hdr(p, m->data, n, crc);
	return router_send(p->a.r, m); /* takes m */
}

/* Sends pieces while the window allows; PUT once all were answered. */
static int pump(struct push_send *p)
{
	while (p->inflight < p->a.window &&
	       (p->next_off < p->a.size || (!p->data_started && p->a.size == 0))) {
		size_t n = p->a.size - p->next_off < PUSH_CHUNK ? (size_t)(p->a.size - p->next_off)
								 : PUSH_CHUNK;
		int slot = free_slot(p);
		uint32_t h = slot < 0 ? 0 : router_add_reply(p->a.r, p->a.peer, on_data, p, 0);
		int rc = slot < 0 ? -EBUSY : !h ? -ENOMEM : send_spliced(p, h, n);
		if (rc == 0)
			rc = send_read(p, h, n);
		if (rc < 0) {
			if (h)
				router_del_handler(p->a.r, h);
			return rc == -EAGAIN ? 0 : rc;
		}
		p->hs[slot] = h;
		p->data_started = true;
		p->next_off += n;
		p->sent += n;
		p->inflight++;
	}
	if (p->inflight == 0 && p->next_off >= p->a.size)
		return send_put(p);
	return 0;
}

static void on_have(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct push_send *p = arg;
	struct rd rd;
	char why[PROTO_MAX_TEXT];
	uint8_t have = 0;
	int rc = answer(p, m, &rd, why, sizeof(why));
	if (!rc && (rd_u8(&rd, &have) || rd_end(&rd))) {
		snprintf(why, sizeof(why), "malformed push reply");
		rc = -EBADMSG;
	}
	if (!rc) {
		rc = have ? send_put(p) : pump(p);
		if (rc)
			snprintf(why, sizeof(why), "cannot send: %s", strerror(-rc));
	}
	if (rc)
		fail(p, rc, why);
}

static void on_link(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct push_send *p = arg;
	struct rd rd;
	char why[PROTO_MAX_TEXT];
	int rc = answer(p, m, &rd, why, sizeof(why));
	if (rc == -EIO && router_msg_is_dead(m)) {
		fail(p, rc, why); /* the peer is gone: no point in HAVE */
		return;
	}
	/* Taken: only PUT is left. Refused: the content goes as bytes. */
	rc = rc == 0 ? send_put(p) : send_have(p);
	if (rc) {
		snprintf(why, sizeof(why), "cannot send: %s", strerror(-rc));
		fail(p, rc, why);
	}
}

static void on_data(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct push_send *p = arg;
	struct rd rd;
	char why[PROTO_MAX_TEXT];
	p->inflight--;
	int rc = answer(p, m, &rd, why, sizeof(why));
	if (!rc && (rc = pump(p)))
		snprintf(why, sizeof(why), "cannot send: %s", strerror(-rc));
	if (rc)
		fail(p, rc, why);
}

static void on_put(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct push_send *p = arg;
	struct rd rd;
	char why[PROTO_MAX_TEXT];
	int rc = answer(p, m, &rd, why, sizeof(why));
	if (rc == -ENOENT && !p->retried) {
		/* Evicted between HAVE and PUT (another push filled the
		 * cache): send it once more. */
		p->retried = true;
		p->next_off = 0;
		p->data_started = false;
		if ((rc = send_have(p)) == 0)
			return;
		snprintf(why, sizeof(why), "cannot send: %s", strerror(-rc));
	}
	if (rc) {
		fail(p, rc, why);
		return;
	}
	push_done_fn *done = p->a.done;
	void *darg = p->a.arg;
	p->a.done = NULL;
	done(darg, 0, NULL, &rd);
	free_send(p);
}

struct push_send *push_send_start(const struct push_send_args *a)
{
	struct push_send *p = calloc(1, sizeof(*p));
	if (!p || !(p->put = malloc(a->put_len ? a->put_len : 1))) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	p->a = *a;
	memcpy(p->hash, a->hash, SHA256_LEN);
	memcpy(p->put, a->put, a->put_len);
	p->a.hash = p->hash;
	p->a.put = p->put;
	if (p->a.window < 1)
		p->a.window = 1;
	if (p->a.window > WINDOW_MAX)
		p->a.window = WINDOW_MAX;
	int rc = send_link(p);
	rc = rc == 0 ? send_have(p) : rc < 0 ? rc : 0;
	if (rc) {
		free_send(p);
		errno = -rc;
		return NULL;
	}
	return p;
}

void push_send_cancel(struct push_send *p)
{
	if (p)
		free_send(p);
}

uint64_t push_send_bytes(const struct push_send *p)
{
	return p->sent;
}
