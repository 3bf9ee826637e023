/*
 * group_int — the records group.c and group_job.c share. Not a public API.
 */
#ifndef MITOFS_GROUP_INT_H
#define MITOFS_GROUP_INT_H

#include "buf.h"
#include "ctl.h"
#include "daemon.h"
#include "group.h"

#define GROUP_MAX_PATTERNS 4096
#define GROUP_LINE_MAX (64u << 10) /* a longer unfinished line is cut there */

struct group {
	struct daemon *d;
	char *name;
	struct node *dir;
	char **pats;          /* member lines in order: "web*", "-web3" */
	size_t npats;
	unsigned width;       /* members running at once (0: all) */
	uint32_t timeout_s;   /* each member job's time limit (0: none) */
	struct gjob *last;    /* exec's job */
	struct gjob *jobs;    /* jobs/N, newest first */
	uint32_t next_job;
	char lasterr[4096];   /* read back from ctl */
	int busy;             /* writes and calls in flight that hold it */
	bool doomed;          /* removed: freed when not busy */
	struct group *next;
};

enum gm_state { GM_QUEUED, GM_STARTING, GM_RUNNING, GM_ENDED };

/* One member of a group job: a job of that context. */
struct gmember {
	struct gjob *gj;
	char *path;           /* the context's path when the job started */
	struct job *j;        /* held (busy) while gj lives; NULL: never made */
	enum gm_state st;
	bool ran;             /* its start succeeded */
	char why[160];        /* why it failed to start, when j is NULL */
	struct buf part[2];   /* unfinished line of stdout, stderr */
};

struct gjob {
	struct daemon *d;
	struct group *g;      /* NULL once unlisted */
	uint32_t num;         /* N of jobs/N; 0 for exec's */
	struct node *dir;
	enum job_state state; /* NEW, RUNNING (started), DONE (every member ended) */
	char *cmd;            /* the script */
	size_t cmdlen;
	struct gmember *m;    /* in member order */
	size_t nm;
	size_t nextm;         /* the next member to start */
	size_t active;        /* starting or running */
	size_t ended;
	size_t first_wave;    /* starts the write waits for: the first members */
	size_t first_wave_left; /* of those, not answered yet */
	size_t started;       /* of those, started */
	bool filling;         /* inside fill(): starts from an end wait */
	job_done_fn *start_fn; /* the write that started it */
	void *start_arg;
	char start_why[160];  /* the first failure to start, for that write */
	unsigned width;
	uint32_t timeout_s;
	int kill_sig;         /* killed: members that start later get it too */
	struct ring *out, *err; /* gathered lines */
	struct ring *folded;  /* the folded view, made at its first read once done */
	struct fh *fhs;       /* open handles on its files */
	struct buf in;        /* what stdin received, for members that start later */
	bool in_eof;          /* stdin is closed (exec's jobs: at once) */
	int stdin_writers;
	bool cut;             /* removed before every member ended */
	bool listed;
	int busy;
	char lasterr[256];
	struct loop_timer *grace; /* jobs/N never started: removed when it fires */
	struct gjob *next;
};

/* group.c: the members of g now, in member order (paths, malloc'd, the
 * array too), 0 or -errno; the group of a node. */
int group_resolve(struct group *g, char ***paths, size_t *n);
void group_free_paths(char **paths, size_t n);
void group_unbusy(struct group *g);

/* group_job.c: a new job of g (num 0: exec's; else jobs/num); the
 * unlisting of one (the group forgot it: a new exec, rmdir); the group
 * ctl verbs that act on a job; the ctl target of jobs/N/ctl. */
struct gjob *gjob_new(struct group *g, uint32_t num);
/* A gathered stream or the folded view of gj (what: "stdout", "folded")
 * was cut by the spool: the root log says so (its marker line too). */
void gjob_output_cut(struct gjob *gj, const struct ring *r, const char *what);

/* group_fold.c: dshbak -c into gj->folded, once gj is done: for each
 * distinct stdout, the members that printed it (in member order,
 * comma-separated, between two rules), then it (a newline added if it
 * lacks one). Kept in a spooled ring like the outputs it is made of,
 * bounded by the budget only. 0, or -ENOMEM, or a spool read's -errno. */
int gjob_fold(struct gjob *gj);
void gjob_unlist(struct gjob *gj);
int gjob_kill(struct gjob *gj, int sig, char *err, size_t errlen);
int gjob_set_timeout(struct gjob *gj, uint32_t secs, char *err, size_t errlen);
extern const struct ctl_target gjob_ctl_target;

#endif
