/*
 * fh — open files of the control tree: reads that wait (stdout, stderr,
 * status, log), their wake-ups, poll and interrupts, and fixed snapshots
 * (info, stats, README, ctl errors, jobs/new).
 *
 * A read with nothing to return yet is parked on its handle and answered
 * when data arrives, the job ends or the context goes away; Ctrl-C on the
 * reader interrupts it with EINTR at once. Not for: writes (ctl.c, jobs.c).
 */
#ifndef MITOFS_FH_H
#define MITOFS_FH_H

#include "daemon.h"

struct ring;

struct fh *fh_new(struct daemon *d, enum node_kind kind);
/* Answers a parked read with EOF/EIO, detaches, frees. */
void fh_free(struct fh *f);
/* At exit, once the FUSE session is gone: the files still open. */
void fh_free_all(struct daemon *d);
/* Links f to the job / context whose data it reads (or NULL). */
void fh_attach_job(struct fh *f, struct job *j);
void fh_attach_ctx(struct fh *f, struct ctx *c);
/* Links f to group job gj, into its list of handles. */
void fh_attach_gjob(struct fh *f, struct gjob *gj, struct fh **list);
/* The job or context is going away: every handle is detached and its
 * parked read answered. */
void fh_detach_all(struct fh **list);

/* Serves a read now or parks it: the kind's read (kinds.h). */
void fh_read(struct fh *f, fuse_req_t req, size_t size, off_t off);
/* Something changed for the handles in list: retry parked reads and
 * notify pollers. */
void fh_wake(struct fh *list);
/* poll(): readiness now; keeps ph for a later notification. */
void fh_poll(struct fh *f, fuse_req_t req, struct fuse_pollhandle *ph);

/* --- building blocks of the kinds' reads --- */

/* Replies with text[off..) (at most size bytes; EOF past its end). */
void fh_reply_text(fuse_req_t req, const char *text, size_t len, off_t off, size_t size);
/* Parks req until fh_wake (EOF under O_NONBLOCK: a read that never
 * waits sees what there is now, as of a growing regular file). */
void fh_park(struct fh *f, fuse_req_t req, size_t size, off_t off);
/* Nothing to read yet (no job, a job not started): err, or EOF for a
 * reader that never waits (O_NONBLOCK, as grep -r opens files). */
void fh_reply_not_yet(struct fh *f, fuse_req_t req, int err);
/* The snapshot taken at open. */
void fh_read_snap(struct fh *f, fuse_req_t req, size_t size, off_t off);
/* A stream kept in ring r: the bytes at off, else, at its end, EOF (end
 * > 0), the error -end (end < 0: the stream was cut), or a wait (end 0:
 * more may come). */
void fh_stream_read(struct fh *f, fuse_req_t req, struct ring *r, int end, size_t size,
		    off_t off);
bool fh_stream_ready(const struct fh *f, const struct ring *r, int end);

/* The reads of a context's files (rows of kinds.c). */
void fh_job_out_read(struct fh *f, fuse_req_t req, size_t size, off_t off);
bool fh_job_out_ready(struct fh *f);
void fh_job_status_read(struct fh *f, fuse_req_t req, size_t size, off_t off);
bool fh_job_status_ready(struct fh *f);
void fh_log_read(struct fh *f, fuse_req_t req, size_t size, off_t off);
bool fh_log_ready(struct fh *f);

#endif
