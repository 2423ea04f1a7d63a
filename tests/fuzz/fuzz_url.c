/* url_parse, then what the clients do with a URL: the file name and the Host header. */
#include "fuzz.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct url u;
	const char *err = NULL;
	char name[256], host[300];
	char *s = fuzz_str(data, size);

	if (!s)
		return 0;
	if (url_parse(s, &u, &err) == 0) {
		FUZZ_ASSERT(memchr(u.host, 0, sizeof(u.host)) && memchr(u.port, 0, sizeof(u.port)) &&
			    memchr(u.target, 0, sizeof(u.target)));
		FUZZ_ASSERT(u.target[0] == '/');
		if (url_file_name(&u, name, sizeof(name)) == 0)
			FUZZ_ASSERT(!strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..") && name[0]);
		url_host_header(&u, host, sizeof(host));
		FUZZ_ASSERT(memchr(host, 0, sizeof(host)));
	} else {
		FUZZ_ASSERT(err);
	}
	free(s);
	return 0;
}
