/* kxfer doctor's probes of the host itself: kernel, io_uring, OpenSSL, CPU.  Each records
 * what it found in d->f and judges it as one or more checks (kernel TLS: doctor_ktls.c). */
#include "doctor.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "util.h"

const struct doctor_aead doctor_aeads[DOCTOR_AEADS] = {
	{ TLS_AEAD_AES_128_GCM, "AES_128_GCM", "AES-128-GCM", "5.1" },
	{ TLS_AEAD_AES_256_GCM, "AES_256_GCM", "AES-256-GCM", "5.1" },
	{ TLS_AEAD_CHACHA20_POLY1305, "CHACHA20_POLY1305", "ChaCha20-Poly1305", "5.11" },
};

/* Exactly the opcodes of the io_uring_prep_* calls in src/, with the kernel that has each. */
const struct doctor_op doctor_ops[DOCTOR_OPS] = {
	{ IORING_OP_ACCEPT, "ACCEPT", "5.5" },
	{ IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL", "5.5" },
	{ IORING_OP_FSYNC, "FSYNC", "5.1" },
	{ IORING_OP_POLL_ADD, "POLL_ADD", "5.1" },
	{ IORING_OP_READ, "READ", "5.6" },
	{ IORING_OP_SPLICE, "SPLICE", "5.7" },
	{ IORING_OP_TIMEOUT, "TIMEOUT", "5.4" },
	{ IORING_OP_WRITE, "WRITE", "5.6" },
};

const struct doctor_cpu_flag doctor_cpu_flags[DOCTOR_CPU_FLAGS] = {
	{ "aes", "x86_64" }, { "pclmulqdq", "x86_64" }, { "vaes", "x86_64" },
	{ "vpclmulqdq", "x86_64" }, { "avx2", "x86_64" }, { "avx512f", "x86_64" },
	{ "sha_ni", "x86_64" }, { "aes", "aarch64" }, { "pmull", "aarch64" },
	{ "sha2", "aarch64" },
};

int doctor_read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	buf[0] = 0;
	if (!f)
		return -errno;
	if (!fgets(buf, (int)cap, f))
		buf[0] = 0;
	fclose(f);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = 0;
	return 0;
}

static bool kernel_at_least(const struct doctor *d, unsigned major, unsigned minor)
{
	unsigned ma = 0, mi = 0;

	sscanf(d->f.release, "%u.%u", &ma, &mi);
	return ma > major || (ma == major && mi >= minor);
}

void doctor_kernel(struct doctor *d)
{
	struct utsname u;

	if (uname(&u) == 0) {
		snprintf(d->f.release, sizeof(d->f.release), "%s", u.release);
		snprintf(d->f.machine, sizeof(d->f.machine), "%s", u.machine);
	}
	if (!kernel_at_least(d, 5, 6))
		doctor_add(d, "kernel", "kernel", DOCTOR_FAIL, "boot Linux 5.6 or later",
			   "Linux %s %s: too old for kxfer (io_uring READ/WRITE and openat2 "
			   "arrived in 5.6)", d->f.release, d->f.machine);
	else
		doctor_add(d, "kernel", "kernel", DOCTOR_OK, NULL, "Linux %s %s (kxfer needs 5.6; "
			   "kTLS for TLS 1.3: AES-GCM 5.1, ChaCha20-Poly1305 5.11, rekey 6.14)",
			   d->f.release, d->f.machine);
}

static const char *uring_fix(const struct doctor *d)
{
	switch (-d->f.uring.init_err) {
	case ENOSYS:
		return "boot a kernel built with CONFIG_IO_URING=y (Linux 5.6+)";
	case ENOMEM:
		return "ulimit -l 1024 (kernels before 5.12 charge rings to locked memory)";
	case EPERM:
	case EACCES:
		if (d->f.uring.disabled == 2)
			return "sysctl -w kernel.io_uring_disabled=0";
		if (d->f.uring.disabled == 1)
			return "sysctl -w kernel.io_uring_disabled=0, or run kxfer in the group "
			       "named by kernel.io_uring_group";
		return "allow io_uring_setup, io_uring_enter and io_uring_register in the "
		       "container's seccomp profile (Docker's default blocks them)";
	default:
		return NULL;
	}
}

/* Which of kxfer's opcodes the kernel has: names of those it has, and of those it lacks. */
static bool uring_ops(struct doctor *d, struct io_uring *ring, char *have, char *lack, size_t cap)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);

	d->f.uring.probed = p != NULL;
	if (!p) {
		snprintf(lack, cap, " all: the kernel answers no opcode probe (5.6+)");
		return false;
	}
	for (size_t i = 0; i < DOCTOR_OPS; i++) {
		const struct doctor_op *o = &doctor_ops[i];

		d->f.uring.op[i] = io_uring_opcode_supported(p, o->op);
		if (d->f.uring.op[i])
			doctor_append(have, cap, " %s", o->name);
		else
			doctor_append(lack, cap, " %s (%s)", o->name, o->since);
	}
	io_uring_free_probe(p);
	return !lack[0];
}

void doctor_uring(struct doctor *d)
{
	char v[32] = "absent", have[256] = "", lack[256] = "";
	struct io_uring ring;

	d->f.uring.disabled = -1;
	if (doctor_read_line("/proc/sys/kernel/io_uring_disabled", v, sizeof(v)) == 0)
		d->f.uring.disabled = atoi(v);
	d->f.uring.init_err = io_uring_queue_init(2, &ring, 0);
	if (d->f.uring.init_err) {
		doctor_add(d, "io_uring", "io_uring", DOCTOR_FAIL, uring_fix(d), "unusable: "
			   "io_uring_queue_init: %s (kernel.io_uring_disabled = %s)",
			   strerror(-d->f.uring.init_err), v);
		return;
	}
	d->f.uring.usable = uring_ops(d, &ring, have, lack, sizeof(have));
	io_uring_queue_exit(&ring);
	if (d->f.uring.usable)
		doctor_add(d, "io_uring", "io_uring", DOCTOR_OK, NULL, "enabled "
			   "(kernel.io_uring_disabled = %s); opcodes%s supported", v, have);
	else
		doctor_add(d, "io_uring", "io_uring", DOCTOR_FAIL, "boot Linux 5.7 or later",
			   "opcodes kxfer needs are missing:%s", lack);
}

void doctor_openssl(struct doctor *d)
{
	struct tls_library lib;
	struct doctor_openssl *o = &d->f.openssl;

	tls_library_info(&lib);
	snprintf(o->version, sizeof(o->version), "%s", lib.version);
	sscanf(o->version, "OpenSSL %u.%u.%u", &o->major, &o->minor, &o->patch);
	o->tls13 = lib.tls13;
	o->ktls_built = lib.ktls_built;
	o->tx_offload = lib.tls13_tx_offload;
	o->rx_offload = lib.tls13_rx_offload;
	if (o->tls13)
		doctor_add(d, "openssl", "OpenSSL", DOCTOR_OK, NULL, "%s: TLS 1.3", o->version);
	else
		doctor_add(d, "openssl", "OpenSSL", DOCTOR_FAIL, "install OpenSSL 3 (Debian: "
			   "libssl3)", "%s: no TLS 1.3", o->version);
	if (!o->ktls_built)
		doctor_add(d, "openssl", "OpenSSL kTLS", DOCTOR_WARN, "use an OpenSSL built with "
			   "enable-ktls (Debian 12's libssl3 is)", "built without kTLS: sending "
			   "stays in userspace; kxfer still installs TLS 1.3 RX keys itself");
	else if (o->rx_offload)
		doctor_add(d, "openssl", "OpenSSL kTLS", DOCTOR_OK, NULL, "built with kTLS; "
			   "installs TLS 1.3 TX and RX keys in the kernel itself "
			   "(SSL_OP_ENABLE_KTLS)");
	else
		doctor_add(d, "openssl", "OpenSSL kTLS", DOCTOR_OK, NULL, "built with kTLS; "
			   "installs TLS 1.3 TX keys itself (SSL_OP_ENABLE_KTLS); RX keys are "
			   "installed by kxfer (OpenSSL < 3.2 never offloads TLS 1.3 RX): fine");
}

/* The model name and the flags line of the first CPU, flags as " a b c " for word search. */
static void cpu_info(struct doctor *d, char *flags, size_t cap)
{
	char list[4096] = "";

	if (!cpuinfo_value("model name", d->f.cpu.model, sizeof(d->f.cpu.model)))
		snprintf(d->f.cpu.model, sizeof(d->f.cpu.model), "%s", d->f.machine);
	if (cpuinfo_value("flags", list, sizeof(list)) || cpuinfo_value("Features", list, sizeof(list)))
		snprintf(flags, cap, " %s ", list);
	else
		flags[0] = 0;
}

static void cpu_flags(struct doctor *d)
{
	char flags[4096], word[32], have[128] = "";
	bool aes = false, clmul = false, known = false;

	cpu_info(d, flags, sizeof(flags));
	for (size_t i = 0; i < DOCTOR_CPU_FLAGS; i++) {
		const struct doctor_cpu_flag *c = &doctor_cpu_flags[i];
		bool *on = &d->f.cpu.flag[i];

		if (strcmp(c->arch, d->f.machine))
			continue;
		known = true;
		snprintf(word, sizeof(word), " %s ", c->name);
		*on = strstr(flags, word) != NULL;
		aes |= *on && !strcmp(c->name, "aes");
		clmul |= *on && (!strcmp(c->name, "pclmulqdq") || !strcmp(c->name, "pmull"));
		if (*on)
			doctor_append(have, sizeof(have), " %s", c->name);
	}
	if (!known)
		doctor_add(d, "cpu", "CPU", DOCTOR_INFO, NULL, "%s: no crypto flags known for %s",
			   d->f.cpu.model, d->f.machine);
	else if (aes && clmul)
		doctor_add(d, "cpu", "CPU", DOCTOR_OK, NULL, "%s: crypto flags%s", d->f.cpu.model,
			   have);
	else
		doctor_add(d, "cpu", "CPU", DOCTOR_WARN, "prefer ChaCha20-Poly1305 here: kxfer "
			   "serve --ciphers TLS_CHACHA20_POLY1305_SHA256", "%s: no AES and "
			   "carry-less-multiply instructions (flags:%s): AES-GCM runs slowly in "
			   "software", d->f.cpu.model, have[0] ? have : " none");
}

void doctor_cpu(struct doctor *d)
{
	char speed[256] = "";
	bool failed = false;

	cpu_flags(d);
	for (size_t i = 0; i < DOCTOR_AEADS; i++) {
		double *bps = &d->f.cpu.aead_bps[i];

		if (tls_aead_speed(doctor_aeads[i].aead, 0.2, bps) < 0)
			*bps = 0;
		failed |= *bps <= 0;
		doctor_append(speed, sizeof(speed), "%s%s %.0f MB/s", i ? ", " : "",
			      doctor_aeads[i].name, *bps / 1e6);
	}
	doctor_add(d, "cpu", "AEAD speed", failed ? DOCTOR_WARN : DOCTOR_INFO, failed ?
		   "check the OpenSSL installation: openssl speed -evp aes-128-gcm" : NULL,
		   "%s (userspace TLS: OpenSSL's AEADs, 16 KiB records, one core)", speed);
}
