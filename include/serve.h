/* kxfer serve: the configuration every worker thread shares (read-only once running). */
#ifndef KXFER_SERVE_H
#define KXFER_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "metrics.h"
#include "tls.h"

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
	bool plain;                  /* --plain: HTTP without TLS (no credentials) */
	bool generated;              /* the certificate is the state dir's self-signed one */
	enum ktls_mode ktls;
	uint64_t key_limit;          /* records sent under one key at most (RFC 8446 5.5) */
	/* What SIGHUP reads again (reload.c): certificate, key, client CAs, token. */
	struct tls_config tls;
	const char *token_file;
	bool listen_given;           /* --listen was on the command line */
	const char *metrics_listen;  /* --metrics ADDR:PORT, or NULL */
	struct sockaddr_storage metrics_addr;
	socklen_t metrics_addrlen;
	bool metrics_public;
	const char *user;            /* --user: drop to this user after binding */
};

/* The credentials a connection is accepted with.  SIGHUP builds a new set and swaps it in;
 * each connection holds a reference to the set it started with, so transfers in flight
 * finish on the old certificate while new connections get the new one. */
struct serve_creds {
	atomic_uint refs;
	struct tls_ctx *tls;         /* NULL with --plain */
	char *token;                 /* NULL: no bearer token required */
	size_t token_len;
	char pin[65];                /* SHA-256 of the certificate, hex */
	int64_t not_after;           /* the certificate's expiry, Unix time */
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
	atomic_uint running;         /* workers whose accept is armed */
	const struct serve_config *cfg;
	pthread_mutex_t creds_lock;  /* guards the creds pointer (not what it points to) */
	struct serve_creds *creds;
	struct metrics metrics;
	_Atomic double *heartbeat;   /* each worker's last tick (now_sec), for the watchdog */
	uint64_t watchdog_usec;      /* WATCHDOG_USEC, 0: none */
};

/* Credentials (reload.c).  creds_load builds a set from cfg's files: 0, or -errno with
 * err saying which file is wrong and why. */
int creds_load(const struct serve_config *cfg, struct serve_creds **out, char *err, size_t errlen);
/* A reference to the set in use now, for a new connection; creds_put releases one. */
struct serve_creds *creds_get(struct serve_shared *s);
void creds_put(struct serve_creds *c);
/* SIGHUP: loads the files again and swaps the new set in; a set that does not load is
 * logged and the old one stays.  0 or -errno. */
int serve_reload(struct serve_shared *s);
/* The start-up banner's status line for the service manager ("STATUS=..."). */
void serve_status(struct serve_shared *s, char *out, size_t cap);

/* Listeners, privileges, signals, worker threads and the metrics listener (serve_run.c):
 * runs until a stop signal.  Takes creds (the reference is the shared one).  0 or -errno. */
int serve_run(struct serve_config *cfg, struct serve_creds *creds);
/* "host:port" or "[v6]:port" -> a socket address; -EINVAL when it is not one. */
int parse_addr(const char *s, struct sockaddr_storage *addr, socklen_t *len);

int cmd_serve(int argc, char **argv);
const char *ktls_mode_name(enum ktls_mode m);
int parse_ktls_mode(const char *s, enum ktls_mode *m);

#endif
