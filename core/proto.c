/* proto — encoders/decoders for the shared payload layouts. */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int proto_reply_ok(struct buf *b)
{
	int rc = buf_put_u32(b, 0);
	return rc ? rc : buf_put_str(b, "");
}

int proto_reply_err(struct buf *b, int err, const char *text)
{
	int rc = buf_put_u32(b, (uint32_t)(err < 0 ? -err : err));
	return rc ? rc : buf_put_str(b, text ? text : "");
}

int proto_reply_read(struct rd *r, uint32_t *err, const char **text, size_t *tlen)
{
	const uint8_t *p;
	if (rd_u32(r, err) || rd_blob(r, &p, tlen))
		return -EBADMSG;
	*text = (const char *)p;
	return 0;
}

int proto_errno(uint32_t wire)
{
	return wire > 0 && wire <= PROTO_ERRNO_MAX ? (int)wire : EIO;
}

int proto_call_begin(struct buf *b, uint16_t svc, uint16_t op)
{
	int rc = buf_put_u16(b, svc);
	return rc ? rc : buf_put_u16(b, op);
}

int proto_config_encode(struct buf *b, const struct proto_config *c)
{
	int rc = 0;
	rc |= buf_put_u32(b, c->id);
	rc |= buf_put_u32(b, c->nparents);
	for (uint32_t i = 0; i < c->nparents && i < 64; i++)
		rc |= buf_put_u32(b, c->parents[i]);
	rc |= buf_put_str(b, c->name);
	rc |= buf_put_u8(b, c->log_level);
	rc |= buf_put_u8(b, c->compress);
	rc |= buf_put_u32(b, c->keepalive_ms);
	return rc ? -ENOMEM : 0;
}

int proto_config_decode(const void *p, size_t n, struct proto_config *c)
{
	struct rd r;
	const uint8_t *name;
	size_t nlen;
	rd_init(&r, p, n);
	memset(c, 0, sizeof(*c));
	if (rd_u32(&r, &c->id) || rd_u32(&r, &c->nparents))
		return -EBADMSG;
	if (c->nparents == 0 || c->nparents > 64)
		return -ERANGE;
	for (uint32_t i = 0; i < c->nparents; i++)
		if (rd_u32(&r, &c->parents[i]))
			return -EBADMSG;
	if (rd_blob(&r, &name, &nlen) || rd_u8(&r, &c->log_level) ||
	    rd_u8(&r, &c->compress) || rd_u32(&r, &c->keepalive_ms))
		return -EBADMSG;
	if (nlen > PROTO_MAX_NAME || memchr(name, 0, nlen))
		return -EBADMSG;
	memcpy(c->name, name, nlen);
	c->name[nlen] = 0;
	return rd_end(&r);
}

int proto_kv_read(struct rd *r, struct proto_kv **out, size_t *count)
{
	uint32_t n;
	if (rd_u32(r, &n))
		return -EBADMSG;
	if (n > PROTO_MAX_KV)
		return -ERANGE;
	struct proto_kv *kv = calloc(n ? n : 1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		int rc = rd_str(r, &kv[i].key, PROTO_MAX_TEXT);
		if (!rc)
			rc = rd_str(r, &kv[i].val, PROTO_MAX_TEXT);
		if (rc) {
			proto_kv_free(kv, n);
			return rc;
		}
	}
	*out = kv;
	*count = n;
	return 0;
}

void proto_kv_free(struct proto_kv *kv, size_t n)
{
	if (!kv)
		return;
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].val);
	}
	free(kv);
}

const char *proto_kv_get(const struct proto_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (kv[i].key && strcmp(kv[i].key, key) == 0)
			return kv[i].val;
	return NULL;
}
