/* The TLS 1.3 record layer in userspace (RFC 8446 5.2-5.5), for the directions kernel TLS
 * does not carry.  After OpenSSL's handshake a direction's traffic keys come out of the tls
 * module, and records move many at a time: received into one buffer and decrypted straight
 * into the caller's (no copy out of OpenSSL's read buffer), sealed straight from the caller's
 * bytes, a file's mapped pages, into one buffer and sent with one send(2).  Control records
 * (alerts, session tickets, KeyUpdate) go through rec_control, which the kernel-TLS receive
 * path (ktls.c) shares.  Only the AEAD itself is OpenSSL's (tls_aead_*, crypto.c). */
#ifndef KXFER_RECORD_H
#define KXFER_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tls.h"

enum record_type { RECORD_ALERT = 21, RECORD_HANDSHAKE = 22, RECORD_DATA = 23 };

#define RECORD_HEADER     5
#define RECORD_TAG        16
#define RECORD_MAX_PLAIN  16384                    /* 2^14: RFC 8446 5.1 */
#define RECORD_MAX_CIPHER (RECORD_MAX_PLAIN + 256) /* 2^14 + 256: RFC 8446 5.2 */
#define RECORD_BATCH      16                       /* records sealed per send(2) */

/* What the control records seen so far did (both receive paths). */
struct rec_events {
	bool eof;              /* close_notify came: the stream ended cleanly */
	bool update_requested; /* a KeyUpdate asked us to update our sending key as well */
	char err[200];         /* why the stream failed */
};

/* One decrypted control record: alerts end the stream (close_notify) or fail it, tickets are
 * consumed, a KeyUpdate calls next_key(arg) to follow the peer's new key.  0 to read on, or
 * -errno with the reason in ev->err. */
int rec_control(struct rec_events *ev, unsigned type, const uint8_t *p, size_t n,
		int (*next_key)(void *arg), void *arg);

/* One direction's key: the traffic secret's key, IV and sequence (keys.seq), and the AEAD. */
struct rec_key {
	struct tls_keys keys;
	struct tls_aead_ctx *aead;
};

struct rec_tx;

struct rec_rx {
	int fd;
	struct rec_key k;
	struct rec_events ev;
	uint8_t *buf;            /* records as received */
	size_t cap, start, end;  /* bytes [start, end) not yet opened */
	size_t plain, plain_len; /* a record opened in place in buf, not yet all handed out */
	int error;               /* sticky: the stream is broken */
	uint8_t alert;           /* ... and the alert that tells the peer why (RFC 8446 6.2) */
	struct rec_tx *answer;   /* our sending side, told when a KeyUpdate asks for ours */
	uint64_t expect;         /* plaintext bytes the caller knows are coming (rec_rx_expect) */
	int lowat;               /* the socket's SO_RCVLOWAT as we last set it */
};

/* Reads fd's records from now on, with k (copied; the caller's copy is wiped). */
int rec_rx_start(struct rec_rx *rx, int fd, struct tls_keys *k);
void rec_rx_end(struct rec_rx *rx);
/* Application data: > 0 bytes, 0 at the end of the stream (ev.eof says whether it was a
 * close_notify or a bare FIN), -EAGAIN when a non-blocking socket has no whole record yet,
 * or -errno (-EBADMSG: a record failed authentication; -EPROTO: a protocol error; the
 * reason in ev.err).  No byte of a record is returned before its tag is checked. */
ssize_t rec_read(struct rec_rx *rx, void *buf, size_t len);
/* The caller knows that a body of n more bytes follows.  While much of it is still to come,
 * the socket wakes us (SO_RCVLOWAT) only when a good part of a batch has arrived, not at
 * every segment: each wakeup of a reader blocked in recv(2) costs the sender an IPI. */
void rec_rx_expect(struct rec_rx *rx, uint64_t n);
/* Frees the receive buffer while nothing is in it (an idle keep-alive connection). */
void rec_rx_trim(struct rec_rx *rx);

struct rec_tx {
	int fd;
	struct rec_key k;
	uint64_t key_limit;      /* records under one key; then a KeyUpdate (RFC 8446 5.5) */
	uint8_t *buf;            /* sealed records */
	size_t cap, off, len;    /* bytes [off, len) not yet sent */
	size_t batch;            /* plaintext bytes the records in buf carry */
	uint64_t batch_seq;      /* the sequence number of buf's first record */
	bool batch_rekeyed;      /* ... and whether a KeyUpdate is among them */
	bool update_due;         /* send a KeyUpdate before the next record */
	int error;
	char err[200];
};

int rec_tx_start(struct rec_tx *tx, int fd, struct tls_keys *k, uint64_t key_limit);
void rec_tx_end(struct rec_tx *tx);
/* Seals up to RECORD_BATCH records of buf into the send buffer, which must be empty; returns
 * the plaintext bytes sealed (> 0) or -errno.  rec_flush sends them. */
ssize_t rec_seal(struct rec_tx *tx, const void *buf, size_t len);
/* Sends what rec_seal sealed: 0 when all is out, -EAGAIN on a full non-blocking socket. */
int rec_flush(struct rec_tx *tx, bool more);
/* Forgets sealed records that must not go out (their source bytes were not the file's);
 * the next record (a close_notify) reuses their sequence numbers. */
void rec_discard(struct rec_tx *tx);
/* rec_seal + rec_flush with SSL_write's retry rule: after -EAGAIN, call again with the same
 * bytes.  Returns the plaintext bytes sent (possibly fewer than len), -EAGAIN or -errno. */
ssize_t rec_write(struct rec_tx *tx, const void *buf, size_t len, bool more);
/* Ends the stream with an alert, best effort, never waiting: 0 is close_notify, anything
 * else a fatal alert (rec_rx.alert, after a broken receive stream). */
void rec_alert(struct rec_tx *tx, uint8_t desc);
void rec_tx_trim(struct rec_tx *tx);

/* Both directions of a connection, each ours where the kernel does not carry it. */
struct rec {
	bool tx_on, rx_on;
	struct rec_tx tx;
	struct rec_rx rx;
};

/* After the handshake: takes each direction asked for from OpenSSL where the session is
 * TLS 1.3 and OpenSSL has read nothing past the handshake; the others stay OpenSSL's
 * (TLS 1.2: its keys are not ours to see). */
void rec_start(struct rec *r, struct tls *t, int fd, bool tx, bool rx, uint64_t key_limit);
void rec_end(struct rec *r);
/* Ends the stream: close_notify, or the alert a broken receive stream calls for. */
void rec_close(struct rec *r);
/* Between requests: buffers with nothing in them go. */
void rec_idle(struct rec *r);

#endif
