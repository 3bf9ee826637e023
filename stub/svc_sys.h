/*
 * svc_sys — the sys service: facts about the host a stub runs on
 * (SYS_INFO: hostname, ids, user, pid, arch, kernel, os), for info files.
 * Stateless. Not for: anything that changes the host.
 */
#ifndef MITOFS_SVC_SYS_H
#define MITOFS_SVC_SYS_H

#include <stdint.h>

#include "buf.h"
#include "frame.h"

struct router;

/* Handles one CALL_SERVICE request for SVC_SYS (op, reader after the call
 * header) and replies once: the SYS_INFO body, or an error envelope. */
void svc_sys_call(struct router *r, const struct msg *m, uint16_t op, struct rd *args);

/* Appends the SYS_INFO body (u32 n, n x (str key, str value)) to b.
 * 0 or -ENOMEM. */
int svc_sys_info(struct buf *b);

#endif
