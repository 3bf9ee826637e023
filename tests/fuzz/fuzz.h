/*
 * fuzz.h — what every harness in tests/fuzz/ shares: the libFuzzer entry
 * point, a check that aborts with the failed condition (libFuzzer and
 * replay.c both take an abort() as a finding), and a reader that takes
 * the harness's own control bytes off the front of an input.
 * Not for: the decoders under test (core/, fs/ctl.c).
 */
#ifndef MITOFS_FUZZ_H
#define MITOFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: its violation is a bug. */
#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, \
				__LINE__, #cond);                               \
			abort();                                                \
		}                                                               \
	} while (0)

/* The input, consumed from the front: control bytes first, the bytes
 * for the decoder last. A byte past the end reads as 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);
	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

#endif
