/* kxfer doctor's checks before running kxfer serve as a long-lived service: the service
 * manager, whether kernel TLS survives a reboot for a process without CAP_NET_ADMIN, who
 * may bind port 443, and the clock that certificates and logs rely on.  Advice, like the
 * tuning section: none of it changes the exit status.  docs/operations.md says more. */
#include "doctor.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

#include "util.h"

/* systemd-modules-load reads these (modules-load.d(5)); Debian's /etc/modules too. */
static const char *const load_dirs[] = {
	"/etc/modules-load.d", "/run/modules-load.d", "/usr/local/lib/modules-load.d",
	"/usr/lib/modules-load.d", "/lib/modules-load.d",
};

/* Does this file have a line that is exactly "tls" (comments and blanks aside)? */
static bool lists_tls(const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *t = trim(line);

		found = !strcmp(t, "tls");
	}
	fclose(f);
	return found;
}

/* The file that loads tls at boot, into out; false when none does. */
static bool tls_at_boot(char *out, size_t cap)
{
	for (size_t i = 0; i < ARRAY_SIZE(load_dirs); i++) {
		DIR *dir = opendir(load_dirs[i]);
		struct dirent *e;
		bool found = false;

		if (!dir)
			continue;
		while (!found && (e = readdir(dir))) {
			size_t n = strlen(e->d_name);

			if (n < 6 || strcmp(e->d_name + n - 5, ".conf"))
				continue;
			snprintf(out, cap, "%s/%s", load_dirs[i], e->d_name);
			found = lists_tls(out);
		}
		closedir(dir);
		if (found)
			return true;
	}
	snprintf(out, cap, "/etc/modules");
	return lists_tls(out);
}

static void check_manager(struct doctor *d)
{
	struct stat st;

	if (stat("/run/systemd/system", &st) == 0)
		doctor_add(d, "service", "systemd", DOCTOR_OK, NULL,
			   "systemd manages services here: make install puts kxfer.service (Type=notify, "
			   "sandboxed) and kxfer.socket in place");
	else
		doctor_add(d, "service", "systemd", DOCTOR_INFO, NULL,
			   "systemd is not the service manager here (no /run/systemd/system): run kxfer "
			   "serve under your supervisor; started as root, --user NAME drops root after "
			   "binding");
}

static void check_tls_boot(struct doctor *d)
{
	const char *m = d->f.ktls.module;
	char where[300];
	bool module = strstr(m, "loaded (/proc/modules)") || strstr(m, "but not loaded");

	if (d->f.ktls.ulp && !module) {
		doctor_add(d, "service", "tls at boot", DOCTOR_OK, NULL, "%s: always there", m);
	} else if (module && tls_at_boot(where, sizeof(where))) {
		doctor_add(d, "service", "tls at boot", DOCTOR_OK, NULL, "loaded at every boot (%s)", where);
	} else if (module) {
		doctor_add(d, "service", "tls at boot", DOCTOR_WARN,
			   "echo tls > /etc/modules-load.d/kxfer-tls.conf (make install puts "
			   "kxfer-tls.conf in PREFIX/lib/modules-load.d)",
			   "%s, and nothing loads it at boot: the kernel loads it on demand only for "
			   "CAP_NET_ADMIN, which kxfer.service lacks, so after a reboot the service "
			   "falls back to userspace TLS", m);
	} else {
		doctor_add(d, "service", "tls at boot", DOCTOR_INFO, NULL,
			   "no kernel TLS on this kernel (see kernel TLS above): the service uses "
			   "userspace TLS");
	}
}

static void check_ports(struct doctor *d)
{
	char v[32];
	long start = doctor_read_line("/proc/sys/net/ipv4/ip_unprivileged_port_start", v,
				      sizeof(v)) == 0 ? strtol(v, NULL, 10) : 1024;

	if (start <= 443)
		doctor_add(d, "service", "port 443", DOCTOR_INFO, NULL,
			   "net.ipv4.ip_unprivileged_port_start = %ld: any user may bind 443", start);
	else
		doctor_add(d, "service", "port 443", DOCTOR_OK, NULL,
			   "ports below %ld need root, CAP_NET_BIND_SERVICE (kxfer.service keeps only "
			   "that one) or socket activation (kxfer.socket binds 443 for kxfer)", start);
}

/* adjtimex(2) with no modes only reads: STA_UNSYNC says no NTP daemon keeps the clock. */
static void check_clock(struct doctor *d)
{
	struct timex tx = { 0 };
	int state = adjtimex(&tx);

	if (state < 0)
		doctor_add(d, "service", "clock", DOCTOR_INFO, NULL, "adjtimex: %s", strerror(errno));
	else if (state == TIME_ERROR || (tx.status & STA_UNSYNC))
		doctor_add(d, "service", "clock", DOCTOR_WARN,
			   "timedatectl set-ntp true (or apt-get install chrony)",
			   "not synchronised (adjtimex: STA_UNSYNC): certificate validity, ACME renewals "
			   "and log times all depend on the clock");
	else
		doctor_add(d, "service", "clock", DOCTOR_OK, NULL,
			   "synchronised (adjtimex), estimated error %ld us", tx.esterror);
}

void doctor_service(struct doctor *d)
{
	check_manager(d);
	check_tls_boot(d);
	check_ports(d);
	check_clock(d);
}
