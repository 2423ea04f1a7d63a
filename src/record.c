/* The TLS 1.3 record layer in userspace (RFC 8446 5): protocol framing over OpenSSL's
 * AEADs, as the kernel's net/tls does it.  See record.h for the shape; the rules kept here:
 *
 *  - the nonce is the 12-byte IV XOR the record's 64-bit sequence number (5.3), the
 *    additional data is the record header (5.2);
 *  - every protected record has outer type application_data and legacy version 0x0303;
 *    its length is at least the tag plus the inner type and at most 2^14 + 256 (5.2);
 *  - the inner plaintext ends with the real content type, then any zero padding (5.4);
 *  - a record that fails authentication is fatal: bad_record_mac (5.2), and nothing of it
 *    reaches the caller;
 *  - a key protects at most key_limit records, then a KeyUpdate moves on (5.5, 4.6.3). */
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

enum { HS_NEW_SESSION_TICKET = 4, HS_KEY_UPDATE = 24 };

static const char *alert_name(unsigned desc)
{
	static const struct { unsigned code; const char *name; } alerts[] = {
		{ 0, "close_notify" }, { 10, "unexpected_message" }, { 20, "bad_record_mac" },
		{ 22, "record_overflow" }, { 40, "handshake_failure" }, { 42, "bad_certificate" },
		{ 45, "certificate_expired" }, { 47, "illegal_parameter" }, { 48, "unknown_ca" },
		{ 49, "access_denied" }, { 50, "decode_error" }, { 51, "decrypt_error" },
		{ 70, "protocol_version" }, { 80, "internal_error" }, { 90, "user_canceled" },
		{ 109, "missing_extension" }, { 116, "certificate_required" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(alerts); i++)
		if (alerts[i].code == desc)
			return alerts[i].name;
	return "unknown alert";
}

int rec_control(struct rec_events *ev, unsigned type, const uint8_t *p, size_t n,
		int (*next_key)(void *arg), void *arg)
{
	if (type == RECORD_ALERT) {
		if (n == 2 && p[1] == 0) {
			ev->eof = true;
			return 0;
		}
		snprintf(ev->err, sizeof(ev->err), "the peer sent TLS alert %u (%s)", n >= 2 ? p[1] : 0,
			 n >= 2 ? alert_name(p[1]) : "truncated");
		return -EPROTO;
	}
	if (type != RECORD_HANDSHAKE || n == 0) { /* 5.1: no empty handshake records */
		snprintf(ev->err, sizeof(ev->err), "unexpected TLS record type %u%s", type,
			 n ? "" : " (empty)");
		return -EPROTO;
	}
	/* One record may carry several handshake messages: type (1), length (3), body. */
	while (n >= 4) {
		size_t len = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];

		if (len > n - 4)
			break;
		if (p[0] == HS_KEY_UPDATE) {
			int rc;

			if (len != 1 || p[4] > 1) {
				snprintf(ev->err, sizeof(ev->err), "malformed KeyUpdate from the peer");
				return -EPROTO;
			}
			ev->update_requested = p[4] == 1;
			if ((rc = next_key(arg)))
				return rc;
		} else if (p[0] != HS_NEW_SESSION_TICKET) {
			snprintf(ev->err, sizeof(ev->err), "unexpected post-handshake message %u", p[0]);
			return -EPROTO;
		}
		p += 4 + len;
		n -= 4 + len;
	}
	return 0;
}

/* --- one direction's key ------------------------------------------------------------- */

static int key_start(struct rec_key *k, struct tls_keys *keys, bool seal)
{
	int rc;

	k->keys = *keys;
	tls_keys_wipe(keys);
	rc = tls_aead_new(&k->keys, seal, &k->aead);
	if (rc)
		tls_keys_wipe(&k->keys);
	return rc;
}

static void key_end(struct rec_key *k)
{
	tls_aead_free(k->aead);
	k->aead = NULL;
	tls_keys_wipe(&k->keys);
}

/* The next generation of the key (RFC 8446 7.2), sequence 0. */
static int key_next(struct rec_key *k, bool seal)
{
	int rc = tls_keys_update(&k->keys);

	tls_aead_free(k->aead);
	k->aead = NULL;
	return rc ? rc : tls_aead_new(&k->keys, seal, &k->aead);
}

static void nonce(const struct rec_key *k, uint8_t out[12])
{
	uint64_t seq = k->keys.seq;

	memcpy(out, k->keys.iv, 12);
	for (int i = 11; i >= 4; i--, seq >>= 8)
		out[i] ^= (uint8_t)seq;
}

/* --- receiving ----------------------------------------------------------------------- */

#define RX_SMALL (2 * (RECORD_HEADER + RECORD_MAX_CIPHER))  /* request and response heads */
#define RX_LARGE (256 * 1024 + RECORD_HEADER + RECORD_MAX_CIPHER)

int rec_rx_start(struct rec_rx *rx, int fd, struct tls_keys *k)
{
	memset(rx, 0, sizeof(*rx));
	rx->fd = fd;
	return key_start(&rx->k, k, false);
}

void rec_rx_end(struct rec_rx *rx)
{
	key_end(&rx->k);
	free(rx->buf);
	rx->buf = NULL;
	rx->cap = rx->start = rx->end = rx->plain_len = 0;
}

void rec_rx_trim(struct rec_rx *rx)
{
	if (rx->start == rx->end && rx->plain_len == 0) {
		free(rx->buf);
		rx->buf = NULL;
		rx->cap = rx->start = rx->end = 0;
	}
}

static int rx_next_key(void *arg)
{
	struct rec_rx *rx = arg;

	if (rx->ev.update_requested && rx->answer) {
		rx->answer->update_due = true; /* 4.6.3: answer before our next record */
		rx->ev.update_requested = false;
	}
	return key_next(&rx->k, false);
}

enum { ALERT_UNEXPECTED_MESSAGE = 10, ALERT_BAD_RECORD_MAC = 20, ALERT_RECORD_OVERFLOW = 22,
       ALERT_INTERNAL_ERROR = 80 };

static int rx_fail(struct rec_rx *rx, int err, uint8_t alert, const char *why)
{
	if (why)
		snprintf(rx->ev.err, sizeof(rx->ev.err), "%s", why);
	rx->error = err;
	rx->alert = alert;
	return err;
}

/* Room for at least one more whole record after end: moves the unopened bytes to the front
 * (at most one record's worth, once per buffer) and grows the buffer for bulk reads. */
static int rx_room(struct rec_rx *rx, size_t want)
{
	size_t cap = want >= 64 * 1024 ? RX_LARGE : RX_SMALL;

	if (rx->start > 0 && rx->cap - rx->end < RECORD_HEADER + RECORD_MAX_CIPHER) {
		memmove(rx->buf, rx->buf + rx->start, rx->end - rx->start);
		rx->end -= rx->start;
		rx->start = 0;
	}
	if (cap > rx->cap) {
		uint8_t *b = realloc(rx->buf, cap);

		if (!b)
			return -ENOMEM;
		rx->buf = b;
		rx->cap = cap;
	}
	return 0;
}

/* Opens the record at rx->start into dst (the caller's buffer, or in place); returns the
 * inner plaintext length with *type set, or -errno. */
static ssize_t rx_open(struct rec_rx *rx, size_t clen, uint8_t *dst, unsigned *type)
{
	uint8_t iv[12], *hdr = rx->buf + rx->start;
	size_t n = clen - RECORD_TAG;

	if (n > RECORD_MAX_PLAIN + 1) /* 5.4: TLSInnerPlaintext is at most 2^14 + 1 */
		return rx_fail(rx, -EPROTO, ALERT_RECORD_OVERFLOW,
			       "a TLS record longer than 2^14 + 1 bytes (record_overflow)");
	nonce(&rx->k, iv);
	if (tls_aead_open(rx->k.aead, iv, hdr, RECORD_HEADER, hdr + RECORD_HEADER, clen, dst))
		return rx_fail(rx, -EBADMSG, ALERT_BAD_RECORD_MAC,
			       "a TLS record failed authentication (bad_record_mac)");
	rx->k.keys.seq++;
	rx->start += RECORD_HEADER + clen;
	while (n > 0 && dst[n - 1] == 0) /* 5.4: zero padding after the content type */
		n--;
	if (n == 0)
		return rx_fail(rx, -EPROTO, ALERT_UNEXPECTED_MESSAGE,
			       "a TLS record without a content type (unexpected_message)");
	*type = dst[n - 1];
	return (ssize_t)(n - 1);
}

#define LOWAT (256 * 1024)

void rec_rx_expect(struct rec_rx *rx, uint64_t n)
{
	rx->expect = n;
}

/* Before waiting: a high receive low-water mark while more than two of them are to come,
 * the default (1) near the end of the body, so that its last bytes are never held back. */
static void rx_lowat(struct rec_rx *rx)
{
	int want = rx->expect > 2 * LOWAT ? LOWAT : 1;

	if (want != (rx->lowat ? rx->lowat : 1) &&
	    setsockopt(rx->fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) == 0)
		rx->lowat = want;
}

static ssize_t rx_read(struct rec_rx *rx, void *buf, size_t len)
{
	uint8_t *out = buf;
	size_t got = 0;

	if (rx->error)
		return rx->error;
	if (rx->plain_len > 0) {
		got = MIN(len, rx->plain_len);
		memcpy(out, rx->buf + rx->plain, got);
		rx->plain += got;
		rx->plain_len -= got;
		return (ssize_t)got;
	}
	while (got < len && !rx->ev.eof) {
		size_t avail = rx->end - rx->start, clen = 0;
		ssize_t n;
		unsigned type;
		uint8_t *dst;
		int rc;

		if (avail >= RECORD_HEADER) {
			const uint8_t *hdr = rx->buf + rx->start; /* not before: buf is NULL at first */

			clen = (size_t)hdr[3] << 8 | hdr[4];
			if (hdr[0] != RECORD_DATA || hdr[1] != 3 || hdr[2] != 3)
				return got ? (ssize_t)got : rx_fail(rx, -EPROTO, ALERT_UNEXPECTED_MESSAGE,
					"a record that is not TLS 1.3 application_data (unexpected_message)");
			if (clen > RECORD_MAX_CIPHER || clen < RECORD_TAG + 1)
				return got ? (ssize_t)got : rx_fail(rx, -EPROTO, ALERT_RECORD_OVERFLOW,
					"a TLS record of an impossible length (record_overflow)");
		}
		if (avail >= RECORD_HEADER && avail - RECORD_HEADER >= clen) {
			/* Straight into the caller's buffer when the whole inner plaintext fits. */
			dst = len - got >= clen - RECORD_TAG ? out + got
							      : rx->buf + rx->start + RECORD_HEADER;
			n = rx_open(rx, clen, dst, &type);
			if (n < 0)
				return got ? (ssize_t)got : n;
			if (type != RECORD_DATA) {
				rc = rec_control(&rx->ev, type, dst, (size_t)n, rx_next_key, rx);
				if (rc) { /* sticky: the record is consumed, the next call reports it */
					rx_fail(rx, rc, type == RECORD_ALERT ? 0 : ALERT_UNEXPECTED_MESSAGE, NULL);
					return got ? (ssize_t)got : rc;
				}
				continue;
			}
			if (n == 0)
				continue; /* an empty data record, maybe padded: nothing to hand out */
			if (dst != out + got) {
				size_t take = MIN((size_t)n, len - got);

				memcpy(out + got, dst, take);
				rx->plain = (size_t)(dst + take - rx->buf);
				rx->plain_len = (size_t)n - take;
				return (ssize_t)(got + take);
			}
			got += (size_t)n;
			continue;
		}
		/* More bytes: waiting only when nothing is there to return yet. */
		if ((rc = rx_room(rx, len)) < 0)
			return got ? (ssize_t)got : rx_fail(rx, rc, ALERT_INTERNAL_ERROR, "out of memory");
		if (!got)
			rx_lowat(rx);
		n = recv(rx->fd, rx->buf + rx->end, rx->cap - rx->end, got ? MSG_DONTWAIT : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return got ? (ssize_t)got : -EAGAIN;
		if (n < 0)
			return got ? (ssize_t)got : rx_fail(rx, -errno, 0, strerror(errno));
		if (n == 0)
			break; /* a FIN: ev.eof tells the caller whether close_notify came first */
		rx->end += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t rec_read(struct rec_rx *rx, void *buf, size_t len)
{
	ssize_t n = rx_read(rx, buf, len);

	if (n > 0)
		rx->expect -= MIN(rx->expect, (uint64_t)n);
	return n;
}

/* --- sending ------------------------------------------------------------------------- */

#define TX_RECORD (RECORD_HEADER + RECORD_MAX_PLAIN + 1 + RECORD_TAG)

int rec_tx_start(struct rec_tx *tx, int fd, struct tls_keys *k, uint64_t key_limit)
{
	memset(tx, 0, sizeof(*tx));
	tx->fd = fd;
	tx->key_limit = key_limit ? key_limit : UINT64_MAX;
	return key_start(&tx->k, k, true);
}

void rec_tx_end(struct rec_tx *tx)
{
	key_end(&tx->k);
	free(tx->buf);
	tx->buf = NULL;
	tx->cap = tx->off = tx->len = tx->batch = 0;
}

void rec_tx_trim(struct rec_tx *tx)
{
	if (tx->len == 0) {
		free(tx->buf);
		tx->buf = NULL;
		tx->cap = 0;
	}
}

/* Appends one record; the caller made room for it. */
static int seal_one(struct rec_tx *tx, unsigned type, const uint8_t *p, size_t n)
{
	uint8_t iv[12], *hdr = tx->buf + tx->len;
	size_t clen = n + 1 + RECORD_TAG;
	int rc;

	hdr[0] = RECORD_DATA;
	hdr[1] = hdr[2] = 3;
	hdr[3] = (uint8_t)(clen >> 8);
	hdr[4] = (uint8_t)clen;
	nonce(&tx->k, iv);
	rc = tls_aead_seal(tx->k.aead, iv, hdr, RECORD_HEADER, p, n, (uint8_t)type, hdr + RECORD_HEADER);
	if (rc)
		return rc;
	tx->k.keys.seq++;
	tx->len += RECORD_HEADER + clen;
	return 0;
}

/* A KeyUpdate under the old key, then the new key for what follows. */
static int tx_rekey(struct rec_tx *tx)
{
	static const uint8_t key_update[] = { HS_KEY_UPDATE, 0, 0, 1, 0 /* update_not_requested */ };
	int rc = seal_one(tx, RECORD_HANDSHAKE, key_update, sizeof(key_update));

	tx->update_due = false;
	tx->batch_rekeyed = true;
	return rc ? rc : key_next(&tx->k, true);
}

static int tx_room(struct rec_tx *tx, size_t records)
{
	size_t cap = (records + 1) * TX_RECORD; /* + 1: a KeyUpdate or an alert */

	if (cap > tx->cap) {
		uint8_t *b = realloc(tx->buf, cap);

		if (!b)
			return -ENOMEM;
		tx->buf = b;
		tx->cap = cap;
	}
	return 0;
}

ssize_t rec_seal(struct rec_tx *tx, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0, records = MIN((len + RECORD_MAX_PLAIN - 1) / RECORD_MAX_PLAIN, RECORD_BATCH);
	int rc;

	if (tx->error)
		return tx->error;
	if ((rc = tx_room(tx, records)) < 0)
		return rc;
	tx->off = tx->len = 0;
	tx->batch_seq = tx->k.keys.seq;
	tx->batch_rekeyed = false;
	for (size_t i = 0; i < records; i++) {
		size_t n = MIN(len - done, (size_t)RECORD_MAX_PLAIN);

		if (tx->update_due || tx->k.keys.seq >= tx->key_limit)
			rc = tx_rekey(tx);
		if (rc || (rc = seal_one(tx, RECORD_DATA, p + done, n))) {
			snprintf(tx->err, sizeof(tx->err), "sealing a TLS record failed");
			return tx->error = rc;
		}
		done += n;
	}
	tx->batch = done;
	return (ssize_t)done;
}

int rec_flush(struct rec_tx *tx, bool more)
{
	while (tx->off < tx->len) {
		ssize_t n = send(tx->fd, tx->buf + tx->off, tx->len - tx->off,
				 MSG_NOSIGNAL | (more ? MSG_MORE : 0));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return -EAGAIN;
		if (n < 0) {
			snprintf(tx->err, sizeof(tx->err), "%s", strerror(errno));
			return tx->error = -errno;
		}
		tx->off += (size_t)n;
	}
	tx->off = tx->len = 0;
	return 0;
}

void rec_discard(struct rec_tx *tx)
{
	tx->off = tx->len = tx->batch = 0;
	if (tx->batch_rekeyed)
		tx->error = -ENODATA; /* the old key is gone: no record can follow */
	else
		tx->k.keys.seq = tx->batch_seq;
}

ssize_t rec_write(struct rec_tx *tx, const void *buf, size_t len, bool more)
{
	ssize_t n;
	int rc;

	if (tx->error)
		return tx->error;
	if (tx->len == 0 && len > 0 && (n = rec_seal(tx, buf, len)) < 0)
		return n;
	if ((rc = rec_flush(tx, more)) < 0)
		return rc;
	n = (ssize_t)tx->batch;
	tx->batch = 0;
	return n;
}

void rec_alert(struct rec_tx *tx, uint8_t desc)
{
	const uint8_t alert[] = { desc ? 2 /* fatal */ : 1 /* warning */, desc };

	if (tx->error || tx->len > 0 || !tx->k.aead || tx_room(tx, 0) < 0)
		return; /* records still unsent: the stream did not end cleanly anyway */
	if (seal_one(tx, RECORD_ALERT, alert, sizeof(alert)) == 0)
		send(tx->fd, tx->buf, tx->len, MSG_NOSIGNAL | MSG_DONTWAIT);
	tx->off = tx->len = 0;
}

/* --- a connection ---------------------------------------------------------------------- */

void rec_start(struct rec *r, struct tls *t, int fd, bool tx, bool rx, uint64_t key_limit)
{
	struct tls_keys keys;

	if (tx && tls_traffic_keys(t, false, &keys) == 0)
		r->tx_on = rec_tx_start(&r->tx, fd, &keys, key_limit) == 0;
	if (rx && !tls_pending(t) && tls_traffic_keys(t, true, &keys) == 0) {
		r->rx_on = rec_rx_start(&r->rx, fd, &keys) == 0;
		r->rx.answer = r->tx_on ? &r->tx : NULL;
	}
	tls_keys_wipe(&keys);
}

void rec_end(struct rec *r)
{
	if (r->rx_on)
		rec_rx_end(&r->rx);
	if (r->tx_on)
		rec_tx_end(&r->tx);
	r->rx_on = r->tx_on = false;
}

void rec_close(struct rec *r)
{
	rec_alert(&r->tx, r->rx_on ? r->rx.alert : 0);
}

void rec_idle(struct rec *r)
{
	if (r->rx_on)
		rec_rx_trim(&r->rx);
	if (r->tx_on)
		rec_tx_trim(&r->tx);
}
