/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c, libFuzzer): an invariant the parser
 * broke is a crash, so that libFuzzer keeps the input. */
#ifndef KXFER_FUZZ_H
#define KXFER_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond)                                                                  \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: broken invariant: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                           \
		}                                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated heap copy of the input, exactly size + 1 bytes (ASan sees overreads). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = 0;
	}
	return s;
}

/* Does the string p lie inside buf[0, len]? */
static inline int fuzz_inside(const char *p, const char *buf, size_t len)
{
	return !p || (p >= buf && p + strlen(p) <= buf + len);
}

#endif
