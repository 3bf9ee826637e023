/*
 * log — levels, formatting, and one sink per process.
 *
 * The sink is the single piece of process-wide state in core: main() sets
 * it once (the daemon writes into its log rings, the stub forwards lines
 * to the master with FORWARD_LOG), the way openlog() configures syslog.
 * Messages read "what(arg): reason". Not for: job output.
 */
#ifndef MITOFS_LOG_H
#define MITOFS_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* level, formatted text without trailing newline, the sink's argument. */
typedef void log_sink_fn(int level, const char *text, void *arg);

/* Sets the sink (NULL: stderr) and the lowest level passed to it. */
void log_setup(log_sink_fn *fn, void *arg, int min_level);
/* "debug", "info", "warn", "error"; "?" for anything else. */
const char *log_level_name(int level);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
