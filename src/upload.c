/* Uploads (PUT with --allow-upload): what is checked before the body is read, the parent
 * directory (made when missing, never through a symlink), the hidden temporary file, and
 * the commit: digest check, mtime, fsync, rename, directory fsync, answer.  The body itself
 * moves through c->rx (xfer_user.c), which also feeds c->up_hash in file order. */
#include "conn.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "digest.h"
#include "path.h"
#include "tls.h"
#include "util.h"
#include "xfer.h"

/* 9999-12-31T23:59:59Z: as far as an HTTP date (Last-Modified) can say. */
#define MTIME_MAX 253402300799ull

/* X-OC-Mtime (ownCloud, Nextcloud, rclone): seconds since the epoch, digits only, with an
 * optional ".fraction" (nanoseconds; digits past the ninth are dropped). */
static int parse_oc_mtime(const char *s, struct timespec *ts)
{
	const char *dot = strchr(s, '.');
	size_t n = dot ? (size_t)(dot - s) : strlen(s);
	char secs[24];
	uint64_t v;
	long nsec = 0;

	if (n == 0 || n >= sizeof(secs))
		return -EINVAL;
	memcpy(secs, s, n);
	secs[n] = 0;
	if (parse_uint(secs, MTIME_MAX, &v) < 0)
		return -EINVAL;
	if (dot) {
		const char *f = dot + 1;

		if (!*f)
			return -EINVAL;
		for (size_t i = 0; f[i]; i++) {
			if (!isdigit((unsigned char)f[i]))
				return -EINVAL;
			if (i < 9)
				nsec = nsec * 10 + (f[i] - '0');
		}
		for (size_t i = strlen(f); i < 9; i++)
			nsec *= 10;
	}
	ts->tv_sec = (time_t)v;
	ts->tv_nsec = nsec;
	return 0;
}

/* The request's X-OC-Mtime and Repr-Digest, refused before a byte of the body is read. */
static bool fields_ok(struct conn *c)
{
	int rc;

	if (c->req.oc_mtime) {
		if (parse_oc_mtime(c->req.oc_mtime, &c->up_mtime_ts) < 0) {
			reply_text(c, 400, "X-OC-Mtime must be seconds since the epoch: digits, optionally "
				   "with a fraction (1700000000 or 1700000000.5)\n", true);
			return false;
		}
		c->up_mtime = true;
	}
	/* -ENOENT: no sha-256 member (another algorithm only): nothing to check. */
	rc = c->req.repr_digest ? http_digest_sha256(c->req.repr_digest, c->up_sent) : -ENOENT;
	if (rc == -EINVAL) {
		reply_text(c, 400, "malformed Repr-Digest: want sha-256=:BASE64: of 32 bytes\n", true);
		return false;
	}
	c->up_check = rc == 0;
	if (c->up_check || http_wants_sha256(c->req.want_repr_digest)) {
		c->up_hash = sha256_new();
		if (!c->up_hash) {
			reply_text(c, 500, "out of memory\n", true);
			return false;
		}
	}
	return true;
}

static bool too_large(struct conn *c, int fd)
{
	struct statvfs vfs;
	uint64_t have = fstatvfs(fd, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : UINT64_MAX;

	if ((uint64_t)c->req.content_length <= have)
		return false;
	reply_text(c, 413, "upload larger than the free space on the server\n", true);
	return true;
}

/* Opens the target's directory into c->dir_fd, making the missing ones (nginx's
 * create_full_put_path) -- only after the size check, so that a refused upload makes
 * nothing, and never through a symlink, so nothing can be made outside the root. */
static bool open_parent(struct conn *c, const char *dir)
{
	int root = c->w->cfg->root_fd, fd = path_open(root, dir, O_RDONLY | O_DIRECTORY, 0);
	char msg[PATH_REL_MAX + 200];
	size_t bad = 0;

	if (fd >= 0 && too_large(c, fd)) {
		close(fd);
		return false;
	}
	if (fd == -ENOENT || fd == -ENOTDIR) {
		if (too_large(c, root))
			return false;
		/* For -ENOTDIR only to find which component it is: nothing is missing. */
		fd = path_mkdirs(root, dir, fd == -ENOENT, &bad);
	}
	if (fd == -ELOOP && bad) {
		snprintf(msg, sizeof(msg), "cannot make the directories of this upload: /%.*s is a "
			 "symlink, and directories are made only beneath real ones\n", (int)bad, dir);
		reply_text(c, 403, msg, true);
	} else if (fd == -ENOTDIR && bad) {
		snprintf(msg, sizeof(msg), "cannot put a file beneath /%.*s: it is not a directory\n",
			 (int)bad, dir);
		reply_text(c, 409, msg, true);
	} else if (fd < 0) {
		c->keep_alive = false; /* before the reply, so that it says Connection: close */
		reply_errno(c, fd, "parent directory");
	} else {
		c->dir_fd = fd;
		return true;
	}
	return false;
}

void handle_put(struct conn *c, const char *rel)
{
	char dir[PATH_REL_MAX];
	const char *base = path_split(rel, dir, sizeof(dir));
	struct stat st;
	uint64_t rnd;
	size_t early;
	int fd, err;

	c->linger = true; /* until the body is accepted, it is unread input */
	if (c->req.chunked || c->req.content_length < 0) {
		reply_text(c, 411, "PUT needs a Content-Length (chunked uploads are not supported)\n", true);
		return;
	}
	if (!*base || !strncmp(base, UPLOAD_TMP_PREFIX, strlen(UPLOAD_TMP_PREFIX))) {
		reply_text(c, 400, "PUT needs a file name\n", true);
		return;
	}
	if (!fields_ok(c) || !open_parent(c, dir))
		return;
	if (fstatat(c->dir_fd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode)) {
			reply_text(c, 403, "target exists and is not a regular file\n", true);
			return;
		}
		c->replacing = true;
	}
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint64_t)getpid() ^ (uint64_t)(now_sec() * 1e9);
	snprintf(c->tmp_name, sizeof(c->tmp_name), UPLOAD_TMP_PREFIX "%016llx", (unsigned long long)rnd);
	fd = openat(c->dir_fd, c->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	err = fd < 0 ? -errno : -ENOMEM;
	c->final_name = strdup(base);
	if (fd < 0 || !c->final_name) {
		if (fd >= 0)
			unlinkat(c->dir_fd, c->tmp_name, 0);
		c->tmp_name[0] = 0;
		if (fd >= 0)
			close(fd);
		c->keep_alive = false;
		reply_errno(c, err, "upload");
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
	if (c->rec.rx_on)
		rec_rx_expect(&c->rec.rx, c->to_io);
	c->state = CS_RECV_BODY;
	if (c->req.expect_continue && c->to_io > 0) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		c->out = strdup(cont);
		c->out_len = c->out ? strlen(cont) : 0;
		c->out_off = 0;
		c->state = CS_WRITE_OUT;
	}
}

/* Every answer of the commit ends the receive path first: with c->rx still set, the
 * connection would go back to receiving once the answer is out. */
static void commit_answer(struct conn *c, struct http_reply *r, const char *body)
{
	c->rx->finish(c);
	c->rx = NULL;
	reply_with(c, r, body, strlen(body));
}

static void commit_failed(struct conn *c, int err)
{
	c->rx->finish(c);
	c->rx = NULL;
	c->keep_alive = false;
	reply_errno(c, err, "upload");
}

/* Before anything is made durable: the digest the client sent, the mtime it asked for. */
static bool commit_checks(struct conn *c)
{
	if (c->up_hash) {
		sha256_final(c->up_hash, c->up_got);
		c->up_hash = NULL;
		c->up_hashed = true;
	}
	if (c->up_check && memcmp(c->up_got, c->up_sent, sizeof(c->up_got))) {
		char got[48], sent[48], msg[160];
		struct http_reply r = { .status = 400, .content_type = "text/plain; charset=utf-8",
					.range_total = -1, .repr_digest = got };

		unlinkat(c->dir_fd, c->tmp_name, 0); /* never renamed into place */
		c->tmp_name[0] = 0;
		base64_encode(c->up_got, sizeof(c->up_got), got, sizeof(got));
		base64_encode(c->up_sent, sizeof(c->up_sent), sent, sizeof(sent));
		snprintf(msg, sizeof(msg), "Repr-Digest mismatch: received sha-256 :%s:, the request "
			 "said :%s:\n", got, sent);
		r.content_length = (int64_t)strlen(msg);
		commit_answer(c, &r, msg);
		return false;
	}
	if (c->up_mtime) {
		struct timespec t[2] = { { .tv_nsec = UTIME_NOW }, c->up_mtime_ts };

		if (futimens(c->file_fd, t) < 0) {
			commit_failed(c, -errno);
			return false;
		}
	}
	return true;
}

static void commit_done(struct conn *c)
{
	char digest[48];
	struct http_reply r = { .status = c->replacing ? 204 : 201, .range_total = -1,
				.content_length = c->replacing ? -1 : 8,
				.content_type = c->replacing ? NULL : "text/plain; charset=utf-8",
				.mtime_accepted = c->up_mtime };

	if (c->up_hashed) {
		base64_encode(c->up_got, sizeof(c->up_got), digest, sizeof(digest));
		r.repr_digest = digest;
	}
	M_INC(c->w->m->uploads_committed);
	commit_answer(c, &r, c->replacing ? "" : "created\n");
}

void upload_commit(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->commit_error) {
		commit_failed(c, c->commit_error);
		return;
	}
	switch (c->commit_stage++) {
	case 0:
		if (!commit_checks(c))
			return;
		sqe = loop_sqe(c->w); /* the data reaches the disk before the name points at it */
		io_uring_prep_fsync(sqe, c->file_fd, 0);
		break;
	case 1:
		if (renameat(c->dir_fd, c->tmp_name, c->dir_fd, c->final_name) < 0) {
			commit_failed(c, -errno);
			return;
		}
		c->tmp_name[0] = 0;
		/* After the rename, which moves ctime: a GET asking for the digest costs nothing. */
		if (c->up_hashed)
			digest_remember(c->file_fd, c->up_got);
		sqe = loop_sqe(c->w); /* and the new name itself survives a crash */
		io_uring_prep_fsync(sqe, c->dir_fd, 0);
		break;
	default:
		commit_done(c);
		return;
	}
	loop_arm(sqe, &c->op_sync);
	c->inflight++;
}

void upload_abort(struct conn *c)
{
	if (c->dir_fd >= 0) {
		if (c->tmp_name[0]) { /* a body that never became a file */
			unlinkat(c->dir_fd, c->tmp_name, 0);
			M_INC(c->w->m->uploads_aborted);
		}
		close(c->dir_fd);
	}
	c->dir_fd = -1;
	c->tmp_name[0] = 0;
	free(c->final_name);
	c->final_name = NULL;
	c->replacing = false;
	c->commit_stage = c->commit_error = 0;
	sha256_free(c->up_hash);
	c->up_hash = NULL;
	c->up_check = c->up_hashed = c->up_mtime = false;
}
