/*
 * Probe for the kTLS test guest (tests/ktls/00-guest.sh builds it with cc at test time and
 * runs it inside the guest).  Prints "ok - NAME" / "not ok - NAME" / "skip - NAME: WHY"
 * lines (tests/run.sh protocol) and exits 1 when a check failed.
 *
 *   ktls_probe tls      For TLS 1.3 with AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305, on
 *                       a loopback TCP pair: set TCP_ULP "tls", install TLS_TX on one end,
 *                       check the record on the wire is a TLS 1.3 record that OpenSSL's
 *                       EVP AEAD decrypts with the same key (so the kernel did the crypto and
 *                       uses the standard nonce/AAD), install TLS_RX (rec_seq 1) on the other
 *                       end and TX/RX the other way, check the kernel decrypts in both
 *                       directions and that TlsTxSw/TlsRxSw in /proc/net/tls_stat grew.
 *   ktls_probe vecregs  Threads of one process fill the vector registers (YMM, and ZMM +
 *                       opmask where the CPU has AVX-512), yield, and check the registers
 *                       still hold their own values: in user-mode Linux the threads of a
 *                       process share one host process and every switch between them goes
 *                       through ptrace xstate save/restore (and scripts/guest-xstate-shim.c
 *                       on AMX hosts), so this proves the guest keeps their state apart.
 *
 * Build: cc -O2 -pthread -o ktls_probe ktls_probe.c -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static int fails;
#define OK(...) (printf("ok - " __VA_ARGS__), putchar('\n'))
#define NOTOK(...) (printf("not ok - " __VA_ARGS__), putchar('\n'), fails++)

/* ------------------------------------------------------------------------------ kTLS */

struct cipher {
    const char *name;
    int type;       /* TLS_CIPHER_* */
    int keylen;
    const EVP_CIPHER *(*evp)(void);
};
static const struct cipher ciphers[] = {
    { "AES-128-GCM", TLS_CIPHER_AES_GCM_128, 16, EVP_aes_128_gcm },
    { "AES-256-GCM", TLS_CIPHER_AES_GCM_256, 32, EVP_aes_256_gcm },
    { "ChaCha20-Poly1305", TLS_CIPHER_CHACHA20_POLY1305, 32, EVP_chacha20_poly1305 },
};

struct secret { unsigned char key[32], iv[12]; };

/* The crypto_info for TLS 1.3: AES-GCM splits the 12-byte IV into salt (4) + iv (8);
 * ChaCha20-Poly1305 takes the whole IV.  rec_seq is big-endian. */
static int install(int fd, int dir, const struct cipher *c, const struct secret *s, uint64_t seq)
{
    union {
        struct tls12_crypto_info_aes_gcm_128 g128;
        struct tls12_crypto_info_aes_gcm_256 g256;
        struct tls12_crypto_info_chacha20_poly1305 cc;
    } u;
    unsigned char rs[8];
    socklen_t len;
    for (int i = 0; i < 8; i++)
        rs[i] = (unsigned char)(seq >> (56 - 8 * i));
    memset(&u, 0, sizeof u);
    switch (c->type) {
    case TLS_CIPHER_AES_GCM_128:
        u.g128.info.version = TLS_1_3_VERSION;
        u.g128.info.cipher_type = c->type;
        memcpy(u.g128.salt, s->iv, 4);
        memcpy(u.g128.iv, s->iv + 4, 8);
        memcpy(u.g128.key, s->key, 16);
        memcpy(u.g128.rec_seq, rs, 8);
        len = sizeof u.g128;
        break;
    case TLS_CIPHER_AES_GCM_256:
        u.g256.info.version = TLS_1_3_VERSION;
        u.g256.info.cipher_type = c->type;
        memcpy(u.g256.salt, s->iv, 4);
        memcpy(u.g256.iv, s->iv + 4, 8);
        memcpy(u.g256.key, s->key, 32);
        memcpy(u.g256.rec_seq, rs, 8);
        len = sizeof u.g256;
        break;
    default:
        u.cc.info.version = TLS_1_3_VERSION;
        u.cc.info.cipher_type = c->type;
        memcpy(u.cc.iv, s->iv, 12);
        memcpy(u.cc.key, s->key, 32);
        memcpy(u.cc.rec_seq, rs, 8);
        len = sizeof u.cc;
        break;
    }
    return setsockopt(fd, SOL_TLS, dir, &u, len);
}

static long tls_stat(const char *name)
{
    FILE *f = fopen("/proc/net/tls_stat", "r");
    char k[64];
    long v, r = -1;
    if (!f)
        return -1;
    while (fscanf(f, "%63s %ld", k, &v) == 2)
        if (!strcmp(k, name))
            r = v;
    fclose(f);
    return r;
}

static int tcp_pair(int *a, int *b)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    struct timeval tv = { 5, 0 };
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (void *)&sa, sl) || listen(l, 1) || getsockname(l, (void *)&sa, &sl))
        return -1;
    *a = socket(AF_INET, SOCK_STREAM, 0);
    if (*a < 0 || connect(*a, (void *)&sa, sl))
        return -1;
    *b = accept(l, NULL, NULL);
    close(l);
    if (*b < 0)
        return -1;
    setsockopt(*a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(*b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return 0;
}

static int read_full(int fd, unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Decrypt one TLS 1.3 record (header + ciphertext + tag) in userspace with OpenSSL. */
static int openssl_open(const struct cipher *c, const struct secret *s, uint64_t seq,
                        const unsigned char *rec, size_t reclen, unsigned char *out, int *outlen)
{
    unsigned char nonce[12];
    int n, fin, ok = 0;
    memcpy(nonce, s->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] ^= (unsigned char)(seq >> (56 - 8 * i));
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    size_t clen = reclen - 5 - 16;
    if (x && EVP_DecryptInit_ex(x, c->evp(), NULL, NULL, NULL) &&
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) &&
        EVP_DecryptInit_ex(x, NULL, NULL, s->key, nonce) &&
        EVP_DecryptUpdate(x, NULL, &n, rec, 5) &&                    /* AAD: record header */
        EVP_DecryptUpdate(x, out, &n, rec + 5, (int)clen) &&
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(rec + 5 + clen)) &&
        EVP_DecryptFinal_ex(x, out + n, &fin) > 0) {
        *outlen = n + fin;
        ok = 1;
    }
    EVP_CIPHER_CTX_free(x);
    return ok;
}

static void probe_cipher(const struct cipher *c)
{
    const char *nm = c->name;
    struct secret s1, s2; /* s1: client -> server, s2: server -> client */
    int cl = -1, sv = -1;
    char m1[64], m2[64], m3[64], buf[256];
    unsigned char rec[512], plain[512];
    int plen;
    if (getrandom(&s1, sizeof s1, 0) != sizeof s1 || getrandom(&s2, sizeof s2, 0) != sizeof s2) {
        NOTOK("%s: getrandom", nm);
        return;
    }
    snprintf(m1, sizeof m1, "kxfer probe %s record 0 c->s", nm);
    snprintf(m2, sizeof m2, "kxfer probe %s record 1 c->s", nm);
    snprintf(m3, sizeof m3, "kxfer probe %s record 0 s->c", nm);
    long tx0 = tls_stat("TlsTxSw"), rx0 = tls_stat("TlsRxSw");

    if (tcp_pair(&cl, &sv)) {
        NOTOK("%s: loopback TCP pair: %s", nm, strerror(errno));
        goto out;
    }
    if (setsockopt(cl, SOL_TCP, TCP_ULP, "tls", sizeof "tls") ||
        setsockopt(sv, SOL_TCP, TCP_ULP, "tls", sizeof "tls")) {
        NOTOK("%s: setsockopt TCP_ULP tls: %s", nm, strerror(errno));
        goto out;
    }
    OK("%s: TCP_ULP tls set on both ends", nm);
    if (install(cl, TLS_TX, c, &s1, 0) || install(sv, TLS_TX, c, &s2, 0) ||
        install(cl, TLS_RX, c, &s2, 0)) {
        NOTOK("%s: TLS_TX/TLS_RX crypto_info (TLS 1.3): %s", nm, strerror(errno));
        goto out;
    }

    /* Record 0 client -> server, read raw (no RX on the server yet). */
    size_t l1 = strlen(m1);
    if (send(cl, m1, l1, 0) != (ssize_t)l1 || read_full(sv, rec, 5)) {
        NOTOK("%s: first record: %s", nm, strerror(errno));
        goto out;
    }
    size_t body = (size_t)rec[3] << 8 | rec[4];
    if (rec[0] != 23 || rec[1] != 3 || rec[2] != 3 || body != l1 + 1 + 16 ||
        read_full(sv, rec + 5, body)) {
        NOTOK("%s: wire record is TLS 1.3 application_data of %zu bytes (got %02x %02x%02x len %zu)",
              nm, l1 + 17, rec[0], rec[1], rec[2], body);
        goto out;
    }
    if (memmem(rec, 5 + body, m1, l1)) {
        NOTOK("%s: plaintext visible on the wire", nm);
        goto out;
    }
    if (!openssl_open(c, &s1, 0, rec, 5 + body, plain, &plen) || plen != (int)l1 + 1 ||
        memcmp(plain, m1, l1) || plain[l1] != 23) {
        NOTOK("%s: kernel-encrypted record decrypts with OpenSSL", nm);
        goto out;
    }
    OK("%s: kernel TX writes a TLS 1.3 record OpenSSL decrypts", nm);

    /* Now the kernel decrypts: server RX from rec_seq 1, and the other direction. */
    if (install(sv, TLS_RX, c, &s1, 1)) {
        NOTOK("%s: TLS_RX with rec_seq 1: %s", nm, strerror(errno));
        goto out;
    }
    OK("%s: TLS_TX and TLS_RX installed on both ends", nm);
    size_t l2 = strlen(m2), l3 = strlen(m3);
    ssize_t r;
    if (send(cl, m2, l2, 0) != (ssize_t)l2 || (r = recv(sv, buf, sizeof buf, 0)) != (ssize_t)l2 ||
        memcmp(buf, m2, l2)) {
        NOTOK("%s: kernel RX decrypts client -> server: %s", nm, strerror(errno));
        goto out;
    }
    if (send(sv, m3, l3, 0) != (ssize_t)l3 || (r = recv(cl, buf, sizeof buf, 0)) != (ssize_t)l3 ||
        memcmp(buf, m3, l3)) {
        NOTOK("%s: kernel RX decrypts server -> client: %s", nm, strerror(errno));
        goto out;
    }
    OK("%s: bytes arrive decrypted in both directions", nm);
    long tx1 = tls_stat("TlsTxSw"), rx1 = tls_stat("TlsRxSw");
    if (tx0 < 0 || tx1 - tx0 != 2 || rx1 - rx0 != 2)
        NOTOK("%s: TlsTxSw/TlsRxSw grew by 2 (TlsTxSw %ld -> %ld, TlsRxSw %ld -> %ld)",
              nm, tx0, tx1, rx0, rx1);
    else
        OK("%s: TlsTxSw %ld -> %ld, TlsRxSw %ld -> %ld", nm, tx0, tx1, rx0, rx1);
out:
    if (cl >= 0)
        close(cl);
    if (sv >= 0)
        close(sv);
}

/* -------------------------------------------------------------------- vector registers */
#if defined(__x86_64__)
#define R4(m, a, b, c, d) m(a) m(b) m(c) m(d)
#define LOAD_Y(n) "vmovd %k[v], %%xmm" #n "\n\tvpbroadcastd %%xmm" #n ", %%ymm" #n "\n\t"
#define STORE_Y(n) "vmovdqu %%ymm" #n ", " #n "*32(%[buf])\n\t"
#define LOAD_Z(n) "vpbroadcastd %k[v], %%zmm" #n "\n\t"
#define STORE_Z(n) "vmovdqu32 %%zmm" #n ", " #n "*64(%[buf])\n\t"
#define ALL16(m) R4(m, 0, 1, 2, 3) R4(m, 4, 5, 6, 7) R4(m, 8, 9, 10, 11) R4(m, 12, 13, 14, 15)
#define ALL32(m) ALL16(m) R4(m, 16, 17, 18, 19) R4(m, 20, 21, 22, 23) R4(m, 24, 25, 26, 27) \
    R4(m, 28, 29, 30, 31)
#define YMM_CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", \
    "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"
#define ZMM_CLOBBERS YMM_CLOBBERS, "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", \
    "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1"

enum { ITER = 2000, THREADS = 3 };
static int use_zmm;
static int bad[THREADS];
static long switches; /* yields after which another thread had run: proves interleaving */
static volatile int last = -1;

/* fill the registers, yield with a raw syscall (the registers stay live), store, compare */
__attribute__((target("avx512f"))) static int vec_zmm(uint32_t v)
{
    static __thread uint32_t buf[32 * 16] __attribute__((aligned(64)));
    uint16_t km = 0, kexp = (uint16_t)(v ^ 0x5a5a);
    __asm__ volatile(ALL32(LOAD_Z) "kmovw %k[kv], %%k1\n\t"
                     "mov $24, %%eax\n\tsyscall\n\t" /* sched_yield */
                     ALL32(STORE_Z) "kmovw %%k1, %k[km]\n\t"
                     : [km] "=&r"(km)
                     : [v] "r"(v), [kv] "r"((uint32_t)kexp), [buf] "r"(buf)
                     : "rax", "rcx", "r11", "memory", ZMM_CLOBBERS);
    for (int j = 0; j < 32 * 16; j++)
        if (buf[j] != v)
            return 1 + j / 16;
    return km != kexp ? 100 : 0;
}

__attribute__((target("avx2"))) static int vec_ymm(uint32_t v)
{
    static __thread uint32_t buf[16 * 8] __attribute__((aligned(64)));
    __asm__ volatile(ALL16(LOAD_Y) "mov $24, %%eax\n\tsyscall\n\t" ALL16(STORE_Y)
                     :
                     : [v] "r"(v), [buf] "r"(buf)
                     : "rax", "rcx", "r11", "memory", YMM_CLOBBERS);
    for (int j = 0; j < 16 * 8; j++)
        if (buf[j] != v)
            return 1 + j / 8;
    return 0;
}

static pthread_barrier_t start_line;

static void *vec_thread(void *arg)
{
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start_line); /* all threads interleave from the first yield */
    for (int i = 0; i < ITER && !bad[t]; i++) {
        uint32_t v = (uint32_t)(t + 1) << 24 | (uint32_t)i;
        bad[t] = use_zmm ? vec_zmm(v) : vec_ymm(v);
        if (last != t)
            __atomic_add_fetch(&switches, 1, __ATOMIC_RELAXED);
        last = t;
    }
    return NULL;
}

static void probe_vecregs(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) {
        printf("skip - vector registers across thread switches: no AVX2\n");
        return;
    }
    use_zmm = __builtin_cpu_supports("avx512f");
    const char *what = use_zmm ? "ZMM0-31 and k1" : "YMM0-15";
    pthread_t th[THREADS];
    pthread_barrier_init(&start_line, NULL, THREADS);
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, vec_thread, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    int b = 0;
    for (int t = 0; t < THREADS; t++)
        if (bad[t])
            b = bad[t];
    if (b)
        NOTOK("%s survive thread switches (%d threads x %d yields): register %d corrupted",
              what, THREADS, ITER, b == 100 ? -1 : b - 1);
    else if (switches < 100)
        NOTOK("%s survive thread switches: threads did not interleave (%ld switches)", what,
              switches);
    else
        OK("%s survive thread switches (%d threads x %d yields, %ld switches)", what, THREADS,
           ITER, switches);
}
#else
static void probe_vecregs(void)
{
    printf("skip - vector registers across thread switches: not x86-64\n");
}
#endif

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && !strcmp(argv[1], "tls")) {
        if (access("/proc/net/tls_stat", R_OK))
            NOTOK("/proc/net/tls_stat exists (tls module loaded)");
        for (size_t i = 0; i < sizeof ciphers / sizeof ciphers[0]; i++)
            probe_cipher(&ciphers[i]);
    } else if (argc == 2 && !strcmp(argv[1], "vecregs")) {
        probe_vecregs();
    } else {
        fprintf(stderr, "usage: %s tls|vecregs\n", argv[0]);
        return 2;
    }
    return fails ? 1 : 0;
}
