/* Data paths for bodies after the handshake.  A path moves c->to_go bytes between the
 * file c->file_fd and the connection; conn.c picks one per direction and never knows
 * how it works.  TLS 1.3 in userspace sends from the mapped file through our record layer
 * (xfer_map.c); TLS 1.2 reads the file through io_uring and encrypts with OpenSSL, and
 * receiving in userspace fills buffers that io_uring writes (xfer_user.c); kernel TLS and
 * --plain splice (xfer_ktls.c). */
#ifndef KXFER_XFER_H
#define KXFER_XFER_H

#include "conn.h"

enum xfer_result {
	XFER_AGAIN,  /* waiting for an event; conn_advance() runs again when it comes */
	XFER_DONE,   /* every byte moved */
	XFER_ERROR,  /* the connection cannot go on */
};

struct xfer_ops {
	const char *name;                                /* as logged: "userspace", "ktls" */
	int (*start)(struct conn *c);                    /* allocate; 0 or -errno */
	enum xfer_result (*pump)(struct conn *c);        /* move what can move now */
	void (*complete)(struct conn *c, struct op *op, int res); /* a file operation ended */
	void (*finish)(struct conn *c);                  /* free what start allocated */
};

extern const struct xfer_ops xfer_user_send;   /* file -> buffers -> SSL_write */
extern const struct xfer_ops xfer_user_recv;   /* conn_recv -> buffers -> file */
extern const struct xfer_ops xfer_ktls_send;   /* file -> pipe -> socket splices, kernel encrypts */
extern const struct xfer_ops xfer_map_send;    /* mapped file -> record layer -> socket (TLS 1.3) */

#endif
