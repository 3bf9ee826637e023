/*
 * test_stub — the real stub (build/mitofs-stub.gz, next to this test's
 * directory), booted locally with boot_local under a router playing the
 * master: sys info, exec (output, stdin, kill, timeout, forget, bad
 * input), spawn of a child context, backpressure, shutdown and the
 * parent stream closing. Skipped when the image has not been built.
 *
 *   make build/mitofs-stub.gz build/tests/test_stub && build/tests/test_stub
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
#include <sys/wait.h>
#include <unistd.h>

#include "boot.h"
#include "private_home.h"
#include "buf.h"
#include "ids.h"
#include "loop.h"
#include "proto.h"
#include "router.h"
#include "stream.h"

#define STUB_MASTER_EXTRA                                              \
	uint32_t ev_handle; /* events of the current job */            \
	struct buf out, err;                                            \
	int exited, how, val;
#include "stub_master.h"

static void on_event(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	(void)arg;
	if (router_msg_is_dead(m)) {
		M.exited = -1;
		return;
	}
	struct rd rd;
	uint32_t job;
	uint8_t kind, how;
	uint32_t v;
	rd_init(&rd, m->data, m->len);
	cr_assert_eq(rd_u32(&rd, &job), 0);
	cr_assert_eq(rd_u8(&rd, &kind), 0);
	cr_assert_eq(M.exited, 0, "an event after EXIT");
	if (kind == EXEC_EV_EXIT) {
		cr_assert_eq(rd_u8(&rd, &how), 0);
		cr_assert_eq(rd_u32(&rd, &v), 0);
		cr_assert_eq(rd_end(&rd), 0);
		M.exited = 1;
		M.how = how;
		M.val = (int)v;
		return;
	}
	cr_assert(kind == EXEC_EV_STDOUT || kind == EXEC_EV_STDERR);
	struct buf *b = kind == EXEC_EV_STDOUT ? &M.out : &M.err;
	if (b->len < (1u << 16))
		buf_put_bytes(b, m->data + 5, m->len - 5);
	else
		b->len += m->len - 5; /* count only */
}

static void setup(void)
{
	master_new();
	boot_stub("unit 'one'");
	M.ev_handle = router_add_reply(M.r, M.id, on_event, NULL, ROUTER_PERSIST);
}

static void teardown(void)
{
	master_free();
	buf_free(&M.out);
	buf_free(&M.err);
}

TestSuite(stub, .init = setup, .fini = teardown, .timeout = 60);

/* Sends a raw CALL_SERVICE payload; returns the envelope's err (or -1 on
 * no reply, -2 on a dead reply) and leaves *body at the body. */
static int call_raw(uint32_t dst, const struct buf *req, struct rd *body, char *text, size_t cap)
{
	uint32_t h = router_add_reply(M.r, dst, on_reply, NULL, 0);
	M.got = 0;
	cr_assert_eq(router_send_to(M.r, dst, HANDLE_CALL_SERVICE, h, req->data, req->len), 0);
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
	snprintf(text, cap, "%.*s", (int)tl, t);
	return (int)err;
}

static uint32_t exec_start(uint32_t dst, const char *cmd, uint32_t timeout)
{
	struct buf b;
	struct rd rd;
	char text[512];
	uint32_t job, pid;
	buf_init(&b);
	proto_call_begin(&b, SVC_EXEC, EXEC_START);
	buf_put_str(&b, cmd);
	buf_put_u32(&b, M.ev_handle);
	buf_put_u32(&b, timeout);
	M.exited = 0;
	M.out.len = M.err.len = 0;
	cr_assert_eq(call_raw(dst, &b, &rd, text, sizeof(text)), 0, "%s", text);
	cr_assert_eq(rd_u32(&rd, &job), 0);
	cr_assert_eq(rd_u32(&rd, &pid), 0);
	cr_assert_eq(rd_end(&rd), 0);
	cr_assert_gt(pid, 0);
	buf_free(&b);
	return job;
}

/* EXEC op with u32 job and optional u32 / blob. */
static int exec_op(uint16_t op, uint32_t job, const uint32_t *v, const char *blob, size_t bn,
		   char *text, size_t cap)
{
	struct buf b;
	struct rd rd;
	buf_init(&b);
	proto_call_begin(&b, SVC_EXEC, op);
	buf_put_u32(&b, job);
	if (v)
		buf_put_u32(&b, *v);
	if (blob)
		buf_put_blob(&b, blob, bn);
	int rc = call_raw(M.id, &b, &rd, text, cap);
	buf_free(&b);
	return rc;
}

static long rss_kb(pid_t pid)
{
	char p[64], line[256];
	long v = -1;
	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	fclose(f);
	return v;
}

/* Processes of group pgid that are not zombies (a reaper-less init
 * leaves the killed ones as zombies). */
static int group_alive(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		char buf[512];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		const char *st = proc_stat((pid_t)atoi(e->d_name), buf, sizeof(buf));
		char state;
		int ppid, pgrp;
		if (st && sscanf(st, "%c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
		    state != 'Z')
			n++;
	}
	closedir(d);
	return n;
}

/* pid exists and is not a zombie. */
static int pid_alive(pid_t pid)
{
	char buf[512];
	const char *st = proc_stat(pid, buf, sizeof(buf));
	return st && *st != 'Z';
}

static void outstr(char *s, size_t cap)
{
	size_t n = M.out.len < cap - 1 ? M.out.len : cap - 1;
	memcpy(s, M.out.data, n);
	s[n] = 0;
}

Test(stub, runs_under_its_name_with_a_small_idle_footprint)
{
	char p[64], cmd[256] = "";
	snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)M.pid);
	FILE *f = fopen(p, "r");
	cr_assert_not_null(f);
	size_t n = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	cmd[n] = 0;
	cr_expect_str_eq(cmd, "mitofs:unit 'one'");
	long rss = rss_kb(M.pid);
	cr_expect(rss > 0 && rss < 1024, "idle RSS %ld kB", rss);
}

Test(stub, sys_info_lists_the_host_facts)
{
	struct buf b;
	struct rd rd;
	char text[256];
	buf_init(&b);
	proto_call_begin(&b, SVC_SYS, SYS_INFO);
	cr_assert_eq(call_raw(M.id, &b, &rd, text, sizeof(text)), 0, "%s", text);
	struct proto_kv *kv;
	size_t n;
	cr_assert_eq(proto_kv_read(&rd, &kv, &n), 0);
	cr_assert_eq(rd_end(&rd), 0);
	const char *keys[] = { "hostname", "uid", "gid", "user", "pid", "arch", "kernel", "os" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_expect_not_null(proto_kv_get(kv, n, keys[i]), "missing %s", keys[i]);
	char pid[16], host[256];
	snprintf(pid, sizeof(pid), "%d", (int)M.pid);
	cr_expect_str_eq(proto_kv_get(kv, n, "pid"), pid);
	gethostname(host, sizeof(host));
	cr_expect_str_eq(proto_kv_get(kv, n, "hostname"), host);
	proto_kv_free(kv, n);
	buf_free(&b);
}

Test(stub, exec_streams_output_before_the_exit_status)
{
	exec_start(M.id, "echo hello; echo oops >&2; exit 3", 0);
	run_until(&M.exited, 5000);
	cr_assert_eq(M.exited, 1);
	cr_expect_eq(M.how, EXIT_CODE);
	cr_expect_eq(M.val, 3);
	char s[64];
	outstr(s, sizeof(s));
	cr_expect_str_eq(s, "hello\n");
	cr_expect_eq(M.err.len, 5);
}

Test(stub, exec_waits_for_background_output_before_exit)
{
	exec_start(M.id, "(sleep 0.2; echo late) & echo early", 0);
	run_until(&M.exited, 5000);
	cr_assert_eq(M.exited, 1);
	char s[64];
	outstr(s, sizeof(s));
	cr_expect_str_eq(s, "early\nlate\n");
}

Test(stub, exec_stdin_is_written_and_closed_by_an_empty_blob)
{
	char text[256];
	uint32_t job = exec_start(M.id, "tr a-z A-Z", 0);
	cr_expect_eq(exec_op(EXEC_STDIN, job, NULL, "abc\n", 4, text, sizeof(text)), 0, "%s", text);
	cr_expect_eq(exec_op(EXEC_STDIN, job, NULL, "def\n", 4, text, sizeof(text)), 0, "%s", text);
	cr_expect_eq(exec_op(EXEC_STDIN, job, NULL, "", 0, text, sizeof(text)), 0, "%s", text);
	cr_expect_eq(exec_op(EXEC_STDIN, job, NULL, "x", 1, text, sizeof(text)), EPIPE);
	run_until(&M.exited, 5000);
	char s[64];
	outstr(s, sizeof(s));
	cr_expect_str_eq(s, "ABC\nDEF\n");
	cr_expect_eq(M.val, 0);
}

Test(stub, exec_kill_signals_the_whole_process_group)
{
	char text[256];
	uint32_t sig = SIGTERM;
	uint32_t job = exec_start(M.id, "sleep 30 & sleep 31", 0);
	cr_expect_eq(exec_op(EXEC_KILL, job, &sig, NULL, 0, text, sizeof(text)), 0, "%s", text);
	run_until(&M.exited, 5000); /* needs the background sleep dead too */
	cr_assert_eq(M.exited, 1);
	cr_expect_eq(M.how, EXIT_SIGNAL);
	cr_expect_eq(M.val, SIGTERM);
	sig = 0;
	cr_expect_eq(exec_op(EXEC_KILL, 999, &sig, NULL, 0, text, sizeof(text)), ESRCH);
}

Test(stub, exec_timeout_kills_with_sigkill)
{
	uint64_t t0 = loop_now_ms();
	exec_start(M.id, "trap '' TERM; sleep 30", 1);
	run_until(&M.exited, 5000);
	cr_assert_eq(M.exited, 1);
	cr_expect_eq(M.how, EXIT_SIGNAL);
	cr_expect_eq(M.val, SIGKILL);
	uint64_t took = loop_now_ms() - t0;
	cr_expect(took >= 1000 && took < 2500, "took %lu ms", (unsigned long)took);
}

Test(stub, exec_forget_stops_the_job_and_is_idempotent)
{
	char text[256];
	uint32_t job = exec_start(M.id, "sleep 30", 0);
	cr_expect_eq(exec_op(EXEC_FORGET, job, NULL, NULL, 0, text, sizeof(text)), 0);
	cr_expect_eq(exec_op(EXEC_FORGET, job, NULL, NULL, 0, text, sizeof(text)), 0);
	uint32_t sig = SIGTERM;
	cr_expect_eq(exec_op(EXEC_KILL, job, &sig, NULL, 0, text, sizeof(text)), ESRCH);
	for (int i = 0; i < 10; i++)
		loop_once(M.l, 20);
	cr_expect_eq(M.exited, 0, "a forgotten job sent events");
}

Test(stub, malformed_calls_get_error_replies)
{
	struct buf b;
	struct rd rd;
	char text[256];
	buf_init(&b);
	buf_put_u8(&b, 1); /* short call header */
	cr_expect_eq(call_raw(M.id, &b, &rd, text, sizeof(text)), EBADMSG);
	b.len = 0;
	proto_call_begin(&b, SVC_SYS, SYS_INFO);
	buf_put_u8(&b, 0); /* trailing byte */
	cr_expect_eq(call_raw(M.id, &b, &rd, text, sizeof(text)), EBADMSG);
	b.len = 0;
	proto_call_begin(&b, 99, 1);
	cr_expect_eq(call_raw(M.id, &b, &rd, text, sizeof(text)), EINVAL);
	b.len = 0;
	proto_call_begin(&b, SVC_EXEC, 42);
	cr_expect_eq(call_raw(M.id, &b, &rd, text, sizeof(text)), EINVAL);
	b.len = 0;
	proto_call_begin(&b, SVC_EXEC, EXEC_START);
	buf_put_str(&b, "true");
	buf_put_u32(&b, 5); /* not a reply handle */
	buf_put_u32(&b, 0);
	cr_expect_eq(call_raw(M.id, &b, &rd, text, sizeof(text)), EINVAL);
	b.len = 0;
	proto_call_begin(&b, SVC_EXEC, EXEC_START);
	buf_put_u32(&b, 1000); /* blob longer than the payload */
	cr_expect_eq(call_raw(M.id, &b, &rd, text, sizeof(text)), EBADMSG);
	b.len = 0;
	proto_call_begin(&b, SVC_SPAWN, SPAWN_CONTEXT);
	buf_put_str(&b, "x");
	buf_put_str(&b, "local");
	buf_put_u32(&b, 1000); /* too many kv pairs */
	cr_expect_eq(call_raw(M.id, &b, &rd, text, sizeof(text)), ERANGE);
	buf_free(&b);
	/* still alive */
	exec_start(M.id, "true", 0);
	run_until(&M.exited, 5000);
	cr_expect_eq(M.exited, 1);
}

static int spawn(uint32_t via, const char *name, const char *method, uint32_t *id, uint32_t *pid,
		 char *text, size_t cap)
{
	struct buf b;
	struct rd rd;
	buf_init(&b);
	proto_call_begin(&b, SVC_SPAWN, SPAWN_CONTEXT);
	buf_put_str(&b, name);
	buf_put_str(&b, method);
	buf_put_u32(&b, 0);
	int rc = call_raw(via, &b, &rd, text, cap);
	if (rc == 0) {
		cr_assert_eq(rd_u32(&rd, id), 0);
		cr_assert_eq(rd_u32(&rd, pid), 0);
		cr_assert_eq(rd_end(&rd), 0);
	}
	buf_free(&b);
	return rc;
}

Test(stub, spawn_rejects_unknown_methods)
{
	char text[256];
	uint32_t id, pid;
	cr_expect_eq(spawn(M.id, "kid", "teleport", &id, &pid, text, sizeof(text)), ENOENT);
	cr_expect(strncmp(text, "unknown method 'teleport' (known: local, ", 41) == 0, "%s", text);
}

Test(stub, spawn_local_starts_a_routed_child_context)
{
	char text[512];
	uint32_t kid, kpid;
	cr_assert_eq(spawn(M.id, "kid", "local", &kid, &kpid, text, sizeof(text)), 0, "%s", text);
	cr_expect_gt(kid, M.id);
	/* ADD_ROUTE arrived before the reply */
	cr_expect_not_null(router_stream_for(M.r, kid));
	struct router_stats st;
	router_get_stats(M.r, &st);
	cr_expect_eq(st.routes, 2);
	uint32_t eh = M.ev_handle;
	M.ev_handle = router_add_reply(M.r, kid, on_event, NULL, ROUTER_PERSIST);
	exec_start(kid, "echo from kid", 0);
	run_until(&M.exited, 5000);
	char s[64];
	outstr(s, sizeof(s));
	cr_expect_str_eq(s, "from kid\n");
	/* a grandchild, with an id from the kid's own block */
	uint32_t gg, gpid;
	cr_assert_eq(spawn(kid, "gg", "local", &gg, &gpid, text, sizeof(text)), 0, "%s", text);
	cr_expect_neq(gg, kid);
	cr_expect_not_null(router_stream_for(M.r, gg));
	M.ev_handle = eh;
	/* closing our stream to the stub takes the whole subtree down */
	router_close_child(M.r, M.id, "test over");
	int status;
	uint64_t t0 = loop_now_ms();
	while (waitpid(M.pid, &status, WNOHANG) == 0 && loop_now_ms() - t0 < 3000)
		usleep(10000);
	for (int i = 0; i < 100 && (pid_alive((pid_t)kpid) || pid_alive((pid_t)gpid)); i++)
		usleep(10000);
	cr_expect(!pid_alive((pid_t)kpid), "kid still alive");
	cr_expect(!pid_alive((pid_t)gpid), "grandchild still alive");
	M.pid = 0;
}

Test(stub, shutdown_kills_jobs_and_exits_cleanly)
{
	exec_start(M.id, "sleep 30 & sleep 31", 0);
	uint32_t jobpid;
	{
		struct rd rd;
		rd_init(&rd, M.reply.data, M.reply.len);
		uint32_t e, j;
		const char *t;
		size_t tl;
		proto_reply_read(&rd, &e, &t, &tl);
		rd_u32(&rd, &j);
		rd_u32(&rd, &jobpid);
	}
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
	int alive = 1;
	for (int i = 0; i < 100 && (alive = group_alive((pid_t)jobpid)); i++)
		usleep(10000);
	cr_expect_eq(alive, 0, "the job's process group survived");
	M.pid = 0;
}

Test(stub, output_is_paused_while_the_parent_stream_is_full)
{
	/* We stop reading: the stub must stop reading the job's pipe at its
	 * high-water mark (the job then blocks), not buffer all 40 MB. */
	struct stream *s = router_stream_for(M.r, M.id);
	cr_assert_not_null(s);
	exec_start(M.id, "head -c 40000000 /dev/zero", 0);
	stream_pause(s, true);
	uint64_t t0 = loop_now_ms();
	while (loop_now_ms() - t0 < 1000)
		loop_once(M.l, 20);
	long held = rss_kb(M.pid);
	cr_expect(held > 0 && held < 12 * 1024, "stub RSS reached %ld kB", held);
	cr_expect_eq(M.exited, 0);
	stream_pause(s, false);
	long maxrss = held;
	t0 = loop_now_ms();
	while (!M.exited && loop_now_ms() - t0 < 30000) {
		loop_once(M.l, 20);
		long r = rss_kb(M.pid);
		if (r > maxrss)
			maxrss = r;
	}
	cr_assert_eq(M.exited, 1);
	cr_expect_eq(M.out.len, 40000000);
	cr_expect(maxrss < 12 * 1024, "stub RSS reached %ld kB", maxrss);
}

/* --- the stub under valgrind --- */

/* The same master, but the stub runs under valgrind from a copy named
 * "mitofs:vg" (as the first stage would name it), without a first stage:
 * it says hello at once. It is the glibc build of the same sources
 * (mitofs-stub-dyn): memcheck cannot see malloc in a static binary. */
static void setup_valgrind(void)
{
	master_new();
	boot_stub_valgrind(private_home);
	M.ev_handle = router_add_reply(M.r, M.id, on_event, NULL, ROUTER_PERSIST);
}

TestSuite(stub_valgrind, .init = setup_valgrind, .fini = teardown, .timeout = 120);

Test(stub_valgrind, exec_sys_and_shutdown_run_clean_under_memcheck)
{
	struct buf b;
	struct rd rd;
	char text[256];
	buf_init(&b);
	proto_call_begin(&b, SVC_SYS, SYS_INFO);
	cr_assert_eq(call_raw(M.id, &b, &rd, text, sizeof(text)), 0, "%s", text);
	for (int i = 0; i < 3; i++) {
		exec_start(M.id, "echo out; echo err >&2; exit 3", 0);
		run_until(&M.exited, 30000);
		cr_assert_eq(M.exited, 1);
	}
	/* A malformed call must be answered, not crash or leak. */
	b.len = 0;
	proto_call_begin(&b, SVC_EXEC, EXEC_START);
	buf_put_u32(&b, 1000000);
	cr_expect_neq(call_raw(M.id, &b, &rd, text, sizeof(text)), 0);
	buf_free(&b);
	expect_memcheck_clean();
}
