/* What a client run tells its user: a progress line on a terminal, and the closing summary
 * (a line, or one JSON object for scripts). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "progress.h"
#include "tls.h"
#include "util.h"

void progress_begin(struct progress *p, uint64_t total, uint64_t base, bool quiet)
{
	p->start = p->last = now_sec();
	p->total = total;
	p->base = base;
	p->on = !quiet && isatty(STDERR_FILENO);
	p->drawn = false;
}

void progress_update(struct progress *p, uint64_t done)
{
	double now, rate;
	char have[32], all[32], eta[32] = "";

	if (!p->on)
		return;
	now = now_sec();
	if (now - p->last < 0.25)
		return;
	p->last = now;
	rate = (double)done / (now - p->start);
	if (p->total && rate > 0)
		snprintf(eta, sizeof(eta), "  ETA %.0f s", (double)(p->total - p->base - done) / rate);
	fprintf(stderr, "\r%s / %s  %.1f MB/s%s   ", human_bytes(p->base + done, have, sizeof(have)),
		p->total ? human_bytes(p->total, all, sizeof(all)) : "?", rate / 1e6, eta);
	p->drawn = true;
}

void progress_end(struct progress *p)
{
	if (p->drawn)
		fprintf(stderr, "\r\033[K");
	p->drawn = false;
}

int client_report(struct client *c, int code, uint64_t bytes, double secs, const char *dest)
{
	const struct client_opts *o = c->opts;
	const char *version = c->tls ? tls_version(c->tls) : "", *cipher = c->tls ? tls_cipher(c->tls) : "";
	const char *tx = client_path_name(c, true), *rx = client_path_name(c, false);
	double mbps = secs > 0 ? (double)bytes / secs / 1e6 : 0;
	char human[32];

	if (code != EXIT_OK)
		log_err("%s", c->err[0] ? c->err : "failed");
	if (o->json) {
		FILE *f = dest && !strcmp(dest, "-") ? stderr : stdout;

		fprintf(f, "{\"url\":");
		json_string(f, o->url);
		fprintf(f, ",\"status\":%d,\"exit_code\":%d,\"bytes\":%llu,\"seconds\":%.6f,\"mbps\":%.2f,"
			"\"tls_version\":", c->resp.status, code, (unsigned long long)bytes, secs, mbps);
		json_string(f, version);
		fprintf(f, ",\"cipher\":");
		json_string(f, cipher);
		fprintf(f, ",\"tx_path\":\"%s\",\"rx_path\":\"%s\",\"output\":", tx, rx);
		json_string(f, dest ? dest : "");
		if (c->ktls_why[0]) {
			fprintf(f, ",\"ktls_note\":");
			json_string(f, c->ktls_why);
		}
		if (code != EXIT_OK) {
			fprintf(f, ",\"error\":");
			json_string(f, c->err);
		}
		fprintf(f, "}\n");
		fflush(f);
	} else if (code == EXIT_OK && !o->quiet) {
		log_info("%llu bytes (%s) in %.3f s, %.1f MB/s, %s %s, rx=%s tx=%s%s%s%s",
			 (unsigned long long)bytes, human_bytes(bytes, human, sizeof(human)), secs, mbps,
			 c->url.plain ? "plaintext," : version, c->url.plain ? "no TLS" : cipher, rx, tx, c->ktls_why[0] ? " (" : "", c->ktls_why,
			 c->ktls_why[0] ? ")" : "");
	}
	return code;
}
