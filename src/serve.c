/* kxfer serve: options, the certificate, the logs; serve_run.c runs the server. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accesslog.h"
#include "ktls.h"
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
"  --access-log FILE    append the access log to FILE (reopened on SIGUSR1, for logrotate);\n"
"                       default: stderr\n"
"  --log-format text|json  access and diagnostic lines as text (default) or one JSON\n"
"                       object a line\n"
"  --quiet              no access log (start-up lines, the pin and errors still print)\n"
"  --verbose            also log failed handshakes, resets and aborted transfers\n"
"  --metrics ADDR:PORT  Prometheus metrics over plaintext HTTP at http://ADDR:PORT/metrics\n"
"                       (a loopback address unless --metrics-public)\n"
"  --metrics-public     allow --metrics on a non-loopback address (no TLS, no auth)\n"
"  --user NAME          as root: bind, read the key, then run as NAME (and its groups)\n"
"  -h, --help           this text\n"
"\n"
"One access-log line per request (a file's lines start with the UTC time):\n"
"  PEER METHOD PATH STATUS BYTES SECONDS MB/s TLS-VERSION SUITE tx=PATH rx=PATH\n"
"Signals: SIGINT or SIGTERM stops accepting, lets transfers finish (up to 30 s), then exits\n"
"0; SIGHUP reads --cert, --key, --client-ca and --token-file again (new connections get\n"
"them; a set that fails to load is logged and the old one stays); SIGUSR1 reopens\n"
"--access-log.  Under systemd: Type=notify readiness, WATCHDOG=1, and socket activation\n"
"(LISTEN_FDS; a socket named \"metrics\" serves --metrics); see docs/operations.md.\n";

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

enum { OPT_LISTEN = 256, OPT_ROOT, OPT_CERT, OPT_KEY, OPT_STATE, OPT_THREADS, OPT_CIPHERS,
       OPT_TLS12, OPT_UPLOAD, OPT_TOKEN, OPT_CLIENT_CA, OPT_KTLS, OPT_MAX_CONNS, OPT_IDLE,
       OPT_QUIET, OPT_VERBOSE, OPT_KEY_LIMIT, OPT_PLAIN, OPT_ACCESS_LOG, OPT_LOG_FORMAT,
       OPT_METRICS, OPT_METRICS_PUBLIC, OPT_USER };

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
	{ "access-log", required_argument, NULL, OPT_ACCESS_LOG },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "metrics-public", no_argument, NULL, OPT_METRICS_PUBLIC },
	{ "user", required_argument, NULL, OPT_USER },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static bool is_loopback(const struct sockaddr_storage *a)
{
	const struct sockaddr_in6 *s6 = (const void *)a;

	if (a->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
	       (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
}

static void default_state_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (xdg && *xdg)
		snprintf(out, cap, "%s/kxfer", xdg);
	else
		snprintf(out, cap, "%s/.local/state/kxfer", home && *home ? home : ".");
}

/* The state dir's self-signed pair, made on first use, when no --cert is given. */
static int selfsigned(struct serve_config *cfg, const char *state, char *cert, char *key, size_t cap)
{
	char state_buf[PATH_MAX], err[300];
	int rc;

	if (!state)
		default_state_dir(state_buf, sizeof(state_buf)), state = state_buf;
	if ((rc = mkdir_p(state, 0700)) < 0) {
		log_err("cannot create state dir %s: %s", state, strerror(-rc));
		return rc;
	}
	if (tls_selfsigned(state, cert, key, cap, &cfg->generated, err, sizeof(err))) {
		log_err("%s", err);
		return -EINVAL;
	}
	cfg->tls.cert_file = cert;
	cfg->tls.key_file = key;
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_config cfg = {
		.listen = "127.0.0.1:8443", .root = ".", .root_fd = -1, .max_conns = 1024,
		.idle_timeout = 60, .handshake_timeout = 10, .stop_grace = 30, .ktls = KTLS_AUTO,
		.key_limit = KEY_LIMIT_DEFAULT,
	};
	struct serve_creds *creds;
	const char *state = NULL, *access_log = NULL;
	char cert_buf[PATH_MAX + 16], key_buf[PATH_MAX + 16], err[300];
	enum log_format format = LOG_TEXT;
	bool quiet = false;
	uint64_t v;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int opt, rc;

	cfg.threads = cpus > 0 ? (unsigned)cpus : 1;
	log_set_prog("kxfer serve");
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN: cfg.listen = optarg; cfg.listen_given = true; break;
		case OPT_ROOT: cfg.root = optarg; break;
		case OPT_CERT: cfg.tls.cert_file = optarg; break;
		case OPT_KEY: cfg.tls.key_file = optarg; break;
		case OPT_STATE: state = optarg; break;
		case OPT_CIPHERS: cfg.tls.ciphers = optarg; break;
		case OPT_TLS12: cfg.tls.tls12 = true; break;
		case OPT_UPLOAD: cfg.allow_upload = true; break;
		case OPT_PLAIN: cfg.plain = true; break;
		case OPT_TOKEN: cfg.token_file = optarg; break;
		case OPT_CLIENT_CA: cfg.tls.ca_file = optarg; break;
		case OPT_QUIET: quiet = true; break;
		case OPT_VERBOSE: log_level = LOG_VERBOSE; break;
		case OPT_ACCESS_LOG: access_log = optarg; break;
		case OPT_METRICS: cfg.metrics_listen = optarg; break;
		case OPT_METRICS_PUBLIC: cfg.metrics_public = true; break;
		case OPT_USER: cfg.user = optarg; break;
		case OPT_LOG_FORMAT:
			if (parse_log_format(optarg, &format))
				goto bad;
			break;
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
	if (optind != argc || !!cfg.tls.cert_file != !!cfg.tls.key_file) {
		log_err(optind != argc ? "unexpected argument '%s'" : "--cert and --key go together",
			optind != argc ? argv[optind] : "");
		return 2;
	}
	if (cfg.plain && (cfg.tls.cert_file || cfg.tls.ca_file || cfg.tls.tls12 || cfg.tls.ciphers ||
			  cfg.token_file || cfg.ktls == KTLS_ON)) {
		log_err("--plain serves without TLS: it takes no --cert, --client-ca, --tls12, --ciphers, "
			"--token-file (the token would cross in the clear) or --ktls on");
		return 2;
	}
	if (cfg.metrics_public && !cfg.metrics_listen) {
		log_err("--metrics-public goes with --metrics ADDR:PORT");
		return 2;
	}
	if (cfg.metrics_listen && parse_addr(cfg.metrics_listen, &cfg.metrics_addr, &cfg.metrics_addrlen)) {
		log_err("bad --metrics '%s' (want ADDR:PORT, e.g. 127.0.0.1:9443)", cfg.metrics_listen);
		return 2;
	}
	if (cfg.metrics_listen && !cfg.metrics_public && !is_loopback(&cfg.metrics_addr)) {
		log_err("--metrics %s is not a loopback address: the metrics are plaintext and "
			"unauthenticated; add --metrics-public to serve them there anyway",
			cfg.metrics_listen);
		return 2;
	}
	if (cfg.user && geteuid() != 0) {
		log_err("--user %s: only root can change user (kxfer runs as uid %u already)", cfg.user,
			(unsigned)geteuid());
		return 2;
	}
	if (cfg.plain)
		cfg.ktls = KTLS_OFF;
	if (parse_addr(cfg.listen, &cfg.addr, &cfg.addrlen)) {
		log_err("bad --listen '%s' (want ADDR:PORT, e.g. 127.0.0.1:8443 or [::1]:8443)", cfg.listen);
		return 2;
	}
	rc = alog_open(access_log, format, quiet);
	if (rc < 0) {
		log_err("cannot open --access-log %s: %s", access_log, strerror(-rc));
		return 1;
	}
	rc = 2;
	cfg.root_fd = open(cfg.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cfg.root_fd < 0) {
		log_err("cannot open --root %s: %s", cfg.root, strerror(errno));
		goto out_log;
	}
	rc = 1;
	if (cfg.ktls == KTLS_ON && ktls_unavailable()) {
		log_err("--ktls on: %s, so kernel TLS cannot be used; run with --ktls auto or off",
			ktls_unavailable());
		goto out;
	}
	if (!cfg.plain && !cfg.tls.cert_file &&
	    selfsigned(&cfg, state, cert_buf, key_buf, sizeof(cert_buf)) < 0)
		goto out;
	cfg.tls.ktls = cfg.ktls != KTLS_OFF;
	if ((rc = creds_load(&cfg, &creds, err, sizeof(err))) < 0) {
		log_err("%s", rc == -ENOMEM ? "out of memory" : err);
		/* a bad token file is a usage error, as it always was; a bad certificate is not */
		rc = cfg.token_file && strstr(err, "token") ? 2 : 1;
		goto out;
	}
	rc = serve_run(&cfg, creds) < 0 ? 1 : 0;
out:
	close(cfg.root_fd);
out_log:
	alog_close();
	return rc;
bad:
	return bad_option_value(options, opt, optarg);
}
