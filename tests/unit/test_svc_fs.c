/*
 * test_svc_fs — the fs service of the real stub (build/mitofs-stub.gz,
 * booted locally with boot_local under a router playing the master):
 * every op of core/fsproto.h against a temp directory, each answer
 * compared with what the local filesystem says; errors, malformed
 * payloads, the handle table (owners, cap, a lost caller, shutdown), and
 * the glibc build under valgrind. Skipped when the image is not built.
 *
 *   make build/mitofs-stub.gz build/mitofs-stub-dyn build/tests/test_svc_fs
 *   build/tests/test_svc_fs --jobs 2
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "private_home.h"
#include "buf.h"
#include "fsproto.h"
#include "ids.h"
#include "loop.h"
#include "proto.h"
#include "router.h"
#include "stream.h"

#define STUB_MASTER_EXTRA                                              \
	struct buf req;                 /* call being built */         \
	char text[PROTO_MAX_TEXT + 1];  /* last error text */          \
	char dir[PATH_MAX];             /* this test's directory */
#include "stub_master.h"

/* A fresh master and this test's directory under the private HOME. */
static void master_dir_new(void)
{
	master_new();
	snprintf(M.dir, sizeof(M.dir), "%s/fs.XXXXXX", private_home);
	cr_assert_not_null(mkdtemp(M.dir));
}

static void setup(void)
{
	master_dir_new();
	umask(022);
	boot_stub("fs");
}

static void teardown(void)
{
	master_free();
	buf_free(&M.req);
	rm_scratch(M.dir);
}

TestSuite(svc_fs, .init = setup, .fini = teardown, .timeout = 60);

/* --- calls --- */

/* Starts a call of op in M.req. */
static void begin(uint16_t op)
{
	M.req.len = 0;
	proto_call_begin(&M.req, SVC_FS, op);
}

/* Sends M.req; returns the envelope's err (-1: no reply, -2: a dead
 * reply), leaves the text in M.text and *body at the body. */
static int call(struct rd *body)
{
	uint32_t h = router_add_reply(M.r, M.id, on_reply, NULL, 0);
	M.got = 0;
	cr_assert_eq(router_send_to(M.r, M.id, HANDLE_CALL_SERVICE, h, M.req.data, M.req.len), 0);
	run_until(&M.got, 20000);
	if (!M.got)
		return -1;
	if (M.dead)
		return -2;
	uint32_t err;
	const char *t;
	size_t tl;
	rd_init(body, M.reply.data, M.reply.len);
	cr_assert_eq(proto_reply_read(body, &err, &t, &tl), 0);
	snprintf(M.text, sizeof(M.text), "%.*s", (int)tl, t);
	if (err)
		cr_assert_eq(rd_end(body), 0, "an error reply with a body");
	else
		cr_assert_eq(tl, 0, "a success reply with a text");
	return (int)err;
}

/* A call whose success reply has no body. */
static int call_empty(void)
{
	struct rd rd;
	int err = call(&rd);
	if (!err)
		cr_expect_eq(rd_end(&rd), 0, "unexpected body");
	return err;
}

/* A call whose success reply is one attr (into *a, may be NULL). */
static int call_attr(struct fs_attr *a)
{
	struct rd rd;
	struct fs_attr tmp;
	int err = call(&rd);
	if (!err) {
		cr_assert_eq(fs_attr_get(&rd, a ? a : &tmp), 0);
		cr_assert_eq(rd_end(&rd), 0);
	}
	return err;
}

/* Full path of name in the test's directory (a static buffer per slot). */
static const char *P(int slot, const char *name)
{
	static char p[4][PATH_MAX];
	snprintf(p[slot], sizeof(p[slot]), "%s/%s", M.dir, name);
	return p[slot];
}

static void put_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(content, f);
	cr_assert_eq(fclose(f), 0);
}

static int fs_lstat(const char *p, struct fs_attr *a)
{
	begin(FS_LSTAT);
	buf_put_str(&M.req, p);
	return call_attr(a);
}

static int fs_path_op(uint16_t op, const char *p)
{
	begin(op);
	buf_put_str(&M.req, p);
	return call_empty();
}

static int fs_open(const char *p, uint32_t flags, uint32_t mode, uint32_t *fh, struct fs_attr *a)
{
	struct rd rd;
	struct fs_attr tmp;
	begin(FS_OPEN);
	buf_put_str(&M.req, p);
	buf_put_u32(&M.req, flags);
	buf_put_u32(&M.req, mode);
	int err = call(&rd);
	if (!err) {
		cr_assert_eq(rd_u32(&rd, fh), 0);
		cr_assert_eq(fs_attr_get(&rd, a ? a : &tmp), 0);
		cr_assert_eq(rd_end(&rd), 0);
		cr_assert_neq(*fh, 0);
	}
	return err;
}

/* READ into out (replacing its contents). */
static int fs_read(uint32_t fh, uint64_t off, uint32_t size, struct buf *out)
{
	struct rd rd;
	const uint8_t *p;
	size_t n;
	begin(FS_READ);
	buf_put_u32(&M.req, fh);
	buf_put_u64(&M.req, off);
	buf_put_u32(&M.req, size);
	int err = call(&rd);
	if (!err) {
		cr_assert_eq(rd_blob(&rd, &p, &n), 0);
		cr_assert_eq(rd_end(&rd), 0);
		out->len = 0;
		buf_put_bytes(out, p, n);
	}
	return err;
}

static int fs_write(uint32_t fh, uint64_t off, const void *p, size_t n, uint32_t *written)
{
	struct rd rd;
	begin(FS_WRITE);
	buf_put_u32(&M.req, fh);
	buf_put_u64(&M.req, off);
	buf_put_blob(&M.req, p, n);
	int err = call(&rd);
	if (!err) {
		cr_assert_eq(rd_u32(&rd, written), 0);
		cr_assert_eq(rd_end(&rd), 0);
	}
	return err;
}

static int fs_fh_op(uint16_t op, uint32_t fh)
{
	begin(op);
	buf_put_u32(&M.req, fh);
	return op == FS_FSTAT ? call_attr(NULL) : call_empty();
}

static int fs_close(uint32_t fh) { return fs_fh_op(FS_CLOSE, fh); }

/* Every field of a against st. */
static void expect_attr(const struct fs_attr *a, const struct stat *st, const char *what)
{
	cr_expect_eq(a->ino, (uint64_t)st->st_ino, "%s: ino", what);
	cr_expect_eq(a->mode, (uint32_t)st->st_mode, "%s: mode %o, not %o", what, a->mode,
		     (unsigned)st->st_mode);
	cr_expect_eq(a->nlink, (uint32_t)st->st_nlink, "%s: nlink", what);
	cr_expect_eq(a->uid, (uint32_t)st->st_uid, "%s: uid", what);
	cr_expect_eq(a->gid, (uint32_t)st->st_gid, "%s: gid", what);
	cr_expect_eq(a->rdev, (uint64_t)st->st_rdev, "%s: rdev", what);
	cr_expect_eq(a->size, (uint64_t)st->st_size, "%s: size", what);
	cr_expect_eq(a->blocks, (uint64_t)st->st_blocks, "%s: blocks", what);
	cr_expect_eq(a->blksize, (uint32_t)st->st_blksize, "%s: blksize", what);
	cr_expect(a->atime == st->st_atim.tv_sec && a->atime_ns == (uint32_t)st->st_atim.tv_nsec,
		  "%s: atime", what);
	cr_expect(a->mtime == st->st_mtim.tv_sec && a->mtime_ns == (uint32_t)st->st_mtim.tv_nsec,
		  "%s: mtime", what);
	cr_expect(a->ctime == st->st_ctim.tv_sec && a->ctime_ns == (uint32_t)st->st_ctim.tv_nsec,
		  "%s: ctime", what);
}

static void expect_lstat(const struct fs_attr *a, const char *path)
{
	struct stat st;
	cr_assert_eq(lstat(path, &st), 0, "%s", path);
	expect_attr(a, &st, path);
}

static int count_fds(pid_t pid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(p);
	cr_assert_not_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* --- paths and attributes --- */

Test(svc_fs, lstat_matches_the_local_lstat_to_the_nanosecond)
{
	struct fs_attr a;
	put_file(P(0, "f"), "hello");
	struct timespec ts[2] = { { 1000000001, 123456789 }, { 1500000002, 987654321 } };
	cr_assert_eq(utimensat(AT_FDCWD, P(0, "f"), ts, 0), 0);
	cr_assert_eq(mkdir(P(1, "d"), 0755), 0);
	cr_assert_eq(symlink("f", P(2, "l")), 0);
	cr_assert_eq(mkfifo(P(3, "p"), 0600), 0);
	for (int i = 0; i < 4; i++) {
		const char *names[] = { "f", "d", "l", "p" };
		cr_assert_eq(fs_lstat(P(0, names[i]), &a), 0, "%s", M.text);
		expect_lstat(&a, P(0, names[i]));
	}
	cr_assert_eq(fs_lstat(P(0, "f"), &a), 0);
	cr_expect(a.mtime == 1500000002 && a.mtime_ns == 987654321);
	cr_expect(a.atime == 1000000001 && a.atime_ns == 123456789);
	cr_assert_eq(fs_lstat(P(0, "l"), &a), 0);
	cr_expect(S_ISLNK(a.mode), "lstat followed the symlink");
	cr_expect_eq(fs_lstat("/", &a), 0);
	expect_lstat(&a, "/");
}

Test(svc_fs, readdir_lists_every_name_with_its_own_attributes)
{
	const char *names[] = { "plain", "with  spaces ", "new\nline", "latin\xff\xfe-1", "sub", "dangling" };
	size_t nn = sizeof(names) / sizeof(names[0]);
	for (size_t i = 0; i < 4; i++)
		put_file(P(0, names[i]), names[i]);
	cr_assert_eq(mkdir(P(0, "sub"), 0700), 0);
	cr_assert_eq(symlink("/nowhere/at/all", P(0, "dangling")), 0);
	struct rd rd;
	uint32_t n;
	begin(FS_READDIR);
	buf_put_str(&M.req, M.dir);
	cr_assert_eq(call(&rd), 0, "%s", M.text);
	cr_assert_eq(rd_u32(&rd, &n), 0);
	cr_assert_eq(n, nn);
	int seen[6] = { 0 };
	for (uint32_t i = 0; i < n; i++) {
		char *name;
		struct fs_attr a;
		cr_assert_eq(rd_str(&rd, &name, 255), 0);
		cr_assert_eq(fs_attr_get(&rd, &a), 0);
		cr_expect(strcmp(name, ".") && strcmp(name, ".."), "'%s' listed", name);
		size_t k = 0;
		while (k < nn && strcmp(names[k], name))
			k++;
		cr_assert_lt(k, nn, "unexpected name '%s'", name);
		seen[k]++;
		expect_lstat(&a, P(0, name));
		free(name);
	}
	cr_assert_eq(rd_end(&rd), 0);
	for (size_t k = 0; k < nn; k++)
		cr_expect_eq(seen[k], 1, "'%s' seen %d times", names[k], seen[k]);
	/* empty directory; a file is not one */
	begin(FS_READDIR);
	buf_put_str(&M.req, P(0, "sub"));
	cr_assert_eq(call(&rd), 0, "%s", M.text);
	cr_assert_eq(rd_u32(&rd, &n), 0);
	cr_expect_eq(n, 0);
	cr_expect_eq(rd_end(&rd), 0);
	cr_expect_eq(fs_path_op(FS_READDIR, P(0, "plain")), ENOTDIR);
}

Test(svc_fs, readdir_larger_than_one_frame_is_efbig, .timeout = 120)
{
	/* 100,000 entries of 255-byte names: about 34 MB of reply. */
	char name[256];
	memset(name, 'x', 255);
	name[255] = 0;
	for (int i = 0; i < 100000; i++) {
		snprintf(name, 11, "%010d", i);
		name[10] = 'x';
		int fd = open(P(0, name), O_CREAT | O_WRONLY, 0600);
		cr_assert_geq(fd, 0);
		close(fd);
	}
	cr_expect_eq(fs_path_op(FS_READDIR, M.dir), EFBIG);
	cr_expect(strstr(M.text, "too large") != NULL, "%s", M.text);
	struct fs_attr a;
	cr_expect_eq(fs_lstat(M.dir, &a), 0, "the stub stopped answering");
}

Test(svc_fs, mkdir_rmdir_and_unlink_change_the_tree)
{
	struct fs_attr a;
	begin(FS_MKDIR);
	buf_put_str(&M.req, P(0, "d"));
	buf_put_u32(&M.req, 0750);
	cr_assert_eq(call_attr(&a), 0, "%s", M.text);
	expect_lstat(&a, P(0, "d"));
	cr_expect_eq(a.mode, S_IFDIR | 0750);
	put_file(P(0, "d/f"), "x");
	cr_expect_eq(fs_path_op(FS_RMDIR, P(0, "d")), ENOTEMPTY);
	cr_expect_eq(fs_path_op(FS_RMDIR, P(0, "d/f")), ENOTDIR);
	cr_expect_eq(fs_path_op(FS_UNLINK, P(0, "d")), EISDIR);
	cr_expect_eq(fs_path_op(FS_UNLINK, P(0, "d/f")), 0, "%s", M.text);
	cr_expect_eq(fs_path_op(FS_RMDIR, P(0, "d")), 0, "%s", M.text);
	cr_expect_eq(fs_lstat(P(0, "d"), &a), ENOENT);
	cr_expect_eq(access(P(0, "d"), F_OK), -1);
	begin(FS_MKDIR);
	buf_put_str(&M.req, M.dir);
	buf_put_u32(&M.req, 0755);
	cr_expect_eq(call_attr(NULL), EEXIST);
}

static int fs_rename(const char *a, const char *b, uint32_t flags)
{
	begin(FS_RENAME);
	buf_put_str(&M.req, a);
	buf_put_str(&M.req, b);
	buf_put_u32(&M.req, flags);
	return call_empty();
}

static void expect_content(const char *path, const char *want)
{
	char got[256] = "";
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	size_t n = fread(got, 1, sizeof(got) - 1, f);
	fclose(f);
	got[n] = 0;
	cr_expect_str_eq(got, want, "%s", path);
}

Test(svc_fs, rename_moves_noreplace_refuses_and_exchange_swaps)
{
	put_file(P(0, "a"), "A");
	put_file(P(0, "b"), "B");
	cr_expect_eq(fs_rename(P(0, "a"), P(1, "b"), 1), EEXIST, "%s", M.text);
	expect_content(P(0, "a"), "A");
	cr_expect_eq(fs_rename(P(0, "a"), P(1, "b"), 2), 0, "%s", M.text);
	expect_content(P(0, "a"), "B");
	expect_content(P(0, "b"), "A");
	cr_expect_eq(fs_rename(P(0, "a"), P(1, "c"), 1), 0, "%s", M.text);
	expect_content(P(0, "c"), "B");
	cr_expect_eq(fs_rename(P(0, "c"), P(1, "b"), 0), 0, "%s", M.text);
	expect_content(P(0, "b"), "B");
	cr_expect_eq(access(P(0, "c"), F_OK), -1);
	cr_expect_eq(fs_rename(P(0, "c"), P(1, "d"), 0), ENOENT);
	cr_expect_eq(fs_rename(P(0, "b"), P(1, "d"), 2), ENOENT); /* exchange needs both */
	cr_expect_eq(fs_rename(P(0, "b"), P(1, "d"), 4), EINVAL);  /* whiteout: not ours */
}

static int fs_readlink(const char *p, char *out, size_t cap)
{
	struct rd rd;
	const uint8_t *t;
	size_t n;
	begin(FS_READLINK);
	buf_put_str(&M.req, p);
	int err = call(&rd);
	if (!err) {
		cr_assert_eq(rd_blob(&rd, &t, &n), 0);
		cr_assert_eq(rd_end(&rd), 0);
		cr_assert_lt(n, cap);
		memcpy(out, t, n);
		out[n] = 0;
	}
	return err;
}

Test(svc_fs, symlink_and_readlink_round_trip_any_target)
{
	const char *targets[] = { "/etc/passwd", "../rel ative\nname", "\xff", "dangling" };
	char got[PATH_MAX], lname[16];
	for (int i = 0; i < 4; i++) {
		struct fs_attr a;
		snprintf(lname, sizeof(lname), "l%d", i);
		begin(FS_SYMLINK);
		buf_put_str(&M.req, targets[i]);
		buf_put_str(&M.req, P(0, lname));
		cr_assert_eq(call_attr(&a), 0, "%s", M.text);
		expect_lstat(&a, P(0, lname));
		cr_expect(S_ISLNK(a.mode));
		cr_expect_eq(a.size, strlen(targets[i]));
		cr_assert_eq(fs_readlink(P(0, lname), got, sizeof(got)), 0, "%s", M.text);
		cr_expect_str_eq(got, targets[i]);
		ssize_t n = readlink(P(0, lname), got, sizeof(got));
		cr_expect(n == (ssize_t)strlen(targets[i]) && !memcmp(got, targets[i], (size_t)n));
	}
	put_file(P(0, "f"), "");
	cr_expect_eq(fs_readlink(P(0, "f"), got, sizeof(got)), EINVAL);
	begin(FS_SYMLINK);
	buf_put_str(&M.req, "x");
	buf_put_str(&M.req, P(0, "f"));
	cr_expect_eq(call_attr(NULL), EEXIST);
}

Test(svc_fs, link_makes_a_second_name_for_the_same_inode)
{
	struct fs_attr a, b;
	put_file(P(0, "f"), "data");
	begin(FS_LINK);
	buf_put_str(&M.req, P(0, "f"));
	buf_put_str(&M.req, P(1, "g"));
	cr_assert_eq(call_attr(&a), 0, "%s", M.text);
	cr_expect_eq(a.nlink, 2);
	expect_lstat(&a, P(0, "g"));
	cr_assert_eq(fs_lstat(P(0, "f"), &b), 0);
	cr_expect_eq(a.ino, b.ino);
	cr_expect_eq(b.nlink, 2);
	begin(FS_LINK);
	buf_put_str(&M.req, P(0, "f"));
	buf_put_str(&M.req, P(1, "g"));
	cr_expect_eq(call_attr(NULL), EEXIST);
}

static int fs_utimens(const char *p, int64_t as, uint32_t an, int64_t ms, uint32_t mn,
		      struct fs_attr *a)
{
	begin(FS_UTIMENS);
	buf_put_str(&M.req, p);
	buf_put_u64(&M.req, (uint64_t)as);
	buf_put_u32(&M.req, an);
	buf_put_u64(&M.req, (uint64_t)ms);
	buf_put_u32(&M.req, mn);
	return call_attr(a);
}

Test(svc_fs, chmod_chown_and_utimens_set_what_lstat_shows)
{
	struct fs_attr a;
	struct stat st;
	put_file(P(0, "f"), "x");
	begin(FS_CHMOD);
	buf_put_str(&M.req, P(0, "f"));
	buf_put_u32(&M.req, 04604);
	cr_assert_eq(call_attr(&a), 0, "%s", M.text);
	expect_lstat(&a, P(0, "f"));
	cr_expect_eq(a.mode, S_IFREG | 04604);
	/* FUSE passes the file type along with the bits: it is ignored */
	begin(FS_CHMOD);
	buf_put_str(&M.req, P(0, "f"));
	buf_put_u32(&M.req, S_IFREG | 0640);
	cr_assert_eq(call_attr(&a), 0, "%s", M.text);
	cr_expect_eq(a.mode, S_IFREG | 0640);

	/* chown to who owns it, and "unchanged" for both */
	cr_assert_eq(lstat(P(0, "f"), &st), 0);
	uint32_t ids[][2] = { { st.st_uid, st.st_gid }, { 0xffffffffu, 0xffffffffu } };
	for (int i = 0; i < 2; i++) {
		begin(FS_CHOWN);
		buf_put_str(&M.req, P(0, "f"));
		buf_put_u32(&M.req, ids[i][0]);
		buf_put_u32(&M.req, ids[i][1]);
		cr_assert_eq(call_attr(&a), 0, "%s", M.text);
		expect_lstat(&a, P(0, "f"));
		cr_expect(a.uid == st.st_uid && a.gid == st.st_gid);
	}
	if (geteuid() == 0) {
		begin(FS_CHOWN);
		buf_put_str(&M.req, P(0, "f"));
		buf_put_u32(&M.req, 4321);
		buf_put_u32(&M.req, 0xffffffffu);
		cr_assert_eq(call_attr(&a), 0, "%s", M.text);
		cr_expect(a.uid == 4321 && a.gid == st.st_gid);
	}

	cr_assert_eq(fs_utimens(P(0, "f"), 1234567890, 111222333, 1600000000, 444555666, &a), 0,
		     "%s", M.text);
	expect_lstat(&a, P(0, "f"));
	cr_expect(a.atime == 1234567890 && a.atime_ns == 111222333);
	cr_expect(a.mtime == 1600000000 && a.mtime_ns == 444555666);
	/* omit keeps atime, now sets mtime to about now */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	cr_assert_eq(fs_utimens(P(0, "f"), 0, UTIME_OMIT, 0, UTIME_NOW, &a), 0, "%s", M.text);
	cr_expect(a.atime == 1234567890 && a.atime_ns == 111222333);
	cr_expect(a.mtime >= now.tv_sec - 1 && a.mtime <= now.tv_sec + 5, "mtime %lld", (long long)a.mtime);
	/* negative times (before 1970) */
	cr_assert_eq(fs_utimens(P(0, "f"), -1000, 5, -2000, 7, &a), 0, "%s", M.text);
	cr_expect(a.atime == -1000 && a.atime_ns == 5 && a.mtime == -2000 && a.mtime_ns == 7);
	expect_lstat(&a, P(0, "f"));
	/* on a symlink: the link's own times, not its target's */
	cr_assert_eq(symlink("f", P(0, "l")), 0);
	cr_assert_eq(fs_utimens(P(0, "l"), 100, 1, 200, 2, &a), 0, "%s", M.text);
	expect_lstat(&a, P(0, "l"));
	cr_expect(S_ISLNK(a.mode) && a.mtime == 200 && a.mtime_ns == 2);
	cr_assert_eq(stat(P(0, "l"), &st), 0);
	cr_expect_eq(st.st_mtim.tv_sec, -2000);
	cr_expect_eq(fs_utimens(P(0, "f"), 0, 1000000000u, 0, 0, NULL), EINVAL);
	cr_expect_eq(fs_utimens(P(0, "missing"), 0, 0, 0, 0, NULL), ENOENT);
}

Test(svc_fs, statfs_agrees_with_statvfs)
{
	struct rd rd;
	uint64_t v[11];
	struct statvfs s;
	begin(FS_STATFS);
	buf_put_str(&M.req, M.dir);
	cr_assert_eq(call(&rd), 0, "%s", M.text);
	for (int i = 0; i < 11; i++)
		cr_assert_eq(rd_u64(&rd, &v[i]), 0);
	cr_assert_eq(rd_end(&rd), 0);
	cr_assert_eq(statvfs(M.dir, &s), 0);
	cr_expect_eq(v[0], s.f_bsize);
	cr_expect_eq(v[1], s.f_frsize);
	cr_expect_eq(v[2], s.f_blocks);
	cr_expect(v[3] <= v[2] && v[4] <= v[3], "bfree %lu bavail %lu of %lu",
		  (unsigned long)v[3], (unsigned long)v[4], (unsigned long)v[2]);
	cr_expect_eq(v[5], s.f_files);
	cr_expect_leq(v[7], v[5]);
	cr_expect_eq(v[8], s.f_fsid);
	cr_expect_eq(v[9], s.f_flag);
	cr_expect_eq(v[10], s.f_namemax);
	cr_expect_gt(v[0], 0);
	cr_expect_eq(fs_path_op(FS_STATFS, P(0, "missing")), ENOENT);
}

/* A call of op with a path and a u32 that answers nothing more. */
static int path_u32_call(uint16_t op, const char *p, uint32_t v)
{
	begin(op);
	buf_put_str(&M.req, p);
	buf_put_u32(&M.req, v);
	return call_empty();
}

static int fs_access(const char *p, uint32_t mask)
{
	return path_u32_call(FS_ACCESS, p, mask);
}

Test(svc_fs, access_answers_like_the_local_access)
{
	put_file(P(0, "f"), "x");
	cr_assert_eq(chmod(P(0, "f"), 0644), 0);
	cr_expect_eq(fs_access(P(0, "f"), F_OK), 0, "%s", M.text);
	cr_expect_eq(fs_access(P(0, "f"), R_OK | W_OK), 0, "%s", M.text);
	cr_expect_eq(fs_access(P(0, "f"), X_OK), EACCES); /* no x bit: even root */
	cr_expect_eq(fs_access(M.dir, R_OK | W_OK | X_OK), 0, "%s", M.text);
	cr_expect_eq(fs_access(P(0, "missing"), F_OK), ENOENT);
	cr_expect_eq(fs_access(P(0, "f"), 8), EINVAL);
	if (geteuid() != 0) {
		cr_assert_eq(chmod(P(0, "f"), 0), 0);
		cr_expect_eq(fs_access(P(0, "f"), R_OK), EACCES);
	}
}

static int fs_fsyncdir(const char *p, uint32_t datasync)
{
	return path_u32_call(FS_FSYNCDIR, p, datasync);
}

Test(svc_fs, fsyncdir_syncs_a_directory_by_name_and_refuses_the_rest)
{
	put_file(P(0, "f"), "x");
	cr_expect_eq(fs_fsyncdir(M.dir, 0), 0, "%s", M.text);
	cr_expect_eq(fs_fsyncdir(M.dir, 1), 0, "%s", M.text);
	cr_expect_eq(fs_fsyncdir(P(0, "f"), 0), ENOTDIR);
	cr_expect_eq(fs_fsyncdir(P(0, "missing"), 0), ENOENT);
	cr_expect_eq(fs_fsyncdir(M.dir, 2), EINVAL);
}

static int fs_mknod(const char *p, uint32_t mode, uint64_t rdev, struct fs_attr *a)
{
	begin(FS_MKNOD);
	buf_put_str(&M.req, p);
	buf_put_u32(&M.req, mode);
	buf_put_u64(&M.req, rdev);
	return call_attr(a);
}

Test(svc_fs, mknod_makes_fifos_and_regular_files)
{
	struct fs_attr a;
	cr_assert_eq(fs_mknod(P(0, "fifo"), S_IFIFO | 0640, 0, &a), 0, "%s", M.text);
	expect_lstat(&a, P(0, "fifo"));
	cr_expect_eq(a.mode, S_IFIFO | 0640);
	cr_assert_eq(fs_mknod(P(0, "reg"), S_IFREG | 0600, 0, &a), 0, "%s", M.text);
	expect_lstat(&a, P(0, "reg"));
	cr_expect_eq(a.mode, S_IFREG | 0600);
	cr_expect_eq(fs_mknod(P(0, "reg"), S_IFREG | 0600, 0, &a), EEXIST);
	int err = fs_mknod(P(0, "null"), S_IFCHR | 0600, makedev(1, 3), &a);
	if (err == 0) {
		expect_lstat(&a, P(0, "null"));
		cr_expect(S_ISCHR(a.mode) && a.rdev == makedev(1, 3));
	} else {
		cr_expect(err == EPERM || err == EACCES, "mknod char device: %s", M.text);
	}
	/* Opening a FIFO nobody writes must not block the stub. */
	uint32_t fh;
	struct buf out;
	buf_init(&out);
	cr_assert_eq(fs_open(P(0, "fifo"), O_RDONLY, 0, &fh, &a), 0, "%s", M.text);
	cr_expect(S_ISFIFO(a.mode));
	err = fs_read(fh, 0, 100, &out);
	cr_expect(err == EAGAIN || (err == 0 && out.len == 0), "read of an empty fifo: %d", err);
	cr_expect_eq(fs_open(P(0, "fifo"), O_WRONLY, 0, &fh, &a), 0, "%s", M.text); /* a reader exists */
	uint32_t w;
	cr_expect_eq(fs_write(fh, 0, "through", 7, &w), 0, "%s", M.text);
	buf_free(&out);
}

/* --- open files --- */

Test(svc_fs, one_mebibyte_written_reads_back_the_same)
{
	uint32_t fh, w;
	struct fs_attr a;
	struct buf out;
	buf_init(&out);
	size_t n = 1u << 20;
	uint8_t *data = malloc(n + 4096);
	cr_assert_not_null(data);
	srand(42);
	for (size_t i = 0; i < n + 4096; i++)
		data[i] = (uint8_t)rand();
	cr_assert_eq(fs_open(P(0, "big"), O_CREAT | O_EXCL | O_RDWR, 0644, &fh, &a), 0, "%s", M.text);
	cr_expect(S_ISREG(a.mode) && a.size == 0);
	cr_assert_eq(fs_write(fh, 0, data, n, &w), 0, "%s", M.text);
	cr_expect_eq(w, n);
	/* what the local filesystem holds */
	FILE *f = fopen(P(0, "big"), "r");
	cr_assert_not_null(f);
	uint8_t *back = malloc(n + 1);
	cr_expect_eq(fread(back, 1, n + 1, f), n);
	fclose(f);
	cr_expect_eq(memcmp(back, data, n), 0, "the file differs from what was written");
	free(back);
	/* read back whole, short at EOF, empty past it */
	cr_assert_eq(fs_read(fh, 0, (uint32_t)n, &out), 0, "%s", M.text);
	cr_expect_eq(out.len, n);
	cr_expect_eq(memcmp(out.data, data, n), 0);
	cr_assert_eq(fs_read(fh, n - 10, 100, &out), 0, "%s", M.text);
	cr_expect_eq(out.len, 10);
	cr_expect_eq(memcmp(out.data, data + n - 10, 10), 0);
	cr_assert_eq(fs_read(fh, 2 * n, 100, &out), 0, "%s", M.text);
	cr_expect_eq(out.len, 0);
	/* writes and reads over FS_MAX_IO are cut to it */
	cr_assert_eq(fs_write(fh, 100, data, FS_MAX_IO + 4096, &w), 0, "%s", M.text);
	cr_expect_eq(w, FS_MAX_IO);
	cr_assert_eq(fs_read(fh, 0, 4 * FS_MAX_IO, &out), 0, "%s", M.text);
	cr_expect_eq(out.len, FS_MAX_IO);
	cr_expect_eq(memcmp(out.data + 100, data, FS_MAX_IO - 100), 0);
	/* fstat matches the local stat */
	struct stat st;
	begin(FS_FSTAT);
	buf_put_u32(&M.req, fh);
	cr_assert_eq(call_attr(&a), 0, "%s", M.text);
	cr_assert_eq(stat(P(0, "big"), &st), 0);
	expect_attr(&a, &st, "fstat");
	cr_expect_eq(a.size, FS_MAX_IO + 100);
	cr_expect_eq(fs_close(fh), 0, "%s", M.text);
	cr_expect_eq(fs_close(fh), EBADF);
	free(data);
	buf_free(&out);
}

/* Reads of 64 KiB and more of a regular file go from the page cache to
 * the stream through a pipe the stub keeps (two more fds once the first
 * is done), with the same bytes as a copy: whole, short at the end, and
 * at an offset that is not a page's (those are read, not spliced). */
Test(svc_fs, large_reads_are_spliced_and_return_the_files_bytes)
{
	uint32_t fh, w;
	struct buf out;
	buf_init(&out);
	size_t n = (3u << 20) + 777;
	uint8_t *data = malloc(n);
	cr_assert_not_null(data);
	srand(7);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)rand();
	cr_assert_eq(fs_open(P(0, "sp"), O_CREAT | O_EXCL | O_RDWR, 0644, &fh, NULL), 0, "%s", M.text);
	for (size_t at = 0; at < n; at += w)
		cr_assert_eq(fs_write(fh, at, data + at, n - at > FS_MAX_IO ? FS_MAX_IO : n - at, &w), 0);
	cr_assert_eq(fs_read(fh, 0, 4096, &out), 0, "%s", M.text); /* small: copied */
	int fds = count_fds(M.pid);
	struct { uint64_t off; uint32_t size; size_t want; } reads[] = {
		{ 0, FS_MAX_IO, FS_MAX_IO },
		{ 2u << 20, FS_MAX_IO, FS_MAX_IO },
		{ 3u << 20, FS_MAX_IO, 777 },
		{ 12345, 200000, 200000 },
		{ 1u << 20, 65536, 65536 },
	};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		cr_assert_eq(fs_read(fh, reads[i].off, reads[i].size, &out), 0, "%s", M.text);
		cr_assert_eq(out.len, reads[i].want, "read %zu: %zu bytes", i, out.len);
		cr_assert_eq(memcmp(out.data, data + reads[i].off, out.len), 0, "read %zu differs", i);
	}
	cr_expect_eq(count_fds(M.pid), fds + 2, "the stub keeps no pipe: not spliced");
	cr_expect_eq(fs_close(fh), 0, "%s", M.text);
	free(data);
	buf_free(&out);
}

Test(svc_fs, open_honours_creat_excl_trunc_append_and_the_mode)
{
	uint32_t fh, w;
	struct fs_attr a;
	put_file(P(0, "f"), "old contents");
	cr_expect_eq(fs_open(P(0, "f"), O_CREAT | O_EXCL | O_WRONLY, 0600, &fh, &a), EEXIST);
	cr_expect(strstr(M.text, "fs open(") == M.text && strstr(M.text, "File exists"), "%s", M.text);
	cr_expect_eq(fs_open(P(0, "new"), O_RDONLY, 0, &fh, &a), ENOENT);
	/* exactly the mode asked: the caller's kernel applied its umask
	 * already, the stub's own (022, for jobs) must not apply again */
	cr_assert_eq(fs_open(P(0, "new"), O_CREAT | O_WRONLY, 0666, &fh, &a), 0, "%s", M.text);
	expect_lstat(&a, P(0, "new"));
	cr_expect_eq(a.mode, S_IFREG | 0666);
	cr_expect_eq(fs_close(fh), 0);
	/* FUSE's create passes S_IFREG in the mode */
	cr_assert_eq(fs_open(P(0, "new2"), O_CREAT | O_WRONLY, S_IFREG | 0600, &fh, &a), 0, "%s", M.text);
	cr_expect_eq(a.mode, S_IFREG | 0600);
	cr_expect_eq(fs_close(fh), 0);
	/* O_TRUNC empties, O_APPEND writes at the end whatever the offset */
	cr_assert_eq(fs_open(P(0, "f"), O_WRONLY | O_TRUNC, 0, &fh, &a), 0, "%s", M.text);
	cr_expect_eq(a.size, 0);
	cr_expect_eq(fs_write(fh, 0, "abc", 3, &w), 0);
	cr_expect_eq(fs_close(fh), 0);
	cr_assert_eq(fs_open(P(0, "f"), O_WRONLY | O_APPEND, 0, &fh, &a), 0, "%s", M.text);
	cr_expect_eq(fs_write(fh, 0, "def", 3, &w), 0);
	cr_expect_eq(fs_close(fh), 0);
	expect_content(P(0, "f"), "abcdef");
	/* a read-only handle cannot write; a directory opens read-only only */
	cr_assert_eq(fs_open(P(0, "f"), O_RDONLY, 0, &fh, &a), 0, "%s", M.text);
	cr_expect_eq(fs_write(fh, 0, "x", 1, &w), EBADF);
	cr_expect_eq(fs_close(fh), 0);
	cr_expect_eq(fs_open(M.dir, O_WRONLY, 0, &fh, &a), EISDIR);
	cr_expect_eq(fs_open(P(0, "f"), O_RDONLY | O_DIRECTORY, 0, &fh, &a), ENOTDIR);
	cr_assert_eq(symlink("f", P(0, "l")), 0);
	cr_expect_eq(fs_open(P(0, "l"), O_RDONLY | O_NOFOLLOW, 0, &fh, &a), ELOOP);
	cr_assert_eq(fs_open(M.dir, O_RDONLY | O_DIRECTORY, 0, &fh, &a), 0, "%s", M.text);
	cr_expect(S_ISDIR(a.mode));
	struct buf out;
	buf_init(&out);
	cr_expect_eq(fs_read(fh, 0, 10, &out), EISDIR);
	begin(FS_FSYNC);
	buf_put_u32(&M.req, fh);
	buf_put_u8(&M.req, 0);
	cr_expect_eq(call_empty(), 0, "fsync of a directory: %s", M.text);
	buf_free(&out);
	/* flags nobody can honour over the wire */
	cr_expect_eq(fs_open(P(0, "f"), O_RDONLY | O_PATH, 0, &fh, &a), EINVAL);
	cr_expect_eq(fs_open(P(0, "f"), 3, 0, &fh, &a), EINVAL);
	/* bits a kernel passes along are ignored */
	cr_assert_eq(fs_open(P(0, "f"), O_RDONLY | O_NOCTTY | 0100000 /* O_LARGEFILE */ | O_CLOEXEC,
			     0, &fh, &a), 0, "%s", M.text);
}

Test(svc_fs, ftruncate_truncate_and_fsync_change_and_keep_the_size)
{
	uint32_t fh;
	struct stat st;
	put_file(P(0, "f"), "0123456789");
	cr_assert_eq(fs_open(P(0, "f"), O_RDWR, 0, &fh, NULL), 0, "%s", M.text);
	begin(FS_FTRUNCATE);
	buf_put_u32(&M.req, fh);
	buf_put_u64(&M.req, 100000);
	cr_expect_eq(call_empty(), 0, "%s", M.text);
	cr_assert_eq(stat(P(0, "f"), &st), 0);
	cr_expect_eq(st.st_size, 100000);
	for (uint8_t ds = 0; ds < 3; ds++) {
		begin(FS_FSYNC);
		buf_put_u32(&M.req, fh);
		buf_put_u8(&M.req, ds);
		cr_expect_eq(call_empty(), ds < 2 ? 0 : EINVAL, "datasync %u: %s", ds, M.text);
	}
	begin(FS_TRUNCATE);
	buf_put_str(&M.req, P(0, "f"));
	buf_put_u64(&M.req, 4);
	cr_expect_eq(call_empty(), 0, "%s", M.text);
	expect_content(P(0, "f"), "0123");
	begin(FS_TRUNCATE);
	buf_put_str(&M.req, P(0, "f"));
	buf_put_u64(&M.req, 1ull << 63);
	cr_expect_eq(call_empty(), EINVAL);
	begin(FS_TRUNCATE);
	buf_put_str(&M.req, M.dir);
	buf_put_u64(&M.req, 0);
	cr_expect_eq(call_empty(), EISDIR);
}

Test(svc_fs, handles_are_monotonic_and_never_reused)
{
	uint32_t a, b, c;
	put_file(P(0, "f"), "x");
	cr_assert_eq(fs_open(P(0, "f"), O_RDONLY, 0, &a, NULL), 0, "%s", M.text);
	cr_assert_eq(fs_close(a), 0);
	cr_assert_eq(fs_open(P(0, "f"), O_RDONLY, 0, &b, NULL), 0, "%s", M.text);
	cr_assert_eq(fs_open(P(0, "f"), O_RDONLY, 0, &c, NULL), 0, "%s", M.text);
	cr_expect(a < b && b < c, "%u %u %u", a, b, c);
	cr_expect_eq(fs_fh_op(FS_FSTAT, a), EBADF);
	cr_expect(strstr(M.text, "fs fstat(fh ") == M.text, "%s", M.text);
	cr_expect_eq(fs_fh_op(FS_FSTAT, 0), EBADF);
	cr_expect_eq(fs_fh_op(FS_FSTAT, 0xffffffffu), EBADF);
	cr_expect_eq(fs_fh_op(FS_FSTAT, b), 0);
}

Test(svc_fs, open_handles_are_capped_with_emfile, .timeout = 120)
{
	uint32_t fh, first = 0;
	put_file(P(0, "f"), "x");
	int n = 0, err;
	while ((err = fs_open(P(0, "f"), O_RDONLY, 0, &fh, NULL)) == 0 && n < 10000) {
		if (!first)
			first = fh;
		n++;
	}
	cr_expect_eq(err, EMFILE, "%s", M.text);
	cr_expect_leq(n, 4096);
	cr_expect_gt(n, 100);
	cr_assert_eq(fs_close(first), 0);
	cr_expect_eq(fs_open(P(0, "f"), O_RDONLY, 0, &fh, NULL), 0, "%s", M.text);
}

/* --- extended attributes --- */

static int fs_xattr_get(uint16_t op, const char *p, const char *name, uint32_t size,
			uint32_t *len, struct buf *out)
{
	struct rd rd;
	const uint8_t *v;
	size_t n;
	begin(op);
	buf_put_str(&M.req, p);
	if (name)
		buf_put_str(&M.req, name);
	buf_put_u32(&M.req, size);
	int err = call(&rd);
	if (!err) {
		cr_assert_eq(rd_u32(&rd, len), 0);
		cr_assert_eq(rd_blob(&rd, &v, &n), 0);
		cr_assert_eq(rd_end(&rd), 0);
		out->len = 0;
		buf_put_bytes(out, v, n);
	}
	return err;
}

static int fs_setxattr(const char *p, const char *name, const void *v, size_t n, uint32_t flags)
{
	begin(FS_SETXATTR);
	buf_put_str(&M.req, p);
	buf_put_str(&M.req, name);
	buf_put_blob(&M.req, v, n);
	buf_put_u32(&M.req, flags);
	return call_empty();
}

Test(svc_fs, xattrs_are_set_read_listed_and_removed)
{
	put_file(P(0, "f"), "x");
	if (lsetxattr(P(0, "f"), "user.probe", "1", 1, 0) < 0 && (errno == ENOTSUP || errno == EPERM))
		cr_skip_test("no user xattrs on %s", M.dir);
	cr_assert_eq(lremovexattr(P(0, "f"), "user.probe"), 0);
	const char val[] = "v\0alue\xff";
	size_t vn = sizeof(val) - 1;
	uint32_t len;
	struct buf out;
	buf_init(&out);
	cr_assert_eq(fs_setxattr(P(0, "f"), "user.mitofs", val, vn, 0), 0, "%s", M.text);
	char local[64];
	cr_expect_eq(lgetxattr(P(0, "f"), "user.mitofs", local, sizeof(local)), (ssize_t)vn);
	cr_expect_eq(memcmp(local, val, vn), 0);
	/* size 0: the length only */
	cr_assert_eq(fs_xattr_get(FS_GETXATTR, P(0, "f"), "user.mitofs", 0, &len, &out), 0, "%s", M.text);
	cr_expect(len == vn && out.len == 0);
	cr_assert_eq(fs_xattr_get(FS_GETXATTR, P(0, "f"), "user.mitofs", 64, &len, &out), 0, "%s", M.text);
	cr_expect(len == vn && out.len == vn && !memcmp(out.data, val, vn));
	cr_expect_eq(fs_xattr_get(FS_GETXATTR, P(0, "f"), "user.mitofs", 2, &len, &out), ERANGE);
	cr_expect_eq(fs_xattr_get(FS_GETXATTR, P(0, "f"), "user.none", 64, &len, &out), ENODATA);
	/* create and replace flags */
	cr_expect_eq(fs_setxattr(P(0, "f"), "user.mitofs", "x", 1, XATTR_CREATE), EEXIST);
	cr_expect_eq(fs_setxattr(P(0, "f"), "user.other", "x", 1, XATTR_REPLACE), ENODATA);
	cr_expect_eq(fs_setxattr(P(0, "f"), "user.other", "", 0, XATTR_CREATE), 0, "%s", M.text);
	cr_expect_eq(fs_setxattr(P(0, "f"), "user.other", "", 0, 4), EINVAL);
	/* the list is the local list */
	char names[256];
	ssize_t ln = llistxattr(P(0, "f"), names, sizeof(names));
	cr_assert_gt(ln, 0);
	cr_assert_eq(fs_xattr_get(FS_LISTXATTR, P(0, "f"), NULL, 0, &len, &out), 0, "%s", M.text);
	cr_expect(len == (uint32_t)ln && out.len == 0);
	cr_assert_eq(fs_xattr_get(FS_LISTXATTR, P(0, "f"), NULL, 256, &len, &out), 0, "%s", M.text);
	cr_expect(len == (uint32_t)ln && out.len == (size_t)ln && !memcmp(out.data, names, (size_t)ln));
	cr_expect(memmem(out.data, out.len, "user.mitofs\0", 12) && memmem(out.data, out.len, "user.other\0", 11));
	cr_expect_eq(fs_xattr_get(FS_LISTXATTR, P(0, "f"), NULL, 3, &len, &out), ERANGE);
	/* remove */
	begin(FS_REMOVEXATTR);
	buf_put_str(&M.req, P(0, "f"));
	buf_put_str(&M.req, "user.mitofs");
	cr_expect_eq(call_empty(), 0, "%s", M.text);
	cr_expect_eq(lgetxattr(P(0, "f"), "user.mitofs", local, sizeof(local)), -1);
	cr_expect_eq(errno, ENODATA);
	cr_expect_eq(call_empty(), ENODATA);
	/* on a symlink: its own attributes (user.* are refused there) */
	cr_assert_eq(symlink("f", P(0, "l")), 0);
	cr_expect_eq(fs_setxattr(P(0, "l"), "user.x", "1", 1, 0), EPERM);
	/* a name over 255 bytes */
	char longname[300];
	memset(longname, 'n', sizeof(longname) - 1);
	memcpy(longname, "user.", 5);
	longname[299] = 0;
	cr_expect_eq(fs_xattr_get(FS_GETXATTR, P(0, "f"), longname, 10, &len, &out), ERANGE);
	buf_free(&out);
}

/* --- READFILE --- */

static int fs_readfile(const char *p, uint32_t max, struct fs_attr *a, struct buf *out)
{
	struct rd rd;
	const uint8_t *v;
	size_t n;
	begin(FS_READFILE);
	buf_put_str(&M.req, p);
	buf_put_u32(&M.req, max);
	int err = call(&rd);
	if (!err) {
		cr_assert_eq(fs_attr_get(&rd, a), 0);
		cr_assert_eq(rd_blob(&rd, &v, &n), 0);
		cr_assert_eq(rd_end(&rd), 0);
		out->len = 0;
		buf_put_bytes(out, v, n);
	}
	return err;
}

Test(svc_fs, readfile_reads_proc_files_whose_size_says_zero)
{
	struct fs_attr a;
	struct buf out;
	buf_init(&out);
	cr_assert_eq(fs_readfile("/proc/self/status", 65536, &a, &out), 0, "%s", M.text);
	cr_expect_eq(a.size, 0);
	cr_expect_gt(out.len, 100);
	buf_put_u8(&out, 0);
	char want[64];
	snprintf(want, sizeof(want), "\nPid:\t%d\n", (int)M.pid);
	cr_expect(strncmp((char *)out.data, "Name:\t", 6) == 0, "%s", out.data);
	cr_expect(strstr((char *)out.data, want) != NULL, "not the stub's own status");
	/* a small max cuts it */
	cr_assert_eq(fs_readfile("/proc/self/status", 5, &a, &out), 0, "%s", M.text);
	cr_expect_eq(out.len, 5);
	cr_assert_eq(fs_readfile("/proc/self/status", 0, &a, &out), 0, "%s", M.text);
	cr_expect_eq(out.len, 0);
	buf_free(&out);
}

Test(svc_fs, readfile_follows_symlinks_and_returns_the_files_attributes)
{
	struct fs_attr a;
	struct buf out;
	struct stat st;
	buf_init(&out);
	put_file(P(0, "f"), "contents\n");
	cr_assert_eq(symlink("f", P(0, "l")), 0);
	expect_content(P(0, "f"), "contents\n"); /* atime moves now, not during the call */
	cr_assert_eq(fs_readfile(P(0, "l"), 1000, &a, &out), 0, "%s", M.text);
	cr_expect(out.len == 9 && !memcmp(out.data, "contents\n", 9));
	cr_assert_eq(stat(P(0, "f"), &st), 0);
	expect_attr(&a, &st, "readfile");
	/* larger than the first guess; more than FS_MAX_IO is cut */
	size_t n = FS_MAX_IO + 1000;
	char *big = malloc(n);
	memset(big, 'z', n);
	big[123456] = 'a';
	FILE *f = fopen(P(0, "big"), "w");
	cr_assert_eq(fwrite(big, 1, n, f), n);
	fclose(f);
	cr_assert_eq(fs_readfile(P(0, "big"), 0xffffffffu, &a, &out), 0, "%s", M.text);
	cr_expect_eq(out.len, FS_MAX_IO);
	cr_expect_eq(memcmp(out.data, big, FS_MAX_IO), 0);
	cr_expect_eq(a.size, n);
	free(big);
	cr_expect_eq(fs_readfile(M.dir, 100, &a, &out), EISDIR);
	cr_expect_eq(fs_readfile(P(0, "missing"), 100, &a, &out), ENOENT);
	/* a fifo nobody writes: empty, not a stub blocked forever */
	cr_assert_eq(mkfifo(P(0, "p"), 0600), 0);
	cr_expect_eq(fs_readfile(P(0, "p"), 100, &a, &out), 0, "%s", M.text);
	cr_expect_eq(out.len, 0);
	buf_free(&out);
}

/* --- errors --- */

Test(svc_fs, errors_carry_the_errno_and_name_the_path)
{
	struct fs_attr a;
	uint32_t fh;
	cr_expect_eq(fs_lstat(P(0, "missing"), &a), ENOENT);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "fs lstat(%s): No such file or directory", P(0, "missing"));
	cr_expect_str_eq(M.text, want);
	/* a 256-byte name */
	char name[257];
	memset(name, 'n', 256);
	name[256] = 0;
	cr_expect_eq(fs_lstat(P(0, name), &a), ENAMETOOLONG);
	cr_expect_eq(fs_open(P(0, name), O_CREAT | O_WRONLY, 0600, &fh, &a), ENAMETOOLONG);
	/* a path over FS_MAX_PATH */
	char *longp = malloc(FS_MAX_PATH + 2);
	memset(longp, 'a', FS_MAX_PATH + 1);
	longp[0] = '/';
	longp[FS_MAX_PATH + 1] = 0;
	cr_expect_eq(fs_lstat(longp, &a), ENAMETOOLONG);
	free(longp);
	/* relative paths */
	cr_expect_eq(fs_lstat("etc/passwd", &a), EINVAL);
	cr_expect(strstr(M.text, "not absolute") != NULL, "%s", M.text);
	cr_expect_eq(fs_lstat("", &a), EINVAL);
	cr_expect_eq(fs_rename(P(0, "x"), "y", 0), EINVAL);
	/* ENOTDIR in the middle */
	put_file(P(0, "f"), "");
	cr_expect_eq(fs_lstat(P(0, "f/x"), &a), ENOTDIR);
	/* handle errors */
	struct buf out;
	buf_init(&out);
	cr_expect_eq(fs_read(12345, 0, 10, &out), EBADF);
	uint32_t w;
	cr_expect_eq(fs_write(12345, 0, "x", 1, &w), EBADF);
	cr_expect_eq(fs_close(12345), EBADF);
	begin(FS_FTRUNCATE);
	buf_put_u32(&M.req, 12345);
	buf_put_u64(&M.req, 0);
	cr_expect_eq(call_empty(), EBADF);
	cr_assert_eq(fs_open(P(0, "f"), O_RDWR, 0, &fh, &a), 0, "%s", M.text);
	cr_expect_eq(fs_read(fh, 1ull << 63, 10, &out), EINVAL);
	buf_free(&out);
	/* unknown ops */
	begin(0);
	cr_expect_eq(call_empty(), EINVAL);
	begin(FS_SETCRED + 1);
	cr_expect_eq(call_empty(), EINVAL);
	begin(0xffff);
	cr_expect_eq(call_empty(), EINVAL);
}

Test(svc_fs, malformed_payloads_get_ebadmsg_and_the_stub_keeps_answering)
{
	struct rd rd;
	/* no arguments at all, for every op */
	for (uint16_t op = FS_LSTAT; op <= FS_FSTAT; op++) {
		begin(op);
		cr_expect_eq(call(&rd), EBADMSG, "op %u: %s", op, M.text);
	}
	/* trailing bytes */
	begin(FS_LSTAT);
	buf_put_str(&M.req, "/");
	buf_put_u8(&M.req, 0);
	cr_expect_eq(call(&rd), EBADMSG);
	cr_expect(strstr(M.text, "trailing") != NULL, "%s", M.text);
	begin(FS_CLOSE);
	buf_put_u32(&M.req, 1);
	buf_put_u32(&M.req, 1);
	cr_expect_eq(call(&rd), EBADMSG);
	/* a string longer than the payload */
	begin(FS_LSTAT);
	buf_put_u32(&M.req, 100);
	buf_put_bytes(&M.req, "/abc", 4);
	cr_expect_eq(call(&rd), EBADMSG);
	begin(FS_WRITE);
	buf_put_u32(&M.req, 1);
	buf_put_u64(&M.req, 0);
	buf_put_u32(&M.req, 0xffffffffu);
	cr_expect_eq(call(&rd), EBADMSG);
	/* a NUL inside a path */
	begin(FS_LSTAT);
	buf_put_blob(&M.req, "/etc\0/passwd", 12);
	cr_expect_eq(call(&rd), EBADMSG);
	/* short fixed fields */
	begin(FS_READ);
	buf_put_u32(&M.req, 1);
	buf_put_u32(&M.req, 0);
	cr_expect_eq(call(&rd), EBADMSG);
	begin(FS_UTIMENS);
	buf_put_str(&M.req, "/");
	buf_put_u64(&M.req, 0);
	cr_expect_eq(call(&rd), EBADMSG);
	/* fields out of range */
	begin(FS_OPEN);
	buf_put_str(&M.req, "/");
	buf_put_u32(&M.req, 0x80000000u);
	buf_put_u32(&M.req, 0);
	cr_expect_eq(call(&rd), EINVAL);
	begin(FS_MKDIR);
	buf_put_str(&M.req, P(0, "d"));
	buf_put_u32(&M.req, 01000000);
	cr_expect_eq(call(&rd), EINVAL);
	/* still alive, and still right */
	struct fs_attr a;
	cr_expect_eq(fs_lstat(M.dir, &a), 0, "%s", M.text);
	expect_lstat(&a, M.dir);
	cr_expect_eq(kill(M.pid, 0), 0);
}

/* --- paths past PATH_MAX --- */

static int fs_mkdir(const char *p, uint32_t mode, struct fs_attr *a)
{
	begin(FS_MKDIR);
	buf_put_str(&M.req, p);
	buf_put_u32(&M.req, mode);
	return call_attr(a);
}


Test(svc_fs, a_path_past_path_max_is_reached_from_its_directory)
{
	/* 24 levels of 200-byte names: about 4.9 KB below the test's dir. */
	char seg[201];
	memset(seg, 'd', 200);
	seg[200] = 0;
	size_t cap = strlen(M.dir) + 24 * 201 + 64;
	char *p = malloc(cap);
	cr_assert_not_null(p);
	strcpy(p, M.dir);
	int fd = open(M.dir, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 24; i++) {
		cr_assert_eq(mkdirat(fd, seg, 0755), 0);
		int next = openat(fd, seg, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
		strcat(p, "/");
		strcat(p, seg);
	}
	cr_assert_gt(strlen(p), PATH_MAX);
	size_t dl = strlen(p);
	strcat(p, "/f");
	uint32_t fh;
	struct fs_attr a;
	cr_assert_eq(fs_open(p, O_CREAT | O_WRONLY, 0640, &fh, &a), 0, "%s", M.text);
	cr_expect_eq(a.mode, S_IFREG | 0640);
	cr_expect_eq(fs_close(fh), 0);
	struct stat st;
	cr_assert_eq(fstatat(fd, "f", &st, 0), 0, "made where the path says");
	cr_expect_eq(fs_lstat(p, &a), 0, "%s", M.text);
	cr_expect_eq(a.ino, (uint64_t)st.st_ino);
	p[dl] = 0;
	cr_expect_eq(fs_mkdir(strcat(p, "/sub"), 0700, &a), 0, "%s", M.text);
	cr_expect_eq(fstatat(fd, "sub", &st, 0), 0);
	cr_expect_eq(fs_path_op(FS_RMDIR, p), 0, "%s", M.text);
	p[dl] = 0;
	cr_expect_eq(fs_path_op(FS_UNLINK, strcat(p, "/nothere")), ENOENT);
	cr_expect(strstr(M.text, "No such file") != NULL, "%s", M.text);
	close(fd);
	free(p);
}

/* --- credentials --- */

static int fs_setcred(uint32_t uid, uint32_t gid, uint32_t n, const uint32_t *groups)
{
	struct fs_cred c = { uid, gid, n, (uint32_t *)groups };
	begin(FS_SETCRED);
	fs_cred_put(&M.req, &c);
	return call_empty();
}

Test(svc_fs, setcred_makes_later_calls_act_as_that_user_and_a_bad_one_refuses)
{
	if (geteuid() != 0)
		cr_skip_test("needs a stub running as root");
	/* The user must reach the directory: the private HOME is 0700. */
	cr_assert_eq(chmod(private_home, 0711), 0);
	cr_assert_eq(chmod(M.dir, 01777), 0);
	cr_assert_eq(mkdir(P(0, "root_only"), 0700), 0);
	uint32_t g[] = { 60103 };
	struct fs_attr a;
	cr_assert_eq(fs_setcred(60101, 60101, 1, g), 0, "%s", M.text);
	cr_assert_eq(fs_mkdir(P(0, "u"), 0755, &a), 0, "%s", M.text);
	cr_expect_eq(a.uid, 60101u);
	cr_expect_eq(a.gid, 60101u);
	cr_expect_eq(fs_lstat(P(0, "root_only/x"), &a), EACCES, "%s", M.text);
	/* chgrp to a group of the list, and not to another */
	begin(FS_CHOWN);
	buf_put_str(&M.req, P(0, "u"));
	buf_put_u32(&M.req, 0xffffffffu);
	buf_put_u32(&M.req, 60103);
	cr_expect_eq(call_attr(&a), 0, "%s", M.text);
	cr_expect_eq(a.gid, 60103u);
	begin(FS_CHOWN);
	buf_put_str(&M.req, P(0, "u"));
	buf_put_u32(&M.req, 0xffffffffu);
	buf_put_u32(&M.req, 60104);
	cr_expect_eq(call_attr(NULL), EPERM, "%s", M.text);
	/* A SETCRED that does not parse: the caller is refused, not root. */
	begin(FS_SETCRED);
	buf_put_u32(&M.req, 0);
	cr_expect_eq(call_empty(), EBADMSG);
	cr_expect_eq(fs_lstat(P(0, "root_only"), &a), EPERM, "%s", M.text);
	cr_expect(strstr(M.text, "credentials") != NULL, "%s", M.text);
	/* Back to root: root's rights again. */
	cr_assert_eq(fs_setcred(0, 0, 0, NULL), 0, "%s", M.text);
	cr_expect_eq(fs_mkdir(P(0, "root_only/r"), 0755, &a), 0, "%s", M.text);
	cr_expect_eq(a.uid, 0u);
}

/* --- handles and the caller's life --- */

Test(svc_fs, handles_of_a_lost_caller_are_closed)
{
	uint32_t fh[5];
	put_file(P(0, "f"), "x");
	int before = count_fds(M.pid);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(fs_open(P(0, "f"), O_RDONLY, 0, &fh[i], NULL), 0, "%s", M.text);
	cr_expect_eq(count_fds(M.pid), before + 5);
	/* The stub learns that context 0 (us, the only caller) is gone: a
	 * DEL_ROUTE from its parent for an id it does not route. */
	struct buf b;
	buf_init(&b);
	buf_put_u32(&b, 0);
	buf_put_str(&b, "test: caller lost");
	cr_assert_eq(router_send_to(M.r, M.id, HANDLE_DEL_ROUTE, 0, b.data, b.len), 0);
	buf_free(&b);
	/* the next call is answered after the DEL_ROUTE was handled */
	for (int i = 0; i < 5; i++)
		cr_expect_eq(fs_fh_op(FS_FSTAT, fh[i]), EBADF, "handle %u survived", fh[i]);
	cr_expect_eq(count_fds(M.pid), before);
	/* new handles work, with new numbers */
	uint32_t again;
	cr_assert_eq(fs_open(P(0, "f"), O_RDONLY, 0, &again, NULL), 0, "%s", M.text);
	cr_expect_gt(again, fh[4]);
}

Test(svc_fs, shutdown_with_open_handles_exits_cleanly)
{
	uint32_t fh;
	put_file(P(0, "f"), "x");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(fs_open(P(0, "f"), O_RDWR, 0, &fh, NULL), 0, "%s", M.text);
	router_send_to(M.r, M.id, HANDLE_SHUTDOWN, 0, NULL, 0);
	run_until(&M.lost, 3000);
	cr_expect_eq(M.lost, 1);
	int status = 0;
	pid_t w = 0;
	for (int i = 0; i < 300 && w == 0; i++) {
		w = waitpid(M.pid, &status, WNOHANG);
		usleep(10000);
	}
	cr_assert_eq(w, M.pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %x", status);
	M.pid = 0;
}

/* --- the stub under valgrind --- */

/* The glibc build of the same sources (mitofs-stub-dyn) under memcheck,
 * from a copy named "mitofs:vg", started without a first stage. */
static void setup_valgrind(void)
{
	master_dir_new();
	boot_stub_valgrind(M.dir);
}

TestSuite(svc_fs_valgrind, .init = setup_valgrind, .fini = teardown, .timeout = 180);

Test(svc_fs_valgrind, every_op_runs_clean_under_memcheck)
{
	struct fs_attr a;
	struct rd rd;
	struct buf out;
	uint32_t fh, w, len;
	buf_init(&out);
	put_file(P(0, "f"), "hello");
	cr_expect_eq(fs_lstat(P(0, "f"), &a), 0, "%s", M.text);
	begin(FS_READDIR);
	buf_put_str(&M.req, M.dir);
	cr_expect_eq(call(&rd), 0, "%s", M.text);
	cr_assert_eq(fs_open(P(0, "g"), O_CREAT | O_RDWR, 0600, &fh, &a), 0, "%s", M.text);
	cr_expect_eq(fs_write(fh, 0, "abc", 3, &w), 0);
	cr_expect_eq(fs_read(fh, 0, 100, &out), 0);
	cr_expect_eq(fs_fh_op(FS_FSTAT, fh), 0);
	begin(FS_FSYNC);
	buf_put_u32(&M.req, fh);
	buf_put_u8(&M.req, 1);
	cr_expect_eq(call_empty(), 0);
	begin(FS_FTRUNCATE);
	buf_put_u32(&M.req, fh);
	buf_put_u64(&M.req, 1);
	cr_expect_eq(call_empty(), 0);
	cr_expect_eq(fs_close(fh), 0);
	begin(FS_TRUNCATE);
	buf_put_str(&M.req, P(0, "g"));
	buf_put_u64(&M.req, 0);
	cr_expect_eq(call_empty(), 0);
	begin(FS_MKDIR);
	buf_put_str(&M.req, P(0, "d"));
	buf_put_u32(&M.req, 0700);
	cr_expect_eq(call_attr(NULL), 0);
	cr_expect_eq(fs_path_op(FS_RMDIR, P(0, "d")), 0);
	cr_expect_eq(fs_rename(P(0, "g"), P(1, "h"), 1), 0);
	begin(FS_SYMLINK);
	buf_put_str(&M.req, "h");
	buf_put_str(&M.req, P(0, "l"));
	cr_expect_eq(call_attr(NULL), 0);
	char t[64];
	cr_expect_eq(fs_readlink(P(0, "l"), t, sizeof(t)), 0);
	begin(FS_LINK);
	buf_put_str(&M.req, P(0, "h"));
	buf_put_str(&M.req, P(1, "k"));
	cr_expect_eq(call_attr(NULL), 0);
	cr_expect_eq(fs_path_op(FS_UNLINK, P(0, "k")), 0);
	begin(FS_CHMOD);
	buf_put_str(&M.req, P(0, "h"));
	buf_put_u32(&M.req, 0644);
	cr_expect_eq(call_attr(NULL), 0);
	begin(FS_CHOWN);
	buf_put_str(&M.req, P(0, "h"));
	buf_put_u32(&M.req, 0xffffffffu);
	buf_put_u32(&M.req, 0xffffffffu);
	cr_expect_eq(call_attr(NULL), 0);
	cr_expect_eq(fs_utimens(P(0, "h"), 1, 2, 3, 4, NULL), 0);
	begin(FS_STATFS);
	buf_put_str(&M.req, M.dir);
	cr_expect_eq(call(&rd), 0);
	cr_expect_eq(fs_access(P(0, "h"), R_OK), 0);
	cr_expect_eq(fs_mknod(P(0, "p"), S_IFIFO | 0600, 0, NULL), 0);
	if (fs_setxattr(P(0, "h"), "user.a", "1", 1, 0) == 0) {
		cr_expect_eq(fs_xattr_get(FS_GETXATTR, P(0, "h"), "user.a", 10, &len, &out), 0);
		cr_expect_eq(fs_xattr_get(FS_LISTXATTR, P(0, "h"), NULL, 100, &len, &out), 0);
		begin(FS_REMOVEXATTR);
		buf_put_str(&M.req, P(0, "h"));
		buf_put_str(&M.req, "user.a");
		cr_expect_eq(call_empty(), 0);
	}
	cr_expect_eq(fs_readfile("/proc/self/status", 65536, &a, &out), 0);
	cr_expect_eq(fs_readfile(P(0, "f"), 65536, &a, &out), 0);
	/* errors and malformed calls answered without a leak */
	cr_expect_eq(fs_lstat(P(0, "missing"), &a), ENOENT);
	cr_expect_eq(fs_lstat("relative", &a), EINVAL);
	begin(FS_RENAME);
	buf_put_str(&M.req, "/a");
	buf_put_u32(&M.req, 1000);
	cr_expect_eq(call(&rd), EBADMSG);
	/* handles left open: one closed by a lost route, one at exit */
	cr_assert_eq(fs_open(P(0, "f"), O_RDONLY, 0, &fh, NULL), 0);
	struct buf b;
	buf_init(&b);
	buf_put_u32(&b, 0);
	buf_put_str(&b, "lost");
	router_send_to(M.r, M.id, HANDLE_DEL_ROUTE, 0, b.data, b.len);
	buf_free(&b);
	cr_expect_eq(fs_fh_op(FS_FSTAT, fh), EBADF);
	cr_assert_eq(fs_open(P(0, "f"), O_RDONLY, 0, &fh, NULL), 0);
	buf_free(&out);
	expect_memcheck_clean();
}
