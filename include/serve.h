/* kxfer serve: the configuration every worker thread shares (read-only once running). */
#ifndef KXFER_SERVE_H
#define KXFER_SERVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

enum ktls_mode { KTLS_OFF, KTLS_AUTO, KTLS_ON };

struct serve_config {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *listen;
	const char *root;
	int root_fd;                 /* O_PATH|O_DIRECTORY: every open is relative to it */
	unsigned threads;
	unsigned max_conns;
	unsigned idle_timeout;       /* seconds */
	unsigned handshake_timeout;  /* seconds */
	unsigned stop_grace;         /* seconds transfers may run on after SIGTERM */
	bool allow_upload;
	bool plain;                  /* --plain: HTTP without TLS (tls is NULL) */
	char *token;                 /* NULL: no bearer token required */
	size_t token_len;
	enum ktls_mode ktls;
	uint64_t key_limit;          /* records sent under one key at most (RFC 8446 5.5) */
	struct tls_ctx *tls;
};

/* RFC 8446 5.5: AES-GCM keys carry at most 2^24.5 full records; we stop at 2^24. */
#define KEY_LIMIT_DEFAULT (1ull << 24)

/* Mutable state shared by the workers. */
struct serve_shared {
	atomic_uint conns;           /* open connections, all workers */
	atomic_bool stopping;
	atomic_bool ktls_told;       /* why kTLS is not used has been logged once */
	int *wake_fds;               /* every worker's eventfd, for a stop request */
	unsigned nworkers;
};

int cmd_serve(int argc, char **argv);
const char *ktls_mode_name(enum ktls_mode m);
int parse_ktls_mode(const char *s, enum ktls_mode *m);

#endif
