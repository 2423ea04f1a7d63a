/* File I/O through io_uring for the clients: a few slots, each with at most one read or
 * write in flight, so that the network and the disk work at the same time. */
#ifndef KXFER_FILEIO_H
#define KXFER_FILEIO_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FILEIO_SLOTS 2

struct fileio_slot {
	char *buf;
	size_t len, done;
	uint64_t off;         /* UINT64_MAX: the file's current position (pipes, terminals) */
	bool write, busy;
	int err;              /* -errno once an operation failed */
};

struct fileio {
	struct io_uring ring;
	int fd;
	struct fileio_slot slot[FILEIO_SLOTS];
};

int fileio_init(struct fileio *f, int fd);
void fileio_exit(struct fileio *f);
/* Starts reading or writing len bytes of buf at off in slot i (which must be idle). */
int fileio_start(struct fileio *f, unsigned i, bool write, char *buf, size_t len, uint64_t off);
/* Waits for slot i: the bytes moved (a read is short only at end of file) or -errno.
 * Writes are always complete when this returns success. */
long fileio_wait(struct fileio *f, unsigned i);

/* splice(2) through the ring, waiting for it: len bytes at most from in (at off_in, or
 * its position when -1) to out.  Bytes moved or -errno.  Slots must be idle. */
long fileio_splice(struct fileio *f, int in, int64_t off_in, int out, size_t len);

#endif
