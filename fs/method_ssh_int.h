/*
 * method_ssh_int — what the two halves of the ssh method share: the
 * record of one connection (struct conn), owned by its thread until the
 * handover and by the daemon after it.
 *
 *   method_ssh.c       the daemon's side: options, start, handover, end
 *   method_ssh_conn.c  the connection thread: handshake, host key,
 *                      authentication, the bootstrap's byte pump
 */
#ifndef MITOFS_METHOD_SSH_INT_H
#define MITOFS_METHOD_SSH_INT_H

#include <libssh/libssh.h>
#include <pthread.h>
#include <stdbool.h>

#include "ssh_proxy.h"

struct daemon;

enum hostkey_mode { HK_ENFORCE, HK_ACCEPT_NEW, HK_IGNORE };

/* How long a proxy gets between SIGTERM and SIGKILL when its session
 * ends: `ssh -W` goes at once (its socket closed too); one that ignores
 * SIGTERM is not waited for longer. */
#define SSH_PROXY_GRACE_MS 500

struct conn {
	struct daemon *d;         /* only for the thread count (ssh_mu) */
	pthread_mutex_t mu;
	int refs;                 /* the thread and the daemon */
	/* what to do (set before the thread starts, then read-only) */
	char *host, *user, *identity, *known_hosts;
	char *password;           /* read by the daemon from password_file */
	char *home;               /* $HOME: ~/.ssh/config and keys live there */
	int port;                 /* 0: from config or 22 */
	int timeout_s;
	enum hostkey_mode mode;
	char *line;               /* the first stage */
	int sock;                 /* the thread's end of the socketpair */
	int dsock;                /* the daemon's end (the boot stream's fd) */
	int errw;                 /* channel stderr and our failures */
	/* what happened (under mu) */
	char failmsg[600];        /* why the ssh part failed, if it did */
	int failerr;
	char fingerprint[128];
	char recorded[600];       /* accept-new wrote the key: what, where */
	char cipher[64];          /* negotiated, daemon to target */
	char rhost[256], ruser[128];
	int rport;
	/* the handover (under mu) */
	bool stop;                /* the daemon asks for the session */
	bool abandoned;           /* ... and gave up waiting for it */
	int state;                /* 0 running, 1 handed over, 2 ended */
	pthread_cond_t cv;
	ssh_session hs;           /* handed over */
	ssh_channel hch;
	struct ssh_proxy *hproxy;
	bool late;                /* the thread's: the connect's deadline passed */
};

/* Drops one of the connection's two references (thread, daemon). */
void ssh_conn_unref(struct conn *k);
/* The connection thread (pthread_create's start routine; arg: conn). */
void *ssh_conn_main(void *arg);
/* A connection thread of d ended (method_ssh_wait counts them). */
void ssh_thread_done(struct daemon *d);

#endif
