/* Kernel TLS: installing keys on a socket and reading a kTLS receive socket, control
 * records included.  The only module that includes <linux/tls.h>. */
#ifndef KXFER_KTLS_H
#define KXFER_KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "record.h"
#include "tls.h"

/* The receive side of a socket whose TLS_RX is in the kernel. */
struct ktls_rx {
	int fd;
	struct tls_keys keys;    /* kept for a KeyUpdate: the next key derives from this one */
	struct rec_events ev;    /* close_notify seen, or why the stream failed */
};

/* Why kernel TLS cannot work on this host, or NULL when the tls ULP is there. */
const char *ktls_unavailable(void);
/* A human reason for a failed kTLS setsockopt. */
const char *ktls_strerror(int err);

/* TCP_ULP "tls" on an established socket (EEXIST, when OpenSSL did it, is fine). */
int ktls_attach(int fd);
/* Installs TLS 1.3 keys for one direction, starting at record sequence seq. */
int ktls_set_keys(int fd, bool rx, const struct tls_keys *k, uint64_t seq);

/* Hands the socket's receive direction to the kernel: ULP, keys from k (copied, and the
 * caller's wiped), sequence 0.  On failure returns -errno and rx is unused. */
int ktls_rx_start(struct ktls_rx *rx, int fd, struct tls_keys *k);
void ktls_rx_end(struct ktls_rx *rx);
/* Application data from a kTLS receive socket.  Session tickets are consumed, a KeyUpdate
 * is followed where the kernel can (else an error), close_notify ends the stream (0), other
 * alerts are errors naming them (-EPROTO, reason in rx->err).  -EAGAIN when nothing is
 * there on a non-blocking socket. */
ssize_t ktls_read(struct ktls_rx *rx, void *buf, size_t len);

/* Probes a loopback connection: can this kernel take keys for aead in that direction? */
int ktls_probe(enum tls_aead aead, bool rx);
/* Can this kernel replace a socket's receive key (TLS 1.3 KeyUpdate, Linux 6.14)?  0 when it
 * can, -EBUSY when it refuses a second key (older kernels), other -errno when kTLS itself
 * fails (-ENOENT: no tls ULP). */
int ktls_probe_rekey(enum tls_aead aead);

/* Optional kTLS socket options (Documentation/networking/tls.rst). */
enum ktls_option {
	KTLS_OPT_TX_ZEROCOPY_RO,   /* 5.19: sendfile without a copy (device offload) */
	KTLS_OPT_RX_EXPECT_NO_PAD, /* 6.0: TLS 1.3 records decrypted in place */
};
/* Does the kernel accept the option on a kTLS socket?  0, or -errno (-ENOPROTOOPT: unknown
 * option; -ENOENT: no tls ULP). */
int ktls_probe_option(enum ktls_option opt);

#endif
