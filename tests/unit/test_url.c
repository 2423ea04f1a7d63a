/* Unit tests for src/url.c: https:// URL parsing, file names, Host header values. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "url.h"

static void url_ok(const char *s, const char *host, const char *port, const char *target, bool ipv6)
{
	struct url u;
	const char *err = NULL;
	char name[200];
	int rc = url_parse(s, &u, &err);

	snprintf(name, sizeof(name), "url %s: parses", s);
	if (!CHECK(name, rc == 0)) {
		printf("#   rc %d: %s\n", rc, err ? err : "(no reason)");
		return;
	}
	snprintf(name, sizeof(name), "url %s: host", s);
	CHECK_STR(name, u.host, host);
	snprintf(name, sizeof(name), "url %s: port", s);
	CHECK_STR(name, u.port, port);
	snprintf(name, sizeof(name), "url %s: target", s);
	CHECK_STR(name, u.target, target);
	snprintf(name, sizeof(name), "url %s: ipv6", s);
	CHECK(name, u.ipv6 == ipv6);
}

/* want_reason: a substring the error message must contain. */
static void url_bad(const char *label, const char *s, const char *want_reason)
{
	struct url u;
	const char *err = NULL;
	char name[200];
	int rc = url_parse(s, &u, &err);

	snprintf(name, sizeof(name), "url %s: -EINVAL", label);
	CHECK_INT(name, rc, -EINVAL);
	snprintf(name, sizeof(name), "url %s: reason mentions \"%s\"", label, want_reason);
	if (!CHECK(name, rc != 0 && err && strstr(err, want_reason)))
		printf("#   reason: %s\n", rc != 0 && err ? err : "(none)");
}

static void test_parse(void)
{
	char *s;
	size_t n;

	url_ok("https://example.com/path/file.bin", "example.com", "443", "/path/file.bin", false);
	url_ok("https://example.com:8443/x", "example.com", "8443", "/x", false);
	url_ok("https://[::1]:8443/f", "::1", "8443", "/f", true);
	url_ok("https://[2001:db8::2]/a/b", "2001:db8::2", "443", "/a/b", true);
	url_ok("https://[::1]", "::1", "443", "/", true);
	url_ok("https://[::1]:9000?q", "::1", "9000", "/?q", true);
	url_ok("https://h", "h", "443", "/", false);
	url_ok("https://h:8443", "h", "8443", "/", false);
	url_ok("https://h/", "h", "443", "/", false);
	url_ok("https://h/p?q=1&r=2", "h", "443", "/p?q=1&r=2", false);
	url_ok("https://h?q=1", "h", "443", "/?q=1", false);
	url_ok("https://h/p#frag", "h", "443", "/p", false);
	url_ok("https://h#frag", "h", "443", "/", false);
	url_ok("https://h/p?q#f", "h", "443", "/p?q", false);
	url_ok("https://h/a%20b", "h", "443", "/a%20b", false);
	url_ok("HTTPS://Host.Example/x", "Host.Example", "443", "/x", false);
	url_ok("https://10.0.0.1:1/x", "10.0.0.1", "1", "/x", false);
	url_ok("https://h:65535/", "h", "65535", "/", false);
	url_ok("https://h:08443/", "h", "8443", "/", false);

	/* plaintext http:// (kxfer serve --plain): port 80 by default, flagged plain */
	url_ok("http://h/x", "h", "80", "/x", false);
	url_ok("HTTP://h:8080/x", "h", "8080", "/x", false);
	url_ok("http://[::1]/f", "::1", "80", "/f", true);
	{
		struct url u;
		const char *err;

		CHECK("url http://h/x: plain", url_parse("http://h/x", &u, &err) == 0 && u.plain);
		CHECK("url https://h/x: not plain", url_parse("https://h/x", &u, &err) == 0 && !u.plain);
	}
	url_bad("http:/ (one slash)", "http:/h/x", "https://");
	url_bad("ftp://", "ftp://h/x", "https://");
	url_bad("no scheme", "h/x", "https://");
	url_bad("empty string", "", "https://");
	url_bad("https:/ (one slash)", "https:/h/x", "https://");
	url_bad("empty host", "https:///x", "host");
	url_bad("empty host, nothing else", "https://", "host");
	url_bad("empty host with port", "https://:8443/x", "host");
	url_bad("userinfo", "https://user@h/x", "host");
	url_bad("unterminated [", "https://[::1/x", "IPv6");
	url_bad("empty []", "https://[]/x", "host");
	url_bad("junk after ]", "https://[::1]x/y", "host");
	url_bad("port 0", "https://h:0/", "port");
	url_bad("port 65536", "https://h:65536/", "port");
	url_bad("port letters", "https://h:abc/", "port");
	url_bad("port 80a", "https://h:80a/", "port");
	url_bad("empty port", "https://h:/", "port");
	url_bad("negative port", "https://h:-1/", "port");
	url_bad("port 1234567", "https://h:1234567/", "port");
	url_bad("port 99999999", "https://h:99999999/", "port");
	url_bad("two colons", "https://h:1:2/", "port");
	url_bad("IPv6 empty port", "https://[::1]:/", "port");
	url_bad("IPv6 port 70000", "https://[::1]:70000/", "port");
	url_bad("space in path", "https://h/a b", "spaces");
	url_bad("tab in path", "https://h/a\tb", "spaces");
	url_bad("DEL in path", "https://h/a\x7f", "spaces");
	url_bad("space in query", "https://h/a?b c", "spaces");
	url_bad("newline in path", "https://h/a\nb", "spaces");
	/* The host ends up verbatim in the Host header: it must not hold spaces or CR/LF. */
	url_bad("space in host", "https://a b/x", "host");
	url_bad("CRLF in host", "https://h\r\nX-Injected:1/x", "host");

	n = 5000;
	s = malloc(n + 1);
	memcpy(s, "https://h/", 10);
	memset(s + 10, 'a', n - 10);
	s[n] = 0;
	url_bad("5000-byte path", s, "too long");
	memcpy(s, "https://h?", 10);
	url_bad("5000-byte query without a path", s, "too long");
	memcpy(s, "https://", 8);
	memset(s + 8, 'h', 256);
	strcpy(s + 8 + 256, "/x");
	url_bad("256-byte host", s, "host");
	free(s);
}

static void test_host255(void)
{
	char s[300], host[256];
	struct url u;
	const char *err;

	memset(host, 'h', 255);
	host[255] = 0;
	snprintf(s, sizeof(s), "https://%s/x", host);
	CHECK_INT("url 255-byte host: parses", url_parse(s, &u, &err), 0);
	CHECK_STR("url 255-byte host: host", u.host, host);
}

static void file_ok(const char *s, const char *want)
{
	struct url u;
	const char *err;
	char out[64] = "unset", name[200];
	int rc = url_parse(s, &u, &err);

	snprintf(name, sizeof(name), "file name of %s", s);
	if (rc == 0)
		rc = url_file_name(&u, out, sizeof(out));
	if (!CHECK(name, rc == 0 && !strcmp(out, want)))
		printf("#   rc %d, out \"%s\", want \"%s\"\n", rc, out, want);
}

static void file_bad(const char *s)
{
	struct url u;
	const char *err;
	char out[64], name[200];
	int rc = url_parse(s, &u, &err);

	snprintf(name, sizeof(name), "file name of %s: -EINVAL", s);
	if (rc == 0)
		rc = url_file_name(&u, out, sizeof(out));
	else
		rc = 1; /* the URL itself must parse for this check to mean anything */
	CHECK_INT(name, rc, -EINVAL);
}

static void test_file_name(void)
{
	struct url u;
	const char *err;
	char out[4];

	file_ok("https://h/path/file.bin", "file.bin");
	file_ok("https://h/file", "file");
	file_ok("https://h/a/b%20c.txt?x=1", "b c.txt");
	file_ok("https://h/dir?name=x/y", "dir");
	file_ok("https://h/a/...", "...");
	file_ok("https://h/a/%41%42", "AB");
	file_ok("https://h/a/file#frag", "file");
	file_bad("https://h/dir/");
	file_bad("https://h/");
	file_bad("https://h");
	file_bad("https://h?q=/x");
	file_bad("https://h/a/.");
	file_bad("https://h/a/..");
	file_bad("https://h/a/%2e%2e");
	file_bad("https://h/a/%2E");
	file_bad("https://h/a%2fb");
	file_bad("https://h/a/%00");
	file_bad("https://h/a/%zz");
	file_bad("https://h/a/%4");

	CHECK_INT("file name too long for cap: parse", url_parse("https://h/abcdef", &u, &err), 0);
	CHECK_INT("file name too long for cap: -EINVAL", url_file_name(&u, out, sizeof(out)), -EINVAL);
	CHECK_INT("file name exactly cap-1: ok", url_parse("https://h/abc", &u, &err) ||
		  url_file_name(&u, out, sizeof(out)), 0);
	CHECK_STR("file name exactly cap-1: value", out, "abc");
}

static void host_header(const char *s, const char *want)
{
	struct url u;
	const char *err;
	char out[300] = "unset", name[200];

	snprintf(name, sizeof(name), "Host header of %s", s);
	if (url_parse(s, &u, &err) == 0)
		url_host_header(&u, out, sizeof(out));
	CHECK_STR(name, out, want);
}

static void test_host_header(void)
{
	host_header("http://example.com/x", "example.com");
	host_header("http://example.com:80/x", "example.com");
	host_header("http://example.com:443/x", "example.com:443");
	struct url u;
	const char *err;
	char out[5];

	host_header("https://example.com/x", "example.com");
	host_header("https://example.com:443/x", "example.com");
	host_header("https://example.com:0443/x", "example.com");
	host_header("https://example.com:8443/x", "example.com:8443");
	host_header("https://[::1]/x", "[::1]");
	host_header("https://[::1]:443/x", "[::1]");
	host_header("https://[fe80::1]:8443/x", "[fe80::1]:8443");
	host_header("https://10.1.2.3:44/", "10.1.2.3:44");
	url_parse("https://example.com:8443/", &u, &err);
	url_host_header(&u, out, sizeof(out));
	CHECK_STR("Host header truncated to cap", out, "exam");
}

int main(void)
{
	test_parse();
	test_host255();
	test_file_name();
	test_host_header();
	return unit_done();
}
