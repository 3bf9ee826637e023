/*
 * opts — the command line of the daemon (opts.h): defaults, flags, the
 * -o options and their checks, --help and --version.
 */
#include "opts.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libssh/libssh.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MITOFS_VERSION
#define MITOFS_VERSION "unknown"
#endif

#define CONNECT_FILE_MAX (1u << 20)

static const char usage_text[] =
	"usage: mitofs [-f] [-d] [-o opt[,opt...]] [SOURCE] MOUNTPOINT\n"
	"\n"
	"Mounts mitofs on MOUNTPOINT: every context (a local process, an ssh host,\n"
	"sudo there...) is a directory; write commands to its files, read results.\n"
	"Returns once the mount is ready; fusermount3 -u MOUNTPOINT ends it.\n"
	"\n"
	"  -f                     stay in the foreground\n"
	"  -d                     debug: foreground, every log line on stderr\n"
	"  -h, --help             this text\n"
	"  -V, --version          versions of mitofs and its libraries\n"
	"  SOURCE                 a name for the mount (fstab's first field)\n"
	"\n"
	"  -o connect=FILE        run FILE's lines as root ctl lines at mount\n"
	"                         (connect NAME METHOD ...); failures are logged\n"
	"  -o connect_timeout=S   seconds a connect may take (1-3600; 30)\n"
	"  -o output_cap=SIZE     bytes kept per job stream (256M)\n"
	"  -o output_budget=SIZE  bytes of job output the spool may hold in all (4G)\n"
	"  -o spool=DIR           where the spool's per-mount directory is made\n"
	"                         ($XDG_RUNTIME_DIR/mitofs, else ~/.cache/mitofs)\n"
	"  -o log_cap=SIZE        bytes kept per log (1M)\n"
	"  -o clone_grace=S       a jobs/N never started goes S seconds after its\n"
	"                         last close (0-3600; 30)\n"
	"  -o attr_timeout=S      fs/ entries and attributes cached (0-3600; 1)\n"
	"  -o readahead=SIZE      read-ahead of fs/ files (up to 64M; 1M; 0: the\n"
	"                         kernel's 128K)\n"
	"  -o noxattr             no xattrs under fs/\n"
	"  -o allow_other         other users may use the mount (with\n"
	"                         default_permissions; needs root or user_allow_other)\n"
	"  -o creds=caller|context  fs/ of a root context acts as each caller\n"
	"                         (default with allow_other or as root) or as root\n"
	"  -o ro,nosuid,nodev,noexec,noatime,...   mount flags, for the kernel\n"
	"\n"
	"SIZE takes a k, m, g or t suffix. See mitofs(1) and docs/filesystem.md.\n";

/* Mount flags libfuse takes and hands to the kernel (lib/mount.c). */
static const char *const kernel_flags[] = {
	"rw", "ro", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "async", "sync",
	"noatime", "nodiratime", "dirsync", "symfollow", "nosymfollow", NULL,
};

/* Options of fstab lines that concern mount(8) and mount.fuse, not us. */
static const char *const ignored[] = {
	"defaults", "auto", "noauto", "user", "nouser", "users", "nofail", "_netdev", NULL,
};

static bool in_list(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

/* A size of at least 4096 with an optional k, m, g or t suffix, that
 * does not overflow. */
static int parse_size64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || *s == '-')
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end || v > (UINT64_MAX >> shift) || (v << shift) < 4096)
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_size(const char *s, size_t *out)
{
	uint64_t v;
	if (parse_size64(s, &v) || v > SIZE_MAX)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

/* A whole number of seconds in [lo, hi]. */
static int parse_secs(const char *s, long lo, long hi, long *out)
{
	char *end;
	long t = strtol(s, &end, 10);
	if (end == s || *end || t < lo || t > hi)
		return -EINVAL;
	*out = t;
	return 0;
}

/* One -o option; 0 or -EINVAL. */
static int parse_opt(struct daemon *d, struct opts *o, char *opt)
{
	char *v = strchr(opt, '=');
	long t;
	if (v)
		*v++ = 0;
	if (!v) {
		if (!strcmp(opt, "noxattr"))
			d->noxattr = true;
		else if (!strcmp(opt, "allow_other"))
			d->allow_other = true;
		else if (in_list(kernel_flags, opt) &&
			 strlen(o->kflags) + strlen(opt) + 2 < sizeof(o->kflags))
			strcat(strcat(o->kflags, ","), opt);
		else if (!in_list(ignored, opt))
			return -EINVAL;
		return 0;
	}
	if (!strcmp(opt, "output_cap"))
		return parse_size(v, &d->output_cap);
	if (!strcmp(opt, "log_cap"))
		return parse_size(v, &d->log_cap);
	if (!strcmp(opt, "output_budget"))
		return parse_size64(v, &d->output_budget);
	if (!strcmp(opt, "spool") && v[0] == '/') {
		free(o->spool_base);
		if (!(o->spool_base = strdup(v)))
			return -EINVAL;
		d->spool_base = o->spool_base;
		return 0;
	}
	if (!strcmp(opt, "readahead")) {
		size_t ra = 0;
		if (strcmp(v, "0") && (parse_size(v, &ra) || ra > (64u << 20)))
			return -EINVAL;
		d->readahead = ra;
		return 0;
	}
	if (!strcmp(opt, "attr_timeout")) {
		char *end;
		double x = strtod(v, &end);
		if (end == v || *end || !(x >= 0 && x <= 3600))
			return -EINVAL;
		d->attr_timeout = x;
		return 0;
	}
	if (!strcmp(opt, "creds") && (!strcmp(v, "caller") || !strcmp(v, "context"))) {
		d->creds = !strcmp(v, "caller");
		return 0;
	}
	if (!strcmp(opt, "connect_timeout") && !parse_secs(v, 1, 3600, &t)) {
		d->connect_timeout_ms = (int)t * 1000;
		return 0;
	}
	if (!strcmp(opt, "clone_grace") && !parse_secs(v, 0, 3600, &t)) {
		d->clone_grace_ms = (int)t * 1000;
		return 0;
	}
	if (!strcmp(opt, "connect") && *v) {
		free(o->connect_path);
		o->connect_path = strdup(v);
		return o->connect_path ? 0 : -EINVAL;
	}
	return -EINVAL;
}

static int parse_opts(struct daemon *d, struct opts *o, const char *arg)
{
	char *copy = strdup(arg), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int rc = 0;
	for (char *opt = strtok_r(copy, ",", &save); opt && !rc; opt = strtok_r(NULL, ",", &save)) {
		char shown[256];
		snprintf(shown, sizeof(shown), "%s", opt);
		if ((rc = parse_opt(d, o, opt)))
			fprintf(stderr, "mitofs: bad option '%s' (see mitofs --help)\n", shown);
	}
	free(copy);
	return rc;
}

/* Reads the connect file whole, now: a relative path is the caller's,
 * and the daemon changes to / before it runs the lines. */
static int read_connect_file(struct opts *o)
{
	int fd = open(o->connect_path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc = 0;
	if (fd < 0 || fstat(fd, &st)) {
		rc = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
	} else if (st.st_size > CONNECT_FILE_MAX) {
		rc = -EFBIG;
	} else if (!(o->connect_text = malloc((size_t)st.st_size + 1))) {
		rc = -ENOMEM;
	} else {
		ssize_t n = read(fd, o->connect_text, (size_t)st.st_size);
		if (n < 0)
			rc = -errno;
		else
			o->connect_len = (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	if (rc)
		fprintf(stderr, "mitofs: connect=%s: %s\n", o->connect_path,
			rc == -EINVAL ? "not a regular file" : strerror(-rc));
	return rc;
}

static void version(void)
{
	printf("mitofs %s\nFUSE library version %s\nlibssh version %s\n", MITOFS_VERSION,
	       fuse_pkgversion(), ssh_version(0));
}

int opts_parse(struct daemon *d, struct opts *o, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof(*o));
	d->output_cap = 256u << 20;
	d->output_budget = 4ull << 30;
	d->log_cap = 1u << 20;
	d->connect_timeout_ms = 30000;
	d->clone_grace_ms = 30000;
	d->attr_timeout = 1.0;
	d->readahead = 1u << 20;
	d->creds = -1; /* by default: forwarded when allow_other or root (main.c) */
	int opt;
	while ((opt = getopt_long(argc, argv, "fdhVo:", longs, NULL)) != -1) {
		switch (opt) {
		case 'f': o->foreground = true; break;
		case 'd': o->foreground = d->debug = true; break;
		case 'o':
			if (parse_opts(d, o, optarg))
				return 2;
			break;
		case 'h': fputs(usage_text, stdout); return 1;
		case 'V': version(); return 1;
		default:
			fprintf(stderr, "mitofs --help says how to use it\n");
			return 2;
		}
	}
	int left = argc - optind;
	if (left < 1 || left > 2) {
		fprintf(stderr, "mitofs: %s\n%.*smitofs --help says more\n",
			left < 1 ? "no mount point given" : "too many arguments",
			(int)(strchr(usage_text, '\n') - usage_text + 1), usage_text);
		return 2;
	}
	o->source = left == 2 ? argv[optind] : "mitofs";
	o->mountpoint = argv[argc - 1];
	if (strpbrk(o->source, ",\\") || !*o->source) {
		fprintf(stderr, "mitofs: SOURCE '%s' cannot hold ',' or '\\'\n", o->source);
		return 2;
	}
	if (o->connect_path)
		return read_connect_file(o);
	return 0;
}

void opts_free(struct opts *o)
{
	free(o->connect_path);
	free(o->connect_text);
	free(o->spool_base);
	o->connect_path = o->connect_text = o->spool_base = NULL;
}
