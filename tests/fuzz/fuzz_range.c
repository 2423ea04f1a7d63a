/* range_parse: one Range header against a file size.  Input: 8 bytes of size (little
 * endian; shorter inputs use a small size), then the header value. */
#include "fuzz.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t fsize = 1000, start = 7, len = 7;
	enum range_result r;
	char *hdr;

	if (size >= 8) {
		memcpy(&fsize, data, 8);
		if (data[7] & 0x80) /* half the time a size a file could have */
			fsize &= 0xffffff;
		data += 8;
		size -= 8;
	}
	hdr = fuzz_str(data, size);
	if (!hdr)
		return 0;
	r = range_parse(hdr, fsize, &start, &len);
	FUZZ_ASSERT(r == RANGE_NONE || r == RANGE_PARTIAL || r == RANGE_UNSATISFIABLE);
	if (r == RANGE_PARTIAL) {
		FUZZ_ASSERT(len > 0 && start < fsize && len <= fsize - start);
	} else {
		FUZZ_ASSERT(start == 7 && len == 7); /* untouched */
	}
	free(hdr);
	return 0;
}
