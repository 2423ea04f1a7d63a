/* HTTP/1.1 message heads: request parsing, response parsing and response formatting.
 * Pure: no sockets and no files.  The parsers accept exactly CRLF line endings plus the
 * bare LF that RFC 9112 2.2 allows a recipient to accept. */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* Finds the end of the head ("\r\n\r\n" or "\n\n"); returns the head length or 0.
 * A server ignores empty lines before a request line (RFC 9112 2.2). */
static size_t head_end(const char *buf, size_t len, bool skip_empty_lines)
{
	size_t i = 0;

	while (skip_empty_lines && i < len && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	for (; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Splits off one line (NUL-terminated in place); advances *p. */
static char *next_line(char **p)
{
	char *line = *p, *nl = strchr(line, '\n');

	if (!nl)
		return NULL;
	*nl = 0;
	if (nl > line && nl[-1] == '\r')
		nl[-1] = 0;
	*p = nl + 1;
	return line;
}

static bool is_tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "Name: value" -> name, trimmed value.  -1 when the line is not a valid field. */
static int split_field(char *line, char **name, char **value)
{
	char *colon = strchr(line, ':');

	if (!colon || colon == line)
		return -1;
	for (char *c = line; c < colon; c++)
		if (!is_tchar((unsigned char)*c))
			return -1; /* includes white space before the colon (RFC 9112 5.1) */
	*colon = 0;
	*name = line;
	*value = trim(colon + 1);
	for (char *c = *value; *c; c++)
		if ((unsigned char)*c < 0x20 && *c != '\t')
			return -1;
	return 0;
}

/* A Content-Length value: digits only, no sign, no overflow. */
static int64_t parse_length(const char *v)
{
	uint64_t n;

	return parse_uint(v, INT64_MAX, &n) == 0 ? (int64_t)n : -2;
}

/* Does a comma-separated header value contain the token tok (case-insensitive)? */
static bool has_token(const char *value, const char *tok)
{
	size_t n = strlen(tok);

	for (const char *p = value; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!strncasecmp(p, tok, n) && (p[n] == 0 || p[n] == ',' || p[n] == ' ' || p[n] == ';'))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

static int parse_version(const char *v, int *minor)
{
	if (strncmp(v, "HTTP/", 5) || !isdigit((unsigned char)v[5]) || v[6] != '.' ||
	    !isdigit((unsigned char)v[7]) || v[8])
		return -400;
	if (v[5] != '1')
		return -505;
	*minor = v[7] - '0';
	return 0;
}

/* Before the head is complete: can these bytes still begin a request line?  The method is
 * tchars up to the first space.  Anything else (a TLS ClientHello sent to a plaintext port,
 * binary junk) is answered at once rather than waited on for a head that never ends. */
static bool could_begin_request(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	for (; i < len && buf[i] != ' '; i++)
		if (!is_tchar((unsigned char)buf[i]))
			return false;
	return true;
}

int http_parse_request(char *buf, size_t len, struct http_request *req)
{
	size_t n = head_end(buf, len, true);
	char *p = buf, *line, *sp1, *sp2, *name, *value;
	int rc, connection_close = 0, connection_keep = 0;

	if (!n && !could_begin_request(buf, len))
		return -400;
	if (!n)
		return len >= HTTP_HEAD_MAX ? -431 : 0;
	if (n > HTTP_HEAD_MAX)
		return -431;
	if (memchr(buf, 0, n))
		return -400;
	buf[n - 1] = 0; /* the last '\n': lines end at the blank line */
	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	req->head_len = n;

	while (*p == '\r' || *p == '\n') /* RFC 9112 2.2: ignore leading empty lines */
		p++;
	line = next_line(&p);
	if (!line)
		return -400;
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strchr(sp2 + 1, ' '))
		return -400;
	*sp1 = *sp2 = 0;
	for (char *c = line; *c; c++)
		if (!is_tchar((unsigned char)*c))
			return -400;
	rc = parse_version(sp2 + 1, &req->version_minor);
	if (rc)
		return rc;
	req->method_name = line;
	req->target = sp1 + 1;
	req->method = !strcmp(line, "GET") ? HTTP_GET : !strcmp(line, "HEAD") ? HTTP_HEAD :
		      !strcmp(line, "PUT") ? HTTP_PUT : HTTP_OTHER;
	for (const char *c = req->target; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return -400;

	while ((line = next_line(&p)) != NULL && *line) {
		if (split_field(line, &name, &value))
			return -400;
		if (!strcasecmp(name, "Content-Length")) {
			int64_t v = parse_length(value);

			if (v < 0 || (req->content_length >= 0 && req->content_length != v))
				return -400; /* RFC 9112 6.3: invalid or conflicting lengths */
			req->content_length = v;
		} else if (!strcasecmp(name, "Transfer-Encoding")) {
			req->chunked = true;
		} else if (!strcasecmp(name, "Connection")) {
			connection_close |= has_token(value, "close");
			connection_keep |= has_token(value, "keep-alive");
		} else if (!strcasecmp(name, "Host")) {
			if (req->host)
				return -400;
			req->host = value;
		} else if (!strcasecmp(name, "Range")) {
			req->range = value;
		} else if (!strcasecmp(name, "If-Range")) {
			req->if_range = value;
		} else if (!strcasecmp(name, "Authorization")) {
			req->authorization = value;
		} else if (!strcasecmp(name, "Expect")) {
			req->expect_continue = !strcasecmp(value, "100-continue");
		} else if (!strcasecmp(name, "Accept")) {
			req->accept = value;
		} else if (!strcasecmp(name, "Want-Repr-Digest")) {
			req->want_repr_digest = value;
		} else if (!strcasecmp(name, "Repr-Digest")) {
			req->repr_digest = value;
		} else if (!strcasecmp(name, "X-OC-Mtime")) {
			req->oc_mtime = value;
		}
	}
	if (req->version_minor >= 1 && !req->host)
		return -400; /* RFC 9112 3.2 */
	if (req->chunked && req->content_length >= 0)
		return -400; /* request smuggling shape: refuse outright */
	req->keep_alive = req->version_minor >= 1 ? !connection_close : connection_keep && !connection_close;
	return (int)n;
}

/* "bytes a-b/total" or "bytes * / total". */
static void parse_content_range(const char *v, struct http_response_head *r)
{
	long long a, b, t;

	if (sscanf(v, "bytes %lld-%lld/%lld", &a, &b, &t) == 3 && a >= 0 && b >= a && t > b) {
		r->range_start = a;
		r->range_end = b;
		r->range_total = t;
	} else if (sscanf(v, "bytes */%lld", &t) == 1 && t >= 0) {
		r->range_total = t;
	}
}

int http_parse_response(char *buf, size_t len, struct http_response_head *resp)
{
	size_t n = head_end(buf, len, false);
	char *p = buf, *line, *name, *value, *end;
	int connection_close = 0, connection_keep = 0, ranges = 0;
	long status;

	if (!n)
		return len >= HTTP_HEAD_MAX ? -E2BIG : 0;
	if (n > HTTP_HEAD_MAX)
		return -E2BIG;
	if (memchr(buf, 0, n))
		return -EPROTO;
	buf[n - 1] = 0;
	memset(resp, 0, sizeof(*resp));
	resp->content_length = -1;
	resp->range_start = resp->range_end = resp->range_total = -1;
	resp->head_len = n;

	line = next_line(&p);
	if (!line || strncmp(line, "HTTP/1.", 7) || !isdigit((unsigned char)line[7]) || line[8] != ' ')
		return -EPROTO;
	resp->version_minor = line[7] - '0';
	status = strtol(line + 9, &end, 10);
	if (status < 100 || status > 599 || end != line + 12 || (*end && *end != ' '))
		return -EPROTO;
	resp->status = (int)status;

	while ((line = next_line(&p)) != NULL && *line) {
		if (split_field(line, &name, &value))
			return -EPROTO;
		if (!strcasecmp(name, "Content-Length")) {
			int64_t v = parse_length(value);

			if (v < 0 || (resp->content_length >= 0 && resp->content_length != v))
				return -EPROTO;
			resp->content_length = v;
		} else if (!strcasecmp(name, "Transfer-Encoding")) {
			resp->chunked = !has_token(value, "identity") || has_token(value, "chunked");
		} else if (!strcasecmp(name, "Connection")) {
			connection_close |= has_token(value, "close");
			connection_keep |= has_token(value, "keep-alive");
		} else if (!strcasecmp(name, "Content-Range")) {
			if (ranges++) /* one field (RFC 9110 14.4): two could mix start, end and total */
				return -EPROTO;
			parse_content_range(value, resp);
		} else if (!strcasecmp(name, "ETag")) {
			resp->etag = value;
		} else if (!strcasecmp(name, "Last-Modified")) {
			resp->last_modified = value;
		} else if (!strcasecmp(name, "Repr-Digest")) {
			resp->repr_digest = value;
		}
	}
	resp->keep_alive = resp->version_minor >= 1 ? !connection_close : connection_keep && !connection_close;
	return (int)n;
}

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default:  return "Unknown";
	}
}

char *http_date(time_t t, char *buf, size_t cap)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	return buf;
}

int http_parse_date(const char *s, time_t *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char wday[4] = "", mon[4] = "", zone[4] = "";
	int day, year, h, m, sec, used = 0;
	const char *found;
	struct tm tm = { 0 }, back;
	time_t t;

	/* "Sun, 06 Nov 1994 08:49:37 GMT": the comma right after the day name, which a %s
	 * would swallow, and nothing after GMT. */
	if (!s || sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", wday, &day, mon,
			 &year, &h, &m, &sec, zone, &used) != 8 || s[used] || strlen(wday) != 3 ||
	    strlen(mon) != 3 || strcmp(zone, "GMT"))
		return -EINVAL;
	found = strstr(months, mon);
	if (!found || (found - months) % 3 || day < 1 || day > 31 || year < 1970 || h > 23 ||
	    m > 59 || sec > 60 || h < 0 || m < 0 || sec < 0)
		return -EINVAL;
	tm.tm_mday = day;
	tm.tm_mon = (int)(found - months) / 3;
	tm.tm_year = year - 1900;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* 31 Feb would quietly become 3 Mar. */
	if (!gmtime_r(&t, &back) || back.tm_mday != day || (sec < 60 && back.tm_sec != sec))
		return -EINVAL;
	*out = t;
	return 0;
}

/* Dictionary members (RFC 8941) "key=value" separated by commas: finds key's value. */
static const char *dict_member(const char *dict, const char *key, size_t *vlen)
{
	size_t klen = strlen(key);

	for (const char *p = dict; p && *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!strncasecmp(p, key, klen) && p[klen] == '=') {
			p += klen + 1;
			*vlen = strcspn(p, ",");
			while (*vlen && (p[*vlen - 1] == ' ' || p[*vlen - 1] == '\t'))
				(*vlen)--;
			return p;
		}
		p = strchr(p, ',');
	}
	return NULL;
}

bool http_wants_sha256(const char *want)
{
	size_t n;
	const char *v = want ? dict_member(want, "sha-256", &n) : NULL;
	uint64_t weight;
	char num[8];

	if (!v || n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, v, n);
	num[n] = 0;
	return parse_uint(num, 10, &weight) == 0 && weight > 0;
}

int http_digest_sha256(const char *repr_digest, uint8_t out[32])
{
	size_t n;
	const char *v = repr_digest ? dict_member(repr_digest, "sha-256", &n) : NULL;

	if (!v)
		return -ENOENT;
	if (n < 2 || v[0] != ':' || v[n - 1] != ':' || base64_decode(v + 1, n - 2, out, 32) != 32)
		return -EINVAL;
	return 0;
}

int http_format_reply(char *buf, size_t cap, const struct http_reply *r)
{
	char date[40];
	size_t n = 0;
	int m;

#define ADD(...)                                                   \
	do {                                                       \
		m = snprintf(buf + n, cap - n, __VA_ARGS__);       \
		if (m < 0 || (size_t)m >= cap - n)                 \
			return -ENOSPC;                            \
		n += (size_t)m;                                    \
	} while (0)

	ADD("HTTP/1.1 %d %s\r\nServer: kxfer\r\nDate: %s\r\n", r->status, http_reason(r->status),
	    http_date(time(NULL), date, sizeof(date)));
	if (r->content_length >= 0)
		ADD("Content-Length: %lld\r\n", (long long)r->content_length);
	if (r->content_type)
		ADD("Content-Type: %s\r\n", r->content_type);
	if (r->last_modified)
		ADD("Last-Modified: %s\r\n", http_date(r->last_modified, date, sizeof(date)));
	if (r->etag)
		ADD("ETag: %s\r\nAccept-Ranges: bytes\r\n", r->etag);
	if (r->range_total >= 0 && r->range_start >= 0)
		ADD("Content-Range: bytes %lld-%lld/%lld\r\n", (long long)r->range_start,
		    (long long)r->range_end, (long long)r->range_total);
	else if (r->range_total >= 0)
		ADD("Content-Range: bytes */%lld\r\n", (long long)r->range_total);
	if (r->allow)
		ADD("Allow: %s\r\n", r->allow);
	if (r->www_authenticate)
		ADD("WWW-Authenticate: %s\r\n", r->www_authenticate);
	if (r->repr_digest)
		ADD("Repr-Digest: sha-256=:%s:\r\n", r->repr_digest);
	if (r->mtime_accepted)
		ADD("X-OC-MTime: accepted\r\n");
	if (r->close)
		ADD("Connection: close\r\n");
	ADD("\r\n");
#undef ADD
	return (int)n;
}

/* Byte ranges (RFC 9110 14.1.2).  One range is honoured; a list of several is ignored,
 * which RFC 9110 14.2 allows ("a server MAY ignore the Range header field"), because
 * multipart/byteranges buys a bulk-transfer tool nothing. */
/* Reads a decimal number: 1, 0 if there is none, -1 if it overflows 64 bits. */
static int read_num(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return 0;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	*p = s;
	return 1;
}

static void skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

enum range_result range_parse(const char *header, uint64_t size, uint64_t *start, uint64_t *len)
{
	const char *p = header;
	uint64_t first, last;
	int r;

	if (!p)
		return RANGE_NONE;
	skip_ws(&p);
	if (strncasecmp(p, "bytes", 5))
		return RANGE_NONE;
	p += 5;
	skip_ws(&p);
	if (*p++ != '=')
		return RANGE_NONE;
	skip_ws(&p);
	if (strchr(p, ','))
		return RANGE_NONE;

	if (*p == '-') { /* suffix: the last N bytes */
		p++;
		if ((r = read_num(&p, &last)) <= 0) /* overflow: 416, as nginx answers */
			return r ? RANGE_UNSATISFIABLE : RANGE_NONE;
		skip_ws(&p);
		if (*p)
			return RANGE_NONE;
		if (last == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		if (last > size)
			last = size;
		*start = size - last;
		*len = last;
		return RANGE_PARTIAL;
	}

	if ((r = read_num(&p, &first)) < 0)
		return RANGE_UNSATISFIABLE;
	if (!r || *p++ != '-')
		return RANGE_NONE;
	if (isdigit((unsigned char)*p)) {
		if ((r = read_num(&p, &last)) < 0)
			return RANGE_UNSATISFIABLE;
		if (last < first)
			return RANGE_NONE;
	} else {
		last = UINT64_MAX;
	}
	skip_ws(&p);
	if (*p)
		return RANGE_NONE;
	if (first >= size)
		return RANGE_UNSATISFIABLE;
	if (last >= size)
		last = size - 1;
	*start = first;
	*len = last - first + 1;
	return RANGE_PARTIAL;
}
