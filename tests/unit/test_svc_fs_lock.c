/*
 * test_svc_fs_lock — the fs service's locks (GETLK, SETLK, LKCANCEL) in
 * the real stub (build/mitofs-stub.gz, booted as in test_svc_fs.c): OFD
 * locks that exclude this test process (a process on the "target") and
 * each other handle, flock(2) locks, waits answered when the lock comes
 * free while the stub keeps answering, cancelled waits, waits of a
 * closed handle or lost caller, malformed calls; and the glibc build
 * under valgrind with waits left pending. Skipped when the image is not
 * built.
 *
 *   make build/mitofs-stub.gz build/mitofs-stub-dyn build/tests/test_svc_fs_lock
 *   build/tests/test_svc_fs_lock --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
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
	char dir[PATH_MAX];             /* this test's directory */    \
	char file[PATH_MAX];            /* a file in it */
#include "stub_master.h"

static void master_dir_new(void)
{
	master_new();
	snprintf(M.dir, sizeof(M.dir), "%s/lk.XXXXXX", private_home);
	cr_assert_not_null(mkdtemp(M.dir));
	snprintf(M.file, sizeof(M.file), "%s/f", M.dir);
	FILE *f = fopen(M.file, "w");
	cr_assert_not_null(f);
	fputs("0123456789", f);
	cr_assert_eq(fclose(f), 0);
}

static void setup(void)
{
	(void)on_reply; /* stub_master.h's one-reply collector: slots here */
	master_dir_new();
	boot_stub("lk");
}

static void teardown(void)
{
	master_free();
	buf_free(&M.req);
	rm_scratch(M.dir);
}

TestSuite(svc_fs_lock, .init = setup, .fini = teardown, .timeout = 60);

/* --- calls, several in flight: each answer lands in its own slot --- */

struct slot {
	int got, dead;
	uint32_t err;
	struct buf body; /* after the envelope */
	char text[PROTO_MAX_TEXT + 1];
};

static void on_slot(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct slot *s = arg;
	struct rd rd;
	const char *t;
	size_t tl;
	s->got++;
	s->dead = router_msg_is_dead(m);
	if (s->dead)
		return;
	rd_init(&rd, m->data, m->len);
	cr_assert_eq(proto_reply_read(&rd, &s->err, &t, &tl), 0);
	snprintf(s->text, sizeof(s->text), "%.*s", (int)tl, t);
	s->body.len = 0;
	buf_put_bytes(&s->body, m->data + rd.off, rd_left(&rd));
}

static void begin(uint16_t op)
{
	M.req.len = 0;
	proto_call_begin(&M.req, SVC_FS, op);
}

/* Sends M.req with its answer going to s; the reply handle. */
static uint32_t send_to_slot(struct slot *s)
{
	memset(s, 0, sizeof(*s));
	uint32_t h = router_add_reply(M.r, M.id, on_slot, s, 0);
	cr_assert_neq(h, 0);
	cr_assert_eq(router_send_to(M.r, M.id, HANDLE_CALL_SERVICE, h, M.req.data, M.req.len), 0);
	return h;
}

/* Waits for s's answer: its errno, -1 when none came in ms, -2 dead. */
static int wait_slot(struct slot *s, int ms)
{
	run_until(&s->got, ms);
	if (!s->got)
		return -1;
	return s->dead ? -2 : (int)s->err;
}

/* A call answered at once: its errno (body in s). */
static int call(struct slot *s)
{
	send_to_slot(s);
	return wait_slot(s, 20000);
}

static int fs_open(const char *p, uint32_t flags, uint32_t *fh)
{
	struct slot s;
	begin(FS_OPEN);
	buf_put_str(&M.req, p);
	buf_put_u32(&M.req, flags);
	buf_put_u32(&M.req, 0);
	int err = call(&s);
	if (!err) {
		struct rd rd;
		rd_init(&rd, s.body.data, s.body.len);
		cr_assert_eq(rd_u32(&rd, fh), 0);
	}
	buf_free(&s.body);
	return err;
}

static void setlk_req(uint32_t fh, uint8_t type, uint64_t start, uint64_t len, uint8_t flags)
{
	begin(FS_SETLK);
	buf_put_u32(&M.req, fh);
	buf_put_u8(&M.req, type);
	buf_put_u64(&M.req, start);
	buf_put_u64(&M.req, len);
	buf_put_u8(&M.req, flags);
}

static int setlk(uint32_t fh, uint8_t type, uint64_t start, uint64_t len, uint8_t flags)
{
	struct slot s;
	setlk_req(fh, type, start, len, flags);
	int err = call(&s);
	if (!err)
		cr_expect_eq(s.body.len, 0, "SETLK answered with a body");
	buf_free(&s.body);
	return err;
}

struct lk {
	uint8_t type;
	uint64_t start, len;
	uint32_t pid;
};

static int getlk(uint32_t fh, uint8_t type, uint64_t start, uint64_t len, struct lk *out)
{
	struct slot s;
	begin(FS_GETLK);
	buf_put_u32(&M.req, fh);
	buf_put_u8(&M.req, type);
	buf_put_u64(&M.req, start);
	buf_put_u64(&M.req, len);
	int err = call(&s);
	if (!err) {
		struct rd rd;
		rd_init(&rd, s.body.data, s.body.len);
		cr_assert(rd_u8(&rd, &out->type) == 0 && rd_u64(&rd, &out->start) == 0 &&
			  rd_u64(&rd, &out->len) == 0 && rd_u32(&rd, &out->pid) == 0 &&
			  rd_end(&rd) == 0, "malformed GETLK reply");
	}
	buf_free(&s.body);
	return err;
}

static int close_fh(uint32_t fh)
{
	struct slot s;
	begin(FS_CLOSE);
	buf_put_u32(&M.req, fh);
	int err = call(&s);
	buf_free(&s.body);
	return err;
}

/* --- what this process (a program on the target) can take --- */

/* A classic POSIX lock by this process on [start, start+len) of M.file,
 * on a new fd (returned, or -errno). Non-blocking. */
static int local_posix(short type, off_t start, off_t len)
{
	int fd = open(M.file, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int local_flock(int op)
{
	int fd = open(M.file, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	if (flock(fd, op | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Whether a local process could take a write lock on the range now
 * (asked in a child: our own POSIX locks never conflict with us). */
static bool local_free(off_t start, off_t len)
{
	pid_t p = fork();
	cr_assert_geq(p, 0);
	if (p == 0) {
		int fd = open(M.file, O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start,
				    .l_len = len };
		_exit(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 0 : 1);
	}
	int st;
	cr_assert_eq(waitpid(p, &st, 0), p);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* --- tests --- */

Test(svc_fs_lock, a_posix_lock_excludes_a_target_process_until_unlocked)
{
	uint32_t fh;
	cr_assert_eq(fs_open(M.file, O_RDWR, &fh), 0);
	cr_assert(local_free(0, 0));
	cr_assert_eq(setlk(fh, FS_LK_WRLCK, 2, 3, 0), 0);
	cr_expect(!local_free(0, 0), "the stub's lock excludes nobody");
	cr_expect(!local_free(4, 1));
	cr_expect(local_free(5, 5), "a lock past the range conflicts");
	cr_expect_eq(local_posix(F_RDLCK, 3, 1), -EAGAIN);
	cr_assert_eq(setlk(fh, FS_LK_UNLCK, 0, 0, 0), 0);
	cr_expect(local_free(0, 0), "unlock left a lock behind");
	/* and the other way: our lock keeps the stub out */
	int fd = local_posix(F_WRLCK, 0, 0);
	cr_assert_geq(fd, 0);
	cr_expect_eq(setlk(fh, FS_LK_RDLCK, 0, 1, 0), EAGAIN);
	close(fd);
	cr_expect_eq(setlk(fh, FS_LK_RDLCK, 0, 1, 0), 0);
}

Test(svc_fs_lock, two_handles_exclude_each_other_and_a_handle_keeps_its_own)
{
	uint32_t a, b;
	cr_assert_eq(fs_open(M.file, O_RDWR, &a), 0);
	cr_assert_eq(fs_open(M.file, O_RDWR, &b), 0);
	cr_assert_eq(setlk(a, FS_LK_WRLCK, 0, 0, 0), 0);
	cr_expect_eq(setlk(b, FS_LK_RDLCK, 0, 1, 0), EAGAIN, "one stub process, yet two owners");
	cr_expect_eq(setlk(a, FS_LK_RDLCK, 0, 1, 0), 0, "a handle converts its own lock");
	cr_expect_eq(setlk(b, FS_LK_RDLCK, 0, 1, 0), 0, "read locks share");
	cr_expect_eq(setlk(b, FS_LK_WRLCK, 0, 1, 0), EAGAIN);
	/* closing a handle releases its locks */
	cr_assert_eq(close_fh(a), 0);
	cr_expect_eq(setlk(b, FS_LK_WRLCK, 0, 0, 0), 0);
}

Test(svc_fs_lock, getlk_reports_the_conflicting_lock_and_its_pid)
{
	uint32_t a, b;
	struct lk l;
	cr_assert_eq(fs_open(M.file, O_RDWR, &a), 0);
	cr_assert_eq(fs_open(M.file, O_RDWR, &b), 0);
	cr_assert_eq(getlk(b, FS_LK_WRLCK, 0, 0, &l), 0);
	cr_expect_eq(l.type, FS_LK_UNLCK);
	cr_assert_eq(setlk(a, FS_LK_RDLCK, 3, 4, 0), 0);
	cr_assert_eq(getlk(b, FS_LK_WRLCK, 0, 0, &l), 0);
	cr_expect_eq(l.type, FS_LK_RDLCK);
	cr_expect_eq(l.start, 3);
	cr_expect_eq(l.len, 4);
	cr_expect_eq(l.pid, 0xffffffffu, "an OFD lock has no pid: %u", l.pid);
	cr_assert_eq(getlk(b, FS_LK_RDLCK, 0, 0, &l), 0);
	cr_expect_eq(l.type, FS_LK_UNLCK, "read locks do not conflict");
	cr_assert_eq(getlk(a, FS_LK_WRLCK, 0, 0, &l), 0);
	cr_expect_eq(l.type, FS_LK_UNLCK, "a handle's own lock is no conflict");
	cr_assert_eq(setlk(a, FS_LK_UNLCK, 0, 0, 0), 0);
	/* a target process's lock: its pid as the target sees it */
	int fd = local_posix(F_WRLCK, 8, 2);
	cr_assert_geq(fd, 0);
	cr_assert_eq(getlk(b, FS_LK_RDLCK, 0, 0, &l), 0);
	cr_expect_eq(l.type, FS_LK_WRLCK);
	cr_expect_eq(l.start, 8);
	cr_expect_eq(l.len, 2);
	cr_expect_eq(l.pid, (uint32_t)getpid());
	close(fd);
}

Test(svc_fs_lock, flock_excludes_a_target_process_and_other_handles)
{
	uint32_t a, b;
	cr_assert_eq(fs_open(M.file, O_RDONLY, &a), 0);
	cr_assert_eq(fs_open(M.file, O_RDONLY, &b), 0);
	cr_assert_eq(setlk(a, FS_LK_WRLCK, 0, 0, FS_LK_FLOCK), 0);
	cr_expect_eq(local_flock(LOCK_SH), -EWOULDBLOCK);
	cr_expect_eq(setlk(b, FS_LK_RDLCK, 0, 0, FS_LK_FLOCK), EAGAIN);
	cr_expect(local_free(0, 0), "flock and POSIX locks are apart");
	cr_assert_eq(setlk(a, FS_LK_RDLCK, 0, 0, FS_LK_FLOCK), 0);
	cr_expect_eq(setlk(b, FS_LK_RDLCK, 0, 0, FS_LK_FLOCK), 0);
	int fd = local_flock(LOCK_SH);
	cr_expect_geq(fd, 0, "shared flock refused");
	cr_expect_eq(setlk(a, FS_LK_WRLCK, 0, 0, FS_LK_FLOCK), EAGAIN);
	if (fd >= 0)
		close(fd);
	cr_assert_eq(setlk(a, FS_LK_UNLCK, 0, 0, FS_LK_FLOCK), 0);
	cr_assert_eq(setlk(b, FS_LK_UNLCK, 0, 0, FS_LK_FLOCK), 0);
	fd = local_flock(LOCK_EX);
	cr_expect_geq(fd, 0, "unlocked flocks still held");
	if (fd >= 0)
		close(fd);
}

/* One waiting SETLK (posix, or flock) against a lock of this process. */
static void wait_is_answered_when_free(bool is_flock)
{
	uint32_t fh;
	struct slot w, s;
	cr_assert_eq(fs_open(M.file, O_RDWR, &fh), 0);
	int fd = is_flock ? local_flock(LOCK_EX) : local_posix(F_WRLCK, 0, 0);
	cr_assert_geq(fd, 0);
	setlk_req(fh, FS_LK_WRLCK, 0, 0, FS_LK_WAIT | (is_flock ? FS_LK_FLOCK : 0));
	send_to_slot(&w);
	cr_expect_eq(wait_slot(&w, 300), -1, "a wait answered while the lock is held: %s", w.text);
	/* the stub is not blocked: other calls are answered meanwhile */
	begin(FS_LSTAT);
	buf_put_str(&M.req, M.file);
	cr_expect_eq(call(&s), 0);
	buf_free(&s.body);
	struct lk l;
	cr_expect_eq(getlk(fh, FS_LK_RDLCK, 0, 0, &l), 0);
	uint64_t t0 = loop_now_ms();
	close(fd);
	cr_assert_eq(wait_slot(&w, 5000), 0, "%s", w.text);
	cr_expect_lt(loop_now_ms() - t0, 500, "the wait took long after the release");
	if (is_flock)
		cr_expect_eq(local_flock(LOCK_SH), -EWOULDBLOCK, "answered without the lock");
	else
		cr_expect(!local_free(0, 0), "answered without the lock");
	buf_free(&w.body);
}

Test(svc_fs_lock, a_waiting_posix_lock_is_answered_when_the_holder_releases)
{
	wait_is_answered_when_free(false);
}

Test(svc_fs_lock, a_waiting_flock_is_answered_when_the_holder_releases)
{
	wait_is_answered_when_free(true);
}

Test(svc_fs_lock, a_cancelled_wait_is_eintr_and_takes_nothing)
{
	uint32_t fh;
	struct slot w, c;
	cr_assert_eq(fs_open(M.file, O_RDWR, &fh), 0);
	int fd = local_posix(F_WRLCK, 0, 0);
	cr_assert_geq(fd, 0);
	setlk_req(fh, FS_LK_WRLCK, 0, 0, FS_LK_WAIT);
	uint32_t h = send_to_slot(&w);
	cr_expect_eq(wait_slot(&w, 100), -1);
	begin(FS_LKCANCEL); /* the wrong call number: nothing */
	buf_put_u32(&M.req, fh);
	buf_put_u32(&M.req, h + 1000);
	cr_expect_eq(call(&c), ENOENT, "%s", c.text);
	cr_expect_eq(w.got, 0);
	begin(FS_LKCANCEL);
	buf_put_u32(&M.req, fh);
	buf_put_u32(&M.req, h);
	cr_expect_eq(call(&c), 0, "%s", c.text);
	cr_expect_eq(wait_slot(&w, 1000), EINTR, "%s", w.text);
	close(fd);
	usleep(200 * 1000); /* past a few retries, had it kept trying */
	cr_expect(local_free(0, 0), "a cancelled wait took the lock");
	/* cancelling again: it is gone */
	begin(FS_LKCANCEL);
	buf_put_u32(&M.req, fh);
	buf_put_u32(&M.req, h);
	cr_expect_eq(call(&c), ENOENT);
	buf_free(&w.body);
	buf_free(&c.body);
}

Test(svc_fs_lock, closing_a_handle_ends_its_waits_with_ebadf)
{
	uint32_t a, b;
	struct slot w1, w2;
	cr_assert_eq(fs_open(M.file, O_RDWR, &a), 0);
	cr_assert_eq(fs_open(M.file, O_RDWR, &b), 0);
	int fd = local_posix(F_WRLCK, 0, 0);
	cr_assert_geq(fd, 0);
	setlk_req(a, FS_LK_WRLCK, 0, 0, FS_LK_WAIT);
	send_to_slot(&w1);
	setlk_req(b, FS_LK_RDLCK, 0, 0, FS_LK_WAIT);
	send_to_slot(&w2);
	cr_assert_eq(close_fh(a), 0);
	cr_expect_eq(wait_slot(&w1, 1000), EBADF, "%s", w1.text);
	cr_expect_eq(w2.got, 0, "another handle's wait ended");
	close(fd);
	cr_expect_eq(wait_slot(&w2, 5000), 0, "%s", w2.text);
	buf_free(&w1.body);
	buf_free(&w2.body);
}

Test(svc_fs_lock, waits_of_a_lost_caller_end_and_take_nothing)
{
	uint32_t fh;
	struct slot w;
	cr_assert_eq(fs_open(M.file, O_RDWR, &fh), 0);
	int fd = local_posix(F_WRLCK, 0, 0);
	cr_assert_geq(fd, 0);
	setlk_req(fh, FS_LK_WRLCK, 0, 0, FS_LK_WAIT);
	send_to_slot(&w);
	struct buf b;
	buf_init(&b);
	buf_put_u32(&b, 0);
	buf_put_str(&b, "test: caller lost");
	cr_assert_eq(router_send_to(M.r, M.id, HANDLE_DEL_ROUTE, 0, b.data, b.len), 0);
	buf_free(&b);
	struct lk l;
	cr_expect_eq(getlk(fh, FS_LK_RDLCK, 0, 0, &l), EBADF, "the handle survived");
	close(fd);
	usleep(200 * 1000);
	cr_expect(local_free(0, 0), "a lost caller's wait took the lock");
	cr_expect_eq(kill(M.pid, 0), 0);
	buf_free(&w.body);
}

Test(svc_fs_lock, bad_arguments_are_einval_or_ebadmsg_and_handles_ebadf)
{
	uint32_t fh;
	struct slot s;
	struct lk l;
	cr_assert_eq(fs_open(M.file, O_RDWR, &fh), 0);
	cr_expect_eq(setlk(fh, 3, 0, 0, 0), EINVAL);
	cr_expect_eq(setlk(fh, FS_LK_RDLCK, 0, 0, 0x80), EINVAL);
	cr_expect_eq(setlk(fh, FS_LK_RDLCK, 1ull << 63, 0, 0), EINVAL);
	cr_expect_eq(setlk(fh, FS_LK_RDLCK, 0, 1ull << 63, 0), EINVAL);
	cr_expect_eq(setlk(fh, FS_LK_RDLCK, INT64_MAX, 2, 0), EOVERFLOW);
	cr_expect_eq(setlk(fh + 1, FS_LK_RDLCK, 0, 0, 0), EBADF);
	cr_expect_eq(getlk(fh, FS_LK_UNLCK, 0, 0, &l), EINVAL);
	cr_expect_eq(getlk(fh + 1, FS_LK_RDLCK, 0, 0, &l), EBADF);
	begin(FS_SETLK); /* no flags byte */
	buf_put_u32(&M.req, fh);
	buf_put_u8(&M.req, FS_LK_RDLCK);
	buf_put_u64(&M.req, 0);
	buf_put_u64(&M.req, 0);
	cr_expect_eq(call(&s), EBADMSG);
	begin(FS_GETLK); /* a byte too many */
	buf_put_u32(&M.req, fh);
	buf_put_u8(&M.req, FS_LK_RDLCK);
	buf_put_u64(&M.req, 0);
	buf_put_u64(&M.req, 0);
	buf_put_u8(&M.req, 0);
	cr_expect_eq(call(&s), EBADMSG);
	begin(FS_LKCANCEL);
	buf_put_u32(&M.req, fh);
	cr_expect_eq(call(&s), EBADMSG);
	/* a write lock on a read-only handle, as fcntl says */
	uint32_t ro;
	cr_assert_eq(fs_open(M.file, O_RDONLY, &ro), 0);
	cr_expect_eq(setlk(ro, FS_LK_WRLCK, 0, 0, 0), EBADF);
	buf_free(&s.body);
}

/* --- the stub under valgrind --- */

static void setup_valgrind(void)
{
	master_dir_new();
	boot_stub_valgrind(M.dir);
}

TestSuite(svc_fs_lock_valgrind, .init = setup_valgrind, .fini = teardown, .timeout = 180);

Test(svc_fs_lock_valgrind, waits_cancelled_closed_lost_and_left_at_exit_run_clean)
{
	uint32_t a, b, c, d;
	struct slot w[4], s;
	struct lk l;
	cr_assert_eq(fs_open(M.file, O_RDWR, &a), 0);
	cr_assert_eq(fs_open(M.file, O_RDWR, &b), 0);
	cr_assert_eq(fs_open(M.file, O_RDWR, &c), 0);
	cr_expect_eq(setlk(a, FS_LK_WRLCK, 0, 0, 0), 0);
	cr_expect_eq(getlk(b, FS_LK_WRLCK, 0, 0, &l), 0);
	setlk_req(b, FS_LK_WRLCK, 0, 0, FS_LK_WAIT);
	uint32_t h = send_to_slot(&w[0]);
	setlk_req(c, FS_LK_WRLCK, 0, 0, FS_LK_WAIT | FS_LK_FLOCK);
	send_to_slot(&w[1]); /* taken at once: nobody holds a flock */
	cr_expect_eq(wait_slot(&w[1], 20000), 0, "%s", w[1].text);
	setlk_req(c, FS_LK_RDLCK, 0, 0, FS_LK_WAIT);
	send_to_slot(&w[2]);
	begin(FS_LKCANCEL);
	buf_put_u32(&M.req, b);
	buf_put_u32(&M.req, h);
	cr_expect_eq(call(&s), 0, "%s", s.text);
	cr_expect_eq(wait_slot(&w[0], 20000), EINTR);
	cr_expect_eq(close_fh(c), 0);
	cr_expect_eq(wait_slot(&w[2], 20000), EBADF);
	/* one wait ended by a lost route, one left at exit */
	setlk_req(b, FS_LK_WRLCK, 0, 0, FS_LK_WAIT);
	send_to_slot(&w[3]);
	struct buf lost;
	buf_init(&lost);
	buf_put_u32(&lost, 0);
	buf_put_str(&lost, "lost");
	router_send_to(M.r, M.id, HANDLE_DEL_ROUTE, 0, lost.data, lost.len);
	buf_free(&lost);
	cr_expect_eq(getlk(b, FS_LK_RDLCK, 0, 0, &l), EBADF);
	cr_assert_eq(fs_open(M.file, O_RDWR, &a), 0);
	cr_assert_eq(fs_open(M.file, O_RDWR, &d), 0);
	cr_expect_eq(setlk(a, FS_LK_WRLCK, 0, 0, 0), 0);
	setlk_req(d, FS_LK_WRLCK, 0, 0, FS_LK_WAIT);
	send_to_slot(&w[0]);
	run_until(&w[0].got, 200);
	expect_memcheck_clean();
	for (int i = 0; i < 4; i++)
		buf_free(&w[i].body);
	buf_free(&s.body);
}
