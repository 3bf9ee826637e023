/*
 * ssh_io — the channel of a libssh session as a stream transport
 * (core/stream.h, struct stream_io), driven by the loop itself: once the
 * connection thread (method_ssh.c) has handed the session over, a round
 * trip costs no thread wake-up and no extra copy.
 * Not for: connecting, authenticating, the bootstrap (method_ssh.c).
 */
#ifndef MITOFS_SSH_IO_H
#define MITOFS_SSH_IO_H

#include <libssh/libssh.h>

#include "stream.h"

struct loop;

/* What ends a session once the loop lets go of it (method_ssh.c: off
 * the loop, so that nothing the end does can hold the loop). Takes ss and
 * ch. */
typedef void ssh_io_end_fn(ssh_session ss, ssh_channel ch, void *arg);

/* Puts s (a stream of loop l) on channel ch of session ss. ss and ch
 * are handed to end(arg) when the stream closes, or at once on failure.
 * 0 or -errno. */
int ssh_io_attach(struct loop *l, struct stream *s, ssh_session ss, ssh_channel ch,
		  ssh_io_end_fn *end, void *arg);

#endif
