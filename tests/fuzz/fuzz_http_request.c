/* http_parse_request, and what the server does with a parsed head: the Range,
 * If-Range, Want-Repr-Digest and Repr-Digest values and the target's path.  The buffer is
 * exactly the input plus a NUL, as conn.c holds it. */
#include "fuzz.h"
#include "http.h"
#include "path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	char rel[PATH_REL_MAX], *buf;
	uint64_t start, len;
	uint8_t digest[32];
	time_t t;
	bool slash;
	int n;

	if (size > HTTP_HEAD_MAX || !(buf = fuzz_str(data, size)))
		return 0;
	n = http_parse_request(buf, size, &req);
	FUZZ_ASSERT(n >= 0 || n == -400 || n == -431 || n == -505);
	if (n > 0) {
		FUZZ_ASSERT((size_t)n == req.head_len && req.head_len <= size);
		FUZZ_ASSERT(req.method_name && req.target);
		FUZZ_ASSERT(req.content_length >= -1);
		FUZZ_ASSERT(fuzz_inside(req.target, buf, size) && fuzz_inside(req.method_name, buf, size));
		FUZZ_ASSERT(fuzz_inside(req.host, buf, size) && fuzz_inside(req.range, buf, size));
		FUZZ_ASSERT(fuzz_inside(req.if_range, buf, size) && fuzz_inside(req.authorization, buf, size));
		FUZZ_ASSERT(fuzz_inside(req.accept, buf, size) && fuzz_inside(req.want_repr_digest, buf, size));
		FUZZ_ASSERT(fuzz_inside(req.repr_digest, buf, size) && fuzz_inside(req.oc_mtime, buf, size));
		if (range_parse(req.range, 1 << 20, &start, &len) == RANGE_PARTIAL)
			FUZZ_ASSERT(len > 0 && start + len <= 1 << 20);
		if (req.if_range)
			http_parse_date(req.if_range, &t);
		if (req.want_repr_digest)
			http_wants_sha256(req.want_repr_digest);
		if (req.repr_digest)
			http_digest_sha256(req.repr_digest, digest);
		path_from_target(req.target, rel, sizeof(rel), &slash);
	}
	free(buf);
	return 0;
}
