/* kxfer serve: options, certificate, listeners, worker threads and signals. */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ktls.h"
#include "loop.h"
#include "tls.h"
#include "util.h"

static const char usage[] =
"Usage: kxfer serve [OPTIONS]\n"
"Serve the files under a directory over HTTPS/1.1 (TLS 1.3).\n"
"\n"
"  --listen ADDR:PORT   address to listen on (default 127.0.0.1:8443; [::1]:8443 for IPv6;\n"
"                       port 0 lets the kernel choose)\n"
"  --root DIR           directory to serve (default .); nothing outside it is reachable\n"
"  --cert FILE --key FILE  certificate chain and private key (PEM)\n"
"  --state-dir DIR      where the self-signed certificate lives when --cert is not given\n"
"                       (default $XDG_STATE_HOME/kxfer, else ~/.local/state/kxfer)\n"
"  --threads N          worker threads, each with its own io_uring and listener\n"
"                       (default: online CPUs)\n"
"  --ciphers LIST       OpenSSL names, ':'-separated (default " TLS_DEFAULT_SUITES ")\n"
"  --tls12              also accept TLS 1.2, ECDHE with AES-GCM or ChaCha20-Poly1305 only\n"
"                       (Mozilla intermediate; TLS 1.2 names in --ciphers replace these)\n"
"  --allow-upload       accept PUT (written to a temporary file, renamed when complete)\n"
"  --token-file FILE    require 'Authorization: Bearer TOKEN' (TOKEN is the file's content)\n"
"  --client-ca FILE     require client certificates issued by these CAs (mutual TLS)\n"
"  --ktls auto|on|off   kernel TLS: use where it works (auto, default), require it, or never\n"
"  --plain              plaintext HTTP, no TLS at all (http:// URLs): the ceiling kxfer bench\n"
"                       measures; bodies go file -> pipe -> socket by splice.  Never across\n"
"                       a network you do not trust\n"
"  --key-limit RECORDS  TLS records sent under one key at most (default 16777216, RFC 8446\n"
"                       5.5): userspace TLS then updates the key; kernel TLS, which cannot,\n"
"                       ends the response there and closes (kxfer get resumes); small\n"
"                       values are for tests\n"
"  --max-conns N        open connections at most (default 1024); more get 503\n"
"  --idle-timeout S     close connections idle this many seconds, or whose request head\n"
"                       has not arrived whole this long after its first byte (default 60)\n"
"  --quiet              no access log   --verbose   also log failed handshakes and resets\n"
"  -h, --help           this text\n"
"\n"
"One access-log line per request goes to stderr:\n"
"  PEER METHOD PATH STATUS BYTES SECONDS MB/s TLS-VERSION SUITE tx=PATH rx=PATH\n"
"SIGINT or SIGTERM stops accepting, lets transfers finish (up to 30 s), then exits 0.\n";

const char *ktls_mode_name(enum ktls_mode m)
{
	return m == KTLS_ON ? "on" : m == KTLS_OFF ? "off" : "auto";
}

int parse_ktls_mode(const char *s, enum ktls_mode *m)
{
	if (!strcmp(s, "auto"))
		*m = KTLS_AUTO;
	else if (!strcmp(s, "on"))
		*m = KTLS_ON;
	else if (!strcmp(s, "off"))
		*m = KTLS_OFF;
	else
		return -EINVAL;
	return 0;
}

/* "host:port", "[v6]:port" -> a socket address. */
static int parse_listen(const char *s, struct serve_config *cfg)
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
	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	if (getaddrinfo(n ? host : NULL, port, &hints, &res) != 0)
		return -EINVAL;
	memcpy(&cfg->addr, res->ai_addr, res->ai_addrlen);
	cfg->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int listen_socket(struct serve_config *cfg)
{
	int fd, one = 1;

	fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (cfg->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* One listener per worker: the kernel spreads connections across them. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&cfg->addr, cfg->addrlen) < 0 || listen(fd, 1024) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	/* Port 0: every later listener takes the port the kernel gave the first. */
	getsockname(fd, (struct sockaddr *)&cfg->addr, &cfg->addrlen);
	return fd;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -errno : 0;
}

static int read_token(const char *file, struct serve_config *cfg)
{
	char buf[4096], *t;
	FILE *f = fopen(file, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	t = trim(buf);
	if (!*t || strchr(t, '\n'))
		return -EINVAL;
	cfg->token = strdup(t);
	cfg->token_len = strlen(t);
	explicit_bzero(buf, sizeof(buf));
	return cfg->token ? 0 : -ENOMEM;
}

struct thread_arg {
	struct worker w;
	pthread_t tid;
};

static void *worker_main(void *p)
{
	struct thread_arg *t = p;

	worker_run(&t->w);
	return NULL;
}

/* Prints where we listen and how to reach us, with the certificate's fingerprint. */
static void announce(const struct serve_config *cfg, const char *cert, bool generated)
{
	char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?", fp[65] = "?", root[PATH_MAX], url[400];

	getnameinfo((const struct sockaddr *)&cfg->addr, cfg->addrlen, host, sizeof(host), port,
		    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	if (!realpath(cfg->root, root))
		snprintf(root, sizeof(root), "%s", cfg->root);
	snprintf(url, sizeof(url), "%s://%s%s%s:%s/", cfg->plain ? "http" : "https",
		 strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
	log_info("listening on %s", url);
	log_info("root %s, %u thread%s, %s%s%s%s", root, cfg->threads, cfg->threads == 1 ? "" : "s",
		 cfg->plain ? "plaintext HTTP, no TLS" : "kTLS ",
		 cfg->plain ? "" : ktls_mode_name(cfg->ktls), cfg->allow_upload ? ", uploads allowed" : "",
		 cfg->token ? ", bearer token required" : "");
	if (cfg->plain) {
		log_info("try: kxfer get %sFILE", url);
		return;
	}
	tls_fingerprint(cert, fp);
	log_info("certificate sha256:%s (%s%s)", fp, cert, generated ? ", generated now" : "");
	log_info("try: kxfer get --pin sha256:%s %sFILE", fp, url);
	log_info("try: curl --cacert %s %s", cert, url);
}

static int run_workers(struct serve_config *cfg, const char *cert, bool generated)
{
	struct serve_shared shared = { 0 };
	struct thread_arg *t = calloc(cfg->threads, sizeof(*t));
	int *wake = calloc(cfg->threads, sizeof(*wake));
	sigset_t sigs;
	unsigned started = 0;
	int rc = 0, sfd;

	if (!t || !wake) {
		free(t);
		free(wake);
		return -ENOMEM;
	}
	/* SIGINT/SIGTERM arrive through a signalfd that worker 0 reads in its ring, so every
	 * event, signals included, goes through io_uring (and valgrind can follow it). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	shared.wake_fds = wake;
	for (; started < cfg->threads && sfd >= 0; started++) {
		int fd = listen_socket(cfg);

		if (fd < 0) {
			log_err("cannot listen on %s: %s", cfg->listen, strerror(-fd));
			rc = fd;
			break;
		}
		rc = worker_init(&t[started].w, started, fd, cfg, &shared);
		if (rc < 0) {
			close(fd);
			log_err("io_uring setup failed: %s", strerror(-rc));
			break;
		}
		t[started].w.signal_fd = started == 0 ? sfd : -1;
		wake[started] = t[started].w.wake_fd;
		shared.nworkers = started + 1;
		if (started == 0)
			announce(cfg, cert, generated);
		pthread_create(&t[started].tid, NULL, worker_main, &t[started]);
	}
	if (sfd < 0)
		rc = -errno;
	if (rc < 0) {
		atomic_store(&shared.stopping, true);
		for (unsigned i = 0; i < started; i++)
			worker_wake(&t[i].w);
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(t[i].tid, NULL);
		worker_destroy(&t[i].w);
	}
	if (sfd >= 0)
		close(sfd);
	free(t);
	free(wake);
	return rc;
}

enum { OPT_LISTEN = 256, OPT_ROOT, OPT_CERT, OPT_KEY, OPT_STATE, OPT_THREADS, OPT_CIPHERS,
       OPT_TLS12, OPT_UPLOAD, OPT_TOKEN, OPT_CLIENT_CA, OPT_KTLS, OPT_MAX_CONNS, OPT_IDLE,
       OPT_QUIET, OPT_VERBOSE, OPT_KEY_LIMIT, OPT_PLAIN };

static const struct option options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "state-dir", required_argument, NULL, OPT_STATE },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "ciphers", required_argument, NULL, OPT_CIPHERS },
	{ "tls12", no_argument, NULL, OPT_TLS12 },
	{ "allow-upload", no_argument, NULL, OPT_UPLOAD },
	{ "token-file", required_argument, NULL, OPT_TOKEN },
	{ "client-ca", required_argument, NULL, OPT_CLIENT_CA },
	{ "ktls", required_argument, NULL, OPT_KTLS },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "key-limit", required_argument, NULL, OPT_KEY_LIMIT },
	{ "plain", no_argument, NULL, OPT_PLAIN },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void default_state_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (xdg && *xdg)
		snprintf(out, cap, "%s/kxfer", xdg);
	else
		snprintf(out, cap, "%s/.local/state/kxfer", home && *home ? home : ".");
}

int cmd_serve(int argc, char **argv)
{
	struct serve_config cfg = {
		.listen = "127.0.0.1:8443", .root = ".", .root_fd = -1, .max_conns = 1024,
		.idle_timeout = 60, .handshake_timeout = 10, .stop_grace = 30, .ktls = KTLS_AUTO,
		.key_limit = KEY_LIMIT_DEFAULT,
	};
	struct tls_config tc = { 0 };
	const char *cert = NULL, *key = NULL, *state = NULL, *token_file = NULL;
	char state_buf[PATH_MAX], cert_buf[PATH_MAX + 16], key_buf[PATH_MAX + 16], err[300];
	bool generated = false;
	uint64_t v;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int opt, rc;

	cfg.threads = cpus > 0 ? (unsigned)cpus : 1;
	log_set_prog("kxfer serve");
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN: cfg.listen = optarg; break;
		case OPT_ROOT: cfg.root = optarg; break;
		case OPT_CERT: cert = optarg; break;
		case OPT_KEY: key = optarg; break;
		case OPT_STATE: state = optarg; break;
		case OPT_CIPHERS: tc.ciphers = optarg; break;
		case OPT_TLS12: tc.tls12 = true; break;
		case OPT_UPLOAD: cfg.allow_upload = true; break;
		case OPT_PLAIN: cfg.plain = true; break;
		case OPT_TOKEN: token_file = optarg; break;
		case OPT_CLIENT_CA: tc.ca_file = optarg; break;
		case OPT_QUIET: log_level = LOG_QUIET; break;
		case OPT_VERBOSE: log_level = LOG_VERBOSE; break;
		case OPT_KTLS:
			if (parse_ktls_mode(optarg, &cfg.ktls))
				goto bad;
			break;
		case OPT_THREADS:
			if (parse_count(optarg, 1024, &cfg.threads))
				goto bad;
			break;
		case OPT_MAX_CONNS:
			if (parse_count(optarg, 1000000, &cfg.max_conns))
				goto bad;
			break;
		case OPT_KEY_LIMIT:
			if (parse_uint(optarg, KEY_LIMIT_DEFAULT, &v) || v < 8)
				goto bad;
			cfg.key_limit = v;
			break;
		case OPT_IDLE:
			if (parse_count(optarg, 86400, &cfg.idle_timeout))
				goto bad;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc || !!cert != !!key) {
		log_err(optind != argc ? "unexpected argument '%s'" : "--cert and --key go together",
			optind != argc ? argv[optind] : "");
		return 2;
	}
	if (cfg.plain && (cert || tc.ca_file || tc.tls12 || tc.ciphers || token_file ||
			  cfg.ktls == KTLS_ON)) {
		log_err("--plain serves without TLS: it takes no --cert, --client-ca, --tls12, --ciphers, "
			"--token-file (the token would cross in the clear) or --ktls on");
		return 2;
	}
	if (cfg.plain)
		cfg.ktls = KTLS_OFF;
	if (parse_listen(cfg.listen, &cfg)) {
		log_err("bad --listen '%s' (want ADDR:PORT, e.g. 127.0.0.1:8443 or [::1]:8443)", cfg.listen);
		return 2;
	}
	cfg.root_fd = open(cfg.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cfg.root_fd < 0) {
		log_err("cannot open --root %s: %s", cfg.root, strerror(errno));
		return 2;
	}
	if (token_file && (rc = read_token(token_file, &cfg)) < 0) {
		log_err("cannot read a token from %s: %s", token_file,
			rc == -EINVAL ? "empty or more than one line" : strerror(-rc));
		rc = 2;
		goto out;
	}
	if (cfg.ktls == KTLS_ON && ktls_unavailable()) {
		log_err("--ktls on: %s, so kernel TLS cannot be used; run with --ktls auto or off",
			ktls_unavailable());
		rc = 1;
		goto out;
	}
	if (cfg.plain)
		goto run;
	if (!cert) {
		if (!state)
			default_state_dir(state_buf, sizeof(state_buf)), state = state_buf;
		if ((rc = mkdir_p(state, 0700)) < 0) {
			log_err("cannot create state dir %s: %s", state, strerror(-rc));
			rc = 1;
			goto out;
		}
		if (tls_selfsigned(state, cert_buf, key_buf, sizeof(cert_buf), &generated, err, sizeof(err))) {
			log_err("%s", err);
			rc = 1;
			goto out;
		}
		cert = cert_buf;
		key = key_buf;
	}
	tc.cert_file = cert;
	tc.key_file = key;
	tc.ktls = cfg.ktls != KTLS_OFF;
	if (tls_server_ctx(&tc, &cfg.tls, err, sizeof(err))) {
		log_err("%s", err);
		rc = 1;
		goto out;
	}
run:
	rc = run_workers(&cfg, cert, generated) < 0 ? 1 : 0;
	tls_ctx_free(cfg.tls);
out:
	if (cfg.token) {
		explicit_bzero(cfg.token, cfg.token_len);
		free(cfg.token);
	}
	close(cfg.root_fd);
	return rc;
bad:
	return bad_option_value(options, opt, optarg);
}
