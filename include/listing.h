/* Directory listings as the tree client reads them: nginx's `autoindex_format json` (which
 * kxfer serve also speaks), and the chunked transfer coding nginx sends them in.  Pure. */
#ifndef KXFER_LISTING_H
#define KXFER_LISTING_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum entry_type { ENTRY_FILE, ENTRY_DIR, ENTRY_OTHER };

struct listing_entry {
	char *name;          /* one path segment: never "", ".", ".." or containing '/' */
	enum entry_type type;
	int64_t size;        /* -1: not given */
	time_t mtime;        /* 0: not given or unparsable */
};

struct listing {
	struct listing_entry *e;
	size_t n, cap;
};

/* Parses a JSON array of objects with "name", "type", "size" and "mtime" members (other
 * members are ignored).  Entries whose name could not be a file name are refused.  0, or
 * -EINVAL with the byte offset of the problem in *where. */
int listing_parse(const char *json, size_t len, struct listing *out, size_t *where);
void listing_free(struct listing *l);

/* Decodes a complete chunked body (RFC 9112 7.1) at buf in place: > 0 the bytes of buf it
 * took (the decoded body is buf[0, *body_len)), 0 when more bytes are needed, -EPROTO when
 * malformed.  Trailer fields are skipped. */
long http_dechunk(char *buf, size_t len, size_t *body_len);

#endif
