/* What kxfer get and put share: options, connecting, TLS, request and response heads,
 * and the closing summary.  The socket is blocking with timeouts: a client has one
 * connection and nothing else to do while it waits. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listing.h"
#include "tls.h"
#include "util.h"

enum { OPT_CA = 256, OPT_PIN, OPT_CERT, OPT_KEY, OPT_TOKEN, OPT_KTLS, OPT_JSON, OPT_QUIET,
       OPT_CONTINUE, OPT_TIMEOUT, OPT_KEY_LIMIT, OPT_PARALLEL, OPT_SPLIT, OPT_VERIFY, OPT_FORCE,
       OPT_LIMIT_RATE };

static const struct option options[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "pin", required_argument, NULL, OPT_PIN },
	{ "insecure", no_argument, NULL, 'k' },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "continue", no_argument, NULL, OPT_CONTINUE },
	{ "ktls", required_argument, NULL, OPT_KTLS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "key-limit", required_argument, NULL, OPT_KEY_LIMIT },
	{ "recursive", no_argument, NULL, 'r' },
	{ "parallel", required_argument, NULL, OPT_PARALLEL },
	{ "split-size", required_argument, NULL, OPT_SPLIT },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "limit-rate", required_argument, NULL, OPT_LIMIT_RATE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int client_parse(int argc, char **argv, struct client_opts *o, const char *usage, bool put)
{
	const char *pin;
	uint64_t v;
	int opt;

	memset(o, 0, sizeof(*o));
	o->ktls = KTLS_AUTO;
	o->timeout = 30;
	o->key_limit = KEY_LIMIT_DEFAULT;
	o->split_size = SPLIT_SIZE_DEFAULT;
	while ((opt = getopt_long(argc, argv, put ? "rkh" : "o:rkh", options, NULL)) != -1) {
		switch (opt) {
		case 'r': o->recursive = true; break;
		case OPT_VERIFY: o->verify = true; break;
		case OPT_FORCE: o->force = true; break;
		case OPT_PARALLEL:
			if (parse_count(optarg, PARALLEL_MAX, &o->parallel))
				return bad_option_value(options, opt, optarg);
			break;
		case OPT_SPLIT:
			if (parse_size(optarg, &o->split_size) || o->split_size < (1u << 20))
				return bad_option_value(options, opt, optarg);
			break;
		case OPT_LIMIT_RATE:
			if (parse_size(optarg, &o->limit_rate) || o->limit_rate < 1024)
				return bad_option_value(options, opt, optarg);
			break;
		case 'o': o->output = optarg; break;
		case 'k': o->insecure = true; break;
		case OPT_CA: o->ca_file = optarg; break;
		case OPT_CERT: o->cert_file = optarg; break;
		case OPT_KEY: o->key_file = optarg; break;
		case OPT_TOKEN: o->token = optarg; break;
		case OPT_JSON: o->json = true; break;
		case OPT_QUIET: o->quiet = true; break;
		case OPT_CONTINUE:
			if (put)
				goto bad;
			o->resume = true;
			break;
		case OPT_PIN:
			pin = !strncmp(optarg, "sha256:", 7) ? optarg + 7 : optarg;
			if (hex_decode(pin, o->pin, sizeof(o->pin))) {
				log_err("bad --pin '%s' (want sha256: and 64 hex digits)", optarg);
				return EXIT_USAGE;
			}
			o->has_pin = true;
			break;
		case OPT_KTLS:
			if (parse_ktls_mode(optarg, &o->ktls)) {
				log_err("bad --ktls '%s' (want auto, on or off)", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_TIMEOUT:
			if (parse_uint(optarg, 86400, &v) || v == 0) {
				log_err("bad --timeout '%s'", optarg);
				return EXIT_USAGE;
			}
			o->timeout = (unsigned)v;
			break;
		case OPT_KEY_LIMIT:
			if (parse_uint(optarg, KEY_LIMIT_DEFAULT, &v) || v < 8) {
				log_err("bad --key-limit '%s' (8 to %llu records)", optarg, KEY_LIMIT_DEFAULT);
				return EXIT_USAGE;
			}
			o->key_limit = v;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			goto bad;
		}
	}
	if (argc - optind != (put ? 2 : 1))
		goto bad;
	if (put)
		o->input = argv[optind++];
	o->url = argv[optind];
	if (o->resume && o->recursive) {
		log_err("-r always resumes what an earlier run left; --continue is for one file");
		return EXIT_USAGE;
	}
	if (!!o->cert_file != !!o->key_file) {
		log_err("--cert and --key go together");
		return EXIT_USAGE;
	}
	/* A typo of http for https must not quietly drop what the user asked to be protected. */
	if (!strncasecmp(o->url, "http://", 7) && (o->has_pin || o->ca_file || o->cert_file ||
						   o->insecure || o->token || o->ktls == KTLS_ON)) {
		log_err("%s has no TLS: --pin, --ca, --cert/--key, -k, --token and --ktls on need https://",
			o->url);
		return EXIT_USAGE;
	}
	return 0;
bad:
	fputs(usage, stderr);
	return EXIT_USAGE;
}

/* Non-blocking connect with a deadline, then back to blocking with I/O timeouts. */
static int connect_addr(const struct addrinfo *ai, unsigned timeout, int *err)
{
	struct timeval tv = { .tv_sec = timeout };
	struct pollfd pfd;
	socklen_t len = sizeof(*err);
	int fd, one = 1;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		*err = errno;
		goto fail;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, (int)timeout * 1000) != 1) {
		*err = ETIMEDOUT;
		goto fail;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &len);
	if (*err)
		goto fail;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:
	close(fd);
	return -1;
}

/* The socket blocks with SO_RCVTIMEO/SO_SNDTIMEO, so TLS_WANT_* means "timed out" -- or
 * "interrupted": a blocking call with a timeout fails with EINTR instead of restarting when
 * io_uring task work arrives for this thread.  Retry until the timeout really passed since
 * `since`, when the call began. */
static bool timed_out(struct client *c, double since)
{
	return now_sec() - since >= c->opts->timeout;
}

static int handshake(struct client *c)
{
	double t0 = now_sec();
	int rc;

	while ((rc = tls_handshake(c->tls)) == TLS_WANT_READ || rc == TLS_WANT_WRITE)
		if (timed_out(c, t0))
			break;
	return rc;
}

/* What the receive path outside OpenSSL (kernel or ours) saw of the stream's end. */
static struct rec_events *rx_events(struct client *c)
{
	return c->rec.rx_on ? &c->rec.rx.ev : &c->krx.ev;
}

static ssize_t read_once(struct client *c, void *buf, size_t len)
{
	ssize_t n;

	if (c->url.plain) {
		n = recv(c->fd, buf, len, 0);
		return n >= 0 ? n : errno == EAGAIN || errno == EINTR ? TLS_WANT_READ : -errno;
	}
	if (c->rec.rx_on)
		n = rec_read(&c->rec.rx, buf, len);
	else if (c->rx_kernel)
		n = ktls_read(&c->krx, buf, len);
	else
		return tls_read(c->tls, buf, len);
	if (n == -EAGAIN)
		return TLS_WANT_READ;
	if (n == 0 && !rx_events(c)->eof) {
		snprintf(rx_events(c)->err, sizeof(rx_events(c)->err), "connection closed without close_notify");
		return -ECONNABORTED;
	}
	return n;
}

static ssize_t read_some(struct client *c, void *buf, size_t len)
{
	double t0 = now_sec();
	ssize_t n;

	while ((n = read_once(c, buf, len)) == TLS_WANT_READ || n == TLS_WANT_WRITE)
		if (timed_out(c, t0))
			break;
	return n;
}

static ssize_t write_some(struct client *c, const void *buf, size_t len)
{
	double t0 = now_sec();
	ssize_t n;

	for (;;) {
		if (c->url.plain) {
			n = send(c->fd, buf, len, MSG_NOSIGNAL);
			if (n < 0)
				n = errno == EAGAIN || errno == EINTR ? TLS_WANT_WRITE : -errno;
		} else if (c->rec.tx_on) {
			n = rec_write(&c->rec.tx, buf, len, false);
			n = n == -EAGAIN ? TLS_WANT_WRITE : n;
		} else {
			n = tls_write(c->tls, buf, len);
		}
		if ((n != TLS_WANT_READ && n != TLS_WANT_WRITE) || timed_out(c, t0))
			return n;
	}
}

/* After the handshake, before OpenSSL reads a byte more: the receive direction goes to
 * the kernel where --ktls allows (OpenSSL 3.0 installs only the send direction itself). */
static int choose_paths(struct client *c)
{
	const char *tx_why = NULL, *rx_why = NULL;
	struct tls_keys keys;
	int rc;

	if (c->opts->ktls == KTLS_OFF) {
		rec_start(&c->rec, c->tls, c->fd, true, true, c->opts->key_limit);
		return EXIT_OK;
	}
	c->tx_kernel = tls_ktls_tx(c->tls);
	if (!c->tx_kernel)
		tx_why = ktls_unavailable() ? ktls_unavailable() :
			 "OpenSSL did not offload sending for this TLS version and cipher";
	if (tls_ktls_rx(c->tls))
		; /* a newer OpenSSL did it, and reads through the kernel itself */
	else if (tls_pending(c->tls))
		rx_why = "OpenSSL already read past the handshake";
	else if ((rc = tls_traffic_keys(c->tls, true, &keys)) < 0 ||
		 (rc = ktls_rx_start(&c->krx, c->fd, &keys)) < 0)
		rx_why = ktls_strerror(rc);
	else
		c->rx_kernel = true;
	if ((tx_why || rx_why) && c->opts->ktls == KTLS_ON) {
		snprintf(c->err, sizeof(c->err), "--ktls on: kernel TLS unavailable for %s: %s",
			 tx_why ? "sending" : "receiving", tx_why ? tx_why : rx_why);
		return EXIT_TLS;
	}
	if (tx_why || rx_why) /* said once, in the summary */
		snprintf(c->ktls_why, sizeof(c->ktls_why), "kernel TLS not used for %s: %s",
			 tx_why ? "sending" : "receiving", tx_why ? tx_why : rx_why);
	rec_start(&c->rec, c->tls, c->fd, !c->tx_kernel, !c->rx_kernel && !tls_ktls_rx(c->tls),
		  c->opts->key_limit);
	return EXIT_OK;
}

int client_connect(struct client *c, struct client_opts *o)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	struct tls_config tc = { .ca_file = o->ca_file, .cert_file = o->cert_file,
				 .key_file = o->key_file, .insecure = o->insecure,
				 .pin = o->has_pin ? o->pin : NULL, .ktls = o->ktls != KTLS_OFF };
	const char *why;
	int rc, err = 0;

	memset(c, 0, sizeof(*c));
	c->opts = o;
	c->fd = -1;
	if (url_parse(o->url, &c->url, &why)) {
		snprintf(c->err, sizeof(c->err), "%s: %s", o->url, why);
		return EXIT_USAGE;
	}
	rc = getaddrinfo(c->url.host, c->url.port, &hints, &res);
	if (rc) {
		snprintf(c->err, sizeof(c->err), "cannot resolve %s: %s", c->url.host, gai_strerror(rc));
		return EXIT_NETWORK;
	}
	for (ai = res; ai && c->fd < 0; ai = ai->ai_next)
		c->fd = connect_addr(ai, o->timeout, &err);
	freeaddrinfo(res);
	if (c->fd < 0) {
		snprintf(c->err, sizeof(c->err), "cannot connect to %s port %s: %s", c->url.host,
			 c->url.port, strerror(err));
		return EXIT_NETWORK;
	}
	if (c->url.plain) {
		c->tx_kernel = true; /* plaintext: uploads splice straight to the socket */
		return EXIT_OK;
	}
	if (tls_client_ctx(&tc, &c->ctx, c->err, sizeof(c->err)))
		return EXIT_USAGE;
	if (tls_new(c->ctx, c->fd, c->url.host, &c->tls)) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return EXIT_OTHER;
	}
	rc = handshake(c);
	if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
		snprintf(c->err, sizeof(c->err), "TLS handshake timed out after %u s", o->timeout);
		return EXIT_NETWORK;
	}
	if (rc < 0) {
		snprintf(c->err, sizeof(c->err), "TLS %s", tls_error(c->tls));
		return EXIT_TLS;
	}
	return choose_paths(c);
}

/* A failed TLS read or write: the exit code and the reason. */
static int io_failure(struct client *c, long rc, const char *what)
{
	if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
		snprintf(c->err, sizeof(c->err), "%s: no progress for %u s", what, c->opts->timeout);
		return EXIT_NETWORK;
	}
	snprintf(c->err, sizeof(c->err), "%s: %s", what,
		 (c->rx_kernel || c->rec.rx_on) && rx_events(c)->err[0] ? rx_events(c)->err :
		 c->rec.tx_on && c->rec.tx.err[0] ? c->rec.tx.err :
		 c->tls ? tls_error(c->tls) : strerror(rc < 0 ? (int)-rc : ECONNRESET));
	/* A FIN without close_notify may be a truncation: the response cannot be trusted. */
	if (rc == -ECONNABORTED)
		return EXIT_PROTOCOL;
	return rc == -EPROTO || rc == -EKEYREJECTED || rc == -EKEYEXPIRED || rc == -EBADMSG ?
	       EXIT_TLS : EXIT_NETWORK;
}

int client_send(struct client *c, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write_some(c, p, len);

		if (n <= 0)
			return io_failure(c, n, "sending");
		p += n;
		len -= (size_t)n;
	}
	return EXIT_OK;
}

int client_read_head(struct client *c, bool want_interim)
{
	for (;;) {
		int n = c->head_len ? http_parse_response(c->head, c->head_len, &c->resp) : 0;
		ssize_t got;

		if (n > 0 && c->resp.status >= 200)
			return EXIT_OK;
		if (n > 0) { /* 1xx: drop it, and return it if asked */
			memmove(c->head, c->head + n, c->head_len - (size_t)n);
			c->head_len -= (size_t)n;
			if (want_interim)
				return EXIT_OK;
			continue;
		}
		if (n < 0) {
			snprintf(c->err, sizeof(c->err), "malformed response head from the server");
			return EXIT_PROTOCOL;
		}
		got = read_some(c, c->head + c->head_len, HTTP_HEAD_MAX - c->head_len);
		if (got == 0) {
			snprintf(c->err, sizeof(c->err), "the server closed the connection without a response");
			return EXIT_PROTOCOL;
		}
		if (got < 0)
			return io_failure(c, got, "reading the response");
		c->head_len += (size_t)got;
		c->head[c->head_len] = 0;
	}
}

long client_read(struct client *c, void *buf, size_t len)
{
	size_t early = c->head_len - c->resp.head_len;
	ssize_t n;

	if (early > 0) {
		early = MIN(early, len);
		memcpy(buf, c->head + c->resp.head_len, early);
		memmove(c->head + c->resp.head_len, c->head + c->resp.head_len + early,
			c->head_len - c->resp.head_len - early);
		c->head_len -= early;
		return (long)early;
	}
	n = read_some(c, buf, len);
	if (n >= 0)
		return n;
	return -io_failure(c, n, "reading the body");
}

void client_expect(struct client *c, uint64_t n)
{
	if (c->rec.rx_on)
		rec_rx_expect(&c->rec.rx, n);
}

const char *client_path_name(const struct client *c, bool tx)
{
	if (c->url.plain)
		return "plain";
	if (tx)
		return c->tx_kernel ? "ktls" : "userspace";
	return c->rx_kernel || (c->tls && tls_ktls_rx(c->tls)) ? "ktls" : "userspace";
}

bool client_count_records(struct client *c, uint64_t bytes)
{
	if (c->url.plain || c->rec.tx_on)
		return false; /* plaintext: no key to wear out; the record layer updates its own */
	c->tx_records += (bytes + 16383) / 16384 + 1;
	if (c->tx_records < c->opts->key_limit)
		return false;
	c->tx_records = 0;
	return true;
}

void client_close(struct client *c)
{
	if (c->tls) {
		if (c->rec.tx_on)
			rec_close(&c->rec);
		else
			tls_close_notify(c->tls);
		tls_free(c->tls);
	}
	tls_ctx_free(c->ctx);
	ktls_rx_end(&c->krx);
	rec_end(&c->rec);
	if (c->fd >= 0)
		close(c->fd);
	c->tls = NULL;
	c->ctx = NULL;
	c->fd = -1;
}

int client_read_small_body(struct client *c, char **body, size_t *len, size_t max)
{
	const struct http_response_head *r = &c->resp;
	size_t cap = r->content_length >= 0 ? (size_t)MIN((uint64_t)r->content_length, max) + 1 : 65536;
	size_t n = 0;
	char *buf = malloc(cap), *grown;
	long got;
	bool empty = r->status == 204 || r->status == 304 || r->status < 200; /* never a body */

	if (r->content_length > (int64_t)max) {
		free(buf);
		snprintf(c->err, sizeof(c->err), "the response body (%lld bytes) is larger than %zu",
			 (long long)r->content_length, max);
		return EXIT_PROTOCOL;
	}
	while (buf && !empty) {
		if (r->content_length >= 0 && n == (size_t)r->content_length)
			break;
		if (r->chunked) {
			size_t body_len;
			long used = n ? http_dechunk(buf, n, &body_len) : 0;

			if (used < 0) {
				snprintf(c->err, sizeof(c->err), "malformed chunked body");
				free(buf);
				return EXIT_PROTOCOL;
			}
			if (used > 0) {
				/* bytes past the last chunk would be the next response: none, unpipelined */
				n = body_len;
				break;
			}
		}
		if (n + 1 >= cap) {
			if (cap > max) {
				snprintf(c->err, sizeof(c->err), "the response body is larger than %zu bytes", max);
				free(buf);
				return EXIT_PROTOCOL;
			}
			grown = realloc(buf, cap * 2);
			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		got = client_read(c, buf + n, (r->content_length >= 0 ? (size_t)r->content_length - n
								       : cap - n - 1));
		if (got < 0) {
			free(buf);
			return (int)-got;
		}
		if (got == 0) {
			if (r->content_length >= 0 || r->chunked) {
				snprintf(c->err, sizeof(c->err), "the response body ended early");
				free(buf);
				return EXIT_PROTOCOL;
			}
			c->resp.keep_alive = false;
			break;
		}
		n += (size_t)got;
	}
	if (!buf) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return EXIT_OTHER;
	}
	buf[n] = 0;
	*body = buf;
	*len = n;
	return EXIT_OK;
}

void client_next_response(struct client *c)
{
	size_t rest = c->head_len - c->resp.head_len;

	memmove(c->head, c->head + c->resp.head_len, rest);
	c->head_len = rest;
	c->head[rest] = 0;
	c->resp.head_len = 0;
}

int client_request(struct client *c, const char *method, const char *target, const char *extra)
{
	char req[12288], host[300], auth[600] = "";
	int n, rc;

	url_host_header(&c->url, host, sizeof(host));
	if (c->opts->token)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", c->opts->token);
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kxfer/%s\r\n%s%s\r\n",
		     method, target, host, kxfer_version, extra, auth);
	explicit_bzero(auth, sizeof(auth));
	if (n >= (int)sizeof(req)) {
		snprintf(c->err, sizeof(c->err), "request too long");
		rc = EXIT_USAGE;
	} else {
		rc = client_send(c, req, (size_t)n);
	}
	explicit_bzero(req, sizeof(req));
	return rc;
}
