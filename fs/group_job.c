/*
 * group_job — a group's jobs: one script started on every member (a job
 * of that member's context, jobs.c), at most `width` at once; their
 * output gathered line by line as "PATH: line" (pdsh's format, never two
 * members inside one line), their ends as one status line each, the
 * reads of the folded view (made in group_fold.c), stdin sent to every
 * member, kill and timeout (group.h). Not for: the group itself
 * (group.c).
 */
#include "group.h"
#include "group_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "fh.h"
#include "jobs.h"
#include "log.h"
#include "loop.h"
#include "ring.h"

#define STDIN_CHUNK (64u << 10) /* replayed stdin goes in pieces this big */

static void fill(struct gjob *gj);

/* --- lifetime --- */

/* Makes jobs/N (N = gj->num) for gj and lists it in the group. */
static int add_dir(struct gjob *gj)
{
	struct group *g = gj->g;
	struct tree *t = &gj->d->tree;
	struct node *jobs = tree_find(g->dir, "jobs");
	char name[16];
	snprintf(name, sizeof(name), "%u", gj->num);
	struct node *dir = jobs ? tree_add(t, jobs, name, N_G_JOBDIR, NULL, NULL) : NULL;
	if (!dir)
		return -ENOMEM;
	dir->grp = g;
	dir->gj = gj;
	static const struct { const char *name; enum node_kind kind; } files[] = {
		{ "cmd", N_G_JOB_CMD }, { "stdin", N_G_JOB_STDIN }, { "stdout", N_G_STDOUT },
		{ "stderr", N_G_STDERR }, { "status", N_G_STATUS }, { "folded", N_G_FOLDED },
		{ "ctl", N_G_JOB_CTL },
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct node *n = tree_add(t, dir, files[i].name, files[i].kind, NULL, NULL);
		if (!n) {
			tree_remove(t, dir);
			return -ENOMEM;
		}
		n->grp = g;
		n->gj = gj;
	}
	gj->dir = dir;
	gj->next = g->jobs;
	g->jobs = gj;
	return 0;
}

struct gjob *gjob_new(struct group *g, uint32_t num)
{
	struct daemon *d = g->d;
	struct gjob *gj = calloc(1, sizeof(*gj));
	if (!gj)
		return NULL;
	gj->d = d;
	gj->g = g;
	gj->num = num;
	gj->listed = true;
	buf_init(&gj->in);
	gj->out = ring_new_spooled(d->output_cap, d->spool);
	gj->err = ring_new_spooled(d->output_cap, d->spool);
	if (gj->out && gj->err && (!num || add_dir(gj) == 0))
		return gj;
	ring_free(gj->out);
	ring_free(gj->err);
	free(gj);
	return NULL;
}

static void gjob_forget(struct gjob *gj);

/* A jobs/N never started that nobody has open goes after a grace, as a
 * context's (jobs.c): a clone that `grep -r` opened leaves nothing. */
static void grace_end(struct loop *l, void *arg)
{
	(void)l;
	struct gjob *gj = arg;
	gj->grace = NULL;
	if (gj->state != JOB_NEW || !gj->listed || gj->fhs || gj->busy || !gj->g)
		return;
	ctx_log(&gj->d->root, LOG_INFO, "groups/%s: jobs/%u: never started, removed %d s after "
		"its last close", gj->g->name, gj->num, gj->d->clone_grace_ms / 1000);
	gjob_forget(gj);
}

void gjob_maybe_free(struct gjob *gj)
{
	if (gj->listed && gj->num && gj->state == JOB_NEW && !gj->fhs && !gj->busy && !gj->grace)
		gj->grace = loop_timer_add(gj->d->loop, (uint64_t)gj->d->clone_grace_ms, grace_end, gj);
	if (gj->listed || gj->busy || gj->fhs)
		return;
	for (size_t i = 0; i < gj->nm; i++) {
		struct gmember *m = &gj->m[i];
		if (m->j) {
			m->j->watch = NULL;
			m->j->busy--;
			job_maybe_free(m->j);
		}
		buf_free(&m->part[0]);
		buf_free(&m->part[1]);
		free(m->path);
	}
	free(gj->m);
	free(gj->cmd);
	buf_free(&gj->in);
	ring_free(gj->out);
	ring_free(gj->err);
	ring_free(gj->folded);
	free(gj);
}

/* The job's members still running are killed; its readers learn it was
 * cut (EIO after what arrived). */
void gjob_unlist(struct gjob *gj)
{
	if (gj->grace)
		loop_timer_cancel(gj->d->loop, gj->grace);
	gj->grace = NULL;
	if (gj->state != JOB_DONE)
		gj->cut = true;
	if (gj->state == JOB_RUNNING) {
		char err[64];
		gjob_kill(gj, SIGKILL, err, sizeof(err));
	}
	if (gj->dir)
		tree_remove(&gj->d->tree, gj->dir);
	gj->dir = NULL;
	gj->listed = false;
	gj->g = NULL;
	fh_wake(gj->fhs);
	gjob_maybe_free(gj);
}

/* --- gathering --- */

/* A gathered stream (or the folded view) was cut by the spool: the root
 * log says so, once per stream (its marker line says it too). */
void gjob_output_cut(struct gjob *gj, const struct ring *r, const char *what)
{
	char why[160], name[32] = "exec";
	ring_cut_reason(r, why, sizeof(why));
	if (gj->num)
		snprintf(name, sizeof(name), "job %u", gj->num);
	ctx_log(&gj->d->root, LOG_ERROR, "groups/%s: %s %s: %s; the rest is dropped",
		gj->g ? gj->g->name : "(removed)", name, what, why);
}

/* Appends "PATH: " line "\n" for every whole line of m's stream, and the
 * rest too when flush (the member ended). */
static void gather(struct gmember *m, bool err, bool flush)
{
	struct gjob *gj = m->gj;
	struct buf *p = &m->part[err];
	struct buf out;
	buf_init(&out);
	size_t plen = strlen(m->path), from = 0;
	while (from < p->len) {
		const char *s = (const char *)p->data + from;
		const char *nl = memchr(s, '\n', p->len - from);
		size_t n = nl ? (size_t)(nl - s) : p->len - from;
		if (!nl && !flush && n < GROUP_LINE_MAX)
			break;
		if (buf_put_bytes(&out, m->path, plen) || buf_put_bytes(&out, ": ", 2) ||
		    buf_put_bytes(&out, s, n) || buf_put_bytes(&out, "\n", 1))
			break; /* out of memory: the line is lost, the rest goes on */
		from += n + (nl ? 1 : 0);
	}
	if (from) {
		memmove(p->data, p->data + from, p->len - from);
		p->len -= from;
	}
	if (out.len) {
		struct ring *r = err ? gj->err : gj->out;
		if (ring_append(r, out.data, out.len))
			gjob_output_cut(gj, r, err ? "stderr" : "stdout");
		fh_wake(gj->fhs);
	}
	buf_free(&out);
}

static void on_output(void *arg, struct job *j, bool err, const void *p, size_t n)
{
	(void)j;
	struct gmember *m = arg;
	if (buf_put_bytes(&m->part[err], p, n) == 0)
		gather(m, err, false);
}

static void done_check(struct gjob *gj)
{
	if (gj->state != JOB_RUNNING || gj->ended < gj->nm)
		return;
	gj->state = JOB_DONE;
	if (gj->dir)
		tree_touch(gj->dir);
	fh_wake(gj->fhs);
}

/* Member m will not run any more (or never did). */
static void member_end(struct gmember *m)
{
	struct gjob *gj = m->gj;
	if (m->st == GM_ENDED)
		return;
	if (m->st == GM_STARTING || m->st == GM_RUNNING)
		gj->active--;
	m->st = GM_ENDED;
	gj->ended++;
	gather(m, false, true);
	gather(m, true, true);
	fill(gj);
	done_check(gj);
}

static void on_ended(void *arg, struct job *j)
{
	(void)j;
	member_end(arg);
}

static const struct job_watch member_watch = { .output = on_output, .ended = on_ended };

/* --- starting --- */

/* A member of the first wave answered: the write that started the job
 * returns once all of them did. */
static void first_wave_answer(struct gjob *gj, struct gmember *m, int rc, const char *why)
{
	if ((size_t)(m - gj->m) >= gj->first_wave)
		return;
	if (rc == 0)
		gj->started++;
	else if (!gj->start_why[0])
		snprintf(gj->start_why, sizeof(gj->start_why), "%s: %s", m->path, why);
	if (--gj->first_wave_left)
		return;
	job_done_fn *fn = gj->start_fn;
	gj->start_fn = NULL;
	if (!fn)
		return;
	if (gj->started == 0 && gj->g) {
		group_set_error(gj->g, "exec", -EIO, gj->start_why[0] ? gj->start_why
							    : "no member could start");
		fn(gj->start_arg, -EIO);
	} else {
		fn(gj->start_arg, 0);
	}
	gj->busy--;
	gjob_maybe_free(gj);
}

static void replay_done(void *arg, int rc)
{
	(void)arg;
	(void)rc;
}

static void member_started(void *arg, int rc)
{
	struct gmember *m = arg;
	struct gjob *gj = m->gj;
	if (rc == 0 && m->st == GM_STARTING) {
		m->st = GM_RUNNING;
		m->ran = true;
		/* What stdin received so far, then its end if it came. */
		for (size_t off = 0; off < gj->in.len; off += STDIN_CHUNK) {
			size_t n = gj->in.len - off < STDIN_CHUNK ? gj->in.len - off : STDIN_CHUNK;
			job_stdin(m->j, (const char *)gj->in.data + off, n, replay_done, NULL);
		}
		if (gj->in_eof)
			job_stdin_close(m->j);
		if (gj->kill_sig)
			job_kill(m->j, gj->kill_sig);
	}
	first_wave_answer(gj, m, rc, m->j && m->j->why[0] ? m->j->why : strerror(-rc));
}

/* m cannot start: no such context now, or out of memory. */
static void member_fail(struct gmember *m, const char *why)
{
	snprintf(m->why, sizeof(m->why), "%s", why);
	member_end(m);
	first_wave_answer(m->gj, m, -EIO, why);
}

static void start_member(struct gjob *gj, struct gmember *m)
{
	struct ctx *c = ctx_by_path(gj->d, m->path);
	if (!c) {
		member_fail(m, "no such context any more");
		return;
	}
	if (c->state != CTX_CONNECTED) {
		member_fail(m, c->state == CTX_CONNECTING ? "context is connecting"
							   : "context is disconnected");
		return;
	}
	struct job *j = job_new(c, c->next_job);
	if (!j) {
		member_fail(m, "out of memory");
		return;
	}
	c->next_job++;
	j->watch = &member_watch;
	j->watch_arg = m;
	j->timeout_s = gj->timeout_s;
	j->busy++; /* ours while gj lives: its status and output */
	m->j = j;
	m->st = GM_STARTING;
	gj->active++;
	job_start(j, gj->cmd, gj->cmdlen, member_started, m);
}

/* Starts queued members while the width allows. */
static void fill(struct gjob *gj)
{
	if (gj->filling)
		return; /* the loop below sees the change */
	gj->filling = true;
	while (gj->nextm < gj->nm && (!gj->width || gj->active < gj->width))
		start_member(gj, &gj->m[gj->nextm++]);
	gj->filling = false;
}

/* Starts gj (new) on the group's members with the script data. */
static void gjob_start(struct gjob *gj, const char *data, size_t len, job_done_fn *done, void *arg)
{
	struct group *g = gj->g;
	const char *bad = job_bad_command(data, len);
	if (bad) {
		group_set_error(g, gj->num ? "cmd" : "exec", -EINVAL, bad);
		if (!gj->num) { /* exec's: it will never run */
			gj->cut = true;
			fh_wake(gj->fhs);
		}
		done(arg, -EINVAL);
		return;
	}
	char **paths = NULL;
	size_t n = 0;
	int rc = group_resolve(g, &paths, &n);
	if (!rc && n == 0) {
		group_set_error(g, gj->num ? "cmd" : "exec", -ENOENT,
				g->npats ? "no context matches the group's members"
					 : "the group has no members: write paths or patterns to members");
		rc = -ENOENT;
	}
	if (!rc && !(gj->m = calloc(n, sizeof(*gj->m))))
		rc = -ENOMEM;
	if (!rc && !(gj->cmd = malloc(len ? len : 1)))
		rc = -ENOMEM;
	if (rc) {
		group_free_paths(paths, n);
		gj->cut = true; /* never ran: its files answer EIO, never wait */
		fh_wake(gj->fhs);
		done(arg, rc);
		return;
	}
	memcpy(gj->cmd, data, len);
	gj->cmdlen = len;
	gj->nm = n;
	for (size_t i = 0; i < n; i++) {
		gj->m[i].gj = gj;
		gj->m[i].path = paths[i];
		buf_init(&gj->m[i].part[0]);
		buf_init(&gj->m[i].part[1]);
	}
	free(paths);
	gj->width = g->width;
	gj->timeout_s = g->timeout_s;
	gj->state = JOB_RUNNING;
	gj->first_wave = gj->width && gj->width < n ? gj->width : n;
	gj->first_wave_left = gj->first_wave;
	gj->start_fn = done;
	gj->start_arg = arg;
	gj->busy++; /* until the write is answered */
	ctx_log(&g->d->root, LOG_INFO, "groups/%s: %s on %zu member%s%s", g->name,
		gj->num ? "job started" : "exec", n, n == 1 ? "" : "s",
		gj->width && gj->width < n ? ", a width at a time" : "");
	fill(gj);
}

void gjob_exec_write(struct fh *f, struct node *n, const char *data, size_t len,
		     job_done_fn *done, void *arg)
{
	(void)f;
	struct group *g = n->grp;
	struct gjob *gj = gjob_new(g, 0);
	if (!gj) {
		done(arg, -ENOMEM);
		return;
	}
	gj->in_eof = true; /* exec's jobs read no stdin */
	struct gjob *old = g->last;
	g->last = gj;
	if (old && old->state == JOB_RUNNING && (old->num = g->next_job, add_dir(old) == 0)) {
		/* Still running: it stays reachable (and killable) as jobs/N,
		 * as a context's exec job does. */
		g->next_job++;
		ctx_log(&g->d->root, LOG_INFO, "groups/%s: exec: the previous job still runs, as "
			"jobs/%u", g->name, old->num);
	} else if (old) {
		gjob_unlist(old);
	}
	gjob_start(gj, data, len, done, arg);
}

void gjob_cmd_write(struct fh *f, struct node *n, const char *data, size_t len,
		    job_done_fn *done, void *arg)
{
	(void)f;
	struct gjob *gj = n->gj;
	if (!gj->g) {
		done(arg, -ENOENT);
		return;
	}
	if (gj->state != JOB_NEW) {
		snprintf(gj->lasterr, sizeof(gj->lasterr), "cmd: job was started already\n");
		done(arg, -EBUSY);
		return;
	}
	gjob_start(gj, data, len, done, arg);
}

int gjob_new_open(struct fh *f, struct node *n)
{
	struct group *g = n->grp;
	struct gjob *gj = gjob_new(g, g->next_job);
	if (!gj)
		return -ENOMEM;
	g->next_job++;
	/* The clone follows it: its close starts the grace (gjob_maybe_free). */
	fh_attach_gjob(f, gj, &gj->fhs);
	int len = asprintf(&f->snap, "%u\n", gj->num);
	if (len < 0) {
		f->snap = NULL;
		return -ENOMEM;
	}
	f->snaplen = (size_t)len;
	return 0;
}

/* Takes gj out of its group's jobs/ and forgets it. */
static void gjob_forget(struct gjob *gj)
{
	struct group *g = gj->g;
	for (struct gjob **pp = &g->jobs; *pp; pp = &(*pp)->next)
		if (*pp == gj) {
			*pp = gj->next;
			break;
		}
	gjob_unlist(gj);
}

int gjob_rmdir(struct node *dir, struct node *child)
{
	(void)dir;
	struct gjob *gj = child->gj;
	if (child->kind != N_G_JOBDIR || !gj || !gj->g)
		return -ENOENT;
	gjob_forget(gj);
	return 0;
}

/* --- reading --- */

static struct gjob *gjob_of(const struct node *n)
{
	return n->gj ? n->gj : n->grp ? n->grp->last : NULL;
}

int gjob_file_open(struct fh *f, struct node *n)
{
	struct gjob *gj = gjob_of(n);
	if (gj)
		fh_attach_gjob(f, gj, &gj->fhs);
	if (n->kind == N_G_JOB_STDIN && gj)
		gj->stdin_writers++;
	return 0;
}

/* 1: every member ended; -EIO: cut; 0: more may come. */
static int gjob_end(const struct gjob *gj)
{
	if (!gj || gj->state == JOB_DONE)
		return 1;
	return gj->cut ? -EIO : 0;
}

void gjob_out_read(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	struct gjob *gj = f->gj;
	struct ring *r = gj ? (f->kind == N_G_STDERR ? gj->err : gj->out) : NULL;
	fh_stream_read(f, req, r, gjob_end(gj), size, off);
}

bool gjob_out_ready(struct fh *f)
{
	struct gjob *gj = f->gj;
	struct ring *r = gj ? (f->kind == N_G_STDERR ? gj->err : gj->out) : NULL;
	return fh_stream_ready(f, r, gjob_end(gj));
}

off_t gjob_out_size(const struct node *n)
{
	struct gjob *gj = gjob_of(n);
	if (!gj)
		return 0;
	return (off_t)ring_end(n->kind == N_G_STDERR ? gj->err : gj->out);
}

static void status_line(FILE *o, const struct gmember *m)
{
	const struct job *j = m->j;
	if (!j)
		fprintf(o, "%s failed: %s\n", m->path, m->why);
	else if (!m->ran)
		fprintf(o, "%s failed: %s\n", m->path, j->why[0] ? j->why : "did not start");
	else if (j->how == EXIT_CODE)
		fprintf(o, "%s exit %u\n", m->path, j->val);
	else if (j->how == EXIT_SIGNAL && sigabbrev_np((int)j->val))
		fprintf(o, "%s signal %s\n", m->path, sigabbrev_np((int)j->val));
	else if (j->how == EXIT_SIGNAL)
		fprintf(o, "%s signal %u\n", m->path, j->val);
	else
		fprintf(o, "%s lost: %s\n", m->path, j->why[0] ? j->why : "no reason given");
}

static char *status_text(const struct gjob *gj, size_t *len)
{
	char *s = NULL;
	FILE *o = open_memstream(&s, len);
	if (!o)
		return NULL;
	for (size_t i = 0; i < gj->nm; i++)
		status_line(o, &gj->m[i]);
	if (fclose(o)) {
		free(s);
		return NULL;
	}
	return s;
}

/* status and folded wait for the job's end: true once it ended; else
 * the read was answered (ENODATA: no job yet or one never started, not
 * a wait for ever; EIO: cut) or parked. */
static bool wait_done(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	struct gjob *gj = f->gj;
	if (!gj || (gj->state == JOB_NEW && !gj->cut))
		/* no job yet, or one not started: not a wait for ever */
		fh_reply_not_yet(f, req, ENODATA);
	else if (gj->state == JOB_DONE)
		return true;
	else if (gj->cut)
		fuse_reply_err(req, EIO);
	else
		fh_park(f, req, size, off);
	return false;
}

void gjob_status_read(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	if (!wait_done(f, req, size, off))
		return;
	/* Made once per open file. */
	if (!f->snap && !(f->snap = status_text(f->gj, &f->snaplen))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fh_reply_text(req, f->snap, f->snaplen, off, size);
}

void gjob_folded_read(struct fh *f, fuse_req_t req, size_t size, off_t off)
{
	if (!wait_done(f, req, size, off))
		return;
	int rc = f->gj->folded ? 0 : gjob_fold(f->gj);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fh_stream_read(f, req, f->gj->folded, 1, size, off);
}

bool gjob_done_ready(struct fh *f)
{
	return gjob_end(f->gj) != 0 || f->gj->state == JOB_NEW;
}

/* --- stdin --- */

struct gstdin {
	struct gjob *gj;  /* held (busy) */
	size_t left;      /* members that have not answered */
	size_t ok;
	job_done_fn *done;
	void *arg;
};

static void stdin_answer(void *arg, int rc)
{
	struct gstdin *s = arg;
	if (rc == 0)
		s->ok++;
	if (--s->left)
		return;
	s->done(s->arg, 0);
	s->gj->busy--;
	gjob_maybe_free(s->gj);
	free(s);
}

void gjob_stdin_write(struct fh *f, struct node *n, const char *data, size_t len,
		      job_done_fn *done, void *arg)
{
	(void)n;
	struct gjob *gj = f->gj;
	if (!gj || gj->state == JOB_DONE || gj->cut || gj->in_eof) {
		done(arg, -EPIPE);
		return;
	}
	if (gj->state == JOB_NEW) {
		snprintf(gj->lasterr, sizeof(gj->lasterr),
			 "stdin: the job has not started: write cmd first\n");
		done(arg, -EINVAL);
		return;
	}
	/* Kept for members that start later (a width): bounded. */
	if (gj->in.len + len > gj->d->output_cap) {
		snprintf(gj->lasterr, sizeof(gj->lasterr),
			 "stdin: more than output_cap bytes for members that start later\n");
		done(arg, -EFBIG);
		return;
	}
	if (gj->nextm < gj->nm && buf_put_bytes(&gj->in, data, len)) {
		done(arg, -ENOMEM);
		return;
	}
	struct gstdin *s = calloc(1, sizeof(*s));
	if (!s) {
		done(arg, -ENOMEM);
		return;
	}
	s->gj = gj;
	s->done = done;
	s->arg = arg;
	s->left = 1; /* ours, dropped below: answers wait for every member */
	gj->busy++;
	for (size_t i = 0; i < gj->nm; i++)
		if (gj->m[i].st == GM_RUNNING) {
			s->left++;
			job_stdin(gj->m[i].j, data, len, stdin_answer, s);
		}
	stdin_answer(s, 0);
}

void gjob_stdin_close(struct fh *f)
{
	struct gjob *gj = f->gj;
	if (!gj || --gj->stdin_writers > 0 || gj->in_eof)
		return;
	if (gj->state != JOB_RUNNING)
		return; /* not started: stdin stays open for a later writer */
	gj->in_eof = true;
	for (size_t i = 0; i < gj->nm; i++)
		if (gj->m[i].st == GM_RUNNING)
			job_stdin_close(gj->m[i].j);
}

/* --- kill, timeout, jobs/N/ctl --- */

int gjob_kill(struct gjob *gj, int sig, char *err, size_t errlen)
{
	if (gj->state != JOB_RUNNING) {
		snprintf(err, errlen, "job is not running");
		return -ESRCH;
	}
	gj->kill_sig = sig;
	/* Queued members never start; starting ones get it once started. */
	while (gj->nextm < gj->nm) {
		struct gmember *m = &gj->m[gj->nextm++];
		snprintf(m->why, sizeof(m->why), "killed (%s) before it started",
			 sigabbrev_np(sig) ? sigabbrev_np(sig) : "signal");
		member_end(m);
	}
	for (size_t i = 0; i < gj->nm; i++)
		if (gj->m[i].st == GM_RUNNING)
			job_kill(gj->m[i].j, sig);
	return 0;
}

int gjob_set_timeout(struct gjob *gj, uint32_t secs, char *err, size_t errlen)
{
	if (gj->state != JOB_RUNNING) {
		snprintf(err, errlen, "job is not running");
		return -ESRCH;
	}
	gj->timeout_s = secs;
	for (size_t i = 0; i < gj->nm; i++)
		if (gj->m[i].st == GM_RUNNING)
			job_set_timeout(gj->m[i].j, secs);
	return 0;
}

static int gjob_ctl(void *obj, const struct ctl_line *l, struct ctl_batch *b,
		    char *err, size_t errlen)
{
	(void)b;
	struct gjob *gj = obj;
	int rc, sig;
	uint32_t secs;
	if (!strcmp(l->verb, "kill")) {
		rc = job_parse_kill(l, &sig, err, errlen);
		rc = rc ? rc : gjob_kill(gj, sig, err, errlen);
	} else if (!strcmp(l->verb, "timeout")) {
		rc = job_parse_timeout(l, &secs, err, errlen);
		rc = rc ? rc : gjob_set_timeout(gj, secs, err, errlen);
	} else {
		snprintf(err, errlen, "unknown verb '%s' (kill, timeout)", l->verb);
		rc = -EINVAL;
	}
	if (rc)
		snprintf(gj->lasterr, sizeof(gj->lasterr), "%s: %s\n", l->verb, err);
	return rc;
}

static void gjob_ctl_fail(void *obj, const char *line, int rc, const char *why)
{
	struct gjob *gj = obj;
	if (gj->g)
		group_set_error(gj->g, line, rc, why);
}

static void gjob_hold(void *obj)
{
	((struct gjob *)obj)->busy++;
}

static void gjob_release(void *obj)
{
	struct gjob *gj = obj;
	gj->busy--;
	gjob_maybe_free(gj);
}

const struct ctl_target gjob_ctl_target = {
	.run = gjob_ctl, .fail = gjob_ctl_fail, .hold = gjob_hold, .release = gjob_release,
};
