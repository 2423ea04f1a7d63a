/* kxfer bench: serve and get, run by this binary side by side on each data path, measured.
 * bench.c runs the transfers; bench_report.c turns the samples into a table, JSON, CSV or
 * a chart. */
#ifndef KXFER_BENCH_H
#define KXFER_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* How the body moves, sender (kxfer serve) and receiver (kxfer get). */
enum bench_path {
	BP_PLAIN,      /* no TLS: splice file -> pipe -> socket, recv: the ceiling */
	BP_USERSPACE,  /* OpenSSL on both sides */
	BP_KTLS_TX,    /* the kernel encrypts (splice), OpenSSL decrypts */
	BP_KTLS,       /* the kernel on both sides */
	BP_COUNT
};

/* Who serves and who downloads: kxfer's own pair on every row, and with --peers, on the
 * userspace path, nginx and curl in its place. */
enum bench_server { BSRV_KXFER, BSRV_NGINX };
enum bench_client { BCLI_KXFER, BCLI_CURL };

#define BENCH_MAX_SAMPLES 64

struct bench_sample {
	double mbps;             /* all connections' bytes over the wall time of the run */
	double send_cpu;         /* sender CPU seconds per GiB moved */
	double recv_cpu;         /* receiver CPU seconds per GiB, all client processes */
};

struct bench_row {
	enum bench_path path;
	const char *suite;       /* TLS 1.3 suite (OpenSSL name); NULL for plain */
	unsigned conns;
	enum bench_server server;  /* BSRV_KXFER but on the --peers rows */
	enum bench_client client;
	bool available;          /* false: why says so, and there are no numbers */
	bool failed;             /* a transfer failed or moved wrong bytes: why says which */
	char why[300];
	char send_path[16], recv_path[16];  /* the paths taken, as the programs reported them */
	bool has_tls_stat;       /* /proc/net/tls_stat exists: the two counts below are real */
	unsigned long long ktls_tx, ktls_rx; /* kTLS sessions the kernel set up during the row */
	unsigned nsamples;
	struct bench_sample samples[BENCH_MAX_SAMPLES];
	struct bench_sample med, min, max;  /* bench_summarise() */
};

struct bench_host {
	char cpu[128];
	long cpus;
	char kernel[128];
	const char *openssl;
	const char *ktls;        /* NULL: the kernel has the tls ULP; else why not */
};

struct bench_report {
	const char *version, *label, *date;
	uint64_t size;
	unsigned runs;
	double seconds;          /* > 0: runs repeated for this long per row instead */
	bool netns, verify;
	bool peers;              /* --peers: the nginx and curl rows, and the ratios */
	struct bench_host host;
	struct bench_row *rows;
	unsigned nrows;
};

/* kxfer get <- kxfer serve (userspace) against curl <- nginx, with --peers: MB/s, then the
 * server's and the client's CPU per GiB. */
#define BENCH_RATIOS 3

struct bench_ratio {
	const char *name;        /* the JSON and CSV key: "end_to_end_mbps", ... */
	const char *what;        /* for people: which rows and which quantity */
	double goal;
	bool at_most;            /* the goal is an upper bound (CPU), else a lower one (MB/s) */
	bool measured;           /* false: why says so */
	double value;
	bool met;
	char why[340];
};

const char *bench_path_name(enum bench_path p);
/* "kxfer get <- kxfer serve", "curl <- nginx", ... */
const char *bench_pair_name(const struct bench_row *r);
/* Is r a userspace kxfer get <- kxfer serve row of a --peers report?  Then out gets its
 * ratios against the curl <- nginx row of the same cipher and connections. */
bool bench_ratios(const struct bench_report *rep, const struct bench_row *r,
		  struct bench_ratio out[BENCH_RATIOS]);
/* Median, minimum and maximum of a row's samples, each quantity on its own. */
void bench_summarise(struct bench_row *r);
void bench_print_table(FILE *f, const struct bench_report *rep);
void bench_print_json(FILE *f, const struct bench_report *rep);
void bench_print_csv(FILE *f, const struct bench_report *rep);
/* Can --plot FILE work: a .png or .svg name, and gnuplot installed?  0, -EINVAL (the
 * name) or -ENOENT (no gnuplot), with the reason in err. */
int bench_plot_check(const char *file, char *err, size_t errlen);
/* A chart of throughput and CPU per GiB through gnuplot: PNG or SVG by file's suffix.
 * 0, or -errno with the reason in err. */
int bench_plot(const struct bench_report *rep, const char *file, char *err, size_t errlen);

int cmd_bench(int argc, char **argv);

#endif
