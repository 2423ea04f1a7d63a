/* kxfer doctor --json: the checks and the facts behind them as one JSON object on stdout.
 * The keys are an interface (tests and scripts read them): see docs/tuning.md. */
#include "doctor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ktls.h"
#include "util.h"

/* A streaming writer: every value knows whether a comma goes before it. */
struct jw {
	int depth;
	bool first[8];
};

static void key(struct jw *w, const char *k)
{
	if (!w->first[w->depth])
		putchar(',');
	w->first[w->depth] = false;
	if (k) {
		json_string(stdout, k);
		putchar(':');
	}
}

static void open_(struct jw *w, const char *k, char c)
{
	if (w->depth || !w->first[0])
		key(w, k);
	w->first[0] = false;
	putchar(c);
	w->first[++w->depth] = true;
}

static void close_(struct jw *w, char c)
{
	putchar(c);
	w->depth--;
}

static void str(struct jw *w, const char *k, const char *v)
{
	key(w, k);
	if (v)
		json_string(stdout, v);
	else
		fputs("null", stdout);
}

static void boolean(struct jw *w, const char *k, bool v)
{
	key(w, k);
	fputs(v ? "true" : "false", stdout);
}

static void integer(struct jw *w, const char *k, long long v, bool null)
{
	key(w, k);
	if (null)
		fputs("null", stdout);
	else
		printf("%lld", v);
}

/* A probe's result: true (0), false (the kernel's "no": refused), null (not tried or unclear). */
static void tristate(struct jw *w, const char *k, int rc, int no)
{
	key(w, k);
	fputs(rc == 0 ? "true" : rc == no ? "false" : "null", stdout);
}

static void ktls(struct jw *w, const struct doctor_facts *f)
{
	open_(w, "ktls", '{');
	boolean(w, "ulp", f->ktls.ulp);
	str(w, "reason", f->ktls.ulp ? NULL : f->ktls.reason);
	str(w, "module", f->ktls.module);
	open_(w, "ciphers", '{');
	for (size_t i = 0; i < DOCTOR_AEADS; i++) {
		open_(w, doctor_aeads[i].key, '{');
		boolean(w, "tx", f->ktls.tx[i] == 0);
		boolean(w, "rx", f->ktls.rx[i] == 0);
		str(w, "tx_error", f->ktls.tx[i] ? ktls_strerror(f->ktls.tx[i]) : NULL);
		str(w, "rx_error", f->ktls.rx[i] ? ktls_strerror(f->ktls.rx[i]) : NULL);
		close_(w, '}');
	}
	close_(w, '}');
	tristate(w, "rekey", f->ktls.rekey, -EBUSY);
	str(w, "rekey_error", !f->ktls.ulp ? "not tested: no tls ULP" : f->ktls.rekey == -EBUSY ?
	    "EBUSY: a second TLS_RX key is refused (Linux before 6.14)" :
	    f->ktls.rekey ? strerror(-f->ktls.rekey) : NULL);
	for (size_t i = 0; i < DOCTOR_KTLS_OPTIONS; i++)
		tristate(w, doctor_ktls_options[i].key, f->ktls.option[i], -ENOPROTOOPT);
	if (!f->ktls.stat_present) {
		str(w, "tls_stat", NULL);
	} else {
		open_(w, "tls_stat", '{');
		for (size_t i = 0; i < f->ktls.nstat; i++)
			integer(w, f->ktls.stat[i].name, (long long)f->ktls.stat[i].value, false);
		close_(w, '}');
	}
	close_(w, '}');
}

static void uring_openssl(struct jw *w, const struct doctor_facts *f)
{
	char number[32];

	open_(w, "io_uring", '{');
	boolean(w, "usable", f->uring.usable);
	integer(w, "disabled", f->uring.disabled, f->uring.disabled < 0);
	str(w, "error", f->uring.init_err ? strerror(-f->uring.init_err) : NULL);
	open_(w, "opcodes", '{');
	for (size_t i = 0; i < DOCTOR_OPS; i++)
		boolean(w, doctor_ops[i].name, f->uring.op[i]);
	close_(w, '}');
	close_(w, '}');
	snprintf(number, sizeof(number), "%u.%u.%u", f->openssl.major, f->openssl.minor,
		 f->openssl.patch);
	open_(w, "openssl", '{');
	str(w, "version", f->openssl.version);
	str(w, "version_number", number);
	boolean(w, "tls13", f->openssl.tls13);
	boolean(w, "ktls", f->openssl.ktls_built);
	boolean(w, "tls13_tx_offload", f->openssl.tx_offload);
	boolean(w, "tls13_rx_offload", f->openssl.rx_offload);
	close_(w, '}');
}

static void cpu_tuning(struct jw *w, const struct doctor_facts *f)
{
	open_(w, "cpu", '{');
	str(w, "machine", f->machine);
	str(w, "model", f->cpu.model);
	open_(w, "flags", '{');
	for (size_t i = 0; i < DOCTOR_CPU_FLAGS; i++)
		if (!strcmp(doctor_cpu_flags[i].arch, f->machine))
			boolean(w, doctor_cpu_flags[i].name, f->cpu.flag[i]);
	close_(w, '}');
	open_(w, "aead_MBps", '{');
	for (size_t i = 0; i < DOCTOR_AEADS; i++) {
		key(w, doctor_aeads[i].key);
		printf("%.1f", f->cpu.aead_bps[i] / 1e6);
	}
	close_(w, '}');
	close_(w, '}');
	open_(w, "sysctl", '{');
	for (size_t i = 0; i < f->nsysctl; i++)
		str(w, f->sysctl[i].key, f->sysctl[i].value[0] ? f->sysctl[i].value : NULL);
	close_(w, '}');
	open_(w, "limits", '{');
	integer(w, "nofile_soft", (long long)f->nofile_soft, f->nofile_soft == ~0ULL);
	integer(w, "nofile_hard", (long long)f->nofile_hard, f->nofile_hard == ~0ULL);
	close_(w, '}');
}

static void interfaces(struct jw *w, const struct doctor_facts *f)
{
	open_(w, "interfaces", '[');
	for (size_t i = 0; i < f->niface; i++) {
		const struct doctor_iface *it = &f->iface[i];

		open_(w, NULL, '{');
		str(w, "name", it->name);
		boolean(w, "up", it->up);
		boolean(w, "loopback", it->loopback);
		integer(w, "mtu", it->mtu, it->mtu < 0);
		integer(w, "speed_mbps", it->speed, it->speed < 0);
		str(w, "tls_hw_tx_offload", it->tls_tx);
		str(w, "tls_hw_rx_offload", it->tls_rx);
		close_(w, '}');
	}
	close_(w, ']');
}

void doctor_print_json(const struct doctor *d)
{
	struct jw w = { .first = { true } };
	int code = doctor_exit(d);

	open_(&w, NULL, '{');
	str(&w, "kxfer_version", kxfer_version);
	str(&w, "verdict", doctor_verdict(code));
	integer(&w, "exit", code, false);
	open_(&w, "kernel", '{');
	str(&w, "release", d->f.release);
	str(&w, "machine", d->f.machine);
	close_(&w, '}');
	open_(&w, "checks", '[');
	for (size_t i = 0; i < d->ncheck; i++) {
		const struct doctor_check *c = &d->check[i];

		open_(&w, NULL, '{');
		str(&w, "section", c->section);
		str(&w, "name", c->name);
		str(&w, "status", doctor_status_name(c->status));
		str(&w, "found", c->found);
		str(&w, "fix", c->fix[0] ? c->fix : NULL);
		close_(&w, '}');
	}
	close_(&w, ']');
	ktls(&w, &d->f);
	uring_openssl(&w, &d->f);
	cpu_tuning(&w, &d->f);
	interfaces(&w, &d->f);
	close_(&w, '}');
	putchar('\n');
}
