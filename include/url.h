/* https:// (and plaintext http://) URLs for the clients.  Pure. */
#ifndef KXFER_URL_H
#define KXFER_URL_H

#include <stdbool.h>
#include <stddef.h>

struct url {
	char host[256];   /* without brackets for IPv6 */
	char port[8];
	char target[4096];/* path and query as sent in the request line */
	bool ipv6;
	bool plain;       /* http://: no TLS (kxfer serve --plain, for measuring) */
};

/* Parses "https://host[:port][/path[?query]]" (or http://, port 80 by default); -EINVAL
 * with a reason in err. */
int url_parse(const char *s, struct url *u, const char **err);
/* The last path segment, percent-decoded, as a local file name; -EINVAL if there is none
 * usable ("", ".", ".."). */
int url_file_name(const struct url *u, char *out, size_t cap);
/* "host" or "[v6]" plus ":port" when not the scheme's default: the Host header value. */
void url_host_header(const struct url *u, char *out, size_t cap);

#endif
