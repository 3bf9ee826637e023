/* log — formatting and the process's one sink (see log.h for why one). */
#include "log.h"

#include <stdio.h>

static struct {
	log_sink_fn *fn;
	void *arg;
	int min;
	int busy; /* a sink that logs must not recurse into itself */
} sink = { NULL, NULL, LOG_INFO, 0 };

void log_setup(log_sink_fn *fn, void *arg, int min_level)
{
	sink.fn = fn;
	sink.arg = arg;
	sink.min = min_level;
}

const char *log_level_name(int level)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	return level >= 0 && level <= LOG_ERROR ? names[level] : "?";
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
	if (level < sink.min)
		return;
	char text[1024];
	vsnprintf(text, sizeof(text), fmt, ap);
	if (!sink.fn || sink.busy) {
		fprintf(stderr, "mitofs: %s: %s\n", log_level_name(level), text);
		return;
	}
	sink.busy = 1;
	sink.fn(level, text, sink.arg);
	sink.busy = 0;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
