/*
 * methods — the table of connection methods, shared by the daemon and
 * the stubs. A row says, for one method: its name, the options it takes
 * and how each value is checked, whether the hop crosses a network (then
 * payloads are compressed and the daemon pings it), and the function that
 * builds its command line around the first stage, with an optional step
 * run in the child before the exec (chroot, setns). A new method is one
 * row and one builder (methods_argv.c); methods.c looks rows up and checks
 * options; methods_pre.c enters chroots and namespaces; methods_run.c starts
 * any row's plan on a loop: spawn, bootstrap, password prompt.
 *
 * Not for: the daemon's own libssh transport (fs/method_ssh.c), which the
 * daemon uses instead of the ssh row's command line when it connects an
 * ssh host itself; nor reading password files (the daemon does that).
 */
#ifndef MITOFS_METHODS_H
#define MITOFS_METHODS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "boot.h"
#include "proto.h"

#define METHODS_MAX_ARGS 48

/* How an option's value is checked (methods_check). */
enum methods_check {
	METHODS_WORD,  /* a user, host, container or pod: no blank, quote or shell
			* character, and no leading '-' (never an option to the tool) */
	METHODS_TEXT,  /* any non-empty value, passed as one argv element (a path) */
	METHODS_ABS,   /* an absolute path */
	METHODS_SECS,  /* 1-3600 */
	METHODS_NUM,   /* 0-3600 */
	METHODS_PORT,  /* 1-65535 */
	METHODS_PID,   /* a process id, 1 and up */
	METHODS_ENUM,  /* one of the '|'-separated words of values */
	METHODS_ARGS,  /* ','-separated extra arguments for the tool */
};

struct methods_opt {
	const char *key;
	enum methods_check check;
	const char *values; /* METHODS_ENUM: "a|b|c" */
	bool required;
};

/* Row flags. */
#define METHODS_NET 1u /* a network hop: compress payloads, ping (keepalive) */
/* The child runs on this machine, in our root: the first stage need not
 * ask `uname -m`, our uname(2) says it. */
#define METHODS_HOST 2u
/* The process we fork becomes the child's stub (sh execs it; no sudo, su
 * or tool in between): the stream's far end is our own child process
 * (stream_set_peer_pid), which may share our pushed files (PUSH_LINK). */
#define METHODS_DIRECT 4u

/* What the step before the exec needs (borrowed from the options: valid
 * while they are, and in the forked child). */
struct methods_pre {
	const char *root;      /* chroot: the new root */
	pid_t pid;             /* setns: the process whose namespaces we enter */
	const char *kind;      /* setns container=: docker, podman, lxc, machinectl */
	const char *tool;      /* the tool that finds that container's pid */
	const char *container;
	const char *user;      /* chroot, setns: become this user of the target */
};

struct methods_plan;
struct methods_row {
	const char *name;
	unsigned flags;                 /* METHODS_NET, METHODS_HOST, METHODS_DIRECT */
	const struct methods_opt *opts; /* ends with { NULL }; timeout= is every method's */
	/* Fills p->argv (and p->pty, p->pre...) for the first-stage line;
	 * options are already checked. 0 or -errno with a reason in err. */
	int (*build)(struct methods_plan *p, const struct proto_kv *kv, size_t n,
		     const char *line, char *err, size_t errlen);
};

/* The command that reaches a child context: built by methods_plan. */
struct methods_plan {
	const struct methods_row *row;
	char *argv[METHODS_MAX_ARGS]; /* NULL-terminated; owned */
	int argc;
	int rc;                /* the first error of an add (-E2BIG, -ENOMEM) */
	bool pty;              /* run on a pty: a password prompt may come */
	bool answer_stdin;     /* su reads the password on stdin, not /dev/tty */
	const char *password;  /* borrowed from the options */
	int timeout_ms;        /* from timeout=; 0: the caller's default */
	boot_pre_fn *pre;      /* chroot, setns: in the child before the exec */
	struct methods_pre pre_arg;
};

/* The row of a method, or NULL. */
const struct methods_row *methods_find(const char *name);
/* "local, ssh, sudo, ...": every method's name, for messages. */
void methods_names(char *out, size_t cap);
/* Whether the hop of method crosses a network (an unknown one: no). */
bool methods_is_net(const char *name);
/* Whether the row of method has all of flags (an unknown one: no). */
bool methods_has(const char *name, unsigned flags);

/* Checks the options kv[0..n) against the row of method: each known,
 * each value of its kind, the required ones present. 0; -ENOENT for an
 * unknown method, -EINVAL for a bad, unknown or missing option; the
 * reason in err. */
int methods_check(const char *method, const struct proto_kv *kv, size_t n, char *err,
		  size_t errlen);

/* Checks the options and plans the command for method around the first
 * stage line. The plan borrows kv (password, pre_arg): use it while kv
 * lives. 0, or -errno as methods_check, -ENOMEM, -E2BIG; reason in err.
 * On success free the plan with methods_plan_free. */
int methods_plan(const char *method, const struct proto_kv *kv, size_t n, const char *line,
		 struct methods_plan *p, char *err, size_t errlen);
void methods_plan_free(struct methods_plan *p);

/* For builders: appends one argument (a copy) or a formatted one; a
 * failure is kept in p->rc and later adds do nothing. */
void methods_add(struct methods_plan *p, const char *s);
void methods_addf(struct methods_plan *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* methods_argv.c: the table, each row next to its builder; ends with a
 * row whose name is NULL. */
extern const struct methods_row methods_table[];

/* methods_pre.c: the steps before the exec (boot_pre_fn, arg a struct
 * methods_pre). chroot: into root, then user. setns: every namespace of
 * pid (or of the container's leader, found with its tool) that differs
 * from ours, and its root; a new pid namespace takes a fork (the first
 * process stays outside, waits and passes the exit status on). */
int methods_pre_chroot(const void *arg);
int methods_pre_setns(const void *arg);

/*
 * methods_run.c: one connect by a row's command, on a loop. Plans the
 * method, checks that its tool exists, starts it (on a pty when it may
 * prompt, answering with the password of the options), and bootstraps
 * the first stage with imgs (cfg copied, its compress set from the row).
 * done is called once, as boot_start's, with the terminal's last line in
 * the reason of a failure. NULL with errno and the reason in err (done is
 * not called then).
 */
struct methods_run;
struct loop;
struct methods_run *methods_run_start(struct loop *l, const char *method,
				      const struct proto_kv *kv, size_t n,
				      const struct boot_images *imgs,
				      const struct proto_config *cfg, int default_timeout_ms,
				      boot_done_fn *done, void *arg, char *err, size_t errlen);
/* Before done: cancels (kills the child, done is not called). After it:
 * closes the child's terminal (call it once the child is gone or to be
 * let go). NULL does nothing. */
void methods_run_free(struct methods_run *r);
/* Whether r holds the child's terminal (a method run on a pty). */
bool methods_run_has_tty(const struct methods_run *r);

#endif
