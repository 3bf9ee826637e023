/*
 * test_boot — the first stage for real: the line's quoting under dash
 * (and busybox sh when installed), the asynchronous bootstrap against
 * tiny fake stubs (shell scripts gzip'd as images), the reasons of its
 * failures, the timeout, cancelling, and the stub's start-up checks.
 *
 *   make build/tests/test_boot && build/tests/test_boot --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot.h"
#include "private_home.h"
#include "buf.h"
#include "frame.h"
#include "loop.h"
#include "proto.h"
#include "stream.h"
#include "zio.h"

/* A gzip'd shell script standing in for the stub image. */
static void image_of(struct buf *img, const char *script)
{
	buf_init(img);
	cr_assert_eq(zio_gzip(img, script, strlen(script), 6), 0);
}

static void write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		cr_assert_gt(w, 0, "write: %s", strerror(errno));
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

static size_t read_all(int fd, char *out, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, out + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	out[n] = 0;
	return n;
}

/* Runs the stage line under shell sh with img on stdin (stderr too with
 * with_err); what it printed, raw, into out. */
static void stage_raw(const char *sh, const char *line, const struct buf *img, bool with_err,
		      char *out, size_t cap)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		if (with_err)
			dup2(sv[1], 2);
		execl(sh, sh, "-c", line, (char *)NULL);
		execlp(sh, sh, "-c", line, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	write_all(sv[0], img->data, img->len);
	shutdown(sv[0], SHUT_WR);
	read_all(sv[0], out, cap);
	close(sv[0]);
	int st;
	waitpid(pid, &st, 0);
}

/* Runs the stage line under shell sh with img on stdin; returns stdout
 * without the request for the image an uncached stage starts with. */
static void run_stage(const char *sh, const char *line, const struct buf *img,
		      char *out, size_t cap)
{
	stage_raw(sh, line, img, false, out, cap);
	size_t n = strlen(out);
	if (n >= 8 && memcmp(out, PROTO_NEED "0", 8) == 0)
		memmove(out, out + 8, n - 8 + 1);
}

/* s as the one image, for this machine, of an untagged (uncached) set. */
static struct boot_images one_image(const struct buf *img)
{
	struct boot_images s = { 0 };
	cr_assert_eq(boot_images_add(&s, boot_arch, img->data, img->len, 0), 0);
	return s;
}

/* The fake stub prints its NAME argument and removes its directory. */
static const char echo_name[] =
	"#!/bin/sh\nprintf '%s' \"$2\"\nrm -rf \"$1\"\n";

static const char *const tricky[] = {
	"plain",
	"it's",
	"''''",
	"a b  c",
	"$(touch /tmp/mitofs-test-pwned)`id`",
	"\"; echo x; \"",
	"'; echo x; '",
	"back\\slash",
	"new\nline",
	"*?[a]~ #;&|<>",
};

static void check_quoting(const char *sh)
{
	struct buf img;
	image_of(&img, echo_name);
	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
		char line[1024], out[1024];
		struct boot_images s = one_image(&img);
		cr_assert_eq(boot_stage_line(line, sizeof(line), &s, tricky[i]), 0);
		run_stage(sh, line, &img, out, sizeof(out));
		cr_expect_str_eq(out, tricky[i], "%s: name [%s] came out as [%s]", sh, tricky[i], out);
	}
	cr_expect_neq(access("/tmp/mitofs-test-pwned", F_OK), 0, "a name was executed");
	buf_free(&img);
}

Test(boot, stage_line_passes_any_name_as_one_word_under_dash)
{
	check_quoting("/bin/sh");
	if (access("/usr/bin/dash", X_OK) == 0)
		check_quoting("/usr/bin/dash");
}

Test(boot, stage_line_passes_any_name_as_one_word_under_busybox)
{
	const char *bb = access("/usr/bin/busybox", X_OK) == 0 ? "/usr/bin/busybox"
			 : access("/bin/busybox", X_OK) == 0 ? "/bin/busybox" : NULL;
	if (!bb)
		cr_skip_test("busybox not installed");
	/* busybox wants "sh" as its first argument */
	char wrapper[] = "/tmp/mitofs-test-bbsh.XXXXXX";
	int fd = mkstemp(wrapper);
	cr_assert_geq(fd, 0);
	dprintf(fd, "#!/bin/sh\nexec %s sh \"$@\"\n", bb);
	fchmod(fd, 0700);
	close(fd);
	check_quoting(wrapper);
	unlink(wrapper);
}

Test(boot, stage_line_rejects_empty_names_and_small_buffers)
{
	char line[1024];
	struct buf ten = { .data = (uint8_t *)"0123456789", .len = 10 };
	struct boot_images s = one_image(&ten), none = { 0 };
	cr_expect_eq(boot_stage_line(line, sizeof(line), &s, ""), -EINVAL);
	cr_expect_eq(boot_stage_line(line, sizeof(line), &s, NULL), -EINVAL);
	cr_expect_eq(boot_stage_line(line, sizeof(line), &none, "x"), -EINVAL);
	cr_assert_eq(boot_stage_line(line, sizeof(line), &s, "x"), 0);
	size_t need = strlen(line) + 1;
	cr_expect_eq(boot_stage_line(line, need, &s, "x"), 0);
	cr_expect_eq(boot_stage_line(line, need - 1, &s, "x"), -ENAMETOOLONG);
	cr_expect_eq(boot_stage_line(line, 20, &s, "x"), -ENAMETOOLONG);
	cr_expect(strlen(line) < 250, "the line stays short: %zu", strlen(line));
}

/* --- the asynchronous bootstrap --- */

struct done_rec {
	int called;
	struct stream *s;
	pid_t pid;
	int err;
	char why[8192];
};

static void on_done(struct stream *s, pid_t pid, int err, const char *why, void *arg)
{
	struct done_rec *d = arg;
	d->called++;
	d->s = s;
	d->pid = pid;
	d->err = err;
	snprintf(d->why, sizeof(d->why), "%s", why ? why : "");
}

static void run_until(struct loop *l, int *flag, int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;
	while (!*flag && loop_now_ms() < end)
		loop_once(l, 20);
}

static struct proto_config test_cfg(const char *name)
{
	struct proto_config c;
	memset(&c, 0, sizeof(c));
	c.id = 7;
	c.nparents = 2;
	c.parents[0] = 0;
	c.parents[1] = 3;
	snprintf(c.name, sizeof(c.name), "%s", name);
	return c;
}

static void reap(pid_t pid)
{
	int st;
	for (int i = 0; i < 200 && waitpid(pid, &st, WNOHANG) == 0; i++)
		usleep(10000);
}

Test(boot, bootstrap_sends_config_after_the_hello)
{
	char path[] = "/tmp/mitofs-test-cfg.XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	/* Hello, then the 28-byte header and the payload into file NAME. */
	struct buf img;
	image_of(&img, "#!/bin/sh\nrm -rf \"$1\"\nprintf 'MITOFS\\000\\001'\n"
		       "head -c 4096 > \"$2\"\n");
	struct loop *l = loop_new();
	struct proto_config c = test_cfg(path);
	struct done_rec d = { 0 };
	struct boot_job *j = boot_local(l, img.data, img.len, NULL, &c, 5000, on_done, &d);
	cr_assert_not_null(j);
	run_until(l, &d.called, 5000);
	cr_assert_eq(d.called, 1);
	cr_assert_eq(d.err, 0, "%s", d.why);
	cr_assert_not_null(d.s);
	cr_expect_gt(d.pid, 0);
	/* Close our end: head sees EOF and writes what it got. */
	stream_free(d.s);
	reap(d.pid);
	int cf = open(path, O_RDONLY);
	uint8_t got[4096];
	ssize_t n = read(cf, got, sizeof(got));
	close(cf);
	unlink(path);
	cr_assert_gt(n, FRAME_HDR_LEN);
	struct frame_hdr h;
	cr_assert_eq(frame_hdr_decode(got, (size_t)n, &h, FRAME_MAX_LEN), 0);
	cr_expect_eq(h.dst_id, 7);
	cr_expect_eq(h.src_id, 3);
	cr_expect_eq(h.auth_id, 3);
	cr_expect_eq(h.handle, HANDLE_CONFIG);
	cr_assert_eq((size_t)n, FRAME_HDR_LEN + h.len);
	struct proto_config back;
	cr_assert_eq(proto_config_decode(got + FRAME_HDR_LEN, h.len, &back), 0);
	cr_expect_eq(back.id, 7);
	cr_expect_eq(back.nparents, 2);
	cr_expect_str_eq(back.name, path);
	loop_free(l);
	buf_free(&img);
}

Test(boot, failed_stage_reports_its_stderr)
{
	struct buf img;
	image_of(&img, "#!/bin/sh\nrm -rf \"$1\"\necho 'no luck here' >&2\nexit 3\n");
	struct loop *l = loop_new();
	struct proto_config c = test_cfg("fails");
	struct done_rec d = { 0 };
	cr_assert_not_null(boot_local(l, img.data, img.len, NULL, &c, 5000, on_done, &d));
	run_until(l, &d.called, 5000);
	cr_assert_eq(d.called, 1);
	cr_expect_eq(d.err, EPROTO);
	cr_expect_null(d.s);
	cr_expect_str_eq(d.why, "bootstrap failed: EOF before hello: no luck here");
	reap(d.pid);
	loop_free(l);
	buf_free(&img);
}

Test(boot, corrupt_image_reports_gzip_error)
{
	struct buf img;
	buf_init(&img);
	buf_put_bytes(&img, "this is not gzip at all", 23);
	struct loop *l = loop_new();
	struct proto_config c = test_cfg("corrupt");
	struct done_rec d = { 0 };
	cr_assert_not_null(boot_local(l, img.data, img.len, NULL, &c, 5000, on_done, &d));
	run_until(l, &d.called, 5000);
	cr_assert_eq(d.called, 1);
	cr_expect_eq(d.err, EPROTO);
	cr_expect(strstr(d.why, "bootstrap failed: EOF before hello: ") == d.why, "%s", d.why);
	cr_expect(strstr(d.why, "gzip"), "no gzip message in: %s", d.why);
	reap(d.pid);
	loop_free(l);
	buf_free(&img);
}

Test(boot, bad_hello_fails_the_bootstrap)
{
	struct buf img;
	image_of(&img, "#!/bin/sh\nrm -rf \"$1\"\nprintf 'NOTMITOF'\nsleep 5\n");
	struct loop *l = loop_new();
	struct proto_config c = test_cfg("badhello");
	struct done_rec d = { 0 };
	cr_assert_not_null(boot_local(l, img.data, img.len, NULL, &c, 5000, on_done, &d));
	run_until(l, &d.called, 5000);
	cr_assert_eq(d.called, 1);
	cr_expect_eq(d.err, EPROTO);
	cr_expect_str_eq(d.why, "bootstrap failed: bad hello");
	reap(d.pid);
	loop_free(l);
	buf_free(&img);
}

Test(boot, silent_stage_times_out_with_its_stderr)
{
	struct buf img;
	image_of(&img, "#!/bin/sh\nrm -rf \"$1\"\necho waiting >&2\nexec sleep 30\n");
	struct loop *l = loop_new();
	struct proto_config c = test_cfg("slow");
	struct done_rec d = { 0 };
	uint64_t t0 = loop_now_ms();
	cr_assert_not_null(boot_local(l, img.data, img.len, NULL, &c, 300, on_done, &d));
	run_until(l, &d.called, 5000);
	uint64_t took = loop_now_ms() - t0;
	cr_assert_eq(d.called, 1);
	cr_expect_eq(d.err, ETIMEDOUT);
	cr_expect_str_eq(d.why, "bootstrap failed: no hello within 300 ms: waiting");
	cr_expect(took >= 300 && took < 2000, "took %lu ms", (unsigned long)took);
	/* the child was killed */
	int st;
	pid_t w = 0;
	for (int i = 0; i < 100 && w == 0; i++) {
		w = waitpid(d.pid, &st, WNOHANG);
		usleep(10000);
	}
	cr_expect_eq(w, d.pid);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	loop_free(l);
	buf_free(&img);
}

Test(boot, cancel_kills_the_child_and_never_calls_done)
{
	struct buf img;
	image_of(&img, "#!/bin/sh\nrm -rf \"$1\"\nexec sleep 30\n");
	struct loop *l = loop_new();
	struct proto_config c = test_cfg("cancelled");
	struct done_rec d = { 0 };
	struct boot_job *j = boot_local(l, img.data, img.len, NULL, &c, 5000, on_done, &d);
	cr_assert_not_null(j);
	for (int i = 0; i < 5; i++)
		loop_once(l, 10);
	boot_cancel(j);
	int st;
	pid_t w = waitpid(-1, &st, 0);
	cr_expect_gt(w, 0);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	for (int i = 0; i < 5; i++)
		loop_once(l, 10);
	cr_expect_eq(d.called, 0);
	boot_cancel(NULL);
	loop_free(l);
	buf_free(&img);
}

/* --- the stub's side --- */

Test(boot, stub_startup_proceeds_under_its_final_name)
{
	char *argv[] = { "mitofs:web1", NULL };
	cr_expect_eq(boot_stub_startup(1, argv), 0);
}

Test(boot, stub_renames_itself_in_place)
{
	/* As the kernel lays them out: one string after another. */
	char area[] = "/home/u/.cache/mitofs/stub-0123456789abcdef\0-\0web1";
	char *argv[] = { area, area + 44, area + 46, NULL };
	cr_assert_str_eq(argv[1], "-");
	cr_assert_str_eq(argv[2], "web1");
	cr_expect_eq(boot_set_cmdline(3, argv, "mitofs:web1"), 0);
	cr_expect_str_eq(area, "mitofs:web1");
	for (size_t i = strlen("mitofs:web1"); i < sizeof(area); i++)
		cr_expect_eq(area[i], 0, "byte %zu of the old command line is cleared", i);
	char comm[32] = "";
	int fd = open("/proc/self/comm", O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_gt(read(fd, comm, sizeof(comm) - 1), 0);
	close(fd);
	cr_expect_str_eq(comm, "mitofs:web1\n");
	/* Strings not one after another, or too short: left alone. */
	char a[] = "x", b[] = "y";
	char *apart[] = { a, b, NULL };
	cr_expect_eq(boot_set_cmdline(2, apart, "mitofs:web1"), -ENOSPC);
	char tight[] = "ab\0c";
	char *small[] = { tight, tight + 3, NULL };
	cr_expect_eq(boot_set_cmdline(2, small, "mitofs:web1"), -ENOSPC);
	cr_expect_str_eq(tight, "ab");
}

Test(boot, stub_startup_refuses_unexpected_argv_and_foreign_dirs)
{
	char *one[] = { "mitofs-stub", NULL };
	cr_expect_eq(boot_stub_startup(1, one), -EINVAL);
	char dir[] = "/tmp/notours.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char *foreign[] = { "/tmp/x/s", dir, "name", NULL };
	cr_expect_eq(boot_stub_startup(3, foreign), -EINVAL);
	struct stat st;
	cr_expect_eq(stat(dir, &st), 0, "a directory not made by a first stage was removed");
	rmdir(dir);
	char *noname[] = { "/tmp/mitofs.x/s", "/tmp/mitofs.x", "", NULL };
	cr_expect_eq(boot_stub_startup(3, noname), -EINVAL);
}

Test(boot, spawn_local_gives_the_stage_a_socket_and_stderr)
{
	int ep[2];
	cr_assert_eq(pipe(ep), 0);
	pid_t pid;
	int fd;
	cr_assert_eq(boot_spawn_local("read x; echo \"got $x\"; echo oops >&2", ep[1], &pid, &fd), 0);
	close(ep[1]);
	write_all(fd, "ping\n", 5);
	char out[128], err[128];
	read_all(fd, out, sizeof(out));
	read_all(ep[0], err, sizeof(err));
	cr_expect_str_eq(out, "got ping\n");
	cr_expect_str_eq(err, "oops\n");
	cr_expect(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	close(ep[0]);
	int st;
	cr_expect_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

Test(boot, cached_stub_runs_without_asking_for_the_image)
{
	char home[] = "/tmp/mitofs-test-home.XXXXXX";
	cr_assert_not_null(mkdtemp(home));
	setenv("HOME", home, 1);
	unsetenv("XDG_RUNTIME_DIR");
	struct buf img;
	image_of(&img, echo_name);
	char line[BOOT_LINE_MAX], out[256];
	struct boot_images s = { 0 };
	cr_assert_eq(boot_images_add(&s, boot_arch, img.data, img.len, 1), 0);
	const char *tag = s.img[0].tag;
	cr_assert_eq(boot_stage_line(line, sizeof(line), &s, "cached"), 0);
	/* First run: asks, unpacks, caches. */
	for (int round = 0; round < 2; round++) {
		stage_raw("/bin/sh", line, &img, false, out, sizeof(out));
		if (round == 0)
			cr_expect_str_eq(out, PROTO_NEED "0cached", "first run: [%s]", out);
		else
			cr_expect_str_eq(out, "cached", "cached run asks for nothing: [%s]", out);
	}
	char path[512];
	snprintf(path, sizeof(path), "%s/.cache/mitofs/stub-%s", home, tag);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "the stub is cached at %s", path);
	cr_expect_eq(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/.cache/mitofs", home);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700, "the cache directory is private");
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	cr_expect_eq(system(cmd), 0);
	buf_free(&img);
}

/* --- one image per arch --- */

/* The fake stub: prints its name and which build it is. */
static void build_of(struct buf *img, const char *which)
{
	char script[200];
	snprintf(script, sizeof(script), "#!/bin/sh\nprintf '%%s:%s' \"$2\"\n[ \"$1\" = - ]||rm -rf \"$1\"\n",
		 which);
	image_of(img, script);
}

Test(boot, stage_asks_for_the_image_of_the_targets_arch)
{
	struct buf ours, other;
	build_of(&ours, "ours");
	build_of(&other, "other");
	char line[BOOT_LINE_MAX], out[256];
	/* Ours second: the stage must ask for image 1 and run it. */
	struct boot_images s = { 0 };
	cr_assert_eq(boot_images_add(&s, "riscv64", other.data, other.len, 0), 0);
	cr_assert_eq(boot_images_add(&s, boot_arch, ours.data, ours.len, 0), 0);
	cr_assert_eq(boot_stage_line(line, sizeof(line), &s, "pick"), 0);
	stage_raw("/bin/sh", line, &ours, false, out, sizeof(out));
	cr_expect_str_eq(out, PROTO_NEED "1pick:ours");
	buf_free(&ours);
	buf_free(&other);
}

/* A PATH whose uname names another machine: a stage that asks it fails. */
static char *fake_uname_path(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/mitofs-test-uname.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	char f[256];
	snprintf(f, sizeof(f), "%s/uname", dir);
	FILE *o = fopen(f, "w");
	cr_assert_not_null(o);
	fputs("#!/bin/sh\necho sparc64\n", o);
	fclose(o);
	chmod(f, 0755);
	static char path[512];
	snprintf(path, sizeof(path), "%s:/usr/bin:/bin", dir);
	return path;
}

Test(boot, stage_for_a_known_arch_never_asks_uname)
{
	struct buf ours, other;
	build_of(&ours, "ours");
	build_of(&other, "other");
	char line[BOOT_LINE_MAX], out[256], dir[64];
	struct boot_images s = { 0 };
	cr_assert_eq(boot_images_add(&s, "riscv64", other.data, other.len, 0), 0);
	cr_assert_eq(boot_images_add(&s, boot_arch, ours.data, ours.len, 0), 0);
	char *old = strdup(getenv("PATH"));
	setenv("PATH", fake_uname_path(dir, sizeof(dir)), 1);
	/* Asking uname: the fake answer is refused. */
	cr_assert_eq(boot_stage_line(line, sizeof(line), &s, "pick"), 0);
	stage_raw("/bin/sh", line, &ours, true, out, sizeof(out));
	char want[128];
	snprintf(want, sizeof(want), "mitofs: unsupported arch sparc64 (have: riscv64, %s)\n", boot_arch);
	cr_expect_str_eq(out, want);
	/* Told the arch (a child on this machine): no uname, our image. */
	cr_assert_eq(boot_stage_line_arch(line, sizeof(line), &s, "pick", boot_arch), 0);
	cr_expect_null(strstr(line, "uname"), "the line runs no uname: %s", line);
	stage_raw("/bin/sh", line, &ours, true, out, sizeof(out));
	cr_expect_str_eq(out, PROTO_NEED "1pick:ours");
	cr_expect_eq(boot_stage_line_arch(line, sizeof(line), &s, "pick", "x86 64"), -EINVAL);
	setenv("PATH", old, 1);
	free(old);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
	buf_free(&ours);
	buf_free(&other);
}

Test(boot, stage_refuses_an_arch_without_an_image_naming_those_it_has)
{
	struct buf img;
	build_of(&img, "x");
	char line[BOOT_LINE_MAX], out[512], want[200];
	struct boot_images s = { 0 };
	cr_assert_eq(boot_images_add(&s, "riscv64", img.data, img.len, 0), 0);
	cr_assert_eq(boot_images_add(&s, "mips", img.data, img.len, 0), 0);
	cr_assert_eq(boot_stage_line(line, sizeof(line), &s, "far"), 0);
	stage_raw("/bin/sh", line, &img, true, out, sizeof(out));
	snprintf(want, sizeof(want), "mitofs: unsupported arch %s (have: riscv64, mips)\n",
		 boot_arch);
	cr_expect_str_eq(out, want, "nothing asked, the reason said");
	buf_free(&img);
}

Test(boot, bootstrap_uploads_the_image_the_stage_asks_for)
{
	/* Image 0 is garbage for another arch; only image 1 says hello. */
	struct buf img, junk;
	image_of(&img, "#!/bin/sh\nrm -rf \"$1\"\nprintf 'MITOFS\\000\\001'\nsleep 5\n");
	image_of(&junk, "#!/bin/sh\necho wrong image >&2\nexit 1\n");
	struct boot_images s = { 0 };
	cr_assert_eq(boot_images_add(&s, "riscv64", junk.data, junk.len, 0), 0);
	cr_assert_eq(boot_images_add(&s, boot_arch, img.data, img.len, 0), 0);
	char line[BOOT_LINE_MAX];
	struct proto_config c = test_cfg("two");
	cr_assert_eq(boot_stage_line(line, sizeof(line), &s, c.name), 0);
	int ep[2], fd;
	pid_t pid;
	cr_assert_eq(pipe2(ep, O_CLOEXEC), 0);
	cr_assert_eq(boot_spawn_local(line, ep[1], &pid, &fd), 0);
	close(ep[1]);
	struct loop *l = loop_new();
	struct done_rec d = { 0 };
	cr_assert_not_null(boot_start(l, fd, ep[0], pid, &s, &c, 5000, on_done, &d));
	run_until(l, &d.called, 5000);
	cr_assert_eq(d.called, 1);
	cr_expect_eq(d.err, 0, "%s", d.why);
	stream_free(d.s);
	kill(pid, SIGKILL);
	reap(pid);
	loop_free(l);
	buf_free(&img);
	buf_free(&junk);
}

Test(boot, cache_keeps_the_builds_of_other_daemons)
{
	char home[] = "/tmp/mitofs-test-home.XXXXXX";
	cr_assert_not_null(mkdtemp(home));
	setenv("HOME", home, 1);
	unsetenv("XDG_RUNTIME_DIR");
	/* Two daemons of other versions take turns on one target, then more
	 * builds come than the cache keeps. */
	const char *order[] = { "a", "b", "a", "b", "c", "d", "e", "f", "f" };
	struct buf imgs[6];
	for (int i = 0; i < 6; i++) {
		char which[2] = { (char)('a' + i), 0 };
		build_of(&imgs[i], which);
	}
	for (size_t r = 0; r < sizeof(order) / sizeof(order[0]); r++) {
		const struct buf *img = &imgs[order[r][0] - 'a'];
		struct boot_images s = { 0 };
		cr_assert_eq(boot_images_add(&s, boot_arch, img->data, img->len, 1), 0);
		char line[BOOT_LINE_MAX], out[256], want[64];
		cr_assert_eq(boot_stage_line(line, sizeof(line), &s, "v"), 0);
		stage_raw("/bin/sh", line, img, false, out, sizeof(out));
		bool again = r >= 2 && (r == 2 || r == 3 || r == 8);
		snprintf(want, sizeof(want), "%sv:%s", again ? "" : PROTO_NEED "0", order[r]);
		cr_expect_str_eq(out, want, "round %zu (%s): %s", r, order[r],
				 again ? "cached, no upload" : "uploaded");
		usleep(20000); /* distinct upload times for ls -t */
	}
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "test $(ls '%s/.cache/mitofs' | grep -c '^stub-') -eq %d",
		 home, BOOT_CACHE_KEEP);
	cr_expect_eq(system(cmd), 0, "the cache keeps the %d newest builds", BOOT_CACHE_KEEP);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	cr_expect_eq(system(cmd), 0);
	for (int i = 0; i < 6; i++)
		buf_free(&imgs[i]);
}
