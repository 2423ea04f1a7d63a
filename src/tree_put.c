/* kxfer put -r: uploads a local tree, one PUT per file over --parallel keep-alive
 * connections.  kxfer serve (and nginx with create_full_put_path) makes the directories;
 * X-OC-Mtime carries each file's mtime, the convention rclone uses with ownCloud and
 * Nextcloud, so a second run finds the remote copies unchanged and skips them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls.h"
#include "tree.h"
#include "util.h"

static void sent_tick(void *arg, uint64_t n, uint64_t total)
{
	tree_account(arg, n);
}

/* Reads the answer's body, and with --verify compares the server's digest of what it
 * wrote with ours; an exit code for the file (0 done). */
static int answer(struct tree *t, struct client *c, struct tfile *f, const uint8_t *ours)
{
	char *body = NULL, want[48], have[48];
	uint8_t theirs[32];
	size_t n;
	int rc = client_read_small_body(c, &body, &n, 65536);

	if (rc != EXIT_OK)
		return rc;
	client_next_response(c);
	body[strcspn(body, "\r\n")] = 0;
	if (ours && http_digest_sha256(c->resp.repr_digest, theirs) == 0 && memcmp(ours, theirs, 32)) {
		base64_encode(ours, 32, want, sizeof(want));
		base64_encode(theirs, 32, have, sizeof(have));
		tree_fail(t, f, EXIT_VERIFY, "--verify: the server received SHA-256 :%s:, not :%s:%s%s", have,
			  want, c->resp.status >= 300 ? "; it kept nothing" : "", "");
	} else if (c->resp.status == 503) {
		free(body);
		c->resp.keep_alive = false;
		return EXIT_NETWORK;
	} else if (c->resp.status >= 300) {
		tree_fail(t, f, EXIT_HTTP, "HTTP %d %s%s%s", c->resp.status, http_reason(c->resp.status),
			  *body ? ": " : "", body);
	} else if (ours && !c->resp.repr_digest) {
		tree_fail(t, f, EXIT_VERIFY, "--verify: the server sent no Repr-Digest of what it wrote (it "
			  "does not implement RFC 9530; kxfer serve does)");
	} else {
		tree_file_done(t, f, false);
	}
	free(body);
	return EXIT_OK;
}

static int put_run(struct tree *t, struct client *c, struct fileio *io, char **buf, struct task *k)
{
	struct tfile *f = k->f;
	char path[PATH_MAX], target[8192], extra[512], b64[48];
	uint8_t digest[32];
	uint64_t sent = 0, need;
	bool refused = false;
	struct stat st;
	int fd, rc = EXIT_OK;

	if (snprintf(path, sizeof(path), "%s%s%s", t->local, t->single ? "" : "/", t->single ? "" : f->rel) >=
		    (int)sizeof(path) ||
	    tree_target(t, f, target, sizeof(target))) {
		tree_fail(t, f, EXIT_USAGE, "path too long");
		return EXIT_OK;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		tree_fail(t, f, EXIT_LOCAL_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* Kernel TLS cannot update its key: past the limit, a new connection (a new key). */
	need = (uint64_t)st.st_size / 16384 + 64;
	if (c->tx_kernel && !c->url.plain && c->tx_records + need >= t->o->key_limit) {
		c->resp.keep_alive = false;
		tree_push(t, f, 0, k->attempts, false);
		goto out;
	}
	if (t->o->verify && (rc = sha256_fd(fd, (uint64_t)st.st_size, digest)) < 0) {
		tree_fail(t, f, EXIT_LOCAL_IO, "%s: %s", path, strerror(-rc));
		goto out;
	}
	base64_encode(digest, 32, b64, sizeof(b64));
	snprintf(extra, sizeof(extra), "Content-Length: %llu\r\nContent-Type: application/octet-stream\r\n"
		 "X-OC-Mtime: %lld\r\n%s%s%s%s", (unsigned long long)st.st_size, (long long)st.st_mtime,
		 st.st_size ? "Expect: 100-continue\r\n" : "", t->o->verify ? "Repr-Digest: sha-256=:" : "",
		 t->o->verify ? b64 : "", t->o->verify ? ":\r\nWant-Repr-Digest: sha-256=10\r\n" : "");
	rc = client_request(c, "PUT", target, extra);
	if (rc == EXIT_OK && st.st_size > 0)
		rc = put_await_continue(c, &refused);
	if (rc == EXIT_OK && !refused) {
		rc = put_body(c, io, fd, (uint64_t)st.st_size, buf, &sent,
			      &(struct put_meter){ sent_tick, t });
		if (c->tx_kernel)
			c->tx_records += need;
		if (rc == EXIT_OK || rc == EXIT_NETWORK) { /* an early answer may have cut the send off */
			int head = client_read_head(c, false);

			rc = rc == EXIT_OK || head == EXIT_OK ? head : rc;
		}
	}
	if (rc == EXIT_LOCAL_IO) {
		tree_fail(t, f, rc, "%s", c->err);
		c->resp.keep_alive = false;
		rc = EXIT_OK;
	} else if (rc == EXIT_OK) {
		rc = answer(t, c, f, t->o->verify ? digest : NULL);
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static const struct tree_ops put_ops = { .run = put_run };

static int cmp_rel(const void *a, const void *b)
{
	return strcmp((*(struct tfile *const *)a)->rel, (*(struct tfile *const *)b)->rel);
}

/* Adds every regular file under dir/rel; symlinks and special files are not uploaded. */
static int walk(struct tree *t, const char *rel, unsigned depth)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int rc = 0;

	snprintf(path, sizeof(path), "%s%s%s", t->local, *rel ? "/" : "", rel);
	if (depth > 64 || !(d = opendir(path)))
		return depth > 64 ? -ELOOP : -errno;
	while (rc == 0 && (e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof(sub))
			continue;
		snprintf(path, sizeof(path), "%s/%s", t->local, sub);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc = walk(t, sub, depth + 1);
		else if (S_ISREG(st.st_mode))
			rc = tree_add(t, sub, (uint64_t)st.st_size, st.st_mtime) ? 0 : -ENOMEM;
		else
			log_debug("%s: not a regular file or directory, not uploaded", path);
	}
	closedir(d);
	return rc;
}

int tree_put(struct client_opts *o, const char *src)
{
	struct tree t, remote;
	struct client c = { .fd = -1 };
	double t0 = now_sec();
	int rc = tree_init(&t, o, &put_ops);

	if (rc)
		return rc;
	t.local = src;
	t.upload = true;
	t.single = !o->recursive;
	if (t.single) { /* put FILE URL --verify / --limit-rate */
		struct stat st;

		rc = stat(src, &st) < 0 ? -errno : !S_ISREG(st.st_mode) ? -EINVAL :
		     tree_add(&t, src, (uint64_t)st.st_size, st.st_mtime) ? 0 : -ENOMEM;
	} else {
		rc = walk(&t, "", 0);
	}
	if (rc < 0) {
		log_err("%s: %s", src, strerror(-rc));
		tree_free(&t);
		return EXIT_LOCAL_IO;
	}
	for (size_t i = 0; i < t.nfiles; i++) /* kernel TLS cannot carry a file past its key limit */
		if (o->ktls != KTLS_OFF && t.files[i]->size / 16384 + 64 >= o->key_limit)
			o->ktls = KTLS_OFF;
	/* What is there already: same size and mtime is skipped (unless --force). */
	if ((rc = tree_init(&remote, o, &put_ops)) != EXIT_OK) {
		tree_free(&t);
		return rc;
	}
	rc = client_connect(&c, o);
	if (rc == EXIT_OK && !o->force && !t.single)
		rc = tree_discover(&remote, &c, true);
	if (rc == EXIT_HTTP || rc == EXIT_PROTOCOL) { /* a server without listings: upload it all */
		log_info("cannot list what is there already (%s): uploading every file", c.err);
		rc = EXIT_OK;
	}
	if (rc != EXIT_OK)
		tree_stop(&t, rc, c.err);
	client_close(&c);
	if (remote.nfiles)
		qsort(remote.files, remote.nfiles, sizeof(*remote.files), cmp_rel);
	for (size_t i = 0; i < t.nfiles && rc == EXIT_OK; i++) {
		struct tfile *f = t.files[i], **hit = !remote.nfiles ? NULL :
			bsearch(&f, remote.files, remote.nfiles, sizeof(*remote.files), cmp_rel);

		if (hit && (*hit)->size == f->size && (*hit)->mtime == f->mtime) {
			tree_file_done(&t, f, true);
			continue;
		}
		t.est_tasks++;
		tree_push(&t, f, 0, 0, false);
	}
	tree_free(&remote);
	rc = tree_run(&t, t0);
	tree_free(&t);
	return rc;
}
