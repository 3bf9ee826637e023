/*
 * stub_master — the master side of unit tests that boot the real stub
 * (test_stub.c, test_svc_fs.c): a loop and a router with id 0 answering
 * FORWARD_LOG and ALLOCATE_ID, the stub booted from $(B)/mitofs-stub.gz
 * next to the test binary (or the glibc build under valgrind), replies
 * collected in M. Each test runs in its own process, hence one M.
 *
 * Include it after defining STUB_MASTER_EXTRA as the test's own fields
 * of M (may be empty). Needs private_home.h included before.
 */
#ifndef MITOFS_TEST_STUB_MASTER_H
#define MITOFS_TEST_STUB_MASTER_H

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot.h"
#include "buf.h"
#include "ids.h"
#include "loop.h"
#include "proto.h"
#include "router.h"
#include "stream.h"

static struct {
	struct loop *l;
	struct router *r;
	struct ids_master ids;
	struct buf image;
	uint32_t id; /* the stub's context id */
	pid_t pid;
	int booted;
	int boot_err;
	char boot_why[4096];
	int got, dead;     /* last reply */
	struct buf reply;
	int lost;          /* routes lost */
	STUB_MASTER_EXTRA
} M;

static void on_boot(struct stream *s, pid_t pid, int err, const char *why, void *arg)
{
	(void)arg;
	M.booted = 1;
	M.boot_err = err;
	M.pid = pid;
	snprintf(M.boot_why, sizeof(M.boot_why), "%s", why ? why : "");
	if (s)
		cr_assert_eq(router_add_child(M.r, s, M.id), 0);
}

/* (Not every test sends calls of its own: unused there.) */
__attribute__((unused)) static void on_reply(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	(void)arg;
	M.got = 1;
	M.dead = router_msg_is_dead(m);
	M.reply.len = 0;
	buf_put_bytes(&M.reply, m->data, m->len);
}

static void on_alloc(struct router *r, const struct msg *m, void *arg)
{
	(void)arg;
	uint32_t start;
	cr_assert_eq(ids_master_alloc(&M.ids, IDS_BLOCK, &start), 0);
	uint8_t b[8];
	be32_put(b, start);
	be32_put(b + 4, IDS_BLOCK);
	router_reply(r, m, b, sizeof(b));
}

static void on_log(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	(void)arg;
	struct rd rd;
	uint8_t lvl;
	const uint8_t *t;
	size_t n;
	rd_init(&rd, m->data, m->len);
	cr_expect(rd_u8(&rd, &lvl) == 0 && rd_blob(&rd, &t, &n) == 0 && rd_end(&rd) == 0,
		  "malformed FORWARD_LOG from %u", m->src_id);
}

static void on_lost(struct router *r, uint32_t id, const char *why, void *arg)
{
	(void)r;
	(void)id;
	(void)why;
	(void)arg;
	M.lost++;
}

static const struct router_ops master_ops = { .on_route_lost = on_lost };

static void run_until(int *flag, int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;
	while (!*flag && loop_now_ms() < end)
		loop_once(M.l, 20);
}

/* "$(B)/NAME" for the build directory this test binary lives in. */
static void build_file(char *out, size_t cap, const char *name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert_gt(n, 0);
	self[n] = 0;
	snprintf(out, cap, "%s/../%s", dirname(self), name); /* $(B)/tests/.. */
}

/* A fresh M with its loop and router; the stub's id taken. */
static void master_new(void)
{
	memset(&M, 0, sizeof(M));
	signal(SIGPIPE, SIG_IGN);
	M.l = loop_new();
	M.r = router_new(M.l, 0, &master_ops, NULL);
	cr_assert(M.l && M.r);
	ids_master_init(&M.ids);
	router_add_handler(M.r, HANDLE_FORWARD_LOG, on_log, NULL, 0);
	router_add_handler(M.r, HANDLE_ALLOCATE_ID, on_alloc, NULL, 0);
	cr_assert_eq(ids_master_alloc(&M.ids, 1, &M.id), 0);
}

static struct proto_config stub_config(const char *name)
{
	struct proto_config c;
	memset(&c, 0, sizeof(c));
	c.id = M.id;
	c.nparents = 1;
	snprintf(c.name, sizeof(c.name), "%s", name);
	return c;
}

static void wait_booted(int ms)
{
	run_until(&M.booted, ms);
	cr_assert_eq(M.booted, 1);
	cr_assert_eq(M.boot_err, 0, "%s", M.boot_why);
}

/* Boots the stub image through the first stage, as a context NAME. */
static void boot_stub(const char *name)
{
	char path[PATH_MAX + 32], tmp[65536];
	build_file(path, sizeof(path), "mitofs-stub.gz");
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		cr_skip_test("no stub image at %s (make build/mitofs-stub.gz)", path);
	ssize_t n;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_put_bytes(&M.image, tmp, (size_t)n);
	close(fd);
	struct proto_config c = stub_config(name);
	cr_assert_not_null(boot_local(M.l, M.image.data, M.image.len, NULL, &c, 10000, on_boot, NULL));
	wait_booted(15000);
}

/* Boots the glibc build of the stub (mitofs-stub-dyn) under memcheck,
 * from a copy named "mitofs:vg" in dir (as the first stage would name
 * it), without a first stage: it says hello at once. memcheck cannot
 * follow malloc in the static musl build. (Unused by some tests.) */
__attribute__((unused)) static void boot_stub_valgrind(const char *dir)
{
#ifdef __SANITIZE_ADDRESS__
	cr_skip_test("valgrind cannot run an ASan build (make test runs this one)");
#endif
	if (access("/usr/bin/valgrind", X_OK) != 0)
		cr_skip_test("valgrind not installed");
	char src[PATH_MAX + 32], copy[PATH_MAX + 16], cmd[2 * PATH_MAX + 64];
	build_file(src, sizeof(src), "mitofs-stub-dyn");
	snprintf(copy, sizeof(copy), "%s/mitofs:vg", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, copy);
	if (access(src, R_OK) != 0 || system(cmd) != 0)
		cr_skip_test("no stub binary at %s", src);
	char *argv[] = { "valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
			 "--errors-for-leak-kinds=definite", "--track-fds=no", copy, NULL };
	int fd, ep[2];
	pid_t pid;
	cr_assert_eq(pipe2(ep, O_CLOEXEC), 0);
	cr_assert_eq(boot_spawn_argv(argv, NULL, NULL, ep[1], NULL, &pid, &fd), 0);
	close(ep[1]);
	struct proto_config c = stub_config("vg");
	static const uint8_t none = 0;
	struct boot_images imgs = { 0 };
	cr_assert_eq(boot_images_add(&imgs, boot_arch, &none, 1, 0), 0);
	cr_assert_not_null(boot_start(M.l, fd, ep[0], pid, &imgs, &c, 60000, on_boot, NULL));
	wait_booted(60000);
}

/* Removes a test's scratch directory (never across a mount); "" is none. */
/* /proc/PID/stat into buf: the fields after "(comm) ", the state first;
 * NULL when the process is gone. */
static inline const char *proc_stat(pid_t pid, char *buf, size_t cap)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return NULL;
	size_t k = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[k] = 0;
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' ? rp + 2 : NULL;
}

static inline void rm_scratch(const char *dir)
{
	if (!dir[0])
		return;
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* Ends a stub run under valgrind: EOF on its parent stream makes it
 * exit, and memcheck's verdict is its exit status (99 on any error or
 * definite leak). */
static inline void expect_memcheck_clean(void)
{
	router_close_child(M.r, M.id, "test over");
	int st = 0;
	pid_t pid = M.pid;
	M.pid = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "memcheck: status %d (99: errors)", st);
}

/* Kills the stub (if still there) and frees the master's side. */
static void master_free(void)
{
	if (M.pid > 0)
		kill(M.pid, SIGKILL);
	router_free(M.r);
	loop_free(M.l);
	buf_free(&M.image);
	buf_free(&M.reply);
}

#endif
