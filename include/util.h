/* Small helpers shared by every module: time, logging, sizes, strings. */
#ifndef KXFER_UTIL_H
#define KXFER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* The kernel fills io_uring read buffers behind valgrind's back: say so, where built with
 * valgrind's headers (a no-op outside valgrind). */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define MEM_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* git describe of the build (main.c). */
extern const char kxfer_version[];

enum log_level { LOG_QUIET = 0, LOG_NORMAL = 1, LOG_VERBOSE = 2 };
extern int log_level;

/* Seconds on the monotonic clock. */
double now_sec(void);
/* CPU seconds this thread has used. */
double cpu_sec(void);

/* "kxfer PROG: message\n" on stderr, written with one write(2) so that lines from
 * several threads never interleave.  log_info is silent under --quiet, log_debug
 * needs --verbose; log_err always prints. */
void log_set_prog(const char *prog);
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line exactly as given (plus newline), one write(2). */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Diagnostic lines (log_err, log_info, log_debug) go to sink instead, already formatted:
 * level "error", "info" or "debug", prog, the message without a newline (serve
 * --log-format json).  NULL: back to "PROG: message" on stderr. */
typedef void log_sink_fn(const char *level, const char *prog, const char *msg);
void log_set_sink(log_sink_fn *sink);

/* "123", "64K", "1M", "1G" (powers of 1024) -> bytes; -EINVAL on garbage. */
int parse_size(const char *s, uint64_t *out);
/* A non-negative decimal integer no larger than max; -EINVAL otherwise. */
int parse_uint(const char *s, uint64_t max, uint64_t *out);
/* A count from 1 to max: threads, connections, runs, seconds. */
int parse_count(const char *s, unsigned max, unsigned *out);
struct option;
/* "bad value 'ARG' for --NAME", NAME found in a getopt_long table by its value; returns 2,
 * the usage exit status. */
int bad_option_value(const struct option *options, int opt, const char *arg);
/* Human-readable byte count: "1.5 GiB". */
const char *human_bytes(uint64_t n, char *buf, size_t cap);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Parses exactly 2*len hex digits (':' separators allowed); -EINVAL otherwise. */
int hex_decode(const char *in, uint8_t *out, size_t len);

/* Standard base64 (RFC 4648 4) with padding: the encoded length (out is NUL-terminated),
 * or -ENOSPC. */
int base64_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/* Decodes exactly n characters of padded base64; the byte count, or -EINVAL (bad
 * character or padding, or more than cap bytes). */
int base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* Constant-time comparison of two byte strings of possibly different lengths. */
bool ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Writes path through path.tmp, fsync and rename: never half a file under path. */
int write_file_atomic(const char *path, mode_t mode, const void *data, size_t len);

/* s as a JSON string (RFC 8259 7): quotes, backslashes and control characters escaped,
 * bytes that are not UTF-8 written as U+FFFD, so that the output always parses. */
void json_string(FILE *f, const char *s);

/* NAME's value in a file of "NAME VALUE" lines (/proc/net/tls_stat); 0, -ENOENT when the
 * name is not there, or -errno when the file is not. */
int proc_counter(const char *path, const char *name, unsigned long long *value);
/* The first value of key ("model name", "flags") in /proc/cpuinfo, trimmed. */
bool cpuinfo_value(const char *key, char *out, size_t cap);

/* Trim ASCII white space at both ends, in place; returns s. */
char *trim(char *s);

#endif
