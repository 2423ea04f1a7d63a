/* Request handling: authorisation, methods, files, ranges, digests and listings; uploads
 * are upload.c's.  It decides what to answer and prepares it in the connection (c->out, a
 * file to send); conn.c moves the bytes.  No socket I/O happens here. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "dirlist.h"
#include "path.h"
#include "util.h"
#include "xfer.h"

void reply_with(struct conn *c, struct http_reply *r, const char *body, size_t body_len)
{
	bool head_only = c->have_req && c->req.method == HTTP_HEAD;
	size_t cap = 1024 + body_len;
	int n;

	c->status = r->status;
	if (r->close)
		c->keep_alive = false;
	r->close = !c->keep_alive;
	free(c->out);
	c->out = malloc(cap);
	if (!c->out) {
		c->keep_alive = false;
		c->state = CS_CLOSING;
		return;
	}
	n = http_format_reply(c->out, cap, r);
	if (n < 0)
		n = snprintf(c->out, cap, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
			     "Connection: close\r\n\r\n");
	if (!head_only && body_len) {
		memcpy(c->out + n, body, body_len);
		n += (int)body_len;
		c->bytes += body_len;
	}
	c->out_len = (size_t)n;
	c->out_off = 0;
	c->state = CS_WRITE_OUT;
}

void reply_text(struct conn *c, int status, const char *body, bool close)
{
	struct http_reply r = {
		.status = status,
		.content_length = status == 204 ? -1 : (int64_t)strlen(body),
		.content_type = status == 204 ? NULL : "text/plain; charset=utf-8",
		.range_total = -1,
		.close = close,
	};

	reply_with(c, &r, body, strlen(body));
}

void reply_errno(struct conn *c, int err, const char *what)
{
	char msg[300];

	switch (-err) {
	case ENOENT:
	case ENOTDIR:
		snprintf(msg, sizeof(msg), "%s not found\n", what);
		reply_text(c, 404, msg, false);
		break;
	case EXDEV:
	case ELOOP:
		snprintf(msg, sizeof(msg), "%s leads outside the served root\n", what);
		reply_text(c, 403, msg, false);
		break;
	case EACCES:
	case EPERM:
		snprintf(msg, sizeof(msg), "%s: permission denied\n", what);
		reply_text(c, 403, msg, false);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s: %s\n", what, strerror(-err));
		reply_text(c, 500, msg, false);
		break;
	}
}

/* Plain text by default; nginx's autoindex JSON for a client that accepts JSON. */
static void reply_listing(struct conn *c, int dirfd, const char *rel)
{
	bool json = c->req.accept && strcasestr(c->req.accept, "application/json");
	struct http_reply r = { .status = 200, .range_total = -1,
				.content_type = json ? "application/json" : "text/plain; charset=utf-8" };
	char *body;
	size_t len;
	int rc = dirlist(c->w->cfg->root_fd, rel, dirfd, json ? DIRLIST_JSON : DIRLIST_TEXT, &body, &len);

	if (rc == -ENOMEM) {
		reply_text(c, 500, "out of memory\n", true);
		return;
	}
	if (rc) {
		reply_errno(c, rc, "directory");
		return;
	}
	r.content_length = (int64_t)len;
	reply_with(c, &r, body, len);
	free(body);
}

/* Repr-Digest (RFC 9530) of the whole file, into b64: 1, 0 when the file kept changing
 * while it was read (answered without the field), -1 when answered 500 (fd closed). */
static int file_digest(struct conn *c, int fd, struct stat *st, char b64[48])
{
	uint8_t d[32];
	char msg[300];
	int rc = digest_file(fd, st, d);

	if (rc == 0) {
		base64_encode(d, sizeof(d), b64, 48);
		return 1;
	}
	if (rc == -ESTALE) {
		log_debug("%s: %s changed while its digest was computed; answered without one",
			  c->peer, c->req.target);
		return 0;
	}
	close(fd);
	/* Better no answer than a wrong digest. */
	snprintf(msg, sizeof(msg), "cannot compute the SHA-256 of %s: %s\n", c->req.target, strerror(-rc));
	reply_text(c, 500, msg, false);
	return -1;
}

static void send_file(struct conn *c, int fd, struct stat *st)
{
	struct http_reply r = { .status = 200, .content_type = "application/octet-stream",
				.range_total = -1 };
	uint64_t start, len;
	char etag[80], digest[48];
	enum range_result rr = RANGE_NONE;

	/* First, since it may find the file changed and refresh st.  The digest is of the
	 * representation, so a 206 carries the whole file's too. */
	if (http_wants_sha256(c->req.want_repr_digest)) {
		int rc = file_digest(c, fd, st, digest);

		if (rc < 0)
			return;
		r.repr_digest = rc ? digest : NULL;
	}
	r.last_modified = st->st_mtime;
	start = 0;
	len = (uint64_t)st->st_size;

	/* Strong validator: changes whenever the file is replaced or modified. */
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"", (unsigned long long)st->st_ino,
		 (unsigned long long)st->st_size,
		 (unsigned long long)st->st_mtim.tv_sec * 1000000000ull + (unsigned long long)st->st_mtim.tv_nsec);
	r.etag = etag;
	if (c->req.range && (!c->req.if_range || !strcmp(c->req.if_range, etag)))
		rr = range_parse(c->req.range, len, &start, &len);
	if (rr == RANGE_UNSATISFIABLE) {
		char msg[96];

		close(fd);
		snprintf(msg, sizeof(msg), "range not satisfiable: the file has %llu bytes\n",
			 (unsigned long long)st->st_size);
		r = (struct http_reply){ .status = 416, .content_type = "text/plain; charset=utf-8",
					 .content_length = (int64_t)strlen(msg), .range_start = -1,
					 .range_total = st->st_size };
		reply_with(c, &r, msg, strlen(msg));
		return;
	}
	if (rr == RANGE_PARTIAL) {
		r.status = 206;
		r.range_start = (int64_t)start;
		r.range_end = (int64_t)(start + len - 1);
		r.range_total = st->st_size;
	}
	r.content_length = (int64_t)len;
	reply_with(c, &r, NULL, 0);
	if (c->req.method == HTTP_HEAD || len == 0) {
		close(fd);
		return;
	}
	c->file_fd = fd;
	c->file_off = start;
	c->to_io = c->to_go = len;
	c->tx = c->tx_kernel ? &xfer_ktls_send : &xfer_user_send; /* kTLS or --plain: splice */
	/* Records of 16 KiB would each go out as a segment under TCP_NODELAY; corked, the
	 * kernel sends full segments (measured: about a tenth less server CPU per GiB). */
	conn_cork(c, true);
	if (c->tx->start(c) < 0) {
		c->tx = NULL;
		reply_text(c, 500, "out of memory\n", true);
	}
}

static void handle_get(struct conn *c, const char *rel)
{
	struct stat st;
	int fd = path_open(c->w->cfg->root_fd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);

	if (fd < 0) {
		reply_errno(c, fd, c->req.target);
		return;
	}
	if (fstat(fd, &st) < 0) {
		reply_errno(c, -errno, c->req.target);
		close(fd);
	} else if (S_ISDIR(st.st_mode)) {
		reply_listing(c, fd, rel);
	} else if (!S_ISREG(st.st_mode)) {
		close(fd);
		reply_text(c, 403, "not a regular file\n", false);
	} else {
		send_file(c, fd, &st);
	}
}

static bool authorised(struct conn *c)
{
	const struct serve_config *cfg = c->w->cfg;
	const char *a = c->req.authorization;

	if (!cfg->token)
		return true;
	if (!a || strncasecmp(a, "Bearer ", 7))
		return false;
	a += 7;
	return ct_equal(a, strlen(a), cfg->token, cfg->token_len);
}

void handle_request(struct conn *c)
{
	const struct serve_config *cfg = c->w->cfg;
	char rel[PATH_REL_MAX];
	bool slash;
	int rc;

	c->keep_alive = c->req.keep_alive;
	/* A body we will not read cannot be skipped safely: close after the answer. */
	c->linger = c->req.method != HTTP_PUT && (c->req.content_length > 0 || c->req.chunked);
	if (c->linger)
		c->keep_alive = false;
	if (!authorised(c)) {
		struct http_reply r = { .status = 401, .content_type = "text/plain; charset=utf-8",
					.content_length = 31, .range_total = -1,
					.www_authenticate = "Bearer realm=\"kxfer\"" };

		if (c->req.method == HTTP_PUT)
			c->linger = true, c->keep_alive = false;
		reply_with(c, &r, "missing or wrong bearer token\n", 31);
		return;
	}
	if (c->req.method == HTTP_OTHER || (c->req.method == HTTP_PUT && !cfg->allow_upload)) {
		const char *allow = cfg->allow_upload ? "GET, HEAD, PUT" : "GET, HEAD";
		char msg[80];
		struct http_reply r = { .status = 405, .content_type = "text/plain; charset=utf-8",
					.range_total = -1, .allow = allow };

		snprintf(msg, sizeof(msg), "method not allowed; this server allows %s\n", allow);
		r.content_length = (int64_t)strlen(msg);
		if (c->req.method == HTTP_PUT)
			c->linger = true, c->keep_alive = false;
		reply_with(c, &r, msg, strlen(msg));
		return;
	}
	rc = path_from_target(c->req.target, rel, sizeof(rel), &slash);
	if (rc) {
		if (c->req.method == HTTP_PUT)
			c->linger = true, c->keep_alive = false;
		reply_text(c, -rc, rc == -403 ? "path leads outside the served root\n" : "malformed path\n",
			   false);
		return;
	}
	if (c->req.method == HTTP_PUT)
		handle_put(c, rel);
	else
		handle_get(c, rel);
}
