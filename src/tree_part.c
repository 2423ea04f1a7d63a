/* Part files of the tree client (get -r, get --parallel): where a file goes while it
 * arrives, its chunk plan, the state file that lets a rerun resume, and the last steps
 * (verify, mtime, rename).  See tree_get.c for how the chunks are fetched. */
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

#define STATE_MAGIC "kxfer-part 1"
#define LINE 21                   /* "%020llu\n" */
#define HEADER 256                /* the state file's header line, padded */

int part_paths(const struct tree *t, const struct tfile *f, struct part_paths *p)
{
	char tmp[PATH_MAX], *slash;
	int n = t->single ? snprintf(p->final, sizeof(p->final), "%s", t->local) :
		snprintf(p->final, sizeof(p->final), "%s/%s", t->local, f->rel);

	if (n < 0 || n >= (int)sizeof(p->final))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s", p->final);
	slash = strrchr(tmp, '/');
	if (slash)
		*slash = 0;
	if (snprintf(p->part, sizeof(p->part), "%s%s.%s.kxfer-part", slash ? tmp : "", slash ? "/" : "",
		     slash ? slash + 1 : tmp) >= (int)sizeof(p->part) ||
	    snprintf(p->state, sizeof(p->state), "%.*s.kxfer-state", (int)(strlen(p->part) - 11), p->part) >=
		    (int)sizeof(p->state))
		return -ENAMETOOLONG;
	return 0;
}

uint64_t part_chunk_len(const struct tfile *f, unsigned k)
{
	uint64_t start = (uint64_t)k * f->chunk;

	return MIN(f->chunk, f->size - start);
}

/* Persists chunk k's progress: one fixed-width line, written in place. */
void part_save_done(struct tfile *f, unsigned k)
{
	char line[LINE + 1];

	if (f->state_fd < 0)
		return;
	snprintf(line, sizeof(line), "%020llu\n", (unsigned long long)f->done[k]);
	/* The state is an optimisation: if it cannot be written, a rerun starts over. */
	(void)!pwrite(f->state_fd, line, LINE, HEADER + (off_t)k * LINE);
}

/* The state file's first HEADER bytes: a line padded with spaces, so that the chunk lines
 * after it stay where they are when the ETag becomes known. */
void part_save_header(const struct tfile *f)
{
	char head[HEADER + 1];
	int n = snprintf(head, sizeof(head), STATE_MAGIC " %llu %llu %u %s", (unsigned long long)f->size,
			 (unsigned long long)f->chunk, f->nchunks, f->etag[0] ? f->etag : "-");

	if (f->state_fd < 0 || n < 0 || n >= HEADER)
		return;
	memset(head + n, ' ', (size_t)(HEADER - 1 - n));
	head[HEADER - 1] = '\n';
	(void)!pwrite(f->state_fd, head, HEADER, 0);
}

/* Picks up an earlier run's part file when its state matches this file. */
static bool load_state(struct tfile *f, const struct part_paths *p)
{
	char buf[HEADER + 1], etag[160];
	unsigned long long size, chunk;
	unsigned n;
	int fd = open(p->state, O_RDWR | O_CLOEXEC), used = 0;
	ssize_t got;
	struct stat st;

	if (fd < 0)
		return false;
	got = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[got > 0 ? got : 0] = 0;
	/* without a validator the bytes on disk may be of another version: start over */
	if (sscanf(buf, STATE_MAGIC " %llu %llu %u %159s%n", &size, &chunk, &n, etag, &used) != 4 ||
	    !strcmp(etag, "-") || got < HEADER || buf[HEADER - 1] != '\n' || size != f->size || !chunk || n != (size + chunk - 1) / chunk || n > 1u << 20 ||
	    stat(p->part, &st) < 0 || (uint64_t)st.st_size != size)
		goto no;
	f->done = calloc(n, sizeof(*f->done));
	if (!f->done)
		goto no;
	f->chunk = chunk;
	f->nchunks = n;
	snprintf(f->etag, sizeof(f->etag), "%s", etag);
	for (unsigned k = 0; k < n; k++) {
		char line[LINE + 1] = "";

		if (pread(fd, line, LINE, HEADER + (off_t)k * LINE) == LINE)
			f->done[k] = MIN(strtoull(line, NULL, 10), part_chunk_len(f, k));
	}
	f->state_fd = fd;
	return true;
no:
	close(fd);
	return false;
}

/* A large file is shared out among the connections in ranges of at least 1 MiB and at most
 * --split-size; asked for one file with --parallel, the user wants the connections used. */
uint64_t part_chunk_size(const struct tree *t, const struct tfile *f)
{
	const uint64_t grain = 64 * 1024;
	uint64_t chunk;

	if (f->size <= (t->single ? (uint64_t)TREE_BUF * 2 : t->o->split_size))
		return MAX(f->size, 1);
	chunk = MIN(t->o->split_size, (f->size + t->o->parallel - 1) / t->o->parallel);
	return (MAX(chunk, (uint64_t)TREE_BUF) + grain - 1) / grain * grain;
}

/* Opens the part file and plans the chunks, fresh or from an earlier run's state. */
int part_open(struct tree *t, struct tfile *f, struct part_paths *p)
{
	bool small = f->size <= TREE_BUF; /* one write: no state, no preallocation */
	int err;

	f->prealloc = !small;
	if (!small && load_state(f, p)) {
		f->fd = open(p->part, O_RDWR | O_CLOEXEC);
		return f->fd < 0 ? -errno : 0;
	}
	f->chunk = part_chunk_size(t, f);
	f->nchunks = f->size ? (unsigned)((f->size + f->chunk - 1) / f->chunk) : 1;
	f->done = calloc(f->nchunks, sizeof(*f->done));
	if (!f->done)
		return -ENOMEM;
	f->fd = open(p->part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f->fd < 0)
		return -errno;
	/* Room for the whole file now: a full disk is an error before the transfer, not in it. */
	if (!small && fallocate(f->fd, 0, 0, (off_t)f->size) < 0 &&
	    (errno != EOPNOTSUPP || ftruncate(f->fd, (off_t)f->size) < 0))
		goto drop;
	if (!small) { /* small files simply start over */
		f->state_fd = open(p->state, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		part_save_header(f);
		for (unsigned k = 0; k < f->nchunks; k++)
			part_save_done(f, k);
	}
	return 0;
drop: /* an empty part file is nothing to resume from */
	err = -errno;
	close(f->fd);
	f->fd = -1;
	unlink(p->part);
	unlink(p->state); /* one that did not match this file (load_state) */
	return err;
}

/* Every chunk is in: verify, set the mtime, rename into place. */
void part_finish(struct tree *t, struct tfile *f, const struct part_paths *p)
{
	uint8_t got[32];
	int rc;

	if (f->prealloc && ftruncate(f->fd, (off_t)f->size) < 0) {
		tree_fail(t, f, EXIT_LOCAL_IO, "%s: %s", p->part, strerror(errno));
		goto drop;
	}
	if (t->o->verify) {
		char want[48], have[48];

		if (!f->has_digest) {
			tree_fail(t, f, EXIT_VERIFY, "--verify: the server sent no Repr-Digest (it does not "
				  "implement RFC 9530 Want-Repr-Digest; kxfer serve does)");
			goto drop;
		}
		rc = sha256_fd(f->fd, f->size, got);
		if (rc < 0) {
			tree_fail(t, f, EXIT_LOCAL_IO, "reading back %s: %s", p->part, strerror(-rc));
			goto drop;
		}
		if (memcmp(got, f->digest, 32)) {
			base64_encode(f->digest, 32, want, sizeof(want));
			base64_encode(got, 32, have, sizeof(have));
			tree_fail(t, f, EXIT_VERIFY, "--verify: SHA-256 mismatch: received :%s:, the server "
				  "says :%s:; nothing was renamed into place", have, want);
			goto drop;
		}
	}
	if (f->mtime && futimens(f->fd, (struct timespec[2]){ { 0, UTIME_NOW }, { f->mtime, 0 } }) < 0)
		log_debug("%s: cannot set the mtime: %s", p->part, strerror(errno));
	if (close(f->fd) < 0 || rename(p->part, p->final) < 0) {
		f->fd = -1;
		tree_fail(t, f, EXIT_LOCAL_IO, "%s: %s", p->final, strerror(errno));
		return;
	}
	f->fd = -1;
	if (f->state_fd >= 0)
		unlink(p->state);
	tree_file_done(t, f, false);
	return;
drop: /* wrong bytes are never kept for a resume */
	unlink(p->part);
	unlink(p->state);
}

