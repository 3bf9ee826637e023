/*
 * test_push_send — core/push_send.c sending to the real stub (booted as
 * in test_stub.c) from a memfd source, as a parent stub passes on what it
 * keeps: on a local link the pieces go spliced from the file (the source
 * is never read), where the link compresses or a CRC is not kept they
 * are read; either way the stub's checks (CRC, order) pass and the file
 * it writes is the content; the pipes are given back once it is sent;
 * and the stub receives the pieces without fresh memory for each. A
 * sealed memfd offered to it (PUSH_LINK) is shared, not sent; an unsealed
 * one is refused and the content goes as bytes.
 * Skipped when the stub image is not built.
 *
 *   make build/mitofs build/tests/test_push_send && build/tests/test_push_send
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "private_home.h"
#include "push_send.h"
#include "sha256.h"

#define STUB_MASTER_EXTRA                                              \
	uint8_t *content;                                               \
	size_t size;                                                    \
	int fd;                      /* the memfd holding content */    \
	int reads;                   /* push_read_fn calls */           \
	long unkept;                 /* a piece whose CRC is not kept (-1) */ \
	int done, err;                                                  \
	char why[256];                                                  \
	uint32_t nres, res_id, res_err;                                 \
	bool link;                   /* offer the memfd (PUSH_LINK) */  \
	bool stranger;               /* ...to a stream of no child pid */ \
	char dir[64];
#include "stub_master.h"

static void setup(void)
{
	master_new();
	boot_stub("push");
	M.unkept = -1;
	snprintf(M.dir, sizeof(M.dir), "/tmp/mitofs-push-send.XXXXXX");
	cr_assert_not_null(mkdtemp(M.dir));
}

static void teardown(void)
{
	master_free();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", M.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", M.dir);
	free(M.content);
	if (M.fd > 0)
		close(M.fd);
}

TestSuite(push_send, .init = setup, .fini = teardown, .timeout = 60);

/* size bytes of pseudo-random content in M.content and a memfd. */
static void make_content(size_t size)
{
	M.size = size;
	M.content = malloc(size);
	cr_assert_not_null(M.content);
	uint64_t x = 0x9e3779b97f4a7c15ull + size;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		M.content[i] = (uint8_t)x;
	}
	M.fd = memfd_create("push-send-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	cr_assert_geq(M.fd, 0);
	cr_assert_eq(pwrite(M.fd, M.content, size, 0), (ssize_t)size);
}

static int src_crc(void *src, uint64_t off, size_t n, uint32_t *crc)
{
	(void)src;
	if (M.unkept >= 0 && off / PUSH_CHUNK == (uint64_t)M.unkept)
		return -ENOENT;
	*crc = (uint32_t)crc32(0L, M.content + off, (uInt)n);
	return 0;
}

static int src_read(void *src, uint64_t off, void *buf, size_t n, uint32_t *crc)
{
	(void)src;
	M.reads++;
	memcpy(buf, M.content + off, n);
	*crc = (uint32_t)crc32(0L, buf, (uInt)n);
	return 0;
}

static void on_done(void *arg, int err, const char *why, struct rd *body)
{
	(void)arg;
	M.done = 1;
	M.err = err;
	snprintf(M.why, sizeof(M.why), "%s", why ? why : "");
	const uint8_t *t;
	size_t tlen;
	if (!err)
		cr_assert(rd_u32(body, &M.nres) == 0 && M.nres == 1 && rd_u32(body, &M.res_id) == 0 &&
			  rd_u32(body, &M.res_err) == 0 && rd_blob(body, &t, &tlen) == 0,
			  "malformed PUT result");
}

/* Pushes the content to the stub itself at M.dir/name; its bytes there
 * must be the content. */
static void push_and_check(const char *name)
{
	char dst[128];
	snprintf(dst, sizeof(dst), "%s/%s", M.dir, name);
	struct buf put;
	buf_init(&put);
	cr_assert_eq(buf_put_u32(&put, 0644), 0);
	cr_assert_eq(buf_put_str(&put, dst), 0);
	cr_assert_eq(buf_put_u32(&put, 1), 0);
	cr_assert_eq(buf_put_u32(&put, 0), 0); /* depth 0: the stub itself */
	uint8_t hash[SHA256_LEN];
	sha256(M.content, M.size, hash);
	/* The stub is our own child process, as a local child is a stub's. */
	stream_set_peer_pid(router_stream_for(M.r, M.id), M.stranger ? 0 : (int)M.pid);
	struct push_send_args a = {
		.r = M.r, .peer = M.id, .hash = hash, .size = M.size, .read = src_read,
		.crc = src_crc, .fd = M.fd, .link = M.link, .put = put.data, .put_len = put.len,
		.window = 16, .done = on_done,
	};
	struct push_send *p = push_send_start(&a);
	buf_free(&put);
	cr_assert_not_null(p);
	run_until(&M.done, 30000);
	cr_assert_eq(M.done, 1, "no answer to the push");
	cr_assert_eq(M.err, 0, "push failed: %s", M.why);
	cr_assert_eq(M.res_id, M.id);
	cr_assert_eq(M.res_err, 0, "the stub could not write %s", dst);
	int fd = open(dst, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	uint8_t *got = malloc(M.size + 1);
	cr_assert_not_null(got);
	ssize_t n = read(fd, got, M.size + 1);
	close(fd);
	cr_assert_eq(n, (ssize_t)M.size, "%zd bytes written, not %zu", n, M.size);
	cr_assert(memcmp(got, M.content, M.size) == 0, "the bytes written differ");
	free(got);
}

/* Open fds of this process (the master). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* 4 MiB and a partial last piece: more pieces than the window and than
 * the stream's pipes hold at once, so the send also waits for them. */
#define SIZE ((4u << 20) + 777)
#define PIECES ((SIZE + PUSH_CHUNK - 1) / PUSH_CHUNK)

Test(push_send, a_local_link_takes_every_piece_spliced_and_intact)
{
	make_content(SIZE);
	int fds = count_fds();
	push_and_check("spliced");
	cr_assert_eq(M.reads, 0, "%d of %u pieces were read, not spliced", M.reads, PIECES);
	/* The pipes it went through are given back once all is answered:
	 * a parent would otherwise keep 4 for each of 100 children. */
	cr_assert_eq(count_fds(), fds, "fds left open by the send");
}

/* With the link's socket buffer at its smallest the stream's pipes fill
 * up while pieces are in flight: the send waits for their answers rather
 * than read the next pieces. (The socket to the stub is the only one of
 * this process: boot_local's socketpair.) */
Test(push_send, full_pipes_make_the_send_wait_not_read)
{
	make_content(SIZE);
	int small = 4096, socks = 0;
	for (int fd = 3; fd < 1024; fd++) {
		int type;
		socklen_t len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0)
			socks++;
	}
	cr_assert_geq(socks, 1, "no socket to the stub");
	int fds = count_fds();
	push_and_check("waited");
	cr_assert_eq(M.reads, 0, "%d of %u pieces were read, not spliced", M.reads, PIECES);
	cr_assert_eq(count_fds(), fds, "fds left open by the send");
}

/* The stub's minor page faults so far. */
static long stub_minflt(void)
{
	char buf[1024];
	const char *st = proc_stat(M.pid, buf, sizeof(buf));
	long flt = -1;
	cr_assert(st && sscanf(st, "%*c %*d %*d %*d %*d %*d %*u %ld", &flt) == 1);
	return flt;
}

/* Receiving: every piece is a message of just under 64 KiB, which musl
 * maps, faults in and unmaps on its own unless it is built in the
 * stream's spare buffer. Once warm, 4 MiB cost the stub 1096 page faults
 * (one per page) that way; built in the spare, under ten. */
Test(push_send, receiving_pieces_reuses_one_buffer)
{
	make_content(SIZE);
	push_and_check("warm");
	long f0 = stub_minflt();
	free(M.content);
	close(M.fd);
	M.done = 0;
	make_content(SIZE + 1); /* other content: sent again */
	push_and_check("again");
	long faults = stub_minflt() - f0;
	cr_assert_lt(faults, (long)(SIZE / 4096 / 8), "%ld page faults for %u KiB received", faults,
		     SIZE >> 10);
}

Test(push_send, a_compressing_link_reads_every_piece)
{
	make_content(SIZE);
	stream_set_compress(router_stream_for(M.r, M.id), true);
	push_and_check("read");
	cr_assert_eq(M.reads, (int)PIECES);
}

Test(push_send, a_piece_whose_crc_is_not_kept_is_read_and_the_rest_spliced)
{
	make_content(SIZE);
	M.unkept = 3;
	push_and_check("mixed");
	cr_assert_eq(M.reads, 1);
}

/* --- PUSH_LINK: the same pages, not a copy --- */

static void seal_content(void)
{
	cr_assert_eq(fcntl(M.fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW), 0);
}

/* Whether the stub holds an fd on the very file (inode) of ours. */
static bool stub_holds_our_file(void)
{
	struct stat ours, st;
	cr_assert_eq(fstat(M.fd, &ours), 0);
	char dir[64], path[320];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)M.pid);
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	bool found = false;
	for (struct dirent *de; (de = readdir(d));) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && st.st_dev == ours.st_dev && st.st_ino == ours.st_ino)
			found = true;
	}
	closedir(d);
	return found;
}

static uint64_t bytes_to_stub(void)
{
	struct stream_stats ss;
	stream_get_stats(router_stream_for(M.r, M.id), &ss);
	return ss.bytes_out;
}

Test(push_send, a_sealed_file_is_shared_with_a_local_child_not_sent)
{
	make_content(SIZE);
	seal_content();
	M.link = true;
	uint64_t b0 = bytes_to_stub();
	push_and_check("linked");
	uint64_t sent = bytes_to_stub() - b0;
	cr_assert_eq(M.reads, 0, "%d pieces were read", M.reads);
	cr_assert_lt(sent, 4096, "%llu bytes went down the link for a shared file",
		     (unsigned long long)sent);
	cr_assert(stub_holds_our_file(), "the stub keeps a file of its own, not ours");
}

Test(push_send, an_unsealed_file_is_refused_and_the_content_sent)
{
	make_content(SIZE);
	M.link = true; /* offered, but anyone could still change it */
	uint64_t b0 = bytes_to_stub();
	push_and_check("unsealed");
	cr_assert_geq(bytes_to_stub() - b0, (uint64_t)SIZE, "the content did not go as bytes");
	cr_assert(!stub_holds_our_file(), "the stub kept an unsealed file of ours");
}

Test(push_send, a_compressing_link_is_never_offered_the_file)
{
	make_content(SIZE);
	seal_content();
	M.link = true;
	stream_set_compress(router_stream_for(M.r, M.id), true);
	push_and_check("far");
	cr_assert_eq(M.reads, (int)PIECES);
	cr_assert(!stub_holds_our_file(), "a link that compresses shared the file");
}

/* The reply to one raw call: its error number. */
static int raw_err;
static void on_raw(struct router *r, const struct msg *m, void *arg)
{
	(void)r;
	struct rd rd;
	uint32_t err = 0;
	const char *t;
	size_t tl;
	rd_init(&rd, m->data, m->len);
	cr_assert_eq(proto_reply_read(&rd, &err, &t, &tl), 0, "malformed reply");
	raw_err = (int)err;
	*(int *)arg = 1;
}

/* Sends the push call in b (freed) to the stub; its error number. */
static int raw_push(struct buf *b)
{
	int got = 0;
	uint32_t h = router_add_reply(M.r, M.id, on_raw, &got, 0);
	cr_assert_neq(h, 0u);
	cr_assert_eq(router_send_to(M.r, M.id, HANDLE_CALL_SERVICE, h, b->data, b->len), 0);
	buf_free(b);
	run_until(&got, 5000);
	cr_assert_eq(got, 1, "no answer: the stub died?");
	return raw_err;
}

/* An empty piece at the end of content the stub holds whole (a linked
 * entry keeps no CRCs) is refused, and the stub lives on. */
Test(push_send, an_empty_piece_past_whole_content_is_refused)
{
	make_content(4 * PUSH_CHUNK);
	seal_content();
	M.link = true;
	push_and_check("whole");
	uint8_t hash[SHA256_LEN];
	sha256(M.content, M.size, hash);
	struct buf b;
	buf_init(&b);
	cr_assert_eq(proto_call_begin(&b, SVC_PUSH, PUSH_DATA), 0);
	cr_assert_eq(buf_put_bytes(&b, hash, SHA256_LEN), 0);
	cr_assert_eq(buf_put_u64(&b, M.size), 0);
	cr_assert_eq(buf_put_u64(&b, M.size), 0); /* off: the end */
	cr_assert_eq(buf_put_u32(&b, 0), 0);      /* the CRC of nothing */
	cr_assert_eq(buf_put_u32(&b, 0), 0);      /* an empty blob */
	cr_expect_eq(raw_push(&b), EINVAL);
	cr_assert_eq(kill(M.pid, 0), 0, "the stub is gone");
	M.done = 0;
	push_and_check("again"); /* and still serves */
}

/* A PUSH_LINK for our sealed file, as the sender makes it, with pid and
 * inode given. */
static struct buf link_call(uint32_t pid, uint64_t ino_delta)
{
	uint8_t hash[SHA256_LEN];
	sha256(M.content, M.size, hash);
	struct stat st;
	cr_assert_eq(fstat(M.fd, &st), 0);
	struct buf b;
	buf_init(&b);
	cr_assert_eq(proto_call_begin(&b, SVC_PUSH, PUSH_LINK), 0);
	cr_assert_eq(buf_put_bytes(&b, hash, SHA256_LEN), 0);
	cr_assert_eq(buf_put_u64(&b, M.size), 0);
	cr_assert_eq(buf_put_u32(&b, pid), 0);
	cr_assert_eq(buf_put_u32(&b, (uint32_t)M.fd), 0);
	cr_assert_eq(buf_put_u64(&b, (uint64_t)st.st_dev), 0);
	cr_assert_eq(buf_put_u64(&b, (uint64_t)st.st_ino + ino_delta), 0);
	return b;
}

/* The stub takes the file only from its parent process and only when it
 * is the very file named: not another inode, not another process's. */
Test(push_send, a_link_to_another_file_or_from_another_process_is_refused)
{
	make_content(SIZE);
	seal_content();
	struct buf b = link_call((uint32_t)getpid(), 1);
	cr_expect_eq(raw_push(&b), EINVAL, "another inode was taken");
	b = link_call(1, 0);
	cr_expect_eq(raw_push(&b), EPERM, "pid 1's fd was taken");
	cr_assert(!stub_holds_our_file(), "a refused link left the stub holding our file");
	b = link_call((uint32_t)getpid(), 0);
	cr_expect_eq(raw_push(&b), 0, "the right link was refused");
	cr_assert(stub_holds_our_file());
}

/* A stream whose far end is not our own child process (sudo, ssh...)
 * is never offered the file. */
Test(push_send, a_peer_that_is_not_our_child_process_is_not_offered_the_file)
{
	make_content(SIZE);
	seal_content();
	M.link = true;
	M.stranger = true;
	uint64_t b0 = bytes_to_stub();
	push_and_check("stranger");
	cr_assert_geq(bytes_to_stub() - b0, (uint64_t)SIZE, "the content did not go as bytes");
	cr_assert(!stub_holds_our_file(), "the file was shared with a stranger");
}
