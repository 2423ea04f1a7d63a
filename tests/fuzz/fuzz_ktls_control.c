/* rec_control as the kTLS receive path calls it (ktls.c): each decrypted non-data record
 * with its type from the kernel's cmsg.  Input: records as (type, length, bytes); a
 * next_key that fails now and then (the first byte), as a kernel that cannot rekey does. */
#include <errno.h>

#include "fuzz.h"
#include "record.h"

struct keys {
	unsigned updates, fail_at;
};

static int next_key(void *arg)
{
	struct keys *k = arg;

	return ++k->updates == k->fail_at ? -EBUSY : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rec_events ev = { 0 };
	struct keys k = { 0, 0 };
	size_t i = 1;

	if (size == 0)
		return 0;
	k.fail_at = data[0] % 8; /* 0: never */
	while (i + 3 <= size) {
		unsigned type = data[i];
		size_t n = (size_t)data[i + 1] << 8 | data[i + 2];
		uint8_t *p;
		int rc;

		i += 3;
		n = n < size - i ? n : size - i;
		/* Exactly n bytes on the heap: the walk must stay inside the record. */
		if (!(p = malloc(n ? n : 1)))
			return 0;
		memcpy(p, data + i, n);
		i += n;
		rc = rec_control(&ev, type, p, n, next_key, &k);
		free(p);
		FUZZ_ASSERT(memchr(ev.err, 0, sizeof(ev.err)));
		if (rc) {
			FUZZ_ASSERT(rc == -EPROTO || rc == -EBUSY);
			FUZZ_ASSERT(rc == -EBUSY || ev.err[0]);
			break; /* fatal: ktls_read stops here */
		}
		if (ev.eof)
			break;
	}
	return 0;
}
