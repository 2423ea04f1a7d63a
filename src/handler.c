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
		if (!c->have_req || c->req.method != HTTP_PUT)
			c->bytes += body_len; /* an upload's count is of the bytes it received */
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

/* A digest failure answers 500: better no answer than a wrong digest. */
static void digest_failed(struct conn *c, int fd, int err)
{
	char msg[300];

	close(fd);
	snprintf(msg, sizeof(msg), "cannot compute the SHA-256 of %s: %s\n", c->req.target, strerror(-err));
	reply_text(c, 500, msg, false);
}

static void respond_file(struct conn *c, int fd, const struct stat *st, const char *digest);

/* Repr-Digest (RFC 9530) of the whole file, even for a 206: it is the representation's.
 * A cached one answers at once; otherwise a hashing thread reads the file while this
 * worker serves its other connections, and the state machine waits in CS_DIGEST. */
static void send_file(struct conn *c, int fd, struct stat *st)
{
	struct io_uring_sqe *sqe;
	char b64[48];
	uint8_t d[32];

	if (!http_wants_sha256(c->req.want_repr_digest)) {
		respond_file(c, fd, st, NULL);
		return;
	}
	if (digest_cached(fd, st, d) == 0) {
		base64_encode(d, sizeof(d), b64, sizeof(b64));
		respond_file(c, fd, st, b64);
		return;
	}
	c->digest = digest_start(fd, st);
	if (!c->digest) {
		digest_failed(c, fd, -errno);
		return;
	}
	c->file_fd = fd; /* closed with the request if the connection ends meanwhile */
	sqe = loop_sqe(c->w);
	io_uring_prep_read(sqe, c->digest->efd, &c->digest->efd_value, sizeof(c->digest->efd_value), 0);
	loop_arm(sqe, &c->op_digest);
	c->inflight++;
	c->state = CS_DIGEST;
}

void handle_digested(struct conn *c)
{
	struct digest_job *j = c->digest;
	int fd = c->file_fd;
	char b64[48];

	c->digest = NULL;
	c->file_fd = -1;
	if (j->rc == 0)
		base64_encode(j->d, sizeof(j->d), b64, sizeof(b64));
	else if (j->rc == -ESTALE)
		log_debug("%s: %s changed while its digest was computed; answered without one",
			  c->peer, c->req.target);
	if (j->rc == 0 || j->rc == -ESTALE)
		respond_file(c, fd, &j->st, j->rc == 0 ? b64 : NULL);
	else
		digest_failed(c, fd, j->rc);
	digest_job_free(j);
}

/* The answer for a file: head, range, body; st is the version digest (if any) is of. */
static void respond_file(struct conn *c, int fd, const struct stat *st, const char *digest)
{
	struct http_reply r = { .status = 200, .content_type = "application/octet-stream",
				.range_total = -1, .repr_digest = digest };
	uint64_t start, len;
	char etag[80];
	enum range_result rr = RANGE_NONE;

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
	/* kTLS or --plain: splice; TLS 1.3 in userspace: seal from the mapped file */
	c->tx = c->tx_kernel ? &xfer_ktls_send : c->rec.tx_on ? &xfer_map_send : &xfer_user_send;
	/* Records of 16 KiB would each go out as a segment under TCP_NODELAY; corked, the
	 * kernel sends full segments (measured: about a tenth less server CPU per GiB). */
	conn_cork(c, true);
	if (c->tx->start(c) < 0) {
		c->tx = NULL;
		reply_text(c, 500, "out of memory\n", true);
	}
}

/* An upload still being written, or one a crash left behind (upload.c names them): never
 * served, as the listing never shows them. */
static bool upload_temporary(const char *rel)
{
	const char *base = strrchr(rel, '/');

	base = base ? base + 1 : rel;
	return !strncmp(base, UPLOAD_TMP_PREFIX, strlen(UPLOAD_TMP_PREFIX));
}

static void handle_get(struct conn *c, const char *rel)
{
	struct stat st;
	int fd = upload_temporary(rel) ? -ENOENT :
		 path_open(c->w->cfg->root_fd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);

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
	const struct serve_creds *cr = c->creds;
	const char *a = c->req.authorization;

	if (!cr->token)
		return true;
	if (!a || strncasecmp(a, "Bearer ", 7))
		return false;
	a += 7;
	return ct_equal(a, strlen(a), cr->token, cr->token_len);
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
