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

/* Puts s on channel ch of session ss, both taken (freed on failure too).
 * live: the daemon's count of sessions the loop owns (for ssh_finalize
 * at exit), up while the transport lives. 0 or -errno. */
int ssh_io_attach(struct stream *s, ssh_session ss, ssh_channel ch, int *live);

#endif
