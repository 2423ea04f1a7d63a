/* SHA-256 of served files (RFC 9530 Repr-Digest), cached in memory (shared by the worker
 * threads) and in the file's user.kxfer.sha256 extended attribute where the filesystem
 * allows one.  A cached digest is trusted only while the file's device, inode, size,
 * mtime and ctime say it is the same file with the same bytes. */
#ifndef KXFER_DIGEST_H
#define KXFER_DIGEST_H

#include <stdint.h>
#include <sys/stat.h>

#define DIGEST_XATTR "user.kxfer.sha256"
/* How far after the ctime stored with a digest the file's ctime may be: the write of the
 * attribute that stored it moved ctime by one timestamp tick at most (see digest.c). */
#define DIGEST_CTIME_SLACK_NS 20000000LL

/* The SHA-256 of the regular file fd, whose fstat is *st: from the caches, or by reading
 * the whole file.  When the file changes while it is read, *st is refreshed and it is read
 * once more.  Returns 0, -ESTALE when it kept changing, or -errno (an I/O error). */
int digest_file(int fd, struct stat *st, uint8_t out[32]);

/* The cached digest only: 0, or -ENOENT when the file must be read. */
int digest_cached(int fd, const struct stat *st, uint8_t out[32]);

/* Hashing off the event loop: a job runs digest_file() on one of a few hashing threads and
 * then writes its eventfd, which the connection's ring reads. */
struct digest_job {
	int fd;                  /* the job's own descriptor of the file (a dup) */
	int efd;                 /* eventfd, written when done */
	struct stat st;          /* in: the file as fstat'ed; out: the version the digest is of */
	uint8_t d[32];
	int rc;                  /* digest_file()'s result */
	uint64_t efd_value;      /* where the ring reads the eventfd into */
	struct digest_job *next;
};

/* A job for the file fd (fstat'ed into st): duplicates fd, makes the eventfd, queues it.
 * NULL with errno set when it cannot. */
struct digest_job *digest_start(int fd, const struct stat *st);
/* After the eventfd was read (the job is done). */
void digest_job_free(struct digest_job *j);

/* Caches d as the digest of the file fd now holds (an upload just renamed into place). */
void digest_remember(int fd, const uint8_t d[32]);

#endif
