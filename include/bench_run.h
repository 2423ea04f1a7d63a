/* kxfer bench's runner: a private directory with the test file and a certificate, the
 * optional pair of network namespaces, and the runs of one row (bench_run.c). */
#ifndef KXFER_BENCH_RUN_H
#define KXFER_BENCH_RUN_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench.h"

struct bench_opts {
	uint64_t size;
	unsigned runs;           /* measured runs per row */
	double seconds;          /* > 0: repeat a row's runs this long instead (at least 3) */
	unsigned threads;        /* server threads; 0: the CPUs, at most the connections */
	bool netns, verify, no_warmup;
	volatile sig_atomic_t *interrupted;

	/* bench_setup() */
	char self[PATH_MAX];     /* this binary, run as `serve` and `get` */
	char dir[PATH_MAX];      /* private: root/bench.bin, state/, logs, downloads */
	char pin[80];            /* sha256:HEX of the certificate the server uses */
	char cert[PATH_MAX + 32], key[PATH_MAX + 32]; /* that certificate and its key */
	char ns[2][32];          /* network namespaces of server [0] and client [1], or "" */
	const char *addr;        /* where the server listens */
};

/* Makes the directory (under parent), the file and the certificate, and the namespaces
 * with --netns.  0, or -errno with the reason in err. */
int bench_setup(struct bench_opts *o, const char *parent, char *err, size_t errlen);
/* Removes all of it again; safe after a failed setup. */
void bench_teardown(struct bench_opts *o);
/* Starts a server for the row, runs a warm-up and the measured runs, stops it.  Samples,
 * the paths taken, or failed and why, go into r. */
void bench_run_row(struct bench_opts *o, struct bench_row *r);

#endif
