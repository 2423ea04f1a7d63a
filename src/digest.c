/* The digest cache behind Repr-Digest.
 *
 * Memory: a set-associative table (1024 sets of 4, about 300 KiB) shared by the worker
 * threads under one mutex, keyed by (device, inode) and valid only while size, mtime and
 * ctime (nanoseconds) are exactly those seen when the digest was made.  The least recently
 * used way of a set goes.  The lock is never held while a file is read.
 *
 * Extended attribute: "v1 DEV INO SIZE MTIME_NS CTIME_NS BASE64", so a digest survives a
 * restart.  Setting it changes the file's ctime, so the ctime stored is the one read just
 * before the last fsetxattr (see store()), and a later reader accepts it when the file's
 * ctime is at most DIGEST_CTIME_SLACK_NS after it: that fsetxattr moved ctime by one
 * timestamp tick at most, while any later change of the inode (write, truncate, chmod,
 * touch, another setxattr) moves it further and forces the file to be read again.  Device
 * and inode stop a copied attribute (cp -a, rsync -X) from vouching for another file.
 * Filesystems that refuse user attributes (ENOTSUP, EPERM, EACCES, EROFS) get the memory
 * cache only. */
#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tls.h"
#include "util.h"

#define SETS 1024
#define WAYS 4

struct slot {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns, ctime_ns;
	uint64_t used;           /* when last used (the table's clock); 0: empty */
	uint8_t d[32];
};

static struct slot table[SETS][WAYS];
static uint64_t clock_now;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Same bytes, as far as the inode can tell without its ctime... */
static bool same_bytes(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       ns(&a->st_mtim) == ns(&b->st_mtim);
}

/* ...and with it: nothing at all happened to the inode. */
static bool same_state(const struct stat *a, const struct stat *b)
{
	return same_bytes(a, b) && ns(&a->st_ctim) == ns(&b->st_ctim);
}

static struct slot *set_of(const struct stat *st)
{
	uint64_t h = ((uint64_t)st->st_ino ^ (uint64_t)st->st_dev << 32) * 0x9e3779b97f4a7c15ull;

	return table[(h >> 40) % SETS];
}

static bool mem_get(const struct stat *st, uint8_t out[32])
{
	struct slot *set = set_of(st);
	bool hit = false;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < WAYS && !hit; i++) {
		struct slot *s = &set[i];

		if (s->used && s->dev == st->st_dev && s->ino == st->st_ino && s->size == st->st_size &&
		    s->mtime_ns == ns(&st->st_mtim) && s->ctime_ns == ns(&st->st_ctim)) {
			memcpy(out, s->d, 32);
			s->used = ++clock_now;
			hit = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return hit;
}

static void mem_put(const struct stat *st, const uint8_t d[32])
{
	struct slot *set = set_of(st), *victim = &set[0];

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < WAYS; i++) {
		struct slot *s = &set[i];

		if (s->used && s->dev == st->st_dev && s->ino == st->st_ino) {
			victim = s; /* an older digest of the same file */
			break;
		}
		if (s->used < victim->used)
			victim = s;
	}
	*victim = (struct slot){ .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
				 .mtime_ns = ns(&st->st_mtim), .ctime_ns = ns(&st->st_ctim),
				 .used = ++clock_now };
	memcpy(victim->d, d, 32);
	pthread_mutex_unlock(&lock);
}

static bool xattr_get(int fd, const struct stat *st, uint8_t out[32])
{
	unsigned long long dev, ino;
	long long size, mtime, ctime, late;
	char buf[192], b64[64];
	ssize_t n = fgetxattr(fd, DIGEST_XATTR, buf, sizeof(buf) - 1);
	int used = 0;

	if (n <= 0)
		return false;
	buf[n] = 0;
	if (sscanf(buf, "v1 %llu %llu %lld %lld %lld %63s%n", &dev, &ino, &size, &mtime, &ctime,
		   b64, &used) != 6 || buf[used])
		return false;
	late = ns(&st->st_ctim) - ctime;
	return dev == (unsigned long long)st->st_dev && ino == (unsigned long long)st->st_ino &&
	       size == (long long)st->st_size && mtime == ns(&st->st_mtim) && late >= 0 &&
	       late <= DIGEST_CTIME_SLACK_NS && strlen(b64) == 44 &&
	       base64_decode(b64, 44, out, 32) == 32;
}

static int xattr_put(int fd, const struct stat *st, const uint8_t d[32])
{
	char b64[48], value[192];
	int n;

	base64_encode(d, 32, b64, sizeof(b64));
	n = snprintf(value, sizeof(value), "v1 %llu %llu %lld %lld %lld %s",
		     (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
		     (long long)st->st_size, (long long)ns(&st->st_mtim), (long long)ns(&st->st_ctim),
		     b64);
	return fsetxattr(fd, DIGEST_XATTR, value, (size_t)n, 0);
}

/* Caches d for the file in state st (read just now).  fsetxattr sets ctime to the current
 * time, which is far from st's ctime when the file was last changed long ago; so when it
 * lands outside the slack, the attribute is written once more with the ctime the first
 * write left, which the second moves by one timestamp tick at most. */
static void store(int fd, const struct stat *st, const uint8_t d[32])
{
	struct stat prev = *st, now;

	for (int i = 0; i < 2; i++) {
		int64_t late;

		/* Any failure (no user xattrs here, not ours to change, full): memory only. */
		if (xattr_put(fd, &prev, d) < 0 || fstat(fd, &now) < 0) {
			mem_put(&prev, d);
			return;
		}
		if (!same_bytes(st, &now))
			return; /* changed by someone else meanwhile: cache nothing */
		late = ns(&now.st_ctim) - ns(&prev.st_ctim);
		if (late >= 0 && late <= DIGEST_CTIME_SLACK_NS)
			break;
		prev = now;
	}
	mem_put(&now, d);
}

int digest_cached(int fd, const struct stat *st, uint8_t out[32])
{
	if (mem_get(st, out))
		return 0;
	if (xattr_get(fd, st, out)) {
		mem_put(st, out);
		return 0;
	}
	return -ENOENT;
}

int digest_file(int fd, struct stat *st, uint8_t out[32])
{
	for (int pass = 0; pass < 2; pass++) {
		struct stat after;
		int rc;

		if (mem_get(st, out))
			return 0;
		if (xattr_get(fd, st, out)) {
			mem_put(st, out);
			return 0;
		}
		rc = sha256_fd(fd, (uint64_t)st->st_size, out);
		if (fstat(fd, &after) < 0)
			return -errno;
		if (same_state(st, &after)) {
			if (rc == 0)
				store(fd, &after, out);
			return rc == -ENODATA ? -EIO : rc;
		}
		*st = after; /* changed while it was read: that digest belongs to no version */
	}
	return -ESTALE;
}

void digest_remember(int fd, const uint8_t d[32])
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		store(fd, &st, d);
}

/* The hashing threads: started as jobs come, at most HASHERS, and kept.  A worker thread
 * never reads a whole file itself, so its other connections are answered meanwhile. */
#define HASHERS 4

static struct digest_job *queue, **queue_end = &queue;
static pthread_cond_t queued = PTHREAD_COND_INITIALIZER;
static unsigned hashers, idle;

static void *hasher(void *arg)
{
	for (;;) {
		struct digest_job *j;

		pthread_mutex_lock(&lock);
		idle++;
		while (!queue)
			pthread_cond_wait(&queued, &lock);
		idle--;
		j = queue;
		queue = j->next;
		if (!queue)
			queue_end = &queue;
		pthread_mutex_unlock(&lock);
		j->rc = digest_file(j->fd, &j->st, j->d);
		/* the last touch of j: the connection frees it once its ring has read this */
		while (eventfd_write(j->efd, 1) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

struct digest_job *digest_start(int fd, const struct stat *st)
{
	struct digest_job *j = calloc(1, sizeof(*j));
	pthread_t t;
	int err;

	if (!j)
		return NULL;
	j->st = *st;
	j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	j->efd = eventfd(0, EFD_CLOEXEC);
	if (j->fd < 0 || j->efd < 0)
		goto fail;
	pthread_mutex_lock(&lock);
	if (!idle && hashers < HASHERS) {
		err = pthread_create(&t, NULL, hasher, NULL);
		if (!err) {
			pthread_detach(t);
			hashers++;
		} else if (!hashers) {
			pthread_mutex_unlock(&lock);
			errno = err;
			goto fail;
		}
	}
	*queue_end = j;
	queue_end = &j->next;
	pthread_cond_signal(&queued);
	pthread_mutex_unlock(&lock);
	return j;
fail:
	err = errno;
	digest_job_free(j);
	errno = err;
	return NULL;
}

void digest_job_free(struct digest_job *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->efd >= 0)
		close(j->efd);
	free(j);
}
