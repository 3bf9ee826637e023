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

struct fh *fh_new(struct daemon *d, enum node_kind kind);
/* Answers a parked read with EOF/EIO, detaches, frees. */
void fh_free(struct fh *f);
/* Links f to the job / context whose data it reads (or NULL). */
void fh_attach_job(struct fh *f, struct job *j);
void fh_attach_ctx(struct fh *f, struct ctx *c);
/* The job or context is going away: every handle is detached and its
 * parked read answered. */
void fh_detach_all(struct fh **list);

/* Serves a read now or parks it. */
void fh_read(struct fh *f, fuse_req_t req, size_t size, off_t off);
/* Something changed for the handles in list: retry parked reads and
 * notify pollers. */
void fh_wake(struct fh *list);
/* poll(): readiness now; keeps ph for a later notification. */
void fh_poll(struct fh *f, fuse_req_t req, struct fuse_pollhandle *ph);

#endif
