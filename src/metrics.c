/* The Prometheus text exposition (format 0.0.4) of kxfer serve's counters.  Pure code: the
 * workers' counters in, one text buffer out.
 *
 * Every family gets # HELP and # TYPE; counters end in _total; label values are escaped as
 * the format asks (backslash, double quote, newline).  Totals are sums over the workers,
 * each counter read with a relaxed load: a scrape may see one worker a few increments ahead
 * of another, which Prometheus tolerates (counters only ever grow). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

static const char *const method_names[M_METHODS] = { "GET", "HEAD", "PUT", "other" };
static const int statuses[] = { M_STATUS_LIST };
_Static_assert(ARRAY_SIZE(statuses) == M_STATUSES - 1, "M_STATUSES is M_STATUS_LIST + other");

static const char *const dir_names[M_DIRS] = { "sent", "received" };
static const char *const path_names[M_PATHS] = { "ktls", "userspace", "plain" };
/* kTLS fallbacks are per direction of the socket, as the kernel names them (TLS_TX/TLS_RX). */
static const char *const ktls_dir_names[M_DIRS] = { "tx", "rx" };

static const char *const hs_names[HS_FAILS] = {
	[HS_CLOSED] = "closed",
	[HS_TIMEOUT] = "timeout",
	[HS_PROTOCOL] = "protocol",
	[HS_PLAINTEXT] = "plaintext_http",
	[HS_CLIENT_CERT] = "client_certificate",
	[HS_PEER_ALERT] = "peer_alert",
	[HS_OTHER] = "other",
};

static const char *const kf_names[KF_REASONS] = {
	[KF_NO_KERNEL_TLS] = "no_kernel_tls",
	[KF_NOT_OFFLOADED] = "not_offloaded",
	[KF_PENDING] = "openssl_read_ahead",
	[KF_KERNEL_REFUSED] = "kernel_refused",
};

unsigned metrics_status_index(int status)
{
	for (unsigned i = 0; i < ARRAY_SIZE(statuses); i++)
		if (statuses[i] == status)
			return i;
	return M_STATUSES - 1;
}

enum m_path metrics_path(const char *name)
{
	for (unsigned i = 0; i < M_PATHS; i++)
		if (name && !strcmp(name, path_names[i]))
			return (enum m_path)i;
	/* An unknown name is TLS of some kind; userspace is the path that always exists. */
	return M_USERSPACE;
}

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
/* One worker counter summed over every worker (any atomic integer type). */
#define SUM(m, field)                                                              \
	({                                                                         \
		unsigned long long s_ = 0;                                         \
		for (unsigned w_ = 0; w_ < (m)->nworkers; w_++)                    \
			s_ += LD((m)->workers[w_].field);                          \
		s_;                                                                \
	})

/* A label value as the format wants it: \ " and newline escaped, nothing else. */
static void put_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	/* The help texts are ours and hold neither backslashes nor newlines: no escaping. */
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void requests(FILE *f, const struct metrics *m)
{
	char code[16];

	family(f, "kxfer_requests_total", "counter",
	       "HTTP requests answered, by method and status.");
	/* 4 methods x 22 statuses would be 88 series, nearly all zero: only the pairs that
	 * occurred are written.  GET 200 always is, so that the family is never empty and
	 * the busiest series starts at 0 from the first scrape (rate() then sees its first
	 * increments); any other series appears when it first counts, as is usual for
	 * labels that depend on traffic. */
	for (unsigned i = 0; i < M_METHODS; i++) {
		for (unsigned j = 0; j < M_STATUSES; j++) {
			unsigned long long n = SUM(m, requests[i][j]);

			if (!n && !(i == 0 && j == metrics_status_index(200)))
				continue;
			snprintf(code, sizeof(code), "%d", j < M_STATUSES - 1 ? statuses[j] : 0);
			fprintf(f, "kxfer_requests_total{method=\"%s\",status=\"%s\"} %llu\n",
				method_names[i], j < M_STATUSES - 1 ? code : "other", n);
		}
	}
}

static void bytes(FILE *f, const struct metrics *m)
{
	family(f, "kxfer_bytes_total", "counter",
	       "Bytes of request and response bodies (as the access log counts them), "
	       "by direction and data path.");
	for (unsigned d = 0; d < M_DIRS; d++)
		for (unsigned p = 0; p < M_PATHS; p++)
			fprintf(f, "kxfer_bytes_total{direction=\"%s\",path=\"%s\"} %llu\n",
				dir_names[d], path_names[p], SUM(m, bytes[d][p]));
}

static void handshakes(FILE *f, const struct metrics *m)
{
	family(f, "kxfer_handshakes_total", "counter", "TLS handshakes completed.");
	fprintf(f, "kxfer_handshakes_total %llu\n", SUM(m, handshakes));
	family(f, "kxfer_handshakes_failed_total", "counter", "TLS handshakes failed, by reason.");
	for (unsigned r = 0; r < HS_FAILS; r++)
		fprintf(f, "kxfer_handshakes_failed_total{reason=\"%s\"} %llu\n", hs_names[r],
			SUM(m, handshake_failed[r]));
	family(f, "kxfer_ktls_fallbacks_total", "counter",
	       "Connection directions kept in userspace TLS although --ktls allowed the kernel, "
	       "by direction and reason.");
	for (unsigned d = 0; d < M_DIRS; d++)
		for (unsigned r = 0; r < KF_REASONS; r++)
			fprintf(f, "kxfer_ktls_fallbacks_total{direction=\"%s\",reason=\"%s\"} %llu\n",
				ktls_dir_names[d], kf_names[r], SUM(m, ktls_fallback[d][r]));
	family(f, "kxfer_key_limit_closes_total", "counter",
	       "Responses ended and connections closed at --key-limit (kernel TLS cannot update keys).");
	fprintf(f, "kxfer_key_limit_closes_total %llu\n", SUM(m, key_limit_closes));
}

/* A plain counter or gauge without labels. */
struct scalar {
	const char *name, *type, *help;
	unsigned long long value;
};

static void scalars(FILE *f, const struct scalar *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		family(f, s[i].name, s[i].type, s[i].help);
		fprintf(f, "%s %llu\n", s[i].name, s[i].value);
	}
}

static void process(FILE *f, const struct metrics *m)
{
	int64_t not_after = LD(m->cert_not_after);

	family(f, "kxfer_build_info", "gauge", "Always 1; the label says which kxfer this is.");
	fputs("kxfer_build_info{version=\"", f);
	put_label_value(f, m->version ? m->version : "unknown");
	fputs("\"} 1\n", f);
	family(f, "kxfer_start_time_seconds", "gauge", "When kxfer serve started, in Unix time.");
	fprintf(f, "kxfer_start_time_seconds %.3f\n", m->start_time);

	family(f, "kxfer_reloads_total", "counter",
	       "Certificate and key reloads (SIGHUP), by result.");
	fprintf(f, "kxfer_reloads_total{result=\"ok\"} %llu\n", LD(m->reloads_ok));
	fprintf(f, "kxfer_reloads_total{result=\"failed\"} %llu\n", LD(m->reloads_failed));
	family(f, "kxfer_reload_last_successful", "gauge",
	       "1 unless the last reload failed (the previous certificate then stays in use).");
	fprintf(f, "kxfer_reload_last_successful %d\n", LD(m->last_reload_ok) ? 1 : 0);
	/* Without a certificate (--plain) there is no expiry: absent, rather than a 0 that
	 * an alert on "expires within N days" would fire on. */
	if (not_after) {
		family(f, "kxfer_certificate_expiry_timestamp_seconds", "gauge",
		       "notAfter of the certificate in use, in Unix time.");
		fprintf(f, "kxfer_certificate_expiry_timestamp_seconds %lld\n",
			(long long)not_after);
	}
}

static void per_worker(FILE *f, const struct metrics *m)
{
	family(f, "kxfer_worker_connections_total", "counter", "Connections accepted, by worker thread.");
	for (unsigned w = 0; w < m->nworkers; w++)
		fprintf(f, "kxfer_worker_connections_total{worker=\"%u\"} %llu\n", w,
			LD(m->workers[w].connections));
	family(f, "kxfer_worker_connections_open", "gauge", "Connections open now, by worker thread.");
	for (unsigned w = 0; w < m->nworkers; w++)
		fprintf(f, "kxfer_worker_connections_open{worker=\"%u\"} %u\n", w,
			LD(m->workers[w].open));
	family(f, "kxfer_worker_bytes_total", "counter",
	       "Bytes sent and received, by worker thread (all data paths together).");
	for (unsigned w = 0; w < m->nworkers; w++) {
		for (unsigned d = 0; d < M_DIRS; d++) {
			unsigned long long n = 0;

			for (unsigned p = 0; p < M_PATHS; p++)
				n += LD(m->workers[w].bytes[d][p]);
			fprintf(f, "kxfer_worker_bytes_total{worker=\"%u\",direction=\"%s\"} %llu\n",
				w, dir_names[d], n);
		}
	}
}

static void connections(FILE *f, const struct metrics *m)
{
	const struct scalar s[] = {
		{ "kxfer_connections_open", "gauge", "Connections open now.", SUM(m, open) },
		{ "kxfer_connections_max", "gauge", "Open connections allowed (--max-conns).",
		  LD(m->max_conns) },
		{ "kxfer_connections_total", "counter", "Connections accepted.", SUM(m, connections) },
		{ "kxfer_connections_refused_total", "counter",
		  "Connections answered 503 because --max-conns were already open.", SUM(m, refused) },
	};

	scalars(f, s, ARRAY_SIZE(s));
}

int metrics_render(const struct metrics *m, char **out, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	int rc;

	if (!f)
		return -ENOMEM;
	process(f, m);
	requests(f, m);
	bytes(f, m);
	connections(f, m);
	handshakes(f, m);
	family(f, "kxfer_uploads_total", "counter",
	       "PUT uploads, by result: committed (renamed into place) or aborted.");
	fprintf(f, "kxfer_uploads_total{result=\"committed\"} %llu\n", SUM(m, uploads_committed));
	fprintf(f, "kxfer_uploads_total{result=\"aborted\"} %llu\n", SUM(m, uploads_aborted));
	per_worker(f, m);

	/* open_memstream reports a failed allocation through the stream's error flag. */
	rc = ferror(f) ? -ENOMEM : 0;
	if (fclose(f) && !rc)
		rc = -ENOMEM;
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}
