/*
 * jobs — remote commands: start, output, status, stdin, kill, timeout,
 * removal (jobs.h). Each job has a persistent reply handle on which the
 * stub sends its events; the router wakes that handle with a dead message
 * if the context goes away, so a job never waits for a dead peer.
 */
#include "jobs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "fh.h"
#include "log.h"
#include "loop.h"
#include "ring.h"
#include "router.h"

struct job *job_new(struct ctx *c, uint32_t num)
{
	struct daemon *d = c->d;
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->c = c;
	j->cid = c->id;
	j->num = num;
	j->how = -1;
	j->listed = true;
	j->out = ring_new_spooled(d->output_cap, d->spool);
	j->err = ring_new_spooled(d->output_cap, d->spool);
	if (!j->out || !j->err || (num && tree_add_job_dir(&d->tree, j))) {
		ring_free(j->out);
		ring_free(j->err);
		free(j);
		return NULL;
	}
	if (num) {
		j->next = c->jobs;
		c->jobs = j;
	}
	return j;
}

static struct daemon *job_daemon(struct job *j)
{
	return j->c ? j->c->d : NULL;
}

/* A jobs/N that was never started and that nobody has open (a clone
 * that `grep -r` opened, a script that gave up) goes after a grace. */
static void grace_end(struct loop *l, void *arg)
{
	(void)l;
	struct job *j = arg;
	j->grace = NULL;
	if (j->state != JOB_NEW || !j->listed || j->fhs || j->busy || !j->c)
		return; /* started, removed or in use since: a later close looks again */
	ctx_log(j->c, LOG_INFO, "jobs/%u: never started, removed %d s after its last close",
		j->num, j->c->d->clone_grace_ms / 1000);
	job_remove(j);
}

static void grace_cancel(struct job *j)
{
	if (j->grace && j->c)
		loop_timer_cancel(j->c->d->loop, j->grace);
	j->grace = NULL;
}

void job_maybe_free(struct job *j)
{
	if (j->listed && j->num && j->state == JOB_NEW && !j->fhs && !j->busy && !j->grace && j->c)
		j->grace = loop_timer_add(j->c->d->loop, (uint64_t)j->c->d->clone_grace_ms, grace_end, j);
	if (j->listed || j->busy || j->fhs || j->state == JOB_RUNNING || j->state == JOB_STARTING)
		return;
	ring_free(j->out);
	ring_free(j->err);
	free(j);
}

/* The start's answer: to whoever wrote the command, once. */
static void start_done(struct job *j, int rc)
{
	job_done_fn *fn = j->start_fn;
	j->start_fn = NULL;
	if (fn)
		fn(j->start_arg, rc);
}

/* A watcher (a group job) learns that j ended, once. */
static void job_notify_end(struct job *j)
{
	const struct job_watch *w = j->watch;
	if (w && !j->watch_told) {
		j->watch_told = true;
		w->ended(j->watch_arg, j);
	}
}

/* The job ended (or can no longer be followed): wake everything. */
static void job_finish(struct job *j, struct router *r)
{
	j->state = JOB_DONE;
	j->t_end_us = loop_now_us();
	if (j->ev_handle && r)
		router_del_handler(r, j->ev_handle);
	j->ev_handle = 0;
	if (j->dir)
		tree_touch(j->dir);
	fh_wake(j->fhs);
	job_notify_end(j);
}

void job_lost(struct job *j, const char *why)
{
	struct daemon *d = job_daemon(j);
	start_done(j, -EIO);
	if (j->state == JOB_DONE && j->how != -1)
		return;
	if (j->state == JOB_DONE && j->why[0])
		return;
	j->how = -1;
	snprintf(j->why, sizeof(j->why), "%s", why);
	job_finish(j, d ? d->router : NULL);
}

void job_unlist(struct job *j)
{
	struct daemon *d = job_daemon(j);
	grace_cancel(j);
	if (j->dir && d)
		tree_remove(&d->tree, j->dir);
	j->dir = NULL;
	j->listed = false;
	j->c = NULL;
	job_maybe_free(j);
}

static struct router *router_of(struct job *j)
{
	return j->c ? j->c->d->router : NULL;
}

/* Job stderr goes to the context's log too, one log line per line, each
 * saying which job (a line cut by a chunk boundary reads as two). */
static void log_stderr(struct job *j, const char *p, size_t n)
{
	char pfx[40];
	if (j->num)
		snprintf(pfx, sizeof(pfx), "job %u stderr: ", j->num);
	else
		snprintf(pfx, sizeof(pfx), "exec stderr: ");
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;
		char line[PROTO_MAX_TEXT];
		size_t show = len < sizeof(line) - 48 ? len : sizeof(line) - 48;
		int k = snprintf(line, sizeof(line), "%s%.*s", pfx, (int)show, p);
		ctx_log_text(j->c, LOG_INFO, line, (size_t)k);
		len += nl ? 1 : 0;
		p += len;
		n -= len;
	}
}

/* A malformed message about j from its context: the context is closed
 * (ctx_protocol_error), which ends j and every other waiter there. */
static void job_bad_msg(struct job *j, const char *what)
{
	struct daemon *d = job_daemon(j);
	if (d)
		ctx_protocol_error(d, j->cid, "%s (job %u)", what, j->rjob);
	else
		log_warn("%s (job %u of context %u)", what, j->rjob, j->cid);
}

/* Output of j that could not be kept (the spool's budget, a full disk):
 * the stream got its marker line; the job's log says it once. */
static void output_cut(struct job *j, struct ring *ring, bool err)
{
	char why[160];
	ring_cut_reason(ring, why, sizeof(why));
	if (!j->c)
		return;
	if (j->num)
		ctx_log(j->c, LOG_ERROR, "job %u %s: %s; the rest is dropped", j->num,
			err ? "stderr" : "stdout", why);
	else
		ctx_log(j->c, LOG_ERROR, "exec %s: %s; the rest is dropped", err ? "stderr" : "stdout",
			why);
}

static void on_event(struct router *r, const struct msg *m, void *arg)
{
	struct job *j = arg;
	if (router_msg_is_dead(m)) {
		char why[160];
		snprintf(why, sizeof(why), "%.*s", (int)m->len, m->data ? (char *)m->data : "");
		j->ev_handle = 0; /* the router removed it */
		job_lost(j, why);
		job_maybe_free(j);
		return;
	}
	struct rd rd;
	uint32_t id, val;
	uint8_t kind, how;
	rd_init(&rd, m->data, m->len);
	if (rd_u32(&rd, &id) || rd_u8(&rd, &kind) || id != j->rjob) {
		/* Dropping it would leave the job running here for ever. */
		job_bad_msg(j, "job event: malformed or for another job");
		return;
	}
	switch (kind) {
	case EXEC_EV_STDOUT:
	case EXEC_EV_STDERR: {
		if (j->c) {
			j->c->d->last_output_us = loop_now_us();
			j->c->d->output_since_trim = true;
		}
		struct ring *ring = kind == EXEC_EV_STDOUT ? j->out : j->err;
		if (ring_append(ring, m->data + rd.off, rd_left(&rd)))
			output_cut(j, ring, kind == EXEC_EV_STDERR);
		if (kind == EXEC_EV_STDERR && j->c)
			log_stderr(j, (const char *)m->data + rd.off, rd_left(&rd));
		fh_wake(j->fhs);
		if (j->watch)
			j->watch->output(j->watch_arg, j, kind == EXEC_EV_STDERR,
					 m->data + rd.off, rd_left(&rd));
		break;
	}
	case EXEC_EV_EXIT:
		if (rd_u8(&rd, &how) || rd_u32(&rd, &val) || rd_end(&rd) || how > EXIT_SIGNAL) {
			job_bad_msg(j, "job event: malformed exit");
			return;
		}
		j->how = how;
		j->val = val;
		job_finish(j, r);
		job_maybe_free(j);
		break;
	default:
		job_bad_msg(j, "job event: unknown kind");
	}
}

static void send_simple(struct router *r, uint32_t cid, uint16_t op, uint32_t rjob, uint32_t arg,
			bool with_arg)
{
	struct buf b;
	buf_init(&b);
	if (!proto_call_begin(&b, SVC_EXEC, op) && !buf_put_u32(&b, rjob) &&
	    (!with_arg || !buf_put_u32(&b, arg)))
		router_send_to(r, cid, HANDLE_CALL_SERVICE, 0, b.data, b.len);
	buf_free(&b);
}

static void on_started(struct router *r, const struct msg *m, void *arg)
{
	struct job *j = arg;
	j->busy--;
	uint32_t err = 0, rjob = 0, pid = 0;
	const char *text = "";
	size_t tlen = 0;
	struct rd rd;
	rd_init(&rd, m->data, m->len);
	int rc = 0;
	char why[200] = "";
	if (router_msg_is_dead(m)) {
		snprintf(why, sizeof(why), "%.*s", (int)m->len, m->data ? (char *)m->data : "");
		rc = -EIO;
	} else if (proto_reply_read(&rd, &err, &text, &tlen) ||
		   (!err && (rd_u32(&rd, &rjob) || rd_u32(&rd, &pid) || rd_end(&rd)))) {
		/* What runs there, if anything, is out of our reach. */
		snprintf(why, sizeof(why), "malformed exec reply");
		job_bad_msg(j, why);
		rc = -EIO;
	} else if (err) {
		snprintf(why, sizeof(why), "%.*s", (int)tlen, text);
		rc = -remote_errno(err);
	}
	if (rc) {
		if (j->ev_handle)
			router_del_handler(r, j->ev_handle);
		j->ev_handle = 0;
		j->state = JOB_DONE;
		snprintf(j->why, sizeof(j->why), "%s", why);
		if (j->c)
			ctl_set_error(j->c, "exec", rc, why);
		fh_wake(j->fhs);
		job_notify_end(j);
		start_done(j, rc);
	} else {
		j->rjob = rjob;
		j->pid = pid;
		j->ran = true;
		if (j->state == JOB_STARTING)
			j->state = JOB_RUNNING;
		/* An exec job has no stdin file: reading stdin is EOF at once. */
		if (j->num == 0)
			job_stdin_close(j);
		start_done(j, 0);
		if (j->forget_on_start) {
			/* Removed while it started: it is forgotten there and
			 * ends here, cut (no event follows a forget). */
			send_simple(r, j->cid, EXEC_FORGET, rjob, 0, false);
			job_finish(j, r);
		}
	}
	job_maybe_free(j);
}

/* Starts j with the script data[0..size); done(arg, rc) follows once. */
void job_start(struct job *j, const char *data, size_t size, job_done_fn *done, void *arg)
{
	struct ctx *c = j->c;
	grace_cancel(j);
	j->start_fn = done;
	j->start_arg = arg;
	if (!c) {
		start_done(j, -ENOENT);
		return;
	}
	struct daemon *d = c->d;
	size_t n = size;
	while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	const char *bad = job_bad_command(data, size);
	if (bad || c->state != CTX_CONNECTED) {
		int e = bad ? EINVAL : EIO;
		if (!bad)
			bad = c->state == CTX_CONNECTING ? "context is connecting" : "context is disconnected";
		ctl_set_error(c, "exec", -e, bad);
		/* It will never run: readers of its status learn so. */
		j->state = JOB_DONE;
		j->how = -1;
		snprintf(j->why, sizeof(j->why), "%s", bad);
		fh_wake(j->fhs);
		job_notify_end(j);
		start_done(j, -e);
		return;
	}
	struct buf b;
	buf_init(&b);
	j->ev_handle = router_add_reply(d->router, c->id, on_event, j, ROUTER_PERSIST);
	uint32_t h = router_add_reply(d->router, c->id, on_started, j, 0);
	int rc = (!j->ev_handle || !h) ? -ENOMEM : 0;
	rc = rc ? rc : proto_call_begin(&b, SVC_EXEC, EXEC_START);
	rc = rc ? rc : buf_put_blob(&b, data, n);
	rc = rc ? rc : buf_put_u32(&b, j->ev_handle);
	rc = rc ? rc : buf_put_u32(&b, j->timeout_s);
	rc = rc ? rc : router_send_to(d->router, c->id, HANDLE_CALL_SERVICE, h, b.data, b.len);
	buf_free(&b);
	if (rc) {
		if (j->ev_handle)
			router_del_handler(d->router, j->ev_handle);
		if (h)
			router_del_handler(d->router, h);
		j->ev_handle = 0;
		j->state = JOB_DONE;
		j->how = -1;
		snprintf(j->why, sizeof(j->why), "cannot send the call: %s", strerror(-rc));
		ctl_set_error(c, "exec", rc, "cannot send the call");
		fh_wake(j->fhs);
		job_notify_end(j);
		start_done(j, rc);
		return;
	}
	j->busy++;
	j->state = JOB_STARTING;
	j->t_start_us = loop_now_us();
}

const char *job_bad_command(const char *data, size_t size)
{
	size_t n = size;
	while (n && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' ' ||
		     data[n - 1] == '\t'))
		n--;
	if (n == 0)
		return "empty command";
	if (n > PROTO_MAX_CMD)
		return "command longer than 128 KiB";
	if (memchr(data, 0, n))
		return "command has a NUL byte";
	return NULL;
}

void job_exec(struct ctx *c, const char *data, size_t size, job_done_fn *done, void *arg)
{
	const char *bad = job_bad_command(data, size);
	if (bad || c->state != CTX_CONNECTED) {
		ctl_set_error(c, "exec", bad ? -EINVAL : -EIO, bad ? bad : "context is not connected");
		done(arg, bad ? -EINVAL : -EIO);
		return;
	}
	struct job *j = job_new(c, 0);
	if (!j) {
		done(arg, -ENOMEM);
		return;
	}
	struct job *old = c->last;
	c->last = j;
	if (old && (old->state == JOB_RUNNING || old->state == JOB_STARTING) &&
	    !tree_add_job_dir(&c->d->tree, (old->num = c->next_job, old))) {
		/* Still running: it stays reachable (and killable) as jobs/N. */
		c->next_job++;
		old->next = c->jobs;
		c->jobs = old;
		ctx_log(c, LOG_INFO, "exec: the previous job still runs, as jobs/%u", old->num);
	} else if (old) {
		job_unlist(old);
	}
	job_start(j, data, size, done, arg);
}

void job_cmd(struct job *j, const char *data, size_t size, job_done_fn *done, void *arg)
{
	if (!j->c) {
		done(arg, -ENOENT);
		return;
	}
	if (j->state != JOB_NEW) {
		snprintf(j->lasterr, sizeof(j->lasterr), "cmd: job was started already\n");
		done(arg, -EBUSY);
		return;
	}
	const char *bad = job_bad_command(data, size);
	if (bad) { /* the job stays new: cmd can be written again */
		snprintf(j->lasterr, sizeof(j->lasterr), "cmd: %s\n", bad);
		ctl_set_error(j->c, "cmd", -EINVAL, bad);
		done(arg, -EINVAL);
		return;
	}
	job_start(j, data, size, done, arg);
}

struct stdin_call {
	job_done_fn *done;
	void *arg;
	struct job *j; /* held (busy) until the answer */
};

static void on_stdin_ack(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct stdin_call *sc = arg;
	struct rd rd;
	uint32_t err = 0;
	const char *text;
	size_t tlen;
	int rc = 0;
	rd_init(&rd, m->data, m->len);
	if (router_msg_is_dead(m)) {
		rc = -EIO;
	} else if (proto_reply_read(&rd, &err, &text, &tlen) || (!err && rd_end(&rd))) {
		job_bad_msg(sc->j, "malformed stdin reply");
		rc = -EIO;
	} else if (err) {
		rc = -remote_errno(err);
	}
	sc->done(sc->arg, rc);
	sc->j->busy--;
	job_maybe_free(sc->j);
	free(sc);
}

void job_stdin(struct job *j, const char *data, size_t size, job_done_fn *done, void *arg)
{
	struct router *r = router_of(j);
	if (!r || j->state == JOB_DONE) {
		done(arg, -EPIPE);
		return;
	}
	if (j->state != JOB_RUNNING) {
		snprintf(j->lasterr, sizeof(j->lasterr), "stdin: the job has not started: write cmd first\n");
		done(arg, -EINVAL);
		return;
	}
	if (size == 0) {
		done(arg, 0);
		return;
	}
	struct stdin_call *sc = malloc(sizeof(*sc));
	struct buf b;
	buf_init(&b);
	uint32_t h = sc ? router_add_reply(r, j->cid, on_stdin_ack, sc, 0) : 0;
	int rc = h ? 0 : -ENOMEM;
	rc = rc ? rc : proto_call_begin(&b, SVC_EXEC, EXEC_STDIN);
	rc = rc ? rc : buf_put_u32(&b, j->rjob);
	rc = rc ? rc : buf_put_blob(&b, data, size);
	if (!rc) {
		sc->done = done;
		sc->arg = arg;
		sc->j = j;
		j->busy++;
		rc = router_send_to(r, j->cid, HANDLE_CALL_SERVICE, h, b.data, b.len);
		if (rc)
			j->busy--;
	}
	buf_free(&b);
	if (rc) {
		if (h)
			router_del_handler(r, h);
		free(sc);
		done(arg, rc == -ENOMEM ? -ENOMEM : -EIO);
	}
}

void job_stdin_close(struct job *j)
{
	struct router *r = router_of(j);
	if (!r || j->state != JOB_RUNNING)
		return;
	struct buf b;
	buf_init(&b);
	if (!proto_call_begin(&b, SVC_EXEC, EXEC_STDIN) && !buf_put_u32(&b, j->rjob) &&
	    !buf_put_blob(&b, "", 0))
		router_send_to(r, j->cid, HANDLE_CALL_SERVICE, 0, b.data, b.len);
	buf_free(&b);
}

int job_signal_number(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s && !*end)
		return v > 0 && v < NSIG ? (int)v : -1;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (int i = 1; i < NSIG; i++) {
		const char *name = sigabbrev_np(i);
		if (name && !strcasecmp(name, s))
			return i;
	}
	return -1;
}

int job_parse_kill(const struct ctl_line *l, int *sig, char *err, size_t errlen)
{
	*sig = l->nwords ? job_signal_number(l->words[0]) : SIGTERM;
	if (l->nwords > 1 || l->nopts || *sig < 0) {
		snprintf(err, errlen, "usage: kill [SIGNAL] (a name such as TERM, KILL, INT, HUP, "
			 "USR1, with or without SIG, or a number 1-%d)", NSIG - 1);
		return -EINVAL;
	}
	return 0;
}

int job_parse_timeout(const struct ctl_line *l, uint32_t *secs, char *err, size_t errlen)
{
	char *end = NULL;
	long v = l->nwords == 1 ? strtol(l->words[0], &end, 10) : -1;
	if (l->nwords != 1 || l->nopts || *end || v < 0 || v > 86400 * 365) {
		snprintf(err, errlen, "usage: timeout SECONDS (0 cancels; at most a year)");
		return -EINVAL;
	}
	*secs = (uint32_t)v;
	return 0;
}

int job_ctl_verb(struct job *j, const struct ctl_line *l, char *err, size_t errlen)
{
	int sig;
	uint32_t secs;
	bool kill = !strcmp(l->verb, "kill");
	int rc = kill ? job_parse_kill(l, &sig, err, errlen) : job_parse_timeout(l, &secs, err, errlen);
	if (!rc && (!j || (kill ? job_kill(j, sig) : job_set_timeout(j, secs)))) {
		snprintf(err, errlen, "job is not running");
		rc = -ESRCH;
	}
	return rc;
}

static int job_ctl(void *obj, const struct ctl_line *l, struct ctl_batch *b,
		   char *err, size_t errlen)
{
	(void)b;
	struct job *j = obj;
	int rc;
	if (!strcmp(l->verb, "kill") || !strcmp(l->verb, "timeout")) {
		rc = job_ctl_verb(j, l, err, errlen);
	} else {
		snprintf(err, errlen, "unknown verb '%s' (kill, timeout)", l->verb);
		rc = -EINVAL;
	}
	if (rc)
		snprintf(j->lasterr, sizeof(j->lasterr), "%s: %s\n", l->verb, err);
	return rc;
}

int job_kill(struct job *j, int sig)
{
	struct router *r = router_of(j);
	if (!r || j->state != JOB_RUNNING)
		return -ESRCH;
	send_simple(r, j->cid, EXEC_KILL, j->rjob, (uint32_t)sig, true);
	return 0;
}

int job_set_timeout(struct job *j, uint32_t secs)
{
	struct router *r = router_of(j);
	if (!r || j->state != JOB_RUNNING)
		return -ESRCH;
	send_simple(r, j->cid, EXEC_TIMEOUT, j->rjob, secs, true);
	return 0;
}

static void job_ctl_fail(void *obj, const char *line, int rc, const char *why)
{
	struct job *j = obj;
	if (j->c)
		ctl_set_error(j->c, line, rc, why);
}

static void job_hold(void *obj)
{
	((struct job *)obj)->busy++;
}

static void job_release(void *obj)
{
	struct job *j = obj;
	j->busy--;
	job_maybe_free(j);
}

const struct ctl_target job_ctl_target = {
	.run = job_ctl, .fail = job_ctl_fail, .hold = job_hold, .release = job_release,
};

int job_remove(struct job *j)
{
	struct ctx *c = j->c;
	if (!c)
		return -ENOENT;
	struct router *r = c->d->router;
	if (j->state == JOB_RUNNING)
		send_simple(r, j->cid, EXEC_FORGET, j->rjob, 0, false);
	else if (j->state == JOB_STARTING)
		j->forget_on_start = true;
	for (struct job **pp = &c->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	if (j->state != JOB_DONE) {
		/* Readers waiting on it (even one never started) end now. */
		snprintf(j->why, sizeof(j->why), "job removed");
		j->how = -1;
		if (j->state != JOB_STARTING)
			job_finish(j, r);
		else
			fh_wake(j->fhs);
	}
	job_unlist(j);
	return 0;
}

int job_output_end(const struct job *j)
{
	if (j->state == JOB_DONE)
		return j->how == -1 ? -EIO : 1;
	return j->forget_on_start ? -EIO : 0;
}

int job_status_text(const struct job *j, char *buf, size_t cap)
{
	if (j->how == EXIT_CODE)
		return snprintf(buf, cap, "exit %u\n", j->val);
	if (j->how == EXIT_SIGNAL) {
		const char *name = sigabbrev_np((int)j->val);
		return name ? snprintf(buf, cap, "signal %s\n", name)
			    : snprintf(buf, cap, "signal %u\n", j->val);
	}
	return -EIO;
}
