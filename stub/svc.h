/*
 * svc — what the stub's services share: the address of a request they
 * answer later, and the CALL_SERVICE reply envelope of proto.h.
 * Not for: dispatch (main.c) or any service's own logic.
 */
#ifndef MITOFS_SVC_H
#define MITOFS_SVC_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "frame.h"
#include "proto.h"
#include "router.h"

/* Where a reply goes: kept by services that answer after the handler
 * returned (the request message itself is borrowed). */
struct svc_req {
	uint32_t src;
	uint32_t reply_to;
};

static inline struct svc_req svc_req_of(const struct msg *m)
{
	return (struct svc_req){ m->src_id, m->reply_to };
}

/* Sends the envelope (err: 0 or a positive errno, text its reason) and,
 * on success, body[0..n). 0 or -errno from the router. */
static inline int svc_reply(struct router *r, struct svc_req q, int err,
			    const char *text, const void *body, size_t n)
{
	struct buf b;
	buf_init(&b);
	int rc = err ? proto_reply_err(&b, err, text) : proto_reply_ok(&b);
	if (!rc && !err && n)
		rc = buf_put_bytes(&b, body, n);
	if (!rc) {
		struct msg req = { .src_id = q.src, .reply_to = q.reply_to };
		rc = router_reply(r, &req, b.data, b.len);
	}
	buf_free(&b);
	return rc;
}

/* An error reply with a formatted reason. */
static inline int svc_reply_errf(struct router *r, struct svc_req q, int err,
				 const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline int svc_reply_errf(struct router *r, struct svc_req q, int err,
				 const char *fmt, ...)
{
	char text[PROTO_MAX_TEXT];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return svc_reply(r, q, err < 0 ? -err : err, text, NULL, 0);
}

#endif
