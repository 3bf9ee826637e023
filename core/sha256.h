/*
 * sha256 — SHA-256 (FIPS 180-4), for naming pushed content: a cache entry
 * of a file crossing the tree is found by this hash, and a stub checks
 * the bytes it received against it. The stub links core only (no
 * libcrypto), hence our own. Not for: secrets or signatures.
 */
#ifndef MITOFS_SHA256_H
#define MITOFS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
	uint32_t h[8];
	uint64_t len;     /* bytes hashed so far */
	uint8_t block[64];
	size_t fill;      /* bytes in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *p, size_t n);
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);
/* The hash of p[0..n) in one call. */
void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);
/* 64 lowercase hex digits and a NUL into hex. */
void sha256_hex(const uint8_t h[SHA256_LEN], char hex[2 * SHA256_LEN + 1]);

#endif
