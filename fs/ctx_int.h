/*
 * ctx_int — what ctx.c and ctx_connect.c share, private to the two.
 */
#ifndef MITOFS_CTX_INT_H
#define MITOFS_CTX_INT_H

#include "ctl.h"
#include "daemon.h"

struct loop;

/* ctx.c: a new context under parent (NULL: out of memory); the end of
 * its connection, marked lost with why; its removal from the tree (and
 * from the kernel's cache: ctx_remove_forget returns 1 when b goes on
 * once the name is gone); the keepalive: its timer's tick, its start. */
struct ctx *ctx_new(struct ctx *parent, const char *name, const char *method);
void ctx_disconnect(struct ctx *c, const char *why);
void ctx_remove(struct ctx *c, const char *why);
int ctx_remove_forget(struct ctx *c, const char *why, struct ctl_batch *b, int rc);
/* The same for the n contexts v[] (siblings): b goes on once every name
 * is gone. */
int ctx_remove_forget_all(struct ctx **v, size_t n, const char *why, struct ctl_batch *b,
			  int rc);
void ctx_keepalive_tick(struct loop *l, void *arg);
/* Starts c's keepalive (if it has one) once it is connected. */
void ctx_keepalive_start(struct ctx *c);

/* ctx_connect.c: a connect ends (rc 0 or -errno, why for the log and
 * ctl); `connect NAME METHOD...` under parent; `reconnect` of c. */
void ctx_connect_done(struct ctx *c, int rc, const char *why);
int ctx_connect_child(struct ctx *parent, const struct ctl_line *l, struct ctl_batch *b,
		      char *err, size_t errlen);
int ctx_reconnect(struct ctx *c, struct ctl_batch *b, char *err, size_t errlen);

#endif
