/* The kernel-TLS send path: once OpenSSL has put the TX keys into the kernel, a file body
 * goes file -> pipe -> socket by two linked IORING_OP_SPLICE operations per chunk, and the
 * kernel encrypts it.  No userspace copy of the body, no SSL_write.  A --plain server
 * sends through the same path: the same splices, with nothing to encrypt.
 *
 * RFC 8446 5.5 limits the records one AES-GCM key may protect, and OpenSSL 3.0 cannot
 * update a key it has handed to the kernel.  So at --key-limit records the response ends
 * at a record boundary and the connection closes with close_notify; kxfer get resumes
 * with a Range request on a new connection. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "conn.h"
#include "util.h"
#include "xfer.h"

#define PIPE_WANT (1024 * 1024)   /* fs.pipe-max-size's default */
#define RECORD 16384

static int ktls_send_start(struct conn *c)
{
	int p[2], size;

	c->xfer_error = 0;
	c->tx_blocked = false;
	if (c->pipe_r >= 0)
		return 0;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	size = fcntl(p[1], F_SETPIPE_SZ, PIPE_WANT);
	if (size < 0)
		size = fcntl(p[1], F_GETPIPE_SZ);
	c->pipe_r = p[0];
	c->pipe_w = p[1];
	c->pipe_size = size > 0 ? (size_t)size : 65536;
	c->in_pipe = 0;
	return 0;
}

static void prep_out(struct conn *c, struct io_uring_sqe *sqe, size_t len)
{
	/* NONBLOCK: return what the pipe holds instead of waiting for more; a full socket
	 * answers -EAGAIN, and the path waits for POLLOUT. */
	io_uring_prep_splice(sqe, c->pipe_r, -1, c->fd, -1, (unsigned)len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	c->op_io[1].kind = OP_SPLICE;
	loop_arm(sqe, &c->op_io[1]);
	c->inflight++;
}

static enum xfer_result ktls_send_pump(struct conn *c)
{
	const struct serve_config *cfg = c->w->cfg;
	struct io_uring_sqe *sqe;
	uint64_t allowed;
	size_t chunk;

	if (c->xfer_error)
		return XFER_ERROR;
	if (c->op_io[0].busy || c->op_io[1].busy)
		return XFER_AGAIN;
	if (c->tx_blocked) {
		c->tx_blocked = false;
		conn_poll(c, POLLOUT);
		return XFER_AGAIN;
	}
	if (c->in_pipe > 0) { /* the rest of a chunk the socket did not take at once */
		prep_out(c, loop_sqe(c->w), c->in_pipe);
		return XFER_AGAIN;
	}
	if (c->to_go == 0)
		return XFER_DONE;
	/* Two records of slack: one partial record per splice, plus the close_notify. */
	allowed = c->tx_records + 2 < cfg->key_limit ? (cfg->key_limit - c->tx_records - 2) * RECORD : 0;
	if (allowed == 0) {
		c->key_limit_hit = true;
		c->keep_alive = false;
		return XFER_DONE;
	}
	chunk = (size_t)MIN(MIN((uint64_t)c->pipe_size, c->to_io), allowed);
	sqe = loop_sqe(c->w);
	io_uring_prep_splice(sqe, c->file_fd, (int64_t)c->file_off, c->pipe_w, -1, (unsigned)chunk, SPLICE_F_MOVE);
	sqe->flags |= IOSQE_IO_LINK;
	c->op_io[0].kind = OP_SPLICE;
	loop_arm(sqe, &c->op_io[0]);
	c->inflight++;
	prep_out(c, loop_sqe(c->w), chunk);
	return XFER_AGAIN;
}

static void ktls_send_complete(struct conn *c, struct op *op, int res)
{
	if (op->idx == 0) { /* file -> pipe */
		if (res <= 0) {
			/* 0: the file shrank under us; its Content-Length cannot be honoured. */
			c->xfer_error = res < 0 ? res : -ENODATA;
			return;
		}
		c->in_pipe += (size_t)res;
		c->file_off += (uint64_t)res;
		c->to_io -= (uint64_t)res;
		return;
	}
	if (res == -EAGAIN) {
		c->tx_blocked = true;
	} else if (res == -ECANCELED) {
		/* The link broke: the file splice failed (xfer_error says so) or was short;
		 * the next pump sends what reached the pipe. */
	} else if (res <= 0) {
		c->xfer_error = res < 0 ? res : -EPIPE;
	} else {
		c->in_pipe -= (size_t)res;
		c->to_go -= (uint64_t)res;
		c->bytes += (uint64_t)res;
		conn_count_records(c, (uint64_t)res, 1);
		conn_touch(c);
	}
}

static void ktls_send_finish(struct conn *c)
{
	/* The pipe stays for the connection's next response; conn_free closes it. */
}

const struct xfer_ops xfer_ktls_send = {
	.name = "ktls",
	.start = ktls_send_start,
	.pump = ktls_send_pump,
	.complete = ktls_send_complete,
	.finish = ktls_send_finish,
};
