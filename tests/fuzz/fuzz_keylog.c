/* tls_keylog_parse: the lines OpenSSL's keylog callback hands tls.c.  The first byte picks
 * the secret buffer's size (exactly that many bytes on the heap, so ASan sees any write
 * past it); 48 (SHA-384's, what tls.c passes) half the time. */
#include <errno.h>

#include "fuzz.h"
#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap = 48, len = (size_t)-1;
	uint8_t *secret;
	char *line;
	int dir = -1, rc;

	if (size > 0) {
		cap = data[0] & 0x80 ? 48 : data[0] % 64;
		data++;
		size--;
	}
	if (!(line = fuzz_str(data, size)))
		return 0;
	if (!(secret = malloc(cap ? cap : 1))) {
		free(line);
		return 0;
	}
	rc = tls_keylog_parse(line, &dir, secret, cap, &len);
	FUZZ_ASSERT(rc == 0 || rc == -ENOENT || rc == -EINVAL || rc == -EBADMSG);
	if (rc == 0 || rc == -EBADMSG)
		FUZZ_ASSERT((dir == 0 || dir == 1) && len <= cap);
	if (rc == -ENOENT)
		FUZZ_ASSERT(dir == -1 && strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) &&
			    strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24));
	free(secret);
	free(line);
	return 0;
}
