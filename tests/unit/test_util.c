/* Unit tests for src/util.c: sizes, integers, hex, base64, constant-time compare, trim,
 * human-readable sizes, logging. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "util.h"

#define SENTINEL 0x5a5a5a5aULL

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = SENTINEL;
	char name[128];
	int rc = parse_size(s, &v);

	snprintf(name, sizeof(name), "parse_size \"%s\" = %llu", s, (unsigned long long)want);
	if (!CHECK(name, rc == 0 && v == want))
		printf("#   rc %d, value %llu\n", rc, (unsigned long long)v);
}

static void size_bad(const char *s)
{
	uint64_t v = SENTINEL;
	char name[128];
	int rc = parse_size(s, &v);

	snprintf(name, sizeof(name), "parse_size \"%s\": -EINVAL, output untouched", s ? s : "(null)");
	if (!CHECK(name, rc == -EINVAL && v == SENTINEL))
		printf("#   rc %d, value %llu\n", rc, (unsigned long long)v);
}

static void test_parse_size(void)
{
	size_ok("0", 0);
	size_ok("123", 123);
	size_ok("64K", 65536);
	size_ok("64k", 65536);
	size_ok("1M", 1048576);
	size_ok("1G", 1ULL << 30);
	size_ok("1T", 1ULL << 40);
	size_ok("1KiB", 1024);
	size_ok("1kib", 1024);
	size_ok("1Ki", 1024);
	size_ok("2MB", 2ULL << 20);
	size_ok("3GiB", 3ULL << 30);
	size_ok("0G", 0);
	size_ok("18446744073709551615", UINT64_MAX);
	size_ok("17179869183G", ((1ULL << 34) - 1) << 30);
	size_ok("16777215T", ((1ULL << 24) - 1) << 40);
	size_bad("");
	size_bad("K");
	size_bad("-1");
	size_bad("+1");
	size_bad(" 1");
	size_bad("1 ");
	size_bad("1 K");
	size_bad("1X");
	size_bad("1KX");
	size_bad("1KiBs");
	size_bad("1iB");
	size_bad("1.5G");
	size_bad("0x10");
	size_bad("1KK");
	size_bad("17179869184G");
	size_bad("16777216T");
	size_bad("18014398509481984K");
	size_bad("18446744073709551616");
	size_bad("99999999999999999999999");
	size_bad(NULL);
}

static void test_parse_uint(void)
{
	uint64_t v = SENTINEL;

	CHECK("parse_uint 0", parse_uint("0", 10, &v) == 0 && v == 0);
	CHECK("parse_uint 10 max 10", parse_uint("10", 10, &v) == 0 && v == 10);
	CHECK("parse_uint 007", parse_uint("007", 10, &v) == 0 && v == 7);
	CHECK("parse_uint UINT64_MAX", parse_uint("18446744073709551615", UINT64_MAX, &v) == 0 && v == UINT64_MAX);
	v = SENTINEL;
	CHECK("parse_uint 11 max 10", parse_uint("11", 10, &v) == -EINVAL && v == SENTINEL);
	CHECK("parse_uint 65536 max 65535", parse_uint("65536", 65535, &v) == -EINVAL);
	CHECK("parse_uint overflow", parse_uint("18446744073709551616", UINT64_MAX, &v) == -EINVAL);
	CHECK("parse_uint -1", parse_uint("-1", UINT64_MAX, &v) == -EINVAL);
	CHECK("parse_uint +1", parse_uint("+1", UINT64_MAX, &v) == -EINVAL);
	CHECK("parse_uint leading space", parse_uint(" 1", UINT64_MAX, &v) == -EINVAL);
	CHECK("parse_uint trailing space", parse_uint("1 ", UINT64_MAX, &v) == -EINVAL);
	CHECK("parse_uint trailing junk", parse_uint("12a", UINT64_MAX, &v) == -EINVAL);
	CHECK("parse_uint 0x1", parse_uint("0x1", UINT64_MAX, &v) == -EINVAL);
	CHECK("parse_uint empty", parse_uint("", UINT64_MAX, &v) == -EINVAL);
	CHECK("parse_uint NULL", parse_uint(NULL, UINT64_MAX, &v) == -EINVAL);
	CHECK("parse_uint untouched on error", v == SENTINEL);
	unsigned c = 99;

	CHECK("parse_count 1", parse_count("1", 10, &c) == 0 && c == 1);
	CHECK("parse_count 10 max 10", parse_count("10", 10, &c) == 0 && c == 10);
	CHECK("parse_count 0 refused", parse_count("0", 10, &c) == -EINVAL);
	CHECK("parse_count 11 max 10 refused", parse_count("11", 10, &c) == -EINVAL);
	CHECK("parse_count junk refused", parse_count("x", 10, &c) == -EINVAL);
}

static void test_hex(void)
{
	static const uint8_t bytes[] = { 0x00, 0x01, 0xab, 0xff };
	uint8_t out[32], fp[32];
	char s[100];
	int ok = 1;

	hex_encode(bytes, sizeof(bytes), s);
	CHECK_STR("hex_encode 4 bytes", s, "0001abff");
	memset(s, 'X', sizeof(s));
	hex_encode(bytes, 0, s);
	CHECK_STR("hex_encode 0 bytes", s, "");

	memset(out, 0, sizeof(out));
	CHECK("hex_decode plain", hex_decode("0001abff", out, 4) == 0 && !memcmp(out, bytes, 4));
	memset(out, 0, sizeof(out));
	CHECK("hex_decode upper case", hex_decode("0001ABFF", out, 4) == 0 && !memcmp(out, bytes, 4));
	memset(out, 0, sizeof(out));
	CHECK("hex_decode with ':'", hex_decode("00:01:AB:ff", out, 4) == 0 && !memcmp(out, bytes, 4));
	CHECK_INT("hex_decode empty, len 0", hex_decode("", out, 0), 0);
	CHECK_INT("hex_decode empty, len 1", hex_decode("", out, 1), -EINVAL);
	CHECK_INT("hex_decode odd digits", hex_decode("0001abf", out, 4), -EINVAL);
	CHECK_INT("hex_decode too short", hex_decode("0001ab", out, 4), -EINVAL);
	CHECK_INT("hex_decode too long", hex_decode("0001abff00", out, 4), -EINVAL);
	CHECK_INT("hex_decode too long with ':'", hex_decode("00:01:ab:ff:00", out, 4), -EINVAL);
	CHECK_INT("hex_decode non-hex", hex_decode("0001abfg", out, 4), -EINVAL);
	CHECK_INT("hex_decode ':' splits a byte", hex_decode("0:001abff", out, 4), -EINVAL);
	CHECK_INT("hex_decode space", hex_decode("00 01abff", out, 4), -EINVAL);
	CHECK_INT("hex_decode sign", hex_decode("+0001abf", out, 4), -EINVAL);

	/* A SHA-256 fingerprint as "AA:BB:..." round-trips. */
	for (size_t i = 0; i < sizeof(fp); i++)
		fp[i] = (uint8_t)(i * 37 + 11);
	for (size_t i = 0; i < sizeof(fp); i++)
		snprintf(s + 3 * i, 4, "%02X%s", fp[i], i + 1 < sizeof(fp) ? ":" : "");
	memset(out, 0, sizeof(out));
	CHECK("hex_decode 32-byte fingerprint with ':'", hex_decode(s, out, 32) == 0 && !memcmp(out, fp, 32));
	hex_encode(fp, sizeof(fp), s);
	CHECK_INT("hex_encode 32 bytes: length", strlen(s), 64);
	memset(out, 0, sizeof(out));
	CHECK("hex encode/decode round trip", hex_decode(s, out, 32) == 0 && !memcmp(out, fp, 32));
	for (int b = 0; b < 256; b++) {
		uint8_t in = (uint8_t)b, back = 0;

		hex_encode(&in, 1, s);
		ok &= hex_decode(s, &back, 1) == 0 && back == in && strlen(s) == 2;
	}
	CHECK("hex round trip of all 256 byte values", ok);
}

static void test_ct_equal(void)
{
	CHECK("ct_equal same", ct_equal("abc", 3, "abc", 3));
	CHECK("ct_equal last byte differs", !ct_equal("abc", 3, "abd", 3));
	CHECK("ct_equal first byte differs", !ct_equal("xbc", 3, "abc", 3));
	CHECK("ct_equal shorter a", !ct_equal("abc", 3, "abcd", 4));
	CHECK("ct_equal shorter b", !ct_equal("abcd", 4, "abc", 3));
	CHECK("ct_equal trailing NUL is not padding", !ct_equal("a\0", 2, "a", 1));
	CHECK("ct_equal both empty", ct_equal("", 0, "", 0));
	CHECK("ct_equal empty vs one", !ct_equal("", 0, "a", 1));
	CHECK("ct_equal only len bytes compared", ct_equal("abX", 2, "abY", 2));
	CHECK("ct_equal high bit", !ct_equal("\x80", 1, "\x00", 1));
}

static void test_trim(void)
{
	char a[] = "  a b \t\r\n", b[] = "", c[] = " \t\n ", d[] = "abc", e[] = "\t x";

	CHECK_STR("trim both ends", trim(a), "a b");
	CHECK_STR("trim empty", trim(b), "");
	CHECK_STR("trim all space", trim(c), "");
	CHECK("trim nothing: same pointer", trim(d) == d && !strcmp(d, "abc"));
	CHECK("trim leading: returns s + 2", trim(e) == e + 2 && !strcmp(e + 2, "x"));
}

static void human(uint64_t n, const char *want)
{
	char buf[32], name[96];

	snprintf(name, sizeof(name), "human_bytes %llu", (unsigned long long)n);
	CHECK_STR(name, human_bytes(n, buf, sizeof(buf)), want);
}

static void test_human(void)
{
	char buf[4];

	human(0, "0 B");
	human(1, "1 B");
	human(1023, "1023 B");
	human(1024, "1.0 KiB");
	human(1536, "1.5 KiB");
	human(1048576, "1.0 MiB");
	human(1610612736, "1.5 GiB");
	human(1ULL << 40, "1.0 TiB");
	human(1ULL << 50, "1024.0 TiB");
	CHECK("human_bytes returns buf", human_bytes(5, buf, sizeof(buf)) == buf);
	CHECK_STR("human_bytes truncates to cap", human_bytes(1024, buf, sizeof(buf)), "1.0");
}

/* Captures what fn writes to stderr. */
static int capture_begin(int *saved)
{
	char tmpl[] = "/tmp/kxfer-unit-log.XXXXXX";
	int fd = mkstemp(tmpl);

	if (fd < 0)
		return -1;
	unlink(tmpl);
	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	return fd;
}

static size_t capture_end(int fd, int saved, char *buf, size_t cap)
{
	ssize_t n;

	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, cap - 1, 0);
	close(fd);
	n = n < 0 ? 0 : n;
	buf[n] = 0;
	return (size_t)n;
}

static void test_log(void)
{
	static char buf[8192], big[5000];
	int saved, fd, old = log_level;
	size_t n;

	fd = capture_begin(&saved);
	if (fd < 0) {
		SKIP("log", "mkstemp failed");
		return;
	}
	log_set_prog("unit");
	log_level = LOG_NORMAL;
	log_err("e %d", 1);
	log_info("i %s", "x");
	log_debug("hidden");
	log_line("GET / 200");
	log_level = LOG_QUIET;
	log_info("hidden");
	log_line("hidden");
	log_err("q");
	log_level = LOG_VERBOSE;
	log_debug("d");
	capture_end(fd, saved, buf, sizeof(buf));
	CHECK_STR("log levels and prefixes", buf, "unit: e 1\nunit: i x\nGET / 200\nunit: q\nunit: d\n");

	fd = capture_begin(&saved);
	memset(big, 'a', sizeof(big) - 1);
	log_err("%s", big);
	n = capture_end(fd, saved, buf, sizeof(buf));
	CHECK_INT("log long line truncated to one 2047-byte line", n, 2047);
	CHECK("log long line: prefix and newline", !strncmp(buf, "unit: aaa", 9) && buf[n - 1] == '\n' &&
	      !memchr(buf, '\n', n - 1));
	log_level = old;
	log_set_prog("kxfer");
}

static void test_now(void)
{
	double a = now_sec(), b = now_sec();

	CHECK("now_sec positive and monotonic", a > 0 && b >= a);
}

/* json_string into a string, for comparing. */
static void json_is(const char *name, const char *in, const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	json_string(f, in);
	fclose(f);
	CHECK_STR(name, buf, want);
	free(buf);
}

static void test_json_string(void)
{
	json_is("json plain", "abc", "\"abc\"");
	json_is("json empty", "", "\"\"");
	json_is("json quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\"");
	json_is("json newline and tab", "a\nb\tc", "\"a\\nb\\tc\"");
	json_is("json control byte", "a\x01" "b", "\"a\\u0001b\"");
	json_is("json DEL", "\x7f", "\"\\u007f\"");
	json_is("json UTF-8 kept", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	json_is("json stray continuation byte -> U+FFFD", "a\x80" "b", "\"a\\ufffdb\"");
	json_is("json Latin-1 byte -> U+FFFD", "caf\xe9", "\"caf\\ufffd\"");
	json_is("json overlong NUL (c0 80) -> U+FFFD twice", "\xc0\x80", "\"\\ufffd\\ufffd\"");
	json_is("json surrogate (ed a0 80) -> U+FFFD x3", "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	json_is("json truncated sequence at the end", "a\xe2\x82", "\"a\\ufffd\\ufffd\"");
}

/* RFC 4648 10 test vectors, both ways. */
static void test_base64_vectors(void)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	char out[16], name[64];
	uint8_t back[16];

	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		size_t n = strlen(plain[i]);

		snprintf(name, sizeof(name), "base64 \"%s\" = \"%s\"", plain[i], coded[i]);
		CHECK(name, base64_encode((const uint8_t *)plain[i], n, out, sizeof(out)) == (int)strlen(coded[i]) &&
		      !strcmp(out, coded[i]));
		snprintf(name, sizeof(name), "base64 decode \"%s\"", coded[i]);
		CHECK(name, base64_decode(coded[i], strlen(coded[i]), back, sizeof(back)) == (int)n &&
		      !memcmp(back, plain[i], n));
	}
}

static void test_base64(void)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z", "Zm9", "Z===", "=Zg=", "Zg=a", "Zm=v", "Zg==Zg==", "Zm9v!A==", "Zm 9v",
		"Zm9\x7f", "Zm9-", "Zm9_", "====",
	};
	uint8_t in[256], back[256], small[2];
	char out[400], name[64];
	bool all = true;

	test_base64_vectors();
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(in); n++) {
		int m = base64_encode(in, n, out, sizeof(out));

		all &= m == (int)((n + 2) / 3 * 4) && base64_decode(out, (size_t)m, back, sizeof(back)) == (int)n &&
		       !memcmp(back, in, n);
	}
	CHECK("base64 round trip, every length 0..256, all byte values", all);
	CHECK_INT("base64_encode: exactly room for the NUL", base64_encode(in, 3, out, 5), 4);
	CHECK_INT("base64_encode: no room for the NUL: -ENOSPC", base64_encode(in, 3, out, 4), -ENOSPC);
	CHECK_INT("base64_encode: zero cap: -ENOSPC", base64_encode(in, 0, out, 0), -ENOSPC);
	CHECK_INT("base64_encode of nothing: \"\"", base64_encode(in, 0, out, 1), 0);
	CHECK_INT("base64_decode: 3 bytes into 2: -EINVAL", base64_decode("Zm9v", 4, small, 2), -EINVAL);
	CHECK_INT("base64_decode: 2 bytes into 2", base64_decode("Zm8=", 4, small, 2), 2);
	CHECK_INT("base64_decode: only n characters are read", base64_decode("Zm9vYmFy", 4, back, 16), 3);
	CHECK_INT("base64_decode: + and / are digits", base64_decode("+/+/", 4, back, 16), 3);
	CHECK("base64_decode: + and / values", back[0] == 0xfb && back[1] == 0xff && back[2] == 0xbf);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(name, sizeof(name), "base64_decode \"%s\": -EINVAL", bad[i]);
		CHECK_INT(name, base64_decode(bad[i], strlen(bad[i]), back, sizeof(back)), -EINVAL);
	}
}

int main(void)
{
	test_json_string();
	test_parse_size();
	test_parse_uint();
	test_hex();
	test_base64();
	test_ct_equal();
	test_trim();
	test_human();
	test_log();
	test_now();
	return unit_done();
}
