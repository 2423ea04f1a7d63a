/* The libcrypto half of the tls module: the TLS 1.3 key schedule for handing keys to the
 * kernel, the self-signed certificate, fingerprints, and the facts and speeds kxfer doctor
 * reports.  tls.c holds the libssl half (sessions); no other file sees OpenSSL's types. */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/opensslconf.h>
#include <openssl/x509v3.h>

#include "util.h"

/* HKDF-Expand-Label(secret, label, "", len) with OpenSSL's TLS13-KDF. */
static int expand_label(const char *digest, const uint8_t *secret, size_t secret_len,
			const char *label, uint8_t *out, size_t len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, rc = -EIO;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, (void *)"tls13 ", 6),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, (void *)label, strlen(label)),
		OSSL_PARAM_construct_end(),
	};

	if (kctx && EVP_KDF_derive(kctx, out, len, params) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	ERR_clear_error();
	return rc;
}

static const char *aead_digest(enum tls_aead a)
{
	return a == TLS_AEAD_AES_256_GCM ? "SHA384" : "SHA256";
}

int tls_keys_derive(struct tls_keys *k)
{
	const char *md = aead_digest(k->aead);

	k->key_len = k->aead == TLS_AEAD_AES_128_GCM ? 16 : 32;
	if (expand_label(md, k->secret, k->secret_len, "key", k->key, k->key_len) ||
	    expand_label(md, k->secret, k->secret_len, "iv", k->iv, sizeof(k->iv))) {
		tls_keys_wipe(k);
		return -EIO;
	}
	return 0;
}

int tls_keys_update(struct tls_keys *k)
{
	uint8_t next[48];
	int rc = expand_label(aead_digest(k->aead), k->secret, k->secret_len, "traffic upd", next,
			      k->secret_len);

	if (rc == 0) {
		memcpy(k->secret, next, k->secret_len);
		k->seq = 0;
		rc = tls_keys_derive(k);
	}
	OPENSSL_cleanse(next, sizeof(next));
	return rc;
}

void tls_keys_wipe(struct tls_keys *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

int tls_fingerprint(const char *cert_file, char hex[65])
{
	FILE *f = fopen(cert_file, "r");
	X509 *x;
	uint8_t md[32];
	unsigned mdlen = 0;
	int rc = -EINVAL;

	if (!f)
		return -errno;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x && X509_digest(x, EVP_sha256(), md, &mdlen) == 1 && mdlen == sizeof(md)) {
		hex_encode(md, sizeof(md), hex);
		rc = 0;
	}
	X509_free(x);
	ERR_clear_error();
	return rc;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

/* PEM into secure memory (wiped when freed), then to path through a temporary file. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *x)
{
	BIO *mem = BIO_new(BIO_s_secmem());
	char *data;
	long len;
	int rc = -EIO;

	if (mem && (key ? PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL)
			: PEM_write_bio_X509(mem, x)) &&
	    (len = BIO_get_mem_data(mem, &data)) > 0)
		rc = write_file_atomic(path, mode, data, (size_t)len);
	BIO_free(mem);
	return rc;
}

static int generate(const char *cert, const char *key)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	char host[256] = "localhost", san[512];
	int rc = -EINVAL;

	if (!pkey || !x || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	gethostname(host, sizeof(host) - 1);
	snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s%s",
		 strcmp(host, "localhost") ? ",DNS:" : "", strcmp(host, "localhost") ? host : "");
	name = X509_get_subject_name(x);
	if (!bn || !X509_set_version(x, 2) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400) || !X509_set_pubkey(x, pkey) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"kxfer self-signed", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto out;
	if (add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
	    add_ext(x, NID_subject_key_identifier, "hash") || add_ext(x, NID_subject_alt_name, san) ||
	    !X509_sign(x, pkey, EVP_sha256()))
		goto out;
	rc = write_pem(key, 0600, pkey, NULL);
	if (rc == 0)
		rc = write_pem(cert, 0644, NULL, x);
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return rc;
}

int tls_selfsigned(const char *dir, char *cert, char *key, size_t cap, bool *created, char *err,
		   size_t errlen)
{
	int rc;

	snprintf(cert, cap, "%s/cert.pem", dir);
	snprintf(key, cap, "%s/key.pem", dir);
	*created = false;
	if (access(cert, R_OK) == 0 && access(key, R_OK) == 0)
		return 0;
	rc = generate(cert, key);
	if (rc) {
		snprintf(err, errlen, "cannot write a certificate into %s: %s", dir, strerror(-rc));
		return rc;
	}
	*created = true;
	return 0;
}

struct sha256 *sha256_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	return (struct sha256 *)md;
}

void sha256_update(struct sha256 *h, const void *data, size_t len)
{
	EVP_DigestUpdate((EVP_MD_CTX *)h, data, len);
}

void sha256_final(struct sha256 *h, uint8_t out[32])
{
	unsigned n = 32;

	EVP_DigestFinal_ex((EVP_MD_CTX *)h, out, &n);
	EVP_MD_CTX_free((EVP_MD_CTX *)h);
}

void sha256_free(struct sha256 *h)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)h);
}

int sha256_fd(int fd, uint64_t size, uint8_t out[32])
{
	enum { CHUNK = 1024 * 1024 };
	struct sha256 *h = sha256_new();
	char *buf = malloc(CHUNK);
	uint64_t off = 0;
	int rc = 0;

	if (!h || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (off < size) {
		ssize_t n = pread(fd, buf, (size_t)MIN((uint64_t)CHUNK, size - off), (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -ENODATA;
			goto out;
		}
		sha256_update(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	sha256_final(h, out);
	h = NULL;
out:
	sha256_free(h);
	free(buf);
	return rc;
}

void tls_library_info(struct tls_library *out)
{
	out->version = OpenSSL_version(OPENSSL_VERSION);
#ifdef OPENSSL_NO_TLS1_3
	out->tls13 = false;
#else
	out->tls13 = OpenSSL_version_num() >= 0x10101000L;
#endif
#ifdef OPENSSL_NO_KTLS
	out->ktls_built = false;
#else
	out->ktls_built = true;
#endif
	/* OpenSSL hands TLS 1.3 sending to the kernel since 3.0, receiving since 3.2. */
	out->tls13_tx_offload = out->ktls_built && OpenSSL_version_num() >= 0x30000000L;
	out->tls13_rx_offload = out->ktls_built && OpenSSL_version_num() >= 0x30200000L;
}

struct tls_aead_ctx {
	EVP_CIPHER_CTX *ctx;
};

int tls_aead_new(const struct tls_keys *k, bool seal, struct tls_aead_ctx **out)
{
	const EVP_CIPHER *cipher = k->aead == TLS_AEAD_AES_128_GCM ? EVP_aes_128_gcm() :
				   k->aead == TLS_AEAD_AES_256_GCM ? EVP_aes_256_gcm() :
				   k->aead == TLS_AEAD_CHACHA20_POLY1305 ? EVP_chacha20_poly1305() : NULL;
	struct tls_aead_ctx *a;

	*out = NULL;
	if (!cipher)
		return -EPROTONOSUPPORT;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->ctx = EVP_CIPHER_CTX_new();
	/* Both ciphers' default nonce is the 12 bytes TLS 1.3 uses (RFC 8446 5.3). */
	if (!a->ctx || EVP_CipherInit_ex2(a->ctx, cipher, k->key, NULL, seal, NULL) != 1) {
		ERR_clear_error();
		tls_aead_free(a);
		return -EIO;
	}
	*out = a;
	return 0;
}

void tls_aead_free(struct tls_aead_ctx *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->ctx); /* cleanses the key schedule */
	free(a);
}

int tls_aead_seal(struct tls_aead_ctx *a, const uint8_t nonce[12], const uint8_t *aad,
		  size_t aad_len, const uint8_t *in, size_t len, uint8_t last, uint8_t *out)
{
	int n;

	if (EVP_EncryptInit_ex2(a->ctx, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(a->ctx, NULL, &n, aad, (int)aad_len) != 1 ||
	    EVP_EncryptUpdate(a->ctx, out, &n, in, (int)len) != 1 ||
	    EVP_EncryptUpdate(a->ctx, out + len, &n, &last, 1) != 1 ||
	    EVP_EncryptFinal_ex(a->ctx, out + len + 1, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + len + 1) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

int tls_aead_open(struct tls_aead_ctx *a, const uint8_t nonce[12], const uint8_t *aad,
		  size_t aad_len, const uint8_t *in, size_t len, uint8_t *out)
{
	int n;

	if (len < 16)
		return -EBADMSG;
	if (EVP_DecryptInit_ex2(a->ctx, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(in + len - 16)) != 1 ||
	    EVP_DecryptUpdate(a->ctx, NULL, &n, aad, (int)aad_len) != 1 ||
	    EVP_DecryptUpdate(a->ctx, out, &n, in, (int)(len - 16)) != 1 ||
	    EVP_DecryptFinal_ex(a->ctx, out + n, &n) != 1) {
		ERR_clear_error();
		return -EBADMSG;
	}
	return 0;
}

/* Seals 16 KiB records (a full TLS record's payload) with one key, as the userspace record
 * layer does, for about `seconds` of this thread's CPU time. */
int tls_aead_speed(enum tls_aead aead, double seconds, double *bytes_per_sec)
{
	enum { RECORD = 16384 };
	struct tls_keys k = { .aead = aead };
	struct tls_aead_ctx *a = NULL;
	uint8_t nonce[12] = { 0 }, hdr[5] = { 23, 3, 3 }, *buf = calloc(1, RECORD + 17);
	double t0 = cpu_sec(), spent = 0;
	uint64_t done = 0;
	int rc = -ENOMEM;

	if (!buf || RAND_bytes(k.key, sizeof(k.key)) != 1 || (rc = tls_aead_new(&k, true, &a)))
		goto out;
	while (spent < seconds) {
		for (int i = 0; i < 16; i++, done += RECORD) {
			nonce[11]++; /* a fresh nonce per record, like the record sequence */
			if ((rc = tls_aead_seal(a, nonce, hdr, sizeof(hdr), buf, RECORD, 23, buf)))
				goto out;
		}
		spent = cpu_sec() - t0;
	}
	*bytes_per_sec = spent > 0 ? (double)done / spent : 0;
out:
	tls_keys_wipe(&k);
	tls_aead_free(a);
	free(buf);
	return rc;
}
