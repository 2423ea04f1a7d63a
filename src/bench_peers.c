/* kxfer bench --peers: nginx as the server and curl as the client of the userspace rows, so
 * that kxfer is measured against them in the same run, on the same file, certificate and
 * network.  nginx gets a config of its own in the bench directory (TLS 1.3 with the row's
 * cipher only, as many workers as kxfer serve has threads, no access log), runs as bench's
 * child in the server's namespace, and its CPU time is that of its master and all workers. */
#include "bench_peers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static char nginx_exe[PATH_MAX], curl_exe[PATH_MAX];

/* name on $PATH, or in the sbin directories a user's $PATH often lacks, into out. */
static bool find_exe(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char dirs[4096], *tok, *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin:/usr/local/sbin", path ? path : "/usr/bin:/bin");
	for (tok = strtok_r(dirs, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
		snprintf(out, cap, "%s/%s", tok, name);
		if (*tok == '/' && access(out, X_OK) == 0)
			return true;
	}
	out[0] = 0;
	return false;
}

const char *bench_peer_unavailable(enum bench_server srv, enum bench_client cli)
{
	bool no_nginx = srv == BSRV_NGINX && !nginx_exe[0] &&
			!find_exe("nginx", nginx_exe, sizeof(nginx_exe));
	bool no_curl = cli == BCLI_CURL && !curl_exe[0] && !find_exe("curl", curl_exe, sizeof(curl_exe));

	if (no_nginx && no_curl)
		return "nginx and curl not installed (apt-get install nginx-light curl)";
	if (no_nginx)
		return "nginx not installed (apt-get install nginx-light)";
	if (no_curl)
		return "curl not installed (apt-get install curl)";
	return NULL;
}

/* A port for nginx, which cannot report one it picked itself the way kxfer serve does.  In
 * the server's namespace (--netns) nothing but bench's own servers, one at a time, ever
 * listens: a fixed one.  On loopback, one the kernel has just found free. */
static int pick_port(const struct bench_opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, rc;

	if (o->ns[0][0])
		return 8443;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	inet_pton(AF_INET, o->addr, &sa.sin_addr);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	     getsockname(fd, (struct sockaddr *)&sa, &len) == 0 ? ntohs(sa.sin_port) : -errno;
	close(fd);
	return rc;
}

/* Which of the modules with a temporary directory this nginx has (`nginx -V`): each one's
 * default path under /var/lib/nginx must be moved into ours, or a user who is not root
 * cannot start it, and naming one it lacks is a config error. */
static void nginx_modules(const struct bench_opts *o, bool have[4])
{
	static const char *const without[4] = { "--without-http_proxy_module",
		"--without-http_fastcgi_module", "--without-http_uwsgi_module", "--without-http_scgi_module" };
	char *argv[] = { nginx_exe, "-V", NULL }, log[PATH_MAX + 16], text[8192];
	pid_t pid;
	int st;

	snprintf(log, sizeof(log), "%s/nginx/V.txt", o->dir);
	pid = bench_spawn("", argv, NULL, log, 0);
	if (pid > 0)
		waitpid(pid, &st, 0);
	bench_slurp(log, text, sizeof(text));
	for (int i = 0; i < 4; i++)
		have[i] = !strstr(text, without[i]);
}

static int write_conf(const struct bench_opts *o, const struct bench_row *r, const char *path,
		      const char *dir, unsigned port, unsigned workers)
{
	static const char *const temp[4] = { "proxy", "fastcgi", "uwsgi", "scgi" };
	struct passwd *pw = getpwuid(geteuid());
	struct group *gr = getgrgid(getegid());
	FILE *f = fopen(path, "we");
	bool have[4];
	int rc = 0;

	if (!f)
		return -errno;
	nginx_modules(o, have);
	fprintf(f, "# kxfer bench --peers: nginx for %s, written and removed by kxfer bench\n", r->suite);
	/* As root, nginx's workers would become nobody, who cannot read the private directory;
	 * anyone else, nginx cannot switch. */
	if (geteuid() == 0 && pw && gr)
		fprintf(f, "user %s %s;\n", pw->pw_name, gr->gr_name);
	fprintf(f, "worker_processes %u;\nmaster_process on;\ndaemon off;\npid \"%snginx.pid\";\n"
		"error_log stderr warn;\nevents {\n\tworker_connections 1024;\n}\n", workers, dir);
	/* No sendfile: with TLS in userspace nginx reads the file and SSL_writes it anyway. */
	fprintf(f, "http {\n\taccess_log off;\n\tdefault_type application/octet-stream;\n"
		"\tclient_body_temp_path \"%sbody\";\n", dir);
	for (int i = 0; i < 4; i++)
		if (have[i])
			fprintf(f, "\t%s_temp_path \"%s%s\";\n", temp[i], dir, temp[i]);
	fprintf(f, "\tserver {\n\t\tlisten %s:%u ssl;\n\t\tserver_name localhost;\n\t\troot \"%s/root\";\n"
		"\t\tssl_certificate \"%s\";\n\t\tssl_certificate_key \"%s\";\n"
		"\t\tssl_protocols TLSv1.3;\n\t\tssl_conf_command Ciphersuites %s;\n\t}\n}\n",
		o->addr, port, o->dir, o->cert, o->key, r->suite);
	if (ferror(f))
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* The processes whose parent is pid (nginx's workers), from /proc. */
static unsigned children_of(pid_t parent, pid_t *out, unsigned cap)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	unsigned n = 0;

	while (d && n < cap && (e = readdir(d))) {
		char path[300], buf[512], *p;
		pid_t pid = atoi(e->d_name);
		int fd, ppid;
		ssize_t len;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue; /* gone meanwhile */
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[len > 0 ? len : 0] = 0;
		/* "PID (COMM) STATE PPID ...": COMM may hold anything, up to the last ')' */
		if ((p = strrchr(buf, ')')) && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == parent)
			out[n++] = pid;
	}
	if (d)
		closedir(d);
	return n;
}

int bench_nginx_start(struct bench_opts *o, const struct bench_row *r, struct bench_srv *s,
		      char *why, size_t whylen)
{
	char dir[PATH_MAX + 16], conf[PATH_MAX + 32], said[300];
	char *argv[] = { nginx_exe, "-p", dir, "-c", conf, NULL };
	unsigned workers = bench_threads(o, r), n = 0;
	pid_t pids[BENCH_MAX_PROCS];
	int port, rc, st;

	snprintf(dir, sizeof(dir), "%s/nginx/", o->dir);
	snprintf(conf, sizeof(conf), "%snginx.conf", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(why, whylen, "cannot make %s: %s", dir, strerror(-rc));
		return rc;
	}
	if ((port = pick_port(o)) < 0) {
		snprintf(why, whylen, "cannot find a free port for nginx: %s", strerror(-port));
		return port;
	}
	if ((rc = write_conf(o, r, conf, dir, (unsigned)port, workers)) < 0) {
		snprintf(why, whylen, "cannot write %s: %s", conf, strerror(-rc));
		return rc;
	}
	s->port = (unsigned)port;
	s->group = true;
	snprintf(s->url, sizeof(s->url), "https://%s:%d/" BENCH_FILE, o->addr, port);
	snprintf(s->log, sizeof(s->log), "%serror.log", dir);
	s->pid = bench_spawn(o->ns[0], argv, NULL, s->log, SPAWN_SERVER);
	if (s->pid < 0) {
		snprintf(why, whylen, "cannot start nginx: %s", strerror((int)-s->pid));
		return (int)s->pid;
	}
	/* The master opens the listening socket before it forks the workers: once they are
	 * all there, connections are accepted. */
	for (int tries = 0; tries < 1000 && n < workers; tries++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			bench_last_line(s->log, said, sizeof(said));
			snprintf(why, whylen, "nginx exited: %s", said);
			s->pid = -1;
			return -ECHILD;
		}
		usleep(10000);
		n = children_of(s->pid, pids, workers);
	}
	if (n < workers) {
		snprintf(why, whylen, "nginx did not start its %u workers in 10 s", workers);
		return -ETIMEDOUT; /* the caller stops it */
	}
	s->nprocs = 0;
	pids[n++] = s->pid;
	for (unsigned i = 0; i < n; i++)
		if (clock_getcpuclockid(pids[i], &s->cpu[s->nprocs++]) != 0) {
			snprintf(why, whylen, "cannot read the CPU clock of nginx process %d", (int)pids[i]);
			return -ESRCH;
		}
	return 0;
}

void bench_curl_argv(const struct bench_opts *o, const struct bench_srv *s, const char *sink,
		     struct bench_curl *c)
{
	char **v = c->argv;

	/* The certificate names localhost and 127.0.0.1, not the veth address of --netns. */
	snprintf(c->resolve, sizeof(c->resolve), "localhost:%u:%s", s->port, o->addr);
	snprintf(c->url, sizeof(c->url), "https://localhost:%u/" BENCH_FILE, s->port);
	*v++ = curl_exe;
	*v++ = "-q"; /* no ~/.curlrc */
	*v++ = "-sS";
	*v++ = "-o";
	*v++ = (char *)sink;
	*v++ = "--cacert";
	*v++ = (char *)o->cert;
	*v++ = "--resolve";
	*v++ = c->resolve;
	/* like kxfer get --timeout 60: give up after a minute without progress */
	*v++ = "--speed-time";
	*v++ = "60";
	*v++ = "--speed-limit";
	*v++ = "1";
	*v++ = "-w";
	*v++ = "%{http_code} %{size_download}";
	*v++ = c->url;
	*v = NULL;
}

int bench_curl_check(const char *out, const char *errf, int st, uint64_t size, char *why,
		     size_t whylen)
{
	unsigned long long got = 0;
	char said[200];
	unsigned code = 0;

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		bench_last_line(errf, said, sizeof(said));
		snprintf(why, whylen, "curl exited %d: %s",
			 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), said);
		return -1;
	}
	if (sscanf(out, "%u %llu", &code, &got) != 2 || code != 200 || got != size) {
		snprintf(why, whylen, "curl got HTTP %u and %llu bytes, not 200 and %llu", code, got,
			 (unsigned long long)size);
		return -1;
	}
	return 0;
}
