/* http_parse_response as kxfer get reads a head (client.c: the head buffer holds the
 * input plus a NUL), then the fields the client acts on: Last-Modified, Repr-Digest. */
#include <errno.h>

#include "fuzz.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response_head resp;
	uint8_t digest[32];
	char *buf;
	time_t t;
	int n;

	if (size > HTTP_HEAD_MAX || !(buf = fuzz_str(data, size)))
		return 0;
	n = http_parse_response(buf, size, &resp);
	FUZZ_ASSERT(n >= 0 || n == -EPROTO || n == -E2BIG);
	if (n > 0) {
		FUZZ_ASSERT((size_t)n == resp.head_len && resp.head_len <= size);
		FUZZ_ASSERT(resp.status >= 100 && resp.status <= 999);
		FUZZ_ASSERT(resp.content_length >= -1);
		if (resp.range_start >= 0)
			FUZZ_ASSERT(resp.range_end >= resp.range_start && resp.range_total > resp.range_end);
		FUZZ_ASSERT(fuzz_inside(resp.etag, buf, size) && fuzz_inside(resp.last_modified, buf, size));
		FUZZ_ASSERT(fuzz_inside(resp.repr_digest, buf, size));
		if (resp.last_modified)
			http_parse_date(resp.last_modified, &t);
		if (resp.repr_digest)
			http_digest_sha256(resp.repr_digest, digest);
	}
	free(buf);
	return 0;
}
