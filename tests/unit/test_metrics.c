/* Unit tests for src/metrics.c: status and path indexes, and the Prometheus exposition of
 * two workers' known counters (sums, label escaping, per-worker series, the series that are
 * always or only sometimes written), with every line checked against the text format. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"
#include "unit.h"
#include "util.h"

/* Is line (without its newline) one whole line of text? */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static int count_prefix(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
		if (!strncmp(p, prefix, strlen(prefix)))
			n++;
		if (!strchr(p, '\n'))
			break;
	}
	return n;
}

static const char *name_end(const char *p, bool colon)
{
	if (!(isalpha((unsigned char)*p) || *p == '_' || (colon && *p == ':')))
		return NULL;
	while (isalnum((unsigned char)*p) || *p == '_' || (colon && *p == ':'))
		p++;
	return p;
}

/* One sample line of text format 0.0.4: name{label="value",...} value (no timestamp,
 * which kxfer never writes); the name is copied into fam. */
static bool sample_ok(const char *line, char *fam, size_t cap)
{
	const char *p = name_end(line, true), *v;
	char *end;

	if (!p || (size_t)(p - line) >= cap)
		return false;
	memcpy(fam, line, (size_t)(p - line));
	fam[p - line] = 0;
	if (*p == '{') {
		do {
			p++;
			if (!(p = name_end(p, false)) || *p++ != '=' || *p++ != '"')
				return false;
			for (; *p != '"'; p++) {
				if (!*p || *p == '\n')
					return false;
				if (*p == '\\' && !strchr("\\\"n", *++p))
					return false;
			}
			p++;
		} while (*p == ',');
		if (*p++ != '}')
			return false;
	}
	if (*p++ != ' ')
		return false;
	v = p;
	strtod(v, &end);
	return end != v && *end == 0;
}

/* Every line is a HELP, a TYPE or a sample; each family has HELP then TYPE once, before
 * its samples, and counters end in _total. */
static void check_grammar(const char *what, char *text)
{
	char name[160], fam[128] = "", typed[128] = "", helped[128] = "", seen[8192] = " ";
	bool ok = true;
	int lines = 0;

	for (char *line = strtok(text, "\n"); line && ok; line = strtok(NULL, "\n"), lines++) {
		char type[32];

		if (!strncmp(line, "# HELP ", 7)) {
			ok = sscanf(line + 7, "%127s", helped) == 1;
		} else if (!strncmp(line, "# TYPE ", 7)) {
			ok = sscanf(line + 7, "%127s %31s", typed, type) == 2 && !strcmp(typed, helped) &&
			     (!strcmp(type, "counter") || !strcmp(type, "gauge"));
			if (ok && !strcmp(type, "counter"))
				ok = strlen(typed) > 6 && !strcmp(typed + strlen(typed) - 6, "_total");
			snprintf(name, sizeof(name), " %s ", typed);
			ok = ok && !strstr(seen, name);  /* one TYPE per family, contiguous */
			strncat(seen, name + 1, sizeof(seen) - strlen(seen) - 1);
		} else {
			ok = sample_ok(line, fam, sizeof(fam)) && !strcmp(fam, typed);
		}
		if (!ok)
			printf("#   bad line: %s\n", line);
	}
	snprintf(name, sizeof(name), "%s: all %d lines follow the exposition grammar", what, lines);
	CHECK(name, ok && lines > 40);
}

static struct metrics_worker w[2];
static struct metrics m = { .workers = w, .nworkers = 2, .version = "v1.0-\"q\"\\x\ny",
			    .start_time = 1700000000.5 };

static void fill(void)
{
	unsigned s200 = metrics_status_index(200), s201 = metrics_status_index(201);

	w[0].requests[HTTP_GET][s200] = 3;
	w[1].requests[HTTP_GET][s200] = 4;
	w[0].requests[HTTP_HEAD][s200] = 1;
	w[1].requests[HTTP_PUT][s201] = 2;
	w[0].requests[HTTP_OTHER][metrics_status_index(999)] = 1;
	w[1].requests[HTTP_GET][metrics_status_index(404)] = 5;
	w[0].bytes[M_SENT][M_KTLS] = 1000;
	w[1].bytes[M_SENT][M_KTLS] = 24;
	w[1].bytes[M_SENT][M_PLAIN] = 7;
	w[0].bytes[M_RECEIVED][M_USERSPACE] = 10;
	w[0].connections = 5;
	w[1].connections = 6;
	w[0].open = 2;
	w[1].open = 1;
	w[1].refused = 1;
	w[0].handshakes = 9;
	w[1].handshakes = 1;
	w[0].handshake_failed[HS_PROTOCOL] = 2;
	w[1].handshake_failed[HS_PROTOCOL] = 1;
	w[1].handshake_failed[HS_PLAINTEXT] = 4;
	w[0].ktls_fallback[M_SENT][KF_NOT_OFFLOADED] = 1;
	w[1].ktls_fallback[M_SENT][KF_NOT_OFFLOADED] = 2;
	w[1].ktls_fallback[M_RECEIVED][KF_PENDING] = 1;
	w[0].key_limit_closes = 1;
	w[0].uploads_committed = 1;
	w[1].uploads_committed = 1;
	w[1].uploads_aborted = 1;
	m.reloads_ok = 2;
	m.reloads_failed = 1;
	m.last_reload_ok = false;
	m.cert_not_after = 1800000000;
	m.max_conns = 1024;
}

static const char *const want[] = {
	"kxfer_build_info{version=\"v1.0-\\\"q\\\"\\\\x\\ny\"} 1",
	"kxfer_start_time_seconds 1700000000.500",
	"kxfer_requests_total{method=\"GET\",status=\"200\"} 7",
	"kxfer_requests_total{method=\"HEAD\",status=\"200\"} 1",
	"kxfer_requests_total{method=\"PUT\",status=\"201\"} 2",
	"kxfer_requests_total{method=\"GET\",status=\"404\"} 5",
	"kxfer_requests_total{method=\"other\",status=\"other\"} 1",
	"kxfer_bytes_total{direction=\"sent\",path=\"ktls\"} 1024",
	"kxfer_bytes_total{direction=\"sent\",path=\"userspace\"} 0",
	"kxfer_bytes_total{direction=\"sent\",path=\"plain\"} 7",
	"kxfer_bytes_total{direction=\"received\",path=\"userspace\"} 10",
	"kxfer_bytes_total{direction=\"received\",path=\"plain\"} 0",
	"kxfer_connections_open 3",
	"kxfer_connections_max 1024",
	"kxfer_connections_total 11",
	"kxfer_connections_refused_total 1",
	"kxfer_handshakes_total 10",
	"kxfer_handshakes_failed_total{reason=\"closed\"} 0",
	"kxfer_handshakes_failed_total{reason=\"protocol\"} 3",
	"kxfer_handshakes_failed_total{reason=\"plaintext_http\"} 4",
	"kxfer_handshakes_failed_total{reason=\"client_certificate\"} 0",
	"kxfer_ktls_fallbacks_total{direction=\"tx\",reason=\"not_offloaded\"} 3",
	"kxfer_ktls_fallbacks_total{direction=\"rx\",reason=\"openssl_read_ahead\"} 1",
	"kxfer_ktls_fallbacks_total{direction=\"rx\",reason=\"kernel_refused\"} 0",
	"kxfer_key_limit_closes_total 1",
	"kxfer_uploads_total{result=\"committed\"} 2",
	"kxfer_uploads_total{result=\"aborted\"} 1",
	"kxfer_reloads_total{result=\"ok\"} 2",
	"kxfer_reloads_total{result=\"failed\"} 1",
	"kxfer_reload_last_successful 0",
	"kxfer_certificate_expiry_timestamp_seconds 1800000000",
	"kxfer_worker_connections_total{worker=\"0\"} 5",
	"kxfer_worker_connections_total{worker=\"1\"} 6",
	"kxfer_worker_connections_open{worker=\"0\"} 2",
	"kxfer_worker_connections_open{worker=\"1\"} 1",
	"kxfer_worker_bytes_total{worker=\"0\",direction=\"sent\"} 1000",
	"kxfer_worker_bytes_total{worker=\"0\",direction=\"received\"} 10",
	"kxfer_worker_bytes_total{worker=\"1\",direction=\"sent\"} 31",
	"kxfer_worker_bytes_total{worker=\"1\",direction=\"received\"} 0",
	"# TYPE kxfer_requests_total counter",
	"# TYPE kxfer_connections_open gauge",
	"# HELP kxfer_uploads_total PUT uploads, by result: committed (renamed into place) or aborted.",
};

static void test_render(void)
{
	char *out = NULL, name[256];
	size_t len = 0;

	fill();
	CHECK_INT("render: 0", metrics_render(&m, &out, &len), 0);
	if (!out)
		return;
	CHECK("render: len is the text's length, ending in a newline",
	      len == strlen(out) && len && out[len - 1] == '\n');
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		snprintf(name, sizeof(name), "render has: %s", want[i]);
		if (!CHECK(name, has_line(out, want[i])))
			printf("#   output:\n%s", i ? "" : out);
	}
	CHECK("render: zero (method, status) pairs are omitted (GET 206)",
	      !strstr(out, "status=\"206\""));
	CHECK_INT("render: requests_total has exactly the 5 non-zero series",
		  count_prefix(out, "kxfer_requests_total{"), 5);
	CHECK_INT("render: bytes_total: all 6 series", count_prefix(out, "kxfer_bytes_total{"), 6);
	CHECK_INT("render: handshakes_failed_total: all 7 reasons",
		  count_prefix(out, "kxfer_handshakes_failed_total{"), 7);
	CHECK_INT("render: ktls_fallbacks_total: all 8 series",
		  count_prefix(out, "kxfer_ktls_fallbacks_total{"), 8);
	CHECK_INT("render: one HELP per TYPE", count_prefix(out, "# HELP "), count_prefix(out, "# TYPE "));
	check_grammar("render", out);
	free(out);

	m.cert_not_after = 0;
	m.last_reload_ok = true;
	out = NULL;
	CHECK_INT("render without a certificate: 0", metrics_render(&m, &out, &len), 0);
	if (!out)
		return;
	CHECK("render: expiry family omitted (HELP, TYPE and sample) when cert_not_after is 0",
	      !strstr(out, "kxfer_certificate_expiry"));
	CHECK("render: reload_last_successful 1", has_line(out, "kxfer_reload_last_successful 1"));
	check_grammar("render without a certificate", out);
	free(out);
}

static void test_no_traffic(void)
{
	struct metrics_worker none[1] = { 0 };
	struct metrics z = { .workers = none, .nworkers = 1, .version = NULL };
	char *out = NULL;
	size_t len = 0;

	CHECK_INT("idle render: 0", metrics_render(&z, &out, &len), 0);
	if (!out)
		return;
	CHECK("idle render: GET 200 is written although zero",
	      has_line(out, "kxfer_requests_total{method=\"GET\",status=\"200\"} 0"));
	CHECK_INT("idle render: and it is the only requests series",
		  count_prefix(out, "kxfer_requests_total{"), 1);
	CHECK("idle render: no version: \"unknown\"",
	      has_line(out, "kxfer_build_info{version=\"unknown\"} 1"));
	check_grammar("idle render", out);
	free(out);
}

static void test_indexes(void)
{
	CHECK_INT("status index 200: 0", metrics_status_index(200), 0);
	CHECK_INT("status index 206: 3", metrics_status_index(206), 3);
	CHECK_INT("status index 507: last listed", metrics_status_index(507), M_STATUSES - 2);
	CHECK_INT("status index 418: other", metrics_status_index(418), M_STATUSES - 1);
	CHECK_INT("status index 0: other", metrics_status_index(0), M_STATUSES - 1);
	CHECK_INT("status index -200: other", metrics_status_index(-200), M_STATUSES - 1);
	CHECK_INT("path ktls", metrics_path("ktls"), M_KTLS);
	CHECK_INT("path userspace", metrics_path("userspace"), M_USERSPACE);
	CHECK_INT("path plain", metrics_path("plain"), M_PLAIN);
	CHECK_INT("path unknown: userspace", metrics_path("KTLS"), M_USERSPACE);
	CHECK_INT("path empty: userspace", metrics_path(""), M_USERSPACE);
	CHECK_INT("path NULL: userspace", metrics_path(NULL), M_USERSPACE);
}

int main(void)
{
	test_indexes();
	test_render();
	test_no_traffic();
	return unit_done();
}
