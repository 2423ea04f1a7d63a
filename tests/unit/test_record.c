/* Unit tests for src/record.c, the userspace TLS 1.3 record layer.
 *
 * 1. A recorded session: OpenSSL itself (memory BIOs, one thread) completes a TLS 1.3
 *    handshake for each cipher, then its server writes session tickets, data of several
 *    sizes, block-padded records, a KeyUpdate that requests ours, and close_notify.  The
 *    client's receive keys come from the keylog callback.  Those exact bytes are fed to
 *    rec_read through a socket, split in two at every byte offset, and must give back the
 *    plaintext, the end of stream and the key-update request.
 * 2. Records built by hand with the AEAD, for what OpenSSL never sends: zero-length data
 *    records, records padded to the maximum, one byte over it, no content type, tampered
 *    bytes, a wrong header, fatal alerts, a FIN without close_notify.
 * 3. rec_tx against rec_rx: KeyUpdates at the key limit, close_notify, discarded batches.
 * 4. The keylog line parser (tls_keylog_parse). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "record.h"
#include "tls.h"
#include "unit.h"

static const struct {
	const char *suite;
	enum tls_aead aead;
	size_t secret_len;
} suites[] = {
	{ "TLS_AES_128_GCM_SHA256", TLS_AEAD_AES_128_GCM, 32 },
	{ "TLS_AES_256_GCM_SHA384", TLS_AEAD_AES_256_GCM, 48 },
	{ "TLS_CHACHA20_POLY1305_SHA256", TLS_AEAD_CHACHA20_POLY1305, 32 },
};

struct bytes {
	uint8_t *p;
	size_t len;
};

static void append(struct bytes *b, const void *p, size_t n)
{
	b->p = realloc(b->p, b->len + n + 1);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* --- 1. a session recorded from OpenSSL ------------------------------------------------- */

static uint8_t server_secret[48];
static size_t server_secret_len;

static void keylog(const SSL *ssl, const char *line)
{
	const char *hex;

	if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) || !(hex = strchr(line + 24, ' ')))
		return;
	server_secret_len = strlen(hex + 1) / 2;
	for (size_t i = 0; i < server_secret_len; i++)
		sscanf(hex + 1 + 2 * i, "%2hhx", &server_secret[i]);
}

static void drain(BIO *from, BIO *to, struct bytes *rec)
{
	uint8_t buf[16384];
	int n;

	while ((n = BIO_read(from, buf, sizeof(buf))) > 0) {
		if (to)
			BIO_write(to, buf, n);
		if (rec)
			append(rec, buf, (size_t)n);
	}
}

/* What the server sends after the handshake, as bytes on the wire, and the plaintext. */
static int record_session(const char *suite, const char *dir, struct bytes *wire, struct bytes *plain)
{
	char cert[512], key[512], err[256];
	bool created;
	SSL_CTX *sc = SSL_CTX_new(TLS_server_method()), *cc = SSL_CTX_new(TLS_client_method());
	SSL *s, *c;
	BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
	BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
	static uint8_t data[40000];
	const size_t sizes[] = { 1, 100, 16384, 3000, 0 /* KeyUpdate here */, 5000, 777 };
	int done_c = 0, done_s = 0, rounds = 0;

	if (tls_selfsigned(dir, cert, key, sizeof(cert), &created, err, sizeof(err)))
		return -1;
	SSL_CTX_set_min_proto_version(sc, TLS1_3_VERSION);
	SSL_CTX_set_min_proto_version(cc, TLS1_3_VERSION);
	SSL_CTX_set_ciphersuites(sc, suite);
	SSL_CTX_set_ciphersuites(cc, suite);
	SSL_CTX_use_certificate_chain_file(sc, cert);
	SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM);
	SSL_CTX_set_keylog_callback(sc, keylog);
	s = SSL_new(sc);
	c = SSL_new(cc);
	SSL_set_bio(s, s_in, s_out);
	SSL_set_bio(c, c_in, c_out);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	/* The client finishes first (after its Finished); the server's tickets, written when
	 * it reads that Finished, are the first bytes the record layer must handle. */
	while (!(done_c && done_s) && rounds++ < 20) {
		if (!done_c)
			done_c = SSL_do_handshake(c) == 1;
		drain(c_out, s_in, NULL);
		if (!done_s)
			done_s = SSL_do_handshake(s) == 1;
		drain(s_out, done_c ? NULL : c_in, done_c ? wire : NULL);
	}
	RAND_bytes(data, sizeof(data));
	for (size_t i = 0, off = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (i == 3)
			SSL_set_block_padding(s, 512); /* padded records from here on */
		if (sizes[i] == 0) {
			SSL_key_update(s, SSL_KEY_UPDATE_REQUESTED);
			continue;
		}
		SSL_write(s, data + off, (int)sizes[i]);
		append(plain, data + off, sizes[i]);
		off += sizes[i];
		drain(s_out, NULL, wire);
	}
	SSL_shutdown(s);
	drain(s_out, NULL, wire);
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sc);
	SSL_CTX_free(cc);
	return done_c && done_s ? 0 : -1;
}

static int sock_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	return 0;
}

/* Reads until -EAGAIN (more == true) or the end of the stream; appends to out. */
static ssize_t read_all(struct rec_rx *rx, struct bytes *out, size_t chunk, bool more)
{
	uint8_t *buf = malloc(chunk);
	ssize_t n;

	while ((n = rec_read(rx, buf, chunk)) > 0)
		append(out, buf, (size_t)n);
	free(buf);
	return n == -EAGAIN && more ? 0 : n;
}

/* Feeds wire[0, split) then the rest; true when all the plaintext came back, then EOF. */
static bool feed_split(const struct tls_keys *keys, const struct bytes *wire,
		       const struct bytes *plain, size_t split, size_t chunk, bool *updated)
{
	struct tls_keys k = *keys;
	struct rec_rx rx;
	struct rec_tx answer = { 0 };
	struct bytes out = { 0 };
	int sv[2];
	bool ok;
	ssize_t rc;

	if (sock_pair(sv) || rec_rx_start(&rx, sv[0], &k))
		return false;
	rx.answer = &answer;
	ok = write(sv[1], wire->p, split) == (ssize_t)split && read_all(&rx, &out, chunk, true) == 0;
	ok = ok && write(sv[1], wire->p + split, wire->len - split) == (ssize_t)(wire->len - split);
	shutdown(sv[1], SHUT_WR);
	rc = read_all(&rx, &out, chunk, false);
	ok = ok && rc == 0 && rx.ev.eof && out.len == plain->len && !memcmp(out.p, plain->p, out.len);
	*updated = answer.update_due;
	rec_rx_end(&rx);
	close(sv[0]);
	close(sv[1]);
	free(out.p);
	return ok;
}

static void test_recorded(const char *dir)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		struct bytes wire = { 0 }, plain = { 0 };
		struct tls_keys k = { .aead = suites[i].aead };
		size_t bad = 0, split;
		bool updated = false, all_updated = true;
		char name[200];

		server_secret_len = 0;
		snprintf(name, sizeof(name), "%s: OpenSSL records a session", suites[i].suite);
		if (!CHECK(name, record_session(suites[i].suite, dir, &wire, &plain) == 0 &&
			   server_secret_len == suites[i].secret_len))
			continue;
		memcpy(k.secret, server_secret, server_secret_len);
		k.secret_len = server_secret_len;
		tls_keys_derive(&k);
		for (split = 0; split <= wire.len; split++) {
			if (!feed_split(&k, &wire, &plain, split, 20000, &updated))
				bad++;
			all_updated = all_updated && updated;
		}
		snprintf(name, sizeof(name), "%s: %zu bytes of records split at each of %zu offsets: "
			 "tickets, padding, KeyUpdate, close_notify", suites[i].suite, wire.len, wire.len + 1);
		CHECK_INT(name, bad, 0);
		snprintf(name, sizeof(name), "%s: the peer's KeyUpdate request reaches our sending side",
			 suites[i].suite);
		CHECK(name, all_updated);
		for (size_t chunk = 1; chunk <= 4096; chunk = chunk * 13 + 2) {
			snprintf(name, sizeof(name), "%s: read %zu bytes at a time", suites[i].suite, chunk);
			CHECK(name, feed_split(&k, &wire, &plain, wire.len / 2, chunk, &updated));
		}
		tls_keys_wipe(&k);
		free(wire.p);
		free(plain.p);
	}
}

/* --- 2. records built by hand ---------------------------------------------------------- */

struct sealer {
	struct tls_keys k;
	struct tls_aead_ctx *a;
};

static void seal_init(struct sealer *s, enum tls_aead aead, size_t secret_len)
{
	tls_aead_free(s->a); /* the previous case's */
	memset(s, 0, sizeof(*s));
	s->k.aead = aead;
	s->k.secret_len = secret_len;
	RAND_bytes(s->k.secret, (int)secret_len);
	tls_keys_derive(&s->k);
	tls_aead_new(&s->k, true, &s->a);
}

/* One record: data, inner type, pad zero bytes. */
static void seal(struct sealer *s, struct bytes *out, unsigned type, const void *data, size_t n, size_t pad)
{
	size_t inner = n + 1 + pad, clen = inner + RECORD_TAG;
	uint8_t hdr[5] = { 23, 3, 3, (uint8_t)(clen >> 8), (uint8_t)clen }, nonce[12];
	uint8_t *in = calloc(1, inner + RECORD_TAG), *ct = malloc(clen);
	uint64_t seq = s->k.seq++;

	memcpy(in, data, n);
	in[n] = (uint8_t)type;
	memcpy(nonce, s->k.iv, 12);
	for (int i = 11; i >= 4; i--, seq >>= 8)
		nonce[i] ^= (uint8_t)seq;
	/* tls_aead_seal appends one byte after in: the last byte of the inner plaintext. */
	tls_aead_seal(s->a, nonce, hdr, 5, in, inner - 1, in[inner - 1], ct);
	append(out, hdr, 5);
	append(out, ct, clen);
	free(in);
	free(ct);
}

/* Runs wire through a fresh receiver, reading chunk bytes at a time; returns the last
 * rec_read result, plaintext in out. */
static ssize_t receive_in(const struct sealer *s, const struct bytes *wire, bool fin, struct bytes *out,
			  struct rec_rx *rx, size_t chunk)
{
	struct tls_keys k = s->k;
	int sv[2];
	ssize_t rc;

	k.seq = 0;
	if (sock_pair(sv) || rec_rx_start(rx, sv[0], &k))
		return -999;
	if (write(sv[1], wire->p, wire->len) != (ssize_t)wire->len)
		return -998;
	if (fin)
		shutdown(sv[1], SHUT_WR);
	rc = read_all(rx, out, chunk, !fin);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static ssize_t receive(const struct sealer *s, const struct bytes *wire, bool fin, struct bytes *out,
		       struct rec_rx *rx)
{
	return receive_in(s, wire, fin, out, rx, 20000);
}

static void test_handmade(void)
{
	static uint8_t big[RECORD_MAX_PLAIN];
	static const uint8_t close_notify[] = { 1, 0 }, fatal[] = { 2, 40 };

	RAND_bytes(big, sizeof(big));
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		const char *cs = suites[i].suite;
		struct sealer s = { 0 };
		struct rec_rx rx;
		struct bytes w = { 0 }, out = { 0 };
		char name[200];
		ssize_t rc;

#define CASE(label) snprintf(name, sizeof(name), "%s: %s", cs, label)
#define RESET() (free(w.p), free(out.p), memset(&w, 0, sizeof(w)), memset(&out, 0, sizeof(out)), \
		 seal_init(&s, suites[i].aead, suites[i].secret_len))
		RESET();
		seal(&s, &w, RECORD_DATA, "abc", 3, 0);
		seal(&s, &w, RECORD_DATA, "", 0, 0);
		seal(&s, &w, RECORD_DATA, "", 0, 40);
		seal(&s, &w, RECORD_DATA, "def", 3, 0);
		seal(&s, &w, RECORD_ALERT, close_notify, 2, 0);
		rc = receive(&s, &w, true, &out, &rx);
		CASE("zero-length data records are skipped");
		CHECK(name, rc == 0 && rx.ev.eof && out.len == 6 && !memcmp(out.p, "abcdef", 6));
		rec_rx_end(&rx);

		/* Found by fuzzing (fuzz_record): a padded empty record that did not fit the
		 * caller's buffer was opened in place and returned 0, the end of the stream. */
		RESET();
		seal(&s, &w, RECORD_DATA, "", 0, 24);
		seal(&s, &w, RECORD_DATA, "", 0, 0);
		seal(&s, &w, RECORD_DATA, "xyz", 3, 0);
		rc = receive_in(&s, &w, true, &out, &rx, 1);
		CASE("a padded zero-length data record read 1 byte at a time is not the end");
		CHECK(name, rc == 0 && !rx.ev.eof && out.len == 3 && !memcmp(out.p, "xyz", 3));
		rec_rx_end(&rx);

		RESET();
		seal(&s, &w, RECORD_DATA, big, sizeof(big), 0);
		seal(&s, &w, RECORD_DATA, big, 100, RECORD_MAX_PLAIN - 100);
		seal(&s, &w, RECORD_ALERT, close_notify, 2, 0);
		rc = receive(&s, &w, true, &out, &rx);
		CASE("maximum-size records: 2^14 bytes, and 100 bytes padded to 2^14 + 1");
		CHECK(name, rc == 0 && out.len == sizeof(big) + 100 && !memcmp(out.p, big, sizeof(big)) &&
		      !memcmp(out.p + sizeof(big), big, 100));
		rec_rx_end(&rx);

		RESET();
		seal(&s, &w, RECORD_DATA, big, 100, RECORD_MAX_PLAIN - 99);
		rc = receive(&s, &w, true, &out, &rx);
		CASE("an inner plaintext one byte over 2^14 + 1: record_overflow, nothing returned");
		CHECK(name, rc == -EPROTO && out.len == 0 && rx.alert == 22);
		rec_rx_end(&rx);

		for (int where = 0; where < 3; where++) {
			static const char *const what[] = { "ciphertext", "tag", "header length" };

			RESET();
			seal(&s, &w, RECORD_DATA, "good", 4, 0);
			seal(&s, &w, RECORD_DATA, big, 1000, 0);
			seal(&s, &w, RECORD_DATA, "after", 5, 0);
			/* the second record starts at 5 + 4 + 17 */
			w.p[26 + (where == 0 ? 5 + 500 : where == 1 ? 5 + 1000 + 1 + 3 : 4)] ^= 0x01;
			rc = receive(&s, &w, true, &out, &rx);
			snprintf(name, sizeof(name), "%s: a tampered %s: bad_record_mac%s, the record before "
				 "it delivered, nothing of it or after it", cs, what[where],
				 where == 2 ? " or a framing error" : "");
			CHECK(name, (rc == -EBADMSG || (where == 2 && rc < 0)) && out.len == 4 &&
			      !memcmp(out.p, "good", 4) && rx.error == rc);
			if (where < 2)
				CHECK(name, strstr(rx.ev.err, "bad_record_mac") && rx.alert == 20);
			rec_rx_end(&rx);
		}

		RESET();
		seal(&s, &w, RECORD_DATA, "x", 1, 0);
		w.p[0] = RECORD_HANDSHAKE;
		rc = receive(&s, &w, true, &out, &rx);
		CASE("an outer type other than application_data: unexpected_message");
		CHECK(name, rc == -EPROTO && out.len == 0 && rx.alert == 10);
		rec_rx_end(&rx);

		RESET();
		seal(&s, &w, 0, "", 0, 30); /* 31 zero bytes: no content type at all */
		rc = receive(&s, &w, true, &out, &rx);
		CASE("an inner plaintext of zeros only (no content type): unexpected_message");
		CHECK(name, rc == -EPROTO && rx.alert == 10);
		rec_rx_end(&rx);

		RESET();
		seal(&s, &w, RECORD_DATA, "hi", 2, 0);
		seal(&s, &w, RECORD_ALERT, fatal, 2, 0);
		rc = receive(&s, &w, true, &out, &rx);
		CASE("a fatal alert from the peer is named");
		CHECK(name, rc == -EPROTO && out.len == 2 && strstr(rx.ev.err, "handshake_failure"));
		rec_rx_end(&rx);

		RESET();
		seal(&s, &w, RECORD_DATA, "cut", 3, 0);
		seal(&s, &w, RECORD_DATA, big, 5000, 0);
		w.len -= 100; /* the last record cut short by a FIN */
		rc = receive(&s, &w, true, &out, &rx);
		CASE("a FIN without close_notify: end of stream, not clean");
		CHECK(name, rc == 0 && !rx.ev.eof && out.len == 3);
		rec_rx_end(&rx);

		RESET();
		seal(&s, &w, RECORD_ALERT, close_notify, 2, 0);
		append(&w, "garbage after close_notify", 26);
		rc = receive(&s, &w, true, &out, &rx);
		CASE("bytes after close_notify are never read");
		CHECK(name, rc == 0 && rx.ev.eof && out.len == 0);
		rec_rx_end(&rx);

		RESET();
		seal(&s, &w, RECORD_DATA, "waiting", 7, 0);
		w.len -= 1;
		rc = receive(&s, &w, false, &out, &rx);
		CASE("half a record on a non-blocking socket: -EAGAIN after the whole ones");
		CHECK(name, rc == 0 && out.len == 0 && rx.error == 0);
		rec_rx_end(&rx);
		free(w.p);
		free(out.p);
		tls_aead_free(s.a);
		tls_keys_wipe(&s.k);
	}
}

/* --- 3. our sender against our receiver --------------------------------------------- */

struct writer {
	struct rec_tx tx;
	const uint8_t *p;
	size_t len;
	bool discard;
};

static void *write_all(void *arg)
{
	struct writer *w = arg;
	size_t off = 0;

	while (off < w->len) {
		ssize_t n = rec_write(&w->tx, w->p + off, w->len - off, false);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (w->discard) { /* sealed, thrown away: the close_notify after it must still open */
		rec_seal(&w->tx, w->p, 40000);
		rec_discard(&w->tx);
	}
	rec_alert(&w->tx, 0);
	shutdown(w->tx.fd, SHUT_WR);
	return NULL;
}

static void test_roundtrip(void)
{
	enum { LEN = 1 << 20 };
	uint8_t *data = malloc(LEN);

	RAND_bytes(data, LEN);
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		struct tls_keys k = { .aead = suites[i].aead, .secret_len = suites[i].secret_len };
		struct tls_keys k0, k2;
		struct writer w = { .p = data, .len = LEN, .discard = true };
		struct rec_rx rx;
		struct bytes out = { 0 };
		pthread_t th;
		int sv[2];
		ssize_t rc;
		char name[200];

		RAND_bytes(k.secret, (int)k.secret_len);
		tls_keys_derive(&k);
		k0 = k2 = k;
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		rec_tx_start(&w.tx, sv[1], &k, 7); /* a KeyUpdate every 7 records */
		rec_rx_start(&rx, sv[0], &k2);
		pthread_create(&th, NULL, write_all, &w);
		rc = read_all(&rx, &out, 300000, false);
		pthread_join(th, NULL);
		snprintf(name, sizeof(name), "%s: 1 MiB through rec_tx and rec_rx with a KeyUpdate every "
			 "7 records, a discarded batch, close_notify", suites[i].suite);
		CHECK(name, rc == 0 && rx.ev.eof && out.len == LEN && !memcmp(out.p, data, LEN));
		snprintf(name, sizeof(name), "%s: both sides are on the same key generation",
			 suites[i].suite);
		CHECK(name, !memcmp(rx.k.keys.secret, w.tx.k.keys.secret, k.secret_len) &&
		      memcmp(rx.k.keys.secret, k0.secret, k0.secret_len));
		rec_rx_end(&rx);
		rec_tx_end(&w.tx);
		close(sv[0]);
		close(sv[1]);
		free(out.p);
		tls_keys_wipe(&k0);
	}
	free(data);
}

/* 4. tls_keylog_parse, the line parser behind tls.c's keylog callback. */
static void test_keylog(void)
{
	static const char rnd[] = "0102030405060708091011121314151617181920212223242526272829303132";
	char line[300];
	uint8_t sec[48];
	size_t len = 0;
	int dir = -1;

	snprintf(line, sizeof(line), "CLIENT_TRAFFIC_SECRET_0 %s %s", rnd, "00ff" "ab" "12");
	CHECK("keylog: client secret", tls_keylog_parse(line, &dir, sec, sizeof(sec), &len) == 0 &&
	      dir == 0 && len == 4 && sec[0] == 0 && sec[1] == 0xff && sec[2] == 0xab && sec[3] == 0x12);
	snprintf(line, sizeof(line), "SERVER_TRAFFIC_SECRET_0 %s %s%.32s", rnd, rnd, rnd);
	CHECK("keylog: server secret of 48 bytes", tls_keylog_parse(line, &dir, sec, 48, &len) == 0 &&
	      dir == 1 && len == 48);
	CHECK("keylog: a secret longer than the buffer", tls_keylog_parse(line, &dir, sec, 32, &len) == -EINVAL);
	snprintf(line, sizeof(line), "SERVER_TRAFFIC_SECRET_0 %s abc", rnd);
	CHECK("keylog: an odd number of digits", tls_keylog_parse(line, &dir, sec, 48, &len) == -EINVAL);
	snprintf(line, sizeof(line), "CLIENT_TRAFFIC_SECRET_0 %s zz", rnd);
	dir = -1;
	CHECK("keylog: not hex: -EBADMSG, direction known", tls_keylog_parse(line, &dir, sec, 48, &len) == -EBADMSG &&
	      dir == 0);
	CHECK("keylog: no secret after the random",
	      tls_keylog_parse("CLIENT_TRAFFIC_SECRET_0 0102", &dir, sec, 48, &len) == -EINVAL);
	snprintf(line, sizeof(line), "CLIENT_HANDSHAKE_TRAFFIC_SECRET %s 00ff", rnd);
	CHECK("keylog: other labels are not ours", tls_keylog_parse(line, &dir, sec, 48, &len) == -ENOENT);
	CHECK("keylog: an empty line", tls_keylog_parse("", &dir, sec, 48, &len) == -ENOENT);
}

int main(void)
{
	char dir[] = "/tmp/kxfer-rec.XXXXXX";

	if (!mkdtemp(dir))
		return 1;
	test_recorded(dir);
	test_handmade();
	test_roundtrip();
	test_keylog();
	unlink(strcat(strcpy((char[600]){ 0 }, dir), "/cert.pem"));
	unlink(strcat(strcpy((char[600]){ 0 }, dir), "/key.pem"));
	rmdir(dir);
	return unit_done();
}
