/*
 * daemon — the shared state of the FUSE daemon (the master context) and
 * the records every fs/ module works on: nodes of the mount tree, open
 * file handles, contexts and jobs.
 *
 * One struct daemon is created by main() and reaches every callback
 * through the FUSE session's userdata or the loop/router arguments; there
 * is no global state. Everything runs on one thread, on core/loop.
 * Not for: protocol details (core/proto.h) or ctl syntax (ctl.h).
 */
#ifndef MITOFS_DAEMON_H
#define MITOFS_DAEMON_H

#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "boot.h"
#include "ids.h"
#include "map.h"
#include "proto.h"
#include "worker.h"

struct loop;
struct router;
struct ring;
struct remotefs;
struct boot_job;
struct loop_timer;
struct ctx;
struct ctl_line;
struct job;
struct fh;
struct group;
struct gjob;
struct spool;
struct ctx_probe;

/* What a node of the mount tree is; decides every operation on it
 * through its row in the table of kinds (kinds.h). */
enum node_kind {
	N_ROOT, N_README, N_STATS,
	N_CTXDIR,                  /* a context's directory */
	N_CTL, N_LOG,              /* root or context: ctl, log */
	N_INFO, N_EXEC, N_STDOUT, N_STDERR, N_STATUS, /* last job's files */
	N_JOBSDIR, N_JOBS_NEW,
	N_JOBDIR, N_JOB_CMD, N_JOB_STDIN, N_JOB_CTL, /* N_STDOUT etc. reused */
	N_FSLINK,                  /* NAME/fs: a symlink to NAME/.fs */
	N_FSDIR,                   /* NAME/.fs: its inode belongs to remotefs */
	N_GROUPS,                  /* groups/: mkdir makes a group */
	N_GROUPDIR, N_G_MEMBERS, N_G_CTL, /* groups/NAME and its own files */
	N_G_EXEC, N_G_STDOUT, N_G_STDERR, N_G_STATUS, N_G_FOLDED, /* gathered */
	N_G_JOBSDIR, N_G_JOBS_NEW,
	N_G_JOBDIR, N_G_JOB_CMD, N_G_JOB_STDIN, N_G_JOB_CTL, /* N_G_STDOUT etc. reused */
	N_KINDS
};

struct node {
	uint64_t ino;
	enum node_kind kind;
	char *name;
	struct node *parent;
	struct node *children, *next; /* directory entries, in order */
	struct ctx *ctx;              /* owning context (root: &d->root) */
	struct job *job;              /* job dir and its files; NULL: last job */
	struct group *grp;            /* a group's directory and files */
	struct gjob *gj;              /* a group job's directory and files; NULL: last */
	uint64_t nlookup;             /* the kernel's references */
	bool removed;                 /* unlinked; freed when nlookup is 0 */
	struct timespec mtime;
};

struct tree {
	struct map inodes; /* ino -> node */
	uint64_t next_ino;
	struct node *root;
};

enum ctx_state { CTX_CONNECTING, CTX_CONNECTED, CTX_DISCONNECTED };

/* Who wrote (or opened) a file, as the kernel says in the request: whose
 * rights a push reads its source with. */
struct caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

/* An open file: which object it reads or writes, and a pending read. */
struct fh {
	struct daemon *d;
	enum node_kind kind;
	struct ctx *ctx;       /* NULL once the context went away */
	struct job *job;       /* NULL once the job went away */
	struct gjob *gj;       /* a group job's files: NULL once it went away */
	struct fh *onext, **oprev; /* in the job's, group job's or context's list */
	struct fh *anext, **aprev; /* in the daemon's list of every open file */
	/* A read that waits for data or for the job's end. */
	fuse_req_t pending;
	size_t pend_size;
	off_t pend_off;
	struct fuse_pollhandle *ph;
	uint64_t next_off;     /* offset after the last read (for poll) */
	int64_t delta;         /* log files: kernel offset -> ring offset */
	char *snap;            /* fixed content taken at open (info, stats...) */
	size_t snaplen;
	bool wrote_stdin;
	int oflags;            /* open(2) flags: O_NONBLOCK makes reads not wait */
	struct caller who;     /* who wrote to it last (opened it, before) */
	/* ctl/exec/cmd: what stdio wrote in full buffers, waiting for the
	 * rest of the command (see ops.c fs_write) */
	char *wbuf;
	size_t wlen;
	/* stdin: a write answered early because its writer was interrupted,
	 * whose acknowledgement is still to come, and the next write, held
	 * unsent until it comes (ops_write.c). */
	struct wreply *owed;
	fuse_req_t held;
	fuse_ino_t held_ino;
	char *held_data;
	size_t held_size;
};

enum job_state { JOB_NEW, JOB_STARTING, JOB_RUNNING, JOB_DONE };

/* How an asynchronous action ends (a job's start, a stdin write, a ctl
 * batch, a push): rc 0 or -errno, called exactly once. Only the FUSE op
 * that received a request replies to it; everything below reports here. */
typedef void job_done_fn(void *arg, int rc);

/* What a group job (group_job.c) hears of each member job: its output as
 * it arrives (err: stderr), and its end (exit, signal, lost, or a start
 * that failed), once. */
struct job_watch {
	void (*output)(void *arg, struct job *j, bool err, const void *p, size_t n);
	void (*ended)(void *arg, struct job *j);
};

struct job {
	struct ctx *c;         /* NULL once unlisted (the context may go) */
	uint32_t cid;          /* the context's id, for calls */
	uint32_t num;          /* N of jobs/N; 0 for jobs started by exec */
	enum job_state state;
	uint32_t rjob, pid;    /* the stub's job id and the process id */
	uint32_t ev_handle;    /* our reply handle receiving its events */
	struct ring *out, *err;
	int how;               /* EXIT_CODE / EXIT_SIGNAL, or -1: lost */
	uint32_t val;
	char why[160];         /* why it failed or was lost */
	struct fh *fhs;        /* open handles on its files */
	struct node *dir;      /* jobs/N, or NULL */
	bool listed;           /* still reachable from the tree */
	int busy;              /* calls in flight that point at this job */
	job_done_fn *start_fn; /* who waits for the start (jobs.h), or NULL */
	void *start_arg;
	const struct job_watch *watch; /* a group job following this one, or NULL */
	void *watch_arg;
	bool watch_told;       /* watch->ended was called */
	uint32_t timeout_s;    /* sent with the start (0: none) */
	bool forget_on_start;  /* removed while starting */
	int stdin_writers;     /* open writers of jobs/N/stdin: EOF when the last closes */
	char lasterr[256];     /* last ctl error, read back from jobs/N/ctl */
	struct job *next;      /* in the context's list */
	uint64_t t_start_us, t_end_us;
	bool ran;              /* its start succeeded */
	struct loop_timer *grace; /* jobs/N never started: removed when it fires */
};

struct ctx {
	struct daemon *d;
	uint32_t id;           /* 0: the daemon itself (the root directory) */
	char *name, *path, *method;
	struct ctx *parent;    /* NULL for the root */
	struct ctx *children, *next;
	enum ctx_state state;
	char why[256];         /* disconnect reason */
	char lasterr[4096];    /* last ctl error, read back from ctl */
	pid_t pid;             /* the stub's pid, as its sys info says */
	pid_t child;           /* the process we started (local): reaped at exit */
	struct proto_kv *info;
	size_t ninfo;
	uint64_t t_connect_us, rtt_us;
	struct node *dir;
	struct job *last;      /* the job of the last exec */
	struct job *jobs;      /* jobs/N */
	uint32_t next_job;
	struct ring *log;
	struct fh *fhs;        /* open handles on its log */
	struct boot_job *boot;
	void *mstate;          /* the method's connection record, while connecting */
	struct proto_kv *minfo; /* what the method knows: host, port, hostkey... */
	size_t nminfo;
	int keepalive_ms;      /* 0: no keepalive pings */
	struct loop_timer *ka_timer;
	uint32_t ka_handle;    /* the pings' persistent reply handle, or 0 */
	uint64_t ka_sent_us;   /* the last ping */
	uint64_t ka_heard_us;  /* the last answer (or the connect) */
	int ka_inflight;       /* pings not answered yet */
	struct ctl_batch *connecting; /* the ctl write waiting for us */
	struct ctl_line *line; /* the connect line, for reconnect (owned) */
	bool ever_up;          /* was connected once: a failure keeps the dir */
	int busy;              /* calls in flight that point at this context */
	bool doomed;           /* removed from the tree; free when not busy */
	struct loop_timer *perr_timer; /* closes it for a protocol error */
	char perr[256];        /* that error */
	uint32_t perr_id;      /* the connection (id) that sent it */
	struct ctx_probe *probes; /* first writes of scripts waiting for a ping */
};

struct daemon {
	struct loop *loop;
	struct router *router;
	struct fuse_session *se;
	struct tree tree;
	struct ctx root;
	struct map ctxs;       /* id -> ctx (connected or not) */
	struct ids_master ids;
	struct boot_images images; /* the gzip'd stubs, one per arch (boot.h) */
	size_t output_cap;     /* per job stream */
	uint64_t output_budget; /* the spool's bytes in all */
	const char *spool_base; /* -o spool=DIR, or NULL: spool_default_base */
	struct spool *spool;   /* job output past its memory window (spool.h) */
	size_t log_cap;        /* per log ring */
	int connect_timeout_ms;
	uid_t uid;
	gid_t gid;
	bool debug;
	struct timespec t0;
	char *mountpoint;
	struct fuse_buf fbuf;
	bool exiting;
	uint64_t last_output_us; /* job output arrived (for the idle trim) */
	struct remotefs *rfs;  /* the fs/ subtrees */
	/* ssh connection threads still running (method_ssh.c): the daemon
	 * waits for them before exit, as libssh and OpenSSL must not be torn
	 * down under them. */
	pthread_mutex_t ssh_mu;
	pthread_cond_t ssh_cv;
	int ssh_threads;
	int ssh_sessions;      /* sessions the loop drives (ssh_io.c), atomic */
	double attr_timeout;   /* fs/ entry and attribute cache, seconds */
	size_t readahead;      /* the mount's read-ahead window, bytes (0: the kernel's) */
	struct workers workers; /* invalidations on threads (worker.h) */
	bool noxattr;          /* -o noxattr: fs/ has no xattrs (ENOSYS, as sshfs) */
	bool allow_other;      /* -o allow_other: other users (and default_permissions) */
	int creds;             /* -o creds=: 1 caller, 0 context, -1 not given */
	bool creds_forward;    /* root contexts act with the caller's credentials */
	struct group *groups;  /* groups/NAME, in the order made (group.c) */
	uint64_t push_bytes;   /* content bytes pushes sent on our links */
	bool output_since_trim;
	/* Every open file: the kernel sends no RELEASE for those still open
	 * when the mount goes, so the exit frees them (fh_free_all). */
	struct fh *open_files;
	int clone_grace_ms;    /* a jobs/N never started lives this long unused */
};

/* Seconds the kernel keeps a context directory's entry. Removal drops it
 * at once (ctx.c); the timeout bounds only what an invalidation that
 * could not start (out of memory) leaves. */
#define CTXDIR_ENTRY_TIMEOUT 60

/* The answer a write (size: bytes to acknowledge) or a flush (size ==
 * WREPLY_FLUSH: a command buffered until close) gets when it succeeds. */
#define WREPLY_FLUSH ((size_t)-1)
/* The answer a write or a flush waits for, given when what it started
 * reports (job_done_fn; ops_write.c). */
struct wreply {
	fuse_req_t req;  /* NULL once answered (an interrupted stdin write) */
	size_t size;
	struct fh *f;    /* stdin writes: the file, NULL once it is closed */
};
static inline void wreply_ok(fuse_req_t req, size_t size)
{
	if (size == WREPLY_FLUSH)
		fuse_reply_err(req, 0);
	else
		fuse_reply_write(req, size);
}

/* --- tree.c --- */
int tree_init(struct tree *t, struct ctx *root);
void tree_free(struct tree *t);
struct node *tree_get(struct tree *t, uint64_t ino);
struct node *tree_find(struct node *dir, const char *name);
/* New node under dir (NULL for the root). NULL on ENOMEM. */
struct node *tree_add(struct tree *t, struct node *dir, const char *name,
		      enum node_kind kind, struct ctx *c, struct job *j);
/* Unlinks node and its subtree; each is freed once the kernel forgot it. */
void tree_remove(struct tree *t, struct node *n);
/* The kernel dropped n references. */
void tree_forget(struct tree *t, struct node *n, uint64_t count);
void tree_touch(struct node *n);
/* Builds a context directory (ctl, info, exec, ..., jobs/new). */
int tree_add_ctx_dir(struct tree *t, struct ctx *c);
/* Builds jobs/N with its files. */
int tree_add_job_dir(struct tree *t, struct job *j);

/* An error code from a context, as the errno of a FUSE reply:
 * proto_errno's, but ENOSYS becomes EOPNOTSUPP. From a FUSE daemon the
 * kernel takes ENOSYS as "this filesystem lacks the operation" and stops
 * sending it for the whole mount (FLUSH, which starts an exec at close
 * and reports write errors; FSYNC; the xattr calls; ACCESS; CREATE;
 * RENAME2...): one target without a syscall, or one lying stub, would
 * switch it off for every context. Locks alone keep ENOSYS (the kernel
 * does not remember it there; docs/filesystem.md). */
static inline int remote_errno(uint32_t wire)
{
	int e = proto_errno(wire);
	return e == ENOSYS ? EOPNOTSUPP : e;
}

#endif
