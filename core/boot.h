/*
 * boot — the first stage, shared by every connection method: the short
 * `sh -c` line that turns "a shell on the target" into "a running stub",
 * and the local spawn used by the daemon's local method and by stubs.
 *
 * The line first looks for the stub in the target user's cache (by the
 * image's tag) and runs it as `STUB - NAME`. Failing that it writes
 * PROTO_NEED, reads exactly the announced number of bytes of the gzip'd
 * stub from stdin into a fresh 0700 temporary directory, unpacks it with
 * `gzip -dc`, keeps it in the cache when it can, and execs it (`STUB DIR
 * NAME` when uncached: the stub removes DIR at once). The stub re-executes
 * itself from /proc/self/exe with argv[0] "mitofs:NAME" and writes
 * PROTO_HELLO before any frame. The parent sends the image only when asked
 * and nothing else until the hello has arrived (busybox head may read
 * ahead), then it sends the CONFIG frame.
 * Nothing here reaps: the process that forks (daemon, stub) reaps every
 * child in its SIGCHLD handler with waitpid(-1, WNOHANG), by pid.
 * Not for: ssh/sudo specifics (those wrap this same line).
 */
#ifndef MITOFS_BOOT_H
#define MITOFS_BOOT_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "proto.h"

struct loop;
struct stream;
struct boot_job;

#define BOOT_TAG_LEN 16

/* Writes the first-stage command line for an image of image_len bytes
 * and context name into out (NUL-terminated). tag (from boot_image_tag,
 * or NULL for no cache) names the cached stub on the target. The name is
 * passed as a single-quoted shell word, so any byte but NUL is safe.
 * 0, -ENAMETOOLONG when cap is too small, -EINVAL on an empty name or a
 * tag that is not lower-case hex. */
int boot_stage_line(char *out, size_t cap, size_t image_len, const char *tag,
		    const char *name);
/* The cache tag of a gzip'd image: 16 hex digits, the CRC-32 and Adler-32
 * of the program inside. 0, or -EBADMSG when image is not gzip. */
int boot_image_tag(const void *image, size_t n, char tag[BOOT_TAG_LEN + 1]);

/* Starts `/bin/sh -c LINE` as a child with stdin and stdout on one end of
 * a socketpair (returned in *fd, close-on-exec, blocking mode untouched)
 * and stderr on errfd (-1: /dev/null). The child dies with SIGKILL if
 * the caller exits (PR_SET_PDEATHSIG). 0 or -errno. */
int boot_spawn_local(const char *line, int errfd, pid_t *pid, int *fd);

/* In a child between fork and exec: resets every signal disposition to
 * the default and the signal mask to empty (a loop's signalfd leaves
 * signals blocked), and closes every fd from 3 up. */
void boot_child_prepare(void);

/* Like boot_spawn_local for any argv (argv[0] looked up in PATH), e.g.
 * sudo ... /bin/sh -c LINE. With ptyfd, the child runs in a session of
 * its own whose controlling terminal (and stderr) is a new pty, so that
 * password prompts land there: *ptyfd is the master (non-blocking,
 * close-on-exec). The caller keeps the master open while the child runs
 * (closing it hangs the child up) and closes it after. 0 or -errno. */
int boot_spawn_argv(char *const argv[], int errfd, int *ptyfd, pid_t *pid, int *fd);

/* In a freshly started stub: argv as given by the first stage. Removes
 * the temporary directory, and if argv[0] is not yet "mitofs:NAME"
 * re-executes /proc/self/exe under that name (does not return then).
 * Returns 0 when the stub should proceed, -EINVAL on unexpected argv. */
int boot_stub_startup(int argc, char **argv);

/* The gzip'd image of the running executable (for a stub to boot its own
 * children): read from /proc/self/exe and compressed once; the result is
 * appended to out. 0 or -errno. */
int boot_self_image(struct buf *out);

/*
 * Asynchronous bootstrap of one child over an fd on which the first-stage
 * line already runs (local: from boot_spawn_local; ssh: a channel's
 * socketpair). Uploads image[0..n), waits for the hello (timeout_ms),
 * sends cfg as the CONFIG frame, then calls done once:
 *   err == 0: s is a live stream (the caller now owns it and normally
 *             hands it to router_add_child), pid as given;
 *   err > 0:  s is NULL, why says what went wrong, including whatever
 *             the first stage printed on errfd (missing gzip, noexec /tmp).
 * errfd (-1: none) is read for diagnostics until the hello, then closed.
 * The job owns fd and errfd from the call on, also when it returns NULL
 * (with errno). Call router_add_child from inside done: until then the
 * stream drops what arrives. timeout_ms <= 0: no timeout.
 */
typedef void boot_done_fn(struct stream *s, pid_t pid, int err, const char *why, void *arg);
struct boot_job *boot_start(struct loop *l, int fd, int errfd, pid_t pid,
			    const void *image, size_t n, const struct proto_config *cfg,
			    int timeout_ms, boot_done_fn *done, void *arg);
/* boot_spawn_local + boot_start, with the stage's stderr captured. tag:
 * the image's (boot_image_tag), or NULL to compute it here. */
struct boot_job *boot_local(struct loop *l, const void *image, size_t n, const char *tag,
			    const struct proto_config *cfg, int timeout_ms,
			    boot_done_fn *done, void *arg);
/* Abandons a job before done was called: kills a local child (SIGKILL)
 * and frees everything; done is not called. NULL is a no-op. */
void boot_cancel(struct boot_job *j);

#endif
