/* The userspace record layer's receive side (rec_read): record framing, the AEAD, padding
 * stripping, control records (rec_control) and KeyUpdate following.  To get past the AEAD
 * the input describes plaintext records, which the harness seals with a fixed key as a
 * peer would (following its own KeyUpdates), flipping one byte of a record where the input
 * says so; the ciphertext goes through a socketpair to rec_read, read in small or large
 * pieces.
 *
 * Input: one flags byte (bits 0-1 the cipher, 2-4 the read size, 5 cycle the read sizes),
 * then records: type (bits 0-1: data, handshake, alert, or a raw type byte that follows;
 * bit 7: flip a byte, at the position the next byte gives), padding (bit 7: x128), a 2-byte
 * content length, the content.
 *
 * Oracle: whatever rec_read returns is a prefix of the data records' contents in order;
 * when every record is an untampered data record within the limits, it is all of them,
 * then 0 without close_notify. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "record.h"

#define MAX_STREAM (96 * 1024) /* ciphertext per input: fits a socket buffer, never blocks */

static const size_t read_sizes[] = { 1, 3, 16, 100, 4096, 16385, 65536, 300000 };

struct peer {
	struct tls_keys k;
	struct tls_aead_ctx *aead;
};

/* The fixed starting key of each cipher, derived once. */
static int start_keys(unsigned which, struct tls_keys *out)
{
	static struct tls_keys keys[3];
	static bool done[3];
	static const enum tls_aead aead[3] = { TLS_AEAD_AES_128_GCM, TLS_AEAD_AES_256_GCM,
					       TLS_AEAD_CHACHA20_POLY1305 };

	if (!done[which]) {
		struct tls_keys *k = &keys[which];

		k->aead = aead[which];
		k->secret_len = k->aead == TLS_AEAD_AES_256_GCM ? 48 : 32;
		memset(k->secret, 0x42 + (int)which, k->secret_len);
		if (tls_keys_derive(k))
			return -EIO;
		done[which] = true;
	}
	*out = keys[which];
	return 0;
}

/* As rec_control walks a handshake record: the peer follows each KeyUpdate it sent. */
static int peer_follow(struct peer *s, const uint8_t *p, size_t n)
{
	while (n >= 4) {
		size_t len = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];

		if (len > n - 4)
			break;
		if (p[0] == 24) {
			if (len != 1 || p[4] > 1)
				break;
			tls_aead_free(s->aead);
			s->aead = NULL;
			if (tls_keys_update(&s->k) || tls_aead_new(&s->k, true, &s->aead))
				return -EIO;
		} else if (p[0] != 4) {
			break;
		}
		p += 4 + len;
		n -= 4 + len;
	}
	return 0;
}

/* Seals inner = content || type || zeros as one record at out; returns its length. */
static size_t seal(struct peer *s, const uint8_t *content, size_t n, unsigned type, size_t pad,
		   uint8_t *out)
{
	size_t inner = n + 1 + pad, clen = inner + RECORD_TAG;
	uint8_t iv[12], *body = out + RECORD_HEADER;
	uint64_t seq = s->k.seq;

	memcpy(iv, s->k.iv, 12);
	for (int i = 11; i >= 4; i--, seq >>= 8)
		iv[i] ^= (uint8_t)seq;
	out[0] = RECORD_DATA;
	out[1] = out[2] = 3;
	out[3] = (uint8_t)(clen >> 8);
	out[4] = (uint8_t)clen;
	memcpy(body, content, n);
	body[n] = (uint8_t)type;
	memset(body + n + 1, 0, pad);
	/* tls_aead_seal appends a last byte itself: seal inner minus its last byte. */
	if (tls_aead_seal(s->aead, iv, out, RECORD_HEADER, body, inner - 1, body[inner - 1], body))
		return 0;
	s->k.seq++;
	return RECORD_HEADER + clen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned types[3] = { RECORD_DATA, RECORD_HANDSHAKE, RECORD_ALERT };
	struct peer s = { 0 };
	struct tls_keys rk, tk;
	struct rec_rx rx;
	struct rec_tx tx;
	uint8_t *stream = NULL, *want = NULL, *got = NULL;
	size_t slen = 0, wlen = 0, glen = 0, i = 1, sent = 0;
	bool clean = true; /* only untampered data records within the limits */
	unsigned flags, which;
	int fds[2] = { -1, -1 }, rounds = 0;
	ssize_t n = 0;

	if (size < 1)
		return 0;
	flags = data[0];
	which = (flags & 3) % 3;
	if (start_keys(which, &s.k) || tls_aead_new(&s.k, true, &s.aead))
		abort();
	stream = malloc(MAX_STREAM + RECORD_HEADER + 65536 + 64);
	want = malloc(size + 1);
	got = malloc(size + 1);
	if (!stream || !want || !got)
		goto out;

	while (i + 4 <= size) {
		unsigned t = data[i], p = data[i + 1], type;
		size_t len = (size_t)data[i + 2] << 8 | data[i + 3], pad, rlen, eff, flip = 0;

		i += 4;
		type = (t & 3) < 3 ? types[t & 3] : 0;
		if ((t & 3) == 3) {
			if (i >= size)
				break;
			type = data[i++];
		}
		if (t & 0x80) {
			if (i >= size)
				break;
			flip = (size_t)data[i++] + 1;
		}
		pad = p & 0x80 ? (size_t)(p & 0x7f) * 128 : p & 0x7f;
		len = len < size - i ? len : size - i;
		if (len > RECORD_MAX_PLAIN + 300)
			len = RECORD_MAX_PLAIN + 300;
		if (slen + RECORD_HEADER + len + 1 + pad + RECORD_TAG > MAX_STREAM)
			break;
		rlen = seal(&s, data + i, len, type, pad, stream + slen);
		if (!rlen)
			abort();
		if (flip) {
			stream[slen + (flip - 1) % rlen] ^= (uint8_t)(1u << (flip % 8));
			clean = false;
		}
		if (type != RECORD_DATA || len + 1 + pad > RECORD_MAX_PLAIN + 1)
			clean = false;
		/* What the receiver will see once it strips the zeros: with type 0, the content's
		 * own last non-zero byte is the type. */
		if (type == 0) {
			size_t m = len;

			while (m > 0 && data[i + m - 1] == 0)
				m--;
			type = m ? data[i + m - 1] : 0;
			eff = m ? m - 1 : 0;
		} else {
			eff = len;
		}
		if (type == RECORD_DATA) {
			memcpy(want + wlen, data + i, eff);
			wlen += eff;
		} else if (type == RECORD_HANDSHAKE && peer_follow(&s, data + i, eff)) {
			abort();
		}
		slen += rlen;
		i += len;
	}

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds))
		goto out;
	while (sent < slen) {
		ssize_t w = send(fds[1], stream + sent, slen - sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w <= 0)
			break;
		sent += (size_t)w;
	}
	if (sent < slen)
		clean = false; /* the socket would not take it all: a truncated stream */
	shutdown(fds[1], SHUT_WR);

	if (start_keys(which, &rk) || start_keys((which + 1) % 3, &tk))
		abort();
	if (rec_rx_start(&rx, fds[0], &rk) || rec_tx_start(&tx, fds[1], &tk, 0))
		abort();
	rx.answer = &tx; /* a KeyUpdate that asks for ours sets tx.update_due */
	rec_rx_expect(&rx, wlen);
	for (;;) {
		size_t rs = read_sizes[flags & 0x20 ? (size_t)(((flags >> 2) + rounds) % 8) : (flags >> 2) % 8];
		uint8_t *buf = malloc(rs); /* exactly rs: ASan sees a write past the caller's buffer */

		if (!buf)
			break;
		n = rec_read(&rx, buf, rs);
		if (n > 0) {
			FUZZ_ASSERT((size_t)n <= rs && glen + (size_t)n <= wlen);
			memcpy(got + glen, buf, (size_t)n);
			glen += (size_t)n;
		}
		free(buf);
		if (n <= 0 || ++rounds > 100000)
			break;
		if (rounds % 3 == 0)
			rec_rx_trim(&rx);
	}
	/* Never a byte that was not sent, never out of order; an error sticks. */
	FUZZ_ASSERT(memcmp(got, want, glen) == 0);
	FUZZ_ASSERT(n <= 0);
	if (n < 0) {
		FUZZ_ASSERT(n == -EBADMSG || n == -EPROTO || n == -ENOMEM || n == -EIO);
		FUZZ_ASSERT(rec_read(&rx, got, 1) == n && rx.ev.err[0]);
	}
	if (clean)
		FUZZ_ASSERT(n == 0 && glen == wlen && !rx.ev.eof);
	rec_rx_end(&rx);
	rec_tx_end(&tx);
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	tls_aead_free(s.aead);
	free(stream);
	free(want);
	free(got);
	return 0;
}
