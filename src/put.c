/* kxfer put: upload one file with PUT. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "fileio.h"
#include "filemap.h"
#include "progress.h"
#include "tls.h"
#include "tree.h"
#include "util.h"

#define BUF_SIZE (1024 * 1024)
/* How long to wait for "100 Continue" before sending the body anyway (as curl does). */
#define CONTINUE_WAIT_MS 1000

static const char usage[] =
"Usage: kxfer put FILE URL [OPTIONS]\n"
"Upload FILE with PUT to URL (https://HOST[:PORT]/PATH, or plaintext http://); a URL\n"
"ending in '/' gets FILE's name appended.  kxfer serve needs --allow-upload; it answers 201 (created) or 204\n"
"(replaced) once the file is complete on its disk.\n"
"\n"
"      --ca FILE        trust these CA certificates instead of the system store\n"
"      --pin sha256:HEX accept exactly the server certificate with this SHA-256\n"
"  -k, --insecure       do not verify the server at all\n"
"      --cert FILE --key FILE   client certificate for mutual TLS\n"
"      --token TOKEN    send 'Authorization: Bearer TOKEN'\n"
"      --ktls auto|on|off   kernel TLS: where it works (default), required, never\n"
"      --timeout S      give up after S seconds without progress (default 30)\n"
"      --key-limit N    TLS records under one key at most (default 2^24, RFC 8446 5.5):\n"
"                       userspace TLS updates the key; a file too large for one key is\n"
"                       never sent with kernel TLS, which cannot\n"
"      --json           print the summary as one JSON object on stdout\n"
"      --quiet          no progress line and no summary\n"
"  -r, --recursive      FILE is a directory: upload every regular file under it to URL/\n"
"                       (kxfer serve makes the directories; nginx with create_full_put_path);\n"
"                       files whose size and mtime match the server's listing are skipped\n"
"      --parallel N     with -r, N keep-alive connections (default: the CPUs, 2 to 16)\n"
"      --verify         send the file's SHA-256 (RFC 9530 Repr-Digest): the server keeps the\n"
"                       file only if what it wrote matches, and says so (exit 8 if not)\n"
"      --force          with -r, upload files even when size and mtime match\n"
"      --limit-rate RATE  at most RATE bytes per second in all (curl's units: 500K, 10M)\n"
"  -h, --help           this text\n"
"\n"
"Every upload carries the file's mtime in X-OC-Mtime (kxfer serve sets it).\n"
"Exit codes: 0 ok, 1 other, 2 usage, 3 local I/O, 4 network, 5 TLS, 6 HTTP status >= 300,\n"
"7 protocol (malformed response), 8 --verify: the server received other bytes, or said nothing.\n"
"With -r: 0 when every file arrived, else the code of the first failure (8 before others).\n";

/* Appends name to a URL ending in '/', percent-encoding what a path may not hold. */
static int url_with_name(const char *url, const char *path, char *out, size_t cap)
{
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = strlen(url);

	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(out, url, n + 1);
	if (n == 0 || url[n - 1] != '/')
		return 0;
	for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
		bool plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			     (*s >= '0' && *s <= '9') || strchr("-._~", *s);

		if (n + 4 >= cap)
			return -ENAMETOOLONG;
		n += (size_t)(plain ? snprintf(out + n, 2, "%c", *s) : snprintf(out + n, 4, "%%%02X", *s));
	}
	return 0;
}

static int send_head(struct client *c, uint64_t size)
{
	char extra[256];

	snprintf(extra, sizeof(extra), "Content-Length: %llu\r\nContent-Type: application/octet-stream\r\n"
		 "%sConnection: close\r\n", (unsigned long long)size, size ? "Expect: 100-continue\r\n" : "");
	return client_request(c, "PUT", c->url.target, extra);
}

/* With "Expect: 100-continue" a server may refuse before we send a byte. */
int put_await_continue(struct client *c, bool *refused)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int rc;

	*refused = false;
	if (poll(&pfd, 1, CONTINUE_WAIT_MS) != 1)
		return EXIT_OK; /* no answer: send anyway */
	rc = client_read_head(c, true);
	if (rc == EXIT_OK && c->resp.status >= 200)
		*refused = true;
	return rc;
}

static void m_tick(const struct put_meter *m, uint64_t n, uint64_t total)
{
	if (m->tick)
		m->tick(m->arg, n, total);
}

/* Kernel TLS sending: file -> pipe -> socket splices through the ring; the kernel
 * encrypts, and the body never enters this process. */
static int splice_body(struct client *c, struct fileio *io, int fd, uint64_t size, uint64_t *sent,
		       const struct put_meter *meter)
{
	int pipefd[2], size_pipe, rc = EXIT_OK;
	uint64_t off = 0;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(c->err, sizeof(c->err), "pipe: %s", strerror(errno));
		return EXIT_OTHER;
	}
	size_pipe = fcntl(pipefd[1], F_SETPIPE_SZ, BUF_SIZE);
	if (size_pipe <= 0)
		size_pipe = fcntl(pipefd[1], F_GETPIPE_SZ);
	while (off < size && rc == EXIT_OK) {
		long n = fileio_splice(io, fd, (int64_t)off, pipefd[1], (size_t)MIN((uint64_t)size_pipe, size - off));

		if (n <= 0) {
			snprintf(c->err, sizeof(c->err), "reading the file: %s",
				 n < 0 ? strerror((int)-n) : "it shrank while being sent");
			rc = EXIT_LOCAL_IO;
			break;
		}
		off += (uint64_t)n;
		while (n > 0) {
			long m = fileio_splice(io, pipefd[0], -1, c->fd, (size_t)n);

			if (m <= 0) {
				snprintf(c->err, sizeof(c->err), "sending: %s", m < 0 ? strerror((int)-m) : "closed");
				rc = EXIT_NETWORK;
				break;
			}
			n -= m;
			*sent += (uint64_t)m;
			m_tick(meter, (uint64_t)m, *sent);
		}
	}
	close(pipefd[0]);
	close(pipefd[1]);
	return rc;
}

/* TLS 1.3 in userspace: records sealed straight from the mapped file, as kxfer serve sends
 * (xfer_map.c).  A batch is sealed under the guard, then client_send sends exactly those
 * records: the record layer's rec_write, given the same bytes again, only flushes them. */
static int map_body(struct client *c, int fd, uint64_t size, uint64_t *sent,
		    const struct put_meter *meter)
{
	struct filemap m = { 0 };
	int rc = EXIT_OK;

	while (*sent < size && rc == EXIT_OK) {
		uint64_t off = *sent;
		const uint8_t *p;
		ssize_t n;
		int err = 0;

		if (!m.data || off >= m.off + m.len)
			err = filemap_map(&m, fd, off, (size_t)MIN((uint64_t)FILEMAP_WINDOW, size - off));
		if (err == 0) {
			p = m.data + (off - m.off);
			filemap_guard_begin(&m);
			n = rec_seal(&c->rec.tx, p, (size_t)MIN(m.off + m.len - off, size - off));
			err = filemap_guard_end(&m, off + (n > 0 ? (uint64_t)n : 0));
			if (n < 0)
				err = (int)n;
		}
		if (err) {
			rec_discard(&c->rec.tx);
			snprintf(c->err, sizeof(c->err), "reading the file: %s",
				 err == -ENODATA ? "it shrank while being sent" : strerror(-err));
			rc = EXIT_LOCAL_IO;
			break;
		}
		rc = client_send(c, p, (size_t)n);
		*sent += (uint64_t)n;
		m_tick(meter, (uint64_t)n, *sent);
	}
	filemap_unmap(&m);
	return rc;
}

int put_body(struct client *c, struct fileio *io, int fd, uint64_t size, char **buf, uint64_t *sent,
	     const struct put_meter *meter)
{
	unsigned cur = 0;
	uint64_t next = 0;
	int rc = EXIT_OK;
	long n;

	io->fd = fd;
	setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &(int){ 1 }, sizeof(int));
	if (c->tx_kernel) {
		rc = splice_body(c, io, fd, size, sent, meter);
		next = size;
	} else if (c->rec.tx_on) {
		rc = map_body(c, fd, size, sent, meter);
		next = size;
	}
	for (unsigned i = 0; i < FILEIO_SLOTS && next < size; i++) {
		size_t len = (size_t)MIN((uint64_t)BUF_SIZE, size - next);

		fileio_start(io, i, false, buf[i], len, next);
		next += len;
	}
	while (*sent < size && rc == EXIT_OK) {
		n = fileio_wait(io, cur);
		if (n <= 0) {
			snprintf(c->err, sizeof(c->err), "reading the file: %s",
				 n < 0 ? strerror((int)-n) : "it shrank while being sent");
			rc = EXIT_LOCAL_IO;
			break;
		}
		rc = client_send(c, buf[cur], (size_t)n);
		if (rc != EXIT_OK)
			break;
		if (client_count_records(c, (uint64_t)n))
			tls_key_update(c->tls); /* RFC 8446 5.5: a fresh key before the limit */
		*sent += (uint64_t)n;
		m_tick(meter, (uint64_t)n, *sent);
		if (next < size) {
			size_t len = (size_t)MIN((uint64_t)BUF_SIZE, size - next);

			fileio_start(io, cur, false, buf[cur], len, next);
			next += len;
		}
		cur ^= 1;
	}
	for (unsigned i = 0; i < FILEIO_SLOTS; i++) /* nothing may be in flight into buf */
		fileio_wait(io, i);
	setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &(int){ 0 }, sizeof(int));
	return rc;
}

static void progress_tick(void *arg, uint64_t n, uint64_t total)
{
	progress_update(arg, total);
}

/* One file: its own ring and a progress line. */
static int send_body(struct client *c, int fd, uint64_t size, char **buf, uint64_t *sent)
{
	struct fileio io;
	struct progress p;
	struct put_meter m = { progress_tick, &p };
	int rc;

	if (fileio_init(&io, fd) < 0) {
		snprintf(c->err, sizeof(c->err), "cannot set up io_uring");
		return EXIT_OTHER;
	}
	progress_begin(&p, size, 0, c->opts->quiet);
	rc = put_body(c, &io, fd, size, buf, sent, &m);
	progress_end(&p);
	fileio_exit(&io);
	return rc;
}

/* The final answer, after the body: a send that failed may have been cut off by the
 * server's early answer, so read it then too. */
static int read_answer(struct client *c, int rc)
{
	int head;

	if (rc != EXIT_OK && rc != EXIT_NETWORK)
		return rc;
	head = client_read_head(c, false);
	/* A TLS alert read after a failed send says why better than the send's failure did. */
	return rc == EXIT_OK || head == EXIT_OK || head == EXIT_TLS ? head : rc;
}

static int check_answer(struct client *c)
{
	char body[300] = "";
	long n;

	if (c->resp.status < 300)
		return EXIT_OK;
	n = client_read(c, body, sizeof(body) - 1);
	body[n > 0 ? n : 0] = 0;
	body[strcspn(body, "\r\n")] = 0;
	snprintf(c->err, sizeof(c->err), "HTTP %d %s%s%s", c->resp.status,
		 http_reason(c->resp.status), *body ? ": " : "", body);
	return EXIT_HTTP;
}

int cmd_put(int argc, char **argv)
{
	struct client_opts o;
	struct client c = { .fd = -1 };
	char url[4096], *buf[FILEIO_SLOTS] = { 0 };
	struct stat st;
	uint64_t sent = 0;
	double t0 = now_sec();
	bool refused = false;
	int fd, rc;

	log_set_prog("kxfer put");
	rc = client_parse(argc, argv, &o, usage, true);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (o.recursive || o.parallel || o.verify || o.limit_rate) {
		if (!o.parallel)
			o.parallel = o.recursive ? tree_default_parallel() : 1;
		if (o.recursive)
			return tree_put(&o, o.input);
		if (url_with_name(o.url, o.input, url, sizeof(url))) {
			log_err("URL too long");
			return EXIT_USAGE;
		}
		o.url = url;
		return tree_put(&o, o.input);
	}
	if (url_with_name(o.url, o.input, url, sizeof(url))) {
		log_err("URL too long");
		return EXIT_USAGE;
	}
	o.url = url;
	fd = open(o.input, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_err("%s: %s", o.input, fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return EXIT_LOCAL_IO;
	}
	/* OpenSSL 3.0 cannot update a key it gave the kernel: a body longer than one key may
	 * carry goes through userspace TLS, which can. */
	if (o.ktls != KTLS_OFF && (uint64_t)st.st_size / 16384 + 64 >= o.key_limit) {
		if (o.ktls == KTLS_ON) {
			log_err("--ktls on: %s needs more TLS records than one key may carry (--key-limit %llu), "
				"and kernel TLS cannot update keys", o.input, (unsigned long long)o.key_limit);
			close(fd);
			return EXIT_USAGE;
		}
		o.ktls = KTLS_OFF;
	}
	buf[0] = malloc(BUF_SIZE);
	buf[1] = malloc(BUF_SIZE);
	if (!buf[0] || !buf[1]) {
		snprintf(c.err, sizeof(c.err), "out of memory");
		rc = EXIT_OTHER;
		goto out;
	}
	rc = client_connect(&c, &o);
	if (rc == EXIT_OK)
		rc = send_head(&c, (uint64_t)st.st_size);
	if (rc == EXIT_OK && st.st_size > 0)
		rc = put_await_continue(&c, &refused);
	if (rc == EXIT_OK && !refused)
		rc = read_answer(&c, send_body(&c, fd, (uint64_t)st.st_size, buf, &sent));
	if (rc == EXIT_OK)
		rc = check_answer(&c);
out:
	rc = client_report(&c, rc, sent, now_sec() - t0, o.input);
	client_close(&c);
	close(fd);
	free(buf[0]);
	free(buf[1]);
	return rc;
}
