/*
 * opts — the daemon's command line: flags, -o options and their checks,
 * the mount flags passed on to the kernel, --help and --version.
 *
 *   mitofs [-f] [-d] [-o opt[,opt...]] [SOURCE] MOUNTPOINT
 *
 * SOURCE is what mount(8) passes from an fstab line (its first field):
 * it names the mount (its fsname), nothing more. Not for: what the
 * options do (main.c and the modules that read struct daemon).
 */
#ifndef MITOFS_OPTS_H
#define MITOFS_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"

struct opts {
	bool foreground;
	const char *source;      /* the fsname; "mitofs" without one */
	const char *mountpoint;  /* as given */
	char kflags[256];        /* mount flags for libfuse: ",nosuid,noatime"... */
	char *connect_path;      /* -o connect=FILE, as given */
	char *connect_text;      /* its contents, read at startup */
	size_t connect_len;
	char *spool_base;        /* -o spool=DIR (d->spool_base points here) */
};

/* Parses argv into d (its defaults set first) and o. Returns 0 to go
 * on, 1 when it has answered (--help, --version: exit 0), 2 for a usage
 * error (said on stderr: exit 2), or -errno when the connect file cannot
 * be read (said on stderr: exit 1). o owns what it holds (opts_free). */
int opts_parse(struct daemon *d, struct opts *o, int argc, char **argv);
void opts_free(struct opts *o);

#endif
