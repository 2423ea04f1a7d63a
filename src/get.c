/* kxfer get: download one URL into a file, resumably, never leaving a truncated file
 * under the final name. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "fileio.h"
#include "progress.h"
#include "tls.h"
#include "tree.h"
#include "util.h"

#define BUF_SIZE (1024 * 1024)

static const char usage[] =
"Usage: kxfer get URL [OPTIONS]\n"
"Download URL (https://HOST[:PORT]/PATH) from any HTTPS/1.1 server; http:// (plaintext,\n"
"no TLS: kxfer serve --plain) for measuring.\n"
"\n"
"  -o, --output FILE    where to write (default: the URL's last path segment); - for stdout\n"
"      --ca FILE        trust these CA certificates instead of the system store\n"
"      --pin sha256:HEX accept exactly the server certificate with this SHA-256 (of its DER),\n"
"                       instead of CA and host-name checks (kxfer serve prints its pin)\n"
"  -k, --insecure       do not verify the server at all\n"
"      --cert FILE --key FILE   client certificate for mutual TLS\n"
"      --token TOKEN    send 'Authorization: Bearer TOKEN'\n"
"      --continue       resume: ask for the bytes after those FILE already has\n"
"      --ktls auto|on|off   kernel TLS: where it works (default), required, never\n"
"      --timeout S      give up after S seconds without progress (default 30)\n"
"      --key-limit N    TLS records this side sends under one key at most (default 2^24)\n"
"      --json           print the summary as one JSON object on stdout (stderr with -o -)\n"
"      --quiet          no progress line and no summary\n"
"  -r, --recursive      URL is a directory: download the tree under it into -o DIR (default:\n"
"                       the URL's last directory name), from JSON listings (kxfer serve, or\n"
"                       nginx with autoindex_format json); files whose size and mtime match\n"
"                       are skipped, and a rerun resumes an interrupted one\n"
"      --parallel N     N keep-alive connections (default with -r: the CPUs, 2 to 16); a\n"
"                       single file is fetched as N byte ranges\n"
"      --split-size SIZE  with -r, files larger than SIZE are fetched as byte ranges on\n"
"                       several connections (default 64M, at least 1M)\n"
"      --verify         ask for the server's SHA-256 (RFC 9530 Want-Repr-Digest) and compare\n"
"                       it with the bytes on disk before renaming into place (exit 8 if not)\n"
"      --force          with -r, fetch files even when size and mtime match\n"
"      --limit-rate RATE  at most RATE bytes per second in all (curl's units: 500K, 10M, 1G)\n"
"  -h, --help           this text\n"
"\n"
"A body that ends early with a clean close_notify (a kernel-TLS server at its key-usage\n"
"limit) is resumed on a new connection with Range and If-Range.\n"
"The body goes to .FILE.kxfer-part beside FILE and is renamed to FILE when complete; a\n"
"failed download removes it, unless --continue was given, which keeps it to resume from.\n"
"Files get the server's Last-Modified as their mtime.  --parallel, --verify and --limit-rate\n"
"write through .FILE.kxfer-part and .FILE.kxfer-state (what is done, for resuming).\n"
"Exit codes: 0 ok, 1 other, 2 usage, 3 local I/O, 4 network, 5 TLS, 6 HTTP status >= 300,\n"
"7 protocol (malformed or truncated response), 8 --verify found different bytes or no digest.\n"
"With -r: 0 when every file arrived, else the code of the first failure (8 before others).\n";

struct download {
	struct client c;
	const char *dest;        /* final name, or "-" */
	char part[PATH_MAX];     /* temporary name; "" when writing straight to dest */
	int fd;
	bool stream;             /* stdout, a device or a pipe: sequential writes, one at a time */
	uint64_t offset;         /* bytes already in the part file */
	uint64_t got;            /* bytes received by this run, all connections */
	uint64_t got_here;       /* ... on the current connection */
	char etag[160];          /* the first response's validator, for If-Range on resumes */
	unsigned resumes;
	char *buf[FILEIO_SLOTS];
	struct fileio io;
	bool io_ready;
};

static int part_name(struct download *d)
{
	char tmp1[PATH_MAX], tmp2[PATH_MAX];

	if (snprintf(tmp1, sizeof(tmp1), "%s", d->dest) >= (int)sizeof(tmp1))
		return -ENAMETOOLONG;
	snprintf(tmp2, sizeof(tmp2), "%s", d->dest);
	if (snprintf(d->part, sizeof(d->part), "%s/.%s.kxfer-part", dirname(tmp1), basename(tmp2)) >=
	    (int)sizeof(d->part))
		return -ENAMETOOLONG;
	return 0;
}

/* Opens the part file; with --continue picks up FILE or an earlier part file. */
static int open_output(struct download *d, bool resume)
{
	struct stat st;

	if (!strcmp(d->dest, "-")) {
		d->fd = STDOUT_FILENO;
		d->stream = true;
		return 0;
	}
	if (stat(d->dest, &st) == 0 && S_ISDIR(st.st_mode))
		return -EISDIR;
	if (stat(d->dest, &st) == 0 && !S_ISREG(st.st_mode)) {
		/* /dev/null, a FIFO...: written in place, never replaced by a regular file */
		d->fd = open(d->dest, O_WRONLY | O_CLOEXEC);
		d->stream = true;
		return d->fd < 0 ? -errno : 0;
	}
	if (part_name(d))
		return -ENAMETOOLONG;
	if (resume && stat(d->dest, &st) == 0 && S_ISREG(st.st_mode) && rename(d->dest, d->part) < 0)
		return -errno;
	d->fd = open(d->part, O_WRONLY | O_CREAT | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0644);
	if (d->fd < 0)
		return -errno;
	if (resume && fstat(d->fd, &st) == 0)
		d->offset = (uint64_t)st.st_size;
	return 0;
}

static int send_request(struct download *d)
{
	char extra[512] = "Accept: */*\r\nConnection: close\r\n";

	if (d->offset)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "Range: bytes=%llu-\r\n%s%s%s",
			 (unsigned long long)d->offset, d->etag[0] ? "If-Range: " : "", d->etag,
			 d->etag[0] ? "\r\n" : "");
	return client_request(&d->c, "GET", d->c.url.target, extra);
}

/* 4xx/5xx: the first line of the body says why. */
static int http_error(struct download *d)
{
	char body[512] = "";
	long n = client_read(&d->c, body, sizeof(body) - 1);

	body[n > 0 ? n : 0] = 0;
	body[strcspn(body, "\r\n")] = 0;
	snprintf(d->c.err, sizeof(d->c.err), "HTTP %d %s%s%s", d->c.resp.status,
		 http_reason(d->c.resp.status), *body ? ": " : "", body);
	return EXIT_HTTP;
}

/* Decides from the status where the body goes; returns an exit code. */
static int check_status(struct download *d, int64_t *expect)
{
	const struct http_response_head *r = &d->c.resp;

	*expect = r->content_length;
	if (r->etag && !d->etag[0] && strlen(r->etag) < sizeof(d->etag))
		strcpy(d->etag, r->etag);
	if (r->status == 416 && d->offset > 0 && r->range_total == (int64_t)d->offset) {
		*expect = 0; /* we already have every byte */
		return EXIT_OK;
	}
	if (r->status >= 300)
		return http_error(d);
	if (r->chunked) {
		snprintf(d->c.err, sizeof(d->c.err), "the server sent a chunked body, which kxfer get does not decode");
		return EXIT_PROTOCOL;
	}
	if (d->resumes > 0 && r->status != 206) {
		snprintf(d->c.err, sizeof(d->c.err), "the body ended early (%llu bytes) and the server "
			 "answered the resuming Range request with %d, not 206", (unsigned long long)d->offset,
			 r->status);
		return EXIT_PROTOCOL;
	}
	if (r->status == 206) {
		if (r->range_start != (int64_t)d->offset) {
			snprintf(d->c.err, sizeof(d->c.err), "asked for bytes from %llu, got a range from %lld",
				 (unsigned long long)d->offset, (long long)r->range_start);
			return EXIT_PROTOCOL;
		}
	} else if (d->offset > 0) { /* the server ignored our Range, or the file changed */
		if (d->stream) {
			snprintf(d->c.err, sizeof(d->c.err), "the server sent the whole file again "
				 "(it changed, or ignores ranges); output already written cannot be taken back");
			return EXIT_PROTOCOL;
		}
		if (ftruncate(d->fd, 0) < 0) {
			snprintf(d->c.err, sizeof(d->c.err), "%s: %s", d->part, strerror(errno));
			return EXIT_LOCAL_IO;
		}
		d->offset = 0;
	}
	return EXIT_OK;
}

static int write_failed(struct download *d, long rc)
{
	snprintf(d->c.err, sizeof(d->c.err), "writing %s: %s", d->dest, strerror((int)-rc));
	return EXIT_LOCAL_IO;
}

/* Reads the body into two large buffers in turn; each full one is written by io_uring
 * while the other fills.  To a pipe the writes must stay in order: one at a time. */
static int receive_body(struct download *d, int64_t expect, struct progress *p)
{
	bool seekable = !d->stream;
	uint64_t pos = d->offset;
	unsigned cur = 0;
	bool end = false, short_end = false;
	long rc;

	while (!end) {
		size_t fill = 0;

		/* This buffer's previous write must be done before it fills again. */
		if ((rc = fileio_wait(&d->io, cur)) < 0)
			return write_failed(d, rc);

		while (fill < BUF_SIZE) {
			size_t want = BUF_SIZE - fill;
			long n;

			if (expect >= 0 && (uint64_t)expect - d->got_here - fill < want)
				want = (size_t)((uint64_t)expect - d->got_here - fill);
			if (want == 0) {
				end = true;
				break;
			}
			n = client_read(&d->c, d->buf[cur] + fill, want);
			if (n < 0) /* a body without a length ends only at close_notify */
				return (int)-n;
			if (n == 0) {
				end = true;
				break;
			}
			fill += (size_t)n;
		}
		if (end && expect >= 0 && d->got_here + fill < (uint64_t)expect) {
			snprintf(d->c.err, sizeof(d->c.err), "the body ended after %llu of %lld bytes",
				 (unsigned long long)(d->offset + d->got_here + fill),
				 (long long)(expect + (int64_t)d->offset));
			short_end = true;
		}
		if (!seekable && (rc = fileio_wait(&d->io, cur ^ 1)) < 0)
			return write_failed(d, rc);
		if (fill && (rc = fileio_start(&d->io, cur, true, d->buf[cur], fill,
					       seekable ? pos : UINT64_MAX)) < 0)
			return write_failed(d, rc);
		pos += fill;
		d->got += fill;
		d->got_here += fill;
		progress_update(p, d->got);
		cur ^= 1;
	}
	for (unsigned i = 0; i < FILEIO_SLOTS; i++)
		if ((rc = fileio_wait(&d->io, i)) < 0)
			return write_failed(d, rc);
	/* A clean close_notify before the end: the server stopped at its key-usage limit. */
	return short_end ? EXIT_RESUME : EXIT_OK;
}

/* One request on one connection; EXIT_RESUME when the body stopped early but cleanly. */
static int attempt(struct download *d, struct client_opts *o, struct progress *p)
{
	int64_t expect;
	int rc;

	d->got_here = 0;
	rc = client_connect(&d->c, o);
	if (rc == EXIT_OK)
		rc = send_request(d);
	if (rc == EXIT_OK)
		rc = client_read_head(&d->c, false);
	if (rc == EXIT_OK)
		rc = check_status(d, &expect);
	if (rc != EXIT_OK || expect == 0)
		return rc;
	if (d->c.tls && !d->c.rx_kernel && !d->c.rec.rx_on)
		tls_read_ahead(d->c.tls); /* whole socket buffers per read(2) */
	if (expect > 0)
		client_expect(&d->c, (uint64_t)expect);
	if (!d->resumes)
		progress_begin(p, expect >= 0 ? (uint64_t)expect + d->offset : 0, d->offset, o->quiet);
	return receive_body(d, expect, p);
}

/* A server that must stop at its TLS key-usage limit (kernel TLS cannot update keys) ends
 * the body early with close_notify; the rest comes from a new connection and a Range. */
static int download(struct download *d, struct client_opts *o)
{
	struct progress p = { 0 };
	int rc;

	while ((rc = attempt(d, o, &p)) == EXIT_RESUME && d->got_here > 0) {
		d->offset += d->got_here;
		d->resumes++;
		client_close(&d->c);
	}
	if (rc == EXIT_RESUME)
		rc = EXIT_PROTOCOL; /* no progress: the short body is an error after all */
	progress_end(&p);
	if (d->resumes && !o->quiet && !o->json)
		log_info("resumed %u time%s with a Range request (the server's TLS key-usage limit)",
			 d->resumes, d->resumes == 1 ? "" : "s");
	return rc;
}

int cmd_get(int argc, char **argv)
{
	struct client_opts o;
	struct download d = { .fd = -1 };
	char name[PATH_MAX];
	double t0 = now_sec();
	int rc;

	log_set_prog("kxfer get");
	rc = client_parse(argc, argv, &o, usage, false);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (o.recursive || o.parallel || o.verify || o.limit_rate) {
		if (!o.parallel)
			o.parallel = o.recursive ? tree_default_parallel() : 1;
		if (o.recursive)
			return tree_get(&o, o.output);
	}
	d.dest = o.output;
	if (!d.dest) {
		struct url u;
		const char *why;

		if (url_parse(o.url, &u, &why) == 0 && url_file_name(&u, name, sizeof(name)) < 0)
			why = "the URL names no file (it ends in '/'): use -o FILE";
		if (url_parse(o.url, &u, &why) || url_file_name(&u, name, sizeof(name))) {
			log_err("%s: %s", o.url, why);
			return EXIT_USAGE;
		}
		d.dest = name;
	}
	if (o.parallel)
		return tree_get_one(&o, d.dest);
	rc = open_output(&d, o.resume);
	if (rc < 0) {
		log_err("%s: %s", d.dest, strerror(-rc));
		return EXIT_LOCAL_IO;
	}
	for (unsigned i = 0; i < FILEIO_SLOTS; i++)
		d.buf[i] = malloc(BUF_SIZE);
	if (!d.buf[0] || !d.buf[1] || fileio_init(&d.io, d.fd) < 0) {
		snprintf(d.c.err, sizeof(d.c.err), "cannot set up buffers or io_uring");
		rc = EXIT_OTHER;
	} else {
		d.io_ready = true;
		t0 = now_sec();
		rc = download(&d, &o);
		fileio_exit(&d.io);
		d.io_ready = false;
	}
	if (d.fd != STDOUT_FILENO && d.stream) {
		close(d.fd);
	} else if (d.fd != STDOUT_FILENO) {
		if (close(d.fd) < 0 && rc == EXIT_OK) {
			snprintf(d.c.err, sizeof(d.c.err), "%s: %s", d.part, strerror(errno));
			rc = EXIT_LOCAL_IO;
		}
		if (rc == EXIT_OK && rename(d.part, d.dest) < 0) {
			snprintf(d.c.err, sizeof(d.c.err), "%s: %s", d.dest, strerror(errno));
			rc = EXIT_LOCAL_IO;
		}
		if (rc != EXIT_OK && !o.resume)
			unlink(d.part);
	}
	rc = client_report(&d.c, rc, d.got, now_sec() - t0, d.dest);
	client_close(&d.c);
	for (unsigned i = 0; i < FILEIO_SLOTS; i++)
		free(d.buf[i]);
	return rc;
}
