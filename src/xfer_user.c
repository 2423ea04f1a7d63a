/* The buffered data paths.
 *
 * Receiving (every upload, whichever way its records are decrypted): conn_recv -- our
 * record layer, the kernel, or OpenSSL -- fills one 256 KiB buffer while the other is
 * written to the file through io_uring (and hashed, when the upload carries or asks for a
 * digest).
 * Sending through OpenSSL (TLS 1.2 only: TLS 1.3 sends from the mapped file, xfer_map.c):
 * the file is read through io_uring into two large buffers, one being read while the other
 * is handed to SSL_write. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "tls.h"
#include "util.h"
#include "xfer.h"

static int alloc_bufs(struct conn *c)
{
	for (unsigned i = 0; i < XFER_BUFS; i++) {
		struct xbuf *b = &c->buf[i];

		if (!b->data)
			b->data = malloc(XFER_BUF_SIZE);
		if (!b->data)
			return -ENOMEM;
		b->len = b->off = 0;
		b->st = XB_EMPTY;
	}
	c->cur = c->io_next = 0;
	c->xfer_error = 0;
	return 0;
}

/* Buffers with no operation in flight go now; the others when the connection is freed. */
static void free_bufs(struct conn *c)
{
	for (unsigned i = 0; i < XFER_BUFS; i++) {
		if (!c->op_io[i].busy) {
			free(c->buf[i].data);
			c->buf[i].data = NULL;
		}
	}
}

/* Submits file I/O for the unfinished part [off, len) of buffer i. */
static void submit_io(struct conn *c, unsigned i, bool write)
{
	struct xbuf *b = &c->buf[i];
	struct io_uring_sqe *sqe = loop_sqe(c->w);

	if (write)
		io_uring_prep_write(sqe, c->file_fd, b->data + b->off, (unsigned)(b->len - b->off), b->pos + b->off);
	else
		io_uring_prep_read(sqe, c->file_fd, b->data + b->off, (unsigned)(b->len - b->off), b->pos + b->off);
	c->op_io[i].kind = write ? OP_FILE_WRITE : OP_FILE_READ;
	loop_arm(sqe, &c->op_io[i]);
	c->inflight++;
	b->st = XB_IO;
}

/* A file read or write ended: short transfers continue, errors stop the transfer. */
static void io_complete(struct conn *c, struct op *op, int res)
{
	struct xbuf *b = &c->buf[op->idx];

	if (res <= 0) {
		/* 0 on a read: the file shrank under us; the promised length cannot be sent. */
		c->xfer_error = res < 0 ? res : -ENODATA;
		b->st = XB_EMPTY;
		return;
	}
	if (op->kind == OP_FILE_READ)
		MEM_DEFINED(b->data + b->off, (size_t)res);
	b->off += (size_t)res;
	if (b->off < b->len) {
		submit_io(c, op->idx, op->kind == OP_FILE_WRITE);
		return;
	}
	if (op->kind == OP_FILE_READ) {
		b->off = 0;
		b->st = XB_FULL;
	} else {
		c->to_go -= b->len;
		b->len = b->off = 0;
		b->st = XB_EMPTY;
	}
}

static int send_start(struct conn *c)
{
	return alloc_bufs(c);
}

static enum xfer_result send_pump(struct conn *c)
{
	for (;;) {
		struct xbuf *b;
		ssize_t n;

		if (c->xfer_error)
			return XFER_ERROR;
		/* Keep every idle buffer reading ahead. */
		while (c->to_io > 0 && c->buf[c->io_next].st == XB_EMPTY) {
			b = &c->buf[c->io_next];
			b->len = (size_t)MIN((uint64_t)XFER_BUF_SIZE, c->to_io);
			b->off = 0;
			b->pos = c->file_off;
			c->file_off += b->len;
			c->to_io -= b->len;
			submit_io(c, c->io_next, false);
			c->io_next = (c->io_next + 1) % XFER_BUFS;
		}
		b = &c->buf[c->cur];
		if (b->st != XB_FULL)
			return c->to_go == 0 ? XFER_DONE : XFER_AGAIN;
		n = conn_send(c, b->data + b->off, b->len - b->off, false);
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
			conn_poll(c, n == TLS_WANT_READ ? POLLIN : POLLOUT);
			return XFER_AGAIN;
		}
		if (n <= 0)
			return XFER_ERROR;
		b->off += (size_t)n;
		c->to_go -= (uint64_t)n;
		c->bytes += (uint64_t)n;
		conn_touch(c);
		if (b->off == b->len) {
			b->st = XB_EMPTY;
			c->cur = (c->cur + 1) % XFER_BUFS;
		}
	}
}

/* Buffers go out in file order, so this is also where an upload's digest is fed. */
static void write_out(struct conn *c, unsigned i)
{
	struct xbuf *b = &c->buf[i];

	if (c->up_hash)
		sha256_update(c->up_hash, b->data, b->len);
	b->pos = c->file_off;
	b->off = 0;
	c->file_off += b->len;
	submit_io(c, i, true);
}

static bool writes_idle(const struct conn *c)
{
	for (unsigned i = 0; i < XFER_BUFS; i++)
		if (c->buf[i].st == XB_IO)
			return false;
	return true;
}

static enum xfer_result recv_pump(struct conn *c)
{
	for (;;) {
		struct xbuf *b = &c->buf[c->cur];
		ssize_t n;

		if (c->xfer_error)
			return XFER_ERROR;
		if (c->to_go == 0)
			return XFER_DONE;
		if (b->st != XB_EMPTY)
			return XFER_AGAIN; /* both buffers are being written: wait for one */
		if (b->len == XFER_BUF_SIZE || (c->to_io == 0 && b->len > 0)) {
			write_out(c, c->cur);
			c->cur = (c->cur + 1) % XFER_BUFS;
			continue;
		}
		if (c->to_io == 0)
			return XFER_AGAIN;
		n = conn_recv(c, b->data + b->len, (size_t)MIN((uint64_t)(XFER_BUF_SIZE - b->len), c->to_io));
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
			/* The disk is idle: hand it what we have rather than wait for a full buffer. */
			if (b->len > 0 && writes_idle(c)) {
				write_out(c, c->cur);
				c->cur = (c->cur + 1) % XFER_BUFS;
			}
			conn_poll(c, n == TLS_WANT_READ ? POLLIN : POLLOUT);
			return XFER_AGAIN;
		}
		if (n <= 0)
			return XFER_ERROR; /* the client went away before the whole body arrived */
		b->len += (size_t)n;
		c->to_io -= (uint64_t)n;
		c->bytes += (uint64_t)n;
		conn_touch(c);
	}
}

static int recv_start(struct conn *c)
{
	return alloc_bufs(c);
}

const struct xfer_ops xfer_user_send = {
	.name = "userspace",
	.start = send_start,
	.pump = send_pump,
	.complete = io_complete,
	.finish = free_bufs,
};

const struct xfer_ops xfer_user_recv = {
	.name = "userspace",
	.start = recv_start,
	.pump = recv_pump,
	.complete = io_complete,
	.finish = free_bufs,
};
