/* Small helpers shared by every module: time, logging, sizes, strings. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_level = LOG_NORMAL;
static const char *log_prog = "kxfer";

double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double cpu_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void log_set_prog(const char *prog)
{
	log_prog = prog;
}

static log_sink_fn *log_sink;

void log_set_sink(log_sink_fn *sink)
{
	log_sink = sink;
}

static void log_write(const char *level, const char *prefix, const char *fmt, va_list ap)
{
	char line[2048];
	int n = 0, m;

	if (prefix && !log_sink)
		n = snprintf(line, sizeof(line), "%s: ", prefix);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		return;
	n = MIN((size_t)(n + m), sizeof(line) - 2);
	if (log_sink && prefix) { /* diagnostics only: access lines have a sink of their own */
		line[n] = 0;
		log_sink(level, prefix, line);
		return;
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

#define LOG_FN(name, min_level, level, prefix)           \
	void name(const char *fmt, ...)                  \
	{                                                \
		va_list ap;                              \
		if (log_level < (min_level))             \
			return;                          \
		va_start(ap, fmt);                       \
		log_write(level, prefix, fmt, ap);       \
		va_end(ap);                              \
	}

LOG_FN(log_err, LOG_QUIET, "error", log_prog)
LOG_FN(log_info, LOG_NORMAL, "info", log_prog)
LOG_FN(log_debug, LOG_VERBOSE, "debug", log_prog)
LOG_FN(log_line, LOG_NORMAL, NULL, NULL)

int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_count(const char *s, unsigned max, unsigned *out)
{
	uint64_t v;

	if (parse_uint(s, max, &v) || v == 0)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int bad_option_value(const struct option *options, int opt, const char *arg)
{
	for (const struct option *o = options; o->name; o++)
		if (o->val == opt)
			log_err("bad value '%s' for --%s", arg, o->name);
	return 2;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 0: break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: return -EINVAL;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'B' || *end == 'b'))
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

const char *human_bytes(uint64_t n, char *buf, size_t cap)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(unit)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, cap, "%.1f %s", v, unit[u]);
	return buf;
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	if ((len + 2) / 3 * 4 + 1 > cap)
		return -ENOSPC;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);

		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? b64[v & 63] : '=';
	}
	out[o] = 0;
	return (int)o;
}

int base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 0;

	if (n % 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;

		for (int j = 0; j < 4; j++) {
			const char *p = in[i + j] ? strchr(b64, in[i + j]) : NULL;

			if (in[i + j] == '=' && i + 4 == n && j >= 2 && (j == 3 || in[i + 3] == '=')) {
				pad++;
				v <<= 6;
				continue;
			}
			if (!p || pad)
				return -EINVAL;
			v = v << 6 | (uint32_t)(p - b64);
		}
		if (o + 3 - (size_t)pad > cap)
			return -EINVAL;
		out[o++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)v;
	}
	return (int)o;
}

static int hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t len)
{
	size_t n = 0;

	while (*in && n < len) {
		int hi, lo;

		if (*in == ':') {
			in++;
			continue;
		}
		hi = hex_val((unsigned char)in[0]);
		lo = hi < 0 ? -1 : hex_val((unsigned char)in[1]);
		if (lo < 0)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
		in += 2;
	}
	return n == len && *in == 0 ? 0 : -EINVAL;
}

bool ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const volatile uint8_t *x = a, *y = b;
	size_t n = MAX(alen, blen);
	uint8_t diff = alen != blen;

	/* Walk the longer length so timing reveals nothing about where they differ. */
	for (size_t i = 0; i < n; i++)
		diff |= (i < alen ? x[i] : 0) ^ (i < blen ? y[i] : 0);
	return diff == 0;
}

char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = 0;
	return s;
}

int write_file_atomic(const char *path, mode_t mode, const void *data, size_t len)
{
	char tmp[4200];
	const char *p = data;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (len > 0 && rc == 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno != EINTR)
			rc = -errno;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 section 4), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 :
		   s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;

	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* RFC 8259 section 7: quote, backslash and control characters escaped; bytes that are not
 * UTF-8 become U+FFFD, so that the output always parses. */
void json_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		size_t n = 1;

		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '\t')
			fputs("\\t", f);
		else if (*s < 0x20 || *s == 0x7f)
			fprintf(f, "\\u%04x", *s);
		else if (*s < 0x80)
			fputc(*s, f);
		else if ((n = utf8_len(s)) != 0)
			fwrite(s, 1, n, f);
		else {
			fputs("\\ufffd", f);
			n = 1;
		}
		s += n;
	}
	fputc('"', f);
}

bool cpuinfo_value(const char *key, char *out, size_t cap)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		*colon = 0;
		if (!strcmp(trim(line), key)) {
			snprintf(out, cap, "%s", trim(colon + 1));
			found = true;
		}
	}
	if (f)
		fclose(f);
	return found;
}

int proc_counter(const char *path, const char *name, unsigned long long *value)
{
	FILE *f = fopen(path, "r");
	char key[64];
	unsigned long long v;
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (rc && fscanf(f, "%63s %llu", key, &v) == 2)
		if (!strcmp(key, name)) {
			*value = v;
			rc = 0;
		}
	fclose(f);
	return rc;
}
