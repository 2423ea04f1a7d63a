/* Unit tests for src/listing.c: nginx-style JSON directory listings and chunked bodies. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listing.h"
#include "unit.h"

/* What nginx 1.22 (autoindex_format json) sends, byte for byte in shape. */
static const char nginx[] =
	"[\n"
	"{ \"name\":\"a b.txt\", \"type\":\"file\", \"mtime\":\"Tue, 01 Dec 2026 06:08:26 GMT\", \"size\":123 },\n"
	"{ \"name\":\"sub\", \"type\":\"directory\", \"mtime\":\"Sun, 06 Nov 1994 08:49:37 GMT\" },\n"
	"{ \"name\":\"link\", \"type\":\"other\", \"mtime\":\"Sun, 06 Nov 1994 08:49:37 GMT\" }\n"
	"]\n";

static void test_nginx(void)
{
	struct listing l;
	size_t where = 0;

	CHECK_INT("nginx listing: parses", listing_parse(nginx, strlen(nginx), &l, &where), 0);
	CHECK_INT("nginx listing: three entries", l.n, 3);
	if (l.n != 3)
		return;
	CHECK_STR("nginx listing: name with a space", l.e[0].name, "a b.txt");
	CHECK_INT("nginx listing: file type", l.e[0].type, ENTRY_FILE);
	CHECK_INT("nginx listing: size", l.e[0].size, 123);
	CHECK_INT("nginx listing: mtime (IMF-fixdate)", l.e[0].mtime, 1796105306);
	CHECK_INT("nginx listing: directory type", l.e[1].type, ENTRY_DIR);
	CHECK_INT("nginx listing: a directory has no size", l.e[1].size, -1);
	CHECK_INT("nginx listing: RFC 9110's example date", l.e[1].mtime, 784111777);
	CHECK_INT("nginx listing: other type", l.e[2].type, ENTRY_OTHER);
	listing_free(&l);
}

static void test_strings(void)
{
	static const char json[] = "[{\"name\":\"q\\\"\\\\\\u00fc\\ud83d\\ude00\\t\",\"type\":\"file\",\"size\":0,"
				   "\"extra\":[],\"mtime\":\"junk\"}]";
	static const char scalars[] = "[{\"name\":\"x\",\"n\":null,\"t\":true,\"f\":false,\"neg\":-1.5e3,\"s\":\"\"}]";
	struct listing l;
	size_t where;

	/* a nested array is not a scalar: refused */
	CHECK("listing: nested values are refused", listing_parse(json, strlen(json), &l, &where) == -EINVAL);
	{
		char fixed[200];

		snprintf(fixed, sizeof(fixed), "%s", json);
		memcpy(strstr(fixed, "\"extra\":[]"), "\"extra\":11", 10);
		CHECK_INT("listing: escapes and surrogate pairs parse", listing_parse(fixed, strlen(fixed), &l, &where), 0);
		if (l.n == 1) {
			CHECK_STR("listing: escapes decoded to UTF-8", l.e[0].name, "q\"\\\xc3\xbc\xf0\x9f\x98\x80\t");
			CHECK_INT("listing: an unparsable mtime is 0", l.e[0].mtime, 0);
			CHECK_INT("listing: size 0", l.e[0].size, 0);
		}
		listing_free(&l);
	}
	CHECK_INT("listing: null, true, false, numbers and strings skipped", listing_parse(scalars, strlen(scalars), &l, &where), 0);
	CHECK_INT("listing: ... one entry", l.n, 1);
	listing_free(&l);
}

static void bad(const char *label, const char *json)
{
	struct listing l;
	size_t where = 9999;
	char name[160];

	snprintf(name, sizeof(name), "listing refused: %s", label);
	CHECK(name, listing_parse(json, strlen(json), &l, &where) == -EINVAL && where <= strlen(json));
	CHECK("... and leaves nothing allocated", l.e == NULL && l.n == 0);
}

static void test_bad(void)
{
	struct listing l;
	size_t where;

	CHECK_INT("listing: an empty array", listing_parse(" [ ] ", 5, &l, &where), 0);
	CHECK_INT("listing: ... no entries", l.n, 0);
	bad("empty input", "");
	bad("not an array", "{\"name\":\"a\"}");
	bad("text listing", "a.txt\nsub/\n");
	bad("name ..", "[{\"name\":\"..\",\"type\":\"file\"}]");
	bad("name .", "[{\"name\":\".\",\"type\":\"file\"}]");
	bad("empty name", "[{\"name\":\"\",\"type\":\"file\"}]");
	bad("name with a slash", "[{\"name\":\"../etc/passwd\",\"type\":\"file\"}]");
	bad("escaped slash making ../x", "[{\"name\":\"..\\/x\",\"type\":\"file\"}]");
	bad("\\u0000 in a name", "[{\"name\":\"a\\u0000b\",\"type\":\"file\"}]");
	bad("raw control character", "[{\"name\":\"a\nb\",\"type\":\"file\"}]");
	bad("lone low surrogate", "[{\"name\":\"\\udc00\",\"type\":\"file\"}]");
	bad("high surrogate without its pair", "[{\"name\":\"\\ud800x\",\"type\":\"file\"}]");
	bad("bad escape", "[{\"name\":\"\\q\",\"type\":\"file\"}]");
	bad("short \\u", "[{\"name\":\"\\u12\"}]");
	bad("no name", "[{\"type\":\"file\",\"size\":1}]");
	bad("negative size", "[{\"name\":\"a\",\"size\":-1}]");
	bad("fractional size", "[{\"name\":\"a\",\"size\":1.5}]");
	bad("size overflows", "[{\"name\":\"a\",\"size\":99999999999999999999}]");
	bad("unterminated string", "[{\"name\":\"a");
	bad("missing comma", "[{\"name\":\"a\"} {\"name\":\"b\"}]");
	bad("trailing comma", "[{\"name\":\"a\"},]");
	bad("garbage after the array", "[{\"name\":\"a\"}] x");
	bad("type not a string", "[{\"name\":\"a\",\"type\":1}]");
}

/* Every prefix of a chunked body needs more bytes; the whole one decodes. */
static void test_dechunk(void)
{
	static const char body[] = "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n";
	char buf[sizeof(body)];
	size_t n = strlen(body), out = 0;
	bool prefixes_ok = true;

	for (size_t i = 0; i < n; i++) {
		memcpy(buf, body, i);
		if (http_dechunk(buf, i, &out) != 0) {
			printf("#   prefix of %zu bytes did not ask for more\n", i);
			prefixes_ok = false;
		}
	}
	CHECK("dechunk: every prefix asks for more bytes", prefixes_ok);
	memcpy(buf, body, n);
	CHECK_INT("dechunk: the whole body is taken", http_dechunk(buf, n, &out), (long)n);
	CHECK_INT("dechunk: decoded length", out, 23);
	CHECK("dechunk: decoded bytes", !memcmp(buf, "Wikipedia in\r\n\r\nchunks.", 23));
	memcpy(buf, "0\n\n", 3);
	CHECK_INT("dechunk: bare LF, empty body", http_dechunk(buf, 3, &out), 3);
	CHECK_INT("dechunk: ... zero bytes", out, 0);
	memcpy(buf, "zz\r\n", 4);
	CHECK_INT("dechunk: no hex size", http_dechunk(buf, 4, &out), -EPROTO);
	memcpy(buf, "1\r\nab\r\n", 7);
	CHECK_INT("dechunk: chunk longer than its size", http_dechunk(buf, 7, &out), -EPROTO);
	memcpy(buf, "1000000000000000\r\n", 18);
	CHECK_INT("dechunk: a size that overflows", http_dechunk(buf, 18, &out), -EPROTO);
}

int main(void)
{
	test_nginx();
	test_strings();
	test_bad();
	test_dechunk();
	return unit_done();
}
