/* Directory listings for the tree client: a small JSON reader for exactly the shape
 * nginx's autoindex_format json (and kxfer serve) writes, an array of flat objects, and
 * the chunked transfer coding nginx uses for it.  Pure: buffers in, structs out. */
#include "listing.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

struct cursor {
	const char *p, *end, *start;
};

static void ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool eat(struct cursor *c, char ch)
{
	ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		int ch = (unsigned char)p[i], d = isdigit(ch) ? ch - '0' :
			 ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;

		if (d < 0)
			return -1;
		v = v << 4 | (unsigned)d;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A JSON string (RFC 8259 7) into a new NUL-terminated buffer; \u0000 is refused, since
 * no name may hold a NUL. */
static char *string(struct cursor *c)
{
	const char *s;
	char *out, *o;

	if (!eat(c, '"'))
		return NULL;
	s = c->p;
	while (c->p < c->end && *c->p != '"')
		c->p += *c->p == '\\' && c->p + 1 < c->end ? 2 : 1;
	if (c->p >= c->end)
		return NULL;
	out = o = malloc((size_t)(c->p - s) + 1); /* escapes never grow */
	if (!out)
		return NULL;
	for (; s < c->p; s++) {
		unsigned cp, lo;

		if ((unsigned char)*s < 0x20)
			goto bad;
		if (*s != '\\') {
			*o++ = *s;
			continue;
		}
		switch (*++s) {
		case '"': case '\\': case '/': *o++ = *s; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (c->p - s < 5 || hex4(s + 1, &cp))
				goto bad;
			s += 4;
			if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
				if (c->p - s < 7 || s[1] != '\\' || s[2] != 'u' || hex4(s + 3, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				s += 6;
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				goto bad;
			}
			if (cp == 0)
				goto bad;
			o += put_utf8(o, cp);
			break;
		default:
			goto bad;
		}
	}
	*o = 0;
	c->p++;
	return out;
bad:
	free(out);
	return NULL;
}

/* A non-negative integer (sizes); fractions and exponents are not sizes. */
static bool number(struct cursor *c, int64_t *out)
{
	int64_t v = 0;

	ws(c);
	if (c->p >= c->end || !isdigit((unsigned char)*c->p))
		return false;
	for (; c->p < c->end && isdigit((unsigned char)*c->p); c->p++) {
		if (v > (INT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (*c->p - '0');
	}
	*out = v;
	return c->p >= c->end || !strchr(".eE", *c->p);
}

/* Members we do not use may be any scalar: skip it. */
static bool skip_scalar(struct cursor *c)
{
	char *s;
	int64_t n;

	ws(c);
	if (c->p < c->end && *c->p == '"') {
		s = string(c);
		free(s);
		return s != NULL;
	}
	for (const char *lit = "true\0false\0null\0"; *lit; lit += strlen(lit) + 1)
		if ((size_t)(c->end - c->p) >= strlen(lit) && !memcmp(c->p, lit, strlen(lit))) {
			c->p += strlen(lit);
			return true;
		}
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (!number(c, &n)) {
		while (c->p < c->end && strchr("0123456789.eE+-", *c->p))
			c->p++;
	}
	return true;
}

static bool good_name(const char *n)
{
	return *n && strcmp(n, ".") && strcmp(n, "..") && !strchr(n, '/');
}

static int object(struct cursor *c, struct listing_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->size = -1;
	e->type = ENTRY_OTHER;
	if (!eat(c, '{'))
		return -EINVAL;
	if (eat(c, '}'))
		goto done;
	do {
		char *key = string(c), *v;
		bool okay = true;

		if (!key || !eat(c, ':')) {
			free(key);
			return -EINVAL;
		}
		if (!strcmp(key, "name")) {
			free(e->name);
			e->name = string(c);
			okay = e->name && good_name(e->name);
		} else if (!strcmp(key, "type")) {
			v = string(c);
			okay = v != NULL;
			e->type = !v ? ENTRY_OTHER : !strcmp(v, "file") ? ENTRY_FILE :
				  !strcmp(v, "directory") ? ENTRY_DIR : ENTRY_OTHER;
			free(v);
		} else if (!strcmp(key, "size")) {
			okay = number(c, &e->size);
		} else if (!strcmp(key, "mtime")) {
			v = string(c);
			okay = v != NULL;
			if (v && http_parse_date(v, &e->mtime))
				e->mtime = 0;
			free(v);
		} else {
			okay = skip_scalar(c);
		}
		free(key);
		if (!okay)
			return -EINVAL;
	} while (eat(c, ','));
	if (!eat(c, '}'))
		return -EINVAL;
done:
	return e->name ? 0 : -EINVAL;
}

int listing_parse(const char *json, size_t len, struct listing *out, size_t *where)
{
	struct cursor c = { .p = json, .end = json + len, .start = json };
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!eat(&c, '['))
		goto fail;
	if (eat(&c, ']'))
		goto end;
	do {
		struct listing_entry e;

		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 64;
			struct listing_entry *grown = realloc(out->e, cap * sizeof(*grown));

			if (!grown) {
				rc = -ENOMEM;
				goto fail;
			}
			out->e = grown;
			out->cap = cap;
		}
		if (object(&c, &e)) {
			free(e.name);
			goto fail;
		}
		out->e[out->n++] = e;
	} while (eat(&c, ','));
	if (!eat(&c, ']'))
		goto fail;
end:
	ws(&c);
	if (c.p == c.end)
		return 0;
fail:
	*where = (size_t)(c.p - c.start);
	listing_free(out);
	return rc;
}

void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	memset(l, 0, sizeof(*l));
}

/* One pass over the chunks; with decode, moves the data down to buf in place. */
static long dechunk_pass(char *buf, size_t len, size_t *body_len, bool decode)
{
	size_t i = 0, o = 0;

	for (;;) {
		uint64_t size = 0;
		size_t digits = 0;

		while (i < len && isxdigit((unsigned char)buf[i])) {
			int ch = tolower((unsigned char)buf[i++]);

			if (++digits > 15)
				return -EPROTO;
			size = size << 4 | (uint64_t)(isdigit(ch) ? ch - '0' : ch - 'a' + 10);
		}
		if (i >= len)
			return 0;
		if (!digits)
			return -EPROTO;
		while (i < len && buf[i] != '\n') { /* chunk extensions: ignored */
			if ((unsigned char)buf[i] < 0x20 && buf[i] != '\r' && buf[i] != '\t')
				return -EPROTO;
			i++;
		}
		if (i++ >= len)
			return 0;
		if (size == 0)
			break;
		if (len - i < size + 1)
			return 0;
		if (decode)
			memmove(buf + o, buf + i, (size_t)size);
		o += (size_t)size;
		i += (size_t)size;
		if (buf[i] == '\r')
			i++;
		if (i >= len)
			return 0;
		if (buf[i++] != '\n')
			return -EPROTO;
	}
	for (;;) { /* trailer fields, then the empty line */
		size_t start = i;

		while (i < len && buf[i] != '\n')
			i++;
		if (i >= len)
			return 0;
		i++;
		if (i - start <= 2 && (i - start == 1 || buf[start] == '\r'))
			break;
	}
	*body_len = o;
	return (long)i;
}

long http_dechunk(char *buf, size_t len, size_t *body_len)
{
	long rc = dechunk_pass(buf, len, body_len, false);

	return rc > 0 ? dechunk_pass(buf, len, body_len, true) : rc;
}
