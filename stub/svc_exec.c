/*
 * svc_exec — jobs: `sh -c CMD` in its own process group with three pipes.
 *
 * For: starting jobs, streaming their stdout/stderr as events to the
 * caller as it is produced (pausing the pipes while the caller's stream
 * is congested), feeding stdin with flow control, signals, timeouts, and
 * one EXIT event after all output. Not for: reaping (main.c reaps every
 * child and calls svc_exec_child_exited), nor deciding who may call
 * (CALL_SERVICE is parent-only in the router).
 */
#include "svc_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot.h"
#include "log.h"
#include "loop.h"
#include "map.h"
#include "proto.h"
#include "router.h"
#include "guard.h"
#include "svc.h"

#define EXEC_CHUNK     (256u << 10) /* largest output event payload */
#define EXEC_PIPE_SZ   (1 << 20)    /* asked-for pipe size: fewer wake-ups under bulk output */
#define EXEC_EV_HDR    5           /* u32 job, u8 kind */
#define EXEC_STDIN_MAX (16u << 20) /* stdin bytes queued per job at most */
#define EXEC_MAX_SIG   64

/* A reply owed to an EXEC_STDIN once the job's pipe took its bytes. */
struct stdin_wait {
	struct stdin_wait *next;
	struct svc_req q;
	uint64_t until; /* in_written must reach this */
};

struct job {
	struct svc_exec *x;
	uint32_t id;
	pid_t pid;            /* also the process group id */
	uint32_t caller;      /* who started it: events go there */
	uint32_t ev_handle;
	int in, out, err;     /* our pipe ends, -1 once closed */
	bool in_reg;          /* in is in the loop (waiting for EPOLLOUT) */
	bool paused;          /* out/err are out of the loop: caller congested */
	bool reaped;
	int status;
	bool forgotten;       /* no more events; freed once reaped */
	struct loop_timer *timer;
	struct buf inq;       /* stdin bytes not yet written, from inoff */
	size_t inoff;
	uint64_t in_queued, in_written;
	bool in_eof;          /* close stdin once the queue is written */
	struct stdin_wait *waits, **waits_tail;
};

struct svc_exec {
	struct router *r;
	struct loop *l;
	struct map jobs; /* id -> struct job */
	uint32_t next_id;
	int guard;       /* write end of the guard's pipe, or -1 (guard.h) */
	uint8_t *rbuf;   /* output event being read: reused, so bulk output
			  * costs no allocation (and no page faults) per chunk */
};

static void out_cb(struct loop *l, int fd, uint32_t events, void *arg);
static void in_cb(struct loop *l, int fd, uint32_t events, void *arg);
static void job_check(struct job *j);

/* --- small helpers --- */

static void fd_close(struct loop *l, int *fd, bool registered)
{
	if (*fd < 0)
		return;
	if (registered)
		loop_del(l, *fd);
	close(*fd);
	*fd = -1;
}

static void job_signal(struct job *j, int sig)
{
	/* After the reap the group may still hold our pipes (background
	 * children): signal it as long as they are open. */
	if (!j->reaped || j->out >= 0 || j->err >= 0)
		kill(-j->pid, sig);
}

/* Answers stdin waiters up to in_written (all of them when err != 0). */
static void stdin_answer(struct job *j, int err)
{
	struct router *r = j->x->r;
	while (j->waits && (err || j->waits->until <= j->in_written)) {
		struct stdin_wait *w = j->waits;
		j->waits = w->next;
		if (!j->waits)
			j->waits_tail = &j->waits;
		svc_reply(r, w->q, err, err ? strerror(err) : NULL, NULL, 0);
		free(w);
	}
}

static void stdin_close(struct job *j, int err)
{
	fd_close(j->x->l, &j->in, j->in_reg);
	j->in_reg = false;
	buf_free(&j->inq);
	j->inoff = 0;
	stdin_answer(j, err);
}

static void job_free(struct job *j)
{
	struct loop *l = j->x->l;
	map_del(&j->x->jobs, j->id);
	if (j->x->guard >= 0 && j->pid > 0)
		guard_del(j->x->guard, j->pid);
	if (j->timer)
		loop_timer_cancel(l, j->timer);
	fd_close(l, &j->out, !j->paused);
	fd_close(l, &j->err, !j->paused);
	stdin_close(j, ECANCELED);
	free(j);
}

/* No more events: kill the group, close everything, free once reaped. */
static void job_forget(struct job *j)
{
	job_signal(j, SIGKILL);
	j->forgotten = true;
	if (j->timer) {
		loop_timer_cancel(j->x->l, j->timer);
		j->timer = NULL;
	}
	fd_close(j->x->l, &j->out, !j->paused);
	fd_close(j->x->l, &j->err, !j->paused);
	stdin_close(j, ECANCELED);
	if (j->reaped)
		job_free(j);
}

/* Sends an event; a caller that is gone takes the job with it.
 * Returns 0 or -errno; after -EHOSTUNREACH/-EPIPE j may be freed. */
static int job_send(struct job *j, const void *data, size_t len)
{
	int rc = router_send_to(j->x->r, j->caller, j->ev_handle, 0, data, len);
	if (rc == -EHOSTUNREACH || rc == -EPIPE) {
		log_warn("exec(job %u): caller %u unreachable, killing the job", j->id, j->caller);
		job_forget(j);
	} else if (rc) {
		log_warn("exec(job %u): event lost: %s", j->id, strerror(-rc));
	}
	return rc;
}

static void job_pause(struct job *j, bool pause)
{
	struct loop *l = j->x->l;
	if (j->paused == pause)
		return;
	j->paused = pause;
	/* Out of the loop rather than loop_mod(0): a pipe whose writer is
	 * gone reports HUP even with no events asked for. */
	int fds[2] = { j->out, j->err };
	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		if (pause)
			loop_del(l, fds[i]);
		else if (loop_add(l, fds[i], EPOLLIN, out_cb, j) < 0)
			log_error("exec(job %u): cannot watch pipe", j->id);
	}
}

static struct job *job_by_pid(const struct svc_exec *x, pid_t pid)
{
	size_t pos = 0;
	void *v;
	while (map_next(&x->jobs, &pos, NULL, &v))
		if (((struct job *)v)->pid == pid)
			return v;
	return NULL;
}

/* --- output --- */

static void out_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)events;
	struct job *j = arg;
	bool is_out = fd == j->out;
	int avail = 0;
	if (ioctl(fd, FIONREAD, &avail) < 0 || avail <= 0)
		avail = 4096; /* EOF, or a writer racing us */
	if ((unsigned)avail > EXEC_CHUNK)
		avail = EXEC_CHUNK;
	struct svc_exec *x = j->x;
	if (!x->rbuf && !(x->rbuf = malloc(EXEC_EV_HDR + EXEC_CHUNK)))
		return; /* level-triggered: we come back */
	ssize_t n = read(fd, x->rbuf + EXEC_EV_HDR, (size_t)avail);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fd_close(l, is_out ? &j->out : &j->err, true);
		job_check(j);
		return;
	}
	be32_put(x->rbuf, j->id);
	x->rbuf[4] = is_out ? EXEC_EV_STDOUT : EXEC_EV_STDERR;
	int rc = job_send(j, x->rbuf, EXEC_EV_HDR + (size_t)n);
	if (rc == -EHOSTUNREACH || rc == -EPIPE)
		return; /* j may be gone */
	if (router_congested(x->r, j->caller))
		job_pause(j, true);
}

/* Sends EXIT once both pipes are closed and the status is known; frees. */
static void job_check(struct job *j)
{
	if (j->forgotten) {
		if (j->reaped)
			job_free(j);
		return;
	}
	if (!j->reaped || j->out >= 0 || j->err >= 0)
		return;
	uint8_t ev[EXEC_EV_HDR + 5];
	be32_put(ev, j->id);
	ev[4] = EXEC_EV_EXIT;
	if (WIFSIGNALED(j->status)) {
		ev[5] = EXIT_SIGNAL;
		be32_put(ev + 6, (uint32_t)WTERMSIG(j->status));
	} else {
		ev[5] = EXIT_CODE;
		be32_put(ev + 6, (uint32_t)WEXITSTATUS(j->status));
	}
	struct msg *m = msg_new(j->caller, j->ev_handle, 0, ev, sizeof(ev));
	if (m)
		router_send(j->x->r, m);
	job_free(j);
}

/* --- stdin --- */

static void stdin_flush(struct job *j)
{
	while (j->in >= 0 && j->inq.len > j->inoff) {
		ssize_t w = write(j->in, j->inq.data + j->inoff, j->inq.len - j->inoff);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			stdin_close(j, errno); /* EPIPE: the job closed its stdin */
			return;
		}
		j->inoff += (size_t)w;
		j->in_written += (uint64_t)w;
	}
	if (j->inoff == j->inq.len) {
		j->inoff = j->inq.len = 0;
	} else if (j->inoff > (1u << 20) && j->inoff > j->inq.len / 2) {
		buf_consume(&j->inq, j->inoff);
		j->inoff = 0;
	}
	stdin_answer(j, 0);
	bool pending = j->inq.len > j->inoff;
	if (!pending && j->in_eof) {
		stdin_close(j, 0);
		return;
	}
	if (pending && !j->in_reg) {
		if (loop_add(j->x->l, j->in, EPOLLOUT, in_cb, j) == 0)
			j->in_reg = true;
		else
			stdin_close(j, ENOMEM);
	} else if (!pending && j->in_reg) {
		loop_del(j->x->l, j->in);
		j->in_reg = false;
	}
}

static void in_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	stdin_flush(arg);
}

/* --- the job process --- */

/*
 * A command that sh would run as one simple command with literal words
 * (no quoting, expansion, redirection, operator, assignment or builtin
 * whose meaning differs from the program of the same name) is run
 * directly: the same result without a shell to start. Splits a copy of
 * cmd in buf into argv; returns the word count, or 0 for "use sh -c".
 */
static int simple_argv(const char *cmd, char *buf, size_t cap, char **argv, int max)
{
	static const char *const shell_words[] = {
		".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "do",
		"done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export",
		"fc", "fg", "fi", "for", "getopts", "hash", "if", "in", "jobs", "local",
		"read", "readonly", "return", "set", "shift", "then", "times", "trap",
		"type", "ulimit", "umask", "unalias", "unset", "until", "wait", "while", NULL,
	};
	size_t n = strlen(cmd);
	if (n == 0 || n >= cap)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)cmd[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("_-./,:+=@%^ \t", c)))
			return 0;
	}
	memcpy(buf, cmd, n + 1);
	int argc = 0;
	for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (argc == max - 1)
			return 0;
		argv[argc++] = w;
	}
	argv[argc] = NULL;
	if (!argc || strchr(argv[0], '='))
		return 0;
	for (int i = 0; shell_words[i]; i++)
		if (!strcmp(argv[0], shell_words[i]))
			return 0;
	return argc;
}

struct job_args {
	const char *cmd;
	int in, out, err;
	pid_t parent;
};

/* The job process, a vfork child (boot_vfork). Not inlined: its frame
 * must lie below boot_vfork's, whose stack it shares. */
static void __attribute__((noreturn, noinline)) job_child(void *arg)
{
	const struct job_args *a = arg;
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != a->parent)
		_exit(127);
	if (dup2(a->in, 0) < 0 || dup2(a->out, 1) < 0 || dup2(a->err, 2) < 0)
		_exit(127);
	boot_child_prepare();
	char buf[1024], *argv[33];
	if (simple_argv(a->cmd, buf, sizeof(buf), argv, 33))
		execvp(argv[0], argv); /* not found: sh says so, as always */
	execl("/bin/sh", "sh", "-c", a->cmd, (char *)NULL);
	dprintf(2, "mitofs: exec /bin/sh: %s\n", strerror(errno));
	_exit(127);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/* Forks the job; fills pid and our three pipe ends. 0 or -errno. */
static int job_spawn(const char *cmd, struct job *j)
{
	int p[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	int rc = 0;
	for (int i = 0; i < 3; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0) {
			rc = -errno;
			goto out;
		}
	/* Best effort: an unprivileged user may be capped below this. */
	fcntl(p[1][0], F_SETPIPE_SZ, EXEC_PIPE_SZ);
	fcntl(p[2][0], F_SETPIPE_SZ, EXEC_PIPE_SZ);
	/* vfork: a job start copies no page tables (boot_vfork). */
	struct job_args a = { cmd, p[0][0], p[1][1], p[2][1], getpid() };
	pid_t pid = boot_vfork(job_child, &a);
	if (pid < 0) {
		rc = -errno;
		goto out;
	}
	setpgid(pid, pid); /* also here: no window where kill(-pid) misses */
	j->pid = pid;
	j->in = p[0][1];
	j->out = p[1][0];
	j->err = p[2][0];
	p[0][1] = p[1][0] = p[2][0] = -1;
	set_nonblock(j->in);
	set_nonblock(j->out);
	set_nonblock(j->err);
out:
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 2; k++)
			if (p[i][k] >= 0)
				close(p[i][k]);
	return rc;
}

/* --- ops --- */

static void timeout_cb(struct loop *l, void *arg)
{
	(void)l;
	struct job *j = arg;
	j->timer = NULL;
	log_info("exec(job %u): timeout, killing process group %d", j->id, (int)j->pid);
	job_signal(j, SIGKILL);
}

static void job_set_timeout(struct job *j, uint32_t seconds)
{
	if (j->timer) {
		loop_timer_cancel(j->x->l, j->timer);
		j->timer = NULL;
	}
	if (seconds)
		j->timer = loop_timer_add(j->x->l, (uint64_t)seconds * 1000u, timeout_cb, j);
}

static void op_start(struct svc_exec *x, const struct msg *m, struct svc_req q, struct rd *a)
{
	char *cmd = NULL;
	uint32_t ev, timeout;
	int rc = rd_str(a, &cmd, PROTO_MAX_CMD);
	if (rc || rd_u32(a, &ev) || rd_u32(a, &timeout) || rd_end(a)) {
		svc_reply_errf(x->r, q, rc == -ERANGE ? E2BIG : EBADMSG,
			       "exec start: malformed arguments");
		goto out;
	}
	if (ev < HANDLE_FIRST_REPLY) {
		svc_reply_errf(x->r, q, EINVAL, "exec start: bad event handle %u", ev);
		goto out;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		svc_reply_errf(x->r, q, ENOMEM, "exec start: out of memory");
		goto out;
	}
	*j = (struct job){ .x = x, .id = x->next_id, .caller = m->src_id,
			   .ev_handle = ev, .in = -1, .out = -1, .err = -1 };
	j->waits_tail = &j->waits;
	buf_init(&j->inq);
	if ((rc = map_put(&x->jobs, j->id, j)) < 0) {
		free(j);
		svc_reply_errf(x->r, q, -rc, "exec start: %s", strerror(-rc));
		goto out;
	}
	if ((rc = job_spawn(cmd, j)) < 0) {
		map_del(&x->jobs, j->id);
		free(j);
		svc_reply_errf(x->r, q, -rc, "exec start: fork: %s", strerror(-rc));
		goto out;
	}
	x->next_id++;
	/* The first job brings the guard, which kills the jobs' groups if we
	 * die without doing it (kill -9). */
	if (x->guard < 0 && (x->guard = guard_start()) < 0)
		log_warn("exec: no guard process (%s): a killed stub may leave jobs behind",
			 strerror(-x->guard));
	if (x->guard >= 0 && guard_add(x->guard, j->pid) < 0) {
		close(x->guard);
		x->guard = -1;
	}
	j->paused = true; /* job_pause(false) puts the pipes into the loop */
	if (!router_congested(x->r, j->caller))
		job_pause(j, false);
	job_set_timeout(j, timeout);
	log_debug("exec(job %u): pid %d: %s", j->id, (int)j->pid, cmd);
	uint8_t body[8];
	be32_put(body, j->id);
	be32_put(body + 4, (uint32_t)j->pid);
	svc_reply(x->r, q, 0, NULL, body, sizeof(body));
out:
	free(cmd);
}

static void op_stdin(struct svc_exec *x, struct job *j, struct svc_req q, struct rd *a)
{
	const uint8_t *p;
	size_t n;
	if (rd_blob(a, &p, &n) || rd_end(a)) {
		svc_reply_errf(x->r, q, EBADMSG, "exec stdin: malformed arguments");
		return;
	}
	if (j->in < 0 || j->in_eof) {
		svc_reply_errf(x->r, q, EPIPE, "exec stdin(job %u): stdin is closed", j->id);
		return;
	}
	if (j->in_queued - j->in_written + n > EXEC_STDIN_MAX) {
		svc_reply_errf(x->r, q, ENOBUFS, "exec stdin(job %u): too much queued", j->id);
		return;
	}
	struct stdin_wait *w = calloc(1, sizeof(*w));
	if (!w || (n && buf_put_bytes(&j->inq, p, n))) {
		free(w);
		svc_reply_errf(x->r, q, ENOMEM, "exec stdin(job %u): out of memory", j->id);
		return;
	}
	j->in_queued += n;
	w->q = q;
	w->until = j->in_queued;
	*j->waits_tail = w;
	j->waits_tail = &w->next;
	if (n == 0)
		j->in_eof = true;
	stdin_flush(j);
}

void svc_exec_call(struct svc_exec *x, const struct msg *m, uint16_t op, struct rd *a)
{
	struct svc_req q = svc_req_of(m);
	if (op == EXEC_START) {
		op_start(x, m, q, a);
		return;
	}
	uint32_t id, v = 0;
	if (op < EXEC_STDIN || op > EXEC_FORGET) {
		svc_reply_errf(x->r, q, EINVAL, "exec: unknown op %u", op);
		return;
	}
	if (rd_u32(a, &id) ||
	    ((op == EXEC_KILL || op == EXEC_TIMEOUT) && (rd_u32(a, &v) || rd_end(a))) ||
	    (op == EXEC_FORGET && rd_end(a))) {
		svc_reply_errf(x->r, q, EBADMSG, "exec: malformed arguments");
		return;
	}
	struct job *j = map_get(&x->jobs, id);
	if (j && j->forgotten)
		j = NULL;
	if (!j) {
		/* Forgetting a job that already ended is not an error. */
		if (op == EXEC_FORGET && id > 0 && id < x->next_id)
			svc_reply(x->r, q, 0, NULL, NULL, 0);
		else
			svc_reply_errf(x->r, q, ESRCH, "exec: no job %u", id);
		return;
	}
	switch (op) {
	case EXEC_STDIN:
		op_stdin(x, j, q, a);
		return;
	case EXEC_KILL:
		if (v == 0 || v > EXEC_MAX_SIG) {
			svc_reply_errf(x->r, q, EINVAL, "exec kill(job %u): bad signal %u", id, v);
			return;
		}
		if (kill(-j->pid, (int)v) < 0) {
			int e = errno;
			svc_reply_errf(x->r, q, e, "exec kill(job %u): %s", id, strerror(e));
			return;
		}
		break;
	case EXEC_TIMEOUT:
		job_set_timeout(j, v);
		if (v && !j->timer) {
			svc_reply_errf(x->r, q, ENOMEM, "exec timeout(job %u): out of memory", id);
			return;
		}
		break;
	case EXEC_FORGET:
		job_forget(j);
		break;
	}
	svc_reply(x->r, q, 0, NULL, NULL, 0);
}

/* --- lifetime and events from main --- */

struct svc_exec *svc_exec_new(struct router *r)
{
	struct svc_exec *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->r = r;
	x->l = router_loop(r);
	x->next_id = 1;
	x->guard = -1;
	map_init(&x->jobs);
	return x;
}

void svc_exec_kill_all(struct svc_exec *x)
{
	size_t pos = 0;
	void *v;
	while (map_next(&x->jobs, &pos, NULL, &v)) {
		struct job *j = v;
		if (!j->forgotten)
			job_forget(j); /* may free j: safe while iterating */
		else
			job_signal(j, SIGKILL);
	}
	/* The jobs are killed: the guard has nothing left to do, and its
	 * EOF lets it exit now rather than hold up our own exit. */
	if (x->guard >= 0) {
		close(x->guard);
		x->guard = -1;
	}
}

void svc_exec_free(struct svc_exec *x)
{
	if (!x)
		return;
	svc_exec_kill_all(x);
	size_t pos = 0;
	void *v;
	while (map_next(&x->jobs, &pos, NULL, &v))
		job_free(v);
	map_free(&x->jobs);
	if (x->guard >= 0)
		close(x->guard);
	free(x->rbuf);
	free(x);
}

bool svc_exec_child_exited(struct svc_exec *x, pid_t pid, int status)
{
	struct job *j = job_by_pid(x, pid);
	if (!j || j->reaped)
		return false;
	j->reaped = true;
	j->status = status;
	job_check(j);
	return true;
}

void svc_exec_route_lost(struct svc_exec *x, uint32_t id)
{
	size_t pos = 0;
	void *v;
	while (map_next(&x->jobs, &pos, NULL, &v)) {
		struct job *j = v;
		if (j->caller == id && !j->forgotten) {
			log_info("exec(job %u): caller %u lost, killing the job", j->id, id);
			job_forget(j);
		}
	}
}

void svc_exec_drain(struct svc_exec *x)
{
	size_t pos = 0;
	void *v;
	while (map_next(&x->jobs, &pos, NULL, &v)) {
		struct job *j = v;
		if (j->paused && !j->forgotten && !router_congested(x->r, j->caller))
			job_pause(j, false);
	}
}
