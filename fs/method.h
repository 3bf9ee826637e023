/*
 * method — how the daemon reaches a context it connects to directly: by
 * the command of the method's row in the shared table (core/methods.h:
 * local, sudo, su, doas, chroot, setns, docker...), or, for ssh, by its
 * own libssh transport (method_ssh.c). Children of a context are spawned
 * by that context's stub instead (ctx_connect.c sends SPAWN_CONTEXT),
 * after the same checks. Not for: what happens after the stub is up
 * (ctx_connect.c).
 */
#ifndef MITOFS_METHOD_H
#define MITOFS_METHOD_H

#include <stddef.h>
#include <sys/types.h>

#include "ctl.h"
#include "daemon.h"

struct stream;

/* Checks that method exists where it is asked for (top: a child of the
 * daemon) and that its options are known. 0, -ENOENT (unknown method),
 * -EINVAL (bad option), with a reason in err. */
int method_check(int top, const char *method, const struct ctl_line *l,
		 char *err, size_t errlen);
/* Starts connecting c (id set); method_up follows. 0 or -errno + err. */
int method_start(struct ctx *c, const struct ctl_line *l, char *err, size_t errlen);
/* Called by a method when the stub is up (err 0, s is the stream) or the
 * attempt failed (err > 0, why). Defined in ctx_connect.c. */
void method_up(struct ctx *c, struct stream *s, pid_t pid, int err, const char *why);

/* Reads the first line of a password file that only its owner may read
 * (0600, a regular file, not a link). 0 or -errno with a reason in err. */
int method_read_password(const char *path, char *out, size_t cap, char *err, size_t errlen);
/* Drops what the method keeps for a connect that will not finish. */
void method_release(struct ctx *c);
/* Adds key: value to what info shows for c (copies both). */
void method_set_info(struct ctx *c, const char *key, const char *val);

/* method_ssh.c */
int method_ssh_check(const struct ctl_line *l, char *err, size_t errlen);
int method_ssh_start(struct ctx *c, const struct ctl_line *l, char *err, size_t errlen);
void method_ssh_release(struct ctx *c);
/* At exit, once every stream is closed: waits up to ms for the ssh
 * threads to end, then releases libssh. */
void method_ssh_wait(struct daemon *d, int ms);

#endif
