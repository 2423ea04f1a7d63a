/* The tree client's listing reader: http_dechunk over a chunked body (in place, as
 * tree_list.c decodes nginx's), then listing_parse over the decoded bytes.  Input bit 0 of
 * the first byte: 1 = the rest is a chunked body, 0 = the rest is the JSON itself. */
#include <errno.h>

#include "fuzz.h"
#include "listing.h"

static void parse(const char *json, size_t len)
{
	struct listing l = { 0 };
	size_t where = (size_t)-1;

	if (listing_parse(json, len, &l, &where) == 0) {
		FUZZ_ASSERT(l.n <= l.cap);
		for (size_t i = 0; i < l.n; i++) {
			const char *n = l.e[i].name;

			FUZZ_ASSERT(n && *n && strcmp(n, ".") && strcmp(n, "..") && !strchr(n, '/'));
			FUZZ_ASSERT(l.e[i].size >= -1);
		}
	} else {
		FUZZ_ASSERT(where <= len);
	}
	listing_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t body_len = (size_t)-1;
	char *buf;
	long n;

	if (size == 0)
		return 0;
	if (!(data[0] & 1)) {
		/* Exactly len bytes, no NUL after them: the reader must not look past len. */
		if ((buf = malloc(size - 1 ? size - 1 : 1))) {
			memcpy(buf, data + 1, size - 1);
			parse(buf, size - 1);
			free(buf);
		}
		return 0;
	}
	if (!(buf = malloc(size - 1 ? size - 1 : 1)))
		return 0;
	memcpy(buf, data + 1, size - 1);
	n = http_dechunk(buf, size - 1, &body_len);
	FUZZ_ASSERT(n >= 0 || n == -EPROTO);
	if (n > 0) {
		FUZZ_ASSERT((size_t)n <= size - 1 && body_len <= (size_t)n);
		parse(buf, body_len);
	}
	free(buf);
	return 0;
}
