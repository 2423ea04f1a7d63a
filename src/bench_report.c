/* kxfer bench's output: medians and spread of the samples, then a table for people, JSON
 * or CSV for machines, and a gnuplot chart.  Nothing here runs a transfer. */
#include "bench.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* Below this, per-process costs (exec, handshake) distort the per-GiB figures. */
#define SMALL_FILE (256ull << 20)

static const char *const path_names[BP_COUNT] = {
	[BP_PLAIN] = "plain", [BP_USERSPACE] = "userspace", [BP_KTLS_TX] = "ktls-tx", [BP_KTLS] = "ktls",
};

const char *bench_path_name(enum bench_path p)
{
	return p < BP_COUNT ? path_names[p] : "?";
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median, min and max of one field of every sample. */
static void summarise_field(struct bench_row *r, size_t off)
{
	double v[BENCH_MAX_SAMPLES];
	unsigned n = r->nsamples;

	for (unsigned i = 0; i < n; i++)
		v[i] = *(const double *)((const char *)&r->samples[i] + off);
	qsort(v, n, sizeof(v[0]), cmp_double);
	*(double *)((char *)&r->min + off) = v[0];
	*(double *)((char *)&r->max + off) = v[n - 1];
	*(double *)((char *)&r->med + off) = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_summarise(struct bench_row *r)
{
	if (r->nsamples == 0)
		return;
	summarise_field(r, offsetof(struct bench_sample, mbps));
	summarise_field(r, offsetof(struct bench_sample, send_cpu));
	summarise_field(r, offsetof(struct bench_sample, recv_cpu));
}

static bool has_numbers(const struct bench_row *r)
{
	return r->available && !r->failed && r->nsamples > 0;
}

const char *bench_pair_name(const struct bench_row *r)
{
	static const char *const names[2][2] = {
		[BSRV_KXFER] = { [BCLI_KXFER] = "kxfer get <- kxfer serve", [BCLI_CURL] = "curl <- kxfer serve" },
		[BSRV_NGINX] = { [BCLI_KXFER] = "kxfer get <- nginx", [BCLI_CURL] = "curl <- nginx" },
	};

	return names[r->server][r->client];
}

/* The goals of --peers: kxfer's own pair against curl <- nginx, on the medians. */
static const struct {
	const char *name, *what;
	size_t field;
	double goal;
	bool at_most;
} ratio_defs[BENCH_RATIOS] = {
	{ "end_to_end_mbps", "end to end, MB/s: kxfer get <- kxfer serve / curl <- nginx",
	  offsetof(struct bench_sample, mbps), 1.30, false },
	{ "server_cpu_per_gib", "server CPU/GiB: kxfer serve (serving kxfer get) / nginx (serving curl)",
	  offsetof(struct bench_sample, send_cpu), 0.75, true },
	{ "client_cpu_per_gib", "client CPU/GiB: kxfer get (from kxfer serve) / curl (from nginx)",
	  offsetof(struct bench_sample, recv_cpu), 0.73, true },
};

static double sample_field(const struct bench_sample *s, size_t off)
{
	return *(const double *)((const char *)s + off);
}

bool bench_ratios(const struct bench_report *rep, const struct bench_row *r,
		  struct bench_ratio out[BENCH_RATIOS])
{
	const struct bench_row *ref = NULL, *bad;

	if (!rep->peers || r->path != BP_USERSPACE || r->server != BSRV_KXFER || r->client != BCLI_KXFER)
		return false;
	for (unsigned i = 0; i < rep->nrows && !ref; i++) {
		const struct bench_row *x = &rep->rows[i];

		if (x->path == r->path && x->conns == r->conns && !strcmp(x->suite, r->suite) &&
		    x->server == BSRV_NGINX && x->client == BCLI_CURL)
			ref = x;
	}
	bad = !has_numbers(r) ? r : ref && !has_numbers(ref) ? ref : NULL;
	for (int i = 0; i < BENCH_RATIOS; i++) {
		struct bench_ratio *q = &out[i];
		double den = ref ? sample_field(&ref->med, ratio_defs[i].field) : 0;

		*q = (struct bench_ratio){ .name = ratio_defs[i].name, .what = ratio_defs[i].what,
					   .goal = ratio_defs[i].goal, .at_most = ratio_defs[i].at_most };
		if (bad)
			snprintf(q->why, sizeof(q->why), "%s: %s: %s", bench_pair_name(bad),
				 bad->available ? "failed" : "unavailable", bad->why);
		else if (!ref || den <= 0)
			snprintf(q->why, sizeof(q->why), "curl <- nginx: %s", ref ? "a zero to divide by" : "no row");
		else {
			q->measured = true;
			q->value = sample_field(&r->med, ratio_defs[i].field) / den;
			q->met = q->at_most ? q->value <= q->goal : q->value >= q->goal;
		}
	}
	return true;
}

static const char *verdict(const struct bench_ratio *q)
{
	return !q->measured ? "not measured" : q->met ? "met" : "missed";
}

/* (max - min) / median, in percent: how far the runs of a row disagree. */
static double spread(double med, double lo, double hi)
{
	return med > 0 ? (hi - lo) / med * 100 : 0;
}

static const char *suite_or_dash(const struct bench_row *r)
{
	return r->suite ? r->suite : "-";
}

static void print_host(FILE *f, const struct bench_report *rep)
{
	char size[32], runs[64];

	if (rep->seconds > 0)
		snprintf(runs, sizeof(runs), "runs for at least %.0f s per row (3 to %d)", rep->seconds,
			 BENCH_MAX_SAMPLES);
	else
		snprintf(runs, sizeof(runs), "%u run%s per row", rep->runs, rep->runs == 1 ? "" : "s");
	fprintf(f, "kxfer %s bench%s%s%s: %s file, %s, %s\n", rep->version,
		rep->label ? " (" : "", rep->label ? rep->label : "", rep->label ? ")" : "",
		human_bytes(rep->size, size, sizeof(size)), runs,
		rep->netns ? "two network namespaces over a veth pair" : "loopback");
	fprintf(f, "host: %s, %ld CPU%s, Linux %s, %s, kTLS %s%s\n", rep->host.cpu,
		rep->host.cpus, rep->host.cpus == 1 ? "" : "s", rep->host.kernel, rep->host.openssl,
		rep->host.ktls ? "unavailable: " : "available", rep->host.ktls ? rep->host.ktls : "");
}

/* --peers: each userspace cipher's three ratios, against their goals. */
static void print_ratios(FILE *f, const struct bench_report *rep)
{
	struct bench_ratio q[BENCH_RATIOS];

	for (unsigned i = 0; i < rep->nrows; i++) {
		const struct bench_row *r = &rep->rows[i];

		if (!bench_ratios(rep, r, q))
			continue;
		fprintf(f, "\nkxfer against nginx and curl, %s, %u connection%s (ratios of the medians):\n",
			r->suite, r->conns, r->conns == 1 ? "" : "s");
		for (int k = 0; k < BENCH_RATIOS; k++) {
			fprintf(f, "  %-72s ", q[k].what);
			if (q[k].measured)
				fprintf(f, "%6.3f  goal %s %.2f  %s\n", q[k].value, q[k].at_most ? "<=" : ">=",
					q[k].goal, verdict(&q[k]));
			else
				fprintf(f, "not measured (%s)\n", q[k].why);
		}
	}
}

void bench_print_table(FILE *f, const struct bench_report *rep)
{
	print_host(f, rep);
	fprintf(f, "medians; spread = (max - min) / median of MB/s; CPU-s/GiB = CPU seconds per GiB moved\n");
	if (rep->size < SMALL_FILE)
		fprintf(f, "note: with files this small, process start-up and the handshake weigh as much "
			"as the transfer: these figures show function, not speed (use --size 1G)\n");
	fputc('\n', f);
	fprintf(f, "%-10s %-29s ", "path", "cipher");
	if (rep->peers)
		fprintf(f, "%-24s ", "client <- server");
	fprintf(f, "%5s %8s %9s %7s %10s %10s  %-10s %s\n", "conns", "Gb/s", "MB/s", "spread",
		"send CPU", "recv CPU", "sender", "receiver");
	fprintf(f, "%-10s %-29s ", "", "");
	if (rep->peers)
		fprintf(f, "%-24s ", "");
	fprintf(f, "%5s %8s %9s %7s %10s %10s\n", "", "", "", "", "s/GiB", "s/GiB");
	for (unsigned i = 0; i < rep->nrows; i++) {
		const struct bench_row *r = &rep->rows[i];

		fprintf(f, "%-10s %-29s ", bench_path_name(r->path), suite_or_dash(r));
		if (rep->peers)
			fprintf(f, "%-24s ", bench_pair_name(r));
		fprintf(f, "%5u ", r->conns);
		if (!has_numbers(r)) {
			fprintf(f, "%s: %s\n", r->available ? "failed" : "unavailable", r->why);
			continue;
		}
		fprintf(f, "%8.2f %9.1f %6.0f%% %10.3f %10.3f  %-10s %s\n", r->med.mbps * 8 / 1000,
			r->med.mbps, spread(r->med.mbps, r->min.mbps, r->max.mbps), r->med.send_cpu,
			r->med.recv_cpu, r->send_path, r->recv_path);
	}
	print_ratios(f, rep);
}

static void json_stat(FILE *f, const char *name, double med, double lo, double hi, int prec)
{
	fprintf(f, ",\"%s\":%.*f,\"%s_min\":%.*f,\"%s_max\":%.*f", name, prec, med, name, prec, lo,
		name, prec, hi);
}

static void json_row(FILE *f, const struct bench_report *rep, const struct bench_row *r)
{
	fprintf(f, "{\"path\":\"%s\",\"cipher\":", bench_path_name(r->path));
	if (r->suite)
		json_string(f, r->suite);
	else
		fputs("null", f);
	if (rep->peers)
		fprintf(f, ",\"client\":\"%s\",\"server\":\"%s\"", r->client == BCLI_CURL ? "curl" : "kxfer get",
			r->server == BSRV_NGINX ? "nginx" : "kxfer serve");
	fprintf(f, ",\"conns\":%u,\"available\":%s,\"ok\":%s", r->conns, r->available ? "true" : "false",
		has_numbers(r) ? "true" : "false");
	if (!has_numbers(r)) {
		fprintf(f, ",\"reason\":");
		json_string(f, r->why);
		fputc('}', f);
		return;
	}
	fprintf(f, ",\"gbps\":%.3f", r->med.mbps * 8 / 1000);
	json_stat(f, "mbps", r->med.mbps, r->min.mbps, r->max.mbps, 1);
	json_stat(f, "send_cpu_s_per_gib", r->med.send_cpu, r->min.send_cpu, r->max.send_cpu, 4);
	json_stat(f, "recv_cpu_s_per_gib", r->med.recv_cpu, r->min.recv_cpu, r->max.recv_cpu, 4);
	fprintf(f, ",\"send_path\":\"%s\",\"recv_path\":\"%s\"", r->send_path, r->recv_path);
	if (r->has_tls_stat) /* the whole row, warm-up included, both processes */
		fprintf(f, ",\"kernel_tls_sessions\":{\"tx\":%llu,\"rx\":%llu}", r->ktls_tx, r->ktls_rx);
	fprintf(f, ",\"samples\":[");
	for (unsigned i = 0; i < r->nsamples; i++)
		fprintf(f, "%s{\"mbps\":%.1f,\"send_cpu_s_per_gib\":%.4f,\"recv_cpu_s_per_gib\":%.4f}",
			i ? "," : "", r->samples[i].mbps, r->samples[i].send_cpu, r->samples[i].recv_cpu);
	fputs("]}", f);
}

/* "peer_ratios": [{cipher, conns, ratios: [{name, what, goal, goal_is, value, met, reason}]}] */
static void json_ratios(FILE *f, const struct bench_report *rep)
{
	struct bench_ratio q[BENCH_RATIOS];
	bool first = true;

	fprintf(f, ",\"peer_ratios\":[");
	for (unsigned i = 0; i < rep->nrows; i++) {
		const struct bench_row *r = &rep->rows[i];

		if (!bench_ratios(rep, r, q))
			continue;
		fprintf(f, "%s{\"cipher\":", first ? "" : ",");
		json_string(f, r->suite);
		fprintf(f, ",\"conns\":%u,\"ratios\":[", r->conns);
		for (int k = 0; k < BENCH_RATIOS; k++) {
			fprintf(f, "%s{\"name\":\"%s\",\"what\":", k ? "," : "", q[k].name);
			json_string(f, q[k].what);
			fprintf(f, ",\"goal\":%.2f,\"goal_is\":\"%s\"", q[k].goal, q[k].at_most ? "max" : "min");
			if (q[k].measured)
				fprintf(f, ",\"value\":%.4f,\"met\":%s}", q[k].value, q[k].met ? "true" : "false");
			else {
				fprintf(f, ",\"value\":null,\"met\":null,\"reason\":");
				json_string(f, q[k].why);
				fputc('}', f);
			}
		}
		fputs("]}", f);
		first = false;
	}
	fputc(']', f);
}

void bench_print_json(FILE *f, const struct bench_report *rep)
{
	fprintf(f, "{\"kxfer_version\":");
	json_string(f, rep->version);
	fprintf(f, ",\"date\":");
	json_string(f, rep->date);
	fprintf(f, ",\"label\":");
	if (rep->label)
		json_string(f, rep->label);
	else
		fputs("null", f);
	fprintf(f, ",\"size\":%llu,", (unsigned long long)rep->size);
	if (rep->seconds > 0) /* each row's samples say how many runs it got */
		fprintf(f, "\"runs\":null,\"seconds\":%.0f", rep->seconds);
	else
		fprintf(f, "\"runs\":%u,\"seconds\":null", rep->runs);
	fprintf(f, ",\"network\":\"%s\",\"verified\":%s,\"host\":{\"cpu\":",
		rep->netns ? "netns" : "loopback", rep->verify ? "true" : "false");
	json_string(f, rep->host.cpu);
	fprintf(f, ",\"cpus\":%ld,\"kernel\":", rep->host.cpus);
	json_string(f, rep->host.kernel);
	fprintf(f, ",\"openssl\":");
	json_string(f, rep->host.openssl);
	fprintf(f, ",\"ktls\":%s", rep->host.ktls ? "false" : "true");
	if (rep->host.ktls) {
		fprintf(f, ",\"ktls_reason\":");
		json_string(f, rep->host.ktls);
	}
	fprintf(f, "},\"rows\":[");
	for (unsigned i = 0; i < rep->nrows; i++) {
		if (i)
			fputc(',', f);
		json_row(f, rep, &rep->rows[i]);
	}
	fputc(']', f);
	if (rep->peers)
		json_ratios(f, rep);
	fprintf(f, "}\n");
}

/* A CSV field: quoted when it holds a comma or a quote. */
static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* --peers: a line "ratio,CIPHER,CONNS,MEASURED,...,REASON,,,NAME,VALUE,GOAL,VERDICT" per
 * ratio, after the rows. */
static void csv_ratios(FILE *f, const struct bench_report *rep)
{
	struct bench_ratio q[BENCH_RATIOS];

	for (unsigned i = 0; i < rep->nrows; i++) {
		const struct bench_row *r = &rep->rows[i];

		if (!bench_ratios(rep, r, q))
			continue;
		for (int k = 0; k < BENCH_RATIOS; k++) {
			fprintf(f, "ratio,%s,%u,%s,,,,,,,,,,", r->suite, r->conns, q[k].measured ? "yes" : "no");
			csv_field(f, q[k].why);
			fprintf(f, ",,,%s,", q[k].name);
			if (q[k].measured)
				fprintf(f, "%.4f", q[k].value);
			fprintf(f, ",%s%.2f,%s\n", q[k].at_most ? "<=" : ">=", q[k].goal, verdict(&q[k]));
		}
	}
}

void bench_print_csv(FILE *f, const struct bench_report *rep)
{
	fprintf(f, "path,cipher,conns,available,gbps,mbps,mbps_min,mbps_max,send_cpu_s_per_gib,"
		"recv_cpu_s_per_gib,send_path,recv_path,runs,reason%s\n",
		rep->peers ? ",client,server,ratio,value,goal,verdict" : "");
	for (unsigned i = 0; i < rep->nrows; i++) {
		const struct bench_row *r = &rep->rows[i];

		fprintf(f, "%s,%s,%u,%s,", bench_path_name(r->path), suite_or_dash(r), r->conns,
			r->available ? "yes" : "no");
		if (has_numbers(r))
			fprintf(f, "%.3f,%.1f,%.1f,%.1f,%.4f,%.4f,%s,%s,%u,", r->med.mbps * 8 / 1000,
				r->med.mbps, r->min.mbps, r->max.mbps, r->med.send_cpu, r->med.recv_cpu,
				r->send_path, r->recv_path, r->nsamples);
		else {
			fprintf(f, ",,,,,,,,0,");
			csv_field(f, r->why);
		}
		if (rep->peers)
			fprintf(f, ",%s,%s,,,,", r->client == BCLI_CURL ? "curl" : "kxfer get",
				r->server == BSRV_NGINX ? "nginx" : "kxfer serve");
		fputc('\n', f);
	}
	csv_ratios(f, rep);
}

/* "ktls AES_128_GCM x4" (with --peers "curl <- nginx AES_128_GCM" on the userspace rows):
 * a short label for the chart's axis. */
static void chart_label(const struct bench_report *rep, const struct bench_row *r, char *out,
			size_t cap)
{
	const char *s = r->suite ? r->suite + (strncmp(r->suite, "TLS_", 4) ? 0 : 4) : "";
	const char *sha = strstr(s, "_SHA");
	int n = sha ? (int)(sha - s) : (int)strlen(s);
	bool pair = rep->peers && r->path == BP_USERSPACE;
	int len = snprintf(out, cap, "%s%s%.*s", pair ? bench_pair_name(r) : bench_path_name(r->path),
			   *s ? " " : "", n, s);

	if (r->conns > 1 && len > 0 && (size_t)len < cap)
		snprintf(out + len, cap - (size_t)len, " x%u", r->conns);
}

/* Is there an executable `name` on $PATH? */
static bool on_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p; p += *p == ':') {
		size_t n = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, name);
		if (access(buf, X_OK) == 0)
			return true;
		p += n;
	}
	return false;
}

static const char gnuplot_script[] =
"set style data histograms\n"
"set style histogram clustered gap 1\n"
"set style fill solid 0.8 border -1\n"
"set boxwidth 0.9\n"
"set grid ytics\n"
"set xtics rotate by -30 left noenhanced\n"
"set key outside top center horizontal noenhanced\n"
"set datafile separator '\\t'\n"
"set multiplot layout 2,1 title '%s' noenhanced\n"
"set ylabel 'MB/s (median)'\n"
"set yrange [0:*]\n"
"plot $d using 2:xtic(1) title 'throughput' lc rgb '#3b75af'\n"
"set ylabel 'CPU seconds per GiB'\n"
"plot $d using 3:xtic(1) title '%s' lc rgb '#d62728', '' using 4 title '%s' lc rgb '#2ca02c'\n"
"unset multiplot\n";

int bench_plot_check(const char *file, char *err, size_t errlen)
{
	const char *dot = strrchr(file, '.');

	/* The name goes into gnuplot's script inside '...': nothing that could end it. */
	for (const char *p = file; *p; p++)
		if (*p == '\'' || (unsigned char)*p < 0x20) {
			snprintf(err, errlen, "--plot: the file name must not contain quotes or control characters");
			return -EINVAL;
		}
	if (!dot || (strcasecmp(dot, ".svg") && strcasecmp(dot, ".png"))) {
		snprintf(err, errlen, "--plot %s: the name must end in .png or .svg", file);
		return -EINVAL;
	}
	if (!on_path("gnuplot")) {
		snprintf(err, errlen, "--plot needs gnuplot (Debian: apt-get install gnuplot-nox)");
		return -ENOENT;
	}
	return 0;
}


int bench_plot(const struct bench_report *rep, const char *file, char *err, size_t errlen)
{
	const char *dot = strrchr(file, '.');
	bool svg = dot && !strcasecmp(dot, ".svg");
	char title[300], label[80];
	unsigned plotted = 0;
	FILE *gp;
	int status, rc = bench_plot_check(file, err, errlen);

	if (rc < 0)
		return rc;
	gp = popen("gnuplot", "w");
	if (!gp) {
		rc = -errno;
		snprintf(err, errlen, "--plot: cannot run gnuplot: %s", strerror(-rc));
		return rc;
	}
	fprintf(gp, "set terminal %s size 1000,800 font ',10'\nset output '%s'\n",
		svg ? "svg dynamic" : "pngcairo", file);
	fprintf(gp, "$d << EOD\n");
	for (unsigned i = 0; i < rep->nrows; i++) {
		const struct bench_row *r = &rep->rows[i];

		if (!has_numbers(r))
			continue;
		chart_label(rep, r, label, sizeof(label));
		fprintf(gp, "%s\t%.1f\t%.4f\t%.4f\n", label, r->med.mbps, r->med.send_cpu, r->med.recv_cpu);
		plotted++;
	}
	fprintf(gp, "EOD\n");
	snprintf(title, sizeof(title), "kxfer bench %s: %s, Linux %s%s%s", rep->version, rep->host.cpu,
		 rep->host.kernel, rep->label ? ", " : "", rep->label ? rep->label : "");
	for (char *p = title; *p; p++) /* it goes inside '...' in the script */
		if (*p == '\'' || (unsigned char)*p < 0x20)
			*p = ' ';
	if (plotted)
		fprintf(gp, gnuplot_script, title, rep->peers ? "server" : "sender (serve)",
			rep->peers ? "client" : "receiver (get)");
	status = pclose(gp);
	if (!plotted) {
		snprintf(err, errlen, "--plot: no row has numbers to plot");
		return -ENODATA;
	}
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "--plot: gnuplot failed (exit %d)",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -EIO;
	}
	return 0;
}
