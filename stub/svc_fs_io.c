/*
 * svc_fs_io — the fs service's open files: open (with create), read,
 * write, close, fsync, ftruncate, fstat, and READFILE (a small file in one
 * call). Handles belong to the context that opened them (svc_fs.c keeps
 * the table). Not for: path operations (svc_fs.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsproto.h"
#include "log.h"
#include "proto.h"
#include "router.h"
#include "stream.h"
#include "svc_fs.h"
#include "svc_fs_int.h"
#include "zio.h"

ssize_t read_at(int fd, uint8_t *p, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(fd, p + got, n - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == ESPIPE && got == 0) {
			do
				k = read(fd, p, n);
			while (k < 0 && errno == EINTR);
			return k < 0 ? -errno : k;
		}
		if (k < 0)
			return got ? (ssize_t)got : -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* Writes n bytes at off (where it stands on a pipe), looping over short
 * writes. The count (short only after an error) or -errno. */
ssize_t write_at(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	size_t done = 0;
	bool stream = false;
	do {
		ssize_t k = stream ? write(fd, p + done, n - done)
				   : pwrite(fd, p + done, n - done, (off_t)(off + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == ESPIPE && !stream) {
			stream = true;
			continue;
		}
		if (k < 0)
			return done ? (ssize_t)done : -errno;
		if (k == 0)
			break;
		done += (size_t)k;
	} while (done < n);
	return (ssize_t)done;
}

/* --- ops: paths --- */

int op_readfile(struct call *c)
{
	uint32_t max;
	int rc;
	if ((rc = args_path_u32(c, &max)))
		return rc;
	if (max > FS_MAX_IO)
		max = FS_MAX_IO;
	/* Follows symlinks, as cat does; attr is the file read. */
	int fd = openat(c->d1, c->n1, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	rc = fstat(fd, &st) < 0 ? -errno : 0;
	/* O_NONBLOCK means nothing to a regular file's reads: only other
	 * kinds (block devices) have it taken off, two syscalls saved. */
	if (!rc && !S_ISREG(st.st_mode))
		rc = fd_settle(fd, &st, false);
	if (!rc && S_ISDIR(st.st_mode))
		rc = -EISDIR;
	if (rc || (rc = put_stat(&c->out, &st, fd, NULL)))
		goto out;
	size_t at = c->out.len, got = 0;
	if ((rc = buf_put_u32(&c->out, 0)))
		goto out;
	/* st_size is a hint only: /proc files say 0, files shrink. One byte
	 * more than it says leaves room for a read that sees EOF. */
	size_t room = S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < max
		? (size_t)st.st_size + 1 : (max < FS_READFILE_FIRST ? max : FS_READFILE_FIRST);
	while (got < max) {
		if (got == room)
			room = room < max / 2 ? room * 2 : max;
		if ((rc = buf_reserve(&c->out, room - got)))
			goto out;
		ssize_t k = read(fd, c->out.data + c->out.len, room - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			if (!got)
				rc = -errno;
			break;
		}
		if (k == 0)
			break;
		c->out.len += (size_t)k;
		got += (size_t)k;
		/* All that fstat said: the file as it was then (one read
		 * less than waiting for EOF). A file that says 0 (/proc) is
		 * read to its end. */
		if (S_ISREG(st.st_mode) && st.st_size > 0 && got == (uint64_t)st.st_size)
			break;
	}
	if (!rc)
		be32_put(c->out.data + at, (uint32_t)got);
out:
	close(fd);
	return rc;
}

int op_open(struct call *c)
{
	uint32_t wflags, mode;
	int rc, flags;
	if ((rc = arg_path(c, &c->p1)))
		return rc;
	if (rd_u32(c->a, &wflags) || rd_u32(c->a, &mode))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	if (open_flags_local(wflags, &flags) < 0)
		return bad(c, -EINVAL, "unknown or unsupported open flags");
	if (mode > FS_MODE_MAX)
		return bad(c, -EINVAL, "mode out of range");
	if (c->f->fhs.used >= SVC_FS_MAX_HANDLES)
		return bad(c, -EMFILE, "too many open handles in this context");
	if (!c->f->next_fh)
		return bad(c, -EMFILE, "handle numbers exhausted");
	mode_t old = umask(0); /* the caller's umask is applied already */
	int fd = openat(c->d1, c->n1, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			(mode_t)(mode & 07777));
	umask(old);
	if (fd < 0)
		return -errno;
	struct stat st;
	rc = fstat(fd, &st) < 0 ? -errno : fd_settle(fd, &st, flags & O_NONBLOCK);
	if (rc) {
		close(fd);
		return rc;
	}
	uint32_t id = fh_add(c, fd, &rc);
	if (!id)
		return rc;
	((struct fh *)map_get(&c->f->fhs, id))->regular = S_ISREG(st.st_mode);
	c->opened = id;
	if ((rc = buf_put_u32(&c->out, id)))
		return rc;
	return put_stat(&c->out, &st, fd, NULL);
}

/* Reads from this size on are spliced: below it, copying costs less
 * than the pipe's extra syscalls. */
#define SPLICE_MIN (64u << 10)

/* A read whose bytes go from the target's page cache to the caller's
 * stream through a pipe, never copied by the stub: pread, the write to
 * the pipe and the queue (for what the pipe did not take) were three
 * copies of every byte. 0 once the reply is sent (c->replied), or
 * -ENOTSUP where it does not apply, for op_read to read: the reply goes
 * by a transport or to ourselves, the bytes would compress (a sample of
 * the first 4 KiB says; what does not go compressed on a compressing
 * stream must look random), the stream's pipes are busy or too small,
 * the file is not one splice takes. A read error is left to pread to
 * report. */
static int read_spliced(struct call *c, struct fh *h, uint64_t off, uint32_t size)
{
	struct stream *s = c->reply_to ? router_stream_for(c->f->r, c->caller) : NULL;
	if (!s || size < SPLICE_MIN)
		return -ENOTSUP;
	if (stream_compresses(s)) {
		uint8_t sample[4096];
		ssize_t n;
		do
			n = pread(h->fd, sample, sizeof(sample), (off_t)off);
		while (n < 0 && errno == EINTR);
		if (n <= 0 || !zio_looks_random(sample, (size_t)n))
			return -ENOTSUP;
	}
	ssize_t k = stream_splice_in(s, h->fd, off, size);
	if (k < 0)
		return -ENOTSUP;
	int rc = buf_put_u32(&c->out, (uint32_t)k);
	if (rc) {
		stream_splice_drop(s);
		return rc;
	}
	uint32_t me = router_id(c->f->r);
	struct msg m = { .dst_id = c->caller, .src_id = me, .auth_id = me, .handle = c->reply_to,
			 .data = c->out.data, .len = (uint32_t)c->out.len };
	if ((rc = stream_send_spliced(s, &m, (size_t)k)) < 0)
		log_warn("fs read: reply to %u lost: %s", c->caller, strerror(-rc));
	c->replied = true;
	return 0;
}

int op_read(struct call *c)
{
	uint64_t off;
	uint32_t size;
	int rc;
	if (arg_fh(c) || rd_u64(c->a, &off) || rd_u32(c->a, &size))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	struct fh *h;
	if ((rc = fh_find(c, &h)))
		return rc;
	if (off > INT64_MAX)
		return bad(c, -EINVAL, "offset out of range");
	if (size > FS_MAX_IO)
		size = FS_MAX_IO;
	if (h->regular && (rc = read_spliced(c, h, off, size)) != -ENOTSUP)
		return rc;
	size_t at = c->out.len;
	if ((rc = buf_put_u32(&c->out, 0)) || (rc = buf_reserve(&c->out, size)))
		return rc;
	ssize_t n = read_at(h->fd, c->out.data + c->out.len, size, off);
	if (n < 0)
		return (int)n;
	be32_put(c->out.data + at, (uint32_t)n);
	c->out.len += (size_t)n;
	return 0;
}

int op_write(struct call *c)
{
	uint64_t off;
	const uint8_t *p;
	size_t n;
	int rc;
	if (arg_fh(c) || rd_u64(c->a, &off) || rd_blob(c->a, &p, &n))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	struct fh *h;
	if ((rc = fh_find(c, &h)))
		return rc;
	if (off > INT64_MAX)
		return bad(c, -EINVAL, "offset out of range");
	if (n > FS_MAX_IO)
		n = FS_MAX_IO; /* the count tells the caller where to go on */
	ssize_t w = write_at(h->fd, p, n, off);
	return w < 0 ? (int)w : buf_put_u32(&c->out, (uint32_t)w);
}

int op_close(struct call *c)
{
	int rc;
	if ((rc = arg_fh(c)) || (rc = args_end(c)))
		return rc;
	struct fh *h;
	if ((rc = fh_find(c, &h)))
		return rc;
	map_del(&c->f->fhs, c->fh);
	lock_waits_drop(c->f, c->fh, EBADF);
	/* Closed whatever close says (EINTR included); its error is news. */
	rc = close(h->fd) < 0 && errno != EINTR ? -errno : 0;
	free(h);
	return rc;
}

int op_fsync(struct call *c)
{
	uint8_t datasync;
	int rc;
	if (arg_fh(c) || rd_u8(c->a, &datasync))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	struct fh *h;
	if ((rc = fh_find(c, &h)))
		return rc;
	if (datasync > 1)
		return bad(c, -EINVAL, "datasync is not 0 or 1");
	return (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0 ? -errno : 0;
}

int op_ftruncate(struct call *c)
{
	uint64_t size;
	int rc;
	if (arg_fh(c) || rd_u64(c->a, &size))
		return -EBADMSG;
	if ((rc = args_end(c)))
		return rc;
	struct fh *h;
	if ((rc = fh_find(c, &h)))
		return rc;
	if (size > INT64_MAX)
		return bad(c, -EINVAL, "size out of range");
	return ftruncate(h->fd, (off_t)size) < 0 ? -errno : 0;
}

int op_fstat(struct call *c)
{
	int rc;
	if ((rc = arg_fh(c)) || (rc = args_end(c)))
		return rc;
	struct fh *h;
	if ((rc = fh_find(c, &h)))
		return rc;
	struct stat st;
	if (fstat(h->fd, &st) < 0)
		return -errno;
	return put_stat(&c->out, &st, h->fd, NULL);
}

/* --- dispatch --- */


