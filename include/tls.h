/* TLS through OpenSSL: contexts, handshakes, record I/O (tls.c, libssl); the key schedule,
 * certificates and library facts (crypto.c, libcrypto).  This is the only module that
 * knows OpenSSL's types; everything else sees the opaque structs below. */
#ifndef KXFER_TLS_H
#define KXFER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tls_ctx;
struct tls;

/* Non-negative results are byte counts; these ask the caller to wait for readiness. */
#define TLS_WANT_READ  (-10001)
#define TLS_WANT_WRITE (-10002)

#define TLS_DEFAULT_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
/* TLS 1.2 (serve --tls12, and what clients offer): Mozilla's "intermediate" profile less its
 * DHE suites, i.e. ECDHE with an AEAD only (no CBC, no static RSA key exchange). */
#define TLS12_DEFAULT_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct tls_config {
	const char *cert_file, *key_file; /* server: required; client: optional client cert */
	const char *ca_file;              /* server: client CA (mutual TLS); client: trust store */
	const char *ciphers;              /* OpenSSL names, ':'-separated; NULL: default */
	bool tls12;                       /* allow TLS 1.2 (server) */
	bool ktls;                        /* let OpenSSL install kTLS keys where it can */
	bool insecure;                    /* client: no verification at all */
	const uint8_t *pin;               /* client: SHA-256 of the leaf (32 bytes) instead of a CA */
};

int tls_server_ctx(const struct tls_config *cfg, struct tls_ctx **out, char *err, size_t errlen);
int tls_client_ctx(const struct tls_config *cfg, struct tls_ctx **out, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);

/* A connection on a connected socket.  host: the server name to verify and send as SNI
 * (clients); NULL on a server. */
int tls_new(struct tls_ctx *ctx, int fd, const char *host, struct tls **out);
void tls_free(struct tls *t);

/* 0 when the handshake is complete, TLS_WANT_*, or a negative errno (tls_error says why). */
int tls_handshake(struct tls *t);
/* > 0 bytes, 0 at the peer's close_notify, TLS_WANT_*, or a negative errno. */
ssize_t tls_read(struct tls *t, void *buf, size_t len);
/* > 0 bytes written (possibly fewer than len), TLS_WANT_*, or a negative errno. */
ssize_t tls_write(struct tls *t, const void *buf, size_t len);
/* Sends close_notify, best effort (never waits for the peer's). */
void tls_close_notify(struct tls *t);
/* Sends a KeyUpdate with the next write (userspace sending only: OpenSSL 3.0 would not
 * change a kernel's key). */
int tls_key_update(struct tls *t);
/* Plaintext OpenSSL holds that has not been read yet. */
bool tls_pending(struct tls *t);
/* Read whole socket buffers at a time from now on (userspace receive path). */
void tls_read_ahead(struct tls *t);

const char *tls_error(const struct tls *t);
/* What kind of failure the last error was: an enum m_hs_fail (metrics.h). */
int tls_failure(const struct tls *t);
/* The SHA-256 (hex) and expiry (Unix time) of the certificate a context presents. */
int tls_ctx_cert(const struct tls_ctx *ctx, char hex[65], int64_t *not_after);
const char *tls_version(const struct tls *t);
const char *tls_cipher(const struct tls *t);
/* Did OpenSSL hand this direction to the kernel (kTLS)? */
bool tls_ktls_tx(const struct tls *t);
bool tls_ktls_rx(const struct tls *t);

/* The traffic keys of one direction, for handing that direction to the kernel. */
enum tls_aead { TLS_AEAD_NONE, TLS_AEAD_AES_128_GCM, TLS_AEAD_AES_256_GCM, TLS_AEAD_CHACHA20_POLY1305 };

struct tls_keys {
	enum tls_aead aead;
	uint8_t key[32];
	size_t key_len;
	uint8_t iv[12];
	uint8_t secret[48];      /* the traffic secret the key and iv came from */
	size_t secret_len;
	uint64_t seq;            /* the sequence number of the next record under this key */
};

/* TLS 1.3 keys for receiving (the peer's direction) or sending, derived from the traffic
 * secret the keylog callback saw (HKDF-Expand-Label, RFC 8446 7.3), with the sequence number
 * of the next record OpenSSL would have read or written (it counts records through its
 * message callback).  -EPROTONOSUPPORT for TLS 1.2 or an unknown suite; -ENOKEY when the
 * secret was not captured.  From then on the caller owns that direction: OpenSSL must not
 * read (or write) another record in it. */
int tls_traffic_keys(struct tls *t, bool receive, struct tls_keys *out);
/* One line of OpenSSL's keylog callback: "CLIENT_TRAFFIC_SECRET_0 <random> <hex>" (*dir 0)
 * or "SERVER_TRAFFIC_SECRET_0 ..." (*dir 1) decoded into secret (cap bytes), *len its
 * length.  0; -ENOENT for any other line; -EINVAL for a secret of a bad length; -EBADMSG
 * (*dir set) for one that is not hex. */
int tls_keylog_parse(const char *line, int *dir, uint8_t *secret, size_t cap, size_t *len);
/* After a KeyUpdate: the next generation ("traffic upd", RFC 8446 7.2), in place; seq 0. */
int tls_keys_update(struct tls_keys *k);
/* Key and IV from k->secret for k->aead (HKDF-Expand-Label "key" and "iv"). */
int tls_keys_derive(struct tls_keys *k);
void tls_keys_wipe(struct tls_keys *k);

/* An AEAD keyed for one direction of a TLS 1.3 connection (record.c seals and opens records
 * with it; the OpenSSL context stays in crypto.c). */
struct tls_aead_ctx;
int tls_aead_new(const struct tls_keys *k, bool seal, struct tls_aead_ctx **out);
void tls_aead_free(struct tls_aead_ctx *a);
/* out = ciphertext of in (len bytes) followed by the byte `last` (the inner content type),
 * then the 16-byte tag: len + 17 bytes.  in and out may be the same buffer. */
int tls_aead_seal(struct tls_aead_ctx *a, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
		  const uint8_t *in, size_t len, uint8_t last, uint8_t *out);
/* Checks the tag (the last 16 of len bytes) and decrypts the rest into out (in == out is
 * decryption in place): 0, or -EBADMSG when the record is not authentic (out then holds
 * nothing usable). */
int tls_aead_open(struct tls_aead_ctx *a, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
		  const uint8_t *in, size_t len, uint8_t *out);

/* Loads STATE_DIR/cert.pem and key.pem, generating a self-signed ECDSA P-256 pair
 * (SAN localhost, 127.0.0.1, ::1) on first use.  *created says which happened. */
int tls_selfsigned(const char *dir, char *cert, char *key, size_t cap, bool *created,
		   char *err, size_t errlen);
/* SHA-256 of the first certificate in a PEM file, as 64 lower-case hex digits. */
int tls_fingerprint(const char *cert_file, char hex[65]);

/* SHA-256 over a stream of bytes (RFC 9530 Repr-Digest, kxfer --verify). */
struct sha256;
struct sha256 *sha256_new(void);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* Writes the digest and frees h. */
void sha256_final(struct sha256 *h, uint8_t out[32]);
void sha256_free(struct sha256 *h);
/* SHA-256 of a file's bytes [0, size) read with pread; 0, -errno, or -ENODATA when the
 * file is shorter than size. */
int sha256_fd(int fd, uint64_t size, uint8_t out[32]);

/* What the OpenSSL this process runs with can do (kxfer doctor). */
struct tls_library {
	const char *version;       /* "OpenSSL 3.0.19 27 Jan 2026" */
	bool tls13;                /* speaks TLS 1.3 (1.1.1 and later, unless built no-tls1_3) */
	bool ktls_built;           /* built with kernel TLS support */
	bool tls13_tx_offload;     /* installs TLS 1.3 send keys in the kernel itself */
	bool tls13_rx_offload;     /* ... and receive keys (3.2 and later) */
};
void tls_library_info(struct tls_library *out);
/* Userspace AEAD speed on this thread: seals 16 KiB records for about `seconds` of CPU
 * time; bytes per CPU second in *bytes_per_sec.  0 or -errno. */
int tls_aead_speed(enum tls_aead aead, double seconds, double *bytes_per_sec);

#endif
