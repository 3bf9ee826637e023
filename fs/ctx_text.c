/*
 * ctx_text — the snapshot files of the tree: a context's info and the
 * root's stats, made when they are opened. Not for: the logs (ctx.c) or
 * job output (jobs.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctx.h"
#include "router.h"
#include "spool.h"
#include "stream.h"

char *ctx_info_text(struct ctx *c, size_t *len)
{
	struct daemon *d = c->d;
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	if (!f)
		return NULL;
	static const char *states[] = { "connecting", "connected", "disconnected" };
	fprintf(f, "id: %u\nname: %s\npath: %s\nparent: %u\nparent_path: %s\nmethod: %s\nstate: %s\n",
		c->id, c->name, c->path, c->parent->id,
		c->parent == &d->root ? "/" : c->parent->path, c->method, states[c->state]);
	if (c->state == CTX_DISCONNECTED)
		fprintf(f, "why: %s\n", c->why);
	for (size_t i = 0; i < c->nminfo; i++)
		fprintf(f, "%s: %s\n", c->minfo[i].key, c->minfo[i].val);
	static const char *keys[] = { "pid", "hostname", "uid", "gid", "user", "arch",
				      "kernel", "os", NULL };
	for (int i = 0; keys[i]; i++) {
		const char *v = proto_kv_get(c->info, c->ninfo, keys[i]);
		if (v && !proto_kv_get(c->minfo, c->nminfo, keys[i]))
			fprintf(f, "%s: %s\n", keys[i], v);
	}
	fprintf(f, "rtt_us: %" PRIu64 "\n", c->state == CTX_CONNECTING ? 0 : c->rtt_us);
	/* Byte counts are a stream's: shown for the contexts that have one of
	 * their own (those the daemon reaches directly). */
	struct stream *st = c->state == CTX_CONNECTED && c->parent == &d->root
				    ? router_stream_for(d->router, c->id) : NULL;
	if (st) {
		struct stream_stats ss;
		stream_get_stats(st, &ss);
		fprintf(f, "bytes_in: %" PRIu64 "\nbytes_out: %" PRIu64 "\n", ss.bytes_in, ss.bytes_out);
	}
	fclose(f);
	*len = n;
	return s;
}

char *ctx_stats_text(struct daemon *d, size_t *len)
{
	struct router_stats st;
	router_get_stats(d->router, &st);
	size_t connected = 0, total = 0, pos = 0;
	void *v;
	while (map_next(&d->ctxs, &pos, NULL, &v)) {
		total++;
		connected += ((struct ctx *)v)->state == CTX_CONNECTED;
	}
	char *s = NULL, *more = NULL;
	size_t mlen = 0;
	int n = asprintf(&s,
			 "contexts: %zu\ncontexts_connected: %zu\nroutes: %u\nstreams: %u\n"
			 "handles: %u\nmsgs_routed: %" PRIu64 "\nmsgs_local: %" PRIu64
			 "\nmsgs_dropped: %" PRIu64 "\nbytes_routed: %" PRIu64
			 "\ndead_sent: %" PRIu64 "\nauth_rejected: %" PRIu64
			 "\noutput_memory: %" PRIu64 "\noutput_spool: %" PRIu64
			 "\noutput_budget: %" PRIu64 "\n",
			 total, connected, st.routes, st.streams, st.handles, st.msgs_routed,
			 st.msgs_local, st.msgs_dropped, st.bytes_routed, st.dead_sent,
			 st.auth_rejected, d->spool ? spool_mem(d->spool) : 0,
			 d->spool ? spool_used(d->spool) : 0, d->output_budget);
	if (n < 0)
		return NULL;
	/* Then what crossed each link of ours: the contexts directly below. */
	FILE *f = open_memstream(&more, &mlen);
	if (!f) {
		free(s);
		return NULL;
	}
	fputs(s, f);
	free(s);
	fprintf(f, "push_bytes_sent: %" PRIu64 "\n", d->push_bytes);
	for (struct ctx *c = d->root.children; c; c = c->next) {
		struct stream *st = c->state == CTX_CONNECTED ? router_stream_for(d->router, c->id) : NULL;
		struct stream_stats ss;
		if (!st)
			continue;
		stream_get_stats(st, &ss);
		fprintf(f, "stream %s: bytes_in %" PRIu64 " bytes_out %" PRIu64 "\n", c->path,
			ss.bytes_in, ss.bytes_out);
	}
	if (fclose(f))
		return NULL;
	*len = mlen;
	return more;
}
