/* Byte ranges (RFC 9110 14): parsing one "Range: bytes=..." request header.  Pure. */
#ifndef KXFER_RANGE_H
#define KXFER_RANGE_H

#include <stdint.h>

enum range_result {
	RANGE_NONE,          /* absent, malformed or several ranges: serve the whole file (200) */
	RANGE_PARTIAL,       /* serve [start, start + len) with 206 */
	RANGE_UNSATISFIABLE, /* 416 with "Content-Range: bytes * / size" */
};

enum range_result range_parse(const char *header, uint64_t size, uint64_t *start, uint64_t *len);

#endif
