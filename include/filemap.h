/* Reading a file through an mmap'ed window, so that the server encrypts straight from the
 * page cache, safe against the file shrinking while it is mapped.
 *
 * A page of a shared mapping that lies past end of file raises SIGBUS when touched.  The
 * guard catches that one SIGBUS: the faulting page is replaced by a zero page, the read goes
 * on, and filemap_guard_end says the bytes are not the file's.  Why not a read lease
 * (F_SETLEASE) that would stop the truncate instead: a lease needs the file's ownership or
 * CAP_LEASE, fails on a file already open for writing, blocks every writer of the file for up
 * to /proc/sys/fs/lease-break-time (45 s), and does not stop a truncate by the lease holder's
 * own process anyway.  The guard costs nothing while nothing shrinks.
 *
 * The guard sees shrinking only: bytes rewritten in place (or a file truncated and grown back
 * between a read and filemap_guard_end) go out as they were read, as with pread or sendfile. */
#ifndef KXFER_FILEMAP_H
#define KXFER_FILEMAP_H

#include <stddef.h>
#include <stdint.h>

/* The window a caller should map at a time: 1 GiB of a cached file reads as fast through
 * 4 MiB windows as through larger ones, and a smaller window keeps fewer pages mapped per
 * connection. */
#define FILEMAP_WINDOW (4u << 20)

/* Zero it ({0}) before the first filemap_map. */
struct filemap {
	const uint8_t *data;   /* the bytes at file offset off (NULL when unmapped) */
	uint64_t off;          /* file offset of data[0] */
	size_t len;            /* bytes mapped from off */
	/* private: */
	void *base;
	size_t map_len;
	int fd;
};

/* Installs the process-wide SIGBUS handler once (idempotent, thread-safe via pthread_once);
 * 0 or -errno: -ENOTSUP where the handler does not stick (ASan with handle_sigbus=2 keeps
 * its own), and then filemap_map fails the same way.  filemap_map calls it too.  A SIGBUS
 * handler installed after this one must chain to it for the guard to keep working. */
int filemap_init(void);

/* Maps [off, off+len) of fd (open for reading, and left open until filemap_unmap) read-only,
 * MAP_SHARED, MADV_SEQUENTIAL, not MAP_POPULATE (slower, measured: src/filemap.c).  Unmaps
 * what m held before, also on failure.  0 or -errno; len 0 is -EINVAL.  The range may reach
 * past end of file: those pages fault under the guard. */
int filemap_map(struct filemap *m, int fd, uint64_t off, size_t len);
void filemap_unmap(struct filemap *m);

/* Brackets reads of m->data on this thread (one guard per thread at a time).  A SIGBUS inside
 * m's mapping while the guard is on is caught: the faulting page becomes a zero page and the
 * read goes on.  A fault anywhere else, or on a thread with no guard, keeps its usual effect
 * (the previous handler, or death by SIGBUS). */
void filemap_guard_begin(const struct filemap *m);
/* Ends the guard.  0 when the bytes [m->off, end) read since begin were the file's: no fault
 * and fstat(fd).st_size >= end (a shrink inside the last page reads as zeros without a
 * SIGBUS).  -ENODATA when the file shrank: the bytes read must not be used, and m may now hold
 * zero pages, so map it again before reading more.  Other -errno from fstat. */
int filemap_guard_end(const struct filemap *m, uint64_t end);

#endif
