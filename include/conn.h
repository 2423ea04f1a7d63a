/* A server connection and its state machine.  conn_advance() is the single place that
 * switches on the state; completions only record their result and call it. */
#ifndef KXFER_CONN_H
#define KXFER_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "filemap.h"
#include "http.h"
#include "ktls.h"
#include "loop.h"
#include "record.h"

struct sha256;

enum conn_state {
	CS_HANDSHAKE,  /* TLS handshake, driven by poll readiness */
	CS_READ_HEAD,  /* waiting for (the rest of) a request head */
	CS_WRITE_OUT,  /* response head and small bodies from c->out */
	CS_DIGEST,     /* a hashing thread computes the file's Repr-Digest (c->digest) */
	CS_SEND_BODY,  /* a file body, through the data path (c->tx) */
	CS_RECV_BODY,  /* an upload body, through the data path (c->rx) */
	CS_COMMIT,     /* upload complete: fsync, rename, fsync the directory */
	CS_LINGER,     /* close_notify sent; draining input so the reply is not lost to a RST */
	CS_CLOSING,    /* waiting for operations in flight before freeing */
};

#define XFER_BUFS 2
#define XFER_BUF_SIZE (256 * 1024)

enum xbuf_state { XB_EMPTY, XB_IO, XB_FULL };

struct xbuf {
	char *data;
	size_t len, off;     /* FULL: bytes [off, len) to consume; IO: off of len done */
	uint64_t pos;        /* file offset of data[0] */
	enum xbuf_state st;
};

struct conn {
	struct worker *w;
	struct conn *next, *prev;
	int fd;
	struct tls *tls;
	struct serve_creds *creds;   /* the certificate and token this connection started with */
	enum conn_state state;
	double deadline;
	unsigned inflight;
	struct op op_poll, op_io[XFER_BUFS], op_sync, op_digest;
	struct digest_job *digest;   /* CS_DIGEST: the job, until its eventfd is read */

	/* how records move, per direction: OpenSSL in userspace, or the kernel */
	bool tx_kernel;          /* OpenSSL installed TLS_TX: plain writes are encrypted */
	bool rx_kernel;          /* we installed TLS_RX: reads go through ktls_read */
	struct ktls_rx krx;
	struct rec rec;          /* TLS 1.3 in userspace: our record layer (record.c) */
	uint64_t tx_records;     /* records sent under the current key (upper bound) */
	int pipe_r, pipe_w;      /* splice pipe of the kernel-TLS send path, made on first use */
	size_t pipe_size;
	size_t in_pipe;          /* bytes spliced into the pipe, not yet out to the socket */
	bool tx_blocked;         /* the socket was full: wait for POLLOUT before splicing on */
	bool key_limit_hit;      /* the response ended early at the key-usage limit */
	bool corked;             /* TCP_CORK while a body streams: full segments only */

	/* request */
	char head[HTTP_HEAD_MAX + 1];
	size_t head_len;
	struct http_request req;
	bool have_req;
	double head_started;     /* when this head's first byte came (0: none yet) */
	bool refuse;             /* over --max-conns: answer 503 after the handshake */

	/* response */
	char *out;
	size_t out_len, out_off;
	bool keep_alive;
	bool linger;             /* close with a drain: request body left unread */
	int status;

	/* body transfer, either direction */
	const struct xfer_ops *tx, *rx;
	int file_fd;
	uint64_t file_off;       /* next file offset to read (send) or write (receive) */
	uint64_t to_io;          /* body bytes not yet read from the file / the socket */
	uint64_t to_go;          /* body bytes not yet sent / written to the file */
	struct xbuf buf[XFER_BUFS];
	struct filemap map;      /* the window of the file being sent (xfer_map.c) */
	unsigned cur;            /* the buffer being drained (send) or filled (receive) */
	unsigned io_next;        /* the buffer the next file read goes into (send) */
	int xfer_error;          /* -errno from a file operation: the transfer cannot go on */

	/* upload */
	int dir_fd;
	char tmp_name[40];
	char *final_name;
	bool replacing;
	int commit_stage;
	int commit_error;
	struct sha256 *up_hash;  /* the body as written, when a digest was sent or asked for */
	uint8_t up_sent[32];     /* the request's Repr-Digest (sha-256) */
	uint8_t up_got[32];      /* what was written, once up_hashed */
	bool up_check;           /* compare up_got with up_sent before the rename */
	bool up_hashed;
	bool up_mtime;           /* X-OC-Mtime: set the file's mtime to up_mtime_ts */
	struct timespec up_mtime_ts;

	/* access log */
	char peer[64];
	double t_start;
	uint64_t bytes;
	uint64_t bytes_counted;      /* of bytes, how many the metrics have (conn_count_bytes) */
	bool hs_counted;             /* the handshake's outcome is in the metrics */
	bool timed_out;              /* the tick ended it: its deadline passed */
	int rx_queued;               /* bytes waiting in the socket at the last deadline check */
	bool stop_pending;
};

struct conn *conn_new(struct worker *w, int fd, const struct sockaddr *peer, bool refuse);
void conn_advance(struct conn *c);
void conn_complete(struct conn *c, struct op *op, int res);
/* Ends the connection now (timeouts, shutdown): wakes whatever it waits on. */
void conn_abort(struct conn *c);
/* Waits for the socket to become readable (POLLIN) or writable (POLLOUT). */
void conn_poll(struct conn *c, unsigned mask);
void conn_touch(struct conn *c);
/* Past its deadline: has an upload's socket received bytes that have not woken us yet
 * (SO_RCVLOWAT)?  Then that is progress, and the deadline moves on. */
bool conn_quiet_progress(struct conn *c);
/* Adds the bytes moved since the last call to the worker's metrics (each tick, and at the
 * end of every request), so that long transfers show progress. */
void conn_count_bytes(struct conn *c);
/* TCP_CORK on for a streaming body (TCP_NODELAY stays on for everything else). */
void conn_cork(struct conn *c, bool on);

/* Record I/O (conn_io.c), whichever side of the kernel does the crypto.  Both return
 * > 0 bytes, 0 at the peer's close_notify, TLS_WANT_READ/WRITE, or -errno. */
ssize_t conn_recv(struct conn *c, void *buf, size_t len);
ssize_t conn_send(struct conn *c, const void *buf, size_t len, bool more);
const char *conn_io_error(const struct conn *c);
/* The path a direction took, as the access log names it: "userspace", "ktls" or "plain"
 * (--plain: no TLS at all; then tx_kernel only means the body splices to the socket). */
const char *conn_path_name(const struct conn *c, bool tx);
/* After the handshake: hand each direction to the kernel where --ktls allows and the host
 * can.  Returns 0, or -errno when --ktls on cannot be honoured. */
int conn_choose_paths(struct conn *c);
/* Counts records sent under the current key; true when the key-usage limit is reached. */
bool conn_count_records(struct conn *c, uint64_t bytes, unsigned sends);
/* Ends the stream: close_notify, or the alert a broken receive stream calls for. */
void conn_close_notify(struct conn *c);
/* Frees what the record paths hold (conn_free). */
void conn_io_end(struct conn *c);

/* Request handling (handler.c): turns c->req into a reply, a file to send or an upload. */
void handle_request(struct conn *c);
/* CS_DIGEST: the hashing thread is done; answer with the file. */
void handle_digested(struct conn *c);
/* Puts a complete response (head, and body unless HEAD) into c->out. */
void reply_with(struct conn *c, struct http_reply *r, const char *body, size_t body_len);
/* The same for a small text body. */
void reply_text(struct conn *c, int status, const char *body, bool close);
/* An answer for a failed file operation: 404, 403 or 500 with what and the reason. */
void reply_errno(struct conn *c, int err, const char *what);

/* Uploads (upload.c).  PUT of rel: checks, the parent directory (made when missing), the
 * temporary file; then the body is received through c->rx. */
void handle_put(struct conn *c, const char *rel);
/* Upload body complete: check its digest, set its mtime, fsync the file, rename it into
 * place, fsync the directory, answer.  Each call does the next step; c->commit_stage
 * counts them. */
void upload_commit(struct conn *c);
void upload_abort(struct conn *c);

#endif
