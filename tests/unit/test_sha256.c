/* test_sha256 — core/sha256.c against FIPS 180-4's examples and sha256sum. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"

static void hex_of(const void *p, size_t n, char hex[65])
{
	uint8_t h[SHA256_LEN];
	sha256(p, n, h);
	sha256_hex(h, hex);
}

Test(sha256, fips_examples)
{
	char hex[65];
	hex_of("", 0, hex);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hex_of("abc", 3, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	hex_of(two, strlen(two), hex);
	cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, pieces_of_any_size_give_the_hash_of_the_whole)
{
	size_t n = 100003;
	uint8_t *p = malloc(n);
	cr_assert(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 9));
	uint8_t whole[SHA256_LEN], parts[SHA256_LEN];
	sha256(p, n, whole);
	static const size_t steps[] = { 1, 55, 56, 63, 64, 65, 4096, 99999 };
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct sha256 s;
		sha256_init(&s);
		for (size_t off = 0; off < n; off += steps[k])
			sha256_update(&s, p + off, n - off < steps[k] ? n - off : steps[k]);
		sha256_final(&s, parts);
		cr_assert(!memcmp(whole, parts, SHA256_LEN), "step %zu", steps[k]);
	}
	/* And sha256sum agrees. */
	char path[] = "/tmp/test_sha256.XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
	char cmd[128], line[128] = "", hex[65];
	snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
	FILE *f = popen(cmd, "r");
	cr_assert(f && fgets(line, sizeof(line), f));
	pclose(f);
	unlink(path);
	sha256_hex(whole, hex);
	cr_assert(!strncmp(line, hex, 64), "sha256sum says %.64s, we %s", line, hex);
	free(p);
}
