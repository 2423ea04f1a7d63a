/* The userspace TLS 1.3 send path: a file body is sealed straight from the page cache.
 * The file is mapped a window at a time (filemap.c), the record layer (record.c) encrypts
 * up to RECORD_BATCH records from the mapped pages into its send buffer, and one send(2)
 * puts them on the socket: one copy per byte in this process (the encryption itself),
 * where reading into a buffer and SSL_write cost a page-cache copy, OpenSSL's copy into
 * its write buffer and a write(2) per 16 KiB record.
 *
 * A file that shrinks under the mapping raises SIGBUS on the pages past its new end; the
 * guard around each batch catches it, and the batch is thrown away before a byte of it is
 * sent.  The connection then ends as a short read ends the other paths: -ENODATA, the
 * Content-Length cannot be honoured. */
#include <errno.h>
#include <poll.h>

#include "conn.h"
#include "filemap.h"
#include "record.h"
#include "util.h"
#include "xfer.h"

static int map_start(struct conn *c)
{
	c->xfer_error = 0;
	return filemap_init();
}

/* The batch the record layer sealed went out. */
static void sent(struct conn *c)
{
	c->to_go -= c->rec.tx.batch;
	c->bytes += c->rec.tx.batch;
	c->rec.tx.batch = 0;
	conn_touch(c);
}

/* Seals the next batch from the mapped file; 0, or -errno (the file shrank: -ENODATA). */
static int seal_next(struct conn *c)
{
	struct filemap *m = &c->map;
	const uint8_t *p;
	ssize_t n;
	int rc;

	if (!m->data || c->file_off >= m->off + m->len) {
		rc = filemap_map(m, c->file_fd, c->file_off, (size_t)MIN((uint64_t)FILEMAP_WINDOW, c->to_io));
		if (rc)
			return rc;
	}
	p = m->data + (c->file_off - m->off);
	filemap_guard_begin(m);
	n = rec_seal(&c->rec.tx, p, (size_t)MIN(m->off + m->len - c->file_off, c->to_io));
	rc = filemap_guard_end(m, c->file_off + (n > 0 ? (uint64_t)n : 0));
	if (n < 0)
		return (int)n;
	if (rc) {
		rec_discard(&c->rec.tx);
		return rc;
	}
	c->file_off += (uint64_t)n;
	c->to_io -= (uint64_t)n;
	return 0;
}

static enum xfer_result map_pump(struct conn *c)
{
	for (;;) {
		int rc;

		if (c->xfer_error)
			return XFER_ERROR;
		if (c->rec.tx.len == 0) {
			if (c->to_go == 0)
				return XFER_DONE;
			if ((rc = seal_next(c)) < 0) {
				c->xfer_error = rc;
				return XFER_ERROR;
			}
		}
		rc = rec_flush(&c->rec.tx, c->to_io > 0);
		if (rc == -EAGAIN) {
			conn_poll(c, POLLOUT);
			return XFER_AGAIN;
		}
		if (rc < 0)
			return XFER_ERROR; /* the peer went away: conn_io_error says how */
		sent(c);
	}
}

static void map_complete(struct conn *c, struct op *op, int res)
{
	/* No file operations: the pages are read by the encryption itself. */
}

static void map_finish(struct conn *c)
{
	filemap_unmap(&c->map);
}

const struct xfer_ops xfer_map_send = {
	.name = "userspace",
	.start = map_start,
	.pump = map_pump,
	.complete = map_complete,
	.finish = map_finish,
};
