/* HTTP/1.1 message heads: request parsing (server), response parsing (client),
 * response head formatting, and byte ranges.  Pure code: buffers in, structs out; no file descriptors. */
#ifndef KXFER_HTTP_H
#define KXFER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define HTTP_HEAD_MAX (16 * 1024)

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_PUT, HTTP_OTHER };

struct http_request {
	enum http_method method;
	const char *method_name;
	const char *target;        /* as sent, NUL-terminated inside the parsed buffer */
	int version_minor;         /* HTTP/1.x */
	int64_t content_length;    /* -1: no Content-Length */
	bool chunked;              /* any Transfer-Encoding: a body without a length */
	bool keep_alive;
	bool expect_continue;
	const char *host;
	const char *range;         /* header values, or NULL */
	const char *if_range;
	const char *authorization;
	const char *accept;
	const char *want_repr_digest; /* RFC 9530: "sha-256=10" asks for Repr-Digest */
	const char *repr_digest;      /* RFC 9530: the digest of an uploaded body */
	const char *oc_mtime;         /* X-OC-Mtime: seconds since the epoch (ownCloud, rclone) */
	size_t head_len;           /* bytes of the head, including the blank line */
};

/* Parses a request head at the start of buf (modified in place: fields are NUL-terminated).
 * Returns the head length (> 0), 0 when more bytes are needed, or -STATUS for a request
 * that must be refused: -400 malformed, -431 head too large, -505 not HTTP/1.x. */
int http_parse_request(char *buf, size_t len, struct http_request *req);

struct http_response_head {
	int status;
	int version_minor;
	int64_t content_length;    /* -1: none (body runs to the end of the connection) */
	bool chunked;
	bool keep_alive;
	int64_t range_start, range_end, range_total;  /* from Content-Range, or -1 */
	const char *etag;          /* inside the parsed buffer, or NULL */
	const char *last_modified; /* header values inside the parsed buffer, or NULL */
	const char *repr_digest;
	size_t head_len;
};

/* Same contract for a response head: > 0 head length, 0 need more, -EPROTO malformed,
 * -E2BIG too large.  Interim 1xx responses are returned like any other. */
int http_parse_response(char *buf, size_t len, struct http_response_head *resp);

struct http_reply {
	int status;
	int64_t content_length;    /* -1: omit */
	const char *content_type;  /* NULL: omit */
	const char *etag;
	time_t last_modified;      /* 0: omit */
	int64_t range_start, range_end, range_total; /* range_total >= 0: add Content-Range;
	                                                range_start < 0: "bytes * / total" */
	bool close;
	const char *allow;
	const char *www_authenticate;
	const char *repr_digest;   /* base64 of the SHA-256: "Repr-Digest: sha-256=:...:" */
	bool mtime_accepted;       /* "X-OC-MTime: accepted" (the request's X-OC-Mtime was set) */
};

/* Formats a response head; returns its length, or -ENOSPC if cap is too small. */
int http_format_reply(char *buf, size_t cap, const struct http_reply *r);
const char *http_reason(int status);
/* RFC 7231 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (needs 30 bytes). */
char *http_date(time_t t, char *buf, size_t cap);
/* Parses an IMF-fixdate (the form every current server sends); -EINVAL otherwise. */
int http_parse_date(const char *s, time_t *out);

/* RFC 9530 integrity fields.  Does a Want-Repr-Digest value ask for sha-256 (weight > 0)? */
bool http_wants_sha256(const char *want);
/* The sha-256 member of a Repr-Digest dictionary ("sha-256=:BASE64:"): 0, -ENOENT when
 * there is none, -EINVAL when it is malformed. */
int http_digest_sha256(const char *repr_digest, uint8_t out[32]);

/* Byte ranges (RFC 9110 14): one "Range: bytes=..." request header. */
enum range_result {
	RANGE_NONE,          /* absent, malformed or several ranges: serve the whole file (200) */
	RANGE_PARTIAL,       /* serve [start, start + len) with 206 */
	RANGE_UNSATISFIABLE, /* 416 with "Content-Range: bytes * / size" */
};

enum range_result range_parse(const char *header, uint64_t size, uint64_t *start, uint64_t *len);

#endif
