/* kxfer serve, running: listeners (its own, or the sockets a service manager passed),
 * dropping root, signals, the worker threads, the metrics listener, and what the service
 * manager is told along the way (READY=1, STATUS=, STOPPING=1, WATCHDOG=1).
 *
 * The order matters.  Every socket is bound first (port 443 needs root or
 * CAP_NET_BIND_SERVICE), the credentials were loaded before (keys are often root's only),
 * then --user drops root for good, and only then do threads start, so that no thread ever
 * runs as root.  READY=1 goes out once every worker has armed its accept. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "service.h"
#include "util.h"

#define MAX_LISTENERS 1024 /* --threads at most; passed sockets at most SERVICE_MAX_FDS */

struct listeners {
	int fd[MAX_LISTENERS];
	unsigned n;
	int metrics_fd;
	bool passed;             /* by the service manager (socket activation) */
};

int parse_addr(const char *s, struct sockaddr_storage *addr, socklen_t *len)
{
	char host[256];
	const char *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	size_t n;

	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		n = (size_t)(end - s - 1);
		port = end + 2;
		s++;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon)
			return -EINVAL;
		n = (size_t)(colon - s);
		port = colon + 1;
	}
	if (n >= sizeof(host) || !*port)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	if (getaddrinfo(n ? host : NULL, port, &hints, &res) != 0)
		return -EINVAL;
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* reuseport: one listener per worker, and the kernel spreads connections across them. */
static int listen_socket(struct sockaddr_storage *addr, socklen_t *len, bool reuseport)
{
	int fd, one = 1;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)addr, *len) < 0 || listen(fd, 1024) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	/* Port 0: every later listener takes the port the kernel gave the first. */
	getsockname(fd, (struct sockaddr *)addr, len);
	return fd;
}

static int metrics_listener(struct serve_config *cfg, struct listeners *l)
{
	int fd;

	if (!cfg->metrics_listen || l->metrics_fd >= 0)
		return 0;
	fd = listen_socket(&cfg->metrics_addr, &cfg->metrics_addrlen, false);
	if (fd < 0) {
		log_err("cannot listen on --metrics %s: %s", cfg->metrics_listen, strerror(-fd));
		return fd;
	}
	l->metrics_fd = fd;
	return 0;
}

/* The service manager's sockets replace --listen: one named "metrics" is the metrics
 * listener, the others are shared out to the workers. */
static int passed_listeners(struct serve_config *cfg, struct listeners *l)
{
	struct service_fds sfds;
	char err[300];
	int n = service_listen_fds(&sfds, err, sizeof(err));

	if (n <= 0) {
		if (n < 0)
			log_err("socket activation: %s", err);
		return n;
	}
	l->passed = true;
	for (unsigned i = 0; i < sfds.n; i++) {
		if (!strcmp(sfds.name[i], "metrics") && l->metrics_fd < 0)
			l->metrics_fd = sfds.fd[i];
		else
			l->fd[l->n++] = sfds.fd[i];
	}
	if (l->n == 0) {
		log_err("socket activation: only a metrics socket was passed, none to serve on");
		return -EINVAL;
	}
	if (cfg->listen_given)
		log_info("serving on the %u socket%s the service manager passed; --listen %s is not used",
			 l->n, l->n == 1 ? "" : "s", cfg->listen);
	cfg->addrlen = sizeof(cfg->addr);
	getsockname(l->fd[0], (struct sockaddr *)&cfg->addr, &cfg->addrlen);
	if (cfg->threads < l->n)
		cfg->threads = l->n; /* every socket needs a worker accepting on it */
	return (int)l->n;
}

static int open_listeners(struct serve_config *cfg, struct listeners *l)
{
	int rc = passed_listeners(cfg, l);

	if (rc < 0)
		return rc;
	for (; !l->passed && l->n < cfg->threads; l->n++) {
		int fd = listen_socket(&cfg->addr, &cfg->addrlen, true);

		if (fd < 0) {
			log_err("cannot listen on %s: %s", cfg->listen, strerror(-fd));
			return fd;
		}
		l->fd[l->n] = fd;
	}
	return metrics_listener(cfg, l);
}

static void close_listeners(struct listeners *l)
{
	for (unsigned i = 0; i < l->n; i++)
		close(l->fd[i]);
	if (l->metrics_fd >= 0)
		close(l->metrics_fd);
}

static void url_of(const struct serve_config *cfg, char *url, size_t cap)
{
	char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";

	getnameinfo((const struct sockaddr *)&cfg->addr, cfg->addrlen, host, sizeof(host), port,
		    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(url, cap, "%s://%s%s%s:%s/", cfg->plain ? "http" : "https",
		 strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
}

void serve_status(struct serve_shared *s, char *out, size_t cap)
{
	struct serve_creds *cr = creds_get(s); /* a reload may swap the set meanwhile */
	char url[400];
	unsigned open = atomic_load(&s->conns);

	url_of(s->cfg, url, sizeof(url));
	snprintf(out, cap, "serving %s on %s, %u thread%s, %u connection%s open%s%s", s->cfg->root,
		 url, s->nworkers, s->nworkers == 1 ? "" : "s", open, open == 1 ? "" : "s",
		 cr->tls ? ", certificate sha256:" : "", cr->tls ? cr->pin : "");
	creds_put(cr);
}

/* Where we listen and how to reach us, with the certificate's fingerprint (always shown,
 * --quiet too: a service's journal should have the pin). */
static void announce(const struct serve_shared *s, const struct listeners *l)
{
	const struct serve_config *cfg = s->cfg;
	char root[PATH_MAX], url[400], maddr[NI_MAXHOST + NI_MAXSERV + 8] = "";

	url_of(cfg, url, sizeof(url));
	if (!realpath(cfg->root, root))
		snprintf(root, sizeof(root), "%s", cfg->root);
	log_info("listening on %s%s", url, l->passed ? " (sockets passed by the service manager)" : "");
	log_info("root %s, %u thread%s, %s%s%s%s", root, cfg->threads, cfg->threads == 1 ? "" : "s",
		 cfg->plain ? "plaintext HTTP, no TLS" : "kTLS ",
		 cfg->plain ? "" : ktls_mode_name(cfg->ktls), cfg->allow_upload ? ", uploads allowed" : "",
		 s->creds->token ? ", bearer token required" : "");
	if (l->metrics_fd >= 0) {
		struct sockaddr_storage a;
		socklen_t len = sizeof(a);
		char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";

		getsockname(l->metrics_fd, (struct sockaddr *)&a, &len);
		getnameinfo((struct sockaddr *)&a, len, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(maddr, sizeof(maddr), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
		log_info("metrics on http://%s/metrics", maddr);
	}
	if (cfg->user)
		log_info("running as user %s", cfg->user);
	if (cfg->plain) {
		log_info("try: kxfer get %sFILE", url);
		return;
	}
	log_info("certificate sha256:%s (%s%s)", s->creds->pin, cfg->tls.cert_file,
		 cfg->generated ? ", generated now" : "");
	log_info("try: kxfer get --pin sha256:%s %sFILE", s->creds->pin, url);
	log_info("try: curl --cacert %s %s", cfg->tls.cert_file, url);
}

struct thread_arg {
	struct worker w;
	pthread_t tid;
	bool started;
};

static void *worker_main(void *p)
{
	struct thread_arg *t = p;

	worker_run(&t->w);
	return NULL;
}

/* Blocks the signals every thread inherits, and returns a signalfd for worker 0's ring, so
 * that every event, signals included, goes through io_uring (and valgrind follows it). */
static int signal_fd(void)
{
	sigset_t sigs;
	int fd;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	/* A signal whose disposition is SIG_IGN is discarded before a signalfd sees it, and
	 * nohup(1) starts us with SIGHUP ignored: reload and reopen are ours to define, so they
	 * get the default disposition back (blocked, it never runs).  SIGINT and SIGTERM keep
	 * what they inherited, as a shell's background jobs expect. */
	signal(SIGHUP, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int start_workers(struct serve_shared *s, struct thread_arg *t, const struct listeners *l,
			 int sfd)
{
	const struct serve_config *cfg = s->cfg;
	int rc;

	for (unsigned i = 0; i < cfg->threads; i++) {
		rc = worker_init(&t[i].w, i, l->fd[i % l->n], cfg, s);
		if (rc < 0) {
			log_err("io_uring setup failed: %s", strerror(-rc));
			return rc;
		}
		t[i].w.signal_fd = i == 0 ? sfd : -1;
		s->wake_fds[i] = t[i].w.wake_fd;
		s->nworkers = i + 1;
	}
	for (unsigned i = 0; i < cfg->threads; i++) {
		rc = -pthread_create(&t[i].tid, NULL, worker_main, &t[i]);
		if (rc < 0) {
			log_err("cannot start a worker thread: %s", strerror(-rc));
			return rc;
		}
		t[i].started = true;
	}
	while (atomic_load(&s->running) < cfg->threads)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	return 0;
}

static void ready(struct serve_shared *s)
{
	char status[400];

	serve_status(s, status, sizeof(status));
	service_notify("READY=1\nMAINPID=%d\nSTATUS=%s", (int)getpid(), status);
}

/* Set before the workers start (worker 0 reads it at every tick). */
static uint64_t watchdog_usec(void)
{
	uint64_t usec = service_watchdog_usec();

	if (usec && usec < 2500000) {
		log_err("WatchdogSec below 2.5 s cannot be kept (workers tick once a second); not "
			"sending WATCHDOG=1");
		return 0;
	}
	return usec;
}

int serve_run(struct serve_config *cfg, struct serve_creds *creds)
{
	struct serve_shared s = { .cfg = cfg, .creds = creds };
	struct listeners l = { .metrics_fd = -1 };
	struct metrics_server *ms = NULL;
	struct thread_arg *t = NULL;
	char err[300];
	int rc, sfd = -1;

	pthread_mutex_init(&s.creds_lock, NULL);
	rc = open_listeners(cfg, &l);
	if (rc < 0)
		goto out;
	if (cfg->user && (rc = service_drop_privileges(cfg->user, err, sizeof(err))) < 0) {
		log_err("--user %s: %s", cfg->user, err);
		goto out;
	}
	s.metrics = (struct metrics){ .nworkers = cfg->threads, .version = kxfer_version,
				      .start_time = (double)time(NULL), .cert_not_after = creds->not_after,
				      .max_conns = cfg->max_conns, .last_reload_ok = true };
	s.metrics.workers = calloc(cfg->threads, sizeof(*s.metrics.workers));
	s.heartbeat = calloc(cfg->threads, sizeof(*s.heartbeat));
	s.wake_fds = calloc(cfg->threads, sizeof(*s.wake_fds));
	t = calloc(cfg->threads, sizeof(*t));
	rc = -ENOMEM;
	if (!s.metrics.workers || !s.heartbeat || !s.wake_fds || !t)
		goto out;
	for (unsigned i = 0; i < cfg->threads; i++)
		atomic_init(&s.heartbeat[i], now_sec());
	sfd = rc = signal_fd();
	if (rc < 0)
		goto out;
	if (l.metrics_fd >= 0 && (rc = metrics_server_start(l.metrics_fd, &s.metrics, &ms)) < 0) {
		log_err("cannot start the metrics listener: %s", strerror(-rc));
		goto out;
	}
	announce(&s, &l);
	l.metrics_fd = -1; /* the metrics server closes it */
	s.watchdog_usec = watchdog_usec();
	rc = start_workers(&s, t, &l, sfd);
	if (rc < 0) {
		atomic_store(&s.stopping, true);
		for (unsigned i = 0; i < s.nworkers; i++)
			worker_wake(&t[i].w);
	} else {
		ready(&s);
	}
	for (unsigned i = 0; i < s.nworkers; i++) {
		if (t[i].started)
			pthread_join(t[i].tid, NULL);
		worker_destroy(&t[i].w);
	}
	if (ms)
		metrics_server_stop(ms);
out:
	if (sfd >= 0)
		close(sfd);
	close_listeners(&l);
	free(t);
	free(s.wake_fds);
	free((void *)s.heartbeat);
	free(s.metrics.workers);
	creds_put(s.creds);
	pthread_mutex_destroy(&s.creds_lock);
	return rc;
}
