/*
 * ssh_proxy — the ProxyCommand of an ssh session (ssh_config's
 * ProxyCommand, or the `ssh -W` that libssh makes of ProxyJump), run by
 * the daemon itself instead of by libssh, and the end of a session.
 *
 * Why not libssh's own: libssh forks the command from whatever thread
 * connects (so it inherits that thread's blocked signals), and at
 * ssh_free sends it SIGTERM and waits for it with a blocking waitpid. A
 * proxy that cannot or will not die on SIGTERM (blocked or ignored) then
 * freezes whoever frees the session: the daemon's loop, the whole mount.
 * Here the proxy gets a clean start (default signals, nothing blocked, no
 * descriptor of ours, a session of its own so that no terminal signal
 * reaches it), libssh gets its socket through SSH_OPTIONS_FD (so it
 * never forks, kills or waits), and the end of a session sends SIGTERM
 * to the proxy's process group, waits a bounded grace and then SIGKILLs
 * it. Reaping stays the daemon's SIGCHLD handler's (waitpid(-1)); a pidfd
 * makes sure no other process is ever signalled.
 * Not for: connecting or authenticating (method_ssh.c), the channel as a
 * stream (ssh_io.c).
 */
#ifndef MITOFS_SSH_PROXY_H
#define MITOFS_SSH_PROXY_H

#include <libssh/libssh.h>
#include <stddef.h>

struct ssh_proxy;

/* If session s (its config read, its host, user and port set) has a
 * ProxyCommand, expands its %-escapes (%h %p %r %u %l %d %%), starts it
 * and hands its socket to libssh. Returns 0 with *out NULL (no proxy), 0
 * with *out set (the caller's: ssh_proxy_end), or -errno with the reason
 * in err. Call from the connection thread, before ssh_connect; it forks
 * and does not wait. */
int ssh_proxy_start(ssh_session s, struct ssh_proxy **out, char *err, size_t errlen);

/* The pid of the proxy (for the log), 0 for NULL. */
int ssh_proxy_pid(const struct ssh_proxy *p);

/* What the proxy wrote to its stderr so far (the first 16 KiB), as one
 * line ("; " between lines) in out (n bytes, NUL-terminated; "" if
 * nothing or p is NULL): why a connect through it failed. */
void ssh_proxy_said(const struct ssh_proxy *p, char *out, size_t n);

/* Ends a session and what carries it: sends the channel's EOF and close
 * (non-blocking: what fits), frees ch (may be NULL) and s, closes the
 * proxy's socket, then SIGTERM to the proxy's process group and, if it is
 * still there after grace_ms, SIGKILL. Takes s, ch and p (p may be NULL:
 * no proxy). Blocks up to grace_ms, and never on the network or on a
 * child otherwise: with grace_ms 0 it never blocks. */
void ssh_proxy_end(ssh_session s, ssh_channel ch, struct ssh_proxy *p, int grace_ms);

#endif
