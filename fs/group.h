/*
 * group — fleets as directories: MNT/groups/NAME (mkdir makes one, rmdir
 * removes it; the contexts stay), its members (lines of context paths or
 * patterns, pattern.h), and the same files as a context's, fanned out to
 * every member and gathered: exec, stdout, stderr, status, folded,
 * jobs/new and jobs/N/{cmd,stdin,stdout,stderr,status,folded,ctl}, ctl.
 *
 * A group job starts one job per member in that member's context (it
 * shows under the context's jobs/ too) and follows them through their
 * job_watch: output is gathered line by line as "PATH: line", the end of
 * each is recorded, and the next queued member starts when the fan-out
 * width allows. Members are resolved when a job starts, so contexts
 * connected later join. Not for: what runs on one context (jobs.c), the
 * patterns (pattern.c), push (push.c).
 *
 * group.c: the groups/ directory, groups, members, the ctl verbs;
 * group_job.c: group jobs. The functions below are the rows of the
 * table of kinds (kinds.c).
 */
#ifndef MITOFS_GROUP_H
#define MITOFS_GROUP_H

#include "daemon.h"

/* Adds groups/ under the root. 0 or -ENOMEM. */
int group_tree_init(struct daemon *d);
/* Removes every group (daemon exit). */
void group_daemon_fini(struct daemon *d);

/* Records a refused write or verb of g: its ctl shows it, log gets it. */
void group_set_error(struct group *g, const char *line, int rc, const char *why);

/* groups/: mkdir NAME, rmdir NAME. */
int group_mkdir(struct node *dir, const char *name);
int group_rmdir(struct node *dir, struct node *child);

/* groups/NAME/members: read (the resolved paths), write (lines),
 * truncate (the list starts again). */
int group_members_open(struct fh *f, struct node *n);
void group_members_write(struct fh *f, struct node *n, const char *data, size_t len,
			 job_done_fn *done, void *arg);
void group_members_truncate(struct node *n);

/* groups/NAME/ctl and jobs/N/ctl: the last error (read), verbs (write). */
int group_ctl_open(struct fh *f, struct node *n);
void group_ctl_write(struct fh *f, struct node *n, const char *data, size_t len,
		     job_done_fn *done, void *arg);

/* --- group_job.c --- */

/* exec (a new last job) and jobs/N/cmd: the script, started on every
 * member; done once each member's job started or failed to. */
void gjob_exec_write(struct fh *f, struct node *n, const char *data, size_t len,
		     job_done_fn *done, void *arg);
void gjob_cmd_write(struct fh *f, struct node *n, const char *data, size_t len,
		    job_done_fn *done, void *arg);
/* jobs/new: a new jobs/N, read back as "N". */
int gjob_new_open(struct fh *f, struct node *n);
/* jobs/N: rmdir kills what runs and removes it. */
int gjob_rmdir(struct node *dir, struct node *child);
/* stdout, stderr, status, folded, stdin: open follows the job. */
int gjob_file_open(struct fh *f, struct node *n);
void gjob_out_read(struct fh *f, fuse_req_t req, size_t size, off_t off);
bool gjob_out_ready(struct fh *f);
off_t gjob_out_size(const struct node *n);
void gjob_status_read(struct fh *f, fuse_req_t req, size_t size, off_t off);
void gjob_folded_read(struct fh *f, fuse_req_t req, size_t size, off_t off);
bool gjob_done_ready(struct fh *f);
void gjob_stdin_write(struct fh *f, struct node *n, const char *data, size_t len,
		      job_done_fn *done, void *arg);
void gjob_stdin_close(struct fh *f);
/* Frees gj if nothing refers to it any more. */
void gjob_maybe_free(struct gjob *gj);

#endif
