/* kxfer doctor's tuning checks: socket buffers, the splice pipe, the listen backlog,
 * congestion control and the open-file limit.  The reasoning behind each recommended
 * value is in docs/tuning.md. */
#include "doctor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util.h"

#define MiB (1024ULL * 1024)

/* A sysctl with a floor: below `want` is a WARN whose fix sets `set`. */
static const struct sysctl_rule {
	const char *key;
	int field;                  /* which field: tcp_rmem's third is the maximum */
	unsigned long long want, set;
	bool root_exempt;           /* CAP_SYS_RESOURCE goes past the limit */
	const char *why;
} rules[] = {
	{ "net.core.rmem_max", 0, 16 * MiB, 64 * MiB, false,
	  "caps SO_RCVBUF, so peers that size their own buffers (nginx rcvbuf=, iperf -w) stay "
	  "below a high-BDP window" },
	{ "net.core.wmem_max", 0, 16 * MiB, 64 * MiB, false,
	  "caps SO_SNDBUF, for peers that size their own send buffers" },
	{ "net.ipv4.tcp_rmem", 2, 16 * MiB, 64 * MiB, false,
	  "receive autotuning's ceiling: the window must hold bandwidth x RTT (1 Gbit/s x 100 ms "
	  "or 10 Gbit/s x 10 ms = 12.5 MB)" },
	{ "net.ipv4.tcp_wmem", 2, 16 * MiB, 64 * MiB, false,
	  "send autotuning's ceiling: unacknowledged data in flight, again bandwidth x RTT" },
	{ "fs.pipe-max-size", 0, 1 * MiB, 1 * MiB, true,
	  "kxfer enlarges its splice pipe to 1 MiB (F_SETPIPE_SZ); without CAP_SYS_RESOURCE a "
	  "pipe cannot grow past this, and splices move 64 KiB at a time" },
	{ "net.core.somaxconn", 0, 1024, 4096, false,
	  "caps the listen backlog of 1024 that kxfer serve asks for" },
};

/* Records the sysctl's value; 0, or -errno when it is absent. */
static int sysctl_read(struct doctor *d, const char *key, char **value)
{
	char path[128], *p;
	int rc;

	snprintf(path, sizeof(path), "/proc/sys/%s", key);
	for (p = path + strlen("/proc/sys/"); *p; p++)
		if (*p == '.')
			*p = '/';
	if (d->f.nsysctl == DOCTOR_SYSCTLS)
		return -ENOBUFS;
	d->f.sysctl[d->f.nsysctl].key = key;
	*value = d->f.sysctl[d->f.nsysctl++].value;
	rc = doctor_read_line(path, *value, sizeof(d->f.sysctl[0].value));
	for (p = *value; *p; p++)
		if (*p == '\t')
			*p = ' ';
	return rc;
}

/* The command that sets field `field` of the current value to `set`, other fields kept. */
static void sysctl_fix(const struct sysctl_rule *r, const char *value, char *fix, size_t cap)
{
	char copy[128], *save = NULL, *tok;
	int i = 0;

	snprintf(fix, cap, "sysctl -w %s=%s", r->key, r->field ? "'" : "");
	snprintf(copy, sizeof(copy), "%s", value);
	for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save), i++) {
		if (i == r->field)
			doctor_append(fix, cap, "%s%llu", i ? " " : "", r->set);
		else
			doctor_append(fix, cap, "%s%s", i ? " " : "", tok);
	}
	if (i <= r->field)
		doctor_append(fix, cap, "%s%llu", i ? " " : "", r->set);
	doctor_append(fix, cap, "%s", r->field ? "'" : "");
}

static void check_rule(struct doctor *d, const struct sysctl_rule *r)
{
	const char *name = strrchr(r->key, '.') + 1;
	char *value, copy[128], *save = NULL, *tok, fix[256], want[32];
	unsigned long long v = 0;

	if (sysctl_read(d, r->key, &value)) {
		doctor_add(d, "tuning", name, DOCTOR_INFO, NULL, "%s absent on this kernel",
			   r->key);
		return;
	}
	snprintf(copy, sizeof(copy), "%s", value);
	tok = strtok_r(copy, " ", &save);
	for (int i = 0; tok && i < r->field; i++)
		tok = strtok_r(NULL, " ", &save);
	if (tok)
		v = strtoull(tok, NULL, 10);
	human_bytes(r->want, want, sizeof(want));
	if (v >= r->want)
		doctor_add(d, "tuning", name, DOCTOR_OK, NULL, "%s = %s", r->key, value);
	else if (r->root_exempt && geteuid() == 0)
		doctor_add(d, "tuning", name, DOCTOR_OK, NULL, "%s = %s, below %s, but root "
			   "(CAP_SYS_RESOURCE) may exceed it", r->key, value, want);
	else {
		sysctl_fix(r, value, fix, sizeof(fix));
		doctor_add(d, "tuning", name, DOCTOR_WARN, fix, "%s = %s, below %s: %s", r->key,
			   value, want, r->why);
	}
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
		if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
			return true;
	return false;
}

static void check_congestion(struct doctor *d)
{
	char *cc, *avail;

	if (sysctl_read(d, "net.ipv4.tcp_congestion_control", &cc) ||
	    sysctl_read(d, "net.ipv4.tcp_available_congestion_control", &avail)) {
		doctor_add(d, "tuning", "congestion", DOCTOR_INFO, NULL, "not readable");
		return;
	}
	if (!strcmp(cc, "bbr"))
		doctor_add(d, "tuning", "congestion", DOCTOR_OK, NULL, "bbr (available: %s)",
			   avail);
	else if (has_word(avail, "bbr"))
		doctor_add(d, "tuning", "congestion", DOCTOR_INFO, "sysctl -w "
			   "net.core.default_qdisc=fq; sysctl -w "
			   "net.ipv4.tcp_congestion_control=bbr", "%s (available: %s); bbr keeps "
			   "long lossy paths full", cc, avail);
	else
		doctor_add(d, "tuning", "congestion", DOCTOR_INFO, "modprobe tcp_bbr; sysctl -w "
			   "net.ipv4.tcp_congestion_control=bbr", "%s (available: %s); bbr is not "
			   "loaded", cc, avail);
}

/* kxfer serve keeps up to four descriptors per connection (socket, file, splice pipe), and
 * --max-conns defaults to 1024. */
static void check_nofile(struct doctor *d)
{
	enum { WANT = 8192 };
	struct rlimit rl;
	char fix[160];

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		doctor_add(d, "tuning", "open files", DOCTOR_INFO, NULL, "getrlimit: %m");
		return;
	}
	d->f.nofile_soft = rl.rlim_cur == RLIM_INFINITY ? ~0ULL : rl.rlim_cur;
	d->f.nofile_hard = rl.rlim_max == RLIM_INFINITY ? ~0ULL : rl.rlim_max;
	if (d->f.nofile_soft >= WANT) {
		doctor_add(d, "tuning", "open files", DOCTOR_OK, NULL, "RLIMIT_NOFILE %llu "
			   "(hard %llu)", d->f.nofile_soft, d->f.nofile_hard);
		return;
	}
	snprintf(fix, sizeof(fix), "ulimit -n %d before kxfer serve%s; in a systemd unit "
		 "LimitNOFILE=65536", d->f.nofile_hard >= 65536 ? 65536 : WANT,
		 d->f.nofile_hard < WANT ? " (raise the hard limit in /etc/security/limits.conf)" :
		 "");
	doctor_add(d, "tuning", "open files", DOCTOR_WARN, fix, "RLIMIT_NOFILE %llu (hard %llu), "
		   "below %d: kxfer serve uses up to 4 per connection (--max-conns 1024), and "
		   "EMFILE pauses accepting", d->f.nofile_soft, d->f.nofile_hard, WANT);
}

void doctor_tune(struct doctor *d)
{
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		check_rule(d, &rules[i]);
	check_congestion(d);
	check_nofile(d);
}
