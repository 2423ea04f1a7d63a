/* Request handling: authorisation, methods, files, ranges, listings and uploads.
 * It decides what to answer and prepares it in the connection (c->out, a file to send,
 * an upload to receive); conn.c moves the bytes.  No socket I/O happens here. */
#include "conn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "path.h"
#include "util.h"
#include "xfer.h"

#define TMP_PREFIX ".kxfer-upload-"

/* Puts a complete response (head, and body unless HEAD) into c->out. */
static void reply(struct conn *c, struct http_reply *r, const char *body, size_t body_len)
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

	reply(c, &r, body, strlen(body));
}

static void reply_errno(struct conn *c, int err, const char *what)
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

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A plain-text listing: one name per line, '/' after directories, sorted. */
static void reply_listing(struct conn *c, int dirfd)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *e;
	char **names = NULL, *body = NULL;
	size_t n = 0, cap = 0, len = 0;

	if (!d) {
		close(dirfd);
		reply_errno(c, -errno, "directory");
		return;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		bool dir = e->d_type == DT_DIR;
		char **grown;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
			continue;
		if (e->d_type == DT_UNKNOWN && fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			dir = S_ISDIR(st.st_mode);
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown)
				goto oom;
			names = grown;
		}
		if (asprintf(&names[n], "%s%s\n", e->d_name, dir ? "/" : "") < 0)
			goto oom;
		len += strlen(names[n++]);
	}
	qsort(names, n, sizeof(*names), cmp_names);
	body = malloc(len + 1);
	if (!body)
		goto oom;
	body[0] = 0;
	for (size_t i = 0, off = 0; i < n; off += strlen(names[i]), i++)
		memcpy(body + off, names[i], strlen(names[i]) + 1);
	reply_text(c, 200, body, false);
	goto out;
oom:
	reply_text(c, 500, "out of memory\n", true);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(body);
	closedir(d);
}

static void send_file(struct conn *c, int fd, const struct stat *st)
{
	struct http_reply r = { .status = 200, .content_type = "application/octet-stream",
				.last_modified = st->st_mtime, .range_total = -1 };
	uint64_t start = 0, len = (uint64_t)st->st_size;
	char etag[80];
	enum range_result rr = RANGE_NONE;

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
		reply(c, &r, msg, strlen(msg));
		return;
	}
	if (rr == RANGE_PARTIAL) {
		r.status = 206;
		r.range_start = (int64_t)start;
		r.range_end = (int64_t)(start + len - 1);
		r.range_total = st->st_size;
	}
	r.content_length = (int64_t)len;
	reply(c, &r, NULL, 0);
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
		reply_listing(c, fd);
	} else if (!S_ISREG(st.st_mode)) {
		close(fd);
		reply_text(c, 403, "not a regular file\n", false);
	} else {
		send_file(c, fd, &st);
	}
}

static void handle_put(struct conn *c, const char *rel)
{
	const struct serve_config *cfg = c->w->cfg;
	char dir[PATH_REL_MAX];
	const char *base = path_split(rel, dir, sizeof(dir));
	uint64_t rnd, have;
	struct statvfs vfs;
	struct stat st;
	size_t early;
	int fd;

	c->linger = true; /* until the body is accepted, it is unread input */
	if (c->req.chunked || c->req.content_length < 0) {
		reply_text(c, 411, "PUT needs a Content-Length (chunked uploads are not supported)\n", true);
		return;
	}
	if (!*base || !strncmp(base, TMP_PREFIX, strlen(TMP_PREFIX))) {
		reply_text(c, 400, "PUT needs a file name\n", true);
		return;
	}
	c->dir_fd = path_open(cfg->root_fd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (c->dir_fd < 0) {
		reply_errno(c, c->dir_fd, "parent directory");
		c->keep_alive = false;
		return;
	}
	if (fstatat(c->dir_fd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode)) {
			reply_text(c, 403, "target exists and is not a regular file\n", true);
			return;
		}
		c->replacing = true;
	}
	have = fstatvfs(c->dir_fd, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : UINT64_MAX;
	if ((uint64_t)c->req.content_length > have) {
		reply_text(c, 413, "upload larger than the free space on the server\n", true);
		return;
	}
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint64_t)getpid() ^ (uint64_t)(now_sec() * 1e9);
	snprintf(c->tmp_name, sizeof(c->tmp_name), TMP_PREFIX "%016llx", (unsigned long long)rnd);
	fd = openat(c->dir_fd, c->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	c->final_name = strdup(base);
	if (fd < 0 || !c->final_name) {
		c->tmp_name[0] = 0;
		if (fd >= 0)
			close(fd);
		reply_errno(c, fd < 0 ? -errno : -ENOMEM, "upload");
		c->keep_alive = false;
		return;
	}
	c->file_fd = fd;
	c->file_off = 0;
	c->to_io = c->to_go = (uint64_t)c->req.content_length;
	c->rx = &xfer_user_recv;
	if (c->rx->start(c) < 0) {
		c->rx = NULL;
		reply_text(c, 500, "out of memory\n", true);
		return;
	}
	c->linger = false;
	/* Body bytes that arrived with the head go first; later bytes stay for the next request. */
	early = MIN(c->head_len - c->req.head_len, c->to_io);
	memcpy(c->buf[0].data, c->head + c->req.head_len, early);
	c->buf[0].len = early;
	c->to_io -= early;
	c->bytes += early;
	memmove(c->head + c->req.head_len, c->head + c->req.head_len + early,
		c->head_len - c->req.head_len - early);
	c->head_len -= early;
	c->state = CS_RECV_BODY;
	if (c->req.expect_continue && c->to_io > 0) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		c->out = strdup(cont);
		c->out_len = c->out ? strlen(cont) : 0;
		c->out_off = 0;
		c->state = CS_WRITE_OUT;
	}
}

void upload_commit(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->commit_error) {
		reply_errno(c, c->commit_error, "upload");
		c->keep_alive = false;
		return;
	}
	switch (c->commit_stage++) {
	case 0: /* the data reaches the disk before the name points at it */
		sqe = loop_sqe(c->w);
		io_uring_prep_fsync(sqe, c->file_fd, 0);
		break;
	case 1:
		if (renameat(c->dir_fd, c->tmp_name, c->dir_fd, c->final_name) < 0) {
			reply_errno(c, -errno, "upload");
			c->keep_alive = false;
			return;
		}
		c->tmp_name[0] = 0;
		sqe = loop_sqe(c->w); /* and the new name itself survives a crash */
		io_uring_prep_fsync(sqe, c->dir_fd, 0);
		break;
	default:
		c->rx->finish(c);
		c->rx = NULL;
		reply_text(c, c->replacing ? 204 : 201, c->replacing ? "" : "created\n", false);
		return;
	}
	loop_arm(sqe, &c->op_sync);
	c->inflight++;
}

void upload_abort(struct conn *c)
{
	if (c->dir_fd >= 0) {
		if (c->tmp_name[0])
			unlinkat(c->dir_fd, c->tmp_name, 0);
		close(c->dir_fd);
	}
	c->dir_fd = -1;
	c->tmp_name[0] = 0;
	free(c->final_name);
	c->final_name = NULL;
	c->replacing = false;
	c->commit_stage = c->commit_error = 0;
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
		reply(c, &r, "missing or wrong bearer token\n", 31);
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
		reply(c, &r, msg, strlen(msg));
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
