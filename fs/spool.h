/*
 * spool — where job output lives once it outgrows memory: one private,
 * unnamed file per mount, cut into fixed blocks that rings (ring.h) take
 * and give back, under a budget for the whole mount.
 *
 * The file sits in a per-mount directory (0700) made under a base
 * directory ($XDG_RUNTIME_DIR/mitofs, else the user's cache dir, or -o
 * spool=DIR). It is opened O_TMPFILE (or unlinked at once where the file
 * system cannot), so no name ever points at it: it goes with the daemon,
 * crash or not. The directory is removed at unmount; one a killed daemon
 * left behind (empty) is removed by the next daemon that uses the base.
 *
 * It also counts the memory the rings hold before they spill, so that a
 * ring knows when the mount's in-memory window is used up.
 * Not for: which bytes a stream keeps (ring.c), or reading on behalf of
 * FUSE (fh.c).
 */
#ifndef MITOFS_SPOOL_H
#define MITOFS_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bytes per block: a spilled stream takes one block at a time. */
#define SPOOL_BLOCK (1u << 20)

struct spool;

/* The default base directory into buf: $XDG_RUNTIME_DIR/mitofs, else
 * $XDG_CACHE_HOME/mitofs, else $HOME/.cache/mitofs. 0, or -ENOENT when
 * none of these is set, -ENAMETOOLONG. */
int spool_default_base(char *buf, size_t len);

/* Makes the per-mount directory under base (base is made 0700 if it is
 * missing, with its parent when that is the default's ~/.cache), removes
 * directories that dead daemons left there, and opens the file.
 * budget: bytes the file may hold in all; mem_max: bytes of memory the
 * rings may hold before they spill. NULL with errno, the reason (with
 * the path) in err. */
struct spool *spool_open(const char *base, uint64_t budget, size_t mem_max, char *err,
			 size_t errlen);
/* Closes the file and removes the directory. Every ring using s must be
 * freed already. NULL does nothing. */
void spool_close(struct spool *s);
/* The per-mount directory. */
const char *spool_dir(const struct spool *s);

/* --- memory the rings hold (not in the spool) --- */

/* Counts delta bytes more (or fewer) of ring memory. */
void spool_mem_add(struct spool *s, ssize_t delta);
/* Whether the rings hold mem_max bytes or more. */
bool spool_mem_full(const struct spool *s);

/* --- blocks --- */

/* A free block into *blk: 0, or -ENOMEM. Costs nothing until written. */
int spool_block_new(struct spool *s, uint32_t *blk);
/* Gives back blk, of which the first used bytes were written: they
 * leave the budget and their space is freed (a hole is punched). */
void spool_block_free(struct spool *s, uint32_t blk, size_t used);
/* Frees the space of blocks given back and kept for reuse (up to 64
 * MiB of them are, while output flows). */
void spool_trim(struct spool *s);
/* Writes p[0..n) at byte at of blk (at + n <= SPOOL_BLOCK), as much as
 * the budget allows: the count written (> 0), or -EDQUOT (the budget is
 * used up), or the file system's -errno (-ENOSPC, -EIO...) when nothing
 * was written. */
ssize_t spool_write(struct spool *s, uint32_t blk, size_t at, const void *p, size_t n);
/* Reads n bytes at byte at of blk into p: 0, or -errno (-EIO when the
 * file is shorter than what was written). */
int spool_read(const struct spool *s, uint32_t blk, size_t at, void *p, size_t n);

/* --- numbers, for stats and markers --- */

uint64_t spool_budget(const struct spool *s);
uint64_t spool_used(const struct spool *s);    /* bytes written, not yet freed */
uint64_t spool_mem(const struct spool *s);     /* ring memory counted */

#endif
