/* File I/O through io_uring for the clients (see fileio.h).  Short writes are resumed
 * here, so callers only ever see whole writes or an error. */
#include "fileio.h"

#include <errno.h>
#include <string.h>

#include "util.h"

int fileio_init(struct fileio *f, int fd)
{
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	return io_uring_queue_init(8, &f->ring, 0);
}

void fileio_exit(struct fileio *f)
{
	for (unsigned i = 0; i < FILEIO_SLOTS; i++)
		if (f->slot[i].busy)
			fileio_wait(f, i);
	io_uring_queue_exit(&f->ring);
}

static int submit(struct fileio *f, unsigned i)
{
	struct fileio_slot *s = &f->slot[i];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);
	uint64_t off = s->off == UINT64_MAX ? (uint64_t)-1 : s->off + s->done;
	int rc;

	if (!sqe)
		return -EBUSY;
	if (s->write)
		io_uring_prep_write(sqe, f->fd, s->buf + s->done, (unsigned)(s->len - s->done), off);
	else
		io_uring_prep_read(sqe, f->fd, s->buf + s->done, (unsigned)(s->len - s->done), off);
	io_uring_sqe_set_data64(sqe, i);
	rc = io_uring_submit(&f->ring);
	if (rc < 0)
		return rc;
	s->busy = true;
	return 0;
}

int fileio_start(struct fileio *f, unsigned i, bool write, char *buf, size_t len, uint64_t off)
{
	struct fileio_slot *s = &f->slot[i];

	if (s->busy)
		return -EBUSY;
	*s = (struct fileio_slot){ .buf = buf, .len = len, .off = off, .write = write };
	if (len == 0)
		return 0;
	return submit(f, i);
}

long fileio_wait(struct fileio *f, unsigned i)
{
	struct fileio_slot *s = &f->slot[i];

	while (s->busy) {
		struct io_uring_cqe *cqe;
		unsigned which;
		int res, rc = io_uring_wait_cqe(&f->ring, &cqe);

		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return rc;
		which = (unsigned)io_uring_cqe_get_data64(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&f->ring, cqe);
		if (which >= FILEIO_SLOTS)
			continue;
		f->slot[which].busy = false;
		if (res < 0) {
			f->slot[which].err = res;
			continue;
		}
		if (!f->slot[which].write)
			MEM_DEFINED(f->slot[which].buf + f->slot[which].done, (size_t)res);
		f->slot[which].done += (size_t)res;
		/* A short write goes on; a short read means end of file. */
		if (f->slot[which].write && res > 0 && f->slot[which].done < f->slot[which].len) {
			rc = submit(f, which);
			if (rc < 0)
				return rc;
		} else if (f->slot[which].write && res == 0) {
			f->slot[which].err = -EIO;
		}
	}
	return s->err ? s->err : (long)s->done;
}

long fileio_splice(struct fileio *f, int in, int64_t off_in, int out, size_t len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);
	struct io_uring_cqe *cqe;
	int rc;

	if (!sqe)
		return -EBUSY;
	io_uring_prep_splice(sqe, in, off_in, out, -1, (unsigned)len, SPLICE_F_MOVE);
	io_uring_sqe_set_data64(sqe, FILEIO_SLOTS);
	rc = io_uring_submit(&f->ring);
	if (rc < 0)
		return rc;
	while ((rc = io_uring_wait_cqe(&f->ring, &cqe)) == -EINTR)
		;
	if (rc < 0)
		return rc;
	rc = cqe->res;
	io_uring_cqe_seen(&f->ring, cqe);
	return rc;
}
