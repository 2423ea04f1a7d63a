/* kxfer doctor: options, the list of checks, the table a person reads, and the verdict. */
#include "doctor.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const char usage[] =
"Usage: kxfer doctor [--json] [--iface NAME]\n"
"What this host supports for fast TLS transfer, and what to tune.\n"
"\n"
"Checks, each OK, WARN, FAIL or INFO, with what was found and the command that fixes it:\n"
"  kernel      version (kxfer needs 5.6)\n"
"  kernel TLS  the tls ULP (and whether 'modprobe tls' would bring it), which TLS 1.3\n"
"              ciphers the kernel takes for TX and RX (tried on a loopback connection),\n"
"              TLS 1.3 rekey, TLS_RX_EXPECT_NO_PAD, TLS_TX_ZEROCOPY_RO, /proc/net/tls_stat\n"
"  io_uring    enabled (kernel.io_uring_disabled), a ring can be set up, and the opcodes\n"
"              kxfer submits are supported\n"
"  OpenSSL     version, TLS 1.3, built with kTLS, which direction it offloads itself\n"
"  CPU         AES/carry-less-multiply/SHA flags, and userspace AES-128-GCM,\n"
"              AES-256-GCM and ChaCha20-Poly1305 speed on one core (0.2 s each)\n"
"  tuning      net.core.rmem_max/wmem_max, net.ipv4.tcp_rmem/tcp_wmem, fs.pipe-max-size,\n"
"              net.core.somaxconn, congestion control, the open-file limit\n"
"  network     per interface that is up (lo when there is no other): MTU, link speed,\n"
"              NIC TLS offload (tls-hw-tx-offload, tls-hw-rx-offload)\n"
"  service     before running kxfer serve for months: systemd present, the tls module\n"
"              loaded at boot (a service without CAP_NET_ADMIN cannot load it), who may\n"
"              bind port 443, the clock synchronised (certificates depend on it)\n"
"\n"
"  --json        one JSON object on stdout instead of the table (keys in docs/tuning.md)\n"
"  --iface NAME  only this network interface (an unknown name is a usage error)\n"
"  -h, --help    this text\n"
"\n"
"Exit status: 0 kxfer's fastest path works here (kernel TLS TX and RX for every cipher,\n"
"io_uring usable; WARNs under tuning, network interfaces and service are advice and do\n"
"not count);\n"
"1 it runs, slower than it could (a WARN elsewhere: e.g. no kernel TLS, so userspace TLS);\n"
"2 it cannot run here (any FAIL: io_uring unusable, kernel older than 5.6, OpenSSL without\n"
"TLS 1.3), and for usage errors.\n"
"Root is not needed; nothing is changed (the fixes are printed, never run).\n";

static const struct {
	const char *id, *title;
} sections[] = {
	{ "kernel", "kernel" }, { "ktls", "kernel TLS" }, { "io_uring", "io_uring" },
	{ "openssl", "OpenSSL" }, { "cpu", "CPU crypto" }, { "tuning", "tuning" },
	{ "network", "network interfaces" }, { "service", "running as a service" },
};

/* In this order: kernel first (the others read its release). */
static void (*const probes[])(struct doctor *) = {
	doctor_kernel, doctor_ktls, doctor_uring, doctor_openssl, doctor_cpu, doctor_tune,
	doctor_net, doctor_service,
};

void doctor_append(char *buf, size_t cap, const char *fmt, ...)
{
	size_t len = strnlen(buf, cap);
	va_list ap;

	if (len + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, cap - len, fmt, ap);
	va_end(ap);
}

void doctor_add(struct doctor *d, const char *section, const char *name, enum doctor_status st,
		const char *fix, const char *fmt, ...)
{
	struct doctor_check *c;
	va_list ap;

	if (d->ncheck == ARRAY_SIZE(d->check))
		return;
	c = &d->check[d->ncheck++];
	c->section = section;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->status = st;
	snprintf(c->fix, sizeof(c->fix), "%s", fix ? fix : "");
	va_start(ap, fmt);
	vsnprintf(c->found, sizeof(c->found), fmt, ap);
	va_end(ap);
}

const char *doctor_status_name(enum doctor_status st)
{
	static const char *const names[] = {
		[DOCTOR_INFO] = "info", [DOCTOR_OK] = "ok", [DOCTOR_WARN] = "warn",
		[DOCTOR_FAIL] = "fail",
	};

	return names[st];
}

/* Tuning advice (sysctls, limits, interfaces) is for the network a host sits on: a WARN
 * there never makes the verdict "reduced".  The verdict answers whether kxfer's fastest
 * path runs here; a FAIL anywhere still means it cannot. */
static bool is_advice(const struct doctor_check *c)
{
	return !strcmp(c->section, "tuning") || !strcmp(c->section, "network") ||
	       !strcmp(c->section, "service");
}

int doctor_exit(const struct doctor *d)
{
	enum doctor_status worst = DOCTOR_OK;

	for (size_t i = 0; i < d->ncheck; i++)
		if (d->check[i].status == DOCTOR_FAIL || !is_advice(&d->check[i]))
			worst = MAX(worst, d->check[i].status);
	if (worst == DOCTOR_FAIL)
		return DOCTOR_EXIT_CANNOT;
	return worst == DOCTOR_WARN ? DOCTOR_EXIT_REDUCED : DOCTOR_EXIT_OK;
}

const char *doctor_verdict(int exit_code)
{
	return exit_code == DOCTOR_EXIT_OK ? "ok" : exit_code == DOCTOR_EXIT_REDUCED ? "reduced" :
	       "cannot-run";
}

static void print_table(const struct doctor *d, int code)
{
	static const char *const explain[] = {
		[DOCTOR_EXIT_OK] = "kxfer's fastest path (kernel TLS, io_uring splices) works here; any WARN under tuning is advice for fast networks",
		[DOCTOR_EXIT_REDUCED] = "kxfer runs here, slower than it could: see the WARN lines above tuning",
		[DOCTOR_EXIT_CANNOT] = "kxfer cannot run here: see the FAIL lines",
	};
	static const char *const label[] = {
		[DOCTOR_INFO] = "INFO", [DOCTOR_OK] = "OK", [DOCTOR_WARN] = "WARN",
		[DOCTOR_FAIL] = "FAIL",
	};

	printf("kxfer doctor %s: Linux %s %s\n", kxfer_version, d->f.release, d->f.machine);
	for (size_t s = 0; s < ARRAY_SIZE(sections); s++) {
		printf("\n%s\n", sections[s].title);
		for (size_t i = 0; i < d->ncheck; i++) {
			const struct doctor_check *c = &d->check[i];

			if (!strcmp(c->section, sections[s].id))
				printf("  %-6s%-18s%s%s%s\n", label[c->status], c->name, c->found,
				       c->fix[0] ? " -> fix: " : "", c->fix);
		}
	}
	printf("\nverdict: %s (exit %d): %s\n", doctor_verdict(code), code, explain[code]);
}

static const struct option options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "iface", required_argument, NULL, 'i' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_doctor(int argc, char **argv)
{
	struct doctor *d;
	bool json = false;
	const char *iface = NULL;
	int opt, code;

	log_set_prog("kxfer doctor");
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'i': iface = optarg; break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return DOCTOR_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s'", argv[optind]);
		fputs(usage, stderr);
		return DOCTOR_EXIT_USAGE;
	}
	if (iface && !if_nametoindex(iface)) {
		log_err("no network interface '%s' (ip -br link lists them)", iface);
		return DOCTOR_EXIT_USAGE;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		log_err("out of memory");
		return DOCTOR_EXIT_CANNOT;
	}
	d->only_iface = iface;
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
		probes[i](d);
	code = doctor_exit(d);
	if (json)
		doctor_print_json(d);
	else
		print_table(d, code);
	fflush(stdout);
	free(d);
	return code;
}
