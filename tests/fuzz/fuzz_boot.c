/*
 * fuzz_boot — the pure parts of core/boot.c: the first-stage line, where
 * a context name (any bytes but NUL, from a ctl line or a spawn request)
 * is quoted into a shell command, and the cache tag of a gzip'd image.
 *
 * Input: u8 mode, then
 *   mode 0 (line): u8 tag choice, u16 cap, u32 image length, the name
 *           (up to a NUL); tag choice 2 takes the tag from the name's
 *           bytes up to a ':' instead;
 *   mode 1 (tag): the image.
 * Checked: boot_stage_line's return codes, its output NUL-terminated
 * within cap (the buffer is exactly cap bytes, for ASan), and the name
 * read back by sh's quoting rules is the name itself every time it
 * appears: no byte of it can end the quoted word; boot_image_tag gives
 * 16 lower-case hex digits or an error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "boot.h"

#include "fuzz.h"

/* Reads one sh word made of '...' and \' pieces at *s (as put_word
 * writes it) into out; false when anything else is in it, that is,
 * when a byte of the name would be seen by the shell unquoted. */
static bool unquote(const char **s, char *out, size_t cap)
{
	const char *p = *s;
	size_t n = 0;
	if (*p != '\'')
		return false;
	while (*p == '\'' || (*p == '\\' && p[1] == '\'')) {
		if (*p == '\\') {
			if (n + 1 >= cap)
				return false;
			out[n++] = '\'';
			p += 2;
			continue;
		}
		const char *end = strchr(p + 1, '\'');
		if (!end || n + (size_t)(end - p - 1) >= cap)
			return false;
		memcpy(out + n, p + 1, (size_t)(end - p - 1));
		n += (size_t)(end - p - 1);
		p = end + 1;
	}
	out[n] = 0;
	*s = p;
	return true;
}

/* Every place the line runs the stub ends in the name: `exec "$f" - `
 * (cached, twice) and `exec "$d/s" "$d" ` (last). The line is read left
 * to right, each name skipped whole, so that a name holding these words
 * is not taken for the line's own. */
static void check_names(const char *line, const char *name, bool tagged)
{
	static const char *const execs[] = { "exec \"$f\" - ", "exec \"$d/s\" \"$d\" " };
	size_t nl = strlen(name);
	char *got = malloc(nl + 2);
	FUZZ_CHECK(got != NULL);
	int seen = 0;
	for (const char *p = line;;) {
		const char *a = strstr(p, execs[0]), *b = strstr(p, execs[1]);
		if (!a && !b)
			break;
		bool last = !a || (b && b < a);
		p = last ? b + strlen(execs[1]) : a + strlen(execs[0]);
		FUZZ_CHECK(unquote(&p, got, nl + 2));
		FUZZ_CHECK(strcmp(got, name) == 0);
		/* The word ends there: a separator follows, or the end. */
		FUZZ_CHECK(last ? *p == 0 : *p == ';');
		seen++;
	}
	FUZZ_CHECK(seen == (tagged ? 3 : 1));
	free(got);
}

static void check_line(struct fuzz_in *in)
{
	uint8_t tagsel = fuzz_u8(in) % 3;
	size_t cap = fuzz_u16(in);
	size_t image_len = fuzz_u16(in);
	image_len = image_len << 16 | fuzz_u16(in);
	char *name = strndup((const char *)in->p, in->n);
	FUZZ_CHECK(name != NULL);
	const char *tag = tagsel == 1 ? "8b746d2157487aa7" : NULL;
	char *colon = tagsel == 2 ? strchr(name, ':') : NULL;
	if (colon) {
		*colon = 0;
		tag = name;
	}
	const char *nm = colon ? colon + 1 : name;
	char *out = malloc(cap ? cap : 1);
	FUZZ_CHECK(out != NULL);
	/* One image of image_len bytes (never read here), its tag (cut to
	 * the field's size) or none. */
	static const char data[1];
	struct boot_images imgs = { 0 };
	FUZZ_CHECK(boot_images_add(&imgs, boot_arch, data, image_len, 0) == 0);
	snprintf(imgs.img[0].tag, sizeof(imgs.img[0].tag), "%s", tag ? tag : "");
	tag = imgs.img[0].tag[0] ? imgs.img[0].tag : NULL;
	int rc = boot_stage_line(out, cap, &imgs, nm);
	bool tag_bad = tag && tag[strspn(tag, "0123456789abcdef")];
	if (!*nm || tag_bad) {
		FUZZ_CHECK(rc == -EINVAL);
	} else {
		/* The whole line, with room to spare: ENAMETOOLONG only when
		 * it does not fit in cap, and otherwise all of it in out. */
		size_t bigcap = 4096 + 12 * strlen(nm);
		char *full = malloc(bigcap);
		FUZZ_CHECK(full != NULL);
		FUZZ_CHECK(boot_stage_line(full, bigcap, &imgs, nm) == 0);
		size_t len = strlen(full);
		FUZZ_CHECK(len + 1 < bigcap);
		check_names(full, nm, tag != NULL);
		if (rc == -ENAMETOOLONG) {
			FUZZ_CHECK(len + 1 > cap);
		} else {
			FUZZ_CHECK(rc == 0);
			FUZZ_CHECK(len + 1 <= cap && memcmp(out, full, len + 1) == 0);
		}
		free(full);
	}
	free(out);
	free(name);
}

static void check_tag(struct fuzz_in *in)
{
	char tag[BOOT_TAG_LEN + 1];
	memset(tag, 'x', sizeof(tag));
	int rc = boot_image_tag(in->p, in->n, tag);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE || rc == -ENOMEM);
	if (rc)
		return;
	FUZZ_CHECK(tag[BOOT_TAG_LEN] == 0);
	FUZZ_CHECK(strspn(tag, "0123456789abcdef") == BOOT_TAG_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	if (fuzz_u8(&in) % 2 == 0)
		check_line(&in);
	else
		check_tag(&in);
	return 0;
}
