/* TLS sessions through OpenSSL 3 (libssl): contexts, handshakes, record I/O, and the
 * traffic secrets kernel TLS needs.  With crypto.c (libcrypto) the only files that know
 * OpenSSL's types.
 *
 * The handshake always runs on the socket itself (SSL_set_fd), never through memory
 * BIOs: OpenSSL installs kTLS keys only on a socket BIO, and the data path chosen after
 * the handshake (userspace or kernel) must be free to use the same socket. */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "metrics.h"
#include "util.h"

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	uint8_t pin[32];
	bool has_pin;
	bool verify;
};

struct tls {
	SSL *ssl;
	struct tls_ctx *ctx;
	uint8_t secret[2][48];   /* application traffic secrets: [0] client's, [1] server's */
	size_t secret_len[2];
	uint64_t seq[2];         /* records [0] read, [1] written under the current key */
	int failure;             /* enum m_hs_fail of the last error */
	char err[256];
};

/* Userspace reads go through buffers this large once read-ahead is on. */
#define READ_BUFFER_LEN (256 * 1024)

static void openssl_reason(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char reason[200] = "unknown error";

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	snprintf(err, errlen, "%s: %s", what, reason);
	ERR_clear_error();
}

/* Splits an OpenSSL cipher list into TLS 1.3 suites ("TLS_...") and TLS 1.2 ciphers.  A list
 * without TLS 1.2 names leaves TLS 1.2 at TLS12_DEFAULT_CIPHERS, never OpenSSL's DEFAULT
 * (which has CBC suites and, with an RSA certificate, RSA key exchange). */
static int set_ciphers(SSL_CTX *c, const char *list, char *err, size_t errlen)
{
	char v13[512] = "", v12[512] = "", buf[1024], *tok, *save = NULL;

	if (!list)
		list = TLS_DEFAULT_SUITES;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ":,", &save); tok; tok = strtok_r(NULL, ":,", &save)) {
		char *dst = strncmp(tok, "TLS_", 4) ? v12 : v13;
		size_t n = strlen(dst);

		snprintf(dst + n, sizeof(v13) - n, "%s%s", n ? ":" : "", tok);
	}
	if (!SSL_CTX_set_ciphersuites(c, v13) ||
	    !SSL_CTX_set_cipher_list(c, *v12 ? v12 : TLS12_DEFAULT_CIPHERS)) {
		openssl_reason(err, errlen, "bad --ciphers list");
		return -EINVAL;
	}
	return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";

	if (SSL_select_next_proto((unsigned char **)out, outlen, h11, sizeof(h11) - 1, in, inlen) ==
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301 3.2: no protocol in common */
}

/* OpenSSL 3.0 hands the kernel TX keys itself but never TLS 1.3 RX keys: those we derive
 * from the traffic secrets, which OpenSSL only reveals through the keylog callback. */
int tls_keylog_parse(const char *line, int *dir, uint8_t *secret, size_t cap, size_t *len)
{
	const char *hex;
	size_t n;

	if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24))
		*dir = 0;
	else if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24))
		*dir = 1;
	else
		return -ENOENT;
	hex = strchr(line + 24, ' '); /* after the client random */
	if (!hex || (n = strlen(hex + 1)) > 2 * cap || n % 2)
		return -EINVAL;
	*len = n / 2;
	return hex_decode(hex + 1, secret, *len) ? -EBADMSG : 0;
}

static void keylog(const SSL *ssl, const char *line)
{
	struct tls *t = SSL_get_app_data(ssl);
	uint8_t secret[sizeof(t->secret[0])];
	size_t len;
	int dir, rc;

	if (!t)
		return;
	rc = tls_keylog_parse(line, &dir, secret, sizeof(secret), &len);
	if (rc == 0) {
		memcpy(t->secret[dir], secret, len);
		t->secret_len[dir] = len;
	} else if (rc == -EBADMSG) {
		t->secret_len[dir] = 0; /* a secret we cannot read: none rather than a wrong one */
	}
	OPENSSL_cleanse(secret, sizeof(secret));
}

/* Counts the records OpenSSL reads and writes under each direction's current key, so that
 * the record layer can take a direction over at the right sequence number: a server has
 * already sent its session tickets under the new key when the handshake returns.  OpenSSL
 * reports every record header; a Finished or KeyUpdate message switches its direction's
 * key after the record that carried it (RFC 8446 4.4.4, 4.6.3). */
static void count_records(int write_p, int version, int type, const void *buf, size_t len,
			  SSL *ssl, void *arg)
{
	struct tls *t = SSL_get_app_data(ssl);
	const uint8_t *p = buf;

	if (!t)
		return;
	if (type == SSL3_RT_HEADER)
		t->seq[!!write_p]++;
	else if (type == SSL3_RT_HANDSHAKE && len > 0 &&
		 (p[0] == SSL3_MT_FINISHED || p[0] == SSL3_MT_KEY_UPDATE))
		t->seq[!!write_p] = 0;
}

static struct tls_ctx *ctx_new(const SSL_METHOD *method, const struct tls_config *cfg, char *err,
			       size_t errlen)
{
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->ssl_ctx = SSL_CTX_new(method);
	if (!ctx->ssl_ctx) {
		openssl_reason(err, errlen, "SSL_CTX_new");
		free(ctx);
		return NULL;
	}
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			    (cfg->ktls ? SSL_OP_ENABLE_KTLS : 0));
	SSL_CTX_set_default_read_buffer_len(ctx->ssl_ctx, READ_BUFFER_LEN);
	SSL_CTX_set_keylog_callback(ctx->ssl_ctx, keylog);
	SSL_CTX_set_msg_callback(ctx->ssl_ctx, count_records);
	return ctx;
}

static int load_keypair(SSL_CTX *c, const char *cert, const char *key, char *err, size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
		openssl_reason(err, errlen, cert);
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c) != 1) {
		openssl_reason(err, errlen, key);
		return -EINVAL;
	}
	return 0;
}

int tls_server_ctx(const struct tls_config *cfg, struct tls_ctx **out, char *err, size_t errlen)
{
	struct tls_ctx *ctx = ctx_new(TLS_server_method(), cfg, err, errlen);
	SSL_CTX *c;
	int rc = -EINVAL;

	if (!ctx)
		return -ENOMEM;
	c = ctx->ssl_ctx;
	SSL_CTX_set_min_proto_version(c, cfg->tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
	SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_max_early_data(c, 0); /* no 0-RTT: early data can be replayed */
	SSL_CTX_set_alpn_select_cb(c, alpn_select, NULL);
	if (set_ciphers(c, cfg->ciphers, err, errlen) || load_keypair(c, cfg->cert_file, cfg->key_file, err, errlen))
		goto fail;
	if (cfg->ca_file) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);

		if (!names || SSL_CTX_load_verify_locations(c, cfg->ca_file, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			openssl_reason(err, errlen, cfg->ca_file);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(c, names);
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	*out = ctx;
	return 0;
fail:
	tls_ctx_free(ctx);
	return rc;
}

int tls_client_ctx(const struct tls_config *cfg, struct tls_ctx **out, char *err, size_t errlen)
{
	struct tls_ctx *ctx = ctx_new(TLS_client_method(), cfg, err, errlen);
	SSL_CTX *c;

	if (!ctx)
		return -ENOMEM;
	c = ctx->ssl_ctx;
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	if (set_ciphers(c, cfg->ciphers, err, errlen))
		goto fail;
	if (cfg->cert_file && load_keypair(c, cfg->cert_file, cfg->key_file, err, errlen))
		goto fail;
	if (cfg->pin) {
		/* The pin replaces chain and name checks: it names the exact certificate. */
		memcpy(ctx->pin, cfg->pin, sizeof(ctx->pin));
		ctx->has_pin = true;
	} else if (!cfg->insecure) {
		int ok = cfg->ca_file ? SSL_CTX_load_verify_locations(c, cfg->ca_file, NULL)
				      : SSL_CTX_set_default_verify_paths(c);

		if (ok != 1) {
			openssl_reason(err, errlen, cfg->ca_file ? cfg->ca_file : "system trust store");
			goto fail;
		}
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
		ctx->verify = true;
	}
	*out = ctx;
	return 0;
fail:
	tls_ctx_free(ctx);
	return -EINVAL;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	OPENSSL_cleanse(ctx->pin, sizeof(ctx->pin));
	free(ctx);
}

int tls_new(struct tls_ctx *ctx, int fd, const char *host, struct tls **out)
{
	struct tls *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->ctx = ctx;
	t->ssl = SSL_new(ctx->ssl_ctx);
	if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1)
		goto fail;
	SSL_set_app_data(t->ssl, t);
	if (!host) {
		SSL_set_accept_state(t->ssl);
	} else {
		static const unsigned char h11[] = "\x08http/1.1";
		X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
		bool is_ip = X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1;

		SSL_set_connect_state(t->ssl);
		if (!is_ip && (SSL_set_tlsext_host_name(t->ssl, host) != 1 ||
			       (ctx->verify && SSL_set1_host(t->ssl, host) != 1)))
			goto fail;
		if (is_ip && !ctx->verify)
			X509_VERIFY_PARAM_set1_ip(param, NULL, 0);
		SSL_set_alpn_protos(t->ssl, h11, sizeof(h11) - 1);
	}
	*out = t;
	return 0;
fail:
	SSL_free(t->ssl);
	free(t);
	return -ENOMEM;
}

void tls_free(struct tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	OPENSSL_cleanse(t->secret, sizeof(t->secret));
	free(t);
}

/* What kind of failure an OpenSSL reason code is, for the handshake failure counters. */
static int failure_kind(unsigned long e)
{
	int r = ERR_GET_REASON(e);

	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return HS_OTHER;
	switch (r) {
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
		return HS_PLAINTEXT;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SUITABLE_KEY_SHARE:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_APPLICATION_PROTOCOL:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_WRONG_VERSION_NUMBER:
		return HS_PROTOCOL;
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return HS_CLIENT_CERT;
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		return HS_CLOSED;
	}
	return r >= SSL_AD_REASON_OFFSET ? HS_PEER_ALERT : HS_OTHER; /* an alert the peer sent */
}

/* Maps an SSL_get_error() outcome to our return convention and records the reason. */
static int io_result(struct tls *t, int ret, const char *what)
{
	int e = SSL_get_error(t->ssl, ret), saved = errno;
	long vr;

	t->failure = e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0 ? HS_CLOSED
									    : failure_kind(ERR_peek_last_error());

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_last_error() == 0) {
			snprintf(t->err, sizeof(t->err), "%s: %s", what,
				 saved ? strerror(saved) : "connection closed by peer");
			ERR_clear_error();
			return saved ? -saved : -ECONNRESET;
		}
		/* fall through */
	default:
		vr = SSL_get_verify_result(t->ssl);
		if (vr != X509_V_OK) {
			t->failure = HS_CLIENT_CERT; /* on a server; a client's failure is its own */
			snprintf(t->err, sizeof(t->err), "%s: certificate verification failed: %s", what,
				 X509_verify_cert_error_string(vr));
			ERR_clear_error();
			return -EKEYREJECTED;
		}
		if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			snprintf(t->err, sizeof(t->err), "%s: connection closed without close_notify", what);
			ERR_clear_error();
			return -ECONNABORTED; /* a FIN with no close_notify: possibly truncated */
		}
		openssl_reason(t->err, sizeof(t->err), what);
		return -EPROTO;
	}
}

/* After a client handshake with --pin: the leaf's SHA-256 must match. */
static int check_pin(struct tls *t)
{
	X509 *leaf = SSL_get0_peer_certificate(t->ssl);
	uint8_t md[32];
	unsigned mdlen = 0;
	char want[65], got[65];

	if (!leaf || X509_digest(leaf, EVP_sha256(), md, &mdlen) != 1 || mdlen != sizeof(md)) {
		snprintf(t->err, sizeof(t->err), "handshake: server sent no certificate to pin");
		return -EKEYREJECTED;
	}
	if (CRYPTO_memcmp(md, t->ctx->pin, sizeof(md)) == 0)
		return 0;
	hex_encode(t->ctx->pin, 32, want);
	hex_encode(md, 32, got);
	snprintf(t->err, sizeof(t->err), "certificate pin mismatch: expected sha256:%.16s..., server has sha256:%s",
		 want, got);
	return -EKEYREJECTED;
}

int tls_handshake(struct tls *t)
{
	int ret = SSL_do_handshake(t->ssl);

	if (ret != 1)
		return io_result(t, ret, "handshake");
	if (t->ctx->has_pin && !SSL_is_server(t->ssl))
		return check_pin(t);
	return 0;
}

ssize_t tls_read(struct tls *t, void *buf, size_t len)
{
	size_t n = 0;
	int ret = SSL_read_ex(t->ssl, buf, len, &n);

	return ret == 1 ? (ssize_t)n : io_result(t, ret, "read");
}

ssize_t tls_write(struct tls *t, const void *buf, size_t len)
{
	size_t n = 0;
	int ret = SSL_write_ex(t->ssl, buf, len, &n);

	return ret == 1 ? (ssize_t)n : io_result(t, ret, "write");
}

void tls_close_notify(struct tls *t)
{
	if (!(SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN))
		SSL_shutdown(t->ssl);
	ERR_clear_error();
}

int tls_key_update(struct tls *t)
{
	return SSL_key_update(t->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) == 1 ? 0 : -EPROTO;
}

bool tls_pending(struct tls *t)
{
	return SSL_has_pending(t->ssl);
}

void tls_read_ahead(struct tls *t)
{
	SSL_set_read_ahead(t->ssl, 1);
}

const char *tls_error(const struct tls *t)
{
	return t->err[0] ? t->err : "no error";
}

int tls_failure(const struct tls *t)
{
	return t->failure;
}

int tls_ctx_cert(const struct tls_ctx *ctx, char hex[65], int64_t *not_after)
{
	X509 *x = SSL_CTX_get0_certificate(ctx->ssl_ctx);
	uint8_t md[32];
	unsigned mdlen = 0;
	struct tm tm;

	if (!x || X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != sizeof(md) ||
	    ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
		ERR_clear_error();
		return -EINVAL;
	}
	hex_encode(md, sizeof(md), hex);
	*not_after = (int64_t)timegm(&tm);
	return 0;
}

const char *tls_version(const struct tls *t)
{
	return SSL_get_version(t->ssl);
}

const char *tls_cipher(const struct tls *t)
{
	return SSL_get_cipher_name(t->ssl);
}

bool tls_ktls_tx(const struct tls *t)
{
	return BIO_get_ktls_send(SSL_get_wbio(t->ssl)) > 0;
}

bool tls_ktls_rx(const struct tls *t)
{
	return BIO_get_ktls_recv(SSL_get_rbio(t->ssl)) > 0;
}

int tls_traffic_keys(struct tls *t, bool receive, struct tls_keys *out)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
	/* receiving on a client, or sending on a server, uses the server's secret */
	int dir = receive != !!SSL_is_server(t->ssl);

	memset(out, 0, sizeof(*out));
	if (SSL_version(t->ssl) != TLS1_3_VERSION || !c)
		return -EPROTONOSUPPORT;
	switch (SSL_CIPHER_get_id(c)) {
	case TLS1_3_CK_AES_128_GCM_SHA256: out->aead = TLS_AEAD_AES_128_GCM; break;
	case TLS1_3_CK_AES_256_GCM_SHA384: out->aead = TLS_AEAD_AES_256_GCM; break;
	case TLS1_3_CK_CHACHA20_POLY1305_SHA256: out->aead = TLS_AEAD_CHACHA20_POLY1305; break;
	default: return -EPROTONOSUPPORT;
	}
	if (!t->secret_len[dir])
		return -ENOKEY;
	memcpy(out->secret, t->secret[dir], t->secret_len[dir]);
	out->secret_len = t->secret_len[dir];
	out->seq = t->seq[!receive];
	return tls_keys_derive(out);
}
