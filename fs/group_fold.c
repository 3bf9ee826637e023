/*
 * group_fold — a group job's folded view (dshbak -c): the members whose
 * stdout holds the same bytes, grouped, each distinct output once. It is
 * made once the job is done, from the member jobs' rings, into a spooled
 * ring of its own (group_int.h: gjob_fold). Not for: reading it (the
 * read waits for the end in group_job.c) or gathering lines.
 */
#include "group_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ring.h"

#define SCAN_BUF (64u << 10) /* member outputs are read this much at a time */

/* Whether the stdout of jobs a and b holds the same bytes: 1, 0, or
 * -errno (a spool read failed). ba and bb: SCAN_BUF bytes each. */
static int same_output(const struct job *a, const struct job *b, uint8_t *ba, uint8_t *bb)
{
	uint64_t end = ring_end(a->out);
	if (end != ring_end(b->out))
		return 0;
	for (uint64_t off = 0; off < end;) {
		ssize_t ka = ring_read(a->out, off, ba, SCAN_BUF);
		ssize_t kb = ring_read(b->out, off, bb, SCAN_BUF);
		if (ka < 0 || kb < 0)
			return (int)(ka < 0 ? ka : kb);
		if (ka == 0 || ka != kb || memcmp(ba, bb, (size_t)ka))
			return 0;
		off += (uint64_t)ka;
	}
	return 1;
}

/* The crc32 of j's stdout into *crc: 0 or -errno. */
static int output_crc(const struct job *j, uint8_t *buf, uint32_t *crc)
{
	uLong c = crc32(0L, Z_NULL, 0);
	uint64_t end = ring_end(j->out);
	for (uint64_t off = 0; off < end;) {
		ssize_t k = ring_read(j->out, off, buf, SCAN_BUF);
		if (k <= 0)
			return k < 0 ? (int)k : -EIO;
		c = crc32(c, buf, (uInt)k);
		off += (uint64_t)k;
	}
	*crc = (uint32_t)c;
	return 0;
}

/* Appends to the folded view; a cut (the spool's budget) is logged. */
static void fold_put(struct gjob *gj, struct ring *r, const void *p, size_t n)
{
	if (ring_append(r, p, n))
		gjob_output_cut(gj, r, "folded");
}

/* Appends j's stdout to r, and a newline if it did not end with one:
 * 0 or -errno. */
static int fold_output(struct gjob *gj, struct ring *r, const struct job *j, uint8_t *buf)
{
	uint64_t end = ring_end(j->out);
	char last = '\n';
	for (uint64_t off = 0; off < end;) {
		ssize_t k = ring_read(j->out, off, buf, SCAN_BUF);
		if (k <= 0)
			return k < 0 ? (int)k : -EIO;
		fold_put(gj, r, buf, (size_t)k);
		last = (char)buf[k - 1];
		off += (uint64_t)k;
	}
	if (last != '\n')
		fold_put(gj, r, "\n", 1);
	return 0;
}

/* group_int.h. Each member's stdout is read for its crc, then compared
 * byte for byte only with outputs of the same crc. */
int gjob_fold(struct gjob *gj)
{
	static const char RULE[] = "----------------\n";
	size_t nm = gj->nm ? gj->nm : 1;
	uint32_t *crc = calloc(nm, sizeof(*crc));
	bool *shown = calloc(nm, sizeof(*shown));
	uint8_t *ba = malloc(SCAN_BUF), *bb = malloc(SCAN_BUF);
	struct ring *r = ring_new_spooled(SIZE_MAX, gj->d->spool);
	int rc = crc && shown && ba && bb && r ? 0 : -ENOMEM;
	for (size_t i = 0; i < gj->nm && !rc; i++)
		if (gj->m[i].j)
			rc = output_crc(gj->m[i].j, ba, &crc[i]);
	for (size_t i = 0; i < gj->nm && !rc; i++) {
		const struct job *a = gj->m[i].j;
		if (shown[i] || !a || ring_end(a->out) == 0)
			continue;
		fold_put(gj, r, RULE, strlen(RULE));
		fold_put(gj, r, gj->m[i].path, strlen(gj->m[i].path));
		for (size_t k = i + 1; k < gj->nm && !rc; k++) {
			const struct job *b = gj->m[k].j;
			if (shown[k] || !b || crc[k] != crc[i])
				continue;
			int same = same_output(a, b, ba, bb);
			if (same < 0) {
				rc = same;
			} else if (same) {
				shown[k] = true;
				fold_put(gj, r, ",", 1);
				fold_put(gj, r, gj->m[k].path, strlen(gj->m[k].path));
			}
		}
		fold_put(gj, r, "\n", 1);
		fold_put(gj, r, RULE, strlen(RULE));
		rc = rc ? rc : fold_output(gj, r, a, ba);
	}
	if (rc)
		ring_free(r);
	else
		gj->folded = r;
	free(crc);
	free(shown);
	free(ba);
	free(bb);
	return rc;
}
