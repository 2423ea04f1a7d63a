/* Unit tests for src/range.c: one "Range: bytes=..." header against a file size. */
#include <stdint.h>
#include <stdio.h>

#include "http.h"
#include "unit.h"

#define SENTINEL 0xdeadbeefULL

/* Checks result, and for RANGE_PARTIAL the exact start and length; for other results
 * that start/len were left untouched. */
static void expect(const char *hdr, uint64_t size, enum range_result want, uint64_t wstart, uint64_t wlen)
{
	uint64_t start = SENTINEL, len = SENTINEL;
	enum range_result got = range_parse(hdr, size, &start, &len);
	char name[160];

	snprintf(name, sizeof(name), "range \"%s\" size %llu: result %d", hdr ? hdr : "(null)",
		 (unsigned long long)size, (int)want);
	if (!CHECK(name, got == want)) {
		printf("#   got %d\n", (int)got);
		return;
	}
	snprintf(name, sizeof(name), "range \"%s\" size %llu: start %llu len %llu", hdr ? hdr : "(null)",
		 (unsigned long long)size, (unsigned long long)wstart, (unsigned long long)wlen);
	if (want != RANGE_PARTIAL) {
		wstart = wlen = SENTINEL;
		snprintf(name, sizeof(name), "range \"%s\" size %llu: outputs untouched", hdr ? hdr : "(null)",
			 (unsigned long long)size);
	}
	if (!CHECK(name, start == wstart && len == wlen))
		printf("#   got start %llu len %llu\n", (unsigned long long)start, (unsigned long long)len);
}

int main(void)
{
	/* Plain first-last ranges. */
	expect("bytes=0-0", 100, RANGE_PARTIAL, 0, 1);
	expect("bytes=10-19", 100, RANGE_PARTIAL, 10, 10);
	expect("bytes=0-99", 100, RANGE_PARTIAL, 0, 100);
	expect("bytes=99-99", 100, RANGE_PARTIAL, 99, 1);
	expect("bytes=50-", 100, RANGE_PARTIAL, 50, 50);
	expect("bytes=100-", 1000, RANGE_PARTIAL, 100, 900);
	expect("bytes=0-", 1, RANGE_PARTIAL, 0, 1);
	/* last beyond the end: clamped */
	expect("bytes=10-1000", 100, RANGE_PARTIAL, 10, 90);
	expect("bytes=0-100", 100, RANGE_PARTIAL, 0, 100);
	expect("bytes=5-100", 100, RANGE_PARTIAL, 5, 95);
	expect("bytes=0-9999999999999999999", 100, RANGE_PARTIAL, 0, 100);
	/* first at or beyond the end: unsatisfiable */
	expect("bytes=100-", 100, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=100-200", 100, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=5000-", 100, RANGE_UNSATISFIABLE, 0, 0);
	/* last < first: invalid, ignored */
	expect("bytes=20-10", 100, RANGE_NONE, 0, 0);
	expect("bytes=200-100", 100, RANGE_NONE, 0, 0);

	/* Suffix ranges. */
	expect("bytes=-5", 100, RANGE_PARTIAL, 95, 5);
	expect("bytes=-100", 100, RANGE_PARTIAL, 0, 100);
	expect("bytes=-1000", 100, RANGE_PARTIAL, 0, 100);
	expect("bytes=-1", 1, RANGE_PARTIAL, 0, 1);
	expect("bytes=-0", 100, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=--5", 100, RANGE_NONE, 0, 0);
	expect("bytes=-", 100, RANGE_NONE, 0, 0);
	expect("bytes=-5x", 100, RANGE_NONE, 0, 0);

	/* Empty file. */
	expect("bytes=0-", 0, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=0-0", 0, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=-5", 0, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=-0", 0, RANGE_UNSATISFIABLE, 0, 0);

	/* Several ranges: ignored (whole file). */
	expect("bytes=0-1,5-6", 100, RANGE_NONE, 0, 0);
	expect("bytes=0-1, 5-6", 100, RANGE_NONE, 0, 0);
	expect("bytes=-5,0-1", 100, RANGE_NONE, 0, 0);
	expect("bytes=0-1,", 100, RANGE_NONE, 0, 0);

	/* Garbage and other units. */
	expect("", 100, RANGE_NONE, 0, 0);
	expect("bytes", 100, RANGE_NONE, 0, 0);
	expect("bytes=", 100, RANGE_NONE, 0, 0);
	expect("bytes=abc", 100, RANGE_NONE, 0, 0);
	expect("bytes=5", 100, RANGE_NONE, 0, 0);
	expect("bytes=x-5", 100, RANGE_NONE, 0, 0);
	expect("bytes=5-x", 100, RANGE_NONE, 0, 0);
	expect("bytes=1-2-3", 100, RANGE_NONE, 0, 0);
	expect("bytes=+1-2", 100, RANGE_NONE, 0, 0);
	expect("bytes=0x10-0x20", 100, RANGE_NONE, 0, 0);
	expect("bytes:0-1", 100, RANGE_NONE, 0, 0);
	expect("bytesx=0-1", 100, RANGE_NONE, 0, 0);
	expect("items=0-1", 100, RANGE_NONE, 0, 0);
	expect("byte=0-1", 100, RANGE_NONE, 0, 0);
	expect("none", 100, RANGE_NONE, 0, 0);
	expect(NULL, 100, RANGE_NONE, 0, 0);

	/* Case and white space. */
	expect("BYTES=1-2", 100, RANGE_PARTIAL, 1, 2);
	expect("  bytes = 1-2  ", 100, RANGE_PARTIAL, 1, 2);
	expect("bytes=\t-3\t", 100, RANGE_PARTIAL, 97, 3);
	expect("bytes=1 -2", 100, RANGE_NONE, 0, 0);
	expect("bytes=1- 2", 100, RANGE_NONE, 0, 0);
	expect("bytes=1-2 x", 100, RANGE_NONE, 0, 0);

	/* Numbers that overflow 64 bits: unsatisfiable (416 with "bytes * / size"), as nginx
	 * answers, never wrapped and never the whole file. */
	expect("bytes=99999999999999999999999-", 100, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=99999999999999999999-", 100, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=0-99999999999999999999", 100, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=-99999999999999999999", 100, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=18446744073709551616-18446744073709551617", 100, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=18446744073709551616-", 0, RANGE_UNSATISFIABLE, 0, 0);
	/* 2^64 - 1 itself still fits: beyond the end, unsatisfiable; as the last byte, clamped. */
	expect("bytes=18446744073709551615-", 100, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=0-18446744073709551615", 100, RANGE_PARTIAL, 0, 100);
	expect("bytes=-18446744073709551615", 100, RANGE_PARTIAL, 0, 100);
	/* Large but valid sizes. */
	expect("bytes=1099511627776-", 1099511627777ULL, RANGE_PARTIAL, 1099511627776ULL, 1);
	expect("bytes=-1099511627776", 2199023255552ULL, RANGE_PARTIAL, 1099511627776ULL, 1099511627776ULL);
	return unit_done();
}
