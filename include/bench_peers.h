/* kxfer bench --peers: nginx and curl in the place of kxfer serve and kxfer get on the
 * userspace rows (bench_peers.c), and what bench_run.c shares with it to run them. */
#ifndef KXFER_BENCH_PEERS_H
#define KXFER_BENCH_PEERS_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "bench_run.h"

#define BENCH_FILE "bench.bin"
/* A server's processes: kxfer serve, or nginx's master and a worker per --threads. */
#define BENCH_MAX_PROCS 1025

/* A running server, kxfer serve or nginx. */
struct bench_srv {
	pid_t pid;               /* kxfer serve, or nginx's master */
	bool group;              /* its own process group (nginx): stopped as a whole */
	unsigned nprocs;
	clockid_t cpu[BENCH_MAX_PROCS]; /* the CPU clocks of all its processes */
	unsigned port;
	char url[128];           /* https://ADDR:PORT/bench.bin */
	char log[PATH_MAX + 16]; /* its stderr */
};

/* bench_run.c */
/* bench_spawn() flags: a server of its own process group, and as root pid 1 of its own PID
 * namespace, so that its children die with it even when bench is killed. */
#define SPAWN_SERVER 1u
/* Forks and runs argv (argv[0] a path) in network namespace ns ("" for ours), with stdout
 * and stderr into the given files (NULL: /dev/null).  The child's pid, or -errno. */
pid_t bench_spawn(const char *ns, char *const argv[], const char *out, const char *errf,
		  unsigned flags);
/* A small file, or the last cap - 1 bytes of a larger one, NUL-terminated, into buf. */
void bench_slurp(const char *path, char *buf, size_t cap);
/* The last line of a log that says something, for a reason. */
void bench_last_line(const char *path, char *out, size_t cap);
/* The server's threads (kxfer serve) or worker processes (nginx) for a row. */
unsigned bench_threads(const struct bench_opts *o, const struct bench_row *r);

/* bench_peers.c */
/* Why a row with this server and client cannot run here ("nginx not installed (apt-get
 * install nginx-light)"), or NULL when it can. */
const char *bench_peer_unavailable(enum bench_server srv, enum bench_client cli);
/* Writes nginx's config for the row, starts it and waits for its workers.  0, or -errno
 * with the reason in why. */
int bench_nginx_start(struct bench_opts *o, const struct bench_row *r, struct bench_srv *s,
		      char *why, size_t whylen);

/* curl's command line for one download into sink, its strings kept here. */
struct bench_curl {
	char resolve[96], url[128];
	char *argv[24];
};
void bench_curl_argv(const struct bench_opts *o, const struct bench_srv *s, const char *sink,
		     struct bench_curl *c);
/* Did curl (wait status st) get HTTP 200 and size bytes?  out is what it wrote for -w,
 * errf its stderr.  0, or -1 with the reason in why. */
int bench_curl_check(const char *out, const char *errf, int st, uint64_t size, char *why,
		     size_t whylen);

#endif
