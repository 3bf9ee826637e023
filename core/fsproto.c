/* fsproto — attribute and path codecs of the fs service (fsproto.h). */
#include "fsproto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

void fs_attr_from_stat(struct fs_attr *a, const struct stat *st)
{
	a->ino = (uint64_t)st->st_ino;
	a->mode = (uint32_t)st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = (uint32_t)st->st_uid;
	a->gid = (uint32_t)st->st_gid;
	a->rdev = (uint64_t)st->st_rdev;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->blksize = (uint32_t)st->st_blksize;
	a->atime = st->st_atim.tv_sec;
	a->atime_ns = (uint32_t)st->st_atim.tv_nsec;
	a->mtime = st->st_mtim.tv_sec;
	a->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
	a->ctime = st->st_ctim.tv_sec;
	a->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
	a->dev = (uint64_t)st->st_dev;
	a->flags = 0;
}

void fs_attr_to_stat(const struct fs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)a->ino;
	st->st_mode = (mode_t)a->mode;
	st->st_nlink = (nlink_t)a->nlink;
	st->st_uid = (uid_t)a->uid;
	st->st_gid = (gid_t)a->gid;
	st->st_rdev = (dev_t)a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_blksize = (blksize_t)a->blksize;
	st->st_atim.tv_sec = a->atime;
	st->st_atim.tv_nsec = a->atime_ns;
	st->st_mtim.tv_sec = a->mtime;
	st->st_mtim.tv_nsec = a->mtime_ns;
	st->st_ctim.tv_sec = a->ctime;
	st->st_ctim.tv_nsec = a->ctime_ns;
	st->st_dev = (dev_t)a->dev;
}

int fs_attr_put(struct buf *b, const struct fs_attr *a)
{
	int rc = 0;
	rc |= buf_put_u64(b, a->ino);
	rc |= buf_put_u32(b, a->mode);
	rc |= buf_put_u32(b, a->nlink);
	rc |= buf_put_u32(b, a->uid);
	rc |= buf_put_u32(b, a->gid);
	rc |= buf_put_u64(b, a->rdev);
	rc |= buf_put_u64(b, a->size);
	rc |= buf_put_u64(b, a->blocks);
	rc |= buf_put_u32(b, a->blksize);
	rc |= buf_put_u64(b, (uint64_t)a->atime);
	rc |= buf_put_u32(b, a->atime_ns);
	rc |= buf_put_u64(b, (uint64_t)a->mtime);
	rc |= buf_put_u32(b, a->mtime_ns);
	rc |= buf_put_u64(b, (uint64_t)a->ctime);
	rc |= buf_put_u32(b, a->ctime_ns);
	rc |= buf_put_u64(b, a->dev);
	rc |= buf_put_u32(b, a->flags);
	return rc ? -ENOMEM : 0;
}

int fs_attr_get(struct rd *r, struct fs_attr *a)
{
	uint64_t at, mt, ct;
	if (rd_u64(r, &a->ino) || rd_u32(r, &a->mode) || rd_u32(r, &a->nlink) ||
	    rd_u32(r, &a->uid) || rd_u32(r, &a->gid) || rd_u64(r, &a->rdev) ||
	    rd_u64(r, &a->size) || rd_u64(r, &a->blocks) || rd_u32(r, &a->blksize) ||
	    rd_u64(r, &at) || rd_u32(r, &a->atime_ns) || rd_u64(r, &mt) ||
	    rd_u32(r, &a->mtime_ns) || rd_u64(r, &ct) || rd_u32(r, &a->ctime_ns) ||
	    rd_u64(r, &a->dev) || rd_u32(r, &a->flags))
		return -EBADMSG;
	a->atime = (int64_t)at;
	a->mtime = (int64_t)mt;
	a->ctime = (int64_t)ct;
	if (a->atime_ns >= 1000000000u || a->mtime_ns >= 1000000000u || a->ctime_ns >= 1000000000u)
		return -EBADMSG;
	return 0;
}

char *fs_path_get(struct rd *r, int *err)
{
	char *p = NULL;
	int rc = rd_str(r, &p, FS_MAX_PATH);
	if (rc) {
		*err = rc == -ERANGE ? -ENAMETOOLONG : rc;
		return NULL;
	}
	if (p[0] != '/') {
		free(p);
		*err = -EINVAL;
		return NULL;
	}
	return p;
}


/* --- credentials --- */

int fs_cred_put(struct buf *b, const struct fs_cred *c)
{
	int rc = buf_put_u32(b, c->uid);
	rc = rc ? rc : buf_put_u32(b, c->gid);
	rc = rc ? rc : buf_put_u32(b, c->n);
	for (uint32_t i = 0; !rc && i < c->n; i++)
		rc = buf_put_u32(b, c->groups[i]);
	return rc;
}

int fs_cred_get(struct rd *r, struct fs_cred *c)
{
	memset(c, 0, sizeof(*c));
	uint32_t n;
	if (rd_u32(r, &c->uid) || rd_u32(r, &c->gid) || rd_u32(r, &n))
		return -EBADMSG;
	/* Bounded before the allocation, by the limit and by what is left. */
	if (n > FS_CRED_MAX_GROUPS || n > rd_left(r) / 4)
		return -EBADMSG;
	if (n && !(c->groups = malloc(n * sizeof(*c->groups))))
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if (rd_u32(r, &c->groups[i])) {
			fs_cred_free(c);
			return -EBADMSG;
		}
	c->n = n;
	return 0;
}

void fs_cred_free(struct fs_cred *c)
{
	if (!c)
		return;
	free(c->groups);
	memset(c, 0, sizeof(*c));
}

int fs_cred_copy(struct fs_cred *dst, const struct fs_cred *src)
{
	*dst = *src;
	dst->groups = NULL;
	if (src->n && !(dst->groups = malloc(src->n * sizeof(*dst->groups)))) {
		dst->n = 0;
		return -ENOMEM;
	}
	if (src->n)
		memcpy(dst->groups, src->groups, src->n * sizeof(*dst->groups));
	return 0;
}

int fs_cred_eq(const struct fs_cred *a, const struct fs_cred *b)
{
	return a->uid == b->uid && a->gid == b->gid && a->n == b->n &&
	       (!a->n || !memcmp(a->groups, b->groups, a->n * sizeof(*a->groups)));
}
