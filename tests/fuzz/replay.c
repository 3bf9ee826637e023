/*
 * replay — runs a fuzz harness over saved inputs, without libFuzzer: the
 * main() that `make unit` links with each tests/fuzz/fuzz_*.c so that the
 * corpus (seeds and the reproducers of fixed bugs) is a regression test
 * under gcc, -Werror and, in `make test-asan`, the sanitizers.
 *
 *   build/tests/fuzz_frame tests/fuzz/corpus/frame/FILE...
 *
 * A harness reports a broken invariant with abort(); an input that hangs
 * (an endless loop is a bug too) is stopped by an alarm. Not for: finding
 * new inputs (make fuzz does that).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Seconds one input may take: the largest harness run is milliseconds,
 * even under ASan, so this only fires on a hang. */
#define REPLAY_ALARM 20

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, n = 0;
	uint8_t *data = malloc(cap);
	while (data) {
		n += fread(data + n, 1, cap - n, f);
		if (n < cap)
			break;
		uint8_t *more = realloc(data, cap * 2);
		if (!more) {
			free(data);
			data = NULL;
			break;
		}
		data = more;
		cap *= 2;
	}
	int bad = !data || ferror(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		free(data);
		return -1;
	}
	/* A copy of exactly n bytes, so that ASan sees a read past the
	 * input as libFuzzer would. */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact) {
		free(data);
		return -1;
	}
	memcpy(exact, data, n);
	free(data);
	alarm(REPLAY_ALARM);
	LLVMFuzzerTestOneInput(exact, n);
	alarm(0);
	free(exact);
	return 0;
}

int main(int argc, char **argv)
{
	int failed = 0;
	for (int i = 1; i < argc; i++)
		if (replay_file(argv[i]))
			failed++;
	printf("replay: %s: %d input(s), %d unreadable\n", argv[0], argc - 1, failed);
	return failed ? 1 : 0;
}
