/* kxfer serve's access log and JSON diagnostics.
 *
 * Every line is built whole in memory and written with one write(2) to a descriptor
 * opened O_APPEND, so that lines from several worker threads never interleave and an
 * external rotation never splits one.  SIGUSR1 reopens the file: the new descriptor is
 * dup2()ed over the old number, which swaps the file under every writer at once with no
 * lock and no window in which a line could go nowhere. */
#include "accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static int log_fd = -1;          /* the access log; STDERR_FILENO when no file is given */
static const char *log_path;     /* NULL: stderr */
static enum log_format log_fmt;
static bool log_off;

int parse_log_format(const char *s, enum log_format *out)
{
	if (!strcmp(s, "text"))
		*out = LOG_TEXT;
	else if (!strcmp(s, "json"))
		*out = LOG_JSON;
	else
		return -EINVAL;
	return 0;
}

static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	return fd < 0 ? -errno : fd;
}

/* "2026-12-01T12:00:00.123Z": UTC, milliseconds, as log shippers parse it. */
static void timestamp(char out[32])
{
	struct timeval tv;
	struct tm tm;
	size_t n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

/* Writes what a memstream collected as one line, then frees it. */
static void emit(int fd, FILE *f, char **buf, size_t *len)
{
	fputc('\n', f);
	if (fclose(f) == 0 && write(fd, *buf, *len) < 0) {
		/* a full disk or a closed stderr: the request was served all the same */
	}
	free(*buf);
}

/* --log-format json: {"time":..., "level":..., "prog":..., "msg":...} on stderr. */
static void json_diagnostic(const char *level, const char *prog, const char *msg)
{
	char ts[32], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	timestamp(ts);
	fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\",\"prog\":", ts, level);
	json_string(f, prog);
	fputs(",\"msg\":", f);
	json_string(f, msg);
	fputc('}', f);
	emit(STDERR_FILENO, f, &buf, &len);
}

int alog_open(const char *path, enum log_format format, bool off)
{
	log_fmt = format;
	log_off = off;
	log_path = path;
	log_fd = STDERR_FILENO;
	if (format == LOG_JSON)
		log_set_sink(json_diagnostic);
	if (path && !off) {
		log_fd = open_log(path);
		if (log_fd < 0)
			return log_fd;
	}
	return 0;
}

int alog_reopen(void)
{
	int fd;

	if (!log_path || log_off)
		return 0;
	fd = open_log(log_path);
	if (fd < 0) {
		log_err("SIGUSR1: cannot reopen the access log %s: %s; still writing to the old one",
			log_path, strerror(-fd));
		return fd;
	}
	if (dup2(fd, log_fd) < 0) {
		int err = -errno;

		close(fd);
		log_err("SIGUSR1: cannot reopen the access log %s: %s", log_path, strerror(-err));
		return err;
	}
	close(fd);
	log_info("SIGUSR1: access log %s reopened", log_path);
	return 0;
}

static void write_json(FILE *f, const struct access_entry *e)
{
	char ts[32];

	timestamp(ts);
	fprintf(f, "{\"time\":\"%s\",\"peer\":", ts);
	json_string(f, e->peer);
	fputs(",\"method\":", f);
	json_string(f, e->method);
	fputs(",\"path\":", f);
	json_string(f, e->path);
	fprintf(f, ",\"status\":%d,\"bytes\":%llu,\"seconds\":%.6f,\"mbps\":%.1f,\"tls\":\"%s\","
		"\"cipher\":\"%s\",\"tx\":\"%s\",\"rx\":\"%s\",\"worker\":%u}",
		e->status, (unsigned long long)e->bytes, e->seconds,
		e->seconds > 0 ? (double)e->bytes / e->seconds / 1e6 : 0.0, e->tls_version, e->cipher,
		e->tx, e->rx, e->worker);
}

void alog_write(const struct access_entry *e)
{
	char ts[32], *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (log_off)
		return;
	f = open_memstream(&buf, &len);
	if (!f)
		return;
	if (log_fmt == LOG_JSON) {
		write_json(f, e);
	} else {
		/* On stderr the journal (or the terminal) has the time already; a file needs it. */
		if (log_path) {
			timestamp(ts);
			fprintf(f, "%s ", ts);
		}
		fprintf(f, "%s %s %s %d %llu %.3fs %.1fMB/s %s %s tx=%s rx=%s", e->peer, e->method,
			e->path, e->status, (unsigned long long)e->bytes, e->seconds,
			e->seconds > 0 ? (double)e->bytes / e->seconds / 1e6 : 0.0, e->tls_version,
			e->cipher, e->tx, e->rx);
	}
	emit(log_fd, f, &buf, &len);
}

void alog_close(void)
{
	if (log_fd > STDERR_FILENO)
		close(log_fd);
	log_fd = -1;
	log_set_sink(NULL);
}
