/* kxfer bench's runner: starts `kxfer serve` for a row, runs `kxfer get` processes against
 * it (with --peers nginx and curl too, bench_peers.c), and measures each run.  Everything
 * lives in a private directory that is removed at the end; with --netns the server and the
 * clients run in two namespaces joined by a veth pair (198.18.0.0/30, the benchmarking range
 * of RFC 2544). */
#include "bench_run.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_peers.h"
#include "tls.h"
#include "util.h"

#define GIB (1024.0 * 1024 * 1024)

pid_t bench_spawn(const char *ns, char *const argv[], const char *out, const char *errf,
		  unsigned flags)
{
	pid_t parent = getpid(), pid = -1;

	/* nginx's workers would outlive a master killed by PR_SET_PDEATHSIG; as pid 1 of its
	 * own PID namespace, the kernel kills them with it.  Only root may: others fork. */
	if ((flags & SPAWN_SERVER) && geteuid() == 0)
		pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0)
		pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int e = open(errf ? errf : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		char path[64];
		int nsfd;

		/* Never outlive bench, even when it is killed without a chance to clean up (in a
		 * PID namespace of its own, the parent is outside it: getppid() says 0). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || (getpid() != 1 && getppid() != parent))
			_exit(126);
		if ((flags & SPAWN_SERVER) && setpgid(0, 0) < 0)
			_exit(126);
		if (*ns) {
			snprintf(path, sizeof(path), "/run/netns/%s", ns);
			nsfd = open(path, O_RDONLY | O_CLOEXEC);
			if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
				_exit(126);
		}
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

void bench_slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : 0;
	ssize_t n = fd >= 0 ? pread(fd, buf, cap - 1, MAX(size - (off_t)(cap - 1), 0)) : -1;

	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

void bench_last_line(const char *path, char *out, size_t cap)
{
	char buf[16384], *end, *start;

	bench_slurp(path, buf, sizeof(buf));
	end = buf + strlen(buf);
	while (end > buf && end[-1] == '\n')
		*--end = 0;
	start = strrchr(buf, '\n');
	snprintf(out, cap, "%s", start ? start + 1 : buf[0] ? buf : "no message");
}

/* Runs `ip ARGS...` to completion: 0, or -EIO with the command and what ip said in err
 * (its stderr goes to DIR/ip.err). */
static int ip(struct bench_opts *o, char *err, size_t errlen, const char *a, const char *b,
	      const char *c, const char *d, const char *e, const char *f, const char *g)
{
	char *argv[] = { "/sbin/ip", (char *)a, (char *)b, (char *)c, (char *)d, (char *)e,
			 (char *)f, (char *)g, NULL };
	char log[PATH_MAX + 16], said[200];
	pid_t pid;
	int st;

	if (access(argv[0], X_OK) != 0)
		argv[0] = "/usr/sbin/ip";
	snprintf(log, sizeof(log), "%s/ip.err", o->dir);
	pid = bench_spawn("", argv, NULL, log, 0);
	if (pid >= 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	bench_last_line(log, said, sizeof(said));
	snprintf(err, errlen, "--netns: 'ip");
	for (char **arg = argv + 1; *arg; arg++)
		snprintf(err + strlen(err), errlen - strlen(err), " %s", *arg);
	snprintf(err + strlen(err), errlen - strlen(err), "' failed: %s",
		 pid < 0 ? "cannot run ip (is iproute2 installed?)" : said);
	return -EIO;
}

static int netns_up(struct bench_opts *o, char *err, size_t errlen)
{
	static const char *const addr[2] = { "198.18.0.1/30", "198.18.0.2/30" };
	char dev[2][16];
	int rc = 0;

	for (int i = 0; i < 2; i++) {
		snprintf(o->ns[i], sizeof(o->ns[i]), "kxfer-bench-%c%d", "sc"[i], (int)getpid());
		snprintf(dev[i], sizeof(dev[i]), "kxb%c%d", "sc"[i], (int)getpid());
		rc = rc ? rc : ip(o, err, errlen, "netns", "add", o->ns[i], NULL, NULL, NULL, NULL);
	}
	rc = rc ? rc : ip(o, err, errlen, "link", "add", dev[0], "type", "veth", "peer", dev[1]);
	for (int i = 0; i < 2 && !rc; i++) {
		rc = ip(o, err, errlen, "link", "set", dev[i], "netns", o->ns[i], NULL, NULL);
		rc = rc ? rc : ip(o, err, errlen, "-n", o->ns[i], "addr", "add", addr[i], "dev", dev[i]);
		rc = rc ? rc : ip(o, err, errlen, "-n", o->ns[i], "link", "set", dev[i], "up", NULL);
		rc = rc ? rc : ip(o, err, errlen, "-n", o->ns[i], "link", "set", "lo", "up", NULL);
	}
	o->addr = "198.18.0.1";
	return rc;
}

static void netns_down(struct bench_opts *o)
{
	char dev[16], ignored[256];

	if (!o->ns[0][0])
		return;
	/* Removing a namespace removes the veth end inside it; a pair that never got moved
	 * (setup failed half-way) is removed by name.  Either may not exist: fine. */
	for (int i = 0; i < 2; i++)
		ip(o, ignored, sizeof(ignored), "netns", "delete", o->ns[i], NULL, NULL, NULL, NULL);
	snprintf(dev, sizeof(dev), "kxbs%d", (int)getpid());
	ip(o, ignored, sizeof(ignored), "link", "delete", dev, NULL, NULL, NULL, NULL);
	o->ns[0][0] = o->ns[1][0] = 0;
}

/* The test file: pseudo-random bytes (xorshift), so that nothing compresses them. */
static int write_test_file(const char *path, uint64_t size)
{
	enum { CHUNK = 1 << 20 };
	uint64_t *buf = malloc(CHUNK), x = 0x9e3779b97f4a7c15ull;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc = 0;

	for (uint64_t done = 0; buf && fd >= 0 && done < size && rc == 0;) {
		size_t n = (size_t)MIN((uint64_t)CHUNK, size - done);

		for (size_t i = 0; i < CHUNK / 8; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[i] = x;
		}
		ssize_t w = write(fd, buf, n);

		if (w != (ssize_t)n)
			rc = w < 0 ? -errno : -ENOSPC; /* a short write: the disk is full */
		done += n;
	}
	if (!buf || fd < 0)
		rc = !buf ? -ENOMEM : -errno;
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int bench_setup(struct bench_opts *o, const char *parent, char *err, size_t errlen)
{
	char path[PATH_MAX + 32], fp[65];
	ssize_t n = readlink("/proc/self/exe", o->self, sizeof(o->self) - 1);
	bool created;
	int rc;

	o->addr = "127.0.0.1";
	if (n <= 0) {
		rc = n < 0 ? -errno : -ENOENT;
		snprintf(err, errlen, "cannot find this program (/proc/self/exe): %s", strerror(-rc));
		return rc;
	}
	o->self[n] = 0;
	snprintf(o->dir, sizeof(o->dir), "%s/kxfer-bench.XXXXXX", parent);
	if (!mkdtemp(o->dir)) {
		rc = -errno;
		snprintf(err, errlen, "cannot make a directory in %s: %s", parent, strerror(errno));
		o->dir[0] = 0;
		return rc;
	}
	snprintf(path, sizeof(path), "%s/root", o->dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/root/" BENCH_FILE, o->dir);
	if ((rc = write_test_file(path, o->size)) < 0) {
		snprintf(err, errlen, "cannot write the %llu-byte test file in %s: %s",
			 (unsigned long long)o->size, o->dir, strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/state", o->dir);
	mkdir(path, 0700);
	if ((rc = tls_selfsigned(path, o->cert, o->key, sizeof(o->cert), &created, err, errlen)) < 0)
		return rc;
	if ((rc = tls_fingerprint(o->cert, fp)) < 0) {
		snprintf(err, errlen, "cannot read back %s", o->cert);
		return rc;
	}
	snprintf(o->pin, sizeof(o->pin), "sha256:%s", fp);
	return o->netns ? netns_up(o, err, errlen) : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void bench_teardown(struct bench_opts *o)
{
	netns_down(o);
	if (o->dir[0])
		nftw(o->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	o->dir[0] = 0;
}

/* What follows the last `key` in text (say "tx=", or "\"rx_path\":\""), up to one of
 * the stop characters, into out ("?" when key is not there). */
static void text_after(const char *text, const char *key, const char *stop, char *out, size_t cap)
{
	const char *p = NULL, *q;

	for (q = strstr(text, key); q; q = strstr(q + 1, key))
		p = q; /* the last one */
	if (!p) {
		snprintf(out, cap, "?");
		return;
	}
	p += strlen(key);
	snprintf(out, cap, "%.*s", (int)strcspn(p, stop), p);
}

static void server_stop(struct bench_srv *s)
{
	int st;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM); /* nginx's master stops its workers */
	for (int i = 0; i < 500 && waitpid(s->pid, &st, WNOHANG) == 0; i++)
		usleep(10000);
	/* still there after 5 s; or, of nginx, a worker left behind */
	if (kill(s->group ? -s->pid : s->pid, SIGKILL) == 0)
		waitpid(s->pid, &st, 0);
	s->pid = -1;
}

unsigned bench_threads(const struct bench_opts *o, const struct bench_row *r)
{
	unsigned n = o->threads ? o->threads : MIN((unsigned)sysconf(_SC_NPROCESSORS_ONLN), r->conns);

	return n ? n : 1;
}

static int server_start(struct bench_opts *o, const struct bench_row *r, struct bench_srv *s,
			char *why, size_t whylen)
{
	char listen[64], root[PATH_MAX + 8], state[PATH_MAX + 8], threads[16], buf[4096], *at;
	char *argv[16] = { o->self, "serve", "--listen", listen, "--root", root, "--state-dir", state,
			   "--threads", threads };
	int n = 10, st;

	snprintf(listen, sizeof(listen), "%s:0", o->addr);
	snprintf(root, sizeof(root), "%s/root", o->dir);
	snprintf(state, sizeof(state), "%s/state", o->dir);
	snprintf(threads, sizeof(threads), "%u", bench_threads(o, r));
	if (r->path == BP_PLAIN) {
		argv[n++] = "--plain";
	} else {
		argv[n++] = "--ktls";
		argv[n++] = r->path >= BP_KTLS_TX ? "on" : "off";
		argv[n++] = "--ciphers";
		argv[n++] = (char *)r->suite;
	}
	snprintf(s->log, sizeof(s->log), "%s/serve.log", o->dir);
	unlink(s->log); /* the last server's "listening on" must not be read for this one's */
	s->pid = bench_spawn(o->ns[0], argv, NULL, s->log, 0);
	if (s->pid < 0) {
		snprintf(why, whylen, "cannot start kxfer serve: %s", strerror((int)-s->pid));
		return (int)s->pid;
	}
	s->nprocs = 1;
	if (clock_getcpuclockid(s->pid, &s->cpu[0]) != 0) {
		snprintf(why, whylen, "cannot read kxfer serve's CPU clock");
		server_stop(s);
		return -ESRCH;
	}
	/* Its first words: "listening on https://ADDR:PORT/" */
	for (int tries = 0; tries < 1000; tries++) {
		bench_slurp(s->log, buf, sizeof(buf));
		if ((at = strstr(buf, "listening on ")) && strchr(at, '\n')) {
			at += strlen("listening on ");
			snprintf(s->url, sizeof(s->url), "%.*s" BENCH_FILE, (int)strcspn(at, "\n"), at);
			at = strrchr(s->url, ':'); /* curl's --resolve wants the port */
			s->port = at ? (unsigned)atoi(at + 1) : 0;
			return 0;
		}
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			bench_last_line(s->log, buf, sizeof(buf));
			snprintf(why, whylen, "kxfer serve exited: %s", buf);
			s->pid = -1;
			return -ECHILD;
		}
		usleep(10000);
	}
	snprintf(why, whylen, "kxfer serve did not start listening in 10 s");
	server_stop(s);
	return -ETIMEDOUT;
}

/* The server's CPU seconds so far, all its processes (a process gone counts 0: the run
 * then fails anyway). */
static double server_cpu(const struct bench_srv *s)
{
	double sum = 0;

	for (unsigned i = 0; i < s->nprocs; i++) {
		struct timespec ts = { 0 };

		if (clock_gettime(s->cpu[i], &ts) == 0)
			sum += (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	return sum;
}

/* Does the download at path hold exactly the test file's bytes? */
static bool same_bytes(const struct bench_opts *o, const char *path)
{
	enum { CHUNK = 1 << 20 };
	char orig[PATH_MAX + 32], *a = malloc(CHUNK), *b = malloc(CHUNK);
	int fa, fb;
	bool same = a && b;
	ssize_t na, nb;

	snprintf(orig, sizeof(orig), "%s/root/" BENCH_FILE, o->dir);
	fa = open(orig, O_RDONLY | O_CLOEXEC);
	fb = open(path, O_RDONLY | O_CLOEXEC);
	same = same && fa >= 0 && fb >= 0;
	while (same && (na = read(fa, a, CHUNK)) > 0) {
		nb = read(fb, b, (size_t)na); /* a regular file: full reads */
		same = nb == na && !memcmp(a, b, (size_t)na);
	}
	same = same && read(fb, b, 1) == 0;
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(a);
	free(b);
	return same;
}

/* One run: r->conns downloads at once.  0 with the sample, or -1 with the reason. */
static int one_run(struct bench_opts *o, struct bench_row *r, struct bench_srv *s,
		   struct bench_sample *out, char *why, size_t whylen)
{
	pid_t pids[256];
	char json[PATH_MAX + 16], errf[PATH_MAX + 16], sink[PATH_MAX + 16], text[4096], msg[256];
	double t0, wall, srv0, recv_cpu = 0, gib = (double)o->size * r->conns / GIB;
	const char *client = r->client == BCLI_CURL ? "curl" : "kxfer get";
	int rc = 0;

	srv0 = server_cpu(s);
	t0 = now_sec();
	for (unsigned i = 0; i < r->conns; i++) {
		/* plaintext stops at the NULL: no certificate to pin */
		char *argv[] = { o->self, "get", "--quiet", "--json", "--timeout", "60", "--ktls",
				 r->path == BP_KTLS ? "on" : "off", "-o", sink, s->url,
				 r->path == BP_PLAIN ? NULL : "--pin", o->pin, NULL };
		struct bench_curl curl;

		snprintf(sink, sizeof(sink), "%s/get-%u.out", o->dir, i);
		if (!o->verify)
			snprintf(sink, sizeof(sink), "/dev/null");
		snprintf(json, sizeof(json), "%s/get-%u.json", o->dir, i);
		snprintf(errf, sizeof(errf), "%s/get-%u.err", o->dir, i);
		if (r->client == BCLI_CURL)
			bench_curl_argv(o, s, sink, &curl);
		pids[i] = bench_spawn(o->ns[1], r->client == BCLI_CURL ? curl.argv : argv, json,
				      r->client == BCLI_CURL ? errf : NULL, 0);
	}
	for (unsigned i = 0; i < r->conns; i++) {
		struct rusage ru;
		int st;

		if (pids[i] < 0 || wait4(pids[i], &st, 0, &ru) < 0) {
			snprintf(why, whylen, "cannot run %s: %s", client,
				 strerror(pids[i] < 0 ? (int)-pids[i] : errno));
			rc = -1;
			continue;
		}
		recv_cpu += (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		snprintf(json, sizeof(json), "%s/get-%u.json", o->dir, i);
		bench_slurp(json, text, sizeof(text));
		if (r->client == BCLI_CURL) {
			snprintf(errf, sizeof(errf), "%s/get-%u.err", o->dir, i);
			if (rc == 0 && bench_curl_check(text, errf, st, o->size, why, whylen) < 0)
				rc = -1;
			snprintf(r->recv_path, sizeof(r->recv_path), "userspace"); /* OpenSSL */
			continue;
		}
		if (rc == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
			text_after(text, "\"error\":\"", "\"", msg, sizeof(msg));
			snprintf(why, whylen, "kxfer get exited %d: %s",
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), msg);
			rc = -1;
		}
		text_after(text, "\"rx_path\":\"", "\"", r->recv_path, sizeof(r->recv_path));
	}
	wall = now_sec() - t0;
	out->send_cpu = (server_cpu(s) - srv0) / gib;
	out->recv_cpu = recv_cpu / gib;
	out->mbps = (double)o->size * r->conns / wall / 1e6;
	for (unsigned i = 0; i < r->conns && o->verify; i++) {
		snprintf(sink, sizeof(sink), "%s/get-%u.out", o->dir, i);
		if (rc == 0 && !same_bytes(o, sink)) {
			snprintf(why, whylen, "download %u of %u differs from the file served", i + 1, r->conns);
			rc = -1;
		}
		unlink(sink);
	}
	return rc;
}

/* The kernel's own count of the kTLS sessions set up so far, per direction: its proof that
 * the crypto was in the kernel.  false when it keeps none (no tls module loaded). */
static bool ktls_sessions(unsigned long long out[2])
{
	return proc_counter("/proc/net/tls_stat", "TlsTxSw", &out[0]) == 0 &&
	       proc_counter("/proc/net/tls_stat", "TlsRxSw", &out[1]) == 0;
}

void bench_run_row(struct bench_opts *o, struct bench_row *r)
{
	struct bench_srv s = { .pid = -1 };
	unsigned long long before[2], after[2];
	char log[16384];
	double t0;
	bool counted = ktls_sessions(before);
	int rc;

	if (r->server == BSRV_NGINX) {
		rc = bench_nginx_start(o, r, &s, r->why, sizeof(r->why));
		if (rc < 0) {
			server_stop(&s);
			r->failed = true;
			return;
		}
	} else if (server_start(o, r, &s, r->why, sizeof(r->why)) < 0) {
		/* kxfer serve --ktls on refusing means the host cannot run this path (the reason
		 * says why); any other failure to start is a failure. */
		r->available = !strstr(r->why, "--ktls on:");
		r->failed = r->available;
		return;
	}
	if (!o->no_warmup && one_run(o, r, &s, &r->samples[0], r->why, sizeof(r->why)) < 0)
		r->failed = true;
	t0 = now_sec();
	while (!r->failed && !*o->interrupted && r->nsamples < BENCH_MAX_SAMPLES &&
	       (o->seconds > 0 ? r->nsamples < 3 || now_sec() - t0 < o->seconds : r->nsamples < o->runs)) {
		if (one_run(o, r, &s, &r->samples[r->nsamples], r->why, sizeof(r->why)) < 0)
			r->failed = true;
		else
			r->nsamples++;
	}
	server_stop(&s);
	bench_slurp(s.log, log, sizeof(log));
	if (r->server == BSRV_NGINX) /* its config asks for no kernel TLS */
		snprintf(r->send_path, sizeof(r->send_path), "userspace");
	else
		text_after(log, " tx=", " \n", r->send_path, sizeof(r->send_path));
	if (counted && ktls_sessions(after)) {
		r->has_tls_stat = true;
		r->ktls_tx = after[0] - before[0];
		r->ktls_rx = after[1] - before[1];
	}
}
