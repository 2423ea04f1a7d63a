/* Kernel TLS (Documentation/networking/tls.rst): the only file that includes
 * <linux/tls.h>.  OpenSSL 3.0 installs TLS 1.3 TX keys itself; RX keys and probes are ours,
 * and control records go through the record layer's handling (record.c). */
#include "ktls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "record.h"
#include "util.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif


const char *ktls_unavailable(void)
{
	char buf[256] = "";
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");

	if (!f)
		return "cannot read /proc/sys/net/ipv4/tcp_available_ulp";
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	if (strstr(buf, "tls"))
		return NULL;
	return "the kernel has no tls ULP (CONFIG_TLS unset, or 'modprobe tls' needed)";
}

const char *ktls_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case ENOENT: return "the kernel has no tls ULP (CONFIG_TLS unset, or 'modprobe tls' needed)";
	case ENOTCONN: return "the socket is not connected";
	case EINVAL:
	case ENOPROTOOPT:
	case EOPNOTSUPP: return "this kernel does not offload this cipher in this direction";
	case EBUSY: return "keys are already installed in this direction";
	case EPROTONOSUPPORT: return "only TLS 1.3 with AES-GCM or ChaCha20-Poly1305 is offloaded by kxfer";
	case ENOKEY: return "the traffic secret was not captured";
	default: return strerror(err < 0 ? -err : err);
	}
}

int ktls_attach(int fd)
{
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

int ktls_set_keys(int fd, bool rx, const struct tls_keys *k, uint64_t seq)
{
	union {
		struct tls12_crypto_info_aes_gcm_128 g128;
		struct tls12_crypto_info_aes_gcm_256 g256;
		struct tls12_crypto_info_chacha20_poly1305 chacha;
	} ci;
	uint64_t be_seq = htobe64(seq);
	size_t len;
	int rc = 0;

	memset(&ci, 0, sizeof(ci));
	/* RFC 8446 5.3: the per-record nonce is the 12-byte IV XOR the sequence number; the
	 * kernel wants the IV's first 4 bytes as "salt" and the other 8 as "iv" for GCM. */
#define GCM(dst, cipher, key_len)                                                       \
	do {                                                                            \
		dst.info = (struct tls_crypto_info){ TLS_1_3_VERSION, cipher };         \
		memcpy(dst.key, k->key, key_len);                                       \
		memcpy(dst.salt, k->iv, 4);                                             \
		memcpy(dst.iv, k->iv + 4, 8);                                           \
		memcpy(dst.rec_seq, &be_seq, 8);                                        \
		len = sizeof(dst);                                                      \
	} while (0)
	switch (k->aead) {
	case TLS_AEAD_AES_128_GCM:
		GCM(ci.g128, TLS_CIPHER_AES_GCM_128, 16);
		break;
	case TLS_AEAD_AES_256_GCM:
		GCM(ci.g256, TLS_CIPHER_AES_GCM_256, 32);
		break;
	case TLS_AEAD_CHACHA20_POLY1305:
		ci.chacha.info = (struct tls_crypto_info){ TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305 };
		memcpy(ci.chacha.key, k->key, 32);
		memcpy(ci.chacha.iv, k->iv, 12);
		memcpy(ci.chacha.rec_seq, &be_seq, 8);
		len = sizeof(ci.chacha);
		break;
	default:
		return -EPROTONOSUPPORT;
	}
#undef GCM
	if (setsockopt(fd, SOL_TLS, rx ? TLS_RX : TLS_TX, &ci, len) < 0)
		rc = -errno;
	explicit_bzero(&ci, sizeof(ci));
	return rc;
}

int ktls_rx_start(struct ktls_rx *rx, int fd, struct tls_keys *k)
{
	int rc = ktls_attach(fd);

	if (rc == 0)
		rc = ktls_set_keys(fd, true, k, k->seq);
	memset(rx, 0, sizeof(*rx));
	if (rc == 0) {
		rx->fd = fd;
		rx->keys = *k;
	}
	tls_keys_wipe(k);
	return rc;
}

void ktls_rx_end(struct ktls_rx *rx)
{
	tls_keys_wipe(&rx->keys);
}

/* A KeyUpdate from the peer: the next receive key, installed where the kernel allows it
 * (TLS 1.3 rekey arrived in Linux 6.14; 6.1 answers EBUSY and must not read on). */
static int follow_key_update(void *arg)
{
	struct ktls_rx *rx = arg;
	int rc = tls_keys_update(&rx->keys);

	if (rc == 0)
		rc = ktls_set_keys(rx->fd, true, &rx->keys, 0);
	if (rc) {
		snprintf(rx->ev.err, sizeof(rx->ev.err), "the peer updated its TLS key and this kernel cannot "
			 "follow a key update on a kernel-TLS socket (%s); retry with --ktls off",
			 rc == -EBUSY ? "needs Linux 6.14 or later" : ktls_strerror(rc));
		return -EKEYEXPIRED;
	}
	return 0;
}

ssize_t ktls_read(struct ktls_rx *rx, void *buf, size_t len)
{
	for (;;) {
		char cbuf[CMSG_SPACE(sizeof(unsigned char))];
		struct iovec iov = { .iov_base = buf, .iov_len = len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm;
		unsigned type = RECORD_DATA;
		ssize_t n;
		int rc;

		if (rx->ev.eof)
			return 0;
		n = recvmsg(rx->fd, &msg, 0); /* the socket's own blocking mode */
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return -EAGAIN;
			snprintf(rx->ev.err, sizeof(rx->ev.err), "%s", errno == EBADMSG ?
				 "a record failed to decrypt (bad record MAC)" : strerror(errno));
			return -errno;
		}
		cm = CMSG_FIRSTHDR(&msg);
		if (cm && cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			type = *(unsigned char *)CMSG_DATA(cm);
		if (type == RECORD_DATA)
			return n; /* 0 here: the peer closed TCP without close_notify */
		rc = rec_control(&rx->ev, type, buf, (size_t)n, follow_key_update, rx);
		if (rc)
			return rc;
	}
}

/* A connected loopback pair, to try keys on. */
static int loopback_pair(int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = -errno;

	fds[0] = fds[1] = -1;
	if (l < 0)
		return rc;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		goto out;
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof(a)))
		goto out;
	fds[1] = accept(l, NULL, NULL);
out:
	rc = fds[1] >= 0 ? 0 : -errno;
	close(l);
	return rc;
}

static void close_pair(int fds[2])
{
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	fds[0] = fds[1] = -1;
}

/* All-zero keys of aead's sizes: probes only ask whether the kernel takes them. */
static struct tls_keys probe_keys(enum tls_aead aead)
{
	return (struct tls_keys){ .aead = aead, .key_len = aead == TLS_AEAD_AES_128_GCM ? 16 : 32 };
}

/* A loopback pair whose fds[0] holds all-zero keys for aead in one direction; on failure
 * -errno and nothing left open. */
static int keyed_pair(int fds[2], enum tls_aead aead, bool rx)
{
	struct tls_keys k = probe_keys(aead);
	int rc = loopback_pair(fds);

	if (rc == 0)
		rc = ktls_attach(fds[0]);
	if (rc == 0)
		rc = ktls_set_keys(fds[0], rx, &k, 0);
	if (rc)
		close_pair(fds);
	return rc;
}

int ktls_probe(enum tls_aead aead, bool rx)
{
	int fds[2], rc = keyed_pair(fds, aead, rx);

	if (rc == 0)
		close_pair(fds);
	return rc;
}

/* TLS 1.3 rekey (Linux 6.14): a second TLS_RX on the same socket replaces the key.  Older
 * kernels refuse any second crypto_info with EBUSY. */
int ktls_probe_rekey(enum tls_aead aead)
{
	struct tls_keys k = probe_keys(aead);
	int fds[2], rc = keyed_pair(fds, aead, true);

	if (rc)
		return rc;
	k.key[0] = 1; /* the next generation's key differs from the first */
	rc = ktls_set_keys(fds[0], true, &k, 0);
	close_pair(fds);
	return rc;
}

/* Both options are in Debian 12's <linux/tls.h>; older UAPI headers lack them (values from
 * the kernel's include/uapi/linux/tls.h, where they are ABI). */
#ifndef TLS_TX_ZEROCOPY_RO
#define TLS_TX_ZEROCOPY_RO 3   /* Linux 5.19 */
#endif
#ifndef TLS_RX_EXPECT_NO_PAD
#define TLS_RX_EXPECT_NO_PAD 4 /* Linux 6.0 */
#endif

int ktls_probe_option(enum ktls_option opt)
{
	/* Each option needs its direction configured (RX_EXPECT_NO_PAD: with TLS 1.3), else
	 * EINVAL, which would hide whether the kernel knows the option at all. */
	bool rx = opt == KTLS_OPT_RX_EXPECT_NO_PAD;
	int fds[2], one = 1, rc = keyed_pair(fds, TLS_AEAD_AES_128_GCM, rx);

	if (rc)
		return rc;
	if (setsockopt(fds[0], SOL_TLS, rx ? TLS_RX_EXPECT_NO_PAD : TLS_TX_ZEROCOPY_RO, &one,
		       sizeof(one)) < 0)
		rc = -errno;
	close_pair(fds);
	return rc;
}
