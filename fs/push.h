/*
 * push — `push SRC DST [mode=OCTAL]` in a context's or a group's ctl:
 * SRC, a file on the daemon's machine read with the writer's rights (a
 * relative SRC from the writer's working directory), is written to DST on
 * every target: a temporary name in DST's directory, fsync, rename. The
 * bytes cross each link of the tree once (Mitogen's PushFileService):
 * every hop keeps them in a bounded cache by SHA-256 and passes them on
 * to the children below which targets wait, so a second push of the same
 * bytes sends only the hash. Messages: core/proto.h (SVC_PUSH).
 * Not for: the stub's side (stub/svc_push.c), the sender (core/push_send.c).
 */
#ifndef MITOFS_PUSH_H
#define MITOFS_PUSH_H

#include "ctl.h"
#include "daemon.h"

/* The verb in a context's ctl (c) or a group's (g): 1 (pending:
 * ctl_batch_done follows once every target answered: 0, or the first
 * failing target's errno with every failure named in the reason), or
 * -errno with the reason in err. */
int push_ctx(struct ctx *c, const struct ctl_line *l, struct ctl_batch *b,
	     char *err, size_t errlen);
int push_group(struct group *g, const struct ctl_line *l, struct ctl_batch *b,
	       char *err, size_t errlen);

#endif
