/* How a server connection's records move after the handshake, per direction: through the
 * kernel (kTLS), through our TLS 1.3 record layer in this process (record.c), or through
 * OpenSSL itself (TLS 1.2) -- or, with --plain, as plaintext straight through the socket.
 * conn.c and the data paths call conn_recv/conn_send and never know which. */
#include "conn.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "ktls.h"
#include "tls.h"
#include "util.h"

ssize_t conn_recv(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	if (!c->tls) {
		n = recv(c->fd, buf, len, MSG_DONTWAIT);
		if (n < 0)
			n = errno == EAGAIN || errno == EINTR ? TLS_WANT_READ : -errno;
		return n;
	}
	if (c->rec.rx_on)
		n = rec_read(&c->rec.rx, buf, len);
	else if (c->rx_kernel)
		n = ktls_read(&c->krx, buf, len);
	else
		return tls_read(c->tls, buf, len);
	return n == -EAGAIN ? TLS_WANT_READ : n;
}

ssize_t conn_send(struct conn *c, const void *buf, size_t len, bool more)
{
	ssize_t n;

	if (c->rec.tx_on) { /* keys wear out inside the record layer: it sends the KeyUpdates */
		n = rec_write(&c->rec.tx, buf, len, more);
		return n == -EAGAIN ? TLS_WANT_WRITE : n;
	}
	if (!c->tx_kernel) {
		n = tls_write(c->tls, buf, len);
	} else {
		/* The kernel encrypts (or, plain, just sends); MSG_MORE lets a response head share
		 * a record (a segment) with the body. */
		n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));
		if (n < 0)
			n = errno == EAGAIN || errno == EINTR ? TLS_WANT_WRITE : -errno;
	}
	if (n > 0 && conn_count_records(c, (uint64_t)n, 1) && !c->tx_kernel)
		tls_key_update(c->tls);
	return n;
}

const char *conn_path_name(const struct conn *c, bool tx)
{
	if (!c->tls)
		return "plain";
	if (tx)
		return c->tx_kernel ? "ktls" : "userspace";
	return c->rx_kernel || tls_ktls_rx(c->tls) ? "ktls" : "userspace";
}

const char *conn_io_error(const struct conn *c)
{
	if (c->rx_kernel && c->krx.ev.err[0])
		return c->krx.ev.err;
	if (c->rec.rx_on && c->rec.rx.ev.err[0])
		return c->rec.rx.ev.err;
	if (c->rec.tx_on && c->rec.tx.err[0])
		return c->rec.tx.err;
	return c->tls ? tls_error(c->tls) : "connection reset or closed";
}

void conn_close_notify(struct conn *c)
{
	if (c->rec.tx_on)
		rec_close(&c->rec);
	else
		tls_close_notify(c->tls);
}

void conn_io_end(struct conn *c)
{
	filemap_unmap(&c->map);
	ktls_rx_end(&c->krx);
	rec_end(&c->rec);
}

bool conn_count_records(struct conn *c, uint64_t bytes, unsigned sends)
{
	if (!c->tls)
		return false; /* plaintext: no key to wear out */
	/* At most one partial record per send, the rest full. */
	c->tx_records += (bytes + 16383) / 16384 + sends;
	if (c->tx_records < c->w->cfg->key_limit)
		return false;
	if (!c->tx_kernel)
		c->tx_records = 0; /* the caller sends a KeyUpdate: a fresh key */
	return true;
}

/* Logged once per process: why a direction stays in userspace. */
static void tell_once(struct conn *c, const char *dir, const char *why)
{
	if (!atomic_exchange(&c->w->shared->ktls_told, true))
		log_info("kernel TLS not used for %s: %s; using userspace TLS", dir, why);
}

/* A kernel-side failure names the missing module when there is one. */
static enum m_ktls_fallback fallback_reason(enum m_ktls_fallback why)
{
	return ktls_unavailable() ? KF_NO_KERNEL_TLS : why;
}

int conn_choose_paths(struct conn *c)
{
	const struct serve_config *cfg = c->w->cfg;
	struct metrics_worker *m = c->w->m;
	const char *tx_why = NULL, *rx_why = NULL;
	struct tls_keys keys;
	int rc;

	if (!c->tls) {
		c->tx_kernel = true; /* plaintext: bodies splice straight to the socket */
		return 0;
	}
	if (cfg->ktls == KTLS_OFF) {
		rec_start(&c->rec, c->tls, c->fd, true, true, cfg->key_limit);
		return 0;
	}
	c->tx_kernel = tls_ktls_tx(c->tls);
	if (!c->tx_kernel) {
		tx_why = ktls_unavailable() ? ktls_unavailable() :
			 "OpenSSL did not offload sending for this TLS version and cipher";
		M_INC(m->ktls_fallback[M_SENT][fallback_reason(KF_NOT_OFFLOADED)]);
	}
	/* OpenSSL 3.0 never offloads TLS 1.3 receiving; a later one may have. */
	if (tls_ktls_rx(c->tls)) {
		rx_why = "OpenSSL holds the receive direction in the kernel itself";
	} else if (tls_pending(c->tls)) {
		rx_why = "OpenSSL already read past the handshake";
		M_INC(m->ktls_fallback[M_RECEIVED][KF_PENDING]);
	} else if ((rc = tls_traffic_keys(c->tls, true, &keys)) < 0 ||
		   (rc = ktls_rx_start(&c->krx, c->fd, &keys)) < 0) {
		rx_why = ktls_strerror(rc);
		M_INC(m->ktls_fallback[M_RECEIVED][rc == -EPROTONOSUPPORT ? KF_NOT_OFFLOADED :
						     fallback_reason(KF_KERNEL_REFUSED)]);
	} else {
		c->rx_kernel = true;
	}
	if (cfg->ktls == KTLS_ON && (tx_why || (rx_why && !tls_ktls_rx(c->tls)))) {
		log_err("%s: --ktls on: %s: %s", c->peer, tx_why ? "sending" : "receiving",
			tx_why ? tx_why : rx_why);
		return -EOPNOTSUPP;
	}
	if (tx_why)
		tell_once(c, "sending", tx_why);
	else if (rx_why && !tls_ktls_rx(c->tls))
		tell_once(c, "receiving", rx_why);
	rec_start(&c->rec, c->tls, c->fd, !c->tx_kernel, !c->rx_kernel && !tls_ktls_rx(c->tls),
		  cfg->key_limit);
	return 0;
}
