/* kxfer serve's logs: the access log (one line per request, to stderr or to a file that
 * SIGUSR1 reopens, as logrotate expects) and, with --log-format json, every diagnostic
 * line too as one JSON object, for log shippers. */
#ifndef KXFER_ACCESSLOG_H
#define KXFER_ACCESSLOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_format { LOG_TEXT, LOG_JSON };

struct access_entry {
	const char *peer;
	const char *method;        /* "-" when the head did not parse */
	const char *path;
	int status;
	uint64_t bytes;
	double seconds;
	const char *tls_version;   /* "-" with --plain */
	const char *cipher;
	const char *tx, *rx;       /* data paths: "ktls", "userspace" or "plain" */
	unsigned worker;
};

/* Where access lines go: path (appended, created 0640), or stderr when path is NULL; none
 * at all when off (serve --quiet).  With LOG_JSON, diagnostic lines on stderr become JSON
 * objects too.  0 or -errno. */
int alog_open(const char *path, enum log_format format, bool off);
/* SIGUSR1: opens the path again (after logrotate moved it) and swaps it in; on failure
 * the old file stays in use.  0 or -errno. */
int alog_reopen(void);
/* One request, one write(2). */
void alog_write(const struct access_entry *e);
void alog_close(void);
/* "text" or "json" -> format; -EINVAL otherwise. */
int parse_log_format(const char *s, enum log_format *out);

#endif
