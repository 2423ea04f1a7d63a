/* kxfer doctor: what this host supports for fast TLS transfer, and what to tune.
 *
 * The probes (doctor_host.c: kernel, kTLS, io_uring, OpenSSL, CPU; doctor_tune.c: sysctls and
 * limits; doctor_net.c: network interfaces) record what they found in struct doctor_facts and
 * judge it as checks; doctor_service.c: what a long-running service needs; doctor.c runs them,
 * prints the table and decides the exit status;
 * doctor_json.c prints both as one JSON object (documented in docs/tuning.md). */
#ifndef KXFER_DOCTOR_H
#define KXFER_DOCTOR_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls.h"

/* Exit status: 0 the fastest path works here, 1 kxfer runs slower than it could, 2 it cannot
 * run here (and for usage errors). */
enum doctor_exit {
	DOCTOR_EXIT_OK = 0,
	DOCTOR_EXIT_REDUCED = 1,
	DOCTOR_EXIT_CANNOT = 2,
	DOCTOR_EXIT_USAGE = 2,
};

/* Ordered by weight: the worst WARN or FAIL decides the exit status. */
enum doctor_status { DOCTOR_INFO, DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL };

struct doctor_check {
	/* "kernel", "ktls", "io_uring", "openssl", "cpu", "tuning", "network" or "service" */
	const char *section;
	char name[24];
	enum doctor_status status;
	char found[512];
	char fix[384];             /* the command or setting that fixes it; "" when none */
};

/* The three TLS 1.3 AEADs kxfer offloads, as named in JSON keys and in text. */
#define DOCTOR_AEADS 3
struct doctor_aead {
	enum tls_aead aead;
	const char *key;           /* "AES_128_GCM" */
	const char *name;          /* "AES-128-GCM" */
	const char *since;         /* the kernel that offloads it for TLS 1.3 */
};
extern const struct doctor_aead doctor_aeads[DOCTOR_AEADS];

/* The io_uring opcodes kxfer submits (grep io_uring_prep_ src/). */
#define DOCTOR_OPS 8
struct doctor_op {
	int op;
	const char *name;
	const char *since;
};
extern const struct doctor_op doctor_ops[DOCTOR_OPS];

/* The optional kTLS socket options, indexed by enum ktls_option. */
#define DOCTOR_KTLS_OPTIONS 2
struct doctor_ktls_option {
	const char *key;           /* "tx_zerocopy_ro" */
	const char *name;          /* "TX_ZEROCOPY_RO" */
	const char *since;
	const char *what;
};
extern const struct doctor_ktls_option doctor_ktls_options[DOCTOR_KTLS_OPTIONS];

/* CPU flags that speed up TLS crypto, per architecture (/proc/cpuinfo). */
#define DOCTOR_CPU_FLAGS 10
struct doctor_cpu_flag {
	const char *name;
	const char *arch;          /* "x86_64" or "aarch64" */
};
extern const struct doctor_cpu_flag doctor_cpu_flags[DOCTOR_CPU_FLAGS];

#define DOCTOR_SYSCTLS 10
#define DOCTOR_IFACES 64
#define DOCTOR_TLS_STATS 32

struct doctor_facts {
	char release[65], machine[65];
	struct {
		bool ulp;
		char reason[256];       /* why the tls ULP is missing; "" when it is there */
		char module[160];       /* where the tls module stands */
		int tx[DOCTOR_AEADS], rx[DOCTOR_AEADS];  /* ktls_probe: 0 or -errno */
		int rekey;                               /* ktls_probe_rekey: 0 or -errno */
		int option[DOCTOR_KTLS_OPTIONS];         /* ktls_probe_option: 0 or -errno */
		bool stat_present;
		size_t nstat;
		struct doctor_tls_stat {
			char name[40];
			unsigned long long value;
		} stat[DOCTOR_TLS_STATS];
	} ktls;
	struct {
		int disabled;           /* kernel.io_uring_disabled; -1: no such sysctl */
		int init_err;           /* io_uring_queue_init: 0 or -errno */
		bool probed;            /* io_uring_get_probe answered */
		bool op[DOCTOR_OPS];
		bool usable;
	} uring;
	struct doctor_openssl {
		char version[96];
		unsigned major, minor, patch;
		bool tls13, ktls_built, tx_offload, rx_offload;
	} openssl;
	struct {
		char model[128];
		bool flag[DOCTOR_CPU_FLAGS];
		double aead_bps[DOCTOR_AEADS]; /* userspace, one core; 0: failed */
	} cpu;
	struct {
		const char *key;
		char value[128];        /* "" when the sysctl is absent */
	} sysctl[DOCTOR_SYSCTLS];
	size_t nsysctl;
	unsigned long long nofile_soft, nofile_hard;
	struct doctor_iface {
		char name[IF_NAMESIZE];
		bool up, loopback;
		int mtu;                /* -1: unknown */
		long long speed;        /* Mb/s; -1: unknown (virtual, or link down) */
		char tls_tx[16], tls_rx[16]; /* "on", "off", "off [fixed]", "unknown" */
	} iface[DOCTOR_IFACES];
	size_t niface;
};

struct doctor {
	struct doctor_facts f;
	struct doctor_check check[40 + DOCTOR_IFACES + 1];
	size_t ncheck;
	const char *only_iface;     /* --iface */
};

/* Appends a check; found is a printf format.  fix may be NULL. */
void doctor_add(struct doctor *d, const char *section, const char *name,
		enum doctor_status st, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
const char *doctor_status_name(enum doctor_status st);
/* printf at the end of the string in buf, truncating at cap. */
void doctor_append(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* 0 ok, 1 reduced, 2 cannot run: from the worst check. */
int doctor_exit(const struct doctor *d);
const char *doctor_verdict(int exit_code);

void doctor_kernel(struct doctor *d);
void doctor_ktls(struct doctor *d);
void doctor_uring(struct doctor *d);
void doctor_openssl(struct doctor *d);
void doctor_cpu(struct doctor *d);
void doctor_tune(struct doctor *d);
void doctor_net(struct doctor *d);
void doctor_service(struct doctor *d);

/* The first line of a /proc or /sys file, trailing white space removed; 0 or -errno. */
int doctor_read_line(const char *path, char *buf, size_t cap);

void doctor_print_json(const struct doctor *d);

int cmd_doctor(int argc, char **argv);

#endif
