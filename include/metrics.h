/* kxfer serve's counters (serve --metrics): what the workers count as they go, and their
 * Prometheus text exposition (metrics.c), served by a small plaintext HTTP listener of its
 * own (metrics_http.c).
 *
 * Each worker thread owns one struct metrics_worker and is its only writer; the listener
 * reads them with relaxed atomic loads, so counting costs a worker no lock and no shared
 * cache line.  Totals are sums over the workers. */
#ifndef KXFER_METRICS_H
#define KXFER_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* requests by method (enum http_method order: GET, HEAD, PUT, other) and status */
#define M_METHODS 4
/* The statuses kxfer serve answers, in this order; anything else counts as "other". */
#define M_STATUS_LIST 200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 408, 409, 411, 412, \
	413, 416, 431, 500, 501, 503, 505, 507
#define M_STATUSES 23      /* the 22 above, then "other" */

enum m_dir { M_SENT, M_RECEIVED, M_DIRS };
enum m_path { M_KTLS, M_USERSPACE, M_PLAIN, M_PATHS };

/* Why a TLS handshake failed (label reason of kxfer_handshakes_failed_total). */
enum m_hs_fail {
	HS_CLOSED,             /* the peer closed or reset the connection mid-handshake */
	HS_TIMEOUT,            /* not complete within the handshake timeout */
	HS_PROTOCOL,           /* no version, cipher suite, group or ALPN protocol in common */
	HS_PLAINTEXT,          /* plaintext HTTP sent to the TLS port */
	HS_CLIENT_CERT,        /* --client-ca: no client certificate, or one that failed */
	HS_PEER_ALERT,         /* the client sent an alert: it refused our certificate, say */
	HS_OTHER,
	HS_FAILS,
};

/* Why a direction stayed in userspace although --ktls allowed the kernel. */
enum m_ktls_fallback {
	KF_NO_KERNEL_TLS,      /* the host has no kernel TLS (the tls ULP is missing) */
	KF_NOT_OFFLOADED,      /* OpenSSL did not offload this TLS version or cipher */
	KF_PENDING,            /* OpenSSL had already read past the handshake */
	KF_KERNEL_REFUSED,     /* setsockopt(TLS_RX) or the keys failed */
	KF_REASONS,
};

struct metrics_worker {
	atomic_ullong requests[M_METHODS][M_STATUSES];
	atomic_ullong bytes[M_DIRS][M_PATHS];      /* body bytes, as the access log counts them */
	atomic_ullong connections;                 /* accepted */
	atomic_uint open;                          /* open now */
	atomic_ullong refused;                     /* answered 503: over --max-conns */
	atomic_ullong handshakes;                  /* completed */
	atomic_ullong handshake_failed[HS_FAILS];
	atomic_ullong ktls_fallback[M_DIRS][KF_REASONS]; /* [M_SENT]: TX, [M_RECEIVED]: RX */
	atomic_ullong key_limit_closes;            /* responses ended at --key-limit (kTLS) */
	atomic_ullong uploads_committed;
	atomic_ullong uploads_aborted;
};

/* The process-wide part: reloads, the certificate in use, the start time. */
struct metrics {
	struct metrics_worker *workers;
	unsigned nworkers;
	const char *version;
	double start_time;                         /* Unix time, seconds */
	atomic_ullong reloads_ok, reloads_failed;
	atomic_bool last_reload_ok;                /* true until a reload fails */
	_Atomic int64_t cert_not_after;            /* Unix time; 0 with --plain */
	atomic_uint max_conns;                     /* --max-conns */
};

/* Single-writer increments: a relaxed read-modify-write of the worker's own counter. */
#define M_ADD(counter, n) atomic_fetch_add_explicit(&(counter), (n), memory_order_relaxed)
#define M_INC(counter) M_ADD(counter, 1)

/* Index of an HTTP status in M_STATUS_LIST, M_STATUSES - 1 for any other. */
unsigned metrics_status_index(int status);
/* The data path a direction took, from conn_path_name()'s names. */
enum m_path metrics_path(const char *name);

/* The whole exposition (text format 0.0.4), every family with HELP and TYPE, into a
 * malloc'd buffer (*out, *len).  0 or -ENOMEM. */
int metrics_render(const struct metrics *m, char **out, size_t *len);

/* The listener: a thread that accepts on listen_fd and answers GET/HEAD /metrics (404 for
 * other paths, 405 for other methods), one connection at a time, each with a 5 s limit. */
struct metrics_server;
int metrics_server_start(int listen_fd, const struct metrics *m, struct metrics_server **out);
/* Stops the thread, closes the listener, frees s. */
void metrics_server_stop(struct metrics_server *s);

#endif
