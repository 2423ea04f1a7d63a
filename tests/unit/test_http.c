/* Unit tests for src/http.c: request/response head parsing, reply formatting, dates,
 * RFC 9530 digest fields. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "unit.h"
#include "util.h"

/* Each parse gets an exact-size heap copy (no terminating NUL), so valgrind/ASan catch
 * any read past len.  The previous copy is freed on the next call; fields of the last
 * parsed struct stay valid until then. */
static char *cur;

static char *copy(const char *s, size_t len)
{
	free(cur);
	cur = malloc(len ? len : 1);
	memcpy(cur, s, len);
	return cur;
}

static int req_n(const char *s, size_t len, struct http_request *r)
{
	return http_parse_request(copy(s, len), len, r);
}

static int req(const char *s, struct http_request *r)
{
	return req_n(s, strlen(s), r);
}

static int resp_n(const char *s, size_t len, struct http_response_head *r)
{
	return http_parse_response(copy(s, len), len, r);
}

static int resp(const char *s, struct http_response_head *r)
{
	return resp_n(s, strlen(s), r);
}

/* A request of exactly total bytes (padding in an X-Pad header); with_end adds the
 * terminating blank line within total. */
static char *big_head(size_t total, int with_end)
{
	const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	const char *end = with_end ? "\r\n\r\n" : "";
	size_t np = strlen(pre), ne = strlen(end);
	char *b = malloc(total);

	memcpy(b, pre, np);
	memset(b + np, 'a', total - np - ne);
	memcpy(b + total - ne, end, ne);
	return b;
}

static void test_request_basic(void)
{
	struct http_request r;
	const char *get = "GET /dir/file.txt?x=1 HTTP/1.1\r\nHost: example.com\r\n"
			  "User-Agent: t/1\r\nAccept: */*\r\n\r\n";
	int n = (int)strlen(get);

	CHECK_INT("req GET: returns head length", req(get, &r), n);
	CHECK_INT("req GET: head_len", r.head_len, n);
	CHECK_INT("req GET: method", r.method, HTTP_GET);
	CHECK_STR("req GET: method_name", r.method_name, "GET");
	CHECK_STR("req GET: target", r.target, "/dir/file.txt?x=1");
	CHECK_INT("req GET: version_minor", r.version_minor, 1);
	CHECK_STR("req GET: host", r.host, "example.com");
	CHECK("req GET: keep_alive default on HTTP/1.1", r.keep_alive);
	CHECK_INT("req GET: no content_length", r.content_length, -1);
	CHECK("req GET: not chunked", !r.chunked);
	CHECK("req GET: no expect", !r.expect_continue);
	CHECK("req GET: range/if_range/authorization NULL",
	      !r.range && !r.if_range && !r.authorization);

	/* Body bytes after the head are not part of it. */
	CHECK_INT("req GET: trailing body bytes excluded",
		  req("PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nBODY", &r),
		  (int)strlen("PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n"));
	CHECK_INT("req PUT: method", r.method, HTTP_PUT);
	CHECK_INT("req PUT: content_length", r.content_length, 4);

	CHECK("req HEAD: parses", req("HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
	CHECK_INT("req HEAD: method", r.method, HTTP_HEAD);
	CHECK_STR("req HEAD: method_name", r.method_name, "HEAD");

	CHECK("req PUT large Content-Length: parses",
	      req("PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 1099511627776\r\n\r\n", &r) > 0);
	CHECK_INT("req PUT large Content-Length: value", r.content_length, 1099511627776LL);

	CHECK("req DELETE: parses", req("DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
	CHECK_INT("req DELETE: HTTP_OTHER", r.method, HTTP_OTHER);
	CHECK_STR("req DELETE: method_name", r.method_name, "DELETE");
	CHECK("req lower-case get: parses", req("get / HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
	CHECK_INT("req lower-case get: methods are case-sensitive", r.method, HTTP_OTHER);

	CHECK("req 1.0: parses without Host", req("GET / HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK_INT("req 1.0: version_minor", r.version_minor, 0);
	CHECK("req 1.0: no keep-alive by default", !r.keep_alive);
	CHECK("req 1.0: host NULL", r.host == NULL);
	CHECK("req 1.0 keep-alive: parses",
	      req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0);
	CHECK("req 1.0 keep-alive: keep_alive", r.keep_alive);
	CHECK("req 1.0 keep-alive, close: parses",
	      req("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &r) > 0);
	CHECK("req 1.0 keep-alive, close: close wins", !r.keep_alive);

	CHECK("req Connection: close: parses",
	      req("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &r) > 0);
	CHECK("req Connection: close: no keep_alive", !r.keep_alive);
	CHECK("req Connection: Upgrade, CLOSE: parses",
	      req("GET / HTTP/1.1\r\nHost: h\r\nconnection: Upgrade, CLOSE\r\n\r\n", &r) > 0);
	CHECK("req Connection: Upgrade, CLOSE: no keep_alive", !r.keep_alive);
	CHECK("req Connection: closed (not a token match): parses",
	      req("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", &r) > 0);
	CHECK("req Connection: closed: still keep_alive", r.keep_alive);

	CHECK("req Expect: parses",
	      req("PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n", &r) > 0);
	CHECK("req Expect: 100-continue", r.expect_continue);
	CHECK("req Expect case-insensitive: parses",
	      req("PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nexpect: 100-Continue\r\n\r\n", &r) > 0);
	CHECK("req Expect case-insensitive: 100-continue", r.expect_continue);
	CHECK("req Expect other: parses",
	      req("PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: something\r\n\r\n", &r) > 0);
	CHECK("req Expect other: not continue", !r.expect_continue);

	CHECK("req Range headers: parses",
	      req("GET /f HTTP/1.1\r\nhost:   h.example  \r\nrange: bytes=0-99\r\n"
		  "If-Range: \"abc\"\r\nAUTHORIZATION: Bearer tok en\t\r\n\r\n", &r) > 0);
	CHECK_STR("req Range headers: host trimmed", r.host, "h.example");
	CHECK_STR("req Range headers: range", r.range, "bytes=0-99");
	CHECK_STR("req Range headers: if_range", r.if_range, "\"abc\"");
	CHECK_STR("req Range headers: authorization trimmed", r.authorization, "Bearer tok en");

	CHECK("req Transfer-Encoding chunked: parses",
	      req("PUT /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &r) > 0);
	CHECK("req Transfer-Encoding chunked: chunked", r.chunked);
	CHECK_INT("req Transfer-Encoding chunked: no length", r.content_length, -1);

	CHECK("req duplicate equal Content-Length: parses",
	      req("PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &r) > 0);
	CHECK_INT("req duplicate equal Content-Length: value", r.content_length, 5);
	CHECK("req tab inside a value: allowed",
	      req("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb\r\n\r\n", &r) > 0);
	CHECK("req empty header value: allowed",
	      req("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n", &r) > 0);
}

static void test_request_framing(void)
{
	struct http_request r;
	const char *lf = "GET /x HTTP/1.1\nHost: h\n\n";
	const char *crlf = "GET /a/b HTTP/1.1\r\nHost: h\r\nRange: bytes=1-2\r\n\r\n";
	size_t len = strlen(crlf);
	int bad = 0;

	for (size_t i = 0; i < len; i++)
		if (req_n(crlf, i, &r) != 0)
			bad++;
	CHECK_INT("req incomplete: every prefix returns 0", bad, 0);
	CHECK_INT("req incomplete: the whole head parses", req_n(crlf, len, &r), (int)len);
	CHECK_STR("req incomplete: range after byte feeding", r.range, "bytes=1-2");

	bad = 0;
	for (size_t i = 0; i < strlen(lf); i++)
		if (req_n(lf, i, &r) != 0)
			bad++;
	CHECK_INT("req bare LF incomplete: every prefix returns 0", bad, 0);
	CHECK_INT("req bare LF: parses", req(lf, &r), (int)strlen(lf));
	CHECK_STR("req bare LF: target", r.target, "/x");
	CHECK_STR("req bare LF: host", r.host, "h");
	CHECK_INT("req mixed CRLF/LF: parses",
		  req("GET /x HTTP/1.1\r\nHost: h\n\r\n", &r), (int)strlen("GET /x HTTP/1.1\r\nHost: h\n\r\n"));
	CHECK_STR("req mixed CRLF/LF: host", r.host, "h");

	CHECK_INT("req one leading CRLF: ignored",
		  req("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &r), (int)strlen("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"));
	CHECK_INT("req one leading CRLF: method", r.method, HTTP_GET);
	CHECK_INT("req one leading LF: ignored",
		  req("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &r), (int)strlen("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"));
	/* RFC 9112 2.2 and the parser's own comment: leading empty lines (plural). */
	CHECK_INT("req two leading CRLFs: ignored",
		  req("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &r),
		  (int)strlen("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"));
	/* Only empty lines so far: the request line has not arrived yet. */
	CHECK_INT("req only empty lines: need more", req("\r\n\r\n", &r), 0);

	/* Bytes that can never begin a request line are refused before the head is complete. */
	CHECK_INT("req TLS ClientHello start (16 03 01): -400 at once", req_n("\x16\x03\x01\x02\x00", 5, &r), -400);
	CHECK_INT("req first byte 0x16 alone: -400", req_n("\x16", 1, &r), -400);
	CHECK_INT("req junk in the method before a space: -400", req("GE(T", &r), -400);
	CHECK_INT("req NUL in the method: -400", req_n("GE\0", 3, &r), -400);
	CHECK_INT("req partial method: need more", req("GE", &r), 0);
	CHECK_INT("req method and space: need more", req("GET ", &r), 0);
	CHECK_INT("req CRLF then partial method: need more", req("\r\nPU", &r), 0);
	CHECK_INT("req partial request line: need more", req("GET /x HT", &r), 0);
}

static void test_request_malformed(void)
{
	struct http_request r;
	static const struct {
		const char *name, *text;
		int want;
	} cases[] = {
		{ "req missing version", "GET /\r\nHost: h\r\n\r\n", -400 },
		{ "req missing target", "GET HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "req three spaces", "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", -400 },
		{ "req double space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "req trailing space", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", -400 },
		{ "req leading space", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "req lowercase version", "GET / http/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "req garbage version", "GET / HTTP/x.y\r\nHost: h\r\n\r\n", -400 },
		{ "req version without dot", "GET / HTTP/11\r\nHost: h\r\n\r\n", -400 },
		{ "req version 1.10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", -400 },
		{ "req HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", -505 },
		{ "req HTTP/0.9", "GET / HTTP/0.9\r\nHost: h\r\n\r\n", -505 },
		{ "req bad method char", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "req tab in target", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "req DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "req CR in request line", "GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "req header without colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", -400 },
		{ "req header empty name", "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", -400 },
		{ "req space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", -400 },
		{ "req obs-fold space", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", -400 },
		{ "req obs-fold tab", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb: c\r\n\r\n", -400 },
		{ "req control char in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01z\r\n\r\n", -400 },
		{ "req bare CR in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rz\r\n\r\n", -400 },
		{ "req conflicting Content-Length",
		  "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", -400 },
		{ "req negative Content-Length", "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", -400 },
		{ "req plus Content-Length", "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", -400 },
		{ "req non-numeric Content-Length", "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", -400 },
		{ "req Content-Length list", "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", -400 },
		{ "req empty Content-Length", "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", -400 },
		{ "req Content-Length 5x", "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5x\r\n\r\n", -400 },
		{ "req overflowing Content-Length",
		  "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", -400 },
		{ "req Transfer-Encoding + Content-Length",
		  "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", -400 },
		{ "req Content-Length + Transfer-Encoding",
		  "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -400 },
		{ "req HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", -400 },
		{ "req duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400 },
		{ "req duplicate Host differing case", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", -400 },
	};
	static const char nul_value[] = "GET / HTTP/1.1\r\nHost: h\0x\r\n\r\n";
	static const char nul_target[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(cases[i].name, req(cases[i].text, &r), cases[i].want);
	CHECK_INT("req NUL in header value", req_n(nul_value, sizeof(nul_value) - 1, &r), -400);
	CHECK_INT("req NUL in target", req_n(nul_target, sizeof(nul_target) - 1, &r), -400);
}

static void test_request_too_large(void)
{
	struct http_request r;
	char *b;

	b = big_head(HTTP_HEAD_MAX, 0);
	CHECK_INT("req HTTP_HEAD_MAX bytes, no blank line: -431", req_n(b, HTTP_HEAD_MAX, &r), -431);
	CHECK_INT("req HTTP_HEAD_MAX-1 bytes, no blank line: need more", req_n(b, HTTP_HEAD_MAX - 1, &r), 0);
	free(b);
	b = big_head(HTTP_HEAD_MAX + 100, 0);
	CHECK_INT("req oversized, no blank line: -431", req_n(b, HTTP_HEAD_MAX + 100, &r), -431);
	free(b);
	b = big_head(HTTP_HEAD_MAX + 1, 1);
	CHECK_INT("req HTTP_HEAD_MAX+1 with blank line: -431", req_n(b, HTTP_HEAD_MAX + 1, &r), -431);
	free(b);
	b = big_head(HTTP_HEAD_MAX, 1);
	CHECK_INT("req exactly HTTP_HEAD_MAX with blank line: accepted", req_n(b, HTTP_HEAD_MAX, &r),
		  HTTP_HEAD_MAX);
	free(b);
}

static void test_response(void)
{
	struct http_response_head h;
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nServer: x\r\n\r\n";
	const char *two = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
	char *b;

	CHECK_INT("resp 200: head length", resp(ok, &h), (int)strlen(ok));
	CHECK_INT("resp 200: status", h.status, 200);
	CHECK_INT("resp 200: version_minor", h.version_minor, 1);
	CHECK_INT("resp 200: content_length", h.content_length, 42);
	CHECK_INT("resp 200: head_len", h.head_len, strlen(ok));
	CHECK("resp 200: keep_alive", h.keep_alive);
	CHECK("resp 200: not chunked", !h.chunked);
	CHECK("resp 200: no range", h.range_start == -1 && h.range_end == -1 && h.range_total == -1);

	CHECK("resp 206: parses",
	      resp("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\nContent-Length: 10\r\n\r\n", &h) > 0);
	CHECK_INT("resp 206: status", h.status, 206);
	CHECK_INT("resp 206: range_start", h.range_start, 0);
	CHECK_INT("resp 206: range_end", h.range_end, 9);
	CHECK_INT("resp 206: range_total", h.range_total, 100);
	CHECK("resp 416: parses",
	      resp("HTTP/1.1 416 Range Not Satisfiable\r\ncontent-range: bytes */100\r\n\r\n", &h) > 0);
	CHECK_INT("resp 416: status", h.status, 416);
	CHECK("resp 416: no start/end", h.range_start == -1 && h.range_end == -1);
	CHECK_INT("resp 416: range_total", h.range_total, 100);
	CHECK_INT("resp 416: content_length absent", h.content_length, -1);
	CHECK("resp bad Content-Range end<start: parses",
	      resp("HTTP/1.1 206 x\r\nContent-Range: bytes 9-0/100\r\n\r\n", &h) > 0);
	CHECK("resp bad Content-Range end<start: ignored",
	      h.range_start == -1 && h.range_end == -1 && h.range_total == -1);
	CHECK("resp bad Content-Range end>=total: parses",
	      resp("HTTP/1.1 206 x\r\nContent-Range: bytes 0-100/100\r\n\r\n", &h) > 0);
	CHECK("resp bad Content-Range end>=total: ignored",
	      h.range_start == -1 && h.range_end == -1 && h.range_total == -1);
	/* Found by fuzzing (fuzz_http_response): a second Content-Range left the first one's
	 * start and end with the second one's total, end past it. */
	CHECK_INT("resp two Content-Range fields: malformed",
		  resp("HTTP/1.1 206 x\r\nContent-Range: bytes 10-19/16384\r\nContent-Range: bytes */10\r\n\r\n", &h),
		  -EPROTO);
	CHECK_INT("resp two identical Content-Range fields: malformed",
		  resp("HTTP/1.1 206 x\r\nContent-Range: bytes 0-9/100\r\nContent-Range: bytes 0-9/100\r\n\r\n", &h),
		  -EPROTO);

	CHECK("resp chunked: parses", resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &h) > 0);
	CHECK("resp chunked: chunked", h.chunked);
	CHECK("resp gzip, chunked: parses",
	      resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &h) > 0);
	CHECK("resp gzip, chunked: chunked", h.chunked);
	CHECK("resp identity: parses", resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", &h) > 0);
	CHECK("resp identity: not chunked", !h.chunked);

	CHECK("resp Connection: close: parses", resp("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", &h) > 0);
	CHECK("resp Connection: close: no keep_alive", !h.keep_alive);
	CHECK("resp HTTP/1.0: parses", resp("HTTP/1.0 200 OK\r\n\r\n", &h) > 0);
	CHECK_INT("resp HTTP/1.0: version_minor", h.version_minor, 0);
	CHECK("resp HTTP/1.0: no keep_alive", !h.keep_alive);
	CHECK("resp HTTP/1.0 keep-alive: parses", resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", &h) > 0);
	CHECK("resp HTTP/1.0 keep-alive: keep_alive", h.keep_alive);
	CHECK_INT("resp no reason phrase: parses", resp("HTTP/1.1 204\r\n\r\n", &h), 16);
	CHECK_INT("resp no reason phrase: status", h.status, 204);
	CHECK_INT("resp bare LF: parses", resp("HTTP/1.1 404 Not Found\nContent-Length: 3\n\n", &h),
		  (int)strlen("HTTP/1.1 404 Not Found\nContent-Length: 3\n\n"));
	CHECK_INT("resp bare LF: content_length", h.content_length, 3);

	CHECK_INT("resp incomplete: 0", resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", &h), 0);
	CHECK_INT("resp empty: 0", resp_n("", 0, &h), 0);

	/* 100 Continue then the final response in one buffer. */
	CHECK_INT("resp 100 then 201: returns the 100's length", resp(two, &h), 25);
	CHECK_INT("resp 100 then 201: status 100", h.status, 100);
	CHECK_INT("resp 100 then 201: second head", http_parse_response(cur + 25, strlen(two) - 25, &h),
		  (int)strlen(two) - 25);
	CHECK_INT("resp 100 then 201: status 201", h.status, 201);
	CHECK_INT("resp 100 then 201: content_length 0", h.content_length, 0);

	static const char *bad[] = {
		"HTTP/1.1 20 OK\r\n\r\n",    "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",     "HTTP/1.1  200 OK\r\n\r\n", "http/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",    "HTTP/1.1 099 x\r\n\r\n",   "HTTP/1.1 600 x\r\n\r\n",
		"ICY 200 OK\r\n\r\n",        "HTTP/1.1 +20 OK\r\n\r\n",  "HTTP/1.x 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBroken\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[96];

		snprintf(name, sizeof(name), "resp malformed #%zu: -EPROTO", i);
		CHECK_INT(name, resp(bad[i], &h), -EPROTO);
	}
	static const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
	CHECK_INT("resp NUL byte: -EPROTO", resp_n(nul, sizeof(nul) - 1, &h), -EPROTO);

	b = malloc(HTTP_HEAD_MAX);
	memcpy(b, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(b + 20, 'a', HTTP_HEAD_MAX - 20);
	CHECK_INT("resp oversized: -E2BIG", resp_n(b, HTTP_HEAD_MAX, &h), -E2BIG);
	free(b);
}

static int starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static int contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

static void test_format(void)
{
	char buf[1024], small[16];
	struct http_response_head h;
	struct http_reply r = {
		.status = 206,
		.content_length = 10,
		.content_type = "application/octet-stream",
		.etag = "\"e1\"",
		.last_modified = 784111777,
		.range_start = 0, .range_end = 9, .range_total = 100,
		.close = true,
	};
	int n = http_format_reply(buf, sizeof(buf), &r);

	CHECK_INT("fmt 206: returns strlen", n, (int)strlen(buf));
	CHECK("fmt 206: status line first", starts(buf, "HTTP/1.1 206 Partial Content\r\n"));
	CHECK("fmt 206: Date", contains(buf, "\r\nDate: ") && contains(buf, " GMT\r\n"));
	CHECK("fmt 206: Content-Length", contains(buf, "\r\nContent-Length: 10\r\n"));
	CHECK("fmt 206: Content-Type", contains(buf, "\r\nContent-Type: application/octet-stream\r\n"));
	CHECK("fmt 206: Last-Modified", contains(buf, "\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
	CHECK("fmt 206: ETag", contains(buf, "\r\nETag: \"e1\"\r\n"));
	CHECK("fmt 206: Accept-Ranges", contains(buf, "\r\nAccept-Ranges: bytes\r\n"));
	CHECK("fmt 206: Content-Range", contains(buf, "\r\nContent-Range: bytes 0-9/100\r\n"));
	CHECK("fmt 206: Connection: close", contains(buf, "\r\nConnection: close\r\n"));
	CHECK("fmt 206: no Allow", !contains(buf, "Allow:"));
	CHECK("fmt 206: ends with one blank line",
	      n > 4 && !strcmp(buf + n - 4, "\r\n\r\n") && strstr(buf, "\r\n\r\n") == buf + n - 4);
	CHECK_INT("fmt 206: round-trips through the parser", http_parse_response(buf, (size_t)n, &h), n);
	CHECK_INT("fmt 206: round-trip status", h.status, 206);
	CHECK_INT("fmt 206: round-trip content_length", h.content_length, 10);
	CHECK("fmt 206: round-trip range", h.range_start == 0 && h.range_end == 9 && h.range_total == 100);
	CHECK("fmt 206: round-trip close", !h.keep_alive);

	CHECK_INT("fmt exact cap (no room for NUL): -ENOSPC", http_format_reply(buf, (size_t)n, &r), -ENOSPC);
	CHECK_INT("fmt cap n+1: fits", http_format_reply(buf, (size_t)n + 1, &r), n);
	CHECK_INT("fmt tiny buffer: -ENOSPC", http_format_reply(small, sizeof(small), &r), -ENOSPC);
	CHECK_INT("fmt zero cap: -ENOSPC", http_format_reply(small, 0, &r), -ENOSPC);

	r = (struct http_reply){ .status = 416, .content_length = 0, .range_start = -1, .range_end = -1,
				 .range_total = 100 };
	n = http_format_reply(buf, sizeof(buf), &r);
	CHECK("fmt 416: formats", n > 0);
	CHECK("fmt 416: status line", starts(buf, "HTTP/1.1 416 Range Not Satisfiable\r\n"));
	CHECK("fmt 416: Content-Range */total", contains(buf, "\r\nContent-Range: bytes */100\r\n"));
	CHECK("fmt 416: Content-Length: 0", contains(buf, "\r\nContent-Length: 0\r\n"));
	CHECK("fmt 416: no Connection when !close", !contains(buf, "Connection:"));
	CHECK("fmt 416: no ETag/Last-Modified/Content-Type",
	      !contains(buf, "ETag:") && !contains(buf, "Last-Modified:") && !contains(buf, "Content-Type:"));

	r = (struct http_reply){ .status = 405, .content_length = -1, .range_total = -1,
				 .allow = "GET, HEAD, PUT" };
	n = http_format_reply(buf, sizeof(buf), &r);
	CHECK("fmt 405: status line", n > 0 && starts(buf, "HTTP/1.1 405 Method Not Allowed\r\n"));
	CHECK("fmt 405: Allow", contains(buf, "\r\nAllow: GET, HEAD, PUT\r\n"));
	CHECK("fmt 405: no Content-Length when -1", !contains(buf, "Content-Length"));
	CHECK("fmt 405: no Content-Range when total -1", !contains(buf, "Content-Range"));

	r = (struct http_reply){ .status = 401, .content_length = 0, .range_total = -1,
				 .www_authenticate = "Bearer realm=\"kxfer\"", .close = true };
	n = http_format_reply(buf, sizeof(buf), &r);
	CHECK("fmt 401: status line", n > 0 && starts(buf, "HTTP/1.1 401 Unauthorized\r\n"));
	CHECK("fmt 401: WWW-Authenticate", contains(buf, "\r\nWWW-Authenticate: Bearer realm=\"kxfer\"\r\n"));
	CHECK("fmt 401: Connection: close", contains(buf, "\r\nConnection: close\r\n"));

	r = (struct http_reply){ .status = 299, .content_length = -1, .range_total = -1 };
	n = http_format_reply(buf, sizeof(buf), &r);
	CHECK("fmt unknown status", n > 0 && starts(buf, "HTTP/1.1 299 Unknown\r\n"));
	CHECK_STR("reason 404", http_reason(404), "Not Found");
	CHECK_STR("reason 505", http_reason(505), "HTTP Version Not Supported");
	CHECK_STR("reason 431", http_reason(431), "Request Header Fields Too Large");
}

static void test_date(void)
{
	char buf[64];

	CHECK_STR("date RFC example", http_date(784111777, buf, sizeof(buf)), "Sun, 06 Nov 1994 08:49:37 GMT");
	CHECK("date returns buf", http_date(0, buf, sizeof(buf)) == buf);
	CHECK_STR("date epoch", buf, "Thu, 01 Jan 1970 00:00:00 GMT");
	CHECK_STR("date 30-byte buffer", http_date(1700000000, buf, 30), "Tue, 14 Nov 2023 22:13:20 GMT");
	CHECK_STR("date leap day", http_date(951782400, buf, sizeof(buf)), "Tue, 29 Feb 2000 00:00:00 GMT");
}

static void test_parse_date(void)
{
	static const struct { const char *s; time_t t; } good[] = {
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 }, { "Thu, 01 Jan 1970 00:00:00 GMT", 0 },
		{ "Tue, 29 Feb 2000 00:00:00 GMT", 951782400 }, { "Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL },
	};
	static const char *const bad[] = {
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", /* RFC 850, asctime */
		"Sun 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
		"Sun, 06 Nov 1994 08:49:37 GMT ", "Sun, 06 Nov 1994 08:49:37",
		"Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT",
		"Sun, 06 anF 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1969 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT",
		"Sun, 06 Nov 1994 08:49:61 GMT", "Sunday, 06 Nov 1994 08:49:37 GMT", "", NULL,
	};
	char buf[64], name[128];
	bool all = true;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		time_t t = -1;

		snprintf(name, sizeof(name), "parse_date \"%s\" = %lld", good[i].s, (long long)good[i].t);
		CHECK(name, http_parse_date(good[i].s, &t) == 0 && t == good[i].t);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		time_t t = 12345;

		snprintf(name, sizeof(name), "parse_date \"%s\": -EINVAL, output untouched", bad[i] ? bad[i] : "(null)");
		CHECK(name, http_parse_date(bad[i], &t) == -EINVAL && t == 12345);
	}
	for (time_t t = 0; t < 4000000000LL; t += 123456789) {
		time_t back = -1;

		all &= http_parse_date(http_date(t, buf, sizeof(buf)), &back) == 0 && back == t;
	}
	CHECK("parse_date(http_date(t)) == t for 33 dates up to 2096", all);
}

static void test_want_digest(void)
{
	static const struct { const char *v; bool yes; } cases[] = {
		{ "sha-256=10", true }, { "sha-256=1", true }, { "sha-512=3, sha-256=1", true }, { "", false },
		{ " sha-512=3 ,  sha-256=2 ", true }, { "sha-256=0", false }, { "sha-256=11", false },
		{ "sha-512=5", false }, { "sha-256", false }, { "sha-256=", false }, { "sha-256=-1", false },
		{ "sha-256=99999999999999999999", false }, { "sha-256=5;q", false }, { NULL, false },
		{ "xsha-256=5", false }, { "sha-2567=5", false }, { ";;;=,,,", false },
	};
	char name[128];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(name, sizeof(name), "wants_sha256 \"%s\": %s", cases[i].v ? cases[i].v : "(null)",
			 cases[i].yes ? "yes" : "no");
		CHECK(name, http_wants_sha256(cases[i].v) == cases[i].yes);
	}
}

static void test_repr_digest(void)
{
	static const char e64[] = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; /* SHA-256 of "" */
	static const struct { const char *v; int rc; } bad[] = {
		{ "sha-512=:AAAA:", -ENOENT }, { "garbage", -ENOENT }, { NULL, -ENOENT },
		{ "sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", -EINVAL }, /* no colons */
		{ "sha-256=:!!!!:", -EINVAL }, { "sha-256=::", -EINVAL }, { "sha-256=:", -EINVAL },
		{ "sha-256=:YWJj:", -EINVAL }, /* 3 bytes */
		{ "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:", -EINVAL }, /* 33 */
		{ "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU:", -EINVAL }, /* unpadded */
	};
	uint8_t d[32], want[32];
	char field[128];

	CHECK_INT("b64 of the empty SHA-256 decodes", base64_decode(e64, 44, want, 32), 32);
	snprintf(field, sizeof(field), "sha-256=:%s:", e64);
	CHECK("digest sha-256=:B64: -> 0 and the bytes", http_digest_sha256(field, d) == 0 && !memcmp(d, want, 32));
	snprintf(field, sizeof(field), "sha-512=:AAAA:, sha-256=:%s:", e64);
	CHECK("digest: after another member", http_digest_sha256(field, d) == 0 && !memcmp(d, want, 32));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(field, sizeof(field), "digest \"%s\": %s", bad[i].v ? bad[i].v : "(null)",
			 bad[i].rc == -ENOENT ? "-ENOENT" : "-EINVAL");
		CHECK_INT(field, http_digest_sha256(bad[i].v, d), bad[i].rc);
	}
}

/* The request fields and reply fields the digest and mtime features ride on. */
static void test_digest_fields(void)
{
	struct http_request r;
	struct http_response_head h;
	char buf[1024];
	struct http_reply rep = { .status = 201, .content_length = 0, .range_total = -1,
				  .repr_digest = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
				  .mtime_accepted = true };
	int n;

	CHECK("request with Accept, Want-Repr-Digest, Repr-Digest, X-OC-Mtime parses",
	      req("PUT /f HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\nwant-repr-digest: sha-256=3\r\n"
		  "Repr-Digest: sha-256=:AAAA:\r\nX-OC-MTime: 1700000000\r\nContent-Length: 0\r\n\r\n", &r) > 0);
	CHECK_STR("accept", r.accept, "application/json");
	CHECK_STR("want_repr_digest (case-insensitive name)", r.want_repr_digest, "sha-256=3");
	CHECK_STR("repr_digest", r.repr_digest, "sha-256=:AAAA:");
	CHECK_STR("oc_mtime", r.oc_mtime, "1700000000");
	CHECK("request without them: all NULL", req("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0 &&
	      !r.accept && !r.want_repr_digest && !r.repr_digest && !r.oc_mtime);
	n = http_format_reply(buf, sizeof(buf), &rep);
	CHECK("fmt Repr-Digest", n > 0 && contains(buf, "\r\nRepr-Digest: sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:\r\n"));
	CHECK("fmt X-OC-MTime: accepted", contains(buf, "\r\nX-OC-MTime: accepted\r\n"));
	CHECK_INT("fmt: round-trips through the response parser", resp_n(buf, (size_t)n, &h), n);
	CHECK_STR("round trip: repr_digest", h.repr_digest, "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:");
	rep.repr_digest = NULL, rep.mtime_accepted = false;
	n = http_format_reply(buf, sizeof(buf), &rep);
	CHECK("fmt without them: neither field", n > 0 && !contains(buf, "Repr-Digest") && !contains(buf, "X-OC"));
}

int main(void)
{
	test_request_basic();
	test_request_framing();
	test_request_malformed();
	test_request_too_large();
	test_response();
	test_format();
	test_date();
	test_parse_date();
	test_want_digest();
	test_repr_digest();
	test_digest_fields();
	free(cur);
	return unit_done();
}
