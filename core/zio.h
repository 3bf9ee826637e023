/*
 * zio — zlib helpers: message payload compression and the gzip'd stub
 * image. Output sizes are always bounded so a hostile peer cannot make us
 * inflate without limit. Not for: streaming compression of files.
 */
#ifndef MITOFS_ZIO_H
#define MITOFS_ZIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Appends the raw deflate (RFC 1951) form of in[0..n) to out (level 1-9):
 * one member per 65024 input bytes (zio.c says why), back to back.
 * 0, -ENOMEM, or -EIO on a zlib error. */
int zio_deflate(struct buf *out, const void *in, size_t n, int level);
/* A deflater kept between messages: deflateInit's ~260 KiB of tables are
 * allocated once (per message they cost a page-faulting mmap each, which
 * dominated the stub's CPU on a fast link). Each run is still one
 * complete deflate member, as zio_deflate makes. */
struct zio_def;
struct zio_def *zio_def_new(int level); /* NULL: out of memory */
void zio_def_free(struct zio_def *d);
/* As zio_deflate, through d. */
int zio_def_run(struct zio_def *d, struct buf *out, const void *in, size_t n);
/* Whether in[0..n) looks incompressible: the collision entropy of its
 * bytes (-log2 of the chance that two of them are equal; a sample of at
 * most 4 KiB in 16 blocks spread over it) is 7.5 bits or more, where even
 * a perfect byte-wise code saves under 7 %. Random, encrypted and already
 * compressed data are; text, code, zeros and most binaries are not.
 * A few microseconds, where deflating 4 KiB of random bytes to learn the
 * same took tens. */
bool zio_looks_random(const void *in, size_t n);
/* Appends the inflation of raw deflate data in[0..n) to out, at most max
 * bytes: one or more complete members, back to back, nothing after them.
 * 0, -EMSGSIZE past max, -EBADMSG on corrupt or truncated input, -ENOMEM. */
int zio_inflate(struct buf *out, const void *in, size_t n, size_t max);
/* An inflater kept between messages, as zio_def: inflateInit's state and
 * 32 KiB window were allocated and freed per message, and musl maps them
 * anew each time (nine page faults per 1 MiB fs write in the stub). */
struct zio_inf;
struct zio_inf *zio_inf_new(void); /* NULL: out of memory */
void zio_inf_free(struct zio_inf *f);
/* As zio_inflate, through f. */
int zio_inf_run(struct zio_inf *f, struct buf *out, const void *in, size_t n, size_t max);
/* The same for a gzip (RFC 1952) file. */
int zio_gunzip(struct buf *out, const void *in, size_t n, size_t max);
/* Appends a gzip (RFC 1952) file holding in[0..n) to out, as `gzip -dc`
 * on the target expects. 0, -ENOMEM, -EIO. */
int zio_gzip(struct buf *out, const void *in, size_t n, int level);

#endif
