/* kxfer get / kxfer put: one HTTPS/1.1 connection to a server, blocking, with file I/O
 * through io_uring. */
#ifndef KXFER_CLIENT_H
#define KXFER_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "ktls.h"
#include "record.h"
#include "serve.h"
#include "url.h"

/* Exit codes, documented in kxfer --help and README.md. */
enum exit_code {
	EXIT_OK = 0,
	EXIT_OTHER = 1,
	EXIT_USAGE = 2,
	EXIT_LOCAL_IO = 3,
	EXIT_NETWORK = 4,
	EXIT_TLS = 5,
	EXIT_HTTP = 6,
	EXIT_PROTOCOL = 7,
	EXIT_VERIFY = 8,    /* --verify: the bytes' SHA-256 is not the server's, or it gave none */
	EXIT_RESUME = 100,  /* internal: the body ended early but cleanly; ask for the rest */
};

#define SPLIT_SIZE_DEFAULT (64ull << 20)  /* files above it are fetched in ranges */
#define PARALLEL_MAX 64

struct client_opts {
	const char *url;
	const char *output;      /* get: -o */
	const char *input;       /* put: FILE */
	const char *ca_file, *cert_file, *key_file, *token;
	uint8_t pin[32];
	bool has_pin, insecure, resume, json, quiet;
	enum ktls_mode ktls;
	unsigned timeout;        /* seconds without progress before giving up */
	uint64_t key_limit;      /* records sent under one key at most */
	/* trees and parallel transfers (tree.c) */
	bool recursive, verify, force;
	unsigned parallel;       /* 0: not given */
	uint64_t split_size;     /* files larger than this are fetched as ranges */
	uint64_t limit_rate;     /* bytes per second, all connections; 0: no limit */
};

struct tls_ctx;
struct tls;

struct client {
	struct client_opts *opts;
	struct url url;
	struct tls_ctx *ctx;
	struct tls *tls;
	int fd;
	char head[HTTP_HEAD_MAX + 1];
	size_t head_len;           /* bytes in head[] (response head plus early body bytes) */
	struct http_response_head resp;
	bool tx_kernel, rx_kernel;  /* which directions the kernel encrypts / decrypts */
	struct ktls_rx krx;
	struct rec rec;             /* TLS 1.3 in userspace: our record layer (record.c) */
	uint64_t tx_records;
	char ktls_why[200];         /* why a direction stayed in userspace, for the summary */
	char err[512];
};

/* Parses the options common to get and put; returns -1 on --help (printed), 0 or EXIT_USAGE. */
int client_parse(int argc, char **argv, struct client_opts *o, const char *usage, bool put);
/* Resolves, connects and completes the TLS handshake; returns an exit code. */
int client_connect(struct client *c, struct client_opts *o);
/* Sends all of buf through TLS; an exit code. */
int client_send(struct client *c, const void *buf, size_t len);
/* Reads a response head (skipping 1xx unless want_interim); an exit code. */
int client_read_head(struct client *c, bool want_interim);
/* Reads body bytes: the ones already in head[] first, then from TLS.  > 0 bytes,
 * 0 at the end of the stream (close_notify), or -exit_code. */
long client_read(struct client *c, void *buf, size_t len);
/* A body of n bytes follows: the receive path may wait for data in larger steps. */
void client_expect(struct client *c, uint64_t n);
void client_close(struct client *c);
/* Reads a whole small body (Content-Length, chunked, or to the end) into a new buffer,
 * at most max bytes; an exit code. */
int client_read_small_body(struct client *c, char **body, size_t *len, size_t max);
/* Sends "METHOD TARGET HTTP/1.1" with Host, User-Agent, the bearer token and extra (whole
 * header lines); an exit code. */
int client_request(struct client *c, const char *method, const char *target, const char *extra);
/* The response and its body are consumed: ready for the next one on this connection. */
void client_next_response(struct client *c);
/* Counts records sent; true when the key-usage limit is reached (then the caller sends
 * a KeyUpdate, which only userspace TLS can). */
bool client_count_records(struct client *c, uint64_t bytes);
/* The path a direction took: "userspace", "ktls" or "plain" (http://: no TLS; then
 * tx_kernel only means an upload splices to the socket). */
const char *client_path_name(const struct client *c, bool tx);
/* Prints the result line (or JSON) and returns code. */
int client_report(struct client *c, int code, uint64_t bytes, double secs, const char *dest);

/* put.c, shared with put -r: the body of a PUT, spliced (kernel TLS, plaintext) or through
 * OpenSSL, read with io (its fd is set here); tick is told of every piece sent. */
struct fileio;
struct put_meter {
	void (*tick)(void *arg, uint64_t n, uint64_t total);
	void *arg;
};
int put_body(struct client *c, struct fileio *io, int fd, uint64_t size, char **buf, uint64_t *sent,
	     const struct put_meter *meter);
/* After "Expect: 100-continue": waits a moment for a refusal; *refused when one came. */
int put_await_continue(struct client *c, bool *refused);

int cmd_get(int argc, char **argv);
int cmd_put(int argc, char **argv);

#endif
