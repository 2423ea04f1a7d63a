/* kxfer doctor's kernel-TLS checks: the tls ULP and its module, which TLS 1.3 ciphers the
 * kernel takes in each direction, rekey, the optional socket options, /proc/net/tls_stat.
 * The probes themselves (sockets, setsockopt) live in ktls.c. */
#include "doctor.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ktls.h"
#include "util.h"

const struct doctor_ktls_option doctor_ktls_options[DOCTOR_KTLS_OPTIONS] = {
	[KTLS_OPT_TX_ZEROCOPY_RO] = { "tx_zerocopy_ro", "TX_ZEROCOPY_RO", "5.19",
		"sendfile without an in-kernel copy (NIC offload only); kxfer does not set it" },
	[KTLS_OPT_RX_EXPECT_NO_PAD] = { "rx_expect_no_pad", "RX_EXPECT_NO_PAD", "6.0",
		"TLS 1.3 records decrypted straight into the reader's buffer; kxfer does not "
		"set it" },
};

/* Does a line of the file start with needle (or, with anywhere, contain it)? */
static bool file_has(const char *path, const char *needle, bool anywhere)
{
	FILE *f = fopen(path, "r");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = anywhere ? strstr(line, needle) != NULL :
			!strncmp(line, needle, strlen(needle));
	fclose(f);
	return found;
}

/* Where the tls module stands; when the ULP is missing, what would bring it (in fix). */
static void tls_module(struct doctor *d, char *fix, size_t cap)
{
	char *m = d->f.ktls.module, dir[PATH_MAX], dep[PATH_MAX + 32], builtin[PATH_MAX + 32];
	size_t mcap = sizeof(d->f.ktls.module);
	const char *rel = d->f.release;

	snprintf(dir, sizeof(dir), "/lib/modules/%s", rel);
	snprintf(dep, sizeof(dep), "%s/modules.dep", dir);
	snprintf(builtin, sizeof(builtin), "%s/modules.builtin", dir);
	fix[0] = 0;
	if (file_has("/proc/modules", "tls ", false)) {
		snprintf(m, mcap, "tls module loaded (/proc/modules)");
	} else if (d->f.ktls.ulp || file_has(builtin, "/tls.ko", true)) {
		snprintf(m, mcap, "tls built into the kernel");
	} else if (file_has(dep, "/tls.ko", true)) {
		snprintf(m, mcap, "tls.ko installed for %s but not loaded", rel);
		snprintf(fix, cap, "modprobe tls (at every boot: echo tls > "
			 "/etc/modules-load.d/tls.conf)");
	} else if (access(dir, F_OK) == 0) {
		snprintf(m, mcap, "module tls.ko not found for %s: kernel built without "
			 "CONFIG_TLS", rel);
		snprintf(fix, cap, "modprobe tls would fail (no tls.ko in %s): boot a kernel built "
			 "with CONFIG_TLS=m or y (Debian 12's linux-image-amd64 has it)", dir);
	} else if (access("/proc/modules", R_OK) != 0) {
		snprintf(m, mcap, "no %s and no module support (no /proc/modules): kernel built "
			 "without CONFIG_TLS", dir);
		snprintf(fix, cap, "modprobe tls cannot work here: boot a kernel built with "
			 "CONFIG_TLS=y (or =m with module support)");
	} else {
		snprintf(m, mcap, "no %s (a container shares its host's kernel)", dir);
		snprintf(fix, cap, "modprobe tls on the host (the kernel's owner)");
	}
}

/* "yes", or "no (why)" for one direction of one cipher. */
static const char *direction(int rc, char *buf, size_t cap)
{
	if (rc == 0)
		return "yes";
	snprintf(buf, cap, "no (%s)", rc == -ENOENT ? "no tls ULP" : ktls_strerror(rc));
	return buf;
}

static void ktls_ciphers(struct doctor *d)
{
	for (size_t i = 0; i < DOCTOR_AEADS; i++) {
		const struct doctor_aead *a = &doctor_aeads[i];
		int tx = d->f.ktls.tx[i] = ktls_probe(a->aead, false);
		int rx = d->f.ktls.rx[i] = ktls_probe(a->aead, true);
		char fix[96], why_tx[96], why_rx[96];

		if (!tx && !rx) {
			doctor_add(d, "ktls", a->name, DOCTOR_OK, NULL, "kernel TLS 1.3 TX and RX: "
				   "sends by splice, receives by recvmsg");
			continue;
		}
		/* Without the ULP the tls ULP line carries the fix. */
		snprintf(fix, sizeof(fix), "Linux %s or later offloads %s for TLS 1.3", a->since,
			 a->name);
		doctor_add(d, "ktls", a->name, DOCTOR_WARN, d->f.ktls.ulp ? fix : NULL,
			   "kernel TX %s, RX %s: userspace TLS (kxfer's record layer, OpenSSL's "
			   "AEADs) for the directions it cannot take", direction(tx, why_tx, sizeof(why_tx)),
			   direction(rx, why_rx, sizeof(why_rx)));
	}
}

static void ktls_rekey(struct doctor *d)
{
	int rc = d->f.ktls.rekey = d->f.ktls.ulp ? ktls_probe_rekey(TLS_AEAD_AES_128_GCM) : -ENOENT;

	if (!d->f.ktls.ulp)
		doctor_add(d, "ktls", "rekey", DOCTOR_INFO, NULL, "not tested: no tls ULP");
	else if (rc == 0)
		doctor_add(d, "ktls", "rekey", DOCTOR_INFO, NULL, "supported: a second TLS_RX key "
			   "is taken (Linux 6.14+), so a peer's KeyUpdate is followed in the "
			   "kernel");
	else if (rc == -EBUSY)
		doctor_add(d, "ktls", "rekey", DOCTOR_INFO, "Linux 6.14 or later; until then "
			   "--ktls off for peers that update keys", "not supported: a second "
			   "TLS_RX gives EBUSY (before Linux 6.14); a peer's KeyUpdate ends a kTLS "
			   "receive with an error");
	else
		doctor_add(d, "ktls", "rekey", DOCTOR_INFO, NULL, "unknown: a second TLS_RX gave "
			   "%s", strerror(-rc));
}

static void ktls_options(struct doctor *d)
{
	for (size_t i = 0; i < DOCTOR_KTLS_OPTIONS; i++) {
		const struct doctor_ktls_option *o = &doctor_ktls_options[i];
		int rc = d->f.ktls.option[i] = d->f.ktls.ulp ?
			 ktls_probe_option((enum ktls_option)i) : -ENOENT;

		if (!d->f.ktls.ulp)
			doctor_add(d, "ktls", o->name, DOCTOR_INFO, NULL, "not tested: no tls ULP");
		else
			doctor_add(d, "ktls", o->name, DOCTOR_INFO, NULL, "%s (Linux %s+): %s",
				   rc == 0 ? "supported" : rc == -ENOPROTOOPT ? "not supported" :
				   strerror(-rc), o->since, o->what);
	}
}

/* /proc/net/tls_stat: the kernel's own kTLS counters ("TlsTxSw  12" per line), read before
 * the probes add their own sessions. */
static void ktls_stat_read(struct doctor *d)
{
	FILE *f = fopen("/proc/net/tls_stat", "r");
	char line[128];

	d->f.ktls.stat_present = f != NULL;
	while (f && fgets(line, sizeof(line), f) && d->f.ktls.nstat < DOCTOR_TLS_STATS) {
		struct doctor_tls_stat *s = &d->f.ktls.stat[d->f.ktls.nstat];

		if (sscanf(line, "%39s %llu", s->name, &s->value) == 2)
			d->f.ktls.nstat++;
	}
	if (f)
		fclose(f);
}

static void ktls_stat_check(struct doctor *d)
{
	char found[512] = "";

	if (!d->f.ktls.stat_present) {
		doctor_add(d, "ktls", "tls_stat", DOCTOR_INFO, NULL,
			   "/proc/net/tls_stat absent: no tls module loaded, no kTLS counters");
		return;
	}
	for (size_t i = 0; i < d->f.ktls.nstat; i++)
		doctor_append(found, sizeof(found), "%s%s %llu", i ? ", " : "",
			      d->f.ktls.stat[i].name, d->f.ktls.stat[i].value);
	doctor_add(d, "ktls", "tls_stat", DOCTOR_INFO, NULL, "%s", found);
}

void doctor_ktls(struct doctor *d)
{
	char ulps[128] = "", fix[384];

	ktls_stat_read(d);
	doctor_read_line("/proc/sys/net/ipv4/tcp_available_ulp", ulps, sizeof(ulps));
	d->f.ktls.ulp = ktls_unavailable() == NULL;
	tls_module(d, fix, sizeof(fix));
	if (d->f.ktls.ulp) {
		doctor_add(d, "ktls", "tls ULP", DOCTOR_OK, NULL, "available (tcp_available_ulp: "
			   "%s; %s)", ulps, d->f.ktls.module);
	} else {
		snprintf(d->f.ktls.reason, sizeof(d->f.ktls.reason), "no tls in tcp_available_ulp "
			 "(%s): %s", ulps[0] ? ulps : "empty", d->f.ktls.module);
		doctor_add(d, "ktls", "tls ULP", DOCTOR_WARN, fix, "not available: %s; kxfer uses "
			   "userspace TLS", d->f.ktls.reason);
	}
	ktls_ciphers(d);
	ktls_rekey(d);
	ktls_options(d);
	ktls_stat_check(d);
}
