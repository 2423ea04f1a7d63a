/* Percent-decoding and request-target normalisation (path_decode, path_from_target,
 * path_split): the pure half of path.c.  The first byte picks the output capacity. */
#include "fuzz.h"
#include "path.h"

/* A normalised path: no leading or doubled '/', no "." or ".." segment. */
static void check_normal(const char *rel)
{
	char copy[PATH_REL_MAX], *seg, *save = NULL;

	FUZZ_ASSERT(strlen(rel) < sizeof(copy));
	FUZZ_ASSERT(rel[0] != '/' && !strstr(rel, "//"));
	FUZZ_ASSERT(!*rel || rel[strlen(rel) - 1] != '/');
	strcpy(copy, rel);
	for (seg = strtok_r(copy, "/", &save); seg; seg = strtok_r(NULL, "/", &save))
		FUZZ_ASSERT(strcmp(seg, ".") && strcmp(seg, ".."));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[PATH_REL_MAX], dir[PATH_REL_MAX], *s;
	size_t cap = PATH_REL_MAX;
	bool slash;
	int n;

	if (size > 0) {
		cap = data[0] & 0x80 ? PATH_REL_MAX : (size_t)data[0] % 64 + 1;
		data++;
		size--;
	}
	if (!(s = fuzz_str(data, size)))
		return 0;
	n = path_decode(s, size, out, cap);
	FUZZ_ASSERT(n < 0 || ((size_t)n < cap && strlen(out) == (size_t)n && (size_t)n <= size));

	n = path_from_target(s, out, cap, &slash);
	FUZZ_ASSERT(n == 0 || n == -400 || n == -403);
	if (n == 0) {
		const char *base;

		FUZZ_ASSERT(strlen(out) < cap);
		check_normal(out);
		base = path_split(out, dir, sizeof(dir));
		FUZZ_ASSERT(!strchr(base, '/'));
		path_split(out, dir, cap % 8); /* truncating the directory */
	}
	free(s);
	return 0;
}
