/*
 * kinds — the table of node kinds (kinds.h) and the opens of a context's
 * files: snapshots (README, stats, info, ctl errors), the clone jobs/new,
 * and the files that follow a job or a log. A group's rows point into
 * group.c and group_job.c. Not for: the FUSE operations themselves.
 */
#include "kinds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "ctx.h"
#include "fh.h"
#include "group.h"
#include "jobs.h"
#include "remotefs.h"
#include "ring.h"

const char kinds_readme[] =
	"mitofs: every context is a directory.\n"
	"\n"
	"  echo 'connect NAME local' > ctl       start a context (ssh, sudo: see docs/methods.md)\n"
	"  echo 'uname -a' > NAME/exec           run a command there\n"
	"  cat NAME/stdout NAME/stderr           its output (streams until it exits)\n"
	"  cat NAME/status                       waits for the end: \"exit N\" or \"signal NAME\"\n"
	"  j=$(cat NAME/jobs/new)                a new job directory NAME/jobs/$j\n"
	"  echo 'make' > NAME/jobs/$j/cmd        start it; stdin, stdout, stderr, status, ctl\n"
	"  echo 'connect CHILD local' > NAME/ctl a context reached through NAME\n"
	"  cat NAME/info                         id, state, pid, hostname, uid, arch...\n"
	"  tail -f log                           every context's log lines\n"
	"  echo 'disconnect NAME' > ctl          stop it\n"
	"\n"
	"Fleets: mkdir groups/G; echo 'web*' > groups/G/members; echo uptime > groups/G/exec;\n"
	"cat groups/G/stdout (\"PATH: line\"), groups/G/status, groups/G/folded;\n"
	"echo 'push ./tool /usr/local/bin/tool mode=755' > groups/G/ctl.\n"
	"\n"
	"A failed write to a ctl file leaves its reason in that ctl file and in log.\n";

/* --- opens --- */

static int snap_text(struct fh *f, const char *text)
{
	f->snaplen = strlen(text);
	f->snap = strdup(text);
	return f->snap ? 0 : -ENOMEM;
}

static int open_readme(struct fh *f, struct node *n)
{
	(void)n;
	return snap_text(f, kinds_readme);
}

static int open_stats(struct fh *f, struct node *n)
{
	(void)n;
	f->snap = ctx_stats_text(f->d, &f->snaplen);
	return f->snap ? 0 : -ENOMEM;
}

static int open_info(struct fh *f, struct node *n)
{
	f->snap = ctx_info_text(n->ctx, &f->snaplen);
	return f->snap ? 0 : -ENOMEM;
}

static int open_ctl(struct fh *f, struct node *n)
{
	return snap_text(f, n->ctx->lasterr);
}

/* A job's files follow it while open (fh_attach_job), all of them: a
 * jobs/N never started goes only once none is open (jobs.c's grace). */
static int open_job_ctl(struct fh *f, struct node *n)
{
	fh_attach_job(f, n->job);
	return snap_text(f, n->job->lasterr);
}

static int open_job_cmd(struct fh *f, struct node *n)
{
	fh_attach_job(f, n->job);
	return 0;
}

/* The same for a group job's ctl (its other files follow it already). */
static int open_gjob_ctl(struct fh *f, struct node *n)
{
	int rc = group_ctl_open(f, n);
	return rc ? rc : gjob_file_open(f, n);
}

/* Plan 9 clone: opening jobs/new makes jobs/N and reads back N. */
static int open_jobs_new(struct fh *f, struct node *n)
{
	struct ctx *c = n->ctx;
	if (c->state == CTX_DISCONNECTED)
		return -EIO;
	struct job *j = job_new(c, c->next_job);
	if (!j)
		return -ENOMEM;
	c->next_job++;
	/* The clone follows its job: its close starts the grace after which
	 * a job never started goes (jobs.c), so that a `grep -r` that
	 * opened it leaves nothing behind. */
	fh_attach_job(f, j);
	int len = asprintf(&f->snap, "%u\n", j->num);
	if (len < 0) {
		f->snap = NULL;
		return -ENOMEM;
	}
	f->snaplen = (size_t)len;
	return 0;
}

/* The job a stdout/stderr/status node shows: its own, or the last exec. */
static struct job *job_of(const struct node *n)
{
	if (n->job)
		return n->job;
	return n->ctx ? n->ctx->last : NULL;
}

static int open_job_file(struct fh *f, struct node *n)
{
	fh_attach_job(f, job_of(n));
	if (n->kind == N_JOB_STDIN && f->job)
		f->job->stdin_writers++;
	return 0;
}

static int open_log(struct fh *f, struct node *n)
{
	fh_attach_ctx(f, n->ctx);
	return 0;
}

/* --- writes, closes, sizes --- */

static void write_ctl(struct fh *f, struct node *n, const char *data, size_t len,
		      job_done_fn *done, void *arg)
{
	if (n->kind == N_JOB_CTL)
		ctl_write(f->d, &job_ctl_target, n->job, &f->who, data, len, done, arg);
	else
		ctl_write(f->d, &ctx_ctl_target, n->ctx, &f->who, data, len, done, arg);
}

static void write_exec(struct fh *f, struct node *n, const char *data, size_t len,
		       job_done_fn *done, void *arg)
{
	(void)f;
	job_exec(n->ctx, data, len, done, arg);
}

static void write_cmd(struct fh *f, struct node *n, const char *data, size_t len,
		      job_done_fn *done, void *arg)
{
	(void)f;
	job_cmd(n->job, data, len, done, arg);
}

static void write_stdin(struct fh *f, struct node *n, const char *data, size_t len,
			job_done_fn *done, void *arg)
{
	(void)n;
	if (!f->job)
		done(arg, -EPIPE);
	else
		job_stdin(f->job, data, len, done, arg);
}

/* A script for exec fails at its first write when it cannot run. */
static int check_exec(struct node *n)
{
	struct ctx *c = n->ctx;
	if (c->state != CTX_CONNECTED) {
		ctl_set_error(c, "exec", -EIO, "context is not connected");
		return -EIO;
	}
	return 0;
}

/* The first write of a script: the context must answer (ctx_probe). */
static void ready_exec(struct node *n, job_done_fn *done, void *arg)
{
	ctx_probe(n->ctx, n->kind == N_JOB_CMD ? "cmd" : "exec", done, arg);
}

static int check_cmd(struct node *n)
{
	if (n->job && n->job->state != JOB_NEW) {
		snprintf(n->job->lasterr, sizeof(n->job->lasterr), "cmd: job was started already\n");
		return -EBUSY;
	}
	return check_exec(n);
}

/* The last writer of a job's stdin closing is the job's EOF. */
static void close_stdin(struct fh *f)
{
	if (f->job && --f->job->stdin_writers == 0)
		job_stdin_close(f->job);
}

static off_t size_out(const struct node *n)
{
	const struct job *j = job_of(n);
	return j ? (off_t)ring_end(n->kind == N_STDERR ? j->err : j->out) : 0;
}

static off_t size_status(const struct node *n)
{
	const struct job *j = job_of(n);
	char t[64];
	int len = j && j->state == JOB_DONE ? job_status_text(j, t, sizeof(t)) : 0;
	return len > 0 ? len : 0;
}

static off_t size_readme(const struct node *n)
{
	(void)n;
	return (off_t)strlen(kinds_readme);
}

static off_t size_log(const struct node *n)
{
	return n->ctx ? (off_t)ring_end(n->ctx->log) : 0;
}

static int rmdir_job(struct node *dir, struct node *child)
{
	(void)dir;
	return child->kind == N_JOBDIR ? job_remove(child->job) : -EPERM;
}

static void mkdir_group(struct node *dir, const char *name, const struct caller *who,
			job_done_fn *done, void *arg)
{
	(void)who;
	done(arg, group_mkdir(dir, name));
}

/* NAME/.fs is remotefs's root. */
static void lookup_fs(fuse_req_t req, struct node *n)
{
	struct daemon *d = fuse_req_userdata(req);
	remotefs_lookup_root(d->rfs, req, n->ctx, n->ino);
}

/* --- the table --- */

#define DIR_ (S_IFDIR | 0700)
#define RO (S_IFREG | 0400)
#define RW (S_IFREG | 0600)
#define WO (S_IFREG | 0200)
/* Attributes: what never changes (modes, owners, a command file's size)
 * is kept long; directories only move their mtime; sizes that grow (job
 * output, logs) and finished-or-not status never. Names: the files of a
 * directory never change while it exists, and a directory made again is
 * a new inode, so they are cached; jobs come and go (0); a context's
 * directory is on every path into its fs/, so it is cached and dropped
 * from the kernel's cache when it goes (ctx.c, ctx_remove_forget). */
#define LONG 3600

static const struct kind table[N_KINDS] = {
	[N_ROOT] = { .mode = DIR_, .attr_timeout = 1, .entry_timeout = LONG,
		     .mkdir = ctx_mkdir, .mkdir_cancel = ctx_mkdir_cancel, .rmdir = ctx_rmdir },
	[N_README] = { .mode = RO, .attr_timeout = LONG, .entry_timeout = LONG,
		       .open = open_readme, .size = size_readme },
	[N_STATS] = { .mode = RO, .attr_timeout = LONG, .entry_timeout = LONG, .open = open_stats },
	[N_CTXDIR] = { .mode = DIR_, .attr_timeout = 1, .entry_timeout = CTXDIR_ENTRY_TIMEOUT,
		       .mkdir = ctx_mkdir, .mkdir_cancel = ctx_mkdir_cancel, .rmdir = ctx_rmdir },
	[N_CTL] = { .mode = RW, .attr_timeout = LONG, .entry_timeout = LONG, .write = KW_LINES,
		    .open = open_ctl, .command = write_ctl },
	[N_LOG] = { .mode = RO, .entry_timeout = LONG, .open = open_log, .read = fh_log_read,
		    .readable = fh_log_ready, .size = size_log },
	[N_INFO] = { .mode = RO, .attr_timeout = LONG, .entry_timeout = LONG, .open = open_info },
	[N_EXEC] = { .mode = WO, .attr_timeout = LONG, .entry_timeout = LONG, .write = KW_SCRIPT,
		     .command = write_exec, .script_check = check_exec, .script_ready = ready_exec },
	[N_STDOUT] = { .mode = RO, .entry_timeout = LONG, .open = open_job_file,
		       .read = fh_job_out_read, .readable = fh_job_out_ready, .size = size_out },
	[N_STDERR] = { .mode = RO, .entry_timeout = LONG, .open = open_job_file,
		       .read = fh_job_out_read, .readable = fh_job_out_ready, .size = size_out },
	[N_STATUS] = { .mode = RO, .entry_timeout = LONG, .gone_is_eio = true,
		       .open = open_job_file, .read = fh_job_status_read,
		       .readable = fh_job_status_ready, .size = size_status },
	[N_JOBSDIR] = { .mode = DIR_, .attr_timeout = 1, .entry_timeout = LONG, .rmdir = rmdir_job },
	[N_JOBS_NEW] = { .mode = RO, .attr_timeout = LONG, .entry_timeout = LONG,
			 .open = open_jobs_new },
	[N_JOBDIR] = { .mode = DIR_, .attr_timeout = 1, .entry_timeout = 0 },
	[N_JOB_CMD] = { .mode = WO, .attr_timeout = LONG, .entry_timeout = LONG,
			.write = KW_SCRIPT, .open = open_job_cmd, .command = write_cmd,
			.script_check = check_cmd, .script_ready = ready_exec },
	[N_JOB_STDIN] = { .mode = WO, .attr_timeout = LONG, .entry_timeout = LONG,
			  .write = KW_STREAM, .open = open_job_file, .command = write_stdin,
			  .close = close_stdin },
	[N_JOB_CTL] = { .mode = RW, .attr_timeout = LONG, .entry_timeout = LONG,
			.write = KW_LINES, .open = open_job_ctl, .command = write_ctl },
	[N_FSLINK] = { .mode = S_IFLNK | 0777, .attr_timeout = LONG, .entry_timeout = LONG,
		       .link = ".fs" },
	[N_FSDIR] = { .mode = DIR_, .attr_timeout = 1, .entry_timeout = LONG, .hidden = true,
		      .lookup = lookup_fs },

	[N_GROUPS] = { .mode = DIR_, .attr_timeout = 1, .entry_timeout = LONG,
		       .mkdir = mkdir_group, .rmdir = group_rmdir },
	[N_GROUPDIR] = { .mode = DIR_, .attr_timeout = 1, .entry_timeout = 0 },
	[N_G_MEMBERS] = { .mode = RW, .attr_timeout = 0, .entry_timeout = LONG,
			  .write = KW_LINES, .open = group_members_open,
			  .command = group_members_write, .truncate = group_members_truncate },
	[N_G_CTL] = { .mode = RW, .attr_timeout = LONG, .entry_timeout = LONG, .write = KW_LINES,
		      .open = group_ctl_open, .command = group_ctl_write },
	[N_G_EXEC] = { .mode = WO, .attr_timeout = LONG, .entry_timeout = LONG,
		       .write = KW_SCRIPT, .command = gjob_exec_write },
	[N_G_STDOUT] = { .mode = RO, .entry_timeout = LONG, .open = gjob_file_open,
			 .read = gjob_out_read, .readable = gjob_out_ready, .size = gjob_out_size },
	[N_G_STDERR] = { .mode = RO, .entry_timeout = LONG, .open = gjob_file_open,
			 .read = gjob_out_read, .readable = gjob_out_ready, .size = gjob_out_size },
	[N_G_STATUS] = { .mode = RO, .entry_timeout = LONG, .gone_is_eio = true,
			 .open = gjob_file_open, .read = gjob_status_read,
			 .readable = gjob_done_ready },
	[N_G_FOLDED] = { .mode = RO, .entry_timeout = LONG, .gone_is_eio = true,
			 .open = gjob_file_open, .read = gjob_folded_read,
			 .readable = gjob_done_ready },
	[N_G_JOBSDIR] = { .mode = DIR_, .attr_timeout = 1, .entry_timeout = LONG,
			  .rmdir = gjob_rmdir },
	[N_G_JOBS_NEW] = { .mode = RO, .attr_timeout = LONG, .entry_timeout = LONG,
			   .open = gjob_new_open },
	[N_G_JOBDIR] = { .mode = DIR_, .attr_timeout = 1, .entry_timeout = 0 },
	[N_G_JOB_CMD] = { .mode = WO, .attr_timeout = LONG, .entry_timeout = LONG,
			  .write = KW_SCRIPT, .open = gjob_file_open, .command = gjob_cmd_write },
	[N_G_JOB_STDIN] = { .mode = WO, .attr_timeout = LONG, .entry_timeout = LONG,
			    .write = KW_STREAM, .open = gjob_file_open,
			    .command = gjob_stdin_write, .close = gjob_stdin_close },
	[N_G_JOB_CTL] = { .mode = RW, .attr_timeout = LONG, .entry_timeout = LONG,
			  .write = KW_LINES, .open = open_gjob_ctl, .command = group_ctl_write },
};

const struct kind *kind_of(enum node_kind k)
{
	return &table[k < N_KINDS ? k : N_ROOT];
}
