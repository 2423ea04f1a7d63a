/* A server connection: TLS handshake, request heads, responses, bodies, closing.
 *
 * conn_advance() is the one place that switches on the state.  It runs after every
 * event and keeps going until the connection has to wait: for socket readiness (one
 * poll in flight), for a file operation of the data path, or for nothing at all when
 * it closes.  Completions only record results (conn_complete) and call it again. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "digest.h"
#include "tls.h"
#include "util.h"
#include "xfer.h"

#define LINGER_SECONDS 2

static void peer_name(const struct sockaddr *sa, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, cap, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, cap, "%s:%u", ip, ntohs(s4->sin_port));
	}
}

struct conn *conn_new(struct worker *w, int fd, const struct sockaddr *peer, bool refuse)
{
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return NULL;
	c->creds = creds_get(w->shared);
	if (c->creds->tls && tls_new(c->creds->tls, fd, NULL, &c->tls)) {
		creds_put(c->creds);
		free(c);
		return NULL;
	}
	M_INC(w->m->connections);
	M_INC(w->m->open);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->w = w;
	c->fd = fd;
	c->file_fd = c->dir_fd = c->pipe_r = c->pipe_w = -1;
	c->refuse = refuse;
	c->state = CS_HANDSHAKE;
	c->deadline = now_sec() + w->cfg->handshake_timeout;
	c->op_poll = (struct op){ .kind = OP_POLL, .owner = c };
	c->op_sync = (struct op){ .kind = OP_FSYNC, .owner = c };
	c->op_digest = (struct op){ .kind = OP_DIGEST, .owner = c };
	for (unsigned i = 0; i < XFER_BUFS; i++)
		c->op_io[i] = (struct op){ .kind = OP_FILE_READ, .idx = (uint8_t)i, .owner = c };
	peer_name(peer, c->peer, sizeof(c->peer));
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	conn_advance(c);
	return c;
}

static void end_request(struct conn *c);

static void conn_free(struct conn *c)
{
	struct worker *w = c->w;

	end_request(c); /* a request cut short (say, out of memory) still holds its upload */
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	if (c->tls && !c->hs_counted) /* ended by the tick (timeout) or by a stop mid-handshake */
		M_INC(w->m->handshake_failed[c->timed_out ? HS_TIMEOUT : HS_CLOSED]);
	conn_count_bytes(c);
	atomic_fetch_sub_explicit(&w->m->open, 1, memory_order_relaxed);
	tls_free(c->tls);
	creds_put(c->creds);
	conn_io_end(c);
	close(c->fd);
	if (c->pipe_r >= 0) {
		close(c->pipe_r);
		close(c->pipe_w);
	}
	for (unsigned i = 0; i < XFER_BUFS; i++)
		free(c->buf[i].data);
	digest_job_free(c->digest);
	free(c);
	atomic_fetch_sub(&w->shared->conns, 1);
}

void conn_touch(struct conn *c)
{
	c->deadline = now_sec() + c->w->cfg->idle_timeout;
	c->rx_queued = 0;
}

bool conn_quiet_progress(struct conn *c)
{
	int queued;

	/* An upload under a high SO_RCVLOWAT (record.c) is woken once per 256 KiB, so a client
	 * slower than 256 KiB per --idle-timeout would look idle while its bytes arrive: what
	 * waits in the socket counts as progress, as any read does for nginx's
	 * client_body_timeout. */
	if (c->state != CS_RECV_BODY || ioctl(c->fd, SIOCINQ, &queued) < 0 ||
	    queued <= c->rx_queued)
		return false;
	conn_touch(c);
	c->rx_queued = queued;
	return true;
}

void conn_poll(struct conn *c, unsigned mask)
{
	struct io_uring_sqe *sqe;

	if (c->op_poll.busy)
		return;
	sqe = loop_sqe(c->w);
	io_uring_prep_poll_add(sqe, c->fd, mask);
	loop_arm(sqe, &c->op_poll);
	c->inflight++;
}

void conn_cork(struct conn *c, bool on)
{
	int v = on;

	if (c->corked != on)
		setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
	c->corked = on;
}

/* Releases everything a request holds: buffers, files, an unfinished upload. */
static void end_request(struct conn *c)
{
	conn_cork(c, false); /* uncorking pushes the last partial segment out now */
	if (c->tx)
		c->tx->finish(c);
	if (c->rx)
		c->rx->finish(c);
	c->tx = c->rx = NULL;
	upload_abort(c);
	if (c->file_fd >= 0)
		close(c->file_fd);
	c->file_fd = -1;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
}

void conn_count_bytes(struct conn *c)
{
	bool in = c->have_req && c->req.method == HTTP_PUT;

	M_ADD(c->w->m->bytes[in ? M_RECEIVED : M_SENT][metrics_path(conn_path_name(c, !in))],
	      c->bytes - c->bytes_counted);
	c->bytes_counted = c->bytes;
}

static void log_access(struct conn *c)
{
	struct access_entry e = {
		.peer = c->peer,
		.method = c->have_req ? c->req.method_name : "-",
		.path = c->have_req ? c->req.target : "-",
		.status = c->status,
		.bytes = c->bytes,
		.seconds = now_sec() - c->t_start,
		.tls_version = c->tls ? tls_version(c->tls) : "-",
		.cipher = c->tls ? tls_cipher(c->tls) : "-",
		.tx = conn_path_name(c, true),
		.rx = conn_path_name(c, false),
		.worker = c->w->id,
	};

	alog_write(&e);
	M_INC(c->w->m->requests[c->have_req ? c->req.method : HTTP_OTHER][metrics_status_index(c->status)]);
	conn_count_bytes(c);
	if (c->key_limit_hit) {
		M_INC(c->w->m->key_limit_closes);
		log_info("%s: %s: stopped at the key-usage limit (%llu records); the client resumes",
			 c->peer, c->req.target, (unsigned long long)c->w->cfg->key_limit);
	}
}

/* Moves to CS_CLOSING: sends close_notify, and lingers when input may still arrive. */
static void begin_close(struct conn *c)
{
	if (c->state == CS_CLOSING)
		return;
	end_request(c);
	if (c->state != CS_HANDSHAKE && c->tls)
		conn_close_notify(c);
	if (c->linger) {
		shutdown(c->fd, SHUT_WR);
		c->state = CS_LINGER;
		c->deadline = now_sec() + LINGER_SECONDS;
		return;
	}
	shutdown(c->fd, SHUT_RDWR);
	c->state = CS_CLOSING;
}

/* The request is answered: log it, then wait for the next one or close. */
static void finish_request(struct conn *c)
{
	log_access(c);
	end_request(c);
	if (!c->keep_alive || c->w->stopping || c->refuse) {
		begin_close(c);
		return;
	}
	/* Bytes past this request's head (and body) are the next, pipelined, request. */
	memmove(c->head, c->head + c->req.head_len, c->head_len - c->req.head_len);
	c->head_len -= c->req.head_len;
	c->have_req = false;
	c->head_started = 0;
	c->state = CS_READ_HEAD;
	rec_idle(&c->rec);
	conn_touch(c);
}

/* Parses what c->head holds; returns true when a request is ready to handle. */
static bool parse_head(struct conn *c)
{
	int n;

	c->head[c->head_len] = 0;
	n = http_parse_request(c->head, c->head_len, &c->req);
	if (n == 0)
		return false;
	conn_count_bytes(c); /* the previous request's, should it not have been logged */
	c->t_start = now_sec();
	c->bytes = c->bytes_counted = 0;
	if (n < 0) {
		c->req.head_len = c->head_len;
		reply_text(c, -n, n == -431 ? "request head larger than 16 KiB\n" :
				 n == -505 ? "only HTTP/1.x is supported\n" : "malformed request\n", true);
		c->linger = true;
		return true;
	}
	c->have_req = true;
	handle_request(c);
	return true;
}

/* Plain HTTP sent to the TLS port (http:// for https://): OpenSSL recognises the request
 * line, sends no alert, and the client would see only a closed connection.  As nginx does,
 * answer in plaintext with the reason; best effort, one send. */
static void answer_plaintext(struct conn *c)
{
	static const char body[] = "this port speaks HTTPS: use an https:// URL\n";
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; "
			 "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 sizeof(body) - 1, body);

	if (send(c->fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("%s: plaintext answer: %s", c->peer, strerror(errno));
}

/* Plaintext HTTP (--plain) has no handshake: this step only chooses the paths. */
static void step_handshake(struct conn *c)
{
	int rc = c->tls ? tls_handshake(c->tls) : 0;

	if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
		conn_poll(c, rc == TLS_WANT_READ ? POLLIN : POLLOUT);
		return;
	}
	if (rc < 0) {
		M_INC(c->w->m->handshake_failed[c->timed_out ? HS_TIMEOUT : tls_failure(c->tls)]);
		c->hs_counted = true;
		log_debug("%s: TLS handshake failed: %s", c->peer, tls_error(c->tls));
		if (tls_failure(c->tls) == HS_PLAINTEXT)
			answer_plaintext(c);
		/* OpenSSL has queued an alert (say certificate_required): drain what the client
		 * already sent so that closing does not reset the connection over it. */
		c->linger = true;
		begin_close(c);
		return;
	}
	if (c->tls)
		M_INC(c->w->m->handshakes);
	c->hs_counted = true;
	conn_touch(c);
	if (conn_choose_paths(c) < 0) {
		begin_close(c);
		return;
	}
	if (c->refuse) {
		/* The client's first request may already be on its way: drain it after the 503,
		 * or closing over unread input resets the connection and the 503 is lost. */
		c->linger = true;
		c->t_start = now_sec();
		M_INC(c->w->m->refused);
		reply_text(c, 503, "too many connections; try again shortly\n", true);
		return;
	}
	c->state = CS_READ_HEAD;
}

static void step_read_head(struct conn *c)
{
	ssize_t n;

	if (c->head_len > 0 && parse_head(c))
		return;
	if (c->w->stopping && c->head_len == 0) {
		begin_close(c);
		return;
	}
	n = conn_recv(c, c->head + c->head_len, HTTP_HEAD_MAX - c->head_len);
	if (n > 0) {
		c->head_len += (size_t)n;
		conn_touch(c);
		/* A head must arrive whole within --idle-timeout of its first byte, as nginx's
		 * client_header_timeout: a byte now and then must not hold a slot forever. */
		if (!c->head_started)
			c->head_started = now_sec();
		c->deadline = MIN(c->deadline, c->head_started + c->w->cfg->idle_timeout);
		if (!parse_head(c) && c->head_len >= HTTP_HEAD_MAX)
			reply_text(c, 431, "request head larger than 16 KiB\n", true);
	} else if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
		conn_poll(c, n == TLS_WANT_READ ? POLLIN : POLLOUT);
	} else {
		if (n < 0 && (c->head_len > 0 || c->rx_kernel || c->rec.rx_on))
			log_debug("%s: %s", c->peer, conn_io_error(c));
		begin_close(c);
	}
}

static void step_write_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = conn_send(c, c->out + c->out_off, c->out_len - c->out_off,
				      c->tx && c->to_go > 0);

		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
			conn_poll(c, n == TLS_WANT_READ ? POLLIN : POLLOUT);
			return;
		}
		if (n <= 0) {
			log_debug("%s: %s", c->peer, conn_io_error(c));
			begin_close(c);
			return;
		}
		c->out_off += (size_t)n;
		conn_touch(c);
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	if (c->tx && c->to_go > 0)
		c->state = CS_SEND_BODY;
	else if (c->rx && c->state != CS_RECV_BODY)
		c->state = CS_RECV_BODY;
	else
		finish_request(c);
}

static bool upload_failed(struct conn *c);

static void step_body(struct conn *c, const struct xfer_ops *path)
{
	switch (path->pump(c)) {
	case XFER_AGAIN:
		return;
	case XFER_DONE:
		if (c->state == CS_SEND_BODY)
			finish_request(c); /* closes instead when the key-usage limit ended it */
		else
			c->state = CS_COMMIT;
		return;
	case XFER_ERROR:
		log_debug("%s: %s aborted after %llu bytes: %s", c->peer, c->req.target,
			  (unsigned long long)c->bytes,
			  c->xfer_error ? strerror(-c->xfer_error) : conn_io_error(c));
		c->keep_alive = false;
		if (c->state == CS_RECV_BODY && upload_failed(c))
			return; /* the client hears why */
		if (c->state == CS_SEND_BODY)
			log_access(c);
		begin_close(c);
		return;
	}
}

/* An upload that cannot go on for a reason of ours (the disk, a key update the kernel
 * cannot follow) is answered, not just dropped; a client that went away is not. */
static bool upload_failed(struct conn *c)
{
	char msg[300];
	int status = c->xfer_error == -ENOSPC || c->xfer_error == -EDQUOT ? 507 : 500;

	if (c->xfer_error)
		snprintf(msg, sizeof(msg), "cannot write the upload: %s\n", strerror(-c->xfer_error));
	else if (c->rx_kernel && c->krx.ev.err[0])
		snprintf(msg, sizeof(msg), "upload aborted: %s\n", c->krx.ev.err);
	else
		return false;
	c->rx->finish(c);
	c->rx = NULL;
	upload_abort(c);
	/* Drain the rest of the body so that closing does not reset the answer away -- but
	 * never through a kernel TLS_RX that lost its key: every read would fail to decrypt. */
	c->linger = !(c->rx_kernel && c->krx.ev.err[0]);
	reply_text(c, status, msg, true);
	return true;
}

/* Drains input after close_notify until the peer closes or the linger time ends. */
static void step_linger(struct conn *c)
{
	char sink[4096];
	ssize_t n;

	while ((n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		;
	if (n < 0 && errno == EAGAIN && now_sec() < c->deadline) {
		conn_poll(c, POLLIN);
		return;
	}
	c->state = CS_CLOSING;
}

void conn_advance(struct conn *c)
{
	enum conn_state before;

	do {
		before = c->state;
		if (c->op_poll.busy)
			return; /* waiting for readiness; the poll's completion resumes us */
		switch (c->state) {
		case CS_HANDSHAKE:
			step_handshake(c);
			break;
		case CS_READ_HEAD:
			step_read_head(c);
			break;
		case CS_WRITE_OUT:
			step_write_out(c);
			break;
		case CS_SEND_BODY:
			step_body(c, c->tx);
			break;
		case CS_RECV_BODY:
			step_body(c, c->rx);
			break;
		case CS_DIGEST:
			if (!c->op_digest.busy)
				handle_digested(c);
			break;
		case CS_COMMIT:
			if (!c->op_sync.busy)
				upload_commit(c);
			break;
		case CS_LINGER:
			step_linger(c);
			break;
		case CS_CLOSING:
			if (c->inflight == 0)
				conn_free(c);
			return;
		}
	} while (c->state != before || (c->state == CS_READ_HEAD && !c->op_poll.busy &&
					 c->head_len > 0 && !c->have_req));
}

void conn_complete(struct conn *c, struct op *op, int res)
{
	c->inflight--;
	switch (op->kind) {
	case OP_POLL:
		break;
	case OP_FSYNC:
		if (res < 0)
			c->commit_error = res;
		break;
	case OP_DIGEST: /* the job's result is in c->digest */
		break;
	default: /* file I/O of the data path */
		if (c->state == CS_SEND_BODY && c->tx)
			c->tx->complete(c, op, res);
		else if (c->state == CS_RECV_BODY && c->rx)
			c->rx->complete(c, op, res);
		break;
	}
	conn_advance(c);
}

void conn_abort(struct conn *c)
{
	c->keep_alive = false;
	c->linger = false;
	shutdown(c->fd, SHUT_RDWR); /* a pending poll completes, the step then fails */
	if (c->state == CS_LINGER)
		c->state = CS_CLOSING;
	if (!c->op_poll.busy && c->inflight == 0) {
		begin_close(c);
		conn_advance(c);
	}
}
