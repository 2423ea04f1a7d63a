/* kxfer bench: runs `kxfer serve` and `kxfer get` -- this very binary, so the same code
 * paths users run -- on each data path (plaintext, userspace TLS, kTLS sending, kTLS both
 * ways), for each cipher and connection count, and measures throughput and the CPU time
 * of the sender and of the receiver per GiB moved.
 *
 * The sender's CPU time is read from its process CPU clock (clock_getcpuclockid) around
 * each run; each receiver's comes from wait4().  Both include everything the kernel does on
 * the process's behalf (TCP, and the crypto of kTLS), which is the point: kTLS moves work
 * into the kernel, and only a per-process count sees the whole cost. */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench_peers.h"
#include "bench_run.h"
#include "ktls.h"
#include "tls.h"
#include "util.h"

extern const char kxfer_version[];

static const char usage[] =
"Usage: kxfer bench [OPTIONS]\n"
"Measure kxfer serve -> kxfer get on every data path, side by side, on this host.\n"
"\n"
"  --size SIZE          file size per transfer, e.g. 64M, 1G (default 1G)\n"
"  --paths LIST         any of plain,userspace,ktls-tx,ktls (default: all)\n"
"                         plain      no TLS: splice and recv, the ceiling\n"
"                         userspace  OpenSSL encrypts and decrypts\n"
"                         ktls-tx    the kernel encrypts (splice), OpenSSL decrypts\n"
"                         ktls       the kernel encrypts and decrypts\n"
"  --ciphers LIST       any of aes128gcm,aes256gcm,chacha20 or their TLS_... names\n"
"                       (default: all three)\n"
"  --conns LIST         concurrent connections (kxfer get processes), e.g. 1,4 (default 1)\n"
"  --runs N             measured runs per row, after one warm-up (default 5, at most 64)\n"
"  --seconds S          instead: repeat each row's runs for at least S seconds (3 to 64 runs)\n"
"  --threads N          server worker threads (default: the CPUs, at most --conns)\n"
"  --peers              on the userspace path, per cipher, also measure curl <- nginx,\n"
"                       kxfer get <- nginx and curl <- kxfer serve, and print kxfer's\n"
"                       ratios to curl <- nginx against their goals: MB/s >= 1.30x, server\n"
"                       CPU/GiB <= 0.75x, client CPU/GiB <= 0.73x (needs nginx and curl;\n"
"                       nginx gets as many workers as kxfer serve has --threads)\n"
"  --netns              server and client in two network namespaces joined by a veth pair\n"
"                       (MTU 1500, 198.18.0.0/30; created and removed here; needs root)\n"
"  --dir DIR            where the test file goes (default $TMPDIR or /tmp; a tmpfs avoids\n"
"                       the disk entirely)\n"
"  --verify             write each download to a file and compare it with the original\n"
"                       (default: -o /dev/null; the byte count is always checked)\n"
"  --json | --csv       machine-readable results on stdout instead of the table\n"
"  --plot FILE          also draw throughput and CPU/GiB per row into FILE (.png or .svg),\n"
"                       through gnuplot\n"
"  --label TEXT         a note carried into every output (e.g. \"guest, emulated\")\n"
"  --quick              smoke test: 8 MiB, 3 runs, no warm-up, --verify (under a minute)\n"
"  -h, --help           this text\n"
"\n"
"A path this host cannot run is a row 'unavailable: REASON', never left out.  Each row is\n"
"the median of its runs; spread is (max - min) / median of the throughput.  Exit status:\n"
"0 every available row measured, 1 a transfer failed or moved wrong bytes, 2 bad usage.\n";

static const struct {
	const char *name, *suite;
	enum tls_aead aead;
} ciphers[] = {
	{ "aes128gcm", "TLS_AES_128_GCM_SHA256", TLS_AEAD_AES_128_GCM },
	{ "aes256gcm", "TLS_AES_256_GCM_SHA384", TLS_AEAD_AES_256_GCM },
	{ "chacha20", "TLS_CHACHA20_POLY1305_SHA256", TLS_AEAD_CHACHA20_POLY1305 },
};
#define NCIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))

static int parse_paths(const char *s, bool want[BP_COUNT])
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum bench_path p;

		for (p = 0; p < BP_COUNT && strcmp(tok, bench_path_name(p)); p++)
			;
		if (p == BP_COUNT)
			return -EINVAL;
		want[p] = true;
	}
	return 0;
}

static int parse_ciphers(const char *s, bool want[NCIPHERS])
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",:", &save); tok; tok = strtok_r(NULL, ",:", &save)) {
		size_t i;

		for (i = 0; i < NCIPHERS; i++)
			if (!strcasecmp(tok, ciphers[i].name) || !strcasecmp(tok, ciphers[i].suite))
				break;
		if (i == NCIPHERS)
			return -EINVAL;
		want[i] = true;
	}
	return 0;
}

static int parse_conns(const char *s, unsigned *out, unsigned cap, unsigned *n)
{
	char buf[256], *tok, *save = NULL;

	*n = 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == cap || parse_count(tok, 256, &out[*n]))
			return -EINVAL;
		(*n)++;
	}
	return *n ? 0 : -EINVAL;
}

static void host_facts(struct bench_host *h)
{
	struct tls_library lib;
	struct utsname u;

	if (!cpuinfo_value("model name", h->cpu, sizeof(h->cpu)))
		snprintf(h->cpu, sizeof(h->cpu), "unknown CPU");
	h->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(h->kernel, sizeof(h->kernel), "%s", uname(&u) == 0 ? u.release : "?");
	tls_library_info(&lib);
	h->openssl = lib.version;
	h->ktls = ktls_unavailable();
}

/* Why this host cannot run a path with this cipher, or NULL when it can. */
static const char *path_unavailable(enum bench_path p, enum tls_aead aead)
{
	int rc;

	if (p == BP_PLAIN || p == BP_USERSPACE)
		return NULL;
	if (ktls_unavailable())
		return ktls_unavailable();
	/* kxfer serve --ktls on takes both directions of its socket into the kernel */
	if ((rc = ktls_probe(aead, false)) < 0 || (rc = ktls_probe(aead, true)) < 0)
		return ktls_strerror(rc);
	return NULL;
}

/* --peers: after each userspace row, the same with nginx and curl in kxfer's place. */
static void plan_peers(struct bench_report *rep, const struct bench_row *kx)
{
	static const struct {
		enum bench_server srv;
		enum bench_client cli;
	} peers[] = { { BSRV_NGINX, BCLI_CURL }, { BSRV_NGINX, BCLI_KXFER }, { BSRV_KXFER, BCLI_CURL } };

	for (size_t i = 0; i < ARRAY_SIZE(peers); i++) {
		struct bench_row *r = &rep->rows[rep->nrows++];
		const char *why = bench_peer_unavailable(peers[i].srv, peers[i].cli);

		r->path = kx->path;
		r->conns = kx->conns;
		r->suite = kx->suite;
		r->server = peers[i].srv;
		r->client = peers[i].cli;
		r->available = !why;
		if (why)
			snprintf(r->why, sizeof(r->why), "%s", why);
	}
}

/* The rows to run, in the order of the table: conns, then path, then cipher (then, with
 * --peers, the pairs). */
static int plan_rows(struct bench_report *rep, const bool paths[BP_COUNT],
		     const bool want_cipher[NCIPHERS], const unsigned *conns, unsigned nconns)
{
	rep->rows = calloc((size_t)nconns * (BP_COUNT + 3) * NCIPHERS, sizeof(*rep->rows));
	if (!rep->rows)
		return -ENOMEM;
	for (unsigned c = 0; c < nconns; c++)
		for (enum bench_path p = 0; p < BP_COUNT; p++)
			for (size_t i = 0; i < NCIPHERS && paths[p]; i++) {
				struct bench_row *r = &rep->rows[rep->nrows];
				const char *why;

				if (!want_cipher[i])
					continue;
				r->path = p;
				r->conns = conns[c];
				r->suite = p == BP_PLAIN ? NULL : ciphers[i].suite;
				why = path_unavailable(p, ciphers[i].aead);
				r->available = !why;
				if (why)
					snprintf(r->why, sizeof(r->why), "%s", why);
				rep->nrows++;
				if (p == BP_USERSPACE && rep->peers)
					plan_peers(rep, r);
				if (p == BP_PLAIN)
					break; /* no cipher: one row */
			}
	return 0;
}

enum { OPT_SIZE = 256, OPT_PATHS, OPT_CIPHERS, OPT_CONNS, OPT_RUNS, OPT_SECONDS, OPT_THREADS,
       OPT_NETNS, OPT_DIR, OPT_VERIFY, OPT_JSON, OPT_CSV, OPT_PLOT, OPT_LABEL, OPT_QUICK,
       OPT_PEERS };

static const struct option options[] = {
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "paths", required_argument, NULL, OPT_PATHS },
	{ "ciphers", required_argument, NULL, OPT_CIPHERS },
	{ "conns", required_argument, NULL, OPT_CONNS },
	{ "runs", required_argument, NULL, OPT_RUNS },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "netns", no_argument, NULL, OPT_NETNS },
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "csv", no_argument, NULL, OPT_CSV },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "quick", no_argument, NULL, OPT_QUICK },
	{ "peers", no_argument, NULL, OPT_PEERS },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

int cmd_bench(int argc, char **argv)
{
	struct bench_report rep = { .version = kxfer_version, .size = 1ull << 30, .runs = 5 };
	struct bench_opts bo = { .runs = 5 };
	bool paths[BP_COUNT] = { 0 }, want_cipher[NCIPHERS] = { 0 }, any_path = false, any_cipher = false;
	bool json = false, csv = false, quick = false, size_set = false, runs_set = false;
	const char *plot = NULL, *dir = getenv("TMPDIR");
	unsigned conns[16] = { 1 }, nconns = 1;
	char date[32], err[300];
	time_t now = time(NULL);
	unsigned n;
	int opt, rc = 0;

	log_set_prog("kxfer bench");
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_SIZE:
			if (parse_size(optarg, &rep.size) || rep.size == 0)
				goto bad;
			size_set = true;
			break;
		case OPT_PATHS:
			if (parse_paths(optarg, paths))
				goto bad;
			any_path = true;
			break;
		case OPT_CIPHERS:
			if (parse_ciphers(optarg, want_cipher))
				goto bad;
			any_cipher = true;
			break;
		case OPT_CONNS:
			if (parse_conns(optarg, conns, 16, &nconns))
				goto bad;
			break;
		case OPT_RUNS:
			if (parse_count(optarg, BENCH_MAX_SAMPLES, &bo.runs))
				goto bad;
			runs_set = true;
			break;
		case OPT_SECONDS:
			if (parse_count(optarg, 3600, &n))
				goto bad;
			bo.seconds = n;
			break;
		case OPT_THREADS:
			if (parse_count(optarg, 1024, &bo.threads))
				goto bad;
			break;
		case OPT_NETNS: bo.netns = true; break;
		case OPT_DIR: dir = optarg; break;
		case OPT_VERIFY: bo.verify = true; break;
		case OPT_JSON: json = true; break;
		case OPT_CSV: csv = true; break;
		case OPT_PLOT: plot = optarg; break;
		case OPT_LABEL: rep.label = optarg; break;
		case OPT_QUICK: quick = true; break;
		case OPT_PEERS: rep.peers = true; break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc || (json && csv)) {
		log_err(optind != argc ? "unexpected argument '%s'" : "--json and --csv exclude each other",
			optind != argc ? argv[optind] : "");
		return 2;
	}
	if (plot && (rc = bench_plot_check(plot, err, sizeof(err))) < 0) {
		log_err("%s", err);
		return rc == -EINVAL ? 2 : 1;
	}
	if (bo.netns && geteuid() != 0) {
		log_err("--netns creates network namespaces and a veth pair: it needs root");
		return 2;
	}
	if (quick) {
		rep.size = size_set ? rep.size : 8u << 20;
		bo.runs = runs_set ? bo.runs : 3;
		bo.verify = true;
		bo.no_warmup = true;
	}
	for (enum bench_path p = 0; p < BP_COUNT && !any_path; p++)
		paths[p] = true;
	for (size_t i = 0; i < NCIPHERS && !any_cipher; i++)
		want_cipher[i] = true;
	rep.runs = bo.runs;
	rep.seconds = bo.seconds;
	rep.netns = bo.netns;
	rep.verify = bo.verify;
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	rep.date = date;
	host_facts(&rep.host);
	if (plan_rows(&rep, paths, want_cipher, conns, nconns) < 0) {
		log_err("out of memory");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	bo.interrupted = &interrupted;
	bo.size = rep.size;
	rc = bench_setup(&bo, dir && *dir ? dir : "/tmp", err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		bench_teardown(&bo); /* whatever was made before the failure */
		rc = 1;
		goto out;
	}
	for (unsigned i = 0; i < rep.nrows && !interrupted; i++) {
		struct bench_row *r = &rep.rows[i];

		if (!r->available)
			continue;
		if (!json && !csv)
			log_info("%s%s%s x%u%s%s ...", bench_path_name(r->path), r->suite ? " " : "",
				 r->suite ? r->suite : "", r->conns, rep.peers ? ": " : "",
				 rep.peers ? bench_pair_name(r) : "");
		bench_run_row(&bo, r);
		bench_summarise(r);
		if (r->failed)
			rc = 1;
	}
	bench_teardown(&bo);
	if (interrupted) {
		log_err("interrupted");
		rc = 130;
		goto out;
	}
	if (json)
		bench_print_json(stdout, &rep);
	else if (csv)
		bench_print_csv(stdout, &rep);
	else
		bench_print_table(stdout, &rep);
	fflush(stdout);
	if (plot && bench_plot(&rep, plot, err, sizeof(err)) < 0) {
		log_err("%s", err);
		rc = 1;
	}
out:
	free(rep.rows);
	return rc;
bad:
	return bad_option_value(options, opt, optarg);
}
