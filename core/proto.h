/*
 * proto — handle numbers and payload layouts of every standard handle and
 * service call (docs/protocol.md is the prose version of this file).
 *
 * Layouts are sequences of big-endian fields written with buf.h:
 *   u8/u16/u32/u64  integers;  str/blob  u32 length + bytes (no NUL).
 * Every decoder checks lengths and trailing bytes. Not for: transport.
 */
#ifndef MITOFS_PROTO_H
#define MITOFS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Standard handles, numbered as in Mitogen. */
#define HANDLE_GET_MODULE     100 /* reserved: the forwarder (programs, files) */
#define HANDLE_CALL_FUNCTION  101 /* reserved */
#define HANDLE_FORWARD_LOG    102 /* u8 level, str text; to the master */
#define HANDLE_ADD_ROUTE      103 /* u32 id; child -> parent, travels up */
#define HANDLE_DEL_ROUTE      104 /* u32 id, str why; travels up and to talkers */
#define HANDLE_ALLOCATE_ID    105 /* empty -> reply u32 start, u32 count */
#define HANDLE_SHUTDOWN       106 /* empty: parent asks a stub to exit */
#define HANDLE_LOAD_MODULE    107 /* reserved */
#define HANDLE_FORWARD_MODULE 108 /* reserved */
#define HANDLE_DETACHING      109 /* reserved */
#define HANDLE_CALL_SERVICE   110 /* u16 service, u16 op, args -> reply envelope */
#define HANDLE_CONFIG         120 /* first frame to a new stub: struct proto_config */
#define HANDLE_IS_DEAD        999 /* reply_to value of a dead reply */
#define HANDLE_FIRST_REPLY   1000 /* reply handles are allocated from here */

/* The fixed token a stub writes before its first frame. */
#define PROTO_HELLO     "MITOFS\0\1"
#define PROTO_HELLO_LEN 8
/* What a first stage says, instead of a hello, when it needs an image:
 * these 7 bytes, then the index of the image it wants as one digit
 * ('0' for the first of the images its line was built with). */
#define PROTO_NEED      "MITOFS:"
#define PROTO_NEED_LEN  7

/* Limits on fields we accept from a peer. */
#define PROTO_MAX_NAME  255
#define PROTO_MAX_CMD   ((128u << 10) - 1) /* sh -c takes one argument: Linux caps it at 128 KiB */
#define PROTO_MAX_TEXT  4096
#define PROTO_MAX_KV    64

enum proto_service {
	SVC_EXEC = 1,
	SVC_SYS = 2,
	SVC_SPAWN = 3,
	SVC_FS = 4,
	SVC_PUSH = 5,
};

/*
 * push service: a file crossing the tree once per link (fs/push.c sends,
 * stub/svc_push.c keeps and passes on; core/push_send.c is the sender
 * both use). The bytes are named by their SHA-256 and kept by each hop
 * in a bounded cache.
 *  PUSH_HAVE  bytes[32] hash, u64 size -> reply body u8 have (1: the
 *             whole content is in the callee's cache).
 *  PUSH_DATA  bytes[32] hash, u64 size, u64 off, u32 crc, blob bytes ->
 *             empty reply once kept. Pieces come in order from off 0;
 *             crc is the CRC-32 (zlib's) of the piece, checked before it
 *             is kept; the last piece makes the entry whole. (The hash is
 *             the content's name, made once by the daemon: checking it at
 *             every hop would cost each stub ~5 ms of CPU per MiB.)
 *  PUSH_PUT   bytes[32] hash, u64 size, u32 mode, str dst, u32 n, then n
 *             targets: u32 depth, depth x u32 id (the path of context
 *             ids below the callee; depth 0: the callee itself) -> reply
 *             body u32 n, n x (u32 id, u32 err, str why): every target's
 *             result (id: the last of its path, or the callee's). The
 *             whole call fails with ENOENT when the content is not in the
 *             cache (evicted since PUSH_HAVE: send it again).
 *  PUSH_LINK  bytes[32] hash, u64 size, u32 pid, u32 fd, u64 dev, u64 ino
 *             -> empty reply once the callee keeps the content by opening
 *             /proc/PID/fd/FD: the caller's sealed memory file (no write,
 *             shrink or grow, ever), offered only to a local child that
 *             is the caller's own child process; the callee takes it only
 *             from its parent process (PID == getppid()) and checks that
 *             it is dev/ino, the seals and the size. Any error: the
 *             caller goes on with PUSH_HAVE and PUSH_DATA.
 */
enum proto_push_op { PUSH_HAVE = 1, PUSH_DATA = 2, PUSH_PUT = 3, PUSH_LINK = 4 };
/* Bytes per PUSH_DATA: the whole call fits 64 KiB (buf.h grows by
 * doubling), well under musl's 128 KiB, above which every allocation is a
 * mapping of its own (page faults for every piece, in every stub). */
#define PUSH_CHUNK      ((64u << 10) - 256)
#define PUSH_MAX_TARGETS 100000

/*
 * exec service.
 *  EXEC_START   str cmd, u32 event_handle, u32 timeout_s (0: none)
 *               -> reply body u32 job, u32 pid. Events go to
 *               (caller, event_handle): u32 job, u8 kind, then
 *               kind STDOUT/STDERR: the bytes (rest of payload);
 *               kind EXIT: u8 how (EXIT_CODE/EXIT_SIGNAL), u32 value.
 *  EXEC_STDIN   u32 job, blob data (empty: close stdin) -> empty reply
 *               once written to the job's pipe (flow control).
 *  EXEC_KILL    u32 job, u32 signal -> empty reply.
 *  EXEC_TIMEOUT u32 job, u32 seconds (0: cancel) -> empty reply.
 *  EXEC_FORGET  u32 job -> empty reply; kills it if running, no more events.
 */
enum proto_exec_op { EXEC_START = 1, EXEC_STDIN, EXEC_KILL, EXEC_TIMEOUT, EXEC_FORGET };
enum proto_exec_ev { EXEC_EV_STDOUT = 1, EXEC_EV_STDERR = 2, EXEC_EV_EXIT = 3 };
enum proto_exit_how { EXIT_CODE = 0, EXIT_SIGNAL = 1 };

/* sys service. SYS_INFO (no args) -> reply body u32 n, then n x (str key,
 * str value): hostname, uid, gid, user, pid, arch, kernel, os.
 * SYS_PING (no args) -> empty reply: the daemon's keepalive and rtt. */
enum proto_sys_op { SYS_INFO = 1, SYS_PING = 2 };

/* spawn service. SPAWN_CONTEXT str name, str method, u32 n, n x (str key,
 * str value) -> reply body u32 id, u32 pid. The new context is a child
 * of the callee; its ADD_ROUTE reaches the master before the reply. */
enum proto_spawn_op { SPAWN_CONTEXT = 1 };

/*
 * Reply envelope of every CALL_SERVICE: u32 err (0 or a positive errno),
 * str text (empty on success, the reason otherwise), then the body.
 */
int proto_reply_ok(struct buf *b);
int proto_reply_err(struct buf *b, int err, const char *text);
/* Reads the envelope: *err and *text (pointer into the payload, length
 * *tlen); leaves r at the body. 0 or -EBADMSG. */
int proto_reply_read(struct rd *r, uint32_t *err, const char **text, size_t *tlen);
/* An error code off the wire as an errno to hand on: Linux numbers 1 to
 * PROTO_ERRNO_MAX; anything else (0, the kernel's internal 512 and up,
 * garbage) is EIO. The kernel refuses a FUSE reply whose error is 512 or
 * more, and the caller it answers would wait for ever. */
#define PROTO_ERRNO_MAX 133 /* EHWPOISON, Linux's highest */
int proto_errno(uint32_t wire);

/* Call header: u16 service, u16 op. */
int proto_call_begin(struct buf *b, uint16_t svc, uint16_t op);

/* CONFIG: the first frame a stub receives. */
struct proto_config {
	uint32_t id;                         /* the stub's context id */
	uint32_t nparents;                   /* ancestors, master first */
	uint32_t parents[64];
	char name[PROTO_MAX_NAME + 1];
	uint8_t log_level;
	uint8_t compress; /* 1: compress large payloads to the parent */
	/* The parent sends something at least this often (pings); a stub
	 * that hears nothing for two of them takes its parent for lost.
	 * 0: the parent may stay silent (a local pipe cannot drop silently). */
	uint32_t keepalive_ms;
};
int proto_config_encode(struct buf *b, const struct proto_config *c);
int proto_config_decode(const void *p, size_t n, struct proto_config *c);

/* Key/value lists (spawn options, sys info). */
struct proto_kv {
	char *key, *val; /* owned */
};
/* Reads u32 n then n pairs into a new array (*kv, *n). Free with
 * proto_kv_free. 0, -EBADMSG, -ERANGE (n > PROTO_MAX_KV), -ENOMEM. */
int proto_kv_read(struct rd *r, struct proto_kv **kv, size_t *n);
void proto_kv_free(struct proto_kv *kv, size_t n);
/* Value for key or NULL. */
const char *proto_kv_get(const struct proto_kv *kv, size_t n, const char *key);

#endif
