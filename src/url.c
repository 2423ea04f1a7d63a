/* https:// (and http://) URLs for kxfer get and put. */
#include "url.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "path.h"
#include "util.h"

int url_parse(const char *s, struct url *u, const char **err)
{
	const char *host, *end, *port = NULL, *path;
	size_t hlen;
	uint64_t pnum;

	memset(u, 0, sizeof(*u));
	if (!strncasecmp(s, "https://", 8)) {
		host = s + 8;
	} else if (!strncasecmp(s, "http://", 7)) {
		host = s + 7;
		u->plain = true;
	} else {
		*err = "only https:// (and plaintext http://) URLs are supported";
		return -EINVAL;
	}
	path = host + strcspn(host, "/?#");
	if (*host == '[') {
		end = memchr(host, ']', (size_t)(path - host));
		if (!end) {
			*err = "unterminated [IPv6] address";
			return -EINVAL;
		}
		hlen = (size_t)(end - host - 1);
		host++;
		u->ipv6 = true;
		if (end[1] == ':')
			port = end + 2;
		else if (end + 1 != path)
			goto bad_host;
	} else {
		const char *colon = memchr(host, ':', (size_t)(path - host));

		end = colon ? colon : path;
		hlen = (size_t)(end - host);
		if (colon)
			port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(u->host))
		goto bad_host;
	for (size_t i = 0; i < hlen; i++) {
		unsigned char ch = (unsigned char)host[i];

		/* names, IPv4, and inside brackets IPv6 with a zone: nothing that could end a line */
		if (!isalnum(ch) && !strchr(u->ipv6 ? ":.%" : ".-_", ch))
			goto bad_host;
	}
	memcpy(u->host, host, hlen);
	if (port) {
		size_t plen = (size_t)(path - port);
		char num[8];

		if (plen == 0 || plen >= sizeof(num))
			goto bad_port;
		memcpy(num, port, plen);
		num[plen] = 0;
		if (parse_uint(num, 65535, &pnum) || pnum == 0)
			goto bad_port;
		snprintf(u->port, sizeof(u->port), "%u", (unsigned)pnum);
	} else {
		strcpy(u->port, u->plain ? "80" : "443");
	}
	if (*path == '#' || *path == 0)
		path = "/";
	if (*path == '?') {
		if (snprintf(u->target, sizeof(u->target), "/%s", path) >= (int)sizeof(u->target)) {
			*err = "URL query too long";
			return -EINVAL;
		}
		u->target[strcspn(u->target, "#")] = 0;
	} else {
		size_t n = strcspn(path, "#");

		if (n >= sizeof(u->target)) {
			*err = "URL path too long";
			return -EINVAL;
		}
		memcpy(u->target, path, n);
		u->target[n] = 0;
	}
	for (const char *c = u->target; *c; c++) {
		if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
			*err = "URL contains spaces or control characters (percent-encode them)";
			return -EINVAL;
		}
	}
	return 0;
bad_host:
	*err = "bad host in URL";
	return -EINVAL;
bad_port:
	*err = "bad port in URL";
	return -EINVAL;
}

int url_file_name(const struct url *u, char *out, size_t cap)
{
	size_t n = strcspn(u->target, "?");
	const char *start = u->target + n;

	while (start > u->target && start[-1] != '/')
		start--;
	if (path_decode(start, (size_t)(u->target + n - start), out, cap) < 0)
		return -EINVAL;
	if (!*out || !strcmp(out, ".") || !strcmp(out, "..") || strchr(out, '/'))
		return -EINVAL;
	return 0;
}

void url_host_header(const struct url *u, char *out, size_t cap)
{
	const char *l = u->ipv6 ? "[" : "", *r = u->ipv6 ? "]" : "";

	if (strcmp(u->port, u->plain ? "80" : "443"))
		snprintf(out, cap, "%s%s%s:%s", l, u->host, r, u->port);
	else
		snprintf(out, cap, "%s%s%s", l, u->host, r);
}
