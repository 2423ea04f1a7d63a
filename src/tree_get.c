/* kxfer get -r and get --parallel: what a download task does.
 *
 * A file is planned into chunks (one, or byte ranges of at most --split-size for a large
 * file) written at their offsets into one preallocated part file, .NAME.kxfer-part.  Its
 * state file, .NAME.kxfer-state, holds the size, the chunk size, the validator (ETag) and,
 * per chunk, how many bytes from its start are on disk, so an interrupted run resumes
 * where it stopped.  Only the first chunk is asked for without If-Range; its response's
 * ETag goes into If-Range on every other chunk, so a file that changes during the transfer
 * is answered 200 instead of 206 and fetched again, never stitched from two versions.
 * When every chunk is in, the part file gets the server's mtime, is checked against the
 * server's Repr-Digest (--verify) and renamed into place. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"
#include "tls.h"
#include "tree.h"
#include "util.h"

#define MAX_RESTARTS 3            /* a file that keeps changing */

/* The file has another size than planned (t->lock held). */
static void resize(struct tree *t, struct tfile *f, uint64_t size)
{
	t->bytes_total = t->bytes_total - f->size + size;
	f->size = size;
}

/* Back to the plan's start: the file changed on the server while it was being fetched.
 * The new plan is for the size the server has now, not the one the old plan was for. */
static void restart(struct tree *t, struct tfile *f, const struct part_paths *p)
{
	if (f->size_now >= 0)
		resize(t, f, (uint64_t)f->size_now);
	f->size_now = -1;
	if (f->state_fd >= 0)
		close(f->state_fd);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = f->state_fd = -1;
	unlink(p->state);
	free(f->done);
	f->done = NULL;
	f->chunk = 0;
	f->etag[0] = 0;
	f->has_digest = f->changed = f->rest_queued = false;
	if (++f->tries > MAX_RESTARTS) {
		unlink(p->part);
		tree_fail_locked(t, f, EXIT_PROTOCOL, "the file changed on the server during %u transfers", f->tries);
		return;
	}
	tree_push(t, f, 0, 0, true);
}

static void queue_rest(struct tree *t, struct tfile *f, unsigned except)
{
	pthread_mutex_lock(&t->lock);
	for (unsigned k = 0; k < f->nchunks && !f->rest_queued; k++)
		if (k != except && f->done[k] < part_chunk_len(f, k))
			tree_push(t, f, k, 0, true);
	f->rest_queued = true;
	pthread_mutex_unlock(&t->lock);
}

/* Reads the error body's first line for the reason; keeps the connection when it can. */
static void http_failure(struct tree *t, struct client *c, struct tfile *f)
{
	char *body = NULL;
	size_t n;

	if (client_read_small_body(c, &body, &n, 65536) != EXIT_OK)
		c->resp.keep_alive = false;
	if (body)
		body[strcspn(body, "\r\n")] = 0;
	tree_fail(t, f, EXIT_HTTP, "HTTP %d %s%s%s", c->resp.status, http_reason(c->resp.status),
		  body && *body ? ": " : "", body ? body : "");
	free(body);
}

/* Checks a response against what was asked; sets *changed when the file is not the one
 * the other chunks came from.  An exit code for the connection. */
static int check_response(struct tree *t, struct client *c, struct tfile *f, unsigned k,
			  uint64_t start, uint64_t end, bool ranged, bool *changed)
{
	const struct http_response_head *r = &c->resp;
	/* the file's size now: a 200's length, a 206's or 416's Content-Range total */
	int64_t now = r->status == 200 ? r->content_length : r->range_total;
	bool whole = false;
	uint8_t digest[32];
	time_t lm;

	*changed = false;
	/* A 200 to a ranged request of one chunk is the whole file after all; still checked
	 * below, since it may be a new version (another ETag or length). */
	if (r->status == 200 && ranged && f->nchunks == 1)
		f->done[0] = 0;
	else if (r->status == 200 && ranged)
		*changed = true; /* If-Range did not match: a new version */
	if (r->status == 416)
		*changed = true; /* it shrank */
	if (r->status == 206 && r->range_total != (int64_t)f->size) {
		*changed = true; /* another total: whatever its range, a new version */
	} else if (r->status == 206 && (r->range_start != (int64_t)start || r->range_end != (int64_t)end)) {
		snprintf(c->err, sizeof(c->err), "asked for bytes %llu-%llu, got %lld-%lld",
			 (unsigned long long)start, (unsigned long long)end, (long long)r->range_start,
			 (long long)r->range_end);
		return EXIT_PROTOCOL;
	}
	if (r->status == 200 && now >= 0 && (uint64_t)now != f->size) {
		if (f->nchunks > 1)
			*changed = true;
		else /* one chunk: whatever the server has now */
			whole = true;
	}
	if (r->chunked && !*changed) {
		snprintf(c->err, sizeof(c->err), "the server sent a chunked body");
		return EXIT_PROTOCOL;
	}
	pthread_mutex_lock(&t->lock);
	if (r->etag && f->etag[0] && strcmp(r->etag, f->etag))
		*changed = true;
	if (r->etag && !f->etag[0] && k == 0 && strlen(r->etag) < sizeof(f->etag) && !strchr(r->etag, ' ')) {
		snprintf(f->etag, sizeof(f->etag), "%s", r->etag);
		part_save_header(f);
	}
	if (http_digest_sha256(r->repr_digest, digest) == 0) {
		if (f->has_digest && memcmp(digest, f->digest, 32))
			*changed = true;
		memcpy(f->digest, digest, 32);
		f->has_digest = true;
	}
	if (r->last_modified && http_parse_date(r->last_modified, &lm) == 0)
		f->mtime = lm;
	if (*changed && now >= 0)
		f->size_now = now; /* restart() plans with it */
	else if (whole)
		resize(t, f, (uint64_t)now), f->chunk = MAX(f->size, 1);
	pthread_mutex_unlock(&t->lock);
	return EXIT_OK;
}

/* A body that fits one buffer: read it whole, then one pwrite.  Through the ring, a
 * buffered write to most filesystems is handed to a kernel worker thread, and for a small
 * file that handoff costs more than the write (seen in perf: io-wq wake-ups and context
 * switches for the 2,000 small files of bench/tree.sh). */
static int receive_small(struct tree *t, struct client *c, char *buf, struct tfile *f, unsigned k,
			 uint64_t pos, size_t len, bool to_end)
{
	size_t fill = 0, put = 0;

	while (fill < len) {
		long n = client_read(c, buf + fill, tree_slice(t, len - fill));

		if (n < 0)
			return (int)-n;
		if (n == 0)
			break;
		fill += (size_t)n;
		tree_account(t, (uint64_t)n);
	}
	while (put < fill) {
		ssize_t n = pwrite(f->fd, buf + put, fill - put, (off_t)(pos + put));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(c->err, sizeof(c->err), "writing %s: %s", f->rel, strerror(errno));
			return EXIT_LOCAL_IO;
		}
		put += (size_t)n;
	}
	f->done[k] += fill;
	part_save_done(f, k);
	if (fill < len && !to_end) {
		snprintf(c->err, sizeof(c->err), "the body ended early");
		c->resp.keep_alive = false;
		return EXIT_RESUME;
	}
	return EXIT_OK;
}

/* Reads len body bytes into the part file at pos, two buffers in turn (one is written by
 * io_uring while the other fills); progress is saved as each write completes. */
static int receive(struct tree *t, struct client *c, struct fileio *io, char **buf, struct tfile *f,
		   unsigned k, uint64_t pos, uint64_t len, bool to_end)
{
	uint64_t pending[FILEIO_SLOTS] = { 0 };
	unsigned cur = 0;
	bool eof = false;
	long io_rc = 0;
	int net_rc = EXIT_OK;

	if (len <= TREE_BUF)
		return receive_small(t, c, buf[0], f, k, pos, (size_t)len, to_end);
	if (!to_end)
		client_expect(c, len); /* a known length: the reader may wait in larger steps */
	io->fd = f->fd;
	while (len > 0 && !eof && net_rc == EXIT_OK) {
		size_t fill = 0;

		if ((io_rc = fileio_wait(io, cur)) < 0)
			break;
		f->done[k] += pending[cur];
		pending[cur] = 0;
		part_save_done(f, k);
		while (fill < TREE_BUF && fill < len) {
			long n = client_read(c, buf[cur] + fill, tree_slice(t, (size_t)MIN(TREE_BUF - fill, len - fill)));

			if (n <= 0) {
				net_rc = (int)-n;
				eof = n == 0;
				break;
			}
			fill += (size_t)n;
			tree_account(t, (uint64_t)n);
		}
		if (fill) {
			if ((io_rc = fileio_start(io, cur, true, buf[cur], fill, pos)) < 0)
				break;
			pending[cur] = fill;
			pos += fill;
			len -= fill;
		}
		cur ^= 1;
	}
	/* the older write first: progress counts contiguous bytes from the chunk's start */
	for (unsigned i = 0, s = cur; i < FILEIO_SLOTS; i++, s ^= 1) {
		long w = fileio_wait(io, s);

		if (w < 0 && io_rc >= 0)
			io_rc = w;
		if (w >= 0 && io_rc >= 0)
			f->done[k] += pending[s];
	}
	part_save_done(f, k);
	if (io_rc < 0) {
		snprintf(c->err, sizeof(c->err), "writing %s: %s", f->rel, strerror((int)-io_rc));
		return EXIT_LOCAL_IO;
	}
	if (net_rc != EXIT_OK)
		return net_rc;
	if (len > 0 && !to_end) { /* close_notify before the end: a server at its key limit */
		snprintf(c->err, sizeof(c->err), "the body ended early");
		c->resp.keep_alive = false;
		return EXIT_RESUME;
	}
	return EXIT_OK;
}

static int get_run(struct tree *t, struct client *c, struct fileio *io, char **buf, struct task *k)
{
	struct tfile *f = k->f;
	struct part_paths p;
	char target[8192], extra[512];
	uint64_t start, end;
	bool ranged, changed, body_to_end;
	int rc;

	if (f->code || part_paths(t, f, &p))
		return f->code ? EXIT_OK : (tree_fail(t, f, EXIT_LOCAL_IO, "path too long"), EXIT_OK);
	if (!f->chunk) {
		rc = part_open(t, f, &p);
		if (rc < 0) {
			tree_fail(t, f, EXIT_LOCAL_IO, "%s: %s", p.part, strerror(-rc));
			return EXIT_OK;
		}
		f->left = 0;
		for (unsigned i = 0; i < f->nchunks; i++)
			f->left += f->done[i] < part_chunk_len(f, i) || !f->size;
		if (f->etag[0])
			queue_rest(t, f, 0); /* resumed: the validator is known already */
		if (!f->left) {
			part_finish(t, f, &p);
			return EXIT_OK;
		}
	}
	start = (uint64_t)k->chunk * f->chunk + f->done[k->chunk];
	end = (uint64_t)k->chunk * f->chunk + part_chunk_len(f, k->chunk) - 1;
	if (f->size && start > end)
		return EXIT_OK; /* done already (queued twice by a resume) */
	ranged = f->nchunks > 1 || start > 0;
	snprintf(extra, sizeof(extra), "Accept: */*\r\n");
	if (ranged)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "Range: bytes=%llu-%llu\r\n%s%s%s",
			 (unsigned long long)start, (unsigned long long)end, f->etag[0] ? "If-Range: " : "",
			 f->etag, f->etag[0] ? "\r\n" : "");
	if (t->o->verify)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "Want-Repr-Digest: sha-256=10\r\n");
	if (tree_target(t, f, target, sizeof(target))) {
		tree_fail(t, f, EXIT_USAGE, "URL too long");
		return EXIT_OK;
	}
	rc = client_request(c, "GET", target, extra);
	if (rc == EXIT_OK)
		rc = client_read_head(c, false);
	if (rc != EXIT_OK)
		return rc;
	if (c->resp.status == 503) {
		c->resp.keep_alive = false; /* the server is full: back off */
		return EXIT_NETWORK;
	}
	if (c->resp.status >= 300 && c->resp.status != 416) {
		http_failure(t, c, f);
		return EXIT_OK;
	}
	rc = check_response(t, c, f, k->chunk, start, end, ranged, &changed);
	if (rc != EXIT_OK)
		return rc;
	if (changed) {
		c->resp.keep_alive = false; /* its body is of no use: drop the connection */
	} else {
		uint64_t had = f->done[k->chunk];

		body_to_end = c->resp.content_length < 0;
		if (c->resp.status == 200) /* the whole file, into the single chunk */
			start = 0, end = f->size - 1;
		if (k->chunk == 0 && f->nchunks > 1 && start == 0)
			queue_rest(t, f, 0); /* the validator is known now */
		rc = f->size ? receive(t, c, io, buf, f, k->chunk, start, end - start + 1, body_to_end)
			     : EXIT_OK;
		if (rc == EXIT_RESUME && f->done[k->chunk] > had) {
			tree_push(t, f, k->chunk, k->attempts, false); /* it moved on: no attempt used */
			return EXIT_OK;
		}
		if (rc == EXIT_LOCAL_IO && !f->prealloc)
			unlink(p.part); /* a small file has no state to resume from (a full disk) */
		if (rc != EXIT_OK)
			return rc;
		client_next_response(c);
	}
	pthread_mutex_lock(&t->lock);
	if (changed)
		f->changed = true; /* restarted by get_idle() once no task of it is left */
	if (!changed && f->done[k->chunk] >= part_chunk_len(f, k->chunk))
		f->left--;
	if (!f->changed && f->left == 0 && !f->code) {
		pthread_mutex_unlock(&t->lock);
		part_finish(t, f, &p);
		return EXIT_OK;
	}
	pthread_mutex_unlock(&t->lock);
	return EXIT_OK;
}

/* The last task of a file is over (t->lock held): a file that changed starts again. */
static void get_idle(struct tree *t, struct tfile *f)
{
	struct part_paths p;

	if (f->changed && !f->code && part_paths(t, f, &p) == 0)
		restart(t, f, &p);
}

static const struct tree_ops get_ops = { .run = get_run, .idle = get_idle };

/* The URL's last directory name, decoded: the default destination. */
static int default_dest(const struct url *u, char *out, size_t cap)
{
	char copy[4096];
	size_t n = strcspn(u->target, "?");
	char *seg;

	snprintf(copy, sizeof(copy), "%.*s", (int)n, u->target);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = 0;
	seg = strrchr(copy, '/');
	if (!seg || !seg[1] || path_decode(seg + 1, strlen(seg + 1), out, cap) < 0 ||
	    !strcmp(out, "..") || !strcmp(out, ".") || strchr(out, '/'))
		return -EINVAL;
	return 0;
}

/* rsync's quick check: same size and same mtime as the server's means the same file. */
static bool unchanged(const struct tree *t, const struct tfile *f)
{
	struct part_paths p;
	struct stat st;

	return !t->o->force && f->mtime && part_paths(t, f, &p) == 0 && stat(p.final, &st) == 0 &&
	       S_ISREG(st.st_mode) && (uint64_t)st.st_size == f->size && st.st_mtime == f->mtime;
}

/* Queues the first task of every file that is not there yet. */
static void plan(struct tree *t)
{
	for (size_t i = 0; i < t->nfiles; i++) {
		struct tfile *f = t->files[i];

		if (unchanged(t, f)) {
			tree_file_done(t, f, true);
			continue;
		}
		t->est_tasks += (f->size + part_chunk_size(t, f) - 1) / part_chunk_size(t, f);
		tree_push(t, f, 0, 0, false);
	}
}

int tree_get(struct client_opts *o, const char *dest)
{
	struct tree t;
	struct client c = { .fd = -1 };
	char name[PATH_MAX];
	double t0 = now_sec();
	int rc = tree_init(&t, o, &get_ops);

	if (rc)
		return rc;
	if (!dest && default_dest(&t.url, name, sizeof(name))) {
		log_err("%s names no directory to call the copy by: use -o DIR", o->url);
		tree_free(&t);
		return EXIT_USAGE;
	}
	t.local = dest ? dest : name;
	if (mkdir(t.local, 0755) < 0 && errno != EEXIST) {
		log_err("%s: %s", t.local, strerror(errno));
		tree_free(&t);
		return EXIT_LOCAL_IO;
	}
	rc = client_connect(&c, o);
	if (rc == EXIT_OK)
		rc = tree_discover(&t, &c, false);
	if (rc != EXIT_OK)
		tree_stop(&t, rc, c.err);
	client_close(&c);
	if (rc == EXIT_OK)
		plan(&t);
	rc = tree_run(&t, t0);
	tree_free(&t);
	return rc;
}

int tree_get_one(struct client_opts *o, const char *dest)
{
	struct tree t;
	struct client c = { .fd = -1 };
	struct stat st;
	time_t mtime = 0;
	double t0 = now_sec();
	int rc = tree_init(&t, o, &get_ops);

	if (rc)
		return rc;
	t.single = true;
	t.local = dest;
	if (!strcmp(dest, "-") || (stat(dest, &st) == 0 && !S_ISREG(st.st_mode))) {
		log_err("%s: --parallel, --verify and --limit-rate write a regular file (not stdout or a device)", dest);
		tree_free(&t);
		return EXIT_USAGE;
	}
	/* HEAD first: the size plans the ranges */
	rc = client_connect(&c, o);
	if (rc == EXIT_OK)
		rc = client_request(&c, "HEAD", t.url.target, "Accept: */*\r\n");
	if (rc == EXIT_OK)
		rc = client_read_head(&c, false);
	if (rc == EXIT_OK && c.resp.status >= 300) {
		snprintf(c.err, sizeof(c.err), "HTTP %d %s", c.resp.status, http_reason(c.resp.status));
		rc = EXIT_HTTP;
	} else if (rc == EXIT_OK && c.resp.content_length < 0) {
		snprintf(c.err, sizeof(c.err), "the server gave no Content-Length for HEAD: fetch it without "
			 "--parallel, --verify and --limit-rate");
		rc = EXIT_PROTOCOL;
	}
	if (rc == EXIT_OK && c.resp.last_modified)
		http_parse_date(c.resp.last_modified, &mtime);
	if (rc == EXIT_OK && !tree_add(&t, dest, (uint64_t)c.resp.content_length, mtime))
		rc = EXIT_OTHER;
	if (rc != EXIT_OK)
		tree_stop(&t, rc, c.err[0] ? c.err : "out of memory");
	client_close(&c);
	if (rc == EXIT_OK) {
		t.files[0]->mtime = 0; /* an explicit get always fetches */
		plan(&t);
		t.files[0]->mtime = mtime;
	}
	rc = tree_run(&t, t0);
	if (rc != EXIT_OK && !o->resume && t.nfiles) { /* as get: no part file left unless --continue */
		struct part_paths p;

		if (part_paths(&t, t.files[0], &p) == 0) {
			unlink(p.part);
			unlink(p.state);
		}
	}
	tree_free(&t);
	return rc;
}
