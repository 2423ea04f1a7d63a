/* Byte ranges (RFC 9110 14.1.2).  One range is honoured; a list of several is ignored,
 * which RFC 9110 14.2 allows ("a server MAY ignore the Range header field"), because
 * multipart/byteranges buys a bulk-transfer tool nothing. */
#include "range.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Reads a decimal number; false if there is none or it overflows. */
static bool read_num(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	*p = s;
	return true;
}

static void skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

enum range_result range_parse(const char *header, uint64_t size, uint64_t *start, uint64_t *len)
{
	const char *p = header;
	uint64_t first, last;

	if (!p)
		return RANGE_NONE;
	skip_ws(&p);
	if (strncasecmp(p, "bytes", 5))
		return RANGE_NONE;
	p += 5;
	skip_ws(&p);
	if (*p++ != '=')
		return RANGE_NONE;
	skip_ws(&p);
	if (strchr(p, ','))
		return RANGE_NONE;

	if (*p == '-') { /* suffix: the last N bytes */
		p++;
		if (!read_num(&p, &last))
			return RANGE_NONE;
		skip_ws(&p);
		if (*p)
			return RANGE_NONE;
		if (last == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		if (last > size)
			last = size;
		*start = size - last;
		*len = last;
		return RANGE_PARTIAL;
	}

	if (!read_num(&p, &first) || *p++ != '-')
		return RANGE_NONE;
	if (isdigit((unsigned char)*p)) {
		if (!read_num(&p, &last) || last < first)
			return RANGE_NONE;
	} else {
		last = UINT64_MAX;
	}
	skip_ws(&p);
	if (*p)
		return RANGE_NONE;
	if (first >= size)
		return RANGE_UNSATISFIABLE;
	if (last >= size)
		last = size - 1;
	*start = first;
	*len = last - first + 1;
	return RANGE_PARTIAL;
}
