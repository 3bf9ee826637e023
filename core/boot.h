/*
 * boot — the first stage, shared by every connection method: the short
 * `sh -c` line that turns "a shell on the target" into "a running stub",
 * and the local spawn used by the daemon's local method and by stubs.
 *
 * The line first picks one of the images it was built with by the
 * target's `uname -m`, looks for that stub in the target user's cache (by
 * the image's tag) and runs it as `STUB - NAME`. Failing that it writes
 * PROTO_NEED and the image's index, reads exactly that image's number of
 * bytes of the gzip'd stub from stdin into a fresh 0700 temporary
 * directory, unpacks it with `gzip -dc`, keeps it in the cache when it
 * can, and execs it (`STUB DIR NAME` when uncached: the stub removes DIR
 * at once). The stub re-executes
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
#define BOOT_MAX_IMAGES 4
/* How many stub builds a target's cache keeps (the newest by upload):
 * daemons of other versions or arches on one target keep theirs. */
#define BOOT_CACHE_KEEP 4
/* Room for any first-stage line: the fixed text, each image's row and
 * the name quoted three times (each byte at most 4). */
#define BOOT_LINE_MAX (2048 + 12 * PROTO_MAX_NAME)

/* The machine the running program is built for, as `uname -m` says it. */
extern const char boot_arch[];

/* One gzip'd stub image, for one machine. */
struct boot_image {
	const char *arch;            /* `uname -m`: "x86_64", "aarch64" (static) */
	const void *data;            /* borrowed: must outlive its users */
	size_t len;
	char tag[BOOT_TAG_LEN + 1];  /* cache tag (boot_image_tag), "" for no cache */
};

/* The images a parent can upload, one per arch; the first stage picks one. */
struct boot_images {
	size_t n;
	struct boot_image img[BOOT_MAX_IMAGES];
};

/* Adds an image for arch (a static string of [a-z0-9_]) and computes its
 * tag (tagged false: "", no cache). 0, -ENOSPC (full), -EINVAL (bad
 * arch), -EBADMSG (with tagged: not gzip). */
int boot_images_add(struct boot_images *s, const char *arch, const void *data, size_t len,
		    int tagged);
/* "x86_64, aarch64": the arches of s, for messages. */
void boot_images_arches(const struct boot_images *s, char *out, size_t cap);

/* Writes the first-stage command line for the images of s and context
 * name into out (NUL-terminated). The name is passed as a single-quoted
 * shell word, so any byte but NUL is safe. 0, -ENAMETOOLONG when cap is
 * too small, -EINVAL on an empty name, no image, or a tag that is not
 * lower-case hex. */
int boot_stage_line(char *out, size_t cap, const struct boot_images *s, const char *name);
/* The same for a target whose arch the caller knows (arch: as `uname -m`
 * names it; a child on this machine runs what we run): no `uname -m`.
 * NULL: as boot_stage_line. -EINVAL also for an arch not [a-z0-9_]. */
int boot_stage_line_arch(char *out, size_t cap, const struct boot_images *s, const char *name,
			 const char *arch);
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
/* Starts a child that only moves fds and execs: vfork (no page table
 * copied, no copy-on-write faults in the parent afterwards), every signal
 * blocked across it so no handler of ours runs in the child on our
 * memory. child(arg) runs in the child, must end in exec or _exit, and
 * unblocks signals (boot_child_prepare does). The pid, or -1 with errno. */
pid_t boot_vfork(void (*child)(void *arg), void *arg);

/* Run in the child between fork and exec, after boot_child_prepare
 * (stdio in place, signals default): enters a chroot or namespaces. It
 * says what failed on stderr (fd 2) and returns nonzero to stop the
 * child (exit 127). */
typedef int boot_pre_fn(const void *arg);

/* Like boot_spawn_local for any argv (argv[0] looked up in PATH), e.g.
 * sudo ... /bin/sh -c LINE. With ptyfd, the child runs in a session of
 * its own whose controlling terminal (and stderr) is a new pty, so that
 * password prompts land there: *ptyfd is the master (non-blocking,
 * close-on-exec). The caller keeps the master open while the child runs
 * (closing it hangs the child up) and closes it after. pre (NULL: none)
 * runs in the child before the exec, with pre_arg. 0 or -errno. */
int boot_spawn_argv(char *const argv[], boot_pre_fn *pre, const void *pre_arg, int errfd,
		    int *ptyfd, pid_t *pid, int *fd);

/* In a freshly started stub: argv as given by the first stage. Removes
 * the temporary directory, and if argv[0] is not yet "mitofs:NAME"
 * rewrites its command line to that (boot_set_cmdline), or where that
 * does not show (qemu-user) re-executes /proc/self/exe under that name
 * (does not return then).
 * Returns 0 when the stub should proceed, -EINVAL on unexpected argv. */
int boot_stub_startup(int argc, char **argv);
/* Rewrites the command line the kernel shows (argv[0..argc) must be the
 * kernel's strings, one after another) to name, and comm to its first 15
 * bytes. 0, or -ENOSPC when the strings are not contiguous or too short.
 * boot_stub_startup uses it; public for its test. */
int boot_set_cmdline(int argc, char **argv, const char *name);

/* The gzip'd image of the running executable (for a stub to boot its own
 * children): read from /proc/self/exe and compressed once; the result is
 * appended to out. 0 or -errno. */
int boot_self_image(struct buf *out);

/*
 * Asynchronous bootstrap of one child over an fd on which the first-stage
 * line already runs (local: from boot_spawn_local; ssh: a channel's
 * socketpair). Uploads the image of imgs the stage asks for (the set is
 * copied; the bytes are borrowed), waits for the hello (timeout_ms),
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
			    const struct boot_images *imgs, const struct proto_config *cfg,
			    int timeout_ms, boot_done_fn *done, void *arg);
/* boot_spawn_local + boot_start of one image for this machine, with the
 * stage's stderr captured. tag: the image's (boot_image_tag), or NULL to
 * compute it here. */
struct boot_job *boot_local(struct loop *l, const void *image, size_t n, const char *tag,
			    const struct proto_config *cfg, int timeout_ms,
			    boot_done_fn *done, void *arg);
/* Abandons a job before done was called: kills a local child (SIGKILL)
 * and frees everything; done is not called. NULL is a no-op. */
void boot_cancel(struct boot_job *j);

#endif
