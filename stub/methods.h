/*
 * methods — how a stub reaches a child context: the command line that
 * runs the first stage for each method (local, sudo, su, doas, ssh with
 * the host's own ssh client), whether it needs a pty for a password
 * prompt, and where the answer goes. Not for: booting (core/boot.c) or
 * answering prompts (core/askpass.c).
 */
#ifndef MITOFS_METHODS_H
#define MITOFS_METHODS_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

#define METHODS_MAX_ARGS 40

struct method_plan {
	char *argv[METHODS_MAX_ARGS]; /* NULL-terminated; owned */
	bool pty;          /* run on a pty: a password prompt may come */
	bool answer_stdin; /* su reads the password on stdin, not /dev/tty */
	const char *password; /* borrowed from the request's options */
	int timeout_ms;
};

/* Plans the command for method with options kv and the first stage line.
 * 0; -ENOENT for an unknown method, -EINVAL for a bad or unknown option
 * (reason in err); -ENOMEM. */
int methods_plan(const char *method, const struct proto_kv *kv, size_t n, const char *line,
		 struct method_plan *p, char *err, size_t errlen);
void methods_plan_free(struct method_plan *p);

#endif
